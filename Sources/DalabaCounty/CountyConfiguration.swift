import DalabaConfig
import DalabaCore
import DalabaLink
import Foundation

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
    /// `[county] republish-delay`: seconds an online targeted village may stay without any receipt of an announcement before
    /// it is published to that village again (then twice as long, up to an hour); 0 never publishes again.
    public var republishDelay: Double = 30
    public var villages: [Village] = []
    public var tokens: [Token] = []
    public var voice = "cmn"
    public var maxSpeechCharacters = 2_000
    public var maxUploadBytes = 64 << 20
    public var logLevel = "info"

    public init(county: RegionCode) { self.county = county }

    /// Why the configuration cannot be used, naming the file and key.
    public typealias Invalid = ConfigurationFile.Invalid

    public static func load(path: String) throws(Invalid) -> CountyConfiguration {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw Invalid(description: "\(path): cannot read the configuration file")
        }
        return try parse(text, file: path)
    }

    /// Decodes the file into its sections (TOMLKit, unknown keys refused, as in the village's configuration), then checks
    /// each value and applies it over the defaults.
    public static func parse(_ text: String, file: String = "county.toml") throws(Invalid) -> CountyConfiguration {
        let source = try ConfigurationFile(parsing: text, file: file)
        let sections = try source.decode(Sections.self)
        func region(_ text: String, _ key: String) throws(Invalid) -> RegionCode {
            do { return try RegionCode(text) } catch { throw source.invalid(key, error.description) }
        }
        guard let countySection = sections.county else { throw source.invalid("county", "is missing ([county] with code = \"370703\")") }
        guard let code = countySection.code else { throw source.invalid("county.code", "is missing") }
        let county = try region(code, "county.code")
        guard county.level == .county else { throw source.invalid("county.code", "must be a 6-digit county code, not \(code)") }
        var config = CountyConfiguration(county: county)
        if let v = countySection.name { config.countyName = v }
        if let v = countySection.stateDirectory { config.stateDirectory = v }
        if let v = countySection.timeZone {
            guard let zone = TimeZone(identifier: v) else { throw source.invalid("county.time-zone", "unknown time zone \(v)") }
            config.timeZone = zone
        }
        if let v = try source.within(countySection.messageLifetime, 60...(30 * 86_400), "county.message-lifetime") {
            config.messageLifetime = Double(v)
        }
        if let v = try source.within(countySection.republishDelay, 0...3_600, "county.republish-delay") { config.republishDelay = Double(v) }
        if let http = sections.http {
            if let v = http.listen {
                guard let colon = v.lastIndex(of: ":"), let port = Int(v[v.index(after: colon)...]), (0...65_535).contains(port), colon > v.startIndex
                else { throw source.invalid("http.listen", "must be HOST:PORT, not \(v)") }
                config.listenHost = String(v[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
                config.listenPort = port
            }
            if let v = http.publicURL {
                guard let url = URL(string: v), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                    throw source.invalid("http.public-url", "must be an http:// or https:// URL, not \(v)")
                }
                config.publicURL = v.hasSuffix("/") ? String(v.dropLast()) : v
            }
            if let v = try source.within(http.maxUploadBytes, 1_024...(4 << 30), "http.max-upload-bytes") { config.maxUploadBytes = v }
        }
        if let broker = sections.broker {
            if let v = broker.host { config.broker.host = v }
            if let v = try source.within(broker.port, 1...65_535, "broker.port") { config.broker.port = v }
            config.broker.caFile = broker.ca
            config.broker.username = broker.username
            config.broker.password = broker.password
            if let v = broker.clientID {
                guard (1...64).contains(v.utf8.count) else { throw source.invalid("broker.client-id", "must be 1 to 64 bytes") }
                config.broker.clientID = v
            }
            if config.broker.password != nil, config.broker.username == nil { throw source.invalid("broker.password", "needs broker.username") }
        }
        if let pg = sections.postgres {
            if let v = pg.host { config.database.host = v }
            if let v = try source.within(pg.port, 1...65_535, "postgres.port") { config.database.port = v }
            if let v = pg.database { config.database.database = v }
            if let v = pg.user { config.database.user = v }
            config.database.password = pg.password
        }
        if let v = sections.signing?.key { config.signingKey = v }
        if let audio = sections.audio {
            if let v = try source.within(audio.embedMaxBytes, 0...(16 << 20), "audio.embed-max-bytes") { config.embedMaxBytes = v }
            if let v = audio.voice { config.voice = v }
            if let v = try source.within(audio.maxSpeechCharacters, 1...100_000, "audio.max-speech-characters") { config.maxSpeechCharacters = v }
        }
        for (index, entry) in (sections.townships ?? []).enumerated() {
            let key = "townships[\(index)]"
            let code = try region(entry.code, "\(key).code")
            guard code.level == .township, county.covers(code) else {
                throw source.invalid("\(key).code", "must be a 9-digit township code in county \(county), not \(entry.code)")
            }
            config.townshipNames[code] = entry.name ?? entry.code
        }
        for (index, entry) in (sections.villages ?? []).enumerated() {
            let key = "villages[\(index)]"
            let code = try region(entry.code, "\(key).code")
            guard code.level == .village, county.covers(code) else {
                throw source.invalid("\(key).code", "must be a 12-digit village code in county \(county), not \(entry.code)")
            }
            guard !config.villages.contains(where: { $0.code == code }) else { throw source.invalid("\(key).code", "\(entry.code) is listed twice") }
            guard entry.fetchToken.count >= 16 else { throw source.invalid("\(key).fetch-token", "must be at least 16 characters") }
            config.villages.append(Village(code: code, name: entry.name ?? entry.code, fetchToken: entry.fetchToken))
        }
        for (index, entry) in (sections.tokens ?? []).enumerated() {
            let key = "tokens[\(index)]"
            guard entry.token.count >= 16 else { throw source.invalid("\(key).token", "must be at least 16 characters") }
            guard let role = entry.role.flatMap(Role.init(rawValue:)) else {
                throw source.invalid("\(key).role", "must be operator, official or admin")
            }
            var scope = county
            if let v = entry.scope {
                scope = try region(v, "\(key).scope")
                guard county.covers(scope) else { throw source.invalid("\(key).scope", "\(v) is not in county \(county)") }
            }
            guard !config.tokens.contains(where: { $0.token == entry.token }), !config.villages.contains(where: { $0.fetchToken == entry.token })
            else {
                throw source.invalid("\(key).token", "is the same as another token's")
            }
            config.tokens.append(Token(name: entry.name, token: entry.token, role: role, scope: scope))
        }
        if let v = sections.logLevel {
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(v) else {
                throw source.invalid("log-level", "must be trace, debug, info, notice, warning, error or critical")
            }
            config.logLevel = v
        }
        return config
    }

    /// The file as TOMLKit decodes it; the coding keys are the only keys a file may hold.
    struct Sections: Decodable {
        struct County: Decodable {
            var code: String?
            var name: String?
            var stateDirectory: String?
            var timeZone: String?
            var messageLifetime: Int?
            var republishDelay: Int?
            enum CodingKeys: String, CodingKey {
                case code, name
                case stateDirectory = "state-directory", timeZone = "time-zone", messageLifetime = "message-lifetime"
                case republishDelay = "republish-delay"
            }
        }
        struct HTTP: Decodable {
            var listen: String?
            var publicURL: String?
            var maxUploadBytes: Int?
            enum CodingKeys: String, CodingKey {
                case listen
                case publicURL = "public-url", maxUploadBytes = "max-upload-bytes"
            }
        }
        struct Broker: Decodable {
            var host: String?
            var port: Int?
            var ca: String?
            var username: String?
            var password: String?
            var clientID: String?
            enum CodingKeys: String, CodingKey {
                case host, port, ca, username, password
                case clientID = "client-id"
            }
        }
        struct Postgres: Decodable {
            var host: String?
            var port: Int?
            var database: String?
            var user: String?
            var password: String?
        }
        struct Signing: Decodable {
            var key: String?
        }
        struct Audio: Decodable {
            var embedMaxBytes: Int?
            var voice: String?
            var maxSpeechCharacters: Int?
            enum CodingKeys: String, CodingKey {
                case voice
                case embedMaxBytes = "embed-max-bytes", maxSpeechCharacters = "max-speech-characters"
            }
        }
        struct Township: Decodable {
            var code: String
            var name: String?
        }
        struct VillageEntry: Decodable {
            var code: String
            var name: String?
            var fetchToken: String
            enum CodingKeys: String, CodingKey {
                case code, name
                case fetchToken = "fetch-token"
            }
        }
        struct TokenEntry: Decodable {
            var name: String
            var token: String
            var role: String?
            var scope: String?
        }

        var county: County?
        var http: HTTP?
        var broker: Broker?
        var postgres: Postgres?
        var signing: Signing?
        var audio: Audio?
        var townships: [Township]?
        var villages: [VillageEntry]?
        var tokens: [TokenEntry]?
        var logLevel: String?
        enum CodingKeys: String, CodingKey {
            case county, http, broker, postgres, signing, audio, townships, villages, tokens
            case logLevel = "log-level"
        }
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
}
