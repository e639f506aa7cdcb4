import ArgumentParser
import DalabaCore
import Foundation

/// `dalaba live start|stop`: speak live through the loudspeakers (实时喊话) from one of the station's capture inputs, or relay
/// an upstream MP3 or Ogg stream (转播, `--url`).
struct LiveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "live", abstract: "Speak live through the loudspeakers from a microphone or line-in, or relay a stream.",
        subcommands: [LiveStartCommand.self, LiveStopCommand.self])
}

struct LiveStartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start", abstract: "Put a live item on the queue: ranked like any item of its kind, on air as soon as it ranks first.",
        discussion: """
            It ends on `dalaba live stop`, after the station's silence time (VOX) or its maximum duration. With --url it relays \
            an MP3 or Ogg stream (an Icecast mount) instead, reconnecting when it drops; dead air ([live] relay-dead-air) ends it or \
            plays [live] relay-fallback.
            """)

    @Option(help: "emergency, rumor-rebuttal, policy or routine.")
    var kind: Kind = .policy

    @Option(help: "Emergency level 1 (I, red) to 4 (IV, blue).")
    var level: Int?

    @Option(help: "One of the station's [live] inputs (ALSA capture PCM names); the first by default.")
    var input: String?

    @Option(help: "Relay this http(s) MP3 or Ogg stream (转播) instead of recording an input.")
    var url: String?

    @Option(help: "Title shown in status and the log.")
    var title: String?

    @Option(help: "Seconds of silence that end it (0: never); the station's setting by default.")
    var silence: Double?

    @Option(help: "Seconds after which it ends on its own; the station's setting by default.")
    var maximum: Double?

    @Option(help: "External id.")
    var id: String?

    @Flag(help: "A drill or test: marked and counted apart.")
    var test = false

    @OptionGroup var station: StationOptions

    func run() async throws {
        try await reportingFailures {
            let request = StationAPI.LiveRequest(
                kind: kind, level: level, title: title, id: id, test: test ? true : nil, input: input, url: url, silence: silence,
                maximum: maximum)
            let data = try await station.client.post("/v1/live", json: request)
            try QueueCommand.printReceipt(data, format: station.format)
        }
    }
}

struct LiveStopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "End the live item (logged as completed with the frames heard).")

    @OptionGroup var station: StationOptions

    func run() async throws {
        try await reportingFailures {
            let data = try await station.client.delete("/v1/live")
            let ended = try StationAPI.makeDecoder().decode(StationAPI.LiveEnded.self, from: data)
            print(station.format == .json ? String(decoding: data, as: UTF8.self) : "ended \(DisplayText.echo(ended.id, limit: 200))")
        }
    }
}
