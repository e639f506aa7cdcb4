import DalabaAudio
import DalabaTestSupport
import Foundation
import Testing

/// Bad input through the real `dalaba play` process: one clear line per bad file naming it and the reason,
/// a non-zero exit, no crash, and the next file in the list still plays.
@Suite struct BadInputTests {
    /// A WAV header written by hand, so that it can lie.
    static func wavHeader(channels: UInt16, rate: UInt32, dataBytes: UInt32) -> Data {
        var d = Data()
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        d.append(contentsOf: Array("RIFF".utf8)); u32(36 &+ dataBytes)
        d.append(contentsOf: Array("WAVEfmt ".utf8)); u32(16); u16(1); u16(channels); u32(rate)
        u32(rate &* UInt32(channels) &* 2); u16(channels &* 2); u16(16)
        d.append(contentsOf: Array("data".utf8)); u32(dataBytes)
        return d
    }

    static let cases: [(name: String, contents: Data?, reason: String)] = [
        ("missing.wav", nil, "no such file"),
        ("empty.wav", Data(), "empty"),
        ("notes.wav", Data(String(repeating: "This is a meeting note, not audio.\n", count: 40).utf8), "not an audio file"),
        ("video.m4a", Data([0, 0, 0, 0x20] + Array("ftypM4A ".utf8) + [UInt8](repeating: 0, count: 4000)), "not an audio file"),
        ("zero-channels.wav", wavHeader(channels: 0, rate: 48_000, dataBytes: 4000) + Data(count: 4000), "0 channels"),
        ("absurd-rate.wav", wavHeader(channels: 2, rate: 4_000_000_000, dataBytes: 4000) + Data(count: 4000), "header is invalid"),
        ("tiny-rate.wav", wavHeader(channels: 2, rate: 10, dataBytes: 4000) + Data(count: 4000), "sample rate 10 Hz"),
        ("truncated.wav", wavHeader(channels: 2, rate: 48_000, dataBytes: 1_920_000) + Data(count: 192_000), "truncated"),
        ("cut-header.wav", wavHeader(channels: 2, rate: 48_000, dataBytes: 4000).prefix(30), "data"),
        ("corrupt.flac", Data(Array("fLaC".utf8) + (0..<6000).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) }), "corrupt.flac"),
    ]

    @Test(arguments: cases.map(\.name))
    func eachBadFileGetsOneClearLineAndTheNextFileStillPlays(name: String) async throws {
        let entry = try #require(Self.cases.first { $0.name == name })
        let dir = try Processes.temporaryDirectory("bad")
        let bad = dir.appendingPathComponent(name).path
        if let contents = entry.contents { try contents.write(to: URL(fileURLWithPath: bad)) }
        let good = dir.appendingPathComponent("good.wav").path
        try writeTone(good, frequency: 440, seconds: 0.2, rate: 48_000, channels: 2)

        let result = try await Processes.run("dalaba", ["play", bad, good, "--device", "null"])
        #expect(result.status == 1)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "exactly one line: \(result.stderr)")
        let line = String(lines.first ?? "")
        #expect(line.contains(bad), "names the file: \(line)")
        #expect(line.localizedCaseInsensitiveContains(entry.reason), "says why: \(line)")
        #expect(result.stdout.contains("played \(good): 0:00:00.200 (9600 frames"), "the next file still plays: \(result.stdout)")
    }

    @Test func aDeviceThatCannotBeOpenedIsNamedWithAlsaLibsReason() async throws {
        let dir = try Processes.temporaryDirectory("nodevice")
        let good = dir.appendingPathComponent("good.wav").path
        try writeTone(good, frequency: 440, seconds: 0.1, rate: 48_000, channels: 2)
        let result = try await Processes.run("dalaba", ["play", good, "--device", "hw:7,0"])
        #expect(result.status != 0)
        #expect(result.stderr == "dalaba: cannot open ALSA device 'hw:7,0': No such file or directory\n")
    }

    @Test func playPrintsWhatItPlayedAndForHowLong() async throws {
        let dir = try Processes.temporaryDirectory("report")
        let a = dir.appendingPathComponent("a.wav").path
        let b = dir.appendingPathComponent("b.ogg").path
        try writeTone(a, frequency: 440, seconds: 1.5, rate: 48_000, channels: 2)
        try writeTone(b, format: .oggVorbis, frequency: 440, seconds: 0.5, rate: 44_100, channels: 1)
        let capture = dir.appendingPathComponent("out.raw").path
        let result = try await Processes.run("dalaba", ["play", a, b, "--device", "file:FILE=\(capture),FORMAT=raw"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("played \(a): 0:00:01.500 (72000 frames at 48000 Hz)"))
        #expect(result.stdout.contains("total: 0:00:02."))
        let size = try FileManager.default.attributesOfItem(atPath: capture)[.size] as? Int ?? 0
        let reported = result.stdout.split(separator: "\n").filter { $0.hasPrefix("played") }
            .compactMap { $0.split(separator: "(").last?.split(separator: " ").first.flatMap { Int($0) } }.reduce(0, +)
        #expect(reported * 4 == size, "the frames printed are the frames the device got")
    }
}
