import DalabaStation
import Hummingbird

extension APIError {
    /// What the Station could not accept: 507 when the store could not keep it, 429 when the queue is full.
    init(_ refusal: Station.Refusal) {
        switch refusal {
        case .notStored: self.init(.init(code: 507, reasonPhrase: "Insufficient Storage"), refusal.description)
        case .queueFull: self.init(.tooManyRequests, refusal.description)
        }
    }
}
