import DalabaAudio
import DalabaCore
import DalabaStation
import DalabaTestSupport
import Foundation
import Testing

/// The one TOML file: defaults that work on a fresh machine, and a clear error naming any bad key.
@Suite struct ConfigurationTests {
    @Test func anEmptyFileGivesTheEmbeddedDefaults() throws {
        let config = try Configuration.parse("")
        #expect(config.output.device == "default")
        #expect(config.output.rate == 48_000 && config.output.channels == 2 && config.output.sampleFormat == .s16)
        #expect(config.output.periodFrames == 240 && config.output.bufferFrames == 720)
        #expect(config.listenHost == "127.0.0.1" && config.listenPort == 8780)
        #expect(config.timeZone.identifier == "Asia/Shanghai")
        #expect(config.policies[.routine] == .resume && config.policies[.policy] == .restart)
        #expect(config.quietHours == nil)
        #expect(config.tokens.isEmpty)
        #expect(config.levels.target == -16)
        #expect(config.retentionDays == 0, "keeps everything by default")
        #expect(config.secureCookies == false, "cookies are Secure only when the configuration says HTTPS is in front")
        #expect(config.liveInputs == ["default"] && config.liveSilenceSeconds == 10)
        #expect(config.output.paced == false, "a card paces itself")
    }

    @Test func aDeviceThatTakesFramesAsFastAsTheyComeCanBePacedByTheClock() throws {
        #expect(try Configuration.parse("[device]\nname = \"null\"\npace = true\n").output.paced)
        #expect(throws: (any Error).self) { try Configuration.parse("[device]\npace = \"yes\"\n") }
    }

    @Test func liveInputsAndSecureCookiesAreRead() throws {
        let config = try Configuration.parse("[http]\nsecure-cookies = true\n[live]\ninputs = [\"plughw:CARD=Mic\", \"line_in\"]\nsilence = 5\n")
        #expect(config.secureCookies)
        #expect(config.liveInputs == ["plughw:CARD=Mic", "line_in"] && config.liveSilenceSeconds == 5)
    }

    @Test func theExampleFileParses() throws {
        let example = Processes.packageRoot.appendingPathComponent("deploy/dalaba.toml").path
        let config = try Configuration.load(path: example)
        #expect(config.output.device == "plughw:0")
        #expect(config.tokens.map(\.role) == [.operatorRole, .official, .admin])
        #expect(config.quietHours == QuietHours(start: 22 * 60, end: 6 * 60))
    }

    @Test(arguments: [
        ("[device]\nperiodd = 240", "dalaba.toml: device.periodd: unknown key"),
        ("[device]\nrate = \"fast\"", "dalaba.toml: device.rate: must be an integer"),
        ("[device]\nrate = 5", "dalaba.toml: device.rate: 5 is outside 8000–384000"),
        ("[device]\nformat = \"S24\"", "dalaba.toml: device.format: must be S16 or S32, not S24"),
        ("[device]\nperiod = 480\nbuffer = 600", "dalaba.toml: device.buffer: must hold at least two periods (960 frames)"),
        ("[station]\ntime-zone = \"Mars/Olympus\"", "dalaba.toml: station.time-zone: unknown time zone Mars/Olympus"),
        ("[http]\nlisten = \"localhost\"", "dalaba.toml: http.listen: must be HOST:PORT, not localhost"),
        ("[[tokens]]\nname = \"x\"\ntoken = \"short\"\nrole = \"admin\"", "dalaba.toml: tokens[0].token: must be at least 16 characters"),
        ("[[tokens]]\nname = \"x\"\ntoken = \"0123456789abcdef\"\nrole = \"mayor\"", "dalaba.toml: tokens[0].role: must be operator, official or admin"),
        ("[quiet-hours]\nstart = \"25:00\"\nend = \"06:00\"", "dalaba.toml: quiet-hours.start: must be a time like \"22:00\""),
        ("[interrupt]\nroutine = \"pause\"", "dalaba.toml: interrupt.routine: must be restart, resume or drop"),
        ("[loudness]\ntarget = 3", "dalaba.toml: loudness.target: must be a number from -70 to 0"),
        ("loudness-knob = 11", "dalaba.toml: loudness-knob: unknown key"),
        ("[log]\nretention-days = -1", "dalaba.toml: log.retention-days: -1 is outside 0–36500"),
        ("[http]\nsecure-cookies = \"yes\"", "dalaba.toml: http.secure-cookies: must be true or false"),
        ("[live]\ninputs = []", "dalaba.toml: live.inputs: must be a list of ALSA capture PCM names"),
        ("[live]\ninput = \"hw:1\"", "dalaba.toml: live.input: unknown key"),
    ])
    func aBadKeyIsAnErrorNamingIt(text: String, message: String) {
        do {
            _ = try Configuration.parse(text)
            Issue.record("accepted: \(text)")
        } catch {
            #expect("\(error)".hasPrefix(message), "\(error)")
        }
    }

