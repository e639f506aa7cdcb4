import DalabaLink
import DalabaTestSupport
import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A whole demo county of real processes: a Mosquitto broker (TLS, ACL per village), a PostgreSQL cluster, `dalaba-county`,
/// and `dalabad` villages on the `null` device, each with its `[county]` section.
final class CountyHarness: @unchecked Sendable {
    static let townshipOne = ["370703001001", "370703001002", "370703001003"]
    static let townshipTwo = ["370703002001", "370703002002"]
    static let allVillages = townshipOne + townshipTwo

    let directory: URL
    let broker: Broker
    let postgres: PostgresCluster
    var villages: [String: DaemonHarness] = [:]
    let tokens = [
        "county": "county-operator-token-0001", "township2": "township2-operator-token-01", "official": "county-official-token-0001",
        "township1-official": "township1-official-token-01",
    ]
    private(set) var port = 0
    private var process: Child?
    var publicKey = ""

    var stateDirectory: URL { directory.appendingPathComponent("state") }
    var logPath: String { directory.appendingPathComponent("dalaba-county.log").path }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    var server: String { "http://127.0.0.1:\(port)" }
    static var executable: String { Processes.binDirectory.appendingPathComponent("dalaba-county").path }

    /// More of the head-end's TOML (e.g. `[audio] embed-max-bytes`), appended to the harness's own.
    let headEndExtra: String

