import DalabaHardware
import Foundation
import Testing

/// The GPIO backend on a machine without the chip (these build machines have no GPIO at all): a clear error naming the
/// chip and the configuration key, at opening and at every switch, never a crash. Its sequencing is the
/// `AmplifierSequencer`'s, which the command backend's end-to-end tests exercise.
@Suite struct GPIOAmplifierTests {
    @Test func aChipThatDoesNotExistIsAnErrorNamingIt() {
        let amplifier = GPIOAmplifier(chip: "gpiochip97", line: 17, activeLow: true)
        #expect(amplifier.name == "gpio gpiochip97 line 17 (active low)")
        for attempt in [amplifier.open, amplifier.switchOn, amplifier.switchOff] {
            #expect {
                try attempt()
            } throws: { error in
                let text = "\(error)"
                return text.contains("gpiochip97") && text.contains("amplifier.chip") && text.contains("No such file or directory")
            }
        }
    }

    @Test func aChipPathThatIsNotAChipIsRefused() {
        // /dev/null exists but is no GPIO chip: libgpiod says so rather than letting the line be used.
        let amplifier = GPIOAmplifier(chip: "/dev/null", line: 0, activeLow: false)
        #expect(throws: HardwareError.self) { try amplifier.open() }
    }
}
