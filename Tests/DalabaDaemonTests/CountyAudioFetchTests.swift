import Crypto
import DalabaLink
import DalabaStation
import DalabaTestSupport
import Foundation
import Logging
import Testing

@testable import DalabaDaemon

/// The village's fetch of a county item's audio against a hostile stand-in for the head-end (Tests/Hostile): an endless
/// body, a 10 GB Content-Length, a wrong digest, a trickle, a redirect, a web page. Each is refused with its reason, quickly,
/// and leaves nothing in the cache; the same server's honest answer is taken, so the refusals are not of everything.
@Suite(.serialized) final class CountyAudioFetchTests {
    let server: Child
    let port: Int
    let cache: URL
    /// What the server was asked: one "<path> <Authorization>" line per request, written before it answers.
    let record: URL

    init() async throws {
        record = FileManager.default.temporaryDirectory.appendingPathComponent("dalaba-county-audio-requests-\(UUID().uuidString.prefix(8))")
        let (server, port) = try await Processes.startListening(
            "python3", [Processes.packageRoot.appendingPathComponent("Tests/Hostile/county_audio_server.py").path, "--record", record.path])
        (self.server, self.port) = (server, port)
        cache = try Processes.temporaryDirectory("county-audio-fetch")
    }

    deinit {
        // SIGKILL: this process's blocked signal mask is inherited, so the child would ignore SIGTERM.
        Processes.killTree(server)
        try? FileManager.default.removeItem(at: cache)
        try? FileManager.default.removeItem(at: record)
    }

    func requests() -> [String] { requestsRecorded(at: record) }

    /// For the tests of the time limits themselves.
    static let quick = CountyAudioFetch.Limits(
        connectTimeout: .seconds(5), idleTimeout: .seconds(2), baseTime: .seconds(3), slowestBytesPerSecond: 32 << 10)
    /// For every other test: a suite starting dozens of daemons beside stress-ng once stalled this process for 50 s, and a
    /// refusal for slowness there would hide what the test is about.
    static let patient = CountyAudioFetch.Limits(
        connectTimeout: .seconds(60), idleTimeout: .seconds(60), baseTime: .seconds(120), slowestBytesPerSecond: 32 << 10)

    func fetcher(_ mode: String, maxAudioBytes: Int = 1 << 20, limits: CountyAudioFetch.Limits = patient) -> CountyAudioFetch {
        var settings = Configuration.CountyLink(username: "v", password: "p", region: "370703001001", countyKey: "")
        settings.headEndURL = "http://127.0.0.1:\(port)/\(mode)"
        settings.fetchToken = "fetch-token-0123456789"
        settings.maxAudioBytes = maxAudioBytes
        return CountyAudioFetch(settings: settings, limits: limits, logger: Logger(label: "test"))
    }

    /// The digest of what `good-N` sends: "OggS" then zeros.
    static func goodDigest(_ bytes: Int) -> String {
        SHA256.hash(data: Data("OggS".utf8) + Data(count: bytes - 4)).map { String(format: "%02x", $0) }.joined()
    }

    func url(_ mode: String, _ digest: String) -> String { "http://127.0.0.1:\(port)/\(mode)/v1/audio/\(digest)" }

