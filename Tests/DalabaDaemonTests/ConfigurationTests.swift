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

    @Test func aSyntaxErrorNamesTheLine() {
        do {
            _ = try Configuration.parse("[device]\nname = \"hw:0\"\nrate = = 3\n")
            Issue.record("accepted")
        } catch {
            #expect("\(error)".hasPrefix("dalaba.toml:3: "), "\(error)")
        }
    }
}
