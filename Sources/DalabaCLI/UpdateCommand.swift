import ArgumentParser
import DalabaCore
import Foundation

/// `dalaba update ID [--title T] [--expires TIME]`: changes a queued announcement in one step, at a village station or at
/// the county head-end (which sends the signed update on to the villages it went to).
struct UpdateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Change the title or end time of a queued announcement.",
        discussion: """
            At a village the waiting item becomes the new version in its place in line; on air, the play goes on as it started
            and the next play (a repeat, a restart after preemption) is the new version. An end time already past expires it.
            At the county head-end the update is signed and sent to the villages the announcement went to.
            """)

    @Argument(help: "The announcement's id.")
    var id: String

    @Option(help: "New title shown in status and the log.")
    var title: String?

    @Option(help: "New end time: never started after it; an emergency playing past it stops (ISO 8601, HH:MM today, or +2h).")
    var expires: String?

    @OptionGroup var station: StationOptions

    func validate() throws {
        guard title != nil || expires != nil else { throw ValidationError("give --title, --expires or both (nothing to change)") }
        guard !id.isEmpty else { throw ValidationError("the id is empty") }
        // `.` and `..` as a path segment are rewritten by URL handling, and an update takes its id from the path only.
        guard !id.allSatisfy({ $0 == "." }) else { throw ValidationError("an id made only of dots cannot be updated: cancel it and queue it again") }
    }

    func run() async throws {
        try await reportingFailures {
            let change = CountyAPI.UpdateRequest(title: title, expires: try expires.map { try TimeArgument.parse($0, option: "--expires") })
            let data = try await station.client.patch("/v1/announcements/\(AnnouncementID.pathSegment(id))", json: change)
            if station.format == .json {
                print(String(decoding: data, as: UTF8.self))
                return
            }
            if let sent = try? StationAPI.makeDecoder().decode(CountyAPI.Sent.self, from: data) {
                print("update sent (message \(sent.message)) to \(sent.targets.joined(separator: ", ")): \(sent.villages.count) villages")
                return
            }
            let receipt = try StationAPI.makeDecoder().decode(StationAPI.UpdateReceipt.self, from: data)
            let shown = DisplayText.echo(receipt.id, limit: 200)
            switch receipt.status {
            case .updated: print("updated \(shown): \(receipt.position == 0 ? "next in line" : "position \(receipt.position ?? 0) in the queue")")
            case .nextPlay: print("updated \(shown): on air now, so the change applies from its next play")
            case .expired: print("updated \(shown): its new end time has passed, so it was logged as expired and removed")
            }
        }
    }
}
