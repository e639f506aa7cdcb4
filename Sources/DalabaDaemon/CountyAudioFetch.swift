import AsyncHTTPClient
import Crypto
import DalabaCore
import DalabaLink
import DalabaStation
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// Puts a county announcement's audio into the village's cache, named by its digest so the same audio is fetched once.
///
/// Embedded audio is decoded and checked; a URL is fetched only from `county.head-end-url` (without it, none: a message
/// may name any URL, and the token must not go there), over https against the village's own CA, with the village's token,
/// streamed to a temporary file with a running SHA-256 and refused the moment it passes the size the message declares (or
/// `county.max-audio-bytes`), so a hostile server or a man in the middle of plain HTTP cannot make the village hold more
/// than one chunk. Only a file whose size and digest match is renamed into the cache; anything else is removed.
struct CountyAudioFetch: Sendable {
    /// How long a fetch may take. The whole fetch gets `baseTime` plus the expected size at `slowestBytesPerSecond`, so a
    /// server trickling bytes (a slow-loris) is cut off and the link moves on; `idleTimeout` ends one that sends nothing.
    struct Limits: Sendable {
        var connectTimeout: Duration = .seconds(10)
        var idleTimeout: Duration = .seconds(20)
        var baseTime: Duration = .seconds(30)
        /// 256 kbit/s: slower than that a 16 MiB item would not arrive in time to matter.
        var slowestBytesPerSecond = 32 << 10
        /// A head-end restarting or behind a proxy that answers 503 for a moment must not cost the item: a fetch that could
        /// not connect, or was told to come back, is tried this many times in all, `retryDelay` apart, doubling.
        var attempts = 3
        var retryDelay: Duration = .seconds(2)

        func timeAllowed(forBytes bytes: Int) -> Duration {
            baseTime + .milliseconds(Int64(bytes) * 1000 / Int64(max(1, slowestBytesPerSecond)))
        }
    }

    /// Why a fetch was refused, naming the URL (or the embedded audio) and what was wrong; it becomes the `failed`
    /// receipt's reason, so the county sees it beside the village.
    struct Failure: Error, CustomStringConvertible {
        var source: String
        var reason: String
        /// No connection, or 502/503/504 before any byte: worth another attempt. Everything else (a refused certificate, a
        /// wrong size or digest, a 404) would fail the same way again.
        var transient = false
        var description: String { "county audio \(source): \(reason)" }
    }

    let settings: Configuration.CountyLink
    let limits: Limits
    let logger: Logger

    init(settings: Configuration.CountyLink, limits: Limits = Limits(), logger: Logger) {
        self.settings = settings
        self.limits = limits
        self.logger = logger
    }

