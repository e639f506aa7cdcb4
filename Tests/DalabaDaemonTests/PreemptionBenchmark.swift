import DalabaAudio
import DalabaTestSupport
import Foundation
import Testing

/// Preemption latency on the paced virtual card while a routine item plays, 100 trials (`DALABA_BENCH=1`;
/// run by `Tests/Benchmarks/preemption.sh`). Two measures:
/// (a) inside: from the station accepting the emergency to its first frame handed to ALSA (the daemon logs it);
/// (b) as heard: the onset of the emergency's attention signal in the capture minus the capture's length just before
///     the request was sent (alsa-lib's file plugin lags what was written by up to a buffer, so this is what a
///     listener would hear, plus the part of the buffer `snd_pcm_drop` discarded).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["DALABA_BENCH"] == "1"))
struct PreemptionBenchmark {
    @Test func preemptionLatency() async throws {
        let trials = Int(ProcessInfo.processInfo.environment["DALABA_BENCH_TRIALS"] ?? "100") ?? 100
        try await PacedDevice.with { paced in
            let daemon = try DaemonHarness(name: "bench-preempt")
            let capturePath = daemon.directory.appendingPathComponent("paced.raw").path
            daemon.device = paced.pcm(capturingTo: capturePath)
            daemon.environment.merge(paced.environment) { $1 }
            if let period = ProcessInfo.processInfo.environment["DALABA_BENCH_PERIOD"],
                let buffer = ProcessInfo.processInfo.environment["DALABA_BENCH_BUFFER"]
            {
                daemon.extraConfiguration = ""
                daemon.deviceConfiguration = "period = \(period)\nbuffer = \(buffer)"
            }
            try FileManager.default.removeItem(at: daemon.audioDirectory.appendingPathComponent("attention.wav"))
            // A single-frequency signal makes the onset exact to a frame.
            try daemon.tone("attention.wav", frequency: 1500, seconds: 0.3)
            try daemon.tone("music.wav", frequency: 440, seconds: 900)
            try daemon.tone("alert.wav", frequency: 1000, seconds: 0.2)
            try await daemon.start()
            defer { daemon.stop() }
            #expect(try await daemon.dalaba(["queue", "music.wav", "--kind", "routine", "--id", "music"]).status == 0)

            var capturedAtAcceptance: [String: Int] = [:]
            for trial in 0..<trials {
                try await daemon.waitFor("the routine item back on air") {
                    DaemonHarness.nowPlayingID($0) == "music" && DaemonHarness.position($0) > 0.3 + Double(trial) * 0.2
                }
                // A random phase within the period, so the trials sample the whole period.
                try await Task.sleep(for: .microseconds(Int.random(in: 0..<10_000)))
                let id = "e\(trial)"
                let body = #"{"audio":"alert.wav","kind":"emergency","level":1,"id":"\#(id)"}"#
                // Read just before the request: the file plugin flushes everything handed when the switch drops the
                // buffer, so a length read after the answer would already hold the switch.
                let size = (try FileManager.default.attributesOfItem(atPath: capturePath)[.size] as? Int) ?? 0
                let (status, _) = try await daemon.request("POST", "/v1/announcements", role: "operator", body: Data(body.utf8))
                #expect(status == 201)
                capturedAtAcceptance[id] = size / 4
            }
            try await daemon.waitFor("the last emergency to finish") { DaemonHarness.nowPlayingID($0) == "music" && DaemonHarness.queueIDs($0).isEmpty }
            await daemon.stop()

            let log = try String(contentsOfFile: daemon.logPath, encoding: .utf8)
            var inside: [Double] = []
            for line in log.split(separator: "\n") where line.contains("first frame") && line.contains("id=e") {
                if let field = line.split(separator: " ").first(where: { $0.hasPrefix("latency-us=") }),
                    let value = Double(field.dropFirst("latency-us=".count))
                {
                    inside.append(value / 1000)
                }
            }
            let capture = try Capture(path: capturePath, channels: 2, rate: 48_000)
            var heard: [Double] = []
            for trial in 0..<trials {
                guard let from = capturedAtAcceptance["e\(trial)"],
                    let onset = capture.onset(of: 1500, candidates: [440, 1000, 1500], from: from, resolution: 24)
                else { continue }
                heard.append(Double(onset - from) / 48.0)
            }
            let format = { (values: [Double]) -> String in
                let sorted = values.sorted()
                guard !sorted.isEmpty else { return "no samples" }
                let pick = { (q: Double) in sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * q).rounded()))] }
                return String(format: "p50 %.2f ms, p99 %.2f ms, max %.2f ms (n=%d)", pick(0.5), pick(0.99), sorted.last!, sorted.count)
            }
            let device = try await daemon.deviceSettingsFromLog()
            print("BENCH preemption (a) inside, accepted → first frame to ALSA: \(format(inside))")
            print("BENCH preemption (b) as heard, capture onset − capture length at acceptance: \(format(heard))")
            print("BENCH device period \(device.period) frames, buffer \(device.buffer) frames")
            #expect(inside.count == trials)
            #expect(heard.count == trials)
        }
    }
}
