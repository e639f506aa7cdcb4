import DalabaAudio
import DalabaCore
import Foundation
import Logging
import Synchronization

/// Gets audio ready before it reaches the queue: speaks text with espeak-ng (cached by content) and measures every
/// file's EBU R128 loudness once (cached on disk), so the station plays each item at the same loudness without
/// measuring anything at air time. The blocking work runs on a dispatch thread, never on Swift's cooperative pool.
public final class AudioPreparation: Sendable {
    public struct Levels: Sendable, Equatable {
        /// Integrated loudness every announcement is brought to (LUFS).
        public var target: Double = -16
        /// True-peak ceiling (dBTP): the gain is lowered so nothing clips.
        public var truePeakCeiling: Double = -1
        public var chime: Double = -20
        public var attention: Double = -16
        public var enabled = true
        public init() {}
    }

    public let levels: Levels
    private let synthesizer: SpeechSynthesizer
    private let cachePath: String
    private let measurements: Mutex<[String: LoudnessMeasurement]>
    /// Files being measured in the background for an emergency that could not wait; they play at a provisional gain.
    private let provisional = Mutex<Set<String>>([])
    private let logger: Logger

    public init(stateDirectory: String, levels: Levels, voice: String, maxCharacters: Int, logger: Logger) {
        self.levels = levels
        self.logger = logger
        synthesizer = SpeechSynthesizer(cacheDirectory: stateDirectory + "/speech", defaultVoice: voice, maxCharacters: maxCharacters)
        cachePath = stateDirectory + "/loudness.json"
        let stored = (try? Data(contentsOf: URL(fileURLWithPath: cachePath))).flatMap {
            try? JSONDecoder().decode([String: LoudnessMeasurement].self, from: $0)
        }
        measurements = Mutex(stored ?? [:])
    }

    /// Speaks `text` into a WAV in the speech cache and returns its path.
    public func speak(_ text: String, voice: String?) async throws(StationAPI.Failure) -> String {
        let synthesizer = self.synthesizer
        let result: Result<URL, SpeechError> = await Self.offload {
            Result { () throws(SpeechError) -> URL in try synthesizer.synthesize(text: text, voice: voice) }
        }
        switch result {
        case .success(let url): return url.path
        case .failure(let error): throw StationAPI.Failure(error: error.description, field: "text")
        }
    }

    /// Measures `path` unless a measurement of this very file (same size and modification time) is cached.
    @discardableResult
    public func measure(_ path: String) async -> LoudnessMeasurement? {
        guard levels.enabled else { return nil }
        guard let key = Self.key(path) else { return nil }
        if let known = measurements.withLock({ $0[key] }) { return known }
        return await Self.offload { self.measureNow(path, key: key) }
    }

    /// For an emergency, which must be on air within a period whatever its file: never waits. A file already measured
    /// plays at its gain; a new one plays this time at a provisional gain (1 dB under the true-peak ceiling, never louder
    /// than the file itself) and is measured in the background, for every later play.
    public func measureWithoutWaiting(_ path: String) {
        guard levels.enabled, let key = Self.key(path), measurements.withLock({ $0[key] }) == nil else { return }
        let first = provisional.withLock { $0.insert(key).inserted }
        guard first else { return }
        DispatchQueue.global(qos: .utility).async {
            _ = self.measureNow(path, key: key)
            _ = self.provisional.withLock { $0.remove(key) }
        }
    }

    /// Decodes the whole file: blocking, so only ever on a dispatch thread.
    private func measureNow(_ path: String, key: String) -> LoudnessMeasurement? {
        let result = Result { () throws(AudioError) -> LoudnessMeasurement in try Loudness.measure(path: path) }
        switch result {
        case .success(let measurement):
            let snapshot = measurements.withLock {
                $0[key] = measurement
                return $0
            }
            if let data = try? JSONEncoder().encode(snapshot) { try? data.write(to: URL(fileURLWithPath: cachePath), options: .atomic) }
            logger.debug("loudness measured", metadata: ["file": "\(path)", "lufs": "\(measurement.integrated)", "dbtp": "\(measurement.truePeak)"])
            return measurement
        case .failure(let error):
            logger.warning("loudness not measured; playing at unity gain", metadata: ["file": "\(path)", "error": "\(error)"])
            return nil
        }
    }

    /// The linear gain for a file at air time: from the cache only (it never blocks), 1 for a file never measured.
    public func gain(_ path: String, target: Double? = nil) -> Float {
        guard levels.enabled, let key = Self.key(path) else { return 1 }
        guard let measurement = measurements.withLock({ $0[key] }) else {
            return provisional.withLock { $0.contains(key) } ? Float(min(1, pow(10, (levels.truePeakCeiling - 1) / 20))) : 1
        }
        return Loudness.gain(for: measurement, target: target ?? levels.target, truePeakCeiling: levels.truePeakCeiling)
    }

    private static func key(_ path: String) -> String? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let size = attributes[.size] as? Int, let modified = attributes[.modificationDate] as? Date
        else { return nil }
        return "\(path)|\(size)|\(Int(modified.timeIntervalSince1970 * 1000))"
    }

    /// Runs blocking work (a subprocess, decoding a whole file) on a dispatch thread.
    static func offload<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async { continuation.resume(returning: work()) }
        }
    }
}
