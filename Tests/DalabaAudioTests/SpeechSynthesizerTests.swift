import DalabaAudio
import Foundation
import Testing

@Suite("Speech synthesis with espeak-ng")
struct SpeechSynthesizerTests {
    let cache: String
    let synthesizer: SpeechSynthesizer

    init() {
        cache = FileManager.default.temporaryDirectory.appendingPathComponent("dalaba-tts-\(UUID().uuidString)").path
        synthesizer = SpeechSynthesizer(cacheDirectory: cache)
    }

    static let notice = "各位村民请注意：今天下午三点在村委会召开防汛工作会议，请各户派一名代表准时参加。"

    /// Frames and RMS of a whole file, read through the station's own decoder.
    static func audibility(_ url: URL) throws -> (frames: Int64, rate: Int, rms: Double) {
        let file = try SoundFile(path: url.path)
        var samples = [Float](repeating: 0, count: Int(file.frames) * file.channels)
        _ = try samples.withUnsafeMutableBufferPointer { try file.read(into: $0.baseAddress!, frames: Int(file.frames)) }
        let rms = (samples.reduce(0.0) { $0 + Double($1 * $1) } / Double(max(samples.count, 1))).squareRoot()
        return (file.frames, file.rate, rms)
    }

    func leftovers() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: cache).filter { !$0.hasSuffix(".wav") || $0.contains(".partial.") }
    }

    @Test("Mandarin text becomes an audible WAV in the cache")
    func mandarin() throws {
        let url = try synthesizer.synthesize(text: Self.notice, voice: nil)
        #expect(url.path.hasPrefix(cache))
        #expect(url.pathExtension == "wav")
        let audio = try Self.audibility(url)
        #expect(audio.frames > Int64(audio.rate))
        #expect(audio.rms > 0.01)
        #expect(try leftovers().isEmpty)
    }

    @Test("a cache hit returns the same file without running espeak-ng again")
    func cacheHit() throws {
        let first = try synthesizer.synthesize(text: Self.notice, voice: "cmn")
        let modified = try FileManager.default.attributesOfItem(atPath: first.path)[.modificationDate] as? Date
        Thread.sleep(forTimeInterval: 1.1)
        let second = try synthesizer.synthesize(text: Self.notice, voice: nil)
        #expect(second == first)
        #expect(try FileManager.default.attributesOfItem(atPath: second.path)[.modificationDate] as? Date == modified)
        // A synthesizer that cannot run anything still answers from the cache.
        let offline = SpeechSynthesizer(cacheDirectory: cache, executable: "/nonexistent/espeak-ng")
        #expect(try offline.synthesize(text: "  \(Self.notice)\n", voice: nil) == first)
        #expect(try synthesizer.cacheURL(text: Self.notice) == first)
    }

    @Test("voice and speed are part of the cache key")
    func cacheKey() throws {
        let mandarin = try synthesizer.cacheURL(text: "你好", voice: "cmn")
        #expect(try synthesizer.cacheURL(text: "你好", voice: "yue") != mandarin)
        #expect(try SpeechSynthesizer(cacheDirectory: cache, speed: 120).cacheURL(text: "你好", voice: "cmn") != mandarin)
        #expect(try synthesizer.cacheURL(text: "你好。", voice: "cmn") != mandarin)
    }

    @Test("an English voice works, and text that looks like an option is just text")
    func english() throws {
        let url = try synthesizer.synthesize(text: "--help Flood warning for the river villages. Move to high ground.", voice: "en")
        let audio = try Self.audibility(url)
        #expect(audio.frames > Int64(audio.rate))
        #expect(audio.rms > 0.01)
    }

    @Test("Latin letters in the Mandarin voice are spoken, not refused")
    func mixedScript() throws {
        let audio = try Self.audibility(synthesizer.synthesize(text: "请关注 CCTV 新闻 and WiFi 通知", voice: nil))
        #expect(audio.rms > 0.01)
    }

    @Test(
        "bad input gets its own error",
        arguments: [
            ("", nil, SpeechError.emptyText),
            ("   \n\t　", nil, .emptyText),
            (String(repeating: "疏", count: 2001), nil, .tooLong(characters: 2001, limit: 2000)),
            ("😀🎉🔥", nil, .nothingSpeakable(voice: "cmn")),
            ("\u{7}\u{1B}\u{0}\u{7F}\r", nil, .nothingSpeakable(voice: "cmn")),
            ("\u{200B}\u{FEFF}", nil, .nothingSpeakable(voice: "cmn")),
            // Javanese letters: they pass the letter check, but the Mandarin voice makes only silence of them.
            ("ꦲꦏ", nil, .nothingSpeakable(voice: "cmn")),
            ("你好", "../../etc/passwd", .invalidVoice("../../etc/passwd")),
            ("你好", "-w", .invalidVoice("-w")),
            ("你好", "", .invalidVoice("")),
        ] as [(String, String?, SpeechError)])
    func badInput(text: String, voice: String?, expected: SpeechError) {
        #expect(throws: expected) { try synthesizer.synthesize(text: text, voice: voice) }
        #expect((try? leftovers().isEmpty) ?? true)
    }

    @Test("an unknown voice reports espeak-ng's own message")
    func unknownVoice() {
        do {
            _ = try synthesizer.synthesize(text: "你好", voice: "xx-nonexistent")
            Issue.record("synthesized with a voice that does not exist")
        } catch {
            guard case .unknownVoice(let voice, let message) = error else {
                Issue.record("expected unknownVoice, got \(error)")
                return
            }
            #expect(voice == "xx-nonexistent")
            #expect(message.contains("does not exist"))
            #expect(error.description.hasPrefix("unknown voice 'xx-nonexistent': "))
        }
        #expect((try? leftovers().isEmpty) ?? true)
    }

    @Test("a missing synthesizer is said plainly")
    func missingSynthesizer() {
        let missing = SpeechSynthesizer(cacheDirectory: cache, executable: "dalaba-no-such-espeak")
        #expect(throws: SpeechError.synthesizerMissing(executable: "dalaba-no-such-espeak")) {
            try missing.synthesize(text: "你好", voice: nil)
        }
    }

    @Test("an unwritable cache directory is said plainly")
    func unwritableCache() throws {
        let blocker = FileManager.default.temporaryDirectory.appendingPathComponent("dalaba-tts-file-\(UUID().uuidString)").path
        #expect(FileManager.default.createFile(atPath: blocker, contents: Data("x".utf8)))
        defer { try? FileManager.default.removeItem(atPath: blocker) }
        let broken = SpeechSynthesizer(cacheDirectory: blocker + "/cache")
        do {
            _ = try broken.synthesize(text: "你好", voice: nil)
            Issue.record("wrote under a regular file")
        } catch {
            guard case .cacheUnwritable = error else {
                Issue.record("expected cacheUnwritable, got \(error)")
                return
            }
        }
    }
}
