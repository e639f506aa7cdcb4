import ArgumentParser
import DalabaAudio
import Foundation
import Logging

/// `dalaba play FILE...`: straight to the loudspeaker, no daemon. One clear line per file that cannot be played,
/// and the next file still plays.
struct PlayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "play", abstract: "Play audio files straight to the loudspeaker, without the daemon.")

    @Argument(help: "Audio files (WAV, FLAC, Ogg Vorbis/Opus, MP3, AIFF, … anything libsndfile reads).")
    var files: [String]

    @Option(help: "ALSA PCM name: hw:0, plughw:1,0, null, file:FILE=/tmp/out.wav,FORMAT=wav, or a name from asound.conf.")
    var device = "default"

    @Option(help: "Sample rate the device runs at, in Hz.")
    var rate = 48_000

    @Option(help: "Channels the device runs at.")
    var channels = 2

    @Option(help: "Sample format the device runs at: S16 or S32.")
    var format: SampleFormat = .s16

    // Straight playback has nothing to cut in, so it trades the daemon's 5 ms periods for aplay-sized ones (85 ms)
    // and far fewer wake-ups; Ctrl-C still stops at once.
    @Option(help: "Frames per ALSA period.")
    var period = 4_096

    @Option(help: "Frames in the ALSA buffer.")
    var buffer = 16_384

    @Option(help: "Resampler: soxr-vhq, soxr-hq, soxr-mq, soxr-qq (libsoxr), sinc-best, sinc-medium, sinc-fastest or linear.")
    var resampler: ResamplerQuality = .soxrHigh

    @Option(help: "Gain in dB applied to every file.")
    var gain: Double = 0

    func validate() throws {
        guard (8_000...384_000).contains(rate) else { throw ValidationError("--rate \(rate) is outside 8000–384000 Hz") }
        guard (1...32).contains(channels) else { throw ValidationError("--channels \(channels) is outside 1–32") }
        guard period > 0, buffer >= period else { throw ValidationError("--buffer must be at least one --period") }
    }

    func run() async throws {
        let output = OutputFormat(
            device: device, rate: rate, channels: channels, sampleFormat: format, periodFrames: period, bufferFrames: buffer,
            resamplerQuality: resampler)
        var logger = Logger(label: "dalaba.play")
        logger.logLevel = .critical
        let player = Player(format: output, logger: logger)
        var events = player.events.makeAsyncIterator()
        let terminal = isatty(STDERR_FILENO) == 1
        var failures = 0
        var totalFrames: Int64 = 0
        var playedRate = rate
        for (index, path) in files.enumerated() {
            let id = "\(index)"
            player.play(.init(id: id, segments: [.init(path: path, gain: Float(pow(10, gain / 20)))]))
            var length: Int64 = 0
            fileLoop: while let event = await events.next() {
                switch event {
                case .started(id, _, let total):
                    length = total
                case .progress(id, let frames, _):
                    if terminal { Console.progress(path: path, frames: frames, total: length, rate: playedRate) }
                case .finished(id, let report):
                    if terminal { Console.clearLine() }
                    playedRate = report.rate
                    switch report.ending {
                    case .completed, .stopped:
                        totalFrames += report.frames
                        print("played \(path): \(Console.duration(report.frames, report.rate)) (\(report.frames) frames at \(report.rate) Hz)")
                    case .audioFailed(let reason):
                        failures += 1
                        Console.error(reason)
                    case .deviceFailed(let reason):
                        failures += 1
                        Console.error(reason)
                        if report.frames == 0 {
                            // The device is not there: every other file would fail the same way.
                            player.shutdown()
                            throw ExitCode(2)
                        }
                    }
                    break fileLoop
                default:
                    continue
                }
            }
        }
        player.shutdown()
        while await events.next() != nil {}
        if files.count > 1 {
            print("total: \(Console.duration(totalFrames, playedRate)) from \(files.count - failures) of \(files.count) files")
        }
        if failures > 0 { throw ExitCode(1) }
    }
}

extension SampleFormat: ExpressibleByArgument {
    public init?(argument: String) { self.init(rawValue: argument.uppercased()) }
}

extension ResamplerQuality: ExpressibleByArgument {}

/// Terminal output shared by the commands: one line per error on stderr, progress only on a terminal.
enum Console {
    static func error(_ message: String) {
        FileHandle.standardError.write(Data("dalaba: \(message)\n".utf8))
    }

    static func progress(path: String, frames: Int64, total: Int64, rate: Int) {
        let name = (path as NSString).lastPathComponent
        FileHandle.standardError.write(Data("\r\u{1B}[K▶ \(name)  \(duration(frames, rate)) / \(duration(total, rate))".utf8))
    }

    static func clearLine() { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }

    /// h:mm:ss.mmm from frames, never from wall clocks.
    static func duration(_ frames: Int64, _ rate: Int) -> String {
        guard rate > 0 else { return "0:00:00.000" }
        let millis = frames * 1000 / Int64(rate)
        let seconds = millis / 1000
        return String(format: "%d:%02d:%02d.%03d", seconds / 3600, seconds / 60 % 60, seconds % 60, millis % 1000)
    }
}
