import Crypto
import DalabaProcess
import Foundation

/// Why text could not become an announcement's audio; each case reads as one line an operator can act on.
public enum SpeechError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The text is empty or only whitespace.
    case emptyText
    /// Longer than the synthesizer's limit: a loudspeaker announcement of that length is a mistake, not a notice.
    case tooLong(characters: Int, limit: Int)
    /// Nothing in the text makes a sound in this voice: only emoji, symbols or control characters.
    case nothingSpeakable(voice: String)
    /// The voice name is not a plain espeak-ng voice name (letters, digits, `_`, `-`, `+variant`).
    case invalidVoice(String)
    /// espeak-ng has no such voice; `message` is its own words.
    case unknownVoice(voice: String, message: String)
    /// The espeak-ng program is not installed or not executable.
    case synthesizerMissing(executable: String)
    /// espeak-ng exited with an error; `message` is its stderr.
    case synthesizerFailed(status: Int32, message: String)
    /// espeak-ng ran past the time limit and was stopped.
    case timedOut(seconds: Double)
    /// The cache directory cannot be created or written.
    case cacheUnwritable(path: String, reason: String)
    /// espeak-ng produced a file libsndfile cannot read.
    case unreadableOutput(AudioError)

    public var description: String {
        switch self {
        case .emptyText: "text to speak is empty"
        case .tooLong(let characters, let limit): "text to speak is \(characters) characters long; the limit is \(limit)"
        case .nothingSpeakable(let voice):
            "nothing speakable: voice '\(voice)' makes no sound for this text (only emoji, symbols or control characters?)"
        case .invalidVoice(let voice): "'\(voice)' is not a valid voice name"
        case .unknownVoice(let voice, let message): "unknown voice '\(voice)': \(message)"
        case .synthesizerMissing(let executable): "speech synthesizer '\(executable)' is not installed or not executable"
        case .synthesizerFailed(let status, let message): "espeak-ng failed with status \(status): \(message)"
        case .timedOut(let seconds): "espeak-ng did not finish within \(Int(seconds)) s and was stopped"
        case .cacheUnwritable(let path, let reason): "cannot write the speech cache \(path): \(reason)"
        case .unreadableOutput(let error): "espeak-ng wrote unreadable audio: \(error)"
        }
    }
}

/// Turns announcement text into a WAV file with espeak-ng, run as a subprocess (no shell, text on stdin).
/// Results are cached by content, so a schedule that speaks the same notice every market day synthesizes it once.
///
/// `synthesize` blocks its thread while espeak-ng runs (about 0.2 s for 200 Chinese characters): call it from a
/// thread that may block, not from a task on Swift's cooperative pool.
public struct SpeechSynthesizer: Sendable {
    public let cacheDirectory: String
    public let executable: String
    public let defaultVoice: String
    public let maxCharacters: Int
    /// espeak-ng words per minute. Its default of 175 gives Mandarin at about 2.8 characters a second, already slower
    /// than a human announcer, which suits loudspeakers echoing between houses.
    public let speed: Int
    /// Longest espeak-ng may run before it is stopped.
    public let timeout: Double

    /// Bumped when the synthesis arguments change, so old cache entries are not reused for different audio.
    private static let cacheVersion = "dalaba-tts-1"

    public init(
        cacheDirectory: String, executable: String = "espeak-ng", defaultVoice: String = "cmn", maxCharacters: Int = 2000, speed: Int = 175,
        timeout: Double = 60
    ) {
        self.cacheDirectory = cacheDirectory
        self.executable = executable
        self.defaultVoice = defaultVoice
        self.maxCharacters = maxCharacters
        self.speed = speed
        self.timeout = timeout
    }

    /// Returns a WAV file speaking `text` in `voice` (the default voice when nil): from the cache when this voice,
    /// speed and text were synthesized before, else newly synthesized, checked to hold sound, and moved into place
    /// atomically so a reader never sees a half-written file.
    public func synthesize(text: String, voice: String? = nil) throws(SpeechError) -> URL {
        let voice = voice ?? defaultVoice
        let spoken = try prepare(text, voice: voice)
        let destination = cacheURL(spoken: spoken, voice: voice)
        if let attributes = try? FileManager.default.attributesOfItem(atPath: destination.path),
            (attributes[.size] as? NSNumber)?.intValue ?? 0 > 0
        {
            return destination
        }
        do {
            try FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
        } catch {
            throw .cacheUnwritable(path: cacheDirectory, reason: Self.reason(error))
        }
        let stem = destination.deletingPathExtension().path + ".\(UUID().uuidString)"
        let partial = stem + ".partial.wav"
        let input = stem + ".txt"
        defer {
            try? FileManager.default.removeItem(atPath: input)
            try? FileManager.default.removeItem(atPath: partial)
        }
        guard FileManager.default.createFile(atPath: input, contents: Data(spoken.utf8)) else {
            throw .cacheUnwritable(path: input, reason: "cannot create a file there")
        }
        try run(voice: voice, input: input, output: partial)
        try checkAudible(partial, voice: voice)
        guard rename(partial, destination.path) == 0 else {
            throw .cacheUnwritable(path: destination.path, reason: String(cString: strerror(errno)))
        }
        return destination
    }

