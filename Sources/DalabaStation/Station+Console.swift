import DalabaAudio
import Foundation

/// Small questions the operators' console asks about what is queued, answered without touching the station's state.
public enum ConsoleQueries {
    /// Seconds of audio in a file, from its header (libsndfile); nil if it cannot be opened. The console's expected start
    /// times add these up, so a file that vanished only makes the estimate shorter, never the page fail.
    public static func audioSeconds(_ path: String) -> Double? {
        guard let file = try? SoundFile(path: path), file.rate > 0 else { return nil }
        return Double(file.frames) / Double(file.rate)
    }

    /// Bytes free on the file system holding `directory`, nil if it cannot be told.
    public static func freeBytes(at directory: String) -> Int? {
        (try? FileManager.default.attributesOfFileSystem(forPath: directory))?[.systemFreeSize].flatMap { ($0 as? NSNumber)?.intValue }
    }
}