    /// Fetches and returns the refusal and how long it took; fails the test if the fetch succeeded.
    func refusal(
        _ mode: String, bytes: Int?, digest: String? = nil, maxAudioBytes: Int = 1 << 20, limits: CountyAudioFetch.Limits = patient,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> (reason: String, seconds: Double) {
        let digest = digest ?? Self.goodDigest(bytes ?? 4096)
        let path = cache.appendingPathComponent(digest + ".ogg").path
        let audio = CountyMessage.Audio(embedded: nil, url: url(mode, digest), sha256: digest, bytes: bytes)
        let started = ContinuousClock.now
        do {
            try await fetcher(mode, maxAudioBytes: maxAudioBytes, limits: limits).fetch(audio, to: path)
        } catch let failure as CountyAudioFetch.Failure {
            let took = ContinuousClock.now - started
            #expect(failure.source == url(mode, digest), sourceLocation: sourceLocation)
            #expect("\(failure)".contains(url(mode, digest)), "the error names the URL", sourceLocation: sourceLocation)
            let left = try FileManager.default.contentsOfDirectory(atPath: cache.path)
            #expect(left.isEmpty, "nothing half-written stays in the cache: \(left)", sourceLocation: sourceLocation)
            return (failure.reason, Double(took.components.seconds) + Double(took.components.attoseconds) / 1e18)
        }
        Issue.record("\(mode) was taken", sourceLocation: sourceLocation)
        return ("", 0)
    }

    @Test func anHonestAnswerIsCachedByItsDigest() async throws {
        let digest = Self.goodDigest(100_000)
        let path = cache.appendingPathComponent(digest + ".ogg").path
        try await fetcher("good-100000").fetch(.url(url("good-100000", digest), sha256: digest, bytes: 100_000), to: path)
        #expect(FileManager.default.contents(atPath: path) == Data("OggS".utf8) + Data(count: 100_000 - 4))
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.path) == [digest + ".ogg"])
    }

    /// The temporary file of a fetch cut short by kill -9 goes at the next fetch once no fetch could still be writing it;
    /// a recent one (a fetch in flight) stays.
    @Test func aStaleTemporaryFileIsRemovedAndARecentOneKept() async throws {
        let stale = cache.appendingPathComponent(Self.goodDigest(5) + ".ogg.part-killed").path
        let recent = cache.appendingPathComponent(Self.goodDigest(6) + ".ogg.part-in-flight").path
        for file in [stale, recent] { #expect(FileManager.default.createFile(atPath: file, contents: Data(count: 10))) }
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-86_400)], ofItemAtPath: stale)
        let digest = Self.goodDigest(1000)
        let path = cache.appendingPathComponent(digest + ".ogg").path
        try await fetcher("good-1000").fetch(.url(url("good-1000", digest), sha256: digest, bytes: 1000), to: path)
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: cache.path)) == [digest + ".ogg", (recent as NSString).lastPathComponent])
    }

    /// (a) An endless body with no size in the message: refused at `county.max-audio-bytes`, and memory stays flat while it
    /// streams (a buffering fetch would hold all 160 MiB before any check).
    @Test func anEndlessBodyIsCutOffAtTheCeilingWithBoundedMemory() async throws {
        let ceiling = 160 << 20
        let baseline = residentBytes()
        let sampler = Task {
            var peak = baseline
            while !Task.isCancelled {
                peak = max(peak, residentBytes())
                try? await Task.sleep(for: .milliseconds(20))
            }
            return peak
        }
        let (reason, seconds) = try await refusal("endless", bytes: nil, maxAudioBytes: ceiling)
        sampler.cancel()
        let peak = await sampler.value
        #expect(reason == "sent more than \(ceiling) bytes (county.max-audio-bytes)")
        // 2.5 MB/s from the python stand-in beside the whole suite and stress-ng: a bound on a wedge, not a speed.
        #expect(seconds < 300, "refused in \(seconds) s")
        let grown = peak - baseline
        #expect(grown < 50 << 20, "resident memory grew by \(grown >> 20) MiB while 160 MiB streamed")
    }

    /// An endless body against the message's declared size: refused at the first byte past it.
    @Test func anEndlessBodyIsCutOffAtTheDeclaredSize() async throws {
        let (reason, seconds) = try await refusal("endless", bytes: 300_000)
        #expect(reason == "sent more than 300000 bytes (the message's size)")
        #expect(seconds < 60)
    }

    /// (b) A Content-Length of 10 GB is refused from the head, before any body is read.
    @Test func aTenGigabyteContentLengthIsRefusedAtOnce() async throws {
        let (declared, seconds) = try await refusal("huge", bytes: 300_000)
        #expect(declared == "answered Content-Length 10737418240, the message allows 300000 bytes")
        let (undeclared, _) = try await refusal("huge", bytes: nil)
        #expect(undeclared == "answered Content-Length 10737418240, the message allows 1048576 bytes")
        #expect(seconds < 60)
    }

    /// (c) The right size with a wrong digest.
    @Test func theRightSizeWithAWrongDigestIsRefused() async throws {
        let digest = Self.goodDigest(50_000)
        let (reason, _) = try await refusal("wrong-50000", bytes: 50_000, digest: digest)
        #expect(reason.hasPrefix("digest does not match the message's sha256 \(digest): the body's is "), "\(reason)")
        let (short, _) = try await refusal("good-40000", bytes: 50_000, digest: digest)
        #expect(short == "answered Content-Length 40000, the message allows 50000 bytes")
    }

    /// (d) One byte a second: cut off when the whole fetch's time is up (3 s here, plus the size at 32 KiB/s), not after
    /// the hour the body would take.
    @Test func aTrickleIsCutOffWhenItsTimeIsUp() async throws {
        let (reason, seconds) = try await refusal("trickle-3600", bytes: 3600, limits: Self.quick)
        #expect(reason.hasPrefix("too slow: ") && reason.contains("of 3600 bytes in"), "\(reason)")
        #expect(seconds >= 3 && seconds < 30, "refused after \(seconds) s, not the hour the body would take")
    }

    @Test func aHeadThenSilenceEndsAtTheIdleTimeout() async throws {
        let (reason, seconds) = try await refusal("silent-1000", bytes: 1000, limits: Self.quick)
        #expect(reason == "sent nothing for 2.0 seconds after 0 bytes", "\(reason)")
        #expect(seconds < 30)
    }

    /// A head-end that answers 503 once (restarting, behind a proxy) is asked again and the audio taken; a 404 is not asked
    /// again, and a head-end that is not there at all is given up after the attempts, saying so.
    @Test func aBusyHeadEndIsAskedAgainAndAnAbsentOneGivenUpAfterItsAttempts() async throws {
        var quickRetry = Self.patient
        quickRetry.retryDelay = .milliseconds(100)
        let digest = Self.goodDigest(4096)
        let path = cache.appendingPathComponent(digest + ".ogg").path
        try await fetcher("busy-4096", limits: quickRetry).fetch(.url(url("busy-4096", digest), sha256: digest, bytes: 4096), to: path)
        #expect(FileManager.default.contents(atPath: path)?.count == 4096)
        #expect(requests().filter { $0.hasPrefix("/busy-4096/") }.count == 2, "\(requests())")
        try FileManager.default.removeItem(atPath: path)

        let (missing, _) = try await refusal("gone-4096", bytes: 4096, limits: quickRetry)
        #expect(missing == "answered 404 Not Found")
        #expect(requests().filter { $0.hasPrefix("/gone-4096/") }.count == 1, "\(requests())")

        // A port nothing listens on: refused at once, three times.
        var settings = Configuration.CountyLink(username: "v", password: "p", region: "370703001001", countyKey: "")
        let closed = try Self.closedPort()
        settings.headEndURL = "http://127.0.0.1:\(closed)/"
        settings.fetchToken = "fetch-token-0123456789"
        let absent = CountyAudioFetch(settings: settings, limits: quickRetry, logger: Logger(label: "test"))
        do {
            try await absent.fetch(.url("http://127.0.0.1:\(closed)/v1/audio/\(digest)", sha256: digest, bytes: 4096), to: path)
            Issue.record("a fetch from a closed port was taken")
        } catch let failure as CountyAudioFetch.Failure {
            #expect(failure.reason.hasSuffix("(3 attempts)"), "\(failure)")
        }
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// A loopback port bound and closed again: nothing listens there.
    static func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw ChildError("cannot bind a loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test func aRedirectAWebPageAndA404AreRefusedByName() async throws {
        let (redirect, _) = try await refusal("redirect-4096", bytes: 4096)
        #expect(redirect == "answered 302 Found")
        let (page, _) = try await refusal("html", bytes: 4096)
        #expect(page == "answered Content-Type text/html, not audio")
        let (missing, _) = try await refusal("missing", bytes: 4096)
        #expect(missing == "answered 404 Not Found")
    }

    /// The token goes only to the head-end: a host that merely begins like it, another port, another path, or a digest that
    /// is not one (it names the cache file) are refused before any connection.
    @Test(arguments: [
        ("http://127.0.0.1.evil.example/good-10/v1/audio/", "is not on the head-end"),
        ("http://127.0.0.1:1/good-10/v1/audio/", "is not on the head-end"),
        ("http://127.0.0.1:PORT/good-10x/v1/audio/", "is not on the head-end"),
        ("ftp://127.0.0.1:PORT/good-10/v1/audio/", "is not an http(s) URL"),
    ])
    func aURLOffTheHeadEndIsRefused(prefix: String, reason: String) async throws {
        let digest = Self.goodDigest(10)
        let url = prefix.replacingOccurrences(of: "PORT", with: "\(port)") + digest
        let path = cache.appendingPathComponent(digest + ".ogg").path
        do {
            try await fetcher("good-10").fetch(.url(url, sha256: digest, bytes: 10), to: path)
            Issue.record("\(url) was fetched")
        } catch let failure as CountyAudioFetch.Failure {
            #expect(failure.reason.hasPrefix(reason), "\(failure)")
        }
        let traversal = CountyMessage.Audio(embedded: nil, url: self.url("good-10", "x"), sha256: "../../etc/passwd", bytes: 10)
        await #expect(throws: CountyAudioFetch.Failure.self) { try await self.fetcher("good-10").fetch(traversal, to: path) }
        #expect(!FileManager.default.fileExists(atPath: path))
    }
}

