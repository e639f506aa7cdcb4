import DalabaStation
import Hummingbird

extension APIError {
    /// What the Station could not accept: 507 Insufficient Storage, whether the store could not keep it or the queue is full.
    init(_ refusal: Station.Refusal) {
        switch refusal {
        case .notStored: self.init(.init(code: 507, reasonPhrase: "Insufficient Storage"), refusal.description)
        case .queueFull: self.init(.init(code: 507, reasonPhrase: "Insufficient Storage"), refusal.description)
        }
    }
}
