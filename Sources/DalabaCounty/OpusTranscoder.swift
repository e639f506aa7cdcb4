import DalabaAudio
import DalabaLink
import Foundation

/// Turns any audio the station reads (WAV, FLAC, MP3, Ogg, …) into Ogg Opus mono at 48 kHz with libsndfile, the form every
/// county announcement travels in, and files it under its SHA-256 so villages fetch it by digest.
public struct OpusTranscoder: Sendable {
    /// Where transcoded audio is kept: `<directory>/<sha256>.opus`.
    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    /// Transcoded audio as filed.
    public struct Filed: Sendable, Equatable {
        public var sha256: String
        public var bytes: Int
        /// Frames at 48 kHz.
        public var frames: Int64
        public var path: String
    }

    /// Decodes `source` (mixing to mono, resampling to 48 kHz), encodes Opus, and files the result by digest. Blocks while it
    /// runs: call it off the cooperative pool.
    public func transcode(_ source: String) throws(AudioError) -> Filed {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw .unreadable(path: directory.path, reason: "cannot create the audio directory: \(error.localizedDescription)")
        }
        let reader = try ConvertingReader(path: source, output: OutputFormat(device: "opus", rate: 48_000, channels: 1, sampleFormat: .s16))
        let partial = directory.appendingPathComponent(".\(UUID().uuidString).partial.opus").path
        defer { unlink(partial) }
        var frames: Int64 = 0
        do {
            let writer = try SoundFileWriter(path: partial, format: .oggOpus, rate: 48_000, channels: 1)
            let block = 4_800
            let samples = UnsafeMutablePointer<Int16>.allocate(capacity: block)
            defer { samples.deallocate() }
            var floats = [Float](repeating: 0, count: block)
            while true {
                let n = try reader.read(into: UnsafeMutableRawPointer(samples), frames: block)
                if n == 0 { break }
                floats.removeAll(keepingCapacity: true)
                for i in 0..<n { floats.append(Float(samples[i]) / 32_768) }
                try writer.write(floats)
                frames += Int64(n)
            }
            writer.close()
        }
        guard frames > 0 else { throw .unsupported(path: source, reason: "holds no audio") }
        guard let data = FileManager.default.contents(atPath: partial) else { throw .unreadable(path: partial, reason: "cannot read the encoded audio back") }
        let digest = linkSHA256(data)
        let destination = directory.appendingPathComponent("\(digest).opus").path
        guard rename(partial, destination) == 0 else { throw .unreadable(path: destination, reason: String(cString: strerror(errno))) }
        return Filed(sha256: digest, bytes: data.count, frames: frames, path: destination)
    }

    /// The filed audio with this digest, if there is one (the digest is checked to be 64 hex digits first, so it cannot
    /// name any other file).
    public func path(sha256: String) -> String? {
        guard sha256.utf8.count == 64, sha256.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else { return nil }
        let path = directory.appendingPathComponent("\(sha256).opus").path
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }
}