extension CountyAudioFetchTests {
    /// The token reaches the head-end with the request, and nothing reaches a URL off it, not even this same server named
    /// `localhost` rather than 127.0.0.1 (without the check, that fetch would carry the token here).
    @Test func theTokenGoesOnlyToTheHeadEnd() async throws {
        let digest = Self.goodDigest(1000)
        let path = cache.appendingPathComponent(digest + ".ogg").path
        try await fetcher("good-1000").fetch(.url(url("good-1000", digest), sha256: digest, bytes: 1000), to: path)
        #expect(requests() == ["/good-1000/v1/audio/\(digest) Bearer fetch-token-0123456789"])

        let other = Self.goodDigest(1001)
        let elsewhere = "http://localhost:\(port)/good-1001/v1/audio/\(other)"
        let refusal = await #expect(throws: CountyAudioFetch.Failure.self) {
            let path = self.cache.appendingPathComponent(other + ".ogg").path
            try await self.fetcher("good-1001").fetch(.url(elsewhere, sha256: other, bytes: 1001), to: path)
        }
        #expect(refusal?.reason == "is not on the head-end http://127.0.0.1:\(port)/good-1001", "\(String(describing: refusal))")
        #expect(requests().count == 1, "\(requests())")
    }

    /// With no `head-end-url` nothing says which URLs are the county's: a URL is refused before any connection, with a
    /// reason that becomes the item's failed row, and embedded audio is still taken.
    @Test func withoutAHeadEndURLNoURLIsFetched() async throws {
        var settings = Configuration.CountyLink(username: "v", password: "p", region: "370703001001", countyKey: "")
        settings.fetchToken = "fetch-token-0123456789"
        let fetch = CountyAudioFetch(settings: settings, limits: Self.patient, logger: Logger(label: "test"))
        let digest = Self.goodDigest(1000)
        let path = cache.appendingPathComponent(digest + ".ogg").path
        let refusal = await #expect(throws: CountyAudioFetch.Failure.self) {
            try await fetch.fetch(.url(self.url("good-1000", digest), sha256: digest, bytes: 1000), to: path)
        }
        #expect(refusal?.reason == "county.head-end-url is not set: cannot fetch audio from a URL")
        #expect(refusal.map { "\($0)" }?.hasPrefix("county audio http://127.0.0.1:\(port)/good-1000/") == true)
        #expect(requests().isEmpty, "\(requests())")
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.path).isEmpty)

        let body = Data("OggS".utf8) + Data(count: 1000 - 4)
        let embedded = CountyMessage.Audio(embedded: body.base64EncodedString(), url: nil, sha256: digest, bytes: 1000)
        try await fetch.fetch(embedded, to: path)
        #expect(FileManager.default.contents(atPath: path) == body)
    }
}

