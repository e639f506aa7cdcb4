import DalabaCore
import DalabaLink
import Foundation
import TOMLKit

/// Everything `dalaba-county` reads from its one TOML file. A key that is unknown or of the wrong type is an error naming the
/// file and the key, as in the village's configuration; every key but the villages and tokens has a default.
public struct CountyConfiguration: Sendable {
    public enum Role: String, Sendable, Codable, CaseIterable {
        /// Queues, cancels and stops announcements within its region.
        case operatorRole = "operator"
        /// Reads reports, coverage and the villages table.
        case official
        case admin
    }

    /// A bearer token. Its tier and the region it may target come from here, never from a request: a township operator's
    /// token (a 9-digit scope) reaches only its own township and queues at township tier.
    public struct Token: Sendable, Equatable {
        public var name: String
        public var token: String
        public var role: Role
        public var scope: RegionCode
        public init(name: String, token: String, role: Role, scope: RegionCode) {
            self.name = name
            self.token = token
            self.role = role
            self.scope = scope
        }

        /// The tier of what this token queues: the level of its scope.
        public var tier: Tier {
            switch scope.level {
            case .county: .county
            case .township: .township
            case .village: .village
            }
        }
    }

    /// A village of the county: its code, its name in reports, and the token it fetches large audio with.
    public struct Village: Sendable, Equatable {
        public var code: RegionCode
        public var name: String
        public var fetchToken: String
        public init(code: RegionCode, name: String, fetchToken: String) {
            self.code = code
            self.name = name
            self.fetchToken = fetchToken
        }
    }

    public struct Broker: Sendable, Equatable {
        public var host = "127.0.0.1"
        public var port = 1883
        /// PEM CA file: with it the link runs over TLS and checks the broker's certificate.
        public var caFile: String?
        public var username: String?
        public var password: String?
        /// Fixed, so the broker keeps the head-end's session (clean session off) and what villages sent while it was away.
        public var clientID = "dalaba-county"
        public init() {}
    }

    public struct Database: Sendable, Equatable {
        public var host = "127.0.0.1"
        public var port = 5432
        public var database = "dalaba"
        public var user = "dalaba"
        public var password: String?
        public init() {}
    }

    public var county: RegionCode
    public var countyName = ""
    public var townshipNames: [RegionCode: String] = [:]
    public var stateDirectory = ".dalaba-county"
    public var timeZone = TimeZone(identifier: "Asia/Shanghai")!
    public var listenHost = "127.0.0.1"
    public var listenPort = 8790
    /// The URL villages fetch large audio from (`<public-url>/v1/audio/<sha256>`); by default the listen address.
    public var publicURL: String?
    public var broker = Broker()
    public var database = Database()
    /// The Ed25519 private key, relative to the state directory unless absolute; made (mode 0600) on first start.
    public var signingKey = "county.key"
    /// Audio up to this many bytes travels inside the message; larger audio is fetched by digest.
    public var embedMaxBytes = 1 << 20
    /// Seconds a head-end message stays valid when the announcement gives no expiry of its own.
    public var messageLifetime: Double = 86_400
    public var villages: [Village] = []
    public var tokens: [Token] = []
    public var voice = "cmn"
    public var maxSpeechCharacters = 2_000
    public var maxUploadBytes = 64 << 20
    public var logLevel = "info"

    public init(county: RegionCode) { self.county = county }

