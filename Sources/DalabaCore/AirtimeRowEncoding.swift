/// The byte form an airtime-log row's hash covers, defined once for the station's store (which chains its rows) and the
/// county (which checks every village's chain again): a version line, then one `name=value` line per field in a fixed
/// order, with `-` for nil, `i<decimal>` for integers and `s<byte count>:<UTF-8 bytes>` for strings.
public enum AirtimeRowEncoding {
    public static let version = "dalaba.airtime.v1\n"

    /// Appends the encoding of one row's fields (times in milliseconds since 1970, volume in hundredths of a dB).
    public static func append(
        into bytes: inout [UInt8], seq: Int64, recordedAt: Int64, announcementID: String, title: String, kind: String, level: Int64?,
        isTest: Int64, tier: String, source: String, audio: String, text: String?, playNumber: Int64, scheduledAt: Int64?,
        startedAt: Int64?, endedAt: Int64, frames: Int64, signalFrames: Int64, rate: Int64, outcome: String, error: String?,
        volume: Int64?
    ) {
        bytes.append(contentsOf: version.utf8)
        func field(_ name: StaticString, _ body: (inout [UInt8]) -> Void) {
            bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            bytes.append(UInt8(ascii: "="))
            body(&bytes)
            bytes.append(UInt8(ascii: "\n"))
        }
        func int(_ name: StaticString, _ value: Int64?) {
            field(name) { b in
                if let value {
                    b.append(UInt8(ascii: "i"))
                    b.append(contentsOf: String(value).utf8)
                } else {
                    b.append(UInt8(ascii: "-"))
                }
            }
        }
        func string(_ name: StaticString, _ value: String?) {
            field(name) { b in
                if let value {
                    b.append(UInt8(ascii: "s"))
                    b.append(contentsOf: String(value.utf8.count).utf8)
                    b.append(UInt8(ascii: ":"))
                    b.append(contentsOf: value.utf8)
                } else {
                    b.append(UInt8(ascii: "-"))
                }
            }
        }
        int("seq", seq)
        int("recordedAt", recordedAt)
        string("announcementID", announcementID)
        string("title", title)
        string("kind", kind)
        int("level", level)
        int("isTest", isTest)
        string("tier", tier)
        string("source", source)
        string("audio", audio)
        string("text", text)
        int("playNumber", playNumber)
        int("scheduledAt", scheduledAt)
        int("startedAt", startedAt)
        int("endedAt", endedAt)
        int("frames", frames)
        int("signalFrames", signalFrames)
        int("rate", rate)
        string("outcome", outcome)
        string("error", error)
        // Added after v1 and only when present, so every row written before it keeps its hash, and a volume, once
        // written, is covered like every other field.
        if let volume { int("volume", volume) }
    }
}