    static let validToken = "[[tokens]]\nname = \"a\"\ntoken = \"0123456789abcdef\"\nrole = \"admin\"\n"

    /// The one unknown-key check (TOMLKit's strict decoding against the sections' coding keys) reaches every depth: nested
    /// tables, the second of an array of tables, and the village's [county] section.
    @Test(arguments: [
        ("[cap.severity-levels]\nExtrem = 1", "dalaba.toml: cap.severity-levels.Extrem: unknown key"),
        (validToken + "[[tokens]]\nname = \"b\"\ntoken = \"fedcba9876543210\"\nrole = \"official\"\ncolour = \"red\"", "dalaba.toml: tokens[1].colour: unknown key"),
        ("[county]\nbroker = \"x\"", "dalaba.toml: county.broker: unknown key"),
        ("[station.extra]\nx = 1", "dalaba.toml: station.extra: unknown key"),
        ("[devices]\nname = \"hw:0\"", "dalaba.toml: devices: unknown key"),
        ("[device]\nrat = 1\nperio = 2", "dalaba.toml: device.perio: unknown key (also unknown: device.rat)"),
    ])
    func anUnknownKeyIsNamedAtAnyDepth(text: String, message: String) {
        #expect(throws: Configuration.Invalid(description: message)) { try Configuration.parse(text) }
    }

    /// TOMLKit's decoding errors become the dotted key and what it must be; a missing required key says so.
    @Test(arguments: [
        ("log-level = 3", "dalaba.toml: log-level: must be a string"),
        ("[amplifier]\nline = 1.5", "dalaba.toml: amplifier.line: must be an integer"),
        ("[[tokens]]\nname = 1\ntoken = \"0123456789abcdef\"\nrole = \"admin\"", "dalaba.toml: tokens[0].name: must be a string"),
        ("[[tokens]]\nname = \"x\"\nrole = \"admin\"", "dalaba.toml: tokens[0].token: is missing"),
        ("tokens = 3", "dalaba.toml: tokens: must be an array of tables ([[tokens]])"),
        ("tokens = [1]", "dalaba.toml: tokens[0]: must be a table"),
        ("[live]\ninputs = [1]", "dalaba.toml: live.inputs: must be a list of ALSA capture PCM names"),
        ("[live]\ninputs = \"hw:1\"", "dalaba.toml: live.inputs: must be a list of ALSA capture PCM names"),
        ("[cap]\nseverity-levels = 1", "dalaba.toml: cap.severity-levels: must be a table"),
        ("[cap.severity-levels]\nExtreme = 5", "dalaba.toml: cap.severity-levels.Extreme: 5 is outside 1–4"),
        ("[loudness]\ntarget = \"loud\"", "dalaba.toml: loudness.target: must be a number from -70 to 0"),
        ("[county]\nregion = 370703001001", "dalaba.toml: county.region: must be a string"),
    ])
    func aValueOfTheWrongTypeNamesTheKey(text: String, message: String) {
        #expect(throws: Configuration.Invalid(description: message)) { try Configuration.parse(text) }
    }

    /// TOML keeps integers and decimals apart; an operator who writes `warm-up = 2` means 2 seconds.
    @Test func anIntegerIsANumber() throws {
        let config = try Configuration.parse("[amplifier]\nwarm-up = 2\nidle-off = 0.5\n[loudness]\ntarget = -20\n[volume]\nroutine = -6\nemergency-4 = -3.5\n")
        #expect(config.amplifier.sequencing.warmUp == 2 && config.amplifier.sequencing.idleOff == 0.5)
        #expect(config.levels.target == -20)
        #expect(config.volume.levels.kinds[.routine] == -6 && config.volume.levels.emergencyLevels[4] == -3.5)
    }

