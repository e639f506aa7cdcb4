import DalabaAudio
import DalabaCore
import Foundation
import TOMLKit

/// Everything `dalabad` reads from its one TOML file. Every key has a default that works on a fresh machine
/// (paths relative to the working directory, the daemon on 127.0.0.1), and a key that is unknown or of the wrong
/// type is an error that names it.
public struct Configuration: Sendable {
    public enum Role: String, Sendable, Codable, CaseIterable {
        /// Queues and cancels announcements.
        case operatorRole = "operator"
        /// Reads logs and reports.
        case official
        case admin
    }

    /// A bearer token. Its `name` is the source of what it queues, and `tier` the highest tier it may queue at (a request
    /// may ask for a lower one, never a higher one): both come from here, never from a request body.
    public struct Token: Sendable, Equatable {
        public var name: String
        public var token: String
        public var role: Role
        public var tier: Tier
        public init(name: String, token: String, role: Role, tier: Tier = .village) {
            self.name = name
            self.token = token
            self.role = role
            self.tier = tier
        }
    }

    public var output = OutputFormat(device: "default")
    public var stateDirectory = ".dalaba"
    public var audioDirectory = "Audio"
    public var schedulesDirectory = "Schedules"
    public var timeZone = TimeZone(identifier: "Asia/Shanghai")!
    /// The chime before notices and the attention signal before emergencies, relative to the audio directory.
    public var chime = "chime.wav"
    public var attention = "attention.wav"
    public var listenHost = "127.0.0.1"
    public var listenPort = 8780
    public var tokens: [Token] = []
    public var maxUploadBytes = 64 << 20
    /// Requests beyond this many queued items are refused (507); emergencies have `queueEmergencyHeadroom` more.
    public var maxQueue = 1_000
    public var queueEmergencyHeadroom = 100
    /// Uploads are refused (507) when the upload directory's file system would keep less than this free.
    public var uploadMinimumFreeBytes = 64 << 20
    /// Seconds a connection may sit without sending a complete request head (or between requests) before it is closed,
    /// so slow-loris connections cannot pile up.
    public var httpIdleTimeout = 10
    /// `http.secure-cookies`: mark the console's cookies `Secure`, for a station served over HTTPS by a proxy in front of it.
    /// Only from here: a client's `X-Forwarded-Proto` is never believed.
    public var secureCookies = false
    /// Connections served at once; more wait in the listen backlog until one closes.
    public var httpMaxConnections = 256
    public var quietHours: QuietHours?
    public var policies = Arbiter.Configuration.defaultPolicies
    /// Seconds a schedule slot missed during downtime may still play late.
    public var scheduleGrace: Double = 600
    /// Seconds of the first device retry; doubles up to `deviceRetryMaximum`. Every second by default: an unplugged USB
    /// card comes back under its name (`CARD=name`) the moment it is plugged in again, and an open attempt costs nothing.
    public var deviceRetryInitial: Double = 1
    public var deviceRetryMaximum: Double = 1
    public var logLevel = "info"
    /// Loudness normalisation (EBU R128) of announcements and signals.
    public var levels = AudioPreparation.Levels()
    /// espeak-ng voice for text announcements (`cmn` is Mandarin).
    public var voice = "cmn"
    public var maxSpeechCharacters = 2_000
    /// CAP severity → emergency level overrides ("Extreme", "Severe", "Moderate", "Minor", "Unknown").
    public var capSeverityLevels: [String: Int] = [:]
    /// The tier CAP alerts are queued at (they come from above the village).
    public var capTier = Tier.county
    /// `cap.signature`: `require`, `prefer` or `off` for CAP XML signatures; prefer when trusted certificates are
    /// configured, else off.
    public var capSignature = "off"
    /// `cap.trusted-certificates`: PEM files whose certificates (or the CAs that issued them) may sign CAP alerts.
    public var capTrustedCertificates: [String] = []
    /// Days of airtime log to keep; 0 keeps everything (the default).
    public var retentionDays = 0
    /// `[county]`: the village's link to its county head-end; nil keeps the station on its own.
    public var county: CountyLink?

    /// The `[county]` section: the broker, this village's credentials and region code, and the county's public key.
    public struct CountyLink: Sendable, Equatable {
        public var brokerHost = "127.0.0.1"
        public var brokerPort = 8883
        /// The CA that signed the broker's certificate; without it the link runs without TLS (a loopback test broker only).
        public var caFile: String?
        public var username: String
        public var password: String
        /// The MQTT client id, fixed so the broker keeps the session; the region code by default.
        public var clientID: String
        /// The 12-digit village code.
        public var region: String
        /// The raw 32-byte Ed25519 public key of the county, base64.
        public var countyKey: String
        /// Where audio too large to embed is fetched from (the URL in each message must start with it).
        public var headEndURL: String?
        /// The village's bearer token for audio fetches.
        public var fetchToken: String?
        public var maxAudioBytes = 16 << 20

