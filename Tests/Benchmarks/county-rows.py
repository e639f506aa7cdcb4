#!/usr/bin/env python3
"""Village rows for Tests/Benchmarks/county-ingest.sh: ROWS rows over VILLAGES villages, each village's rows one intact
hash chain (the encoding of LinkRow.computedHash), written as
  DIR/<village>.jsonl   one VillageRows batch of up to 200 rows per line (what mosquitto_pub -l publishes)
  DIR/rows.csv          the same rows in airtime_row's column order (what psql \\copy loads)."""
import hashlib, json, os, sys

rows, villages, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
GENESIS = "0" * 64
start = 1764547200000

def i(name, v):
    return f"{name}={'-' if v is None else 'i' + str(v)}\n"

def s(name, v):
    if v is None:
        return f"{name}=-\n"
    b = v.encode()
    return f"{name}=s{len(b)}:{v}\n"

codes = [f"370703{1 + n // 100:03d}{1 + n % 100:03d}" for n in range(villages)]
csv = open(os.path.join(out, "rows.csv"), "w")
per = rows // villages
for code in codes:
    prev = GENESIS
    batch = []
    with open(os.path.join(out, f"{code}.jsonl"), "w") as lines:
        for seq in range(1, per + 1):
            started = start + seq * 60000
            r = dict(seq=seq, recordedAt=started + 1000, announcementID=f"a-{seq % 97}", title=f"通知 {seq % 97}", kind="policy",
                     isTest=False, tier="county", source="county", audio=f"/a/{seq % 97}.opus", playNumber=1, startedAt=started,
                     endedAt=started + 3000, frames=144000 + seq % 7, signalFrames=100, rate=48000, outcome="completed")
            text = prev + "dalaba.airtime.v1\n" + i("seq", seq) + i("recordedAt", r["recordedAt"]) + s("announcementID", r["announcementID"]) \
                + s("title", r["title"]) + s("kind", "policy") + i("level", None) + i("isTest", 0) + s("tier", "county") + s("source", "county") \
                + s("audio", r["audio"]) + s("text", None) + i("playNumber", 1) + i("scheduledAt", None) + i("startedAt", started) \
                + i("endedAt", r["endedAt"]) + i("frames", r["frames"]) + i("signalFrames", 100) + i("rate", 48000) + s("outcome", "completed") \
                + s("error", None)
            r["previousHash"], r["hash"] = prev, hashlib.sha256(text.encode()).hexdigest()
            prev = r["hash"]
            batch.append(r)
            csv.write(f'{code},{seq},{r["recordedAt"]},{r["announcementID"]},{r["title"]},policy,,false,county,county,{r["audio"]},,1,,'
                      f'{started},{r["endedAt"]},{r["frames"]},100,48000,completed,,{r["previousHash"]},{r["hash"]}\n')
            if len(batch) == 200 or seq == per:
                lines.write(json.dumps({"village": code, "rows": batch}, ensure_ascii=False, separators=(",", ":")) + "\n")
                batch = []
print(" ".join(codes))