    /// Why the configuration cannot be used, naming the file and key.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public var description: String
        public init(description: String) { self.description = description }
    }

    public static func load(path: String) throws(Invalid) -> CountyConfiguration {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw Invalid(description: "\(path): cannot read the configuration file")
        }
        do {
            return try parse(text, file: path)
        } catch let error as Invalid {
            throw error
        } catch {
            throw Invalid(description: "\(path): \(error)")
        }
    }

    public static func parse(_ text: String, file: String = "county.toml") throws -> CountyConfiguration {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw Invalid(description: "\(file):\(error.source.begin.line): \(error.description)")
        }
        let r = Reader(file: file)
        try r.allow(table, ["county", "http", "broker", "postgres", "signing", "audio", "townships", "villages", "tokens", "log-level"], in: "")
        guard let countyTable = try r.table(table, "county") else { throw r.invalid("county", "is missing ([county] with code = \"370703\")") }
        try r.allow(countyTable, ["code", "name", "state-directory", "time-zone", "message-lifetime"], in: "county")
        guard let code = try r.string(countyTable, "code", in: "county") else { throw r.invalid("county.code", "is missing") }
        let county = try r.region(code, key: "county.code")
        guard county.level == .county else { throw r.invalid("county.code", "must be a 6-digit county code, not \(code)") }
        var config = CountyConfiguration(county: county)
        if let v = try r.string(countyTable, "name", in: "county") { config.countyName = v }
        if let v = try r.string(countyTable, "state-directory", in: "county") { config.stateDirectory = v }
        if let v = try r.string(countyTable, "time-zone", in: "county") {
            guard let zone = TimeZone(identifier: v) else { throw r.invalid("county.time-zone", "unknown time zone \(v)") }
            config.timeZone = zone
        }
        if let v = try r.int(countyTable, "message-lifetime", in: "county", range: 60...(30 * 86_400)) { config.messageLifetime = Double(v) }
        if let http = try r.table(table, "http") {
            try r.allow(http, ["listen", "public-url", "max-upload-bytes"], in: "http")
            if let v = try r.string(http, "listen", in: "http") {
                guard let colon = v.lastIndex(of: ":"), let port = Int(v[v.index(after: colon)...]), (0...65_535).contains(port), colon > v.startIndex
                else { throw r.invalid("http.listen", "must be HOST:PORT, not \(v)") }
                config.listenHost = String(v[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
                config.listenPort = port
            }
            if let v = try r.string(http, "public-url", in: "http") {
                guard let url = URL(string: v), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                    throw r.invalid("http.public-url", "must be an http:// or https:// URL, not \(v)")
                }
                config.publicURL = v.hasSuffix("/") ? String(v.dropLast()) : v
            }
            if let v = try r.int(http, "max-upload-bytes", in: "http", range: 1_024...(4 << 30)) { config.maxUploadBytes = v }
        }
        if let broker = try r.table(table, "broker") {
            try r.allow(broker, ["host", "port", "ca", "username", "password", "client-id"], in: "broker")
            if let v = try r.string(broker, "host", in: "broker") { config.broker.host = v }
            if let v = try r.int(broker, "port", in: "broker", range: 1...65_535) { config.broker.port = v }
            if let v = try r.string(broker, "ca", in: "broker") { config.broker.caFile = v }
            if let v = try r.string(broker, "username", in: "broker") { config.broker.username = v }
            if let v = try r.string(broker, "password", in: "broker") { config.broker.password = v }
            if let v = try r.string(broker, "client-id", in: "broker") {
                guard (1...64).contains(v.utf8.count) else { throw r.invalid("broker.client-id", "must be 1 to 64 bytes") }
                config.broker.clientID = v
            }
            if config.broker.password != nil, config.broker.username == nil {
                throw r.invalid("broker.password", "needs broker.username")
            }
        }
        if let pg = try r.table(table, "postgres") {
            try r.allow(pg, ["host", "port", "database", "user", "password"], in: "postgres")
            if let v = try r.string(pg, "host", in: "postgres") { config.database.host = v }
            if let v = try r.int(pg, "port", in: "postgres", range: 1...65_535) { config.database.port = v }
            if let v = try r.string(pg, "database", in: "postgres") { config.database.database = v }
            if let v = try r.string(pg, "user", in: "postgres") { config.database.user = v }
            if let v = try r.string(pg, "password", in: "postgres") { config.database.password = v }
        }
        if let signing = try r.table(table, "signing") {
            try r.allow(signing, ["key"], in: "signing")
            if let v = try r.string(signing, "key", in: "signing") { config.signingKey = v }
        }
        if let audio = try r.table(table, "audio") {
            try r.allow(audio, ["embed-max-bytes", "voice", "max-speech-characters"], in: "audio")
            if let v = try r.int(audio, "embed-max-bytes", in: "audio", range: 0...(16 << 20)) { config.embedMaxBytes = v }
            if let v = try r.string(audio, "voice", in: "audio") { config.voice = v }
            if let v = try r.int(audio, "max-speech-characters", in: "audio", range: 1...100_000) { config.maxSpeechCharacters = v }
        }
        for (index, entry) in try r.tables(table, "townships").enumerated() {
            let key = "townships[\(index)]"
            try r.allow(entry, ["code", "name"], in: key)
            guard let codeText = try r.string(entry, "code", in: key) else { throw r.invalid("\(key).code", "is missing") }
            let code = try r.region(codeText, key: "\(key).code")
            guard code.level == .township, county.covers(code) else {
                throw r.invalid("\(key).code", "must be a 9-digit township code in county \(county), not \(codeText)")
            }
            config.townshipNames[code] = try r.string(entry, "name", in: key) ?? codeText
        }
        for (index, entry) in try r.tables(table, "villages").enumerated() {
            let key = "villages[\(index)]"
            try r.allow(entry, ["code", "name", "fetch-token"], in: key)
            guard let codeText = try r.string(entry, "code", in: key) else { throw r.invalid("\(key).code", "is missing") }
            let code = try r.region(codeText, key: "\(key).code")
            guard code.level == .village, county.covers(code) else {
                throw r.invalid("\(key).code", "must be a 12-digit village code in county \(county), not \(codeText)")
            }
            guard !config.villages.contains(where: { $0.code == code }) else { throw r.invalid("\(key).code", "\(codeText) is listed twice") }
            guard let fetch = try r.string(entry, "fetch-token", in: key) else { throw r.invalid("\(key).fetch-token", "is missing") }
            guard fetch.count >= 16 else { throw r.invalid("\(key).fetch-token", "must be at least 16 characters") }
            config.villages.append(Village(code: code, name: try r.string(entry, "name", in: key) ?? codeText, fetchToken: fetch))
        }
        for (index, entry) in try r.tables(table, "tokens").enumerated() {
            let key = "tokens[\(index)]"
            try r.allow(entry, ["name", "token", "role", "scope"], in: key)
            guard let name = try r.string(entry, "name", in: key) else { throw r.invalid("\(key).name", "is missing") }
            guard let token = try r.string(entry, "token", in: key) else { throw r.invalid("\(key).token", "is missing") }
            guard token.count >= 16 else { throw r.invalid("\(key).token", "must be at least 16 characters") }
            guard let roleName = try r.string(entry, "role", in: key), let role = Role(rawValue: roleName) else {
                throw r.invalid("\(key).role", "must be operator, official or admin")
            }
            var scope = county
            if let v = try r.string(entry, "scope", in: key) {
                scope = try r.region(v, key: "\(key).scope")
                guard county.covers(scope) else { throw r.invalid("\(key).scope", "\(v) is not in county \(county)") }
            }
            guard !config.tokens.contains(where: { $0.token == token }), !config.villages.contains(where: { $0.fetchToken == token }) else {
                throw r.invalid("\(key).token", "is the same as another token's")
            }
            config.tokens.append(Token(name: name, token: token, role: role, scope: scope))
        }
        if let v = try r.string(table, "log-level", in: "") {
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(v) else {
                throw r.invalid("log-level", "must be trace, debug, info, notice, warning, error or critical")
            }
            config.logLevel = v
        }
        return config
    }

    /// A path from the configuration, relative to the working directory unless absolute.
    public func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    public var stateURL: URL { URL(fileURLWithPath: resolve(stateDirectory)) }

    /// The signing key's path: relative names live in the state directory.
    public var signingKeyPath: String { signingKey.hasPrefix("/") ? signingKey : stateURL.appendingPathComponent(signingKey).path }

    /// Villages a message targeted at `targets` reaches, in code order.
    public func villages(reachedBy targets: [RegionCode]) -> [Village] {
        villages.filter { village in targets.contains { $0.covers(village.code) } }.sorted { $0.code < $1.code }
    }

    /// The township's name from `[[townships]]`, else its code.
    public func townshipName(_ code: RegionCode) -> String { townshipNames[code] ?? code.digits }

    /// Reads typed keys and names the dotted key with the problem.
    struct Reader {
        let file: String

        func invalid(_ key: String, _ reason: String) -> Invalid { Invalid(description: "\(file): \(key): \(reason)") }

        func allow(_ table: TOMLTable, _ keys: [String], in section: String) throws {
            for key in table.keys where !keys.contains(key) {
                throw invalid(section.isEmpty ? key : "\(section).\(key)", "unknown key (known: \(keys.joined(separator: ", ")))")
            }
        }

        func table(_ table: TOMLTable, _ key: String) throws -> TOMLTable? {
            guard let value = table[key] else { return nil }
            guard let t = value.table else { throw invalid(key, "must be a table ([\(key)])") }
            return t
        }

        func tables(_ table: TOMLTable, _ key: String) throws -> [TOMLTable] {
            guard let value = table[key] else { return [] }
            guard let array = value.array else { throw invalid(key, "must be an array of tables ([[\(key)]])") }
            return try array.enumerated().map { index, element in
                guard let t = element.table else { throw invalid("\(key)[\(index)]", "must be a table") }
                return t
            }
        }

        func string(_ table: TOMLTable, _ key: String, in section: String) throws -> String? {
            guard let value = table[key] else { return nil }
            guard let s = value.string else { throw invalid(section.isEmpty ? key : "\(section).\(key)", "must be a string") }
            return s
        }

        func int(_ table: TOMLTable, _ key: String, in section: String, range: ClosedRange<Int>) throws -> Int? {
            guard let value = table[key] else { return nil }
            let name = section.isEmpty ? key : "\(section).\(key)"
            guard let i = value.int else { throw invalid(name, "must be an integer") }
            guard range.contains(i) else { throw invalid(name, "\(i) is outside \(range.lowerBound)–\(range.upperBound)") }
            return i
        }

        func region(_ text: String, key: String) throws -> RegionCode {
            do {
                return try RegionCode(text)
            } catch {
                throw invalid(key, error.description)
            }
        }
    }
}