        public init(username: String, password: String, region: String, countyKey: String) {
            self.username = username
            self.password = password
            self.region = region
            self.countyKey = countyKey
            clientID = region
        }
    }
    /// `[live] inputs`: the capture PCMs a live item may record from, the first when a request names none. Only these:
    /// an ALSA PCM string in a request could name a file plugin and broadcast any file the daemon can read.
    public var liveInputs = ["default"]
    /// Seconds of continuous silence that end a live item (VOX); 0 turns it off.
    public var liveSilenceSeconds: Double = 10
    /// Below this level (dBFS) the live input counts as silent.
    public var liveSilenceThreshold: Double = -45
    public var liveMaximumSeconds: Double = 3_600
    /// Seconds a live item may wait behind a higher item before it expires (nobody speaks into a queue for long).
    public var liveWaitSeconds: Double = 120
    /// `[amplifier]` and `[volume]` (Configuration+Hardware.swift).
    public var amplifier = Amplifier()
    public var volume = Volume()

    public init() {}

    /// Why the configuration cannot be used, naming the file, line or key.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Reads `path`; a missing file is an error (a daemon told to use a file that is not there is misconfigured).
    public static func load(path: String) throws(Invalid) -> Configuration {
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

    public static func parse(_ text: String, file: String = "dalaba.toml") throws -> Configuration {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw Invalid(description: "\(file):\(error.source.begin.line): \(error.description)")
        }
        var config = Configuration()
        var reader = KeyReader(file: file)
        try reader.allow(table, keys: ["device", "station", "http", "tokens", "quiet-hours", "interrupt", "schedule", "log-level", "loudness", "speech", "cap", "log", "live", "amplifier", "volume", "county"], in: "")
        if let device = try reader.table(table, "device") {
            try reader.allow(device, keys: ["name", "rate", "channels", "format", "period", "buffer", "resampler"], in: "device")
            if let v = try reader.string(device, "name", in: "device") { config.output.device = v }
            if let v = try reader.int(device, "rate", in: "device", range: 8_000...384_000) { config.output.rate = v }
            if let v = try reader.int(device, "channels", in: "device", range: 1...32) { config.output.channels = v }
            if let v = try reader.string(device, "format", in: "device") {
                guard let f = SampleFormat(rawValue: v.uppercased()) else { throw reader.invalid("device.format", "must be S16 or S32, not \(v)") }
                config.output.sampleFormat = f
            }
            if let v = try reader.int(device, "period", in: "device", range: 16...65_536) { config.output.periodFrames = v }
            if let v = try reader.int(device, "buffer", in: "device", range: 32...1_048_576) { config.output.bufferFrames = v }
            if let v = try reader.string(device, "resampler", in: "device") {
                guard let q = ResamplerQuality(rawValue: v) else {
                    throw reader.invalid("device.resampler", "must be one of \(ResamplerQuality.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                config.output.resamplerQuality = q
            }
            if config.output.bufferFrames < 2 * config.output.periodFrames {
                throw reader.invalid("device.buffer", "must hold at least two periods (\(2 * config.output.periodFrames) frames)")
            }
        }
        if let station = try reader.table(table, "station") {
            try reader.allow(
                station, keys: ["state-directory", "audio-directory", "schedules-directory", "time-zone", "chime", "attention", "max-upload-bytes"],
                in: "station")
            if let v = try reader.string(station, "state-directory", in: "station") { config.stateDirectory = v }
            if let v = try reader.string(station, "audio-directory", in: "station") { config.audioDirectory = v }
            if let v = try reader.string(station, "schedules-directory", in: "station") { config.schedulesDirectory = v }
            if let v = try reader.string(station, "time-zone", in: "station") {
                guard let tz = TimeZone(identifier: v) else { throw reader.invalid("station.time-zone", "unknown time zone \(v)") }
                config.timeZone = tz
            }
            if let v = try reader.string(station, "chime", in: "station") { config.chime = v }
            if let v = try reader.string(station, "attention", in: "station") { config.attention = v }
            if let v = try reader.int(station, "max-upload-bytes", in: "station", range: 1_024...(4 << 30)) { config.maxUploadBytes = v }
        }
        if let http = try reader.table(table, "http") {
            try reader.allow(http, keys: ["listen", "idle-timeout", "max-connections", "max-queue", "upload-min-free-bytes", "secure-cookies"], in: "http")
            if let v = http["secure-cookies"] {
                guard let b = v.bool else { throw reader.invalid("http.secure-cookies", "must be true or false") }
                config.secureCookies = b
            }
            if let v = try reader.int(http, "idle-timeout", in: "http", range: 1...3_600) { config.httpIdleTimeout = v }
            if let v = try reader.int(http, "max-connections", in: "http", range: 4...65_536) { config.httpMaxConnections = v }
            if let v = try reader.int(http, "max-queue", in: "http", range: 1...1_000_000) { config.maxQueue = v }
            if let v = try reader.int(http, "upload-min-free-bytes", in: "http", range: 0...(1 << 40)) { config.uploadMinimumFreeBytes = v }
            if let v = try reader.string(http, "listen", in: "http") {
                guard let (host, port) = listenAddress(v) else { throw reader.invalid("http.listen", "must be HOST:PORT, not \(v)") }
                config.listenHost = host
                config.listenPort = port
            }
        }
        if let tokens = table["tokens"] {
            guard let array = tokens.array else { throw reader.invalid("tokens", "must be an array of tables ([[tokens]])") }
            for (index, element) in array.enumerated() {
                let key = "tokens[\(index)]"
                guard let entry = element.table else { throw reader.invalid(key, "must be a table with name, token and role") }
                try reader.allow(entry, keys: ["name", "token", "role", "tier"], in: key)
                guard let name = try reader.string(entry, "name", in: key) else { throw reader.invalid("\(key).name", "is missing") }
                guard let token = try reader.string(entry, "token", in: key) else { throw reader.invalid("\(key).token", "is missing") }
                guard token.count >= 16 else { throw reader.invalid("\(key).token", "must be at least 16 characters") }
                guard let roleName = try reader.string(entry, "role", in: key) else { throw reader.invalid("\(key).role", "is missing") }
                guard let role = Role(rawValue: roleName) else { throw reader.invalid("\(key).role", "must be operator, official or admin") }
                var tier = Tier.village
                if let tierName = try reader.string(entry, "tier", in: key) {
                    guard let t = Tier(name: tierName) else { throw reader.invalid("\(key).tier", "must be county, township or village") }
                    tier = t
                }
                guard !config.tokens.contains(where: { $0.token == token }) else { throw reader.invalid("\(key).token", "is the same as another token's") }
                config.tokens.append(Token(name: name, token: token, role: role, tier: tier))
            }
        }
        if let quiet = try reader.table(table, "quiet-hours") {
            try reader.allow(quiet, keys: ["start", "end"], in: "quiet-hours")
            guard let start = try reader.string(quiet, "start", in: "quiet-hours"), let startMinutes = minutes(start) else {
                throw reader.invalid("quiet-hours.start", "must be a time like \"22:00\"")
            }
            guard let end = try reader.string(quiet, "end", in: "quiet-hours"), let endMinutes = minutes(end) else {
                throw reader.invalid("quiet-hours.end", "must be a time like \"06:00\"")
            }
            config.quietHours = QuietHours(start: startMinutes, end: endMinutes)
        }
        if let interrupt = try reader.table(table, "interrupt") {
            try reader.allow(interrupt, keys: Kind.allCases.map(\.rawValue), in: "interrupt")
            for kind in Kind.allCases {
                if let v = try reader.string(interrupt, kind.rawValue, in: "interrupt") {
                    guard let policy = InterruptPolicy(rawValue: v) else {
                        throw reader.invalid("interrupt.\(kind.rawValue)", "must be restart, resume or drop")
                    }
                    config.policies[kind] = policy
                }
            }
        }
        if let schedule = try reader.table(table, "schedule") {
            try reader.allow(schedule, keys: ["grace"], in: "schedule")
            if let v = try reader.int(schedule, "grace", in: "schedule", range: 0...86_400) { config.scheduleGrace = Double(v) }
        }
        if let loudness = try reader.table(table, "loudness") {
            try reader.allow(loudness, keys: ["enabled", "target", "true-peak", "chime", "attention"], in: "loudness")
            if let v = loudness["enabled"] {
                guard let b = v.bool else { throw reader.invalid("loudness.enabled", "must be true or false") }
                config.levels.enabled = b
            }
            for (key, path) in [("target", \AudioPreparation.Levels.target), ("true-peak", \.truePeakCeiling), ("chime", \.chime), ("attention", \.attention)] {
                if let v = loudness[key] {
                    guard let d = v.double ?? v.int.map(Double.init), (-70...0).contains(d) else {
                        throw reader.invalid("loudness.\(key)", "must be a number from -70 to 0")
                    }
                    config.levels[keyPath: path] = d
                }
            }
        }
        if let live = try reader.table(table, "live") {
            try reader.allow(live, keys: ["inputs", "silence", "silence-threshold", "maximum", "wait"], in: "live")
            if let v = live["inputs"] {
                guard let list = v.array, !list.isEmpty else { throw reader.invalid("live.inputs", "must be a list of ALSA capture PCM names") }
                config.liveInputs = try list.map { item in
                    guard let name = item.string, !name.isEmpty else { throw reader.invalid("live.inputs", "must be a list of ALSA capture PCM names") }
                    return name
                }
            }
            if let v = try reader.int(live, "silence", in: "live", range: 0...3_600) { config.liveSilenceSeconds = Double(v) }
            if let v = try reader.int(live, "silence-threshold", in: "live", range: -96...0) { config.liveSilenceThreshold = Double(v) }
            if let v = try reader.int(live, "maximum", in: "live", range: 1...86_400) { config.liveMaximumSeconds = Double(v) }
            if let v = try reader.int(live, "wait", in: "live", range: 1...3_600) { config.liveWaitSeconds = Double(v) }
        }
        if let log = try reader.table(table, "log") {
            try reader.allow(log, keys: ["retention-days"], in: "log")
            if let v = try reader.int(log, "retention-days", in: "log", range: 0...36_500) { config.retentionDays = v }
        }
        if let speech = try reader.table(table, "speech") {
            try reader.allow(speech, keys: ["voice", "max-characters"], in: "speech")
            if let v = try reader.string(speech, "voice", in: "speech") { config.voice = v }
            if let v = try reader.int(speech, "max-characters", in: "speech", range: 1...100_000) { config.maxSpeechCharacters = v }
        }
        if let cap = try reader.table(table, "cap") {
            try reader.allow(cap, keys: ["tier", "severity-levels", "signature", "trusted-certificates"], in: "cap")
            if let value = cap["trusted-certificates"] {
                let paths = value.array?.compactMap(\.string) ?? []
                guard let array = value.array, paths.count == array.count else {
                    throw reader.invalid("cap.trusted-certificates", "must be a list of PEM file paths")
                }
                for path in paths {
                    let text = FileManager.default.contents(atPath: config.resolve(path)).map { String(decoding: $0, as: UTF8.self) }
                    guard let text else { throw reader.invalid("cap.trusted-certificates", "cannot read \(path)") }
                    guard text.contains("-----BEGIN CERTIFICATE-----") else {
                        throw reader.invalid("cap.trusted-certificates", "\(path) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
                    }
                }
                config.capTrustedCertificates = paths
                config.capSignature = paths.isEmpty ? "off" : "prefer"
            }
            if let v = try reader.string(cap, "signature", in: "cap") {
                guard ["require", "prefer", "off"].contains(v) else { throw reader.invalid("cap.signature", "must be require, prefer or off") }
                if v != "off" && config.capTrustedCertificates.isEmpty {
                    throw reader.invalid("cap.signature", "\(v) needs cap.trusted-certificates (the certificates that may sign alerts)")
                }
                config.capSignature = v
            }
            if let v = try reader.string(cap, "tier", in: "cap") {
                guard let tier = Tier(name: v) else { throw reader.invalid("cap.tier", "must be county, township or village") }
                config.capTier = tier
            }
            if let levels = try reader.table(cap, "severity-levels") {
                let severities = ["Extreme", "Severe", "Moderate", "Minor", "Unknown"]
                try reader.allow(levels, keys: severities, in: "cap.severity-levels")
                for severity in severities {
                    if let level = try reader.int(levels, severity, in: "cap.severity-levels", range: 1...4) { config.capSeverityLevels[severity] = level }
                }
            }
        }
        try parseHardware(table, reader, into: &config)
        if let county = try reader.table(table, "county") {
            config.county = try parseCounty(county, reader: reader, config: config)
        }
        if let v = try reader.string(table, "log-level", in: "") {
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(v) else {
                throw reader.invalid("log-level", "must be trace, debug, info, notice, warning, error or critical")
            }
            config.logLevel = v
        }
        return config
    }

    /// `[county]`: every key checked, the region code strictly (12 digits), the county key as a 32-byte Ed25519 key.
    static func parseCounty(_ table: TOMLTable, reader: KeyReader, config: Configuration) throws -> CountyLink {
        let keys = [
            "broker-host", "broker-port", "ca-file", "username", "password", "password-file", "client-id", "region", "county-key",
            "county-key-file", "head-end-url", "fetch-token", "max-audio-bytes",
        ]
        try reader.allow(table, keys: keys, in: "county")
        func fileText(_ key: String) throws -> String? {
            guard let path = try reader.string(table, key, in: "county") else { return nil }
            guard let data = FileManager.default.contents(atPath: config.resolve(path)) else {
                throw reader.invalid("county.\(key)", "cannot read \(path)")
            }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let region = try reader.string(table, "region", in: "county") else { throw reader.invalid("county.region", "is missing") }
        guard region.utf8.count == 12, region.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
            throw reader.invalid("county.region", "must be the village's 12-digit code (GB/T 2260), not '\(region.prefix(40))'")
        }
        guard let username = try reader.string(table, "username", in: "county") else { throw reader.invalid("county.username", "is missing") }
        let inline = try reader.string(table, "password", in: "county")
        let fromFile = try fileText("password-file")
        if inline != nil, fromFile != nil { throw reader.invalid("county.password", "give password or password-file, not both") }
        guard let password = inline ?? fromFile, !password.isEmpty else { throw reader.invalid("county.password", "is missing") }
        let keyInline = try reader.string(table, "county-key", in: "county")
        let keyFile = try fileText("county-key-file")
        if keyInline != nil, keyFile != nil { throw reader.invalid("county.county-key", "give county-key or county-key-file, not both") }
        guard let countyKey = keyInline ?? keyFile else { throw reader.invalid("county.county-key", "is missing") }
        guard let raw = Data(base64Encoded: countyKey.trimmingCharacters(in: .whitespacesAndNewlines)), raw.count == 32 else {
            throw reader.invalid(keyFile != nil ? "county.county-key-file" : "county.county-key", "must be the base64 of a 32-byte Ed25519 public key")
        }
        var link = CountyLink(username: username, password: password, region: region, countyKey: countyKey.trimmingCharacters(in: .whitespacesAndNewlines))
        if let v = try reader.string(table, "broker-host", in: "county") {
            guard !v.isEmpty else { throw reader.invalid("county.broker-host", "is empty") }
            link.brokerHost = v
        }
        if let v = try reader.int(table, "broker-port", in: "county", range: 1...65_535) { link.brokerPort = v }
        if let v = try reader.string(table, "ca-file", in: "county") {
            guard FileManager.default.isReadableFile(atPath: config.resolve(v)) else { throw reader.invalid("county.ca-file", "cannot read \(v)") }
            link.caFile = config.resolve(v)
        }
        if let v = try reader.string(table, "client-id", in: "county") {
            guard (1...23).contains(v.utf8.count), v.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
                throw reader.invalid("county.client-id", "must be 1 to 23 printable ASCII characters")
            }
            link.clientID = v
        }
        if let v = try reader.string(table, "head-end-url", in: "county") {
            guard let url = URL(string: v), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                throw reader.invalid("county.head-end-url", "must be an http or https URL")
            }
            link.headEndURL = v
        }
        if let v = try reader.string(table, "fetch-token", in: "county") { link.fetchToken = v }
        if let v = try reader.int(table, "max-audio-bytes", in: "county", range: 1_024...(1 << 30)) { link.maxAudioBytes = v }
        return link
    }

    /// "HOST:PORT" (IPv6 hosts in brackets).
    public static func listenAddress(_ text: String) -> (String, Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65_535).contains(port) else {
            return nil
        }
        let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return host.isEmpty ? nil : (host, port)
    }

    /// "HH:MM" as minutes after midnight.
    static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m) else { return nil }
        return h * 60 + m
    }

    /// A path from the configuration, relative to the working directory unless absolute.
    public func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    public func audioPath(_ name: String) -> String { name.hasPrefix("/") ? name : resolve(audioDirectory) + "/" + name }
}

/// Reads typed keys and reports the dotted key name with the problem.
struct KeyReader {
    let file: String

    func invalid(_ key: String, _ reason: String) -> Configuration.Invalid {
        Configuration.Invalid(description: "\(file): \(key): \(reason)")
    }

    func allow(_ table: TOMLTable, keys: [String], in section: String) throws {
        for key in table.keys where !keys.contains(key) {
            throw invalid(section.isEmpty ? key : "\(section).\(key)", "unknown key (known: \(keys.joined(separator: ", ")))")
        }
    }

    func table(_ table: TOMLTable, _ key: String) throws -> TOMLTable? {
        guard let value = table[key] else { return nil }
        guard let t = value.table else { throw invalid(key, "must be a table ([\(key)])") }
        return t
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
}