    /// Where `text` in `voice` is (or would be) cached, after the same checks as `synthesize`.
    public func cacheURL(text: String, voice: String? = nil) throws(SpeechError) -> URL {
        let voice = voice ?? defaultVoice
        return cacheURL(spoken: try prepare(text, voice: voice), voice: voice)
    }

    private func cacheURL(spoken: String, voice: String) -> URL {
        var hasher = SHA256()
        hasher.update(data: Data("\(Self.cacheVersion)\0\(voice)\0\(speed)\0".utf8))
        hasher.update(data: Data(spoken.utf8))
        let name = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        return URL(fileURLWithPath: cacheDirectory).appendingPathComponent("\(name).wav")
    }

    /// Refuses what cannot make a good announcement and returns the text espeak-ng will read: control and format
    /// characters become spaces, since espeak-ng would otherwise read some of them as escape sequences.
    private func prepare(_ text: String, voice: String) throws(SpeechError) -> String {
        try Self.checkVoiceName(voice)
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { throw .emptyText }
        if trimmed.count > maxCharacters { throw .tooLong(characters: trimmed.count, limit: maxCharacters) }
        var scalars = String.UnicodeScalarView()
        for scalar in trimmed.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control where scalar != "\n", .format: scalars.append(" ")
            default: scalars.append(scalar)
            }
        }
        let spoken = String(scalars).trimmingCharacters(in: .whitespacesAndNewlines)
        let hasWords = spoken.unicodeScalars.contains { $0.properties.isAlphabetic || $0.properties.numericType != nil }
        if !hasWords { throw .nothingSpeakable(voice: voice) }
        return spoken
    }

    /// Voice names go to espeak-ng as an argument and name files in its data directory: letters, digits, `_`, `-`
    /// and `+` only, so no voice can be a path or look like an option.
    private static func checkVoiceName(_ voice: String) throws(SpeechError) {
        let allowed = voice.unicodeScalars.allSatisfy {
            $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-" || $0 == "+")
        }
        guard allowed, (1...40).contains(voice.count), voice.first != "-", voice.first != "+" else { throw .invalidVoice(voice) }
    }

    private func run(voice: String, input: String, output: String) throws(SpeechError) {
        guard let program = Self.resolve(executable) else { throw .synthesizerMissing(executable: executable) }
        let process = Child()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = ["-v", voice, "-s", String(speed), "-b", "1", "-w", output, "--stdin"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = nil
        guard let stdin = FileHandle(forReadingAtPath: input) else {
            throw .cacheUnwritable(path: input, reason: "cannot read back the text file")
        }
        defer { try? stdin.close() }
        // The text is a file on stdin, not a pipe: espeak-ng exiting early (a bad voice) can never SIGPIPE the station.
        process.standardInput = stdin
        do {
            try process.run()
        } catch {
            throw .synthesizerMissing(executable: program)
        }
        let collected = ChildOutput(errors)
        if !process.wait(timeout: timeout) {
            process.terminate()
            process.waitUntilExit()
            throw .timedOut(seconds: timeout)
        }
        let message = collected.text(within: 2).trimmingCharacters(in: .whitespacesAndNewlines)
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            if message.localizedCaseInsensitiveContains("voice") { throw .unknownVoice(voice: voice, message: message) }
            throw .synthesizerFailed(status: process.terminationStatus, message: message.isEmpty ? "no message" : message)
        }
    }

    /// Never hand the station a silent item: the file must open, hold frames, and not be digital silence.
    private func checkAudible(_ path: String, voice: String) throws(SpeechError) {
        let file: SoundFile
        do {
            file = try SoundFile(path: path)
        } catch {
            if case .unreadable(_, let reason) = error, reason.contains("no audio frames") { throw .nothingSpeakable(voice: voice) }
            throw .unreadableOutput(error)
        }
        let block = 4_096
        let buffer = UnsafeMutablePointer<Float>.allocate(capacity: block * file.channels)
        defer { buffer.deallocate() }
        var sum = 0.0
        var count = 0
        while true {
            let frames: Int
            do {
                frames = try file.read(into: buffer, frames: block)
            } catch {
                throw .unreadableOutput(error)
            }
            if frames == 0 { break }
            for index in 0..<(frames * file.channels) { sum += Double(buffer[index] * buffer[index]) }
            count += frames * file.channels
        }
        // −80 dBFS: espeak-ng's output for text it cannot say is exact zeros; any real speech is far above this.
        guard count > 0, (sum / Double(count)).squareRoot() > 1e-4 else { throw .nothingSpeakable(voice: voice) }
    }

    /// Finds `executable` on PATH (no shell involved); a name with a slash is used as given.
    private static func resolve(_ executable: String) -> String? {
        if executable.contains("/") { return FileManager.default.isExecutableFile(atPath: executable) ? executable : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(executable)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    private static func reason(_ error: any Error) -> String {
        (error as NSError).localizedFailureReason ?? error.localizedDescription
    }
}
