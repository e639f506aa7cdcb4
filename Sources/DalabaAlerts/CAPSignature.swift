/// What the station demands of an alert's XML signature (`cap.signature` in the configuration).
public enum CAPSignaturePolicy: String, Sendable, Hashable, Codable, CaseIterable {
    /// Only alerts with a valid signature from a trusted certificate are broadcast.
    case require
    /// Unsigned alerts are broadcast; a signed alert whose signature does not verify is refused, because a tampered
    /// copy of a signed alert is exactly what a signature is there to catch.
    case prefer
    /// Signatures are not checked.
    case off

    /// Whether an alert whose signature check gave `result` may be acted on; the error names `Signature`.
    public func admit(_ result: CAPSignatureResult) throws(CAPError) {
        switch (self, result) {
        case (.off, _), (_, .verified), (.prefer, .unsigned):
            return
        case (.prefer, .unchecked), (.prefer, .unsupported):
            return
        case (.require, .unsigned):
            throw CAPError(field: "Signature", reason: "is missing: this station accepts only signed alerts (cap.signature = require)")
        case (.require, .unchecked):
            throw CAPError(field: "Signature", reason: "was not checked, and this station accepts only verified alerts (cap.signature = require)")
        case (.require, .unsupported(let reason)):
            throw CAPError(field: "Signature", reason: "cannot be verified on this station (\(reason)), and cap.signature = require")
        case (_, .invalid(let reason)):
            throw CAPError(field: "Signature", reason: "does not verify: \(reason)")
        }
    }
}

/// The outcome of checking an alert's enveloped XML-DSig signature, for the response, the log and the queue entry.
public enum CAPSignatureResult: Sendable, Hashable, CustomStringConvertible {
    /// The signature covers the whole alert and verifies with a key whose certificate chains to a trusted one.
    case verified(signer: String)
    /// The alert carries no `<Signature>`.
    case unsigned
    /// A signature is there but does not verify, covers less than the whole alert, or its certificate is not trusted.
    case invalid(reason: String)
    /// The policy is `off`.
    case unchecked
    /// This build cannot verify signatures.
    case unsupported(reason: String)

    /// One word for JSON and logs: `verified`, `unsigned`, `invalid`, `unchecked` or `unsupported`.
    public var status: String {
        switch self {
        case .verified: "verified"
        case .unsigned: "unsigned"
        case .invalid: "invalid"
        case .unchecked: "unchecked"
        case .unsupported: "unsupported"
        }
    }

    public var description: String {
        switch self {
        case .verified(let signer): "verified (\(signer))"
        case .invalid(let reason), .unsupported(let reason): "\(status) (\(reason))"
        case .unsigned, .unchecked: status
        }
    }
}

/// Checks the enveloped XML-DSig signature of a screened CAP document against the station's trusted certificates. The
/// implementation lives in a wrapper module over a C library; this module stays pure.
public protocol CAPSignatureVerifier: Sendable {
    func verify(_ document: CAPDocument) -> CAPSignatureResult
}
