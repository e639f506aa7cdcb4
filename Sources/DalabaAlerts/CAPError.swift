/// Why a CAP document was refused, naming the element or field (XPath-like, 1-based: `info[1]/resource[2]/digest`),
/// so the upstream sender's operator can fix the alert without reading our source.
public struct CAPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The element or field at fault, e.g. `sent`, `info[1]/urgency`, or `document` for the whole input.
    public var field: String
    public var reason: String

    public init(field: String, reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}