    func fetch(_ audio: CountyMessage.Audio, to path: String) async throws {
        // The digest names the cache file: anything but 64 lowercase hex digits could name another path.
        guard audio.sha256.utf8.count == 64, audio.sha256.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
            throw Failure(source: "message", reason: "sha256 is not 64 lowercase hex digits")
        }
        if FileManager.default.fileExists(atPath: path) { return }
        Self.removeStaleParts(beside: path, olderThan: limits.timeAllowed(forBytes: settings.maxAudioBytes))
        if let bytes = audio.bytes, bytes < 0 || bytes > settings.maxAudioBytes {
            let reason = "the message declares \(bytes) bytes, over county.max-audio-bytes (\(settings.maxAudioBytes))"
            throw Failure(source: audio.url ?? "(embedded)", reason: reason)
        }
        if let embedded = audio.embedded {
            guard embedded.utf8.count <= settings.maxAudioBytes * 4 / 3 + 4, let decoded = Data(base64Encoded: embedded) else {
                throw Failure(source: "(embedded)", reason: "not base64, or larger than county.max-audio-bytes (\(settings.maxAudioBytes))")
            }
            let part = try PartFile(beside: path, source: "(embedded)")
            try part.append(decoded)
            try part.finish(expecting: audio.bytes ?? decoded.count, sha256: audio.sha256, as: path)
        } else if let url = audio.url {
            var delay = limits.retryDelay
            for attempt in 1...max(1, limits.attempts) {
                do {
                    try await download(url, audio: audio, to: path)
                    return
                } catch var failure as Failure where failure.transient {
                    guard attempt < limits.attempts else {
                        failure.reason += " (\(attempt) attempts)"
                        throw failure
                    }
                    logger.warning(
                        "county audio not fetched; trying again",
                        metadata: ["url": "\(url)", "reason": "\(failure.reason)", "attempt": "\(attempt)", "next-in": "\(delay)"])
                    // A cancel (the county's, or shutdown) ends the wait too.
                    try await Task.sleep(for: delay)
                    delay *= 2
                }
            }
        } else {
            throw Failure(source: "message", reason: "no audio (neither embedded nor a URL)")
        }
    }

    private func download(_ url: String, audio: CountyMessage.Audio, to path: String) async throws {
        let target = try checkOnHeadEnd(url)
        let cap = audio.bytes ?? settings.maxAudioBytes
        let deadline = ContinuousClock.now + limits.timeAllowed(forBytes: cap)
        var configuration = HTTPClient.Configuration()
        // A redirect could lead off the head-end; compressed bodies are refused by the digest rather than inflated.
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        // One connection attempt: a certificate the village refuses would otherwise be retried until the connect timeout,
        // and the item fail only then, for the same reason.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout = .init(connect: Self.timeAmount(limits.connectTimeout), read: Self.timeAmount(limits.idleTimeout))
        if target.scheme == "https" { configuration.tlsConfiguration = try tlsConfiguration(for: url) }
        var request = HTTPClientRequest(url: url)
        if let token = settings.fetchToken { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        let started = ContinuousClock.now
        let part = try PartFile(beside: path, source: url)
        do {
            try await HTTPClient.withHTTPClient(configuration: configuration, backgroundActivityLogger: logger) { client in
                let response = try await client.execute(request, deadline: .now() + Self.timeAmount(deadline - ContinuousClock.now), logger: logger)
                guard response.status == .ok else {
                    throw Failure(
                        source: url, reason: "answered \(response.status.code) \(response.status.reasonPhrase)",
                        transient: [502, 503, 504].contains(response.status.code))
                }
                if let type = response.headers.first(name: "Content-Type")?.lowercased(), !type.hasPrefix("audio/"),
                    !type.hasPrefix("application/octet-stream")
                {
                    throw Failure(source: url, reason: "answered Content-Type \(type.prefix(60)), not audio")
                }
                if let declared = response.headers.first(name: "Content-Length").flatMap({ Int($0) }), declared != cap,
                    audio.bytes != nil || declared > cap
                {
                    throw Failure(source: url, reason: "answered Content-Length \(declared), the message allows \(cap) bytes")
                }
                for try await chunk in response.body {
                    guard part.bytes + chunk.readableBytes <= cap else {
                        let limit = audio.bytes == nil ? "county.max-audio-bytes" : "the message's size"
                        throw Failure(source: url, reason: "sent more than \(cap) bytes (\(limit))")
                    }
                    guard ContinuousClock.now < deadline else {
                        throw Failure(source: url, reason: "too slow: \(part.bytes) of \(cap) bytes in \(ContinuousClock.now - started)")
                    }
                    try part.append(chunk)
                }
            }
        } catch let failure as Failure {
            throw failure
        } catch let error as HTTPClientError where error == .deadlineExceeded {
            throw Failure(source: url, reason: "no answer within \(limits.timeAllowed(forBytes: cap))")
        } catch let error as HTTPClientError where error == .readTimeout {
            throw Failure(source: url, reason: "sent nothing for \(limits.idleTimeout) after \(part.bytes) bytes")
        } catch let error as HTTPClientError where error == .connectTimeout {
            throw Failure(source: url, reason: "no connection within \(limits.connectTimeout)", transient: true)
        } catch let error as NIOSSLError {
            throw Failure(source: url, reason: tlsReason(error))
        } catch let error as NIOSSLExtraError where error == .failedToValidateHostname {
            throw Failure(source: url, reason: "its TLS certificate is not for \(target.host ?? url)")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // Refused or reset before a byte came: the head-end is not there just now.
            let unreachable = part.bytes == 0 && (error is NIOConnectionError || error is IOError || error as? HTTPClientError == .remoteConnectionClosed)
            throw Failure(source: url, reason: "\(error) after \(part.bytes) bytes", transient: unreachable)
        }
        try part.finish(expecting: audio.bytes ?? part.bytes, sha256: audio.sha256, as: path, source: url)
        logger.info("county audio fetched", metadata: ["url": "\(url)", "bytes": "\(part.bytes)", "took": "\(ContinuousClock.now - started)"])
    }

    /// The token goes only to the head-end: the URL must have its scheme, host and port and lie under its path (a plain
    /// prefix test would let `http://head-end.evil.example` pass for `http://head-end`). Without `head-end-url` nothing
    /// says which URLs are the county's, so none is fetched: the refusal is the item's `failed` row and receipt.
    private func checkOnHeadEnd(_ url: String) throws -> URL {
        guard let target = URL(string: url), target.scheme == "http" || target.scheme == "https", let host = target.host, !host.isEmpty else {
            throw Failure(source: String(url.prefix(80)), reason: "is not an http(s) URL")
        }
        guard let baseText = settings.headEndURL, let base = URL(string: baseText) else {
            throw Failure(source: String(url.prefix(80)), reason: "county.head-end-url is not set: cannot fetch audio from a URL")
        }
        func port(_ u: URL) -> Int? { u.port ?? (u.scheme == "https" ? 443 : 80) }
        let basePath = base.path.hasSuffix("/") ? base.path : base.path + "/"
        guard target.scheme == base.scheme, host.lowercased() == base.host?.lowercased(), port(target) == port(base),
            (target.path + "/").hasPrefix(basePath), !(target.path + "/").contains("/../"), target.user == nil
        else {
            throw Failure(source: String(url.prefix(80)), reason: "is not on the head-end \(baseText)")
        }
        return target
    }

    /// The CA an https head-end is checked against, and the key that names it: `head-end-ca-file`, else the broker's
    /// `ca-file` (the county's own CA), else none (the system's trust store).
    private var trust: (file: String, key: String)? {
        if let file = settings.headEndCAFile { return (file, "county.head-end-ca-file") }
        if let file = settings.caFile { return (file, "county.ca-file") }
        return nil
    }

    private func tlsConfiguration(for url: String) throws -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let trust {
            do {
                tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(trust.file))
            } catch {
                throw Failure(source: url, reason: "cannot load the CA certificates in \(trust.key) (\(trust.file)): \(error)")
            }
        }
        return tls
    }

    /// A failed TLS handshake in an operator's words when it is the certificate (the usual case: a head-end certificate
    /// from another CA), naming what it was checked against and the key that decides it.
    private func tlsReason(_ error: NIOSSLError) -> String {
        guard "\(error)".contains("CERTIFICATE_VERIFY_FAILED") else { return "TLS failed: \(error)" }
        guard let trust else {
            return "its TLS certificate is not trusted by the system's CA store (set county.head-end-ca-file or county.ca-file to the head-end's CA)"
        }
        return "its TLS certificate is not signed by the CA in \(trust.key) (\(trust.file))"
    }

    /// Temporary files of fetches that ended without their cleanup (dalabad killed -9 mid-fetch): none of them can still be
    /// written once older than the longest fetch allowed, so they go rather than fill the disk over the years.
    static func removeStaleParts(beside path: String, olderThan age: Duration) {
        let directory = (path as NSString).deletingLastPathComponent
        let cutoff = Date().addingTimeInterval(-Double(age.components.seconds))
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.contains(".ogg.part-") {
            let file = directory + "/" + name
            guard let modified = (try? FileManager.default.attributesOfItem(atPath: file))?[.modificationDate] as? Date, modified < cutoff
            else { continue }
            unlink(file)
        }
    }

    private static func timeAmount(_ duration: Duration) -> TimeAmount {
        let (seconds, attoseconds) = duration.components
        return .nanoseconds(max(0, seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
    }
}

/// The cache file being written: a unique temporary name beside the final one, a running digest, and removal unless
/// `finish` renamed it into place, so neither a refused fetch nor a full disk leaves a partial file in the cache.
private final class PartFile {
    let path: String
    let source: String
    private let handle: FileHandle
    private var hasher = SHA256()
    private var renamed = false
    private(set) var bytes = 0

    init(beside final: String, source: String) throws {
        path = final + ".part-" + UUID().uuidString
        self.source = source
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw CountyAudioFetch.Failure(source: source, reason: "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        do {
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        } catch {
            unlink(path)
            throw CountyAudioFetch.Failure(source: source, reason: "cannot open \(path): \(error)")
        }
    }

    deinit {
        try? handle.close()
        if !renamed { unlink(path) }
    }

    func append(_ chunk: ByteBuffer) throws {
        try chunk.withUnsafeReadableBytes { try append(Data($0)) }
    }

    func append(_ data: Data) throws {
        hasher.update(data: data)
        do { try handle.write(contentsOf: data) } catch { throw CountyAudioFetch.Failure(source: source, reason: "cannot write \(path): \(error)") }
        bytes += data.count
    }

    /// Checks size and digest, flushes to disk and renames into place (rename(2) is atomic and replaces a file another
    /// fetch of the same digest wrote meanwhile).
    func finish(expecting expected: Int, sha256: String, as final: String, source: String? = nil) throws {
        let source = source ?? self.source
        guard bytes == expected else { throw CountyAudioFetch.Failure(source: source, reason: "sent \(bytes) bytes, the message says \(expected)") }
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        guard digest == sha256 else {
            throw CountyAudioFetch.Failure(source: source, reason: "digest does not match the message's sha256 \(sha256): the body's is \(digest)")
        }
        do {
            try handle.synchronize()
        } catch {
            throw CountyAudioFetch.Failure(source: source, reason: "cannot flush \(path): \(error)")
        }
        guard rename(path, final) == 0 else {
            throw CountyAudioFetch.Failure(source: source, reason: "cannot move \(path) to \(final): \(String(cString: strerror(errno)))")
        }
        renamed = true
    }
}
