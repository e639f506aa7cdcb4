import DalabaCore
import DalabaStation
import DalabaTestSupport
import Foundation
import Testing

/// Relays (转播) on real processes: icecast2 on loopback with ezstream as its source streaming an MP3 tone made here,
/// dalabad relaying it to the paced device, and what reached the loudspeaker read back from the paced capture.
@Suite(.serialized) struct RelayEndToEndTests {
    static let rate = 48_000

    static func logRows(_ daemon: DaemonHarness, id: String) async throws -> [[String: Any]] {
        let logged = try await daemon.dalaba(["log", "--format", "json"], role: "official")
        let page = try #require(
            try? JSONSerialization.jsonObject(with: Data(logged.stdout.utf8)) as? [String: Any], "\(logged.stdout) \(logged.stderr)")
        return try #require(page["entries"] as? [[String: Any]], "\(logged.stdout)").filter { $0["id"] as? String == id }
    }

    static func relay(_ status: [String: Any]) -> [String: Any]? { status["relay"] as? [String: Any] }

    /// A daemon on the paced device, capturing what it plays; `live` is added to its `[live]` section.
    static func relayDaemon(_ name: String, paced: PacedDevice, live: String = "") throws -> (DaemonHarness, String) {
        let daemon = try DaemonHarness(name: name)
        let capturePath = daemon.directory.appendingPathComponent("out.raw").path
        daemon.device = paced.pcm(capturingTo: capturePath)
        daemon.environment.merge(paced.environment) { $1 }
        daemon.extraConfiguration = "[live]\n\(live)\n"
        return (daemon, capturePath)
    }

    /// The frames of `capture` whose 10 ms blocks carry `frequency`, and the first of them.
    static func tone(_ frequency: Double, in capture: Capture, candidates: [Double]) -> (frames: Int, first: Int?) {
        let runs = capture.runs(candidates: candidates).filter { $0.tone == frequency }
        return (runs.reduce(0) { $0 + $1.frames }, runs.first?.start)
    }

    @Test func aRelayedToneReachesTheLoudspeakerAtItsPitchAndLevelAndIsLoggedWithTheFramesPlayed() async throws {
        let icecast = try Icecast()
        defer { icecast.shutdown() }
        try await icecast.start()
        // 44.1 kHz upstream, 48 kHz device: the pitch shows the resampling is right.
        try await icecast.startSource(try icecast.makeMP3("tone.mp3", frequency: 440, seconds: 20))
        try await PacedDevice.with { paced in
            let (daemon, capturePath) = try Self.relayDaemon("relay-plays", paced: paced)
            try await daemon.start()
            defer { daemon.stop() }

            let started = try await daemon.dalaba(["live", "start", "--url", icecast.streamURL, "--kind", "routine", "--id", "relay", "--maximum", "4"])
            #expect(started.status == 0, "\(started.stderr)")
            #expect(started.stdout == "queued relay: on air now or next\n")
            try await daemon.waitFor("the relay to connect") { Self.relay($0)?["connected"] as? Bool == true }
            try await daemon.waitFor("the relay to end at its maximum") { DaemonHarness.isIdle($0) }
            let rows = try await Self.logRows(daemon, id: "relay")
            #expect(await daemon.stop() == 0)

            let capture = try Capture(path: capturePath, channels: 2, rate: Self.rate)
            #expect(rows.count == 1 && rows.first?["outcome"] as? String == "completed", "\(rows)")
            #expect(rows.first?["audio"] as? String == icecast.streamURL, "\(rows)")
            let frames = (rows.first?["frames"] as? Int) ?? -1
            #expect(frames == capture.frames, "the log counts the frames that reached the device: \(rows), capture \(capture.frames)")
            #expect(frames >= 4 * Self.rate && frames < 4 * Self.rate + 2_048, "\(frames)")
            // After the prebuffer (a second of silence), the tone: at 440 Hz and at the level it was streamed at
            // (amplitude 0.5, an RMS of -9 dBFS), within what MP3 coding changes.
            let heard = Self.tone(440, in: capture, candidates: [440, 404, 479])
            #expect(heard.frames >= 2 * Self.rate, "440 Hz for \(heard.frames) frames: \(capture.runs(candidates: [440, 404, 479]))")
            // Half a second from the middle of the longest run of it.
            let run = capture.runs(candidates: [440, 404, 479]).filter { $0.tone == 440 }.max { $0.frames < $1.frames }
            let start = (run?.start ?? 0) + max(0, (run?.frames ?? 0) / 2 - Self.rate / 4)
            let block = capture.channel(0, frames: start..<min(capture.frames, start + Self.rate / 2))
            let pitch = ToneAnalysis.frequency(block, rate: Self.rate) ?? 0
            #expect(abs(pitch - 440) < 3, "pitch \(pitch) Hz")
            let level = 20 * log10(Double(ToneAnalysis.rms(block)))
            #expect(abs(level - -9.03) < 1.5, "level \(level) dBFS")
        }
    }

    /// The pitch and level of `tone` in the middle of its longest run in `capture` (a run of at least `minimum` frames).
    static func measure(_ tone: Double, in capture: Capture, candidates: [Double], minimum: Int) -> (pitch: Double, level: Double)? {
        guard let run = capture.runs(candidates: candidates).filter({ $0.tone == tone }).max(by: { $0.frames < $1.frames }), run.frames >= minimum
        else { return nil }
        let start = run.start + run.frames / 2 - minimum / 2
        let block = capture.channel(0, frames: start..<(start + minimum))
        return (ToneAnalysis.frequency(block, rate: Self.rate) ?? 0, 20 * log10(Double(ToneAnalysis.rms(block))))
    }

    @Test func oggVorbisAndOpusStreamsAreRelayedAtTheirPitchAndLevelThroughAChainedStreamsChangeOfRateAndChannels() async throws {
        let icecast = try Icecast()
        defer { icecast.shutdown() }
        try await icecast.start()
        // Vorbis: two tracks looped, 44.1 kHz stereo then 22.05 kHz mono, each a new logical stream; Opus: one track.
        let vorbis = try icecast.makeOgg("chained.ogg", format: .oggVorbis, tracks: [(440, 44_100, 2), (660, 22_050, 1)], seconds: 2.5)
        let opus = try icecast.makeOgg("tone.opus", format: .oggOpus, tracks: [(550, 48_000, 2)], seconds: 20)
        try await icecast.startSource(vorbis, mount: "/county.ogg")
        try await icecast.startSource(opus, mount: "/county.opus")
        // The Opus bytes again as a plain file: application/octet-stream, so only the first bytes tell what it is.
        try icecast.serve("county.bin", bytes: try Data(contentsOf: URL(fileURLWithPath: opus)))
        try await PacedDevice.with { paced in
            let (daemon, capturePath) = try Self.relayDaemon("relay-ogg", paced: paced)
            try await daemon.start()
            defer { daemon.stop() }

            let items = [
                // Opus for 5 s, of which the connection and the prebuffer's second may take more than one on a loaded machine.
                ("vorbis", icecast.streamURL("/county.ogg"), "6"), ("opus", icecast.streamURL("/county.opus"), "5"),
                ("sniffed", icecast.fileURL("county.bin"), "5"),
            ]
            for (id, url, maximum) in items {
                let started = try await daemon.dalaba(["live", "start", "--url", url, "--kind", "routine", "--id", id, "--maximum", maximum])
                #expect(started.status == 0, "\(started.stderr)")
                try await daemon.waitFor("\(id) to end at its maximum") { DaemonHarness.isIdle($0) }
            }
            var rows: [[[String: Any]]] = []
            for (id, _, _) in items { rows.append(try await Self.logRows(daemon, id: id)) }
            #expect(await daemon.stop() == 0)

            let capture = try Capture(path: capturePath, channels: 2, rate: Self.rate)
            let frames = rows.map { ($0.first?["frames"] as? Int) ?? 0 }
            #expect(rows.allSatisfy { $0.count == 1 && $0.first?["outcome"] as? String == "completed" }, "\(rows)")
            #expect(frames.reduce(0, +) == capture.frames, "the rows count what reached the device: \(frames), capture \(capture.frames)")
            let parts = [0, frames[0], frames[0] + frames[1], capture.frames].map { min($0, capture.frames) }
            func part(_ index: Int) -> Capture {
                Capture(samples: Array(capture.samples[(parts[index] * 2)..<(parts[index + 1] * 2)]), channels: 2, rate: Self.rate)
            }
            // After the prebuffer's second, five seconds of the looped pair of 2.5 s tracks: both tones, through the changes of
            // rate and channels between them, at their pitch and at the level they were streamed at (-9 dBFS RMS).
            let vorbisPart = part(0)
            let candidates: [Double] = [440, 550, 660]
            for tone in [440.0, 660] {
                let heard = Self.tone(tone, in: vorbisPart, candidates: candidates).frames
                #expect(heard >= 2 * Self.rate, "\(tone) Hz for \(heard) frames: \(vorbisPart.runs(candidates: candidates))")
                let measured = Self.measure(tone, in: vorbisPart, candidates: candidates, minimum: Self.rate / 4)
                #expect(
                    abs((measured?.pitch ?? 0) - tone) < 3 && abs((measured?.level ?? 0) - -9.03) < 1.5, "\(tone) Hz: \(String(describing: measured))"
                )
            }
            for index in [1, 2] {
                let heard = Self.tone(550, in: part(index), candidates: candidates).frames
                #expect(heard >= 3 * Self.rate / 2, "\(items[index].0): 550 Hz for \(heard) frames")
                let measured = Self.measure(550, in: part(index), candidates: candidates, minimum: Self.rate / 4)
                #expect(
                    abs((measured?.pitch ?? 0) - 550) < 3 && abs((measured?.level ?? 0) - -9.03) < 1.5,
                    "\(items[index].0): \(String(describing: measured))")
            }
        }
    }

    /// For MP3 (decoded on the event loop) and Ogg Vorbis (decoded on the connection's own thread, through the pipe).
    @Test(arguments: ["mp3", "ogg"])
    func aSourceKilledMidStreamIsReconnectedAndTheRelayGoesOnInOneLogRow(codec: String) async throws {
        let icecast = try Icecast()
        defer { icecast.shutdown() }
        try await icecast.start()
        func make(_ name: String, _ frequency: Double) throws -> String {
            codec == "mp3"
                ? try icecast.makeMP3("\(name).mp3", frequency: frequency, seconds: 20)
                : try icecast.makeOgg("\(name).ogg", format: .oggVorbis, tracks: [(frequency, 44_100, 2)], seconds: 20)
        }
        let mount = "/county.\(codec)"
        let url = icecast.streamURL(mount)
        try await icecast.startSource(try make("first", 440), mount: mount)
        let second = try make("second", 660)
        try await PacedDevice.with { paced in
            let (daemon, capturePath) = try Self.relayDaemon("relay-reconnect-\(codec)", paced: paced)
            try await daemon.start()
            defer { daemon.stop() }

            #expect(try await daemon.dalaba(["live", "start", "--url", url, "--kind", "routine", "--id", "relay"]).status == 0)
            // Its first second is the prebuffer's silence.
            try await daemon.waitFor("1.5 s of the first source") { DaemonHarness.position($0) >= 2.5 }
            icecast.killSource()
            try await daemon.waitFor("the relay to notice the source is gone") { Self.relay($0)?["connected"] as? Bool == false }
            #expect(DaemonHarness.nowPlayingID(try await daemon.status()) == "relay", "the relay keeps its place on air")
            // The status page's relay line, for the technician: the address, down and being reconnected, with the reason.
            let down = try await daemon.dalaba(["status"], role: "official").stdout
            #expect(down.contains("relay   \(url)  reconnecting, reconnects ") && down.contains("(last: "), "\(down)")
            // Only once Icecast has let go of the mount: a reconnect to the dying source would count as the one awaited.
            try await icecast.waitUntilUnmounted(mount)
            try await icecast.startSource(second, mount: mount)
            try await daemon.waitFor("the relay to connect again", timeout: 15) {
                (Self.relay($0)?["reconnects"] as? Int ?? 0) >= 1 && Self.relay($0)?["connected"] as? Bool == true
            }
            let up = try await daemon.dalaba(["status"], role: "official").stdout
            #expect(up.contains(#/relay   http://\S+/county\.(mp3|ogg)  connected, reconnects [1-9]\d*, \d+\.\d s buffered, dead air after \d+ s\n/#), "\(up)")
            // What was buffered of the first source plays out first (up to the 4 s the buffer is held at), then the second.
            // Waited for in the capture itself: how much of the first source is still buffered at the reconnect depends on
            // how fast it came, so no fixed span of position says the second has been heard (CI once found 0.4 s of it).
            let heardDeadline = Date().addingTimeInterval(20)
            while Date() < heardDeadline {
                if let sofar = try? Capture(path: capturePath, channels: 2, rate: Self.rate),
                    Self.tone(660, in: sofar, candidates: [440, 660]).frames >= Self.rate * 3 / 2
                { break }
                try await Task.sleep(for: .milliseconds(250))
            }
            let (_, metrics) = try await daemon.request("GET", "/metrics", role: "admin")
            let exposition = String(decoding: metrics, as: UTF8.self)
            let stopped = try await daemon.dalaba(["live", "stop"])
            #expect(stopped.stdout == "ended relay\n", "\(stopped.stderr)")
            try await daemon.waitFor("the relay to end") { DaemonHarness.isIdle($0) }
            let rows = try await Self.logRows(daemon, id: "relay")
            #expect(await daemon.stop() == 0)

            #expect(exposition.contains("dalaba_relay_connected 1"), "\(exposition)")
            #expect(exposition.contains(#/dalaba_relay_reconnects [1-9]/#), "\(exposition)")
            #expect(rows.count == 1 && rows.first?["outcome"] as? String == "completed", "one row for the whole relay: \(rows)")
            let capture = try Capture(path: capturePath, channels: 2, rate: Self.rate)
            #expect(rows.first?["frames"] as? Int == capture.frames, "\(rows), capture \(capture.frames)")
            // The first source, then the second. An MP3 connection's buffer is the prebuffer's second, which the time down
            // outlasts: a gap of silence. Ogg pages are larger (half a second of audio each), so a Vorbis buffer holds more
            // and may bridge the gap.
            var order: [String] = []
            for run in capture.runs(candidates: [440, 660]) where run.frames >= 4_800 {
                let label = run.tone.map { "\(Int($0))" } ?? "silence"
                if order.last != label { order.append(label) }
            }
            let heard = Array(order.drop { $0 == "silence" })
            #expect(heard.starts(with: ["440", "silence", "660"]) || (codec == "ogg" && heard.starts(with: ["440", "660"])), "\(order)")
            let runs = capture.runs(candidates: [440, 660]).map { "\($0.tone.map { "\(Int($0))" } ?? "-"):\($0.frames)" }
            #expect(Self.tone(660, in: capture, candidates: [440, 660]).frames >= Self.rate, "the relay resumed with the second source: \(runs)")
        }
    }

    @Test func deadAirPlaysTheFallbackSaysSoInStatusAndLogsTheRelayFailed() async throws {
        let icecast = try Icecast()
        defer { icecast.shutdown() }
        try await icecast.start()
        try await icecast.startSource(try icecast.makeMP3("tone.mp3", frequency: 440, seconds: 20))
        try await PacedDevice.with { paced in
            let (daemon, capturePath) = try Self.relayDaemon(
                "relay-dead-air", paced: paced, live: "relay-dead-air = 2.5\nrelay-fallback = \"interrupted.wav\"")
            try daemon.tone("interrupted.wav", frequency: 1000, seconds: 1.5)
            try await daemon.start()
            defer { daemon.stop() }

            #expect(try await daemon.dalaba(["live", "start", "--url", icecast.streamURL, "--kind", "routine", "--id", "relay"]).status == 0)
            try await daemon.waitFor("a second of the relay after its prebuffer") { DaemonHarness.position($0) >= 2 }
            icecast.killSource()
            try await daemon.waitFor("dead air in status", timeout: 10) { Self.relay($0)?["deadAir"] as? Bool == true }
            let (_, metrics) = try await daemon.request("GET", "/metrics", role: "admin")
            try await daemon.waitFor("the fallback to end the item") { DaemonHarness.isIdle($0) }
            let rows = try await Self.logRows(daemon, id: "relay")
            #expect(await daemon.stop() == 0)

            #expect(String(decoding: metrics, as: UTF8.self).contains("dalaba_relay_dead_air 1"))
            #expect(rows.count == 1 && rows.first?["outcome"] as? String == "failed", "\(rows)")
            let error = rows.first?["error"] as? String ?? ""
            #expect(error.contains("dead air: no audio from \(icecast.streamURL) for 2.5 s") && error.contains("played the fallback"), "\(error)")
            let capture = try Capture(path: capturePath, channels: 2, rate: Self.rate)
            #expect(rows.first?["frames"] as? Int == capture.frames, "\(rows), capture \(capture.frames)")
            var order: [String] = []
            for run in capture.runs(candidates: [440, 1000]) where run.frames >= 4_800 {
                let label = run.tone.map { "\(Int($0))" } ?? "silence"
                if order.last != label { order.append(label) }
            }
            #expect(
                order.drop { $0 == "silence" } == ["440", "silence", "1000"],
                """
                \(order): \(capture.runs(candidates: [440, 1000]).map { "\($0.tone.map { "\(Int($0))" } ?? "silence")@\($0.start)+\($0.frames)" })
                \(daemon.log.split(separator: "\n").filter { $0.contains("relay") || $0.contains("live") }.suffix(30).joined(separator: "\n"))
                \(icecast.diagnostics)
                """)
            // The silence before the fallback is the dead-air time (the buffer's last audio played out first), not more.
            let silenceBefore = capture.runs(candidates: [440, 1000]).last {
                $0.tone == nil && $0.start < (Self.tone(1000, in: capture, candidates: [440, 1000]).first ?? 0)
            }
            #expect((silenceBefore?.frames ?? 0) <= Int(2.5 * Double(Self.rate)) + 2_048, "\(String(describing: silenceBefore))")
        }
    }

    @Test func aConnectedStreamThatCarriesOnlySilenceEndsAsDeadAirWithNoFallback() async throws {
        let icecast = try Icecast()
        defer { icecast.shutdown() }
        try await icecast.start()
        try await icecast.startSource(try icecast.makeMP3("silence.mp3", frequency: 440, seconds: 20, amplitude: 0))
        try await PacedDevice.with { paced in
            let (daemon, capturePath) = try Self.relayDaemon("relay-silent", paced: paced, live: "relay-dead-air = 2\nrelay-fallback = \"end\"")
            try await daemon.start()
            defer { daemon.stop() }

            #expect(try await daemon.dalaba(["live", "start", "--url", icecast.streamURL, "--kind", "routine", "--id", "relay"]).status == 0)
            try await daemon.waitFor("the relay to connect") { Self.relay($0)?["connected"] as? Bool == true }
            try await daemon.waitFor("dead air to end the relay", timeout: 15) { DaemonHarness.isIdle($0) }
            let rows = try await Self.logRows(daemon, id: "relay")
            #expect(await daemon.stop() == 0)

            #expect(rows.count == 1 && rows.first?["outcome"] as? String == "failed", "\(rows)")
            // Connected all along: the reason is the silence, with no connection error after it.
            #expect(rows.first?["error"] as? String == "dead air: no audio from \(icecast.streamURL) for 2 s", "\(rows)")
            let capture = try Capture(path: capturePath, channels: 2, rate: Self.rate)
            #expect(rows.first?["frames"] as? Int == capture.frames)
            #expect(
                capture.frames >= 2 * Self.rate && capture.frames < 2 * Self.rate + 2_048, "dead air after 2 s: \(capture.frames) frames")
            #expect(capture.samples.allSatisfy { abs(Int($0)) < 64 }, "nothing but (coded) silence was played")
        }
    }

    @Test func whatIsNotAnAudioStreamIsRefusedWithTheReason() async throws {
        let icecast = try Icecast()
        defer { icecast.shutdown() }
        try await icecast.start()
        try await PacedDevice.with { paced in
            let (daemon, _) = try Self.relayDaemon("relay-not-audio", paced: paced, live: "relay-dead-air = 2")
            try await daemon.start()
            defer { daemon.stop() }

            // Addresses are checked at the door: only http(s), no credentials (they would be shown and logged), not both.
            for (body, words) in [
                (#"{"kind":"routine","url":"ftp://127.0.0.1/live.mp3"}"#, "must be http or https"),
                (#"{"kind":"routine","url":"http://county:secret@127.0.0.1/live.mp3"}"#, "must not carry credentials"),
                (#"{"kind":"routine","url":"http://127.0.0.1/live.mp3","input":"default"}"#, "not both"),
                (#"{"kind":"routine","url":"http://127.0.0.1/a b"}"#, "printable ASCII"),
            ] {
                let (code, answer) = try await daemon.request("POST", "/v1/live", role: "operator", body: Data(body.utf8))
                let text = String(decoding: answer, as: UTF8.self)
                #expect(code == 400 && text.contains(words) && text.contains("url"), "\(body): \(code) \(text)")
            }
            #expect(DaemonHarness.isIdle(try await daemon.status()))

            // An HTML page, a mount with no source (404), a port where nothing listens, an Ogg stream that is garbage after
            // its first page, and bytes that are neither Ogg nor MP3 under a generic type.
            let closedPort = try Broker.freePort()
            try icecast.serve("garbage.ogg", bytes: try Self.firstPageThenGarbage(icecast))
            try icecast.serve("noise.bin", bytes: Data((0..<(96 << 10)).map { _ in UInt8.random(in: 0...255) }))
            let cases = [
                ("html", icecast.pageURL, "not audio: the server sent text/html"),
                ("garbage", icecast.fileURL("garbage.ogg"), "libvorbisfile cannot read the Vorbis headers: not Vorbis data"),
                ("noise", icecast.fileURL("noise.bin"), "not MPEG audio: no MP3 frame in the first 64 KiB"),
                ("missing", icecast.streamURL, "not audio: HTTP 404"),
                ("closed", "http://127.0.0.1:\(closedPort)/live.mp3", "dead air: no audio from http://127.0.0.1:\(closedPort)/live.mp3 for 2 s"),
            ]
            for (id, url, _) in cases {
                let started = try await daemon.dalaba(["live", "start", "--url", url, "--kind", "routine", "--id", id])
                #expect(started.status == 0, "\(started.stderr)")
                try await daemon.waitFor("\(id) to fail") { DaemonHarness.isIdle($0) }
            }
            for (id, url, words) in cases {
                let rows = try await Self.logRows(daemon, id: id)
                let error = rows.first?["error"] as? String ?? ""
                #expect(rows.count == 1 && rows.first?["outcome"] as? String == "failed", "\(id): \(rows)")
                #expect(error.contains(words) && error.contains(url), "\(id): \(error)")
            }
            #expect(await daemon.stop() == 0)
        }
    }

    /// The first page of an Ogg Vorbis file (its identification header), then 320 KiB of random bytes.
    static func firstPageThenGarbage(_ icecast: Icecast) throws -> Data {
        let file = try Data(
            contentsOf: URL(fileURLWithPath: try icecast.makeOgg("page.ogg", format: .oggVorbis, tracks: [(440, 48_000, 2)], seconds: 1)))
        let segments = Int(file[26])
        let length = 27 + segments + file[27..<(27 + segments)].reduce(0) { $0 + Int($1) }
        return file[0..<length] + Data((0..<(320 << 10)).map { _ in UInt8.random(in: 0...255) })
    }

    @Test func anEmergencyCutsARelayWhoseFramesAreLoggedAndWhichIsNotReplayed() async throws {
        let icecast = try Icecast()
        defer { icecast.shutdown() }
        try await icecast.start()
        try await icecast.startSource(try icecast.makeMP3("tone.mp3", frequency: 440, seconds: 20))
        try await PacedDevice.with { paced in
            let (daemon, capturePath) = try Self.relayDaemon("relay-cut", paced: paced)
            try daemon.tone("alert.wav", frequency: 1000, seconds: 1)
            try await daemon.start()
            defer { daemon.stop() }

            #expect(try await daemon.dalaba(["live", "start", "--url", icecast.streamURL, "--kind", "routine", "--id", "relay"]).status == 0)
            try await daemon.waitFor("a second of the relay after its prebuffer") { DaemonHarness.position($0) >= 2 }
            let emergency = try await daemon.dalaba(["queue", "alert.wav", "--kind", "emergency", "--level", "2", "--id", "flood"])
            #expect(emergency.status == 0, "\(emergency.stderr)")
            try await daemon.waitFor("the emergency to play and nothing after it", timeout: 30) { DaemonHarness.isIdle($0) }
            let rows = try await Self.logRows(daemon, id: "relay")
            let flood = try await Self.logRows(daemon, id: "flood")
            #expect(await daemon.stop() == 0)

            #expect(rows.count == 1 && rows.first?["outcome"] as? String == "interrupted", "a cut relay is not replayed: \(rows)")
            #expect(flood.first?["outcome"] as? String == "completed", "\(flood)")
            let capture = try Capture(path: capturePath, channels: 2, rate: Self.rate)
            let candidates: [Double] = [440, 853, 960, 1000]
            // The relay's logged frames are exactly what went out before the attention signal.
            let frames = rows.first?["frames"] as? Int ?? -1
            let attention = capture.onset(of: 853, candidates: candidates) ?? -1
            #expect(abs(attention - frames) <= 480, "attention at \(attention), relay logged \(frames) frames")
            var order: [String] = []
            for run in capture.runs(candidates: candidates) where run.frames >= 480 {
                let label = run.tone.map { $0 == 853 || $0 == 960 ? "attention" : "\(Int($0))" } ?? "silence"
                if order.last != label { order.append(label) }
            }
            #expect(order.filter { $0 != "silence" } == ["440", "attention", "1000"], "\(order)")
        }
    }
}

/// The relay's keys in `[live]` and the address rules, without processes.
@Suite struct RelayConfigurationTests {
    @Test func deadAirAndFallbackAreReadWithDefaultsThatEndTheRelay() throws {
        let defaults = try Configuration.parse("")
        #expect(defaults.relayDeadAirSeconds == 10 && defaults.relayFallback == nil)
        let set = try Configuration.parse("[live]\nrelay-dead-air = 2.5\nrelay-fallback = \"relay-interrupted.wav\"\n")
        #expect(set.relayDeadAirSeconds == 2.5 && set.relayFallback == "relay-interrupted.wav")
        #expect(try Configuration.parse("[live]\nrelay-dead-air = 30\nrelay-fallback = \"end\"\n").relayFallback == nil)
    }

    @Test(arguments: [
        ("[live]\nrelay-dead-air = 0", "dalaba.toml: live.relay-dead-air: 0.0 is less than 2.0 s; a relay's first second is its prebuffer's silence"),
        ("[live]\nrelay-dead-air = 1.5", "dalaba.toml: live.relay-dead-air: 1.5 is less than 2.0 s; a relay's first second is its prebuffer's silence"),
        ("[live]\nrelay-dead-air = 4000", "dalaba.toml: live.relay-dead-air: 4000.0 is outside 0.0–3600.0"),
        ("[live]\nrelay-fallback = \"\"", "dalaba.toml: live.relay-fallback: must be \"end\" or an audio file under the audio directory"),
        ("[live]\nrelay-deadair = 3", "dalaba.toml: live.relay-deadair: unknown key"),
    ])
    func aBadRelayKeyIsNamed(text: String, message: String) {
        #expect(throws: Configuration.Invalid(description: message)) { try Configuration.parse(text) }
    }

    @Test(
        arguments: [
            ("https://county.example:8443/live.mp3", nil),
            ("HTTP://10.0.0.1/live", nil),
            ("http:///live.mp3", "has no host"),
            ("file:///etc/shadow", "must be http or https, not file"),
            ("http://county@10.0.0.1/live", "must not carry credentials: the address is shown in status and kept in the log"),
            ("http://10.0.0.1/\u{7F}", "must be printable ASCII without spaces (percent-encode the rest)"),
            ("http://10.0.0.1/" + String(repeating: "a", count: 2_000), "must be 1 to 2000 bytes"),
        ] as [(String, String?)])
    func relayAddressesAreCheckedAsTheyWouldBeShownAndLogged(url: String, reason: String?) {
        do {
            try LiveSource.checkRelay(url)
            #expect(reason == nil, "\(url) was taken")
        } catch {
            #expect(error.reason == reason && error.field == "url", "\(url): \(error)")
        }
    }
}
