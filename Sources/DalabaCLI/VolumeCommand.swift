import ArgumentParser
import DalabaCore
import Foundation

/// `dalaba volume [--base dB]`: shows the station's volume, or sets its base level (admin). Emergencies keep their levels.
struct VolumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "volume", abstract: "Show the station's volume, or set its base level in dB (admin): dalaba volume --base -6.")

    @Option(name: .long, parsing: .unconditional, help: "The new base level, dB from -60 to 0 (emergencies keep their own).")
    var base: Double?

    @OptionGroup var station: StationOptions

    func validate() throws {
        if let base, !(VolumeLevels.range.contains(base)) { throw ValidationError("--base must be from -60 to 0 dB, not \(base)") }
    }

    func run() async throws {
        try await reportingFailures {
            let data =
                if let base {
                    try await station.client.post("/v1/volume", json: StationAPI.VolumeRequest(base: base))
                } else {
                    try await station.client.get("/v1/volume")
                }
            if station.format == .json {
                print(String(decoding: data, as: UTF8.self))
                return
            }
            let volume = try StationAPI.makeDecoder().decode(StationAPI.Volume.self, from: data)
            let how = volume.path == "mixer" ? "mixer element \(volume.mixer ?? "")" : "software gain"
            // Who set it and when, since it outlasts restarts: a level nobody remembers setting is otherwise a mystery.
            let set = volume.setBy.map { by in
                ", set by \(DisplayText.echo(by, limit: 100))\(volume.setAt.map { " at \(StatusReport.clock($0))" } ?? "")"
            }
            print("base \(String(format: "%g", volume.base)) dB (\(how))\(set ?? ", as configured"); emergencies at their own levels")
        }
    }
}
