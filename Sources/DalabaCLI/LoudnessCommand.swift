import ArgumentParser
import DalabaAudio
import Foundation

/// `dalaba loudness FILE...`: what the station will measure (EBU R128), and the gain it will play each file at.
struct LoudnessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loudness", abstract: "Measure files' EBU R128 loudness and the gain the station will apply.")

    @Argument(help: "Audio files.")
    var files: [String]

    @Option(help: "Target integrated loudness, LUFS.")
    var target: Double = -16

    @Option(help: "True-peak ceiling, dBTP.")
    var ceiling: Double = -1

    func run() async throws {
        var failures = 0
        for file in files {
            do {
                let m = try Loudness.measure(path: file)
                let gain = Loudness.gain(for: m, target: target, truePeakCeiling: ceiling)
                let integrated = m.isSilent ? "silent" : String(format: "%.1f LUFS", m.integrated)
                print(String(format: "%@: %@, true peak %.1f dBTP, range %.1f LU, gain %+.1f dB", file, integrated, m.truePeak, m.loudnessRange, 20 * log10(Double(gain))))
            } catch {
                failures += 1
                Console.error(error.description)
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }
}