/// An https head-end: the stand-in with a certificate for localhost from a CA of the test's own, taken when the village's
/// `ca-file` (or `head-end-ca-file`, which wins) is that CA, refused by name when it is another CA or the system's store.
@Suite(.serialized) final class CountyAudioFetchTLSTests {
    let directory: URL
    let server: Child
    let port: Int
    let record: URL
    var headEndCA: String { directory.appendingPathComponent("head-end-ca.crt").path }
    var otherCA: String { directory.appendingPathComponent("other-ca.crt").path }

    init() async throws {
        directory = try Processes.temporaryDirectory("county-audio-tls")
        let d = directory.path
        try "subjectAltName=DNS:localhost\n".write(toFile: "\(d)/san.ext", atomically: true, encoding: .utf8)
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        let (headEndCA, otherCA) = ("\(d)/head-end-ca.crt", "\(d)/other-ca.crt")
        let steps: [[String]] = [
            ["req", "-x509"] + ec + ["-keyout", "\(d)/head-end-ca.key", "-subj", "/CN=Dalaba test county CA", "-days", "2", "-out", headEndCA],
            ["req", "-x509"] + ec + ["-keyout", "\(d)/other-ca.key", "-subj", "/CN=Dalaba test other CA", "-days", "2", "-out", otherCA],
            ["req", "-new"] + ec + ["-keyout", "\(d)/server.key", "-subj", "/CN=localhost", "-out", "\(d)/server.csr"],
            [
                "x509", "-req", "-in", "\(d)/server.csr", "-CA", headEndCA, "-CAkey", "\(d)/head-end-ca.key", "-CAcreateserial", "-days", "2",
                "-sha256", "-extfile", "\(d)/san.ext", "-out", "\(d)/server.crt",
            ],
        ]
        for step in steps {
            let result = try await Processes.run("openssl", step, timeout: 60)
            guard result.status == 0 else { throw CountyAudioFetch.Failure(source: "openssl", reason: "\(step) failed: \(result.stderr)") }
        }
        record = directory.appendingPathComponent("requests")
        let (server, port) = try await Processes.startListening(
            "python3",
            [
                Processes.packageRoot.appendingPathComponent("Tests/Hostile/county_audio_server.py").path, "--record", record.path,
                "--tls", "\(d)/server.crt", "\(d)/server.key",
            ])
        (self.server, self.port) = (server, port)
    }