    @Test func everySectionIsRead() throws {
        let config = try Configuration.parse(
            """
            log-level = "debug"
            [station]
            state-directory = "/s"
            max-upload-bytes = 2048
            [http]
            listen = "[::1]:9000"
            max-queue = 5
            [quiet-hours]
            start = "21:30"
            end = "07:00"
            [interrupt]
            rumor-rebuttal = "drop"
            [schedule]
            grace = 60
            [speech]
            voice = "en"
            max-characters = 10
            [cap]
            tier = "township"
            [cap.severity-levels]
            Minor = 4
            [log]
            retention-days = 30
            """ + "\n" + Self.validToken)
        #expect(config.logLevel == "debug" && config.stateDirectory == "/s" && config.maxUploadBytes == 2048)
        #expect(config.listenHost == "::1" && config.listenPort == 9000 && config.maxQueue == 5)
        #expect(config.quietHours == QuietHours(start: 21 * 60 + 30, end: 7 * 60))
        #expect(config.policies[.rumorRebuttal] == .drop && config.policies[.routine] == .resume)
        #expect(config.scheduleGrace == 60 && config.voice == "en" && config.maxSpeechCharacters == 10)
        #expect(config.capTier == .township && config.capSeverityLevels == ["Minor": 4] && config.retentionDays == 30)
        #expect(config.tokens == [Configuration.Token(name: "a", token: "0123456789abcdef", role: .admin)])
    }

