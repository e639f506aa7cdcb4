import DalabaCore
import Foundation
import Logging

/// Updates to a queued item (`PATCH /v1/announcements/{id}`, a county update): one arbiter event and one commit, so a
/// crash at any instant leaves the old version or the new one in the store, never neither (the cancel-and-queue-again it
/// replaces lost the item to a kill -9 between its two steps).
extension Station {
    /// Why an update was not made.
    public enum AmendRefusal: Error, Sendable, Equatable, CustomStringConvertible {
        /// No item with this id is queued or on air.
        case unknown(id: String)
        /// The item is being stopped for good (cancelled, or an emergency past its end): there is nothing left to change.
        case stopping(id: String)
        /// The changed item would break a rule (an end time not after its not-before).
        case invalid(Announcement.Invalid)
        /// The store could not keep it: the item stays as it was.
        case notStored(String)

        public var description: String {
            switch self {
            case .unknown(let id): "no announcement with id \(id) is queued or on air"
            case .stopping(let id): "announcement \(id) is being stopped: there is nothing left to update"
            case .invalid(let invalid): "\(invalid)"
            case .notStored(let reason): "the station could not store the update, so the item is unchanged: \(reason)"
            }
        }
    }

    /// Applies `change` to the queued or playing item `id` for `who`, answering once the new version is on disk. A waiting
    /// item keeps its place in line; on air, the play goes on as it started and the next play (a repeat, a restart after
    /// preemption or a crash) is the new version; an end time already past expires a waiting item (and stops an
    /// emergency on air, as its end would).
    public func amend(id: String, _ change: Amendment, by who: String) async throws(AmendRefusal) -> Arbiter.AmendResult {
        await enterGate()
        defer { leaveGate() }
        guard let current = arbiter.announcement(id: id) else { throw .unknown(id: id) }
        do {
            try change.applied(to: current).validate()
        } catch {
            throw .invalid(error)
        }
        let before = arbiter
        guard let (result, actions) = arbiter.amend(id: id, change, now: clock()) else { throw .unknown(id: id) }
        do {
            try await commitRequest(actions, undoingTo: before)
        } catch {
            logger.error("not updated: the store refused it", metadata: ["id": "\(id)", "error": "\(error)"])
            throw .notStored("\(error)")
        }
        if result == .stopping { throw .stopping(id: id) }
        logger.info(
            "updated",
            metadata: [
                "id": "\(id)", "by": "\(who)", "result": "\(result)", "title": "\(change.title ?? "-")",
                "expires": "\(change.expires.map { "\($0)" } ?? "-")",
            ])
        return result
    }
}
