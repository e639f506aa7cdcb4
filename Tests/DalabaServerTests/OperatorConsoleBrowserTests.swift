import DalabaAudio
import DalabaCore
import DalabaTestSupport
import Foundation
import Testing

/// The operators' console in headless Chromium against a real `dalabad` on the paced device (real time passes), driven as a
/// person would (`DevToolsScenario`): sign in, upload a file, review, queue it, see it on air in the live queue without a
/// reload, cancel it, and find its log row; type a notice, listen to it, queue it; queue an emergency over a long item and
/// see it cut in; stop everything; screenshots at 1280 and 390 px checked by the DOM.
@Suite(.serialized) struct OperatorConsoleBrowserTests {
    static let enabled = ConsoleBrowserTests.enabled && Processes.resolve("jackd").hasPrefix("/") && Processes.resolve("espeak-ng").hasPrefix("/")

    /// The token typed into the sign-in form, then the form submitted (a page load follows).
    static func signIn(_ base: String, _ token: String) -> [[String: Any]] {
        [
            ["op": "navigate", "url": base + "/login?next=%2F"],
            ["op": "eval", "js": "document.getElementById('token').value = \(json(token)); document.forms[0].requestSubmit(); true", "load": true],
        ]
    }

    static func json(_ text: String) -> String {
        String(data: try! JSONSerialization.data(withJSONObject: [text]), encoding: .utf8)!.dropFirst().dropLast().description
    }