    /// The sections the example shows commented out ([amplifier], [volume]) are accepted as written once uncommented, so
    /// the example never documents a key the decoder would refuse. [cap] and [county] name files: their own tests.
    @Test func theExampleFilesCommentedSectionsParseToo() throws {
        let example = try String(contentsOf: Processes.packageRoot.appendingPathComponent("deploy/dalaba.toml"), encoding: .utf8)
        var section = ""
        var uncommented = 0
        let text = example.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            if line.hasPrefix("# [") { section = String(line.dropFirst(2).prefix { $0 != "]" }) + "]" }
            // Only `# [section]` and `# key = value`, not the prose around them.
            let body = line.dropFirst(2)
            let key = body.prefix { $0.isLowercase || $0.isNumber || $0 == "-" }
            let isSetting = line.hasPrefix("# [") || (!key.isEmpty && body.dropFirst(key.count).hasPrefix(" = "))
            guard section != "[cap]", section != "[county]", line.hasPrefix("# "), isSetting else { return String(line) }
            uncommented += 1
            return String(line.dropFirst(2))
        }.joined(separator: "\n")
        let config = try Configuration.parse(text, file: "dalaba.toml (uncommented)")
        #expect(uncommented >= 19, "\(uncommented) lines uncommented")
        #expect(config.amplifier.backend == .gpio && config.amplifier.line == 17 && config.amplifier.sequencing.warmUp == 1.5)
        #expect(config.volume.levels.kinds[.routine] == -6 && config.volume.levels.emergencyLevels[4] == -3)
        #expect(config.volume.mixer == Mixer.Target(device: "hw:CARD=Device", element: "Speaker"))
    }

    /// The example's [county] section, uncommented with its files made here, is accepted as written.
    @Test func theExampleCountySectionParses() async throws {
        let directory = try Processes.temporaryDirectory("county-example")
        defer { try? FileManager.default.removeItem(at: directory) }
        let ca = try await Self.certificate(in: directory)
        let key = Data(repeating: 7, count: 32).base64EncodedString()
        let files = [
            "/etc/dalaba/county-ca.crt": ca, "/etc/ssl/certs/ca-certificates.crt": ca,
            "/etc/dalaba/county.password": "secret", "/etc/dalaba/county.key.pub": key,
        ]
        let example = try String(contentsOf: Processes.packageRoot.appendingPathComponent("deploy/dalaba.toml"), encoding: .utf8)
        var inCounty = false
        var text = example.split(separator: "\n", omittingEmptySubsequences: false).compactMap { line -> String? in
            if line.hasPrefix("# [") { inCounty = line.hasPrefix("# [county]") }
            guard inCounty, line.hasPrefix("# ") else { return nil }
            let body = line.dropFirst(2)
            let name = body.prefix { $0.isLowercase || $0.isNumber || $0 == "-" }
            return body.hasPrefix("[") || (!name.isEmpty && body.dropFirst(name.count).hasPrefix(" = ")) ? String(body) : nil
        }.joined(separator: "\n")
        for (path, content) in files {
            let local = directory.appendingPathComponent((path as NSString).lastPathComponent)
            if !FileManager.default.fileExists(atPath: local.path) { try content.write(to: local, atomically: true, encoding: .utf8) }
            text = text.replacingOccurrences(of: "\"\(path)\"", with: "\"\(local.path)\"")
        }
        let county = try #require(try Configuration.parse(text, file: "dalaba.toml ([county] uncommented)").county)
        #expect(county.region == "370703001001" && county.password == "secret" && county.countyKey == key)
        #expect(county.headEndURL == "https://county.example.cn" && county.fetchToken == "change-me-village-fetch-token-1")
        #expect(county.caFile == directory.appendingPathComponent("county-ca.crt").path)
        #expect(county.headEndCAFile == directory.appendingPathComponent("ca-certificates.crt").path)
    }

    /// A CA certificate made by openssl, as PEM text.
    static func certificate(in directory: URL) async throws -> String {
        let path = directory.appendingPathComponent("made-ca.crt").path
        let result = try await Processes.run(
            "openssl",
            [
                "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                directory.appendingPathComponent("made-ca.key").path, "-subj", "/CN=Dalaba test CA", "-days", "2", "-out", path,
            ], timeout: 60)
        guard result.status == 0 else { throw Configuration.Invalid(description: "openssl failed: \(result.stderr)") }
        return try String(contentsOfFile: path, encoding: .utf8)
    }

    /// The fetch token goes only to `head-end-url`, so it needs one; the CA files must be PEM certificates, and
    /// `head-end-ca-file` belongs to an https head-end. Each refusal names the key.
    @Test func theCountyFetchKeysAreChecked() async throws {
        let directory = try Processes.temporaryDirectory("county-fetch-keys")
        defer { try? FileManager.default.removeItem(at: directory) }
        let ca = directory.appendingPathComponent("ca.crt").path
        try await Self.certificate(in: directory).write(toFile: ca, atomically: true, encoding: .utf8)
        func file(_ name: String, _ text: String) throws -> String {
            let path = directory.appendingPathComponent(name).path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let privateKey = try file("key.pem", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIA==\n-----END EC PRIVATE KEY-----\n")
        let garbage = try file("garbage.crt", "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
        let cut = try file("cut.crt", try String(contentsOfFile: ca, encoding: .utf8).components(separatedBy: "-----END").first ?? "")
        let key = Data(count: 32).base64EncodedString()
        let link = "[county]\nusername = \"u\"\npassword = \"p\"\nregion = \"370703001001\"\ncounty-key = \"\(key)\"\n"
        let https = "head-end-url = \"https://county.example.cn\"\n"
        let noUser = "county.head-end-url: must be an http or https URL with no user, query or fragment"
        let cases: [(String, String)] = [
            ("fetch-token = \"fetch-token-0123456789\"", "county.fetch-token: needs county.head-end-url: the token is sent only to the head-end"),
            (https + "fetch-token = \"\"", "county.fetch-token: is empty"),
            ("head-end-url = \"https://user:pw@county.example.cn\"", noUser),
            ("head-end-url = \"https://county.example.cn/?a=1\"", noUser),
            ("head-end-url = \"ftp://county.example.cn\"", "county.head-end-url: must be an http or https URL"),
            ("head-end-ca-file = \"\(ca)\"", "county.head-end-ca-file: needs an https county.head-end-url"),
            ("head-end-url = \"http://county.example.cn\"\nhead-end-ca-file = \"\(ca)\"", "county.head-end-ca-file: needs an https"),
            (https + "head-end-ca-file = \"/nonexistent/ca.crt\"", "county.head-end-ca-file: cannot read /nonexistent/ca.crt"),
            (https + "head-end-ca-file = \"\(privateKey)\"", "county.head-end-ca-file: \(privateKey) holds no PEM certificate (-----BEGIN"),
            (https + "head-end-ca-file = \"\(directory.path)\"", "county.head-end-ca-file: cannot read \(directory.path)"),
            ("ca-file = \"\(garbage)\"", "county.ca-file: \(garbage): certificate 1 is not base64 DER"),
            ("ca-file = \"\(cut)\"", "county.ca-file: \(cut): certificate 1 has no -----END CERTIFICATE-----"),
            ("ca-file = \"\(privateKey)\"", "county.ca-file: \(privateKey) holds no PEM certificate"),
        ]
        for (text, message) in cases {
            do {
                _ = try Configuration.parse(link + text)
                Issue.record("accepted: \(text)")
            } catch {
                #expect("\(error)".hasPrefix("dalaba.toml: " + message), "\(error)")
            }
        }
        let full = link + https + "ca-file = \"\(ca)\"\nhead-end-ca-file = \"\(ca)\"\nfetch-token = \"fetch-token-0123456789\""
        let county = try #require(try Configuration.parse(full).county)
        #expect(county.caFile == ca && county.headEndCAFile == ca && county.fetchToken == "fetch-token-0123456789")
        #expect(try Configuration.parse(link + https).county?.fetchToken == nil, "a head-end without a token is one that asks none")
        #expect(try Configuration.parse(link).county?.headEndURL == nil, "without head-end-url the village takes embedded audio only")
    }

    @Test func aSyntaxErrorNamesTheLine() {
        do {
            _ = try Configuration.parse("[device]\nname = \"hw:0\"\nrate = = 3\n")
            Issue.record("accepted")
        } catch {
            #expect("\(error)".hasPrefix("dalaba.toml:3: "), "\(error)")
        }
    }
}