    deinit {
        Processes.killTree(server)
        try? FileManager.default.removeItem(at: directory)
    }

    /// Fetches 1000 bytes from the https stand-in with these CA files: the refusal's reason, or nil when the audio was taken.
    func fetch(caFile: String?, headEndCAFile: String?, host: String = "localhost", sourceLocation: SourceLocation = #_sourceLocation)
        async throws -> String?
    {
        var settings = Configuration.CountyLink(username: "v", password: "p", region: "370703001001", countyKey: "")
        settings.headEndURL = "https://\(host):\(port)/good-1000"
        settings.fetchToken = "fetch-token-0123456789"
        settings.caFile = caFile
        settings.headEndCAFile = headEndCAFile
        let digest = CountyAudioFetchTests.goodDigest(1000)
        let cache = directory.appendingPathComponent("cache-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: cache) }
        let path = cache.appendingPathComponent(digest + ".ogg").path
        let url = "https://\(host):\(port)/good-1000/v1/audio/\(digest)"
        do {
            try await CountyAudioFetch(settings: settings, limits: CountyAudioFetchTests.patient, logger: Logger(label: "test"))
                .fetch(.url(url, sha256: digest, bytes: 1000), to: path)
        } catch let failure as CountyAudioFetch.Failure {
            #expect(failure.source == url, sourceLocation: sourceLocation)
            let left = try FileManager.default.contentsOfDirectory(atPath: cache.path)
            #expect(left.isEmpty, "nothing half-written stays in the cache: \(left)", sourceLocation: sourceLocation)
            return failure.reason
        }
        #expect(FileManager.default.contents(atPath: path) == Data("OggS".utf8) + Data(count: 1000 - 4), sourceLocation: sourceLocation)
        return nil
    }

    @Test func anHTTPSHeadEndIsCheckedAgainstTheVillagesOwnCA() async throws {
        let path = "/good-1000/v1/audio/\(CountyAudioFetchTests.goodDigest(1000))"
        #expect(try await fetch(caFile: headEndCA, headEndCAFile: nil) == nil, "the broker's CA checks the head-end too")
        #expect(requestsRecorded(at: record) == ["\(path) Bearer fetch-token-0123456789"], "the token went over TLS")
        #expect(
            try await fetch(caFile: nil, headEndCAFile: nil)
                == "its TLS certificate is not trusted by the system's CA store (set county.head-end-ca-file or county.ca-file to the head-end's CA)")
        #expect(try await fetch(caFile: otherCA, headEndCAFile: nil) == "its TLS certificate is not signed by the CA in county.ca-file (\(otherCA))")
        #expect(try await fetch(caFile: otherCA, headEndCAFile: headEndCA) == nil, "head-end-ca-file is the head-end's CA when the broker's differs")
        #expect(
            try await fetch(caFile: headEndCA, headEndCAFile: otherCA)
                == "its TLS certificate is not signed by the CA in county.head-end-ca-file (\(otherCA))")
        #expect(requestsRecorded(at: record).count == 2, "no request, so no token, went over a connection the village refused")
    }

