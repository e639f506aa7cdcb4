import CGPIOD
import Foundation
import Synchronization

/// One GPIO chip opened through libgpiod 1.6: one Swift object per `gpiod_chip*`, closed in `deinit`.
final class GPIOChip {
    let handle: OpaquePointer
    let name: String

    /// `name` is what `gpiod_chip_open_lookup` takes: "gpiochip0", "/dev/gpiochip0", a chip label or a number.
    init(name: String) throws(HardwareError) {
        guard let handle = gpiod_chip_open_lookup(name) else {
            throw HardwareError("cannot open GPIO chip '\(name)' (amplifier.chip): \(String(cString: strerror(errno)))")
        }
        self.handle = handle
        self.name = name
    }

    deinit { gpiod_chip_close(handle) }
}

/// One line of a chip requested as an output for as long as this object lives (released in `deinit`); the chip is kept
/// alive with it, since libgpiod frees a chip's lines with the chip.
final class GPIOOutputLine {
    private let chip: GPIOChip
    private let handle: OpaquePointer
    let offset: Int

    init(chip: GPIOChip, offset: Int, activeLow: Bool, consumer: String) throws(HardwareError) {
        guard let line = gpiod_chip_get_line(chip.handle, UInt32(offset)) else {
            throw HardwareError("GPIO chip '\(chip.name)' has no line \(offset) (amplifier.line): \(String(cString: strerror(errno)))")
        }
        let flags = activeLow ? Int32(GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW) : 0
        // Requested switched off: a daemon that starts must not power the amplifier before anything plays.
        guard gpiod_line_request_output_flags(line, consumer, flags, 0) == 0 else {
            throw HardwareError(
                "cannot request GPIO chip '\(chip.name)' line \(offset) as an output: \(String(cString: strerror(errno)))")
        }
        self.chip = chip
        self.handle = line
        self.offset = offset
    }

    deinit { gpiod_line_release(handle) }

    /// Sets the line's logical value (libgpiod inverts it for an active-low line).
    func set(_ on: Bool) throws(HardwareError) {
        guard gpiod_line_set_value(handle, on ? 1 : 0) == 0 else {
            throw HardwareError(
                "cannot set GPIO chip '\(chip.name)' line \(offset) \(on ? "on" : "off"): \(String(cString: strerror(errno)))")
        }
    }
}

/// The amplifier's power on a GPIO line (a relay or the amplifier's enable pin). The line is requested at the first
/// switch and kept; a chip that cannot be opened is retried at the next switch, so a fault is reported per attempt with
/// the chip's name and the daemon keeps playing without it.
public final class GPIOAmplifier: AmplifierSwitch {
    public let chip: String
    public let line: Int
    public let activeLow: Bool
    private let output = Mutex<GPIOOutputLine?>(nil)

    public init(chip: String, line: Int, activeLow: Bool) {
        self.chip = chip
        self.line = line
        self.activeLow = activeLow
    }

    public var name: String { "gpio \(chip) line \(line)\(activeLow ? " (active low)" : "")" }

    public func switchOn() throws(HardwareError) { try set(true) }
    public func switchOff() throws(HardwareError) { try set(false) }

    /// Opens the chip and requests the line now, so a misconfigured chip shows at start-up and not at the first item.
    public func open() throws(HardwareError) {
        try output.withLock { (held: inout GPIOOutputLine?) throws(HardwareError) in
            if held == nil { held = try GPIOOutputLine(chip: GPIOChip(name: chip), offset: line, activeLow: activeLow, consumer: "dalabad") }
        }
    }

    private func set(_ on: Bool) throws(HardwareError) {
        try output.withLock { (held: inout GPIOOutputLine?) throws(HardwareError) in
            if held == nil { held = try GPIOOutputLine(chip: GPIOChip(name: chip), offset: line, activeLow: activeLow, consumer: "dalabad") }
            try held?.set(on)
        }
    }
}