    init(name: String = "county-e2e", headEnd extra: String = "") async throws {
        headEndExtra = extra
        directory = try Processes.temporaryDirectory(name)
        // The cluster's initdb runs while the broker's certificates and passwords are made.
        async let cluster = PostgresCluster(name: "\(name)-pg")
        broker = try Broker(villages: Self.allVillages, name: "\(name)-broker")
        try await broker.start()
        postgres = try await cluster
        try configuration.write(toFile: configPath, atomically: true, encoding: .utf8)
        let key = try await Processes.run(Self.executable, ["--config", configPath, "--print-public-key"], timeout: 30)
        guard key.status == 0 else { throw BrokerFixtureError("dalaba-county --print-public-key: \(key.stderr)") }
        publicKey = key.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    var configPath: String { directory.appendingPathComponent("county.toml").path }

    func fetchToken(_ village: String) -> String { "fetch-\(village)-token" }

    var configuration: String {
        var text = """
            log-level = "debug"

            [county]
            code = "370703"
            name = "测试县"
            state-directory = "\(stateDirectory.path)"

            [http]
            listen = "127.0.0.1:0"

            [broker]
            host = "127.0.0.1"
            port = \(broker.port)
            ca = "\(broker.caFile)"
            username = "\(broker.headEnd.username)"
            password = "\(broker.headEnd.password)"

            [postgres]
            port = \(postgres.port)
            user = "postgres"
            database = "dalaba"

            [[townships]]
            code = "370703001"
            name = "一乡"
            [[townships]]
            code = "370703002"
            name = "二镇"

            [[tokens]]
            name = "county-duty"
            token = "\(tokens["county"]!)"
            role = "operator"
            [[tokens]]
            name = "township-2-duty"
            token = "\(tokens["township2"]!)"
            role = "operator"
            scope = "370703002"
            [[tokens]]
            name = "county-official"
            token = "\(tokens["official"]!)"
            role = "official"
            [[tokens]]
            name = "township-1-official"
            token = "\(tokens["township1-official"]!)"
            role = "official"
            scope = "370703001"

            """
        text += headEndExtra + "\n"
        for code in Self.allVillages {
            text += """
                [[villages]]
                code = "\(code)"
                name = "村\(code.suffix(4))"
                fetch-token = "\(fetchToken(code))"

                """
        }
        return text
    }

    /// Starts the head-end and waits until its API answers. With `publicURL`, the head-end names that as where villages fetch
    /// audio (a stand-in server of the test's, in effect a man in the middle of plain HTTP).
    func startHeadEnd(publicURL: String? = nil, timeout: Double = 60) async throws {
        if let publicURL {
            let listen = "[http]\nlisten = \"127.0.0.1:0\"\n"
            guard configuration.contains(listen) else { throw BrokerFixtureError("the head-end's configuration has no \(listen.debugDescription)") }
            try configuration.replacingOccurrences(of: listen, with: listen + "public-url = \"\(publicURL)\"\n")
                .write(toFile: configPath, atomically: true, encoding: .utf8)
        }
        let listenFile = stateDirectory.appendingPathComponent("listen").path
        try? FileManager.default.removeItem(atPath: listenFile)
        if !FileManager.default.fileExists(atPath: logPath) { FileManager.default.createFile(atPath: logPath, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        handle.seekToEndOfFile()
        let process = Child()
        process.executableURL = URL(fileURLWithPath: Self.executable)
        process.arguments = ["--config", configPath]
        process.standardOutput = handle
        process.standardError = handle
        try Processes.start(process)
        self.process = process
        port = 0
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline, process.isRunning {
            if port == 0, let text = try? String(contentsOfFile: listenFile, encoding: .utf8), let colon = text.lastIndex(of: ":"),
                let bound = Int(text[text.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines))
            {
                port = bound
            }
            if port != 0, let (status, _) = try? await request("GET", "/v1/health"), status == 200 { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw BrokerFixtureError("dalaba-county did not start: \(log.suffix(3000))")
    }

    /// The head-end's pid while it runs.
    var headEndPID: Int32? { process?.isRunning == true ? process?.processIdentifier : nil }

    /// kill -9 of the head-end.
    func killHeadEnd() {
        guard let process, process.isRunning else { return }
        Processes.killTree(process)
        _ = Processes.wait(for: process, timeout: 10)
    }

    func stopHeadEnd() {
        guard let process else { return }
        Processes.terminate(process, grace: 15)
    }

    /// `killHeadEnd` for async tests: the wait for the exit holds no pool thread.
    func killHeadEnd() async {
        guard let process, process.isRunning else { return }
        Processes.killTree(process)
        _ = await Processes.wait(for: process, timeout: 10)
    }

    /// `stopHeadEnd` for async tests.
    func stopHeadEnd() async {
        guard let process else { return }
        await Processes.terminate(process, grace: 15)
    }

    /// Starts a village with its `[county]` section, on `null` unless given a device (and its environment), fetching audio
    /// from `headEndURL` (the head-end itself unless a test names a stand-in).
    func startVillage(_ code: String, device: String? = nil, environment: [String: String] = [:], headEndURL: String? = nil) async throws {
        let harness = try villages[code] ?? DaemonHarness(name: "village-\(code.suffix(6))")
        if let device { harness.device = device }
        harness.environment.merge(environment) { $1 }
        let credential = broker.credential(for: code)
        harness.extraConfiguration = """
            [county]
            broker-host = "127.0.0.1"
            broker-port = \(broker.port)
            ca-file = "\(broker.caFile)"
            username = "\(credential.username)"
            password = "\(credential.password)"
            region = "\(code)"
            county-key = "\(publicKey)"
            head-end-url = "\(headEndURL ?? server)"
            fetch-token = "\(fetchToken(code))"
            """
        villages[code] = harness
        try await harness.start()
    }

    /// Waits until the head-end lists `code` online.
    func waitForOnline(_ code: String, within seconds: Double = 60) async throws {
        try await waitFor("village \(code) online", within: seconds) {
            let villages = try await getJSON("/v1/villages")["villages"] as? [[String: Any]] ?? []
            return villages.contains { $0["code"] as? String == code && $0["online"] as? Bool == true }
        }
    }

    func request(_ method: String, _ path: String, token: String? = nil, json: Any? = nil, timeout: Double = 30) async throws -> (Int, Data) {
        var request = URLRequest(url: URL(string: server + path)!)
        request.httpMethod = method
        request.timeoutInterval = timeout
        if let json {
            request.httpBody = try JSONSerialization.data(withJSONObject: json)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        if let token { request.setValue("Bearer \(tokens[token] ?? token)", forHTTPHeaderField: "Authorization") }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    func getJSON(_ path: String, token: String = "official") async throws -> [String: Any] {
        let (status, data) = try await request("GET", path, token: token)
        guard status == 200 else { throw BrokerFixtureError("GET \(path): \(status) \(String(decoding: data, as: UTF8.self))") }
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }

    /// Polls until `condition` holds; the failure shows the last value seen and the head-end's log tail.
    func waitFor(_ what: String, within seconds: Double = 60, _ condition: () async throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        func tail(_ text: String) -> String {
            text.split(separator: "\n").filter { !$0.contains(" debug ") }.suffix(25).joined(separator: "\n")
        }
        throw BrokerFixtureError("\(what) did not happen within \(seconds) s; head-end log:\n\(tail(log))\nbroker log:\n\(tail(broker.log))")
    }

    /// Each village's status in a coverage answer.
    func coverageStatuses(_ id: String) async throws -> [String: String] {
        let coverage = try await getJSON("/v1/coverage/\(id)")
        let villages = coverage["villages"] as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: villages.map { ($0["code"] as? String ?? "", $0["status"] as? String ?? "") })
    }

    /// A village's own airtime log: (seq, announcement id, frames) of every row.
    func villageLog(_ code: String) async throws -> [(seq: Int64, id: String, frames: Int64)] {
        let (_, data) = try await villages[code]!.request("GET", "/v1/log?limit=1000&order=oldest", role: "official")
        let page = (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
        return (page["entries"] as? [[String: Any]] ?? []).map {
            (($0["seq"] as? NSNumber)?.int64Value ?? 0, $0["id"] as? String ?? "", ($0["frames"] as? NSNumber)?.int64Value ?? 0)
        }
    }

    /// A village's status: the ids, titles and expiry of what waits in its queue.
    func villageQueue(_ code: String) async throws -> [(id: String, title: String, expires: String?)] {
        let status = try await villages[code]!.status()
        return (status["queue"] as? [[String: Any]] ?? []).map { ($0["id"] as? String ?? "", $0["title"] as? String ?? "", $0["expires"] as? String) }
    }

    /// A village's own airtime log with outcomes: (id, outcome, frames) of every row, oldest first.
    func villageOutcomes(_ code: String) async throws -> [(id: String, outcome: String, frames: Int64)] {
        let (_, data) = try await villages[code]!.request("GET", "/v1/log?limit=1000&order=oldest", role: "official")
        let page = (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
        return (page["entries"] as? [[String: Any]] ?? []).map {
            ($0["id"] as? String ?? "", $0["outcome"] as? String ?? "", ($0["frames"] as? NSNumber)?.int64Value ?? 0)
        }
    }

    func destroy() async {
        for village in villages.values { await village.kill() }
        await killHeadEnd()
        await postgres.destroy()
        await broker.remove()
        try? FileManager.default.removeItem(at: directory)
    }
}
