import DalabaAudio
import DalabaTestSupport
import Foundation
import Logging

/// Writes a file with libsndfile (the same library the station reads with).
func writeTone(
    _ path: String, format: AudioFileFormat = .wav16, frequency: Double, seconds: Double, rate: Int, channels: Int, amplitude: Float = 0.5
) throws {
    let writer = try SoundFileWriter(path: path, format: format, rate: rate, channels: channels)
    try writer.write(Tone.sine(frequency: frequency, seconds: seconds, rate: rate, channels: channels, amplitude: amplitude))
    writer.close()
}

/// Plays `items` one after another through a real Player on `format.device` and returns each item's report.
func playAll(_ items: [Player.Item], format: OutputFormat) async -> [Player.Report] {
    let player = Player(format: format, logger: Logger(label: "test"))
    var events = player.events.makeAsyncIterator()
    var reports: [Player.Report] = []
    for item in items {
        player.play(item)
        while let event = await events.next() {
            if case .finished(item.id, let report) = event {
                reports.append(report)
                break
            }
        }
    }
    player.shutdown()
    while await events.next() != nil {}
    return reports
}

/// The `file:` PCM that writes exactly the frames written, unpaced.
func fileDevice(_ path: String) -> String { "file:FILE=\(path),FORMAT=raw" }
