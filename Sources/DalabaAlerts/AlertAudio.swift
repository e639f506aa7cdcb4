import Crypto
import Foundation

/// Where the sound of an alert's `audio/*` resource comes from. The parser never fetches anything: an embedded payload
/// arrives verified, and a reference is only a safe relative path that the station resolves under its own audio directory.
public enum AlertAudio: Sendable, Hashable, Codable {
    /// `<derefUri>` bytes, already checked against `<size>` and the SHA-1 `<digest>` when those are given.
    /// `sha1` is the payload's own digest (lowercase hex), handy as a content-addressed file name.
    case embedded(data: Data, mimeType: String, sha1: String)
    /// A `<uri>` naming a file relative to the station's audio directory; never absolute, never containing `..`.
    case file(relativePath: String, mimeType: String)

    public var mimeType: String {
        switch self {
        case .embedded(_, let mimeType, _), .file(_, let mimeType): mimeType
        }
    }

    /// A file name for writing an embedded payload (`cap-<sha1>.<ext>`), stable so a re-delivered alert reuses it.
    public var suggestedFileName: String? {
        guard case .embedded(_, let mimeType, let sha1) = self else { return nil }
        return "cap-\(sha1).\(AlertAudio.fileExtension(for: mimeType))"
    }

    /// The usual extension for the audio MIME types CAP feeds carry; `bin` for the rest, so libsndfile sniffs the content.
    public static func fileExtension(for mimeType: String) -> String {
        let base = mimeType.lowercased().split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        switch base {
        case "audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave": return "wav"
        case "audio/mpeg", "audio/mp3": return "mp3"
        case "audio/ogg", "audio/vorbis": return "ogg"
        case "audio/opus": return "opus"
        case "audio/flac", "audio/x-flac": return "flac"
        case "audio/aiff", "audio/x-aiff": return "aiff"
        default: return "bin"
        }
    }

    /// Checks an `audio/*` resource and says where its sound comes from, or why it cannot be used.
    /// `field` is the resource's path in the document, for error messages.
    static func validate(_ resource: CAPResource, field: String) throws(CAPError) -> AlertAudio? {
        if let payload = resource.payload {
            return .embedded(data: payload, mimeType: resource.mimeType, sha1: sha1Hex(payload))
        }
        guard let uri = resource.uri else { return nil }
        return .file(relativePath: try relativePath(uri, field: "\(field)/uri"), mimeType: resource.mimeType)
    }

    /// Verifies a decoded `<derefUri>` payload against the declared size and digest.
    static func verify(payload: Data, size: Int?, digest: String?, field: String) throws(CAPError) {
        if let size, size != payload.count {
            throw CAPError(field: "\(field)/size", reason: "declares \(size) bytes but derefUri holds \(payload.count)")
        }
        if let digest {
            let actual = sha1Hex(payload)
            guard actual == digest.lowercased() else {
                throw CAPError(field: "\(field)/digest", reason: "SHA-1 mismatch: declared \(digest), derefUri hashes to \(actual)")
            }
        }
    }

    static func sha1Hex(_ data: Data) -> String {
        Insecure.SHA1.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }

    /// Accepts a plain relative path (`alerts/quake.wav`) or a host-less `file:` URI (`file:///alerts/quake.wav`, read as
    /// `alerts/quake.wav`): the station only ever reads inside its audio directory. Every network scheme is refused.
    static func relativePath(_ uri: String, field: String) throws(CAPError) -> String {
        let trimmed = uri.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { throw CAPError(field: field, reason: "is empty") }
        var path = trimmed
        if let colon = trimmed.firstIndex(of: ":"), isScheme(trimmed[..<colon]) {
            let scheme = trimmed[..<colon].lowercased()
            guard scheme == "file" else {
                let reason =
                    ["http", "https", "ftp", "ftps", "sftp", "ws", "wss"].contains(scheme)
                    ? "network URIs are not fetched (\(trimmed))" : "unsupported URI scheme '\(scheme)' (\(trimmed))"
                throw CAPError(field: field, reason: reason)
            }
            guard let components = URLComponents(string: trimmed), components.percentEncodedQuery == nil, components.fragment == nil else {
                throw CAPError(field: field, reason: "is not a valid file URI (\(trimmed))")
            }
            guard (components.host ?? "").isEmpty || components.host == "localhost" else {
                throw CAPError(field: field, reason: "a file URI on another host is a network URI; network URIs are not fetched (\(trimmed))")
            }
            path = components.path
            while path.hasPrefix("/") { path.removeFirst() }
        } else if trimmed.hasPrefix("/") {
            throw CAPError(field: field, reason: "must be relative to the station's audio directory, not absolute (\(trimmed))")
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        if path.isEmpty || parts.contains(where: { $0.isEmpty }) {
            throw CAPError(field: field, reason: "does not name a file (\(trimmed))")
        }
        if parts.contains("..") || parts.contains(".") {
            throw CAPError(field: field, reason: "must not contain '.' or '..' components (\(trimmed))")
        }
        if path.contains("\\") || path.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw CAPError(field: field, reason: "contains a backslash or a control character")
        }
        return path
    }

    /// RFC 3986 scheme: a letter, then letters, digits, `+`, `-` or `.`; at least two characters so `C:` style paths are not schemes.
    private static func isScheme(_ text: Substring) -> Bool {
        guard text.count >= 2, let first = text.first, first.isASCII, first.isLetter else { return false }
        return text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == ".") }
    }
}
