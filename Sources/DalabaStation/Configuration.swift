import DalabaAudio
import DalabaConfig
import DalabaCore
import Foundation

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
        /// It also checks an https head-end's certificate, unless `headEndCAFile` names another CA.
        public var caFile: String?
        /// The CA (or bundle) an https head-end's certificate is checked against when it is not the broker's CA (a head-end
        /// behind a public CA, say); with neither file, the system's trust store.
        public var headEndCAFile: String?
        public var username: String
        public var password: String
        /// The MQTT client id, fixed so the broker keeps the session; the region code by default.
        public var clientID: String
        /// The 12-digit village code.
        public var region: String
        /// The raw 32-byte Ed25519 public key of the county, base64.
        public var countyKey: String
        /// Where audio too large to embed is fetched from: a URL in a message must have its scheme, host and port and lie
        /// under its path. Without it the village fetches no URL at all (embedded audio only).
        public var headEndURL: String?
        /// The village's bearer token for audio fetches, sent to `headEndURL` only (so it needs one).
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
    /// `[live] relay-dead-air`: seconds of silence or no data after which a relay (转播) falls back or ends, failed.
    public var relayDeadAirSeconds: Double = 10
    /// The shortest `relay-dead-air`: the prebuffer (1 s) plus a source's block interval (about 1 s), which a healthy
    /// stream can take before its first audio is heard; that silence counts as dead air, as a listener hears it.
    public static let minimumRelayDeadAirSeconds = 2.0
    /// `[live] relay-fallback`: a file under the audio directory played on a relay's dead air (a notice that the programme
    /// is interrupted) before the item ends; nil (`"end"`) ends it at once.
    public var relayFallback: String?
    /// `[live] relay-hosts`: the only hosts a relay may be fetched from (names or addresses, as in the URL); empty, any.
    /// Set, an operator's token cannot make the station fetch from elsewhere on its network, and relays follow no
    /// redirects (a redirect could lead anywhere).
    public var relayHosts: [String] = []
    /// `[amplifier]` and `[volume]` (Configuration+Hardware.swift).
    public var amplifier = Amplifier()
    public var volume = Volume()

    public init() {}

    /// Why the configuration cannot be used, naming the file, line or key.
    public typealias Invalid = ConfigurationFile.Invalid

    /// Reads `path`; a missing file is an error (a daemon told to use a file that is not there is misconfigured).
    public static func load(path: String) throws(Invalid) -> Configuration {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw Invalid(description: "\(path): cannot read the configuration file")
        }
        return try parse(text, file: path)
    }

    /// Decodes the file into its sections (TOMLKit, unknown keys refused), then checks each value and applies it over the
    /// defaults.
    public static func parse(_ text: String, file: String = "dalaba.toml") throws(Invalid) -> Configuration {
        var source = try ConfigurationFile(parsing: text, file: file)
        source.typeReasons = [
            "live.inputs": "must be a list of ALSA capture PCM names",
            "cap.trusted-certificates": "must be a list of PEM file paths",
        ]
        for key in ["target", "true-peak", "chime", "attention"] { source.typeReasons["loudness.\(key)"] = "must be a number from -70 to 0" }
        let file = try source.decode(Sections.self)
        var config = Configuration()
        if let device = file.device { try device.apply(to: &config, source) }
        if let station = file.station { try station.apply(to: &config, source) }
        if let http = file.http { try http.apply(to: &config, source) }
        for (index, entry) in (file.tokens ?? []).enumerated() { try entry.apply(to: &config, source, key: "tokens[\(index)]") }
        if let quiet = file.quietHours {
            guard let start = quiet.start.flatMap(minutes) else { throw source.invalid("quiet-hours.start", "must be a time like \"22:00\"") }
            guard let end = quiet.end.flatMap(minutes) else { throw source.invalid("quiet-hours.end", "must be a time like \"06:00\"") }
            config.quietHours = QuietHours(start: start, end: end)
        }
        if let interrupt = file.interrupt {
            for kind in Kind.allCases {
                guard let v = interrupt[kind] else { continue }
                guard let policy = InterruptPolicy(rawValue: v) else {
                    throw source.invalid("interrupt.\(kind.rawValue)", "must be restart, resume or drop")
                }
                config.policies[kind] = policy
            }
        }
        if let v = try source.within(file.schedule?.grace, 0...86_400, "schedule.grace") { config.scheduleGrace = Double(v) }
        if let loudness = file.loudness { try loudness.apply(to: &config, source) }
        if let live = file.live { try live.apply(to: &config, source) }
        if let v = try source.within(file.log?.retentionDays, 0...36_500, "log.retention-days") { config.retentionDays = v }
        if let v = file.speech?.voice { config.voice = v }
        if let v = try source.within(file.speech?.maxCharacters, 1...100_000, "speech.max-characters") { config.maxSpeechCharacters = v }
        if let cap = file.cap { try cap.apply(to: &config, source) }
        if let amplifier = file.amplifier { config.amplifier = try amplifier.checked(source) }
        if let volume = file.volume { config.volume = try volume.checked(source, device: config.output.device) }
        if let county = file.county { config.county = try county.checked(source, config: config) }
        if let v = file.logLevel {
            guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(v) else {
                throw source.invalid("log-level", "must be trace, debug, info, notice, warning, error or critical")
            }
            config.logLevel = v
        }
        return config
    }

    /// The file as TOMLKit decodes it: raw values, every one optional, checked and applied by `parse`. The coding keys are
    /// the only keys a file may hold.
    struct Sections: Decodable {
        var device: Device?
        var station: Station?
        var http: HTTP?
        var tokens: [TokenEntry]?
        var quietHours: QuietHoursSection?
        var interrupt: Interrupt?
        var schedule: Schedule?
        var logLevel: String?
        var loudness: Loudness?
        var speech: Speech?
        var cap: CAP?
        var log: Log?
        var live: Live?
        var amplifier: AmplifierSection?
        var volume: VolumeSection?
        var county: County?
        enum CodingKeys: String, CodingKey {
            case device, station, http, tokens, interrupt, schedule, loudness, speech, cap, log, live, amplifier, volume, county
            case quietHours = "quiet-hours", logLevel = "log-level"
        }

        struct Device: Decodable {
            var name: String?
            var rate: Int?
            var channels: Int?
            var format: String?
            var period: Int?
            var buffer: Int?
            var resampler: String?
            var pace: Bool?

            func apply(to config: inout Configuration, _ source: ConfigurationFile) throws(Invalid) {
                if let name { config.output.device = name }
                if let pace { config.output.paced = pace }
                if let v = try source.within(rate, 8_000...384_000, "device.rate") { config.output.rate = v }
                if let v = try source.within(channels, 1...32, "device.channels") { config.output.channels = v }
                if let format {
                    guard let f = SampleFormat(rawValue: format.uppercased()) else {
                        throw source.invalid("device.format", "must be S16 or S32, not \(format)")
                    }
                    config.output.sampleFormat = f
                }
                if let v = try source.within(period, 16...65_536, "device.period") { config.output.periodFrames = v }
                if let v = try source.within(buffer, 32...1_048_576, "device.buffer") { config.output.bufferFrames = v }
                if let resampler {
                    guard let q = ResamplerQuality(rawValue: resampler) else {
                        throw source.invalid(
                            "device.resampler", "must be one of \(ResamplerQuality.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    config.output.resamplerQuality = q
                }
                if config.output.bufferFrames < 2 * config.output.periodFrames {
                    throw source.invalid("device.buffer", "must hold at least two periods (\(2 * config.output.periodFrames) frames)")
                }
            }
        }

        struct Station: Decodable {
            var stateDirectory: String?
            var audioDirectory: String?
            var schedulesDirectory: String?
            var timeZone: String?
            var chime: String?
            var attention: String?
            var maxUploadBytes: Int?
            enum CodingKeys: String, CodingKey {
                case chime, attention
                case stateDirectory = "state-directory", audioDirectory = "audio-directory", schedulesDirectory = "schedules-directory"
                case timeZone = "time-zone", maxUploadBytes = "max-upload-bytes"
            }

            func apply(to config: inout Configuration, _ source: ConfigurationFile) throws(Invalid) {
                if let stateDirectory { config.stateDirectory = stateDirectory }
                if let audioDirectory { config.audioDirectory = audioDirectory }
                if let schedulesDirectory { config.schedulesDirectory = schedulesDirectory }
                if let timeZone {
                    guard let zone = TimeZone(identifier: timeZone) else {
                        throw source.invalid("station.time-zone", "unknown time zone \(timeZone)")
                    }
                    config.timeZone = zone
                }
                if let chime { config.chime = chime }
                if let attention { config.attention = attention }
                if let v = try source.within(maxUploadBytes, 1_024...(4 << 30), "station.max-upload-bytes") { config.maxUploadBytes = v }
            }
        }

        struct HTTP: Decodable {
            var listen: String?
            var idleTimeout: Int?
            var maxConnections: Int?
            var maxQueue: Int?
            var uploadMinFreeBytes: Int?
            var secureCookies: Bool?
            enum CodingKeys: String, CodingKey {
                case listen
                case idleTimeout = "idle-timeout", maxConnections = "max-connections", maxQueue = "max-queue"
                case uploadMinFreeBytes = "upload-min-free-bytes", secureCookies = "secure-cookies"
            }

            func apply(to config: inout Configuration, _ source: ConfigurationFile) throws(Invalid) {
                if let secureCookies { config.secureCookies = secureCookies }
                if let v = try source.within(idleTimeout, 1...3_600, "http.idle-timeout") { config.httpIdleTimeout = v }
                if let v = try source.within(maxConnections, 4...65_536, "http.max-connections") { config.httpMaxConnections = v }
                if let v = try source.within(maxQueue, 1...1_000_000, "http.max-queue") { config.maxQueue = v }
                if let v = try source.within(uploadMinFreeBytes, 0...(1 << 40), "http.upload-min-free-bytes") { config.uploadMinimumFreeBytes = v }
                if let listen {
                    guard let (host, port) = listenAddress(listen) else { throw source.invalid("http.listen", "must be HOST:PORT, not \(listen)") }
                    config.listenHost = host
                    config.listenPort = port
                }
            }
        }

        struct TokenEntry: Decodable {
            var name: String
            var token: String
            var role: String
            var tier: String?

            func apply(to config: inout Configuration, _ source: ConfigurationFile, key: String) throws(Invalid) {
                guard token.count >= 16 else { throw source.invalid("\(key).token", "must be at least 16 characters") }
                guard let role = Role(rawValue: role) else { throw source.invalid("\(key).role", "must be operator, official or admin") }
                var tier = Tier.village
                if let name = self.tier {
                    guard let t = Tier(name: name) else { throw source.invalid("\(key).tier", "must be county, township or village") }
                    tier = t
                }
                guard !config.tokens.contains(where: { $0.token == token }) else {
                    throw source.invalid("\(key).token", "is the same as another token's")
                }
                config.tokens.append(Token(name: name, token: token, role: role, tier: tier))
            }
        }

        struct QuietHoursSection: Decodable {
            var start: String?
            var end: String?
        }

        /// One key per kind; the switch makes a new kind a compile error here rather than a key nobody can set.
        struct Interrupt: Decodable {
            var emergency: String?
            var rumorRebuttal: String?
            var policy: String?
            var routine: String?
            enum CodingKeys: String, CodingKey {
                case emergency, policy, routine
                case rumorRebuttal = "rumor-rebuttal"
            }
            subscript(kind: Kind) -> String? {
                switch kind {
                case .emergency: emergency
                case .rumorRebuttal: rumorRebuttal
                case .policy: policy
                case .routine: routine
                }
            }
        }

        struct Schedule: Decodable {
            var grace: Int?
        }

        struct Loudness: Decodable {
            var enabled: Bool?
            var target: TOMLNumber?
            var truePeak: TOMLNumber?
            var chime: TOMLNumber?
            var attention: TOMLNumber?
            enum CodingKeys: String, CodingKey {
                case enabled, target, chime, attention
                case truePeak = "true-peak"
            }

            func apply(to config: inout Configuration, _ source: ConfigurationFile) throws(Invalid) {
                if let enabled { config.levels.enabled = enabled }
                let levels: [(String, TOMLNumber?, WritableKeyPath<AudioPreparation.Levels, Double>)] = [
                    ("target", target, \.target), ("true-peak", truePeak, \.truePeakCeiling), ("chime", chime, \.chime),
                    ("attention", attention, \.attention),
                ]
                for (key, value, path) in levels {
                    guard let value else { continue }
                    guard (-70...0).contains(value.value) else { throw source.invalid("loudness.\(key)", "must be a number from -70 to 0") }
                    config.levels[keyPath: path] = value.value
                }
            }
        }

        struct Speech: Decodable {
            var voice: String?
            var maxCharacters: Int?
            enum CodingKeys: String, CodingKey {
                case voice
                case maxCharacters = "max-characters"
            }
        }

        struct CAP: Decodable {
            var tier: String?
            var severityLevels: SeverityLevels?
            var signature: String?
            var trustedCertificates: [String]?
            enum CodingKeys: String, CodingKey {
                case tier, signature
                case severityLevels = "severity-levels", trustedCertificates = "trusted-certificates"
            }
            /// CAP's severities, spelled as CAP spells them.
            struct SeverityLevels: Decodable {
                var Extreme: Int?
                var Severe: Int?
                var Moderate: Int?
                var Minor: Int?
                var Unknown: Int?
            }

            func apply(to config: inout Configuration, _ source: ConfigurationFile) throws(Invalid) {
                if let paths = trustedCertificates {
                    for path in paths {
                        let text = FileManager.default.contents(atPath: config.resolve(path)).map { String(decoding: $0, as: UTF8.self) }
                        guard let text else { throw source.invalid("cap.trusted-certificates", "cannot read \(path)") }
                        guard text.contains("-----BEGIN CERTIFICATE-----") else {
                            throw source.invalid("cap.trusted-certificates", "\(path) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
                        }
                    }
                    config.capTrustedCertificates = paths
                    config.capSignature = paths.isEmpty ? "off" : "prefer"
                }
                if let signature {
                    guard ["require", "prefer", "off"].contains(signature) else {
                        throw source.invalid("cap.signature", "must be require, prefer or off")
                    }
                    if signature != "off" && config.capTrustedCertificates.isEmpty {
                        throw source.invalid("cap.signature", "\(signature) needs cap.trusted-certificates (the certificates that may sign alerts)")
                    }
                    config.capSignature = signature
                }
                if let tier {
                    guard let t = Tier(name: tier) else { throw source.invalid("cap.tier", "must be county, township or village") }
                    config.capTier = t
                }
                if let levels = severityLevels {
                    let given = [
                        ("Extreme", levels.Extreme), ("Severe", levels.Severe), ("Moderate", levels.Moderate), ("Minor", levels.Minor),
                        ("Unknown", levels.Unknown),
                    ]
                    for (severity, level) in given {
                        if let level = try source.within(level, 1...4, "cap.severity-levels.\(severity)") {
                            config.capSeverityLevels[severity] = level
                        }
                    }
                }
            }
        }

        struct Log: Decodable {
            var retentionDays: Int?
            enum CodingKeys: String, CodingKey { case retentionDays = "retention-days" }
        }

        struct Live: Decodable {
            var inputs: [String]?
            var silence: Int?
            var silenceThreshold: Int?
            var maximum: Int?
            var wait: Int?
            var relayDeadAir: TOMLNumber?
            var relayFallback: String?
            var relayHosts: [String]?
            enum CodingKeys: String, CodingKey {
                case inputs, silence, maximum, wait
                case silenceThreshold = "silence-threshold"
                case relayDeadAir = "relay-dead-air"
                case relayFallback = "relay-fallback"
                case relayHosts = "relay-hosts"
            }

            func apply(to config: inout Configuration, _ source: ConfigurationFile) throws(Invalid) {
                if let inputs {
                    guard !inputs.isEmpty, !inputs.contains(where: \.isEmpty) else {
                        throw source.invalid("live.inputs", "must be a list of ALSA capture PCM names")
                    }
                    config.liveInputs = inputs
                }
                if let v = try source.within(silence, 0...3_600, "live.silence") { config.liveSilenceSeconds = Double(v) }
                if let v = try source.within(silenceThreshold, -96...0, "live.silence-threshold") { config.liveSilenceThreshold = Double(v) }
                if let v = try source.within(maximum, 1...86_400, "live.maximum") { config.liveMaximumSeconds = Double(v) }
                if let v = try source.within(wait, 1...3_600, "live.wait") { config.liveWaitSeconds = Double(v) }
                if let v = try source.within(relayDeadAir, 0...3_600, "live.relay-dead-air") {
                    // A relay is silent until its prebuffer's second has arrived, and a source such as ezstream sends a
                    // block a second: a shorter limit would call a healthy stream dead air at its start.
                    guard v >= Configuration.minimumRelayDeadAirSeconds else {
                        throw source.invalid(
                            "live.relay-dead-air",
                            "\(v) is less than \(Configuration.minimumRelayDeadAirSeconds) s; a relay's first second is its prebuffer's silence")
                    }
                    config.relayDeadAirSeconds = v
                }
                if let relayFallback {
                    guard !relayFallback.isEmpty, !relayFallback.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                        throw source.invalid("live.relay-fallback", "must be \"end\" or an audio file under the audio directory")
                    }
                    config.relayFallback = relayFallback == "end" ? nil : relayFallback
                }
                if let relayHosts {
                    // A bare host as a URL's host reads: letters, digits, dots and hyphens, or an IPv6 address's colons (so
                    // never exactly one colon, which would be a port). A scheme, port, path, credentials or space never matches.
                    let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:")
                    for (index, host) in relayHosts.enumerated() {
                        guard !host.isEmpty, host.count <= 253, host.unicodeScalars.allSatisfy(allowed.contains), host.filter({ $0 == ":" }).count != 1
                        else {
                            throw source.invalid("live.relay-hosts[\(index)]", "must be a host name or address, without scheme, port or path")
                        }
                    }
                    config.relayHosts = relayHosts.map { $0.lowercased() }
                }
            }
        }

        /// `[county]`: every key checked, the region code strictly (12 digits), the county key as a 32-byte Ed25519 key.
        struct County: Decodable {
            var brokerHost: String?
            var brokerPort: Int?
            var caFile: String?
            var username: String?
            var password: String?
            var passwordFile: String?
            var clientID: String?
            var region: String?
            var countyKey: String?
            var countyKeyFile: String?
            var headEndURL: String?
            var headEndCAFile: String?
            var fetchToken: String?
            var maxAudioBytes: Int?
            enum CodingKeys: String, CodingKey {
                case username, password, region
                case brokerHost = "broker-host", brokerPort = "broker-port", caFile = "ca-file", passwordFile = "password-file"
                case clientID = "client-id", countyKey = "county-key", countyKeyFile = "county-key-file", headEndURL = "head-end-url"
                case headEndCAFile = "head-end-ca-file", fetchToken = "fetch-token", maxAudioBytes = "max-audio-bytes"
            }

            func checked(_ source: ConfigurationFile, config: Configuration) throws(Invalid) -> CountyLink {
                func fileText(_ path: String?, _ key: String) throws(Invalid) -> String? {
                    guard let path else { return nil }
                    guard let data = FileManager.default.contents(atPath: config.resolve(path)) else {
                        throw source.invalid("county.\(key)", "cannot read \(path)")
                    }
                    return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                }
                guard let region else { throw source.invalid("county.region", "is missing") }
                guard region.utf8.count == 12, region.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
                    throw source.invalid("county.region", "must be the village's 12-digit code (GB/T 2260), not '\(region.prefix(40))'")
                }
                guard let username else { throw source.invalid("county.username", "is missing") }
                let fromFile = try fileText(passwordFile, "password-file")
                if password != nil, fromFile != nil { throw source.invalid("county.password", "give password or password-file, not both") }
                guard let password = password ?? fromFile, !password.isEmpty else { throw source.invalid("county.password", "is missing") }
                let keyFile = try fileText(countyKeyFile, "county-key-file")
                if countyKey != nil, keyFile != nil { throw source.invalid("county.county-key", "give county-key or county-key-file, not both") }
                guard let key = (countyKey ?? keyFile)?.trimmingCharacters(in: .whitespacesAndNewlines) else {
                    throw source.invalid("county.county-key", "is missing")
                }
                guard let raw = Data(base64Encoded: key), raw.count == 32 else {
                    throw source.invalid(
                        keyFile != nil ? "county.county-key-file" : "county.county-key", "must be the base64 of a 32-byte Ed25519 public key")
                }
                var link = CountyLink(username: username, password: password, region: region, countyKey: key)
                if let brokerHost {
                    guard !brokerHost.isEmpty else { throw source.invalid("county.broker-host", "is empty") }
                    link.brokerHost = brokerHost
                }
                if let v = try source.within(brokerPort, 1...65_535, "county.broker-port") { link.brokerPort = v }
                if let caFile {
                    if let problem = Self.certificateProblem(config.resolve(caFile), named: caFile) {
                        throw source.invalid("county.ca-file", problem)
                    }
                    link.caFile = config.resolve(caFile)
                }
                if let clientID {
                    guard (1...23).contains(clientID.utf8.count), clientID.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
                        throw source.invalid("county.client-id", "must be 1 to 23 printable ASCII characters")
                    }
                    link.clientID = clientID
                }
                if let headEndURL {
                    guard let url = URL(string: headEndURL), url.scheme == "http" || url.scheme == "https", let host = url.host, !host.isEmpty,
                        url.user == nil, url.password == nil, url.query == nil, url.fragment == nil
                    else {
                        throw source.invalid(
                            "county.head-end-url", "must be an http or https URL with no user, query or fragment, not '\(headEndURL.prefix(80))'")
                    }
                    link.headEndURL = headEndURL
                }
                if let headEndCAFile {
                    guard let url = link.headEndURL.flatMap(URL.init(string:)), url.scheme == "https" else {
                        throw source.invalid("county.head-end-ca-file", "needs an https county.head-end-url (it checks the head-end's certificate)")
                    }
                    if let problem = Self.certificateProblem(config.resolve(headEndCAFile), named: headEndCAFile) {
                        throw source.invalid("county.head-end-ca-file", problem)
                    }
                    link.headEndCAFile = config.resolve(headEndCAFile)
                }
                if let fetchToken {
                    guard !fetchToken.isEmpty else { throw source.invalid("county.fetch-token", "is empty") }
                    // A message names the URL, and only head-end-url says which URLs are the county's own.
                    guard link.headEndURL != nil else {
                        throw source.invalid("county.fetch-token", "needs county.head-end-url: the token is sent only to the head-end")
                    }
                    link.fetchToken = fetchToken
                }
                if let v = try source.within(maxAudioBytes, 1_024...(1 << 30), "county.max-audio-bytes") { link.maxAudioBytes = v }
                return link
            }

            /// Why a CA file cannot be used, or nil: it must be readable and hold PEM certificates, each block the base64 of a
            /// DER SEQUENCE, so a key, a DER file or an empty file is refused here rather than at the first TLS connection.
            static func certificateProblem(_ path: String, named name: String) -> String? {
                guard let data = FileManager.default.contents(atPath: path) else { return "cannot read \(name)" }
                let text = String(decoding: data, as: UTF8.self)
                let begin = "-----BEGIN CERTIFICATE-----"
                let end = "-----END CERTIFICATE-----"
                var rest = text[...]
                var count = 0
                while let start = rest.range(of: begin) {
                    count += 1
                    guard let stop = rest[start.upperBound...].range(of: end) else {
                        return "\(name): certificate \(count) has no \(end)"
                    }
                    let body = rest[start.upperBound..<stop.lowerBound].filter { !$0.isWhitespace }
                    guard let der = Data(base64Encoded: String(body)), der.first == 0x30 else {
                        return "\(name): certificate \(count) is not base64 DER"
                    }
                    rest = rest[stop.upperBound...]
                }
                return count == 0 ? "\(name) holds no PEM certificate (\(begin))" : nil
            }
        }
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
