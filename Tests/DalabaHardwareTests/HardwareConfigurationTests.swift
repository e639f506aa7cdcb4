import DalabaAudio
import DalabaCore
import DalabaStation
import Foundation
import Testing

/// `[amplifier]` and `[volume]`: every key read, defaults that work on a fresh machine, and a bad key or value named.
@Suite struct HardwareConfigurationTests {
    @Test func defaultsAreNoAmplifierSwitchAndFullVolume() throws {
        let config = try Configuration.parse("")
        #expect(config.amplifier.backend == .none)
        #expect(config.amplifier.sequencing == AmplifierSequencer.Configuration(warmUp: 1.5, emergencyWarmUp: 1.5, idleOff: 60))
        #expect(config.volume.mixer == nil)
        for kind in Kind.allCases { #expect(config.volume.levels.volume(kind: kind, level: kind == .emergency ? 1 : nil) == 0) }
    }

    @Test func everyKeyIsRead() throws {
        let config = try Configuration.parse(
            """
            [device]
            name = "plughw:CARD=Device,DEV=0"

            [amplifier]
            backend = "gpio"
            chip = "gpiochip1"
            line = 17
            active-low = true
            warm-up = 2.5
            emergency-warm-up = 0
            idle-off = 120

            [volume]
            base = -6
            routine = -6
            policy = -2.5
            rumor-rebuttal = 0
            emergency = -1
            emergency-4 = -3
            mixer = "Speaker"
            """)
        #expect(config.amplifier.backend == .gpio && config.amplifier.chip == "gpiochip1" && config.amplifier.line == 17)
        #expect(config.amplifier.activeLow)
        #expect(config.amplifier.sequencing == .init(warmUp: 2.5, emergencyWarmUp: 0, idleOff: 120))
        let levels = config.volume.levels
        #expect(levels.volume(kind: .routine, level: nil) == -12)
        #expect(levels.volume(kind: .policy, level: nil) == -8.5)
        #expect(levels.volume(kind: .rumorRebuttal, level: nil) == -6)
        #expect(levels.volume(kind: .emergency, level: 1) == -1, "emergencies ignore the base")
        #expect(levels.volume(kind: .emergency, level: 4) == -3)
        // The mixer of a card named by CARD= is that card's controls, whatever its index after a re-plug.
        #expect(config.volume.mixer == Mixer.Target(device: "hw:CARD=Device", element: "Speaker"))
    }

    @Test(arguments: [
        ("[amplifier]\nbackend = \"relay\"", "dalaba.toml: amplifier.backend: must be gpio, command or none, not relay"),
        ("[amplifier]\nbackend = \"command\"", "dalaba.toml: amplifier.on-command: is needed with backend = \"command\""),
        ("[amplifier]\nwarmup = 1", "dalaba.toml: amplifier.warmup: unknown key"),
        ("[amplifier]\nwarm-up = -1", "dalaba.toml: amplifier.warm-up: -1.0 is outside 0.0–60.0"),
        ("[amplifier]\nactive-low = \"yes\"", "dalaba.toml: amplifier.active-low: must be true or false"),
        ("[volume]\npolicy = 6", "dalaba.toml: volume.policy: 6.0 is outside -60.0–0.0"),
        ("[volume]\nemergency-5 = 0", "dalaba.toml: volume.emergency-5: unknown key"),
        ("[volume]\nbase = \"loud\"", "dalaba.toml: volume.base: must be a number"),
        ("[volume]\nmixer-device = \"hw:0\"", "dalaba.toml: volume.mixer-device: needs volume.mixer"),
        ("amplifier = 1", "dalaba.toml: amplifier: must be a table ([amplifier])"),
    ])
    func aBadKeyIsAnErrorNamingIt(text: String, message: String) {
        #expect {
            _ = try Configuration.parse(text)
        } throws: { "\($0)".hasPrefix(message) }
    }
}
