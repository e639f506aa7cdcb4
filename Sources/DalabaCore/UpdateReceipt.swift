import Foundation

extension StationAPI {
    /// `PATCH /v1/announcements/{id}` at a village: what became of the update.
    public struct UpdateReceipt: Codable, Sendable, Equatable {
        public enum Status: String, Codable, Sendable {
            /// The waiting item is the new version, in the same place in line (`position`).
            case updated
            /// It is on air: this play goes on as it started, the next play is the new version.
            case nextPlay = "next-play"
            /// Its new end time has passed: logged as expired and removed.
            case expired
        }
        public var id: String
        public var status: Status
        public var position: Int?

        public init(id: String, status: Status, position: Int? = nil) {
            self.id = id
            self.status = status
            self.position = position
        }

        public init(id: String, _ result: Arbiter.AmendResult) {
            switch result {
            case .amended(let position): self.init(id: id, status: .updated, position: position)
            case .nextPlay, .stopping: self.init(id: id, status: .nextPlay)
            case .expired: self.init(id: id, status: .expired)
            }
        }
    }
}
