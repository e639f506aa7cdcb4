import Crypto
import Foundation

/// The head-end's Ed25519 key, kept as base64 of the 32-byte seed in a file of mode 0600. Made on first start when missing;
/// the public key is written beside it (`<key>.pub`, base64) for the villages' `[county]` sections.
public enum SigningKeyFile {
    public typealias PrivateKey = Curve25519.Signing.PrivateKey

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the key at `path`, or makes one there (and its `.pub`) when there is no file. Returns the key and whether it
    /// was made now.
    public static func loadOrCreate(path: String) throws(Failure) -> (key: Curve25519.Signing.PrivateKey, created: Bool) {
        if FileManager.default.fileExists(atPath: path) {
            var info = stat()
            guard stat(path, &info) == 0 else { throw Failure(description: "\(path): \(String(cString: strerror(errno)))") }
            guard info.st_mode & 0o077 == 0 else {
                throw Failure(description: "\(path): the signing key is readable by others (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it")
            }
            guard let text = try? String(contentsOfFile: path, encoding: .utf8),
                let seed = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), seed.count == 32,
                let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: seed)
            else { throw Failure(description: "\(path): not an Ed25519 signing key (base64 of 32 bytes)") }
            try writePublic(key, beside: path)
            return (key, false)
        }
        let key = Curve25519.Signing.PrivateKey()
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw Failure(description: "\(directory): cannot create the directory: \(error.localizedDescription)")
        }
        // Created 0600 from the start, never readable by others even for a moment; O_EXCL so two starts cannot both write.
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw Failure(description: "\(path): cannot create the signing key: \(String(cString: strerror(errno)))") }
        let bytes = Array((key.rawRepresentation.base64EncodedString() + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0 else {
            unlink(path)
            throw Failure(description: "\(path): cannot write the signing key: \(String(cString: strerror(errno)))")
        }
        try writePublic(key, beside: path)
        return (key, true)
    }

    /// The public key as villages configure it: base64 of its 32 bytes.
    public static func publicText(_ key: Curve25519.Signing.PrivateKey) -> String { key.publicKey.rawRepresentation.base64EncodedString() }

    private static func writePublic(_ key: Curve25519.Signing.PrivateKey, beside path: String) throws(Failure) {
        let publicPath = path + ".pub"
        do {
            try Data((publicText(key) + "\n").utf8).write(to: URL(fileURLWithPath: publicPath), options: .atomic)
        } catch {
            throw Failure(description: "\(publicPath): cannot write the public key: \(error.localizedDescription)")
        }
    }
}