    /// Fills the named fields of a form and submits it, optionally through one of its buttons.
    static func submit(_ form: String, _ fields: [String: String], button: String? = nil) -> [String: Any] {
        var js = "(() => { const f = document.getElementById(\(json(form)));"
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
            js += " { const e = f.elements[\(json(name))]; if (e.type === 'checkbox') e.checked = \(value == "1"); else e.value = \(json(value)); }"
        }
        js += button.map { " document.getElementById(\(json($0))).click(); return true; })()" } ?? " f.requestSubmit(); return true; })()"
        return ["op": "eval", "js": js, "load": true]
    }

    static func text(_ id: String) -> String { "(document.getElementById(\(json(id))) || {}).textContent || ''" }

    /// Whether nothing sticks out sideways at this width, and the named elements are there and fit.
    static func fits(_ ids: [String]) -> String {
        "(() => { const w = window.innerWidth; const ids = \(String(data: try! JSONSerialization.data(withJSONObject: ids), encoding: .utf8)!);"
            + " const bad = ids.filter(id => { const e = document.getElementById(id); if (!e) return true; const r = e.getBoundingClientRect();"
            + " return r.width === 0 || r.right > w + 1; }); return JSON.stringify({width: w, scroll: document.documentElement.scrollWidth, bad: bad}); })()"
    }

    static func decode(_ value: Any) -> [String: Any] {
        (value as? String).flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] } ?? [:]
    }

    @Test(.enabled(if: enabled), .timeLimit(.minutes(5))) func anOperatorQueuesWatchesAndCancelsFromTheBrowser() async throws {
        try await PacedDevice.with { device in
            let daemon = try DaemonHarness(name: "operator-console", device: device.pcm(capturingTo: "/dev/null"))
            defer { try? FileManager.default.removeItem(at: daemon.directory) }
            daemon.environment = device.environment
            let upload = daemon.directory.appendingPathComponent("村委会通知.wav")
            let writer = try SoundFileWriter(path: upload.path, format: .wav16, rate: 48_000, channels: 2)
            try writer.write(Tone.sine(frequency: 440, seconds: 20, rate: 48_000, channels: 2))
            writer.close()
            try "not audio".write(to: daemon.directory.appendingPathComponent("notes.wav"), atomically: true, encoding: .utf8)
            try await daemon.start()
            defer { daemon.stop() }
            let base = daemon.server
            let shots = daemon.directory.path
            var steps = Self.signIn(base, daemon.tokens["operator"]!)
            steps += [
                ["op": "eval", "js": "location.pathname"],
                // A file libsndfile cannot read is refused, naming it.
                ["op": "file", "selector": "#audio", "path": daemon.directory.appendingPathComponent("notes.wav").path],
                ["op": "eval", "js": "document.getElementById('upload-form').requestSubmit(); true", "load": true],
                ["op": "eval", "js": Self.text("queue-error")],
                // The upload, streamed to the station's disk, then its details, the review and the confirmation.
                ["op": "file", "selector": "#audio", "path": upload.path],
                ["op": "eval", "js": "document.getElementById('upload-form').requestSubmit(); true", "load": true],
                ["op": "eval", "js": Self.text("uploaded")],
                Self.submit("details-form", ["kind": "policy", "title": "村委会通知"]),
                ["op": "eval", "js": Self.text("preview-line")],
                ["op": "eval", "js": "document.getElementById('confirm').click(); true", "load": true],
                ["op": "eval", "js": "location.pathname + ' ' + " + Self.text("notice")],
                // On air, shown by the page's own refresh (no reload): the title, then progress that grows.
                ["op": "until", "js": "\(Self.text("now-title")) === '村委会通知' && document.getElementById('live').hasAttribute('data-updated')", "timeout": 20],
                ["op": "until", "js": "(() => { const p = document.getElementById('now-progress'); return p && p.value > 1 ? p.value : 0; })()", "timeout": 20],
                ["op": "shot", "width": 1280, "path": shots + "/live-1280.png", "js": Self.fits(["now-playing", "live-queue", "stop-all", "health"])],
                ["op": "shot", "width": 390, "height": 1200, "path": shots + "/live-390.png", "js": Self.fits(["now-playing", "live-queue", "stop-all", "device"])],
                ["op": "eval", "js": "document.querySelector('#now-playing button[data-cancel]').click(); true", "load": true],
                ["op": "eval", "js": "location.pathname + ' ' + " + Self.text("notice")],
                ["op": "until", "js": "document.getElementById('nothing-on-air') !== null", "timeout": 10],
                // A spoken notice: listen first (the WAV comes back to the page), then review and queue.
                ["op": "navigate", "url": base + "/operate"],
                ["op": "eval", "js": "document.getElementById('text').value = '明天上午八点停水，请提前储水。'; document.querySelector('#text-form [name=kind]').value = 'policy'; document.getElementById('listen').click(); true"],
                ["op": "until", "js": "(() => { const p = document.getElementById('listen-player'); return p.dataset.state === 'ready' ? p.dataset.type + ' ' + p.dataset.bytes : (p.dataset.state === 'failed' ? 'failed' : ''); })()", "timeout": 30],
                ["op": "shot", "width": 390, "height": 1400, "path": shots + "/operate-390.png", "js": Self.fits(["queue-upload", "queue-text", "text", "listen", "review-text"])],
                ["op": "eval", "js": "document.getElementById('review-text').click(); true", "load": true],
                ["op": "eval", "js": Self.text("preview-line")],
                ["op": "eval", "js": "document.getElementById('confirm').click(); true", "load": true],
                ["op": "until", "js": "\(Self.text("now-title")).indexOf('明天上午八点停水') === 0", "timeout": 30],
                ["op": "shot", "width": 1280, "path": shots + "/live-text-1280.png", "js": Self.fits(["now-playing", "live-queue"])],
            ]
            let results = try DevToolsScenario.run(steps, in: daemon.directory)
            let failure = results.compactMap { $0 as? [String: Any] }.first { $0["failed"] != nil }
            #expect(failure == nil, "\(failure ?? [:])\n\(daemon.log.suffix(3000))")
            guard failure == nil, results.count == steps.count else { return }
            let values = results.map { "\($0)" }
            #expect(values[2] == "/operate")
            #expect(values[5].contains("notes.wav"), "\(values[5])")
            #expect(values[8].contains("村委会通知.wav"))
            #expect(values[10] == "立即播出，先播提示音 plays now, after the chime", "\(values[10])")
            #expect(values[12].hasPrefix("/live 已加入队列 Queued: "))
            for index in [15, 16, 23, 28] {
                let fit = Self.decode(results[index])
                #expect((fit["bad"] as? [Any])?.isEmpty == true, "step \(index): \(fit)")
                #expect((fit["scroll"] as? Int ?? 9999) <= (fit["width"] as? Int ?? 0), "step \(index) scrolls sideways: \(fit)")
            }
            #expect(Self.decode(results[16])["width"] as? Int == 390)
            #expect(values[18].hasPrefix("/live 已取消 Cancelled: "))
            #expect(values[22].hasPrefix("audio/wav "), "\(values[22])")
            #expect((Int(values[22].split(separator: " ").last ?? "") ?? 0) > 10_000, "\(values[22])")
            #expect(values[25] == "立即播出，先播提示音 plays now, after the chime", "\(values[25])")
            for path in ["live-1280.png", "live-390.png", "operate-390.png", "live-text-1280.png"] {
                let size = (try? FileManager.default.attributesOfItem(atPath: shots + "/" + path)[.size] as? Int) ?? 0
                #expect(size > 10_000, "\(path): \(size) bytes")
            }
            // The log row of the cancelled upload, as the station wrote it.
            let (status, data) = try await daemon.request("GET", "/v1/log?kind=policy&order=oldest", role: "official")
            #expect(status == 200)
            let page = try JSONSerialization.jsonObject(with: data) as? [String: Any]
            let rows = page?["entries"] as? [[String: Any]] ?? []
            let cancelled = rows.first { $0["title"] as? String == "村委会通知" }
            #expect(cancelled?["outcome"] as? String == "cancelled", "\(rows)")
            #expect(cancelled?["source"] as? String == "op-wang")
            #expect((cancelled?["seconds"] as? Double ?? 0) > 1, "it played before it was cancelled: \(cancelled ?? [:])")
        }
    }

    /// The microphone path: Chromium's fake capture device (it beeps) recorded for about 2 s by the page's own script,
    /// encoded there as WAV, uploaded through the same form, queued, and heard on the paced device at the beep's level.
    @Test(.enabled(if: enabled), .timeLimit(.minutes(5))) func anOperatorRecordsTheMicrophoneAndItGoesOnAir() async throws {
        try await PacedDevice.with { device in
            let daemon = try DaemonHarness(name: "operator-microphone")
            defer { try? FileManager.default.removeItem(at: daemon.directory) }
            let capturePath = daemon.directory.appendingPathComponent("capture.raw").path
            daemon.device = device.pcm(capturingTo: capturePath)
            daemon.environment = device.environment
            // A silent chime and no loudness normalisation: whatever the loudspeaker plays is the recording as recorded.
            let silence = try SoundFileWriter(path: daemon.audioDirectory.appendingPathComponent("chime.wav").path, format: .wav16, rate: 48_000, channels: 2)
            try silence.write([Float](repeating: 0, count: 4_800))
            silence.close()
            daemon.extraConfiguration = "[loudness]\nenabled = false"
            try await daemon.start()
            defer { daemon.stop() }
            let record = "document.getElementById('queue-record')"
            var steps = Self.signIn(daemon.server, daemon.tokens["operator"]!)
            steps += [
                ["op": "until", "js": "!\(record).hidden", "timeout": 10],
                ["op": "eval", "js": "document.getElementById('record-start').click(); true"],
                ["op": "until", "js": "parseFloat(\(record).dataset.seconds || '0') >= 2", "timeout": 20],
                ["op": "eval", "js": "document.getElementById('record-stop').click(); [\(record).dataset.state, \(record).dataset.seconds, \(record).dataset.peak].join(' ')"],
                ["op": "eval", "js": "(() => { const p = document.getElementById('record-player'); return !p.hidden && p.src.indexOf('blob:') === 0; })()"],
                ["op": "eval", "js": "document.getElementById('record-upload').click(); true", "load": true],
                ["op": "eval", "js": Self.text("uploaded")],
                Self.submit("details-form", ["kind": "routine", "title": "麦克风录音"]),
                ["op": "eval", "js": "document.getElementById('confirm').click(); true", "load": true],
                ["op": "until", "js": "\(Self.text("now-title")) === '麦克风录音'", "timeout": 20],
                ["op": "until", "js": "document.getElementById('nothing-on-air') !== null", "timeout": 20],
            ]
            let results = try DevToolsScenario.run(
                steps, in: daemon.directory, flags: ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"])
            let failure = results.compactMap { $0 as? [String: Any] }.first { $0["failed"] != nil }
            #expect(failure == nil, "\(failure ?? [:])\n\(daemon.log.suffix(3000))")
            guard failure == nil, results.count == steps.count else { return }
            let values = results.map { "\($0)" }
            let recorded = values[5].split(separator: " ")
            let recordedSeconds = recorded.count == 3 ? Double(recorded[1]) ?? 0 : 0
            #expect(recorded.first == "recorded" && recordedSeconds >= 2, "\(values[5])")
            #expect((Double(recorded.last ?? "") ?? 0) > 0.05, "the page heard the beep: \(values[5])")
            #expect(values[6] == "1", "the recording can be listened to before it is uploaded")
            #expect(values[8].contains("recording.wav"), "\(values[8])")
            // Its log row: completed, as long as the recording (give or take a period and a script buffer).
            let (_, data) = try await daemon.request("GET", "/v1/log?kind=routine", role: "official")
            let rows = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["entries"] as? [[String: Any]] ?? []
            let row = rows.first { $0["title"] as? String == "麦克风录音" }
            #expect(row?["outcome"] as? String == "completed" && row?["source"] as? String == "op-wang", "\(rows)")
            let seconds = row?["seconds"] as? Double ?? 0
            #expect(abs(seconds - recordedSeconds) < 0.3, "\(seconds) s on air, \(recordedSeconds) s recorded")
            // On the loudspeaker: the beeps, not silence. Blocks of 10 ms louder than -30 dBFS, in separate bursts.
            await daemon.stop()
            let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)
            let block = 480
            let loud = stride(from: 0, to: capture.frames - block, by: block).map { start in
                ToneAnalysis.rms(capture.channel(0, frames: start..<(start + block))) > 0.0316
            }
            let bursts = zip(loud, [false] + loud).filter { $0 && !$1 }.count
            let peak = capture.samples.lazy.map { abs(Int($0)) }.max() ?? 0
            #expect(bursts >= 2 && peak > 3_000, "\(bursts) bursts, peak \(peak) of \(capture.frames) frames")
        }
    }

    @Test(.enabled(if: enabled), .timeLimit(.minutes(5))) func anEmergencyFromTheBrowserCutsInAfterASecondConfirmation() async throws {
        try await PacedDevice.with { device in
            let daemon = try DaemonHarness(name: "operator-emergency", device: device.pcm(capturingTo: "/dev/null"))
            defer { try? FileManager.default.removeItem(at: daemon.directory) }
            daemon.environment = device.environment
            try daemon.tone("long.wav", frequency: 330, seconds: 60)
            try await daemon.start()
            defer { daemon.stop() }
            #expect(try await daemon.request("POST", "/v1/announcements", role: "operator", body: Data(#"{"audio":"long.wav","kind":"routine","title":"早间新闻","id":"news"}"#.utf8)).0 == 201)
            try await daemon.waitFor("the routine item on air") { (($0["nowPlaying"] as? [String: Any])?["item"] as? [String: Any])?["id"] as? String == "news" }
            var steps = Self.signIn(daemon.server, daemon.tokens["operator"]!)
            steps += [
                Self.submit("text-form", ["text": "紧急通知：河水上涨，请立即撤离到高处。", "kind": "emergency", "level": "1", "title": "紧急撤离"], button: "review-text"),
                ["op": "eval", "js": Self.text("preview-line")],
                ["op": "eval", "js": "document.getElementById('confirm-emergency') !== null"],
                // Without the second confirmation the browser does not even send it (the box is required) ...
                ["op": "eval", "js": "document.getElementById('confirm-form').checkValidity()"],
                // ... and with it, after the page's own confirm() (accepted), it goes on air.
                ["op": "eval", "js": "document.getElementById('confirm-emergency').checked = true; document.getElementById('confirm').click(); true", "load": true],
                ["op": "until", "js": "\(Self.text("now-title")) === '紧急撤离'", "timeout": 20],
                ["op": "shot", "width": 390, "height": 1000, "path": daemon.directory.path + "/emergency-390.png", "js": Self.fits(["now-playing", "live-queue", "stop-all"])],
                ["op": "eval", "js": "document.querySelector('#live-queue li[data-id=news]') !== null"],
                Self.submit("stop-all-form", ["confirm": "1"]),
                ["op": "eval", "js": Self.text("notice")],
            ]
            let results = try DevToolsScenario.run(steps, in: daemon.directory)
            let failure = results.compactMap { $0 as? [String: Any] }.first { $0["failed"] != nil }
            #expect(failure == nil, "\(failure ?? [:])\n\(daemon.log.suffix(3000))")
            guard failure == nil, results.count == steps.count else { return }
            let values = results.map { "\($0)" }
            #expect(values[3] == "立即插播，先播提示音 cuts in now, after the attention signal", "\(values[3])")
            #expect(values[4] == "1")
            #expect(values[5] == "0", "the form is not valid without the second confirmation")
            let fit = Self.decode(results[8])
            #expect((fit["bad"] as? [Any])?.isEmpty == true && (fit["scroll"] as? Int ?? 9999) <= 390, "\(fit)")
            #expect(values[9] == "1", "the interrupted item waits in the queue to resume")
            #expect(values[11] == "已全部停播 Stopped everything (2 items)", "\(values[11])")
            let (_, data) = try await daemon.request("GET", "/v1/log?order=oldest", role: "official")
            let rows = (try JSONSerialization.jsonObject(with: data) as? [String: Any])?["entries"] as? [[String: Any]] ?? []
            #expect(rows.map { "\($0["title"] ?? "") \($0["outcome"] ?? "")" } == ["早间新闻 interrupted", "紧急撤离 cancelled", "早间新闻 cancelled"], "\(rows)")
        }
    }
}
