/// Something that switches the loudspeaker amplifier's power: a GPIO line, a relay command. The `AmplifierSequencer`
/// decides when; a switch only does it. Calls block (a process runs, an ioctl is made), so callers run them off Swift's
/// cooperative pool.
public protocol AmplifierSwitch: Sendable {
    /// What it is, for logs and status: "gpio gpiochip0 line 17", "command".
    var name: String { get }
    func switchOn() throws(HardwareError)
    func switchOff() throws(HardwareError)
}

/// A failure of the hardware edge, carrying the system's own reason (errno text, a command's exit status and stderr).
public struct HardwareError: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
