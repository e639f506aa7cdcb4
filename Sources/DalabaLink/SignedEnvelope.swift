import Crypto
import Foundation

/// The county's signing key as the villages hold it: the raw 32-byte Ed25519 public key and its id.
public struct CountyKey: Sendable, Hashable {
    /// The raw 32 bytes of the public key.
    public let raw: Data
    /// The first 16 hex digits of SHA-256 of the raw public key: names the key in every envelope.
    public let id: String

    public init(_ publicKey: Curve25519.Signing.PublicKey) {
        raw = publicKey.rawRepresentation
        id = Self.keyID(raw)
    }

    /// The key for swift-crypto (kept as raw bytes, which are `Sendable`).
    public var publicKey: Curve25519.Signing.PublicKey { try! Curve25519.Signing.PublicKey(rawRepresentation: raw) }

    /// Reads the base64 of the raw 32-byte public key (as `dalaba-county` prints it).
    public init(base64: String) throws(SigningKeyError) {
        let trimmed = base64.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let raw = Data(base64Encoded: trimmed), raw.count == 32 else { throw SigningKeyError("is not the base64 of a 32-byte Ed25519 public key") }
        guard let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw) else { throw SigningKeyError("is not an Ed25519 public key") }
        self.init(key)
    }

    public var base64: String { raw.base64EncodedString() }

    public static func keyID(_ raw: Data) -> String { String(SHA256.hash(data: raw).hexString.prefix(16)) }
}

public struct SigningKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Every head-end message on the wire: `{"v":1,"key":KEY-ID,"payload":BASE64(payload JSON),"sig":BASE64(Ed25519(payload))}`.
/// The signature covers the payload bytes exactly as sent, so no JSON canonicalisation is needed on either side.
public struct SignedEnvelope: Codable, Sendable, Hashable {
    public static let version = 1

    public var v: Int
    public var key: String
    /// Base64 of the payload (`CountyMessage` JSON) bytes.
    public var payload: String
    /// Base64 of the Ed25519 signature of the payload bytes; nil or empty in an unsigned envelope, which villages refuse.
    public var sig: String?

    public init(v: Int = SignedEnvelope.version, key: String, payload: String, sig: String?) {
        self.v = v
        self.key = key
        self.payload = payload
        self.sig = sig
    }

    /// Signs `payload` with the county's private key.
    public static func sign(_ payload: Data, with privateKey: Curve25519.Signing.PrivateKey) throws -> SignedEnvelope {
        let signature = try privateKey.signature(for: payload)
        return SignedEnvelope(
            key: CountyKey.keyID(privateKey.publicKey.rawRepresentation), payload: payload.base64EncodedString(),
            sig: signature.base64EncodedString())
    }

    /// Encodes `message` as the payload and signs it.
    public static func sign(_ message: CountyMessage, with privateKey: Curve25519.Signing.PrivateKey) throws -> SignedEnvelope {
        try sign(try LinkJSON.encode(message), with: privateKey)
    }

    /// The envelope's JSON bytes, as published.
    public func encoded() throws -> Data { try LinkJSON.encode(self) }

    /// The payload bytes, if the signature verifies with `key`; otherwise why not (unsigned, forged or malformed).
    public func verifiedPayload(with countyKey: CountyKey) -> Result<Data, RefusalReason> {
        guard v == Self.version else { return .failure(.malformed) }
        guard let payloadBytes = Data(base64Encoded: payload) else { return .failure(.malformed) }
        guard let sig, !sig.isEmpty else { return .failure(.unsigned) }
        guard let signature = Data(base64Encoded: sig), signature.count == 64 else { return .failure(.forged) }
        guard key == countyKey.id, countyKey.publicKey.isValidSignature(signature, for: payloadBytes) else { return .failure(.forged) }
        return .success(payloadBytes)
    }
}

/// Why a village refused a head-end message; sent as the `reason` of a `refused` receipt.
public enum RefusalReason: String, Codable, Sendable, CaseIterable, Error {
    /// No signature (or not an envelope at all).
    case unsigned
    /// A signature that does not verify with the county's key, or another key's id.
    case forged
    /// Its id was acted on before.
    case replayed
    /// Past its `expires`.
    case expired
    /// None of its targets is the village or one of its prefixes.
    case notTargeted = "not-targeted"
    /// Not JSON of the expected shape, or a field out of its rules.
    case malformed
}

extension SHA256.Digest {
    /// Lowercase hex.
    var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Lowercase hex SHA-256 of `data`: how audio digests are written on the link.
public func linkSHA256(_ data: some DataProtocol) -> String { SHA256.hash(data: data).hexString }