    /// The right CA is not enough: the certificate must be for the head-end's host (this one names only localhost; one
    /// with an IP address would pass for any name of that address, as NIOSSL checks those against the socket's).
    @Test func aCertificateForAnotherHostIsRefused() async throws {
        let reason = try await fetch(caFile: headEndCA, headEndCAFile: nil, host: "127.0.0.1")
        #expect(reason == "its TLS certificate is not for 127.0.0.1", "\(String(describing: reason))")
        #expect(requestsRecorded(at: record).isEmpty)
    }

    /// A CA file that is not (or no longer) PEM when the fetch comes is a refusal naming the key, not a fallback to the
    /// system's store.
    @Test func aCAFileThatIsNotPEMIsRefusedByName() async throws {
        let broken = directory.appendingPathComponent("broken.crt").path
        try "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".write(toFile: broken, atomically: true, encoding: .utf8)
        let reason = try await fetch(caFile: broken, headEndCAFile: nil)
        #expect(reason?.hasPrefix("cannot load the CA certificates in county.ca-file (\(broken)): ") == true, "\(String(describing: reason))")
        #expect(requestsRecorded(at: record).isEmpty)
    }
}

/// The lines of a stand-in's `--record` file (none when it was never asked anything).
private func requestsRecorded(at record: URL) -> [String] {
    ((try? String(contentsOf: record, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
}

/// This process's resident memory, from /proc/self/status.
private func residentBytes() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
}
