import DalabaProcess
import Foundation

/// The amplifier's power through two shell commands, such as Debian's `usbrelay REL1=1` and `usbrelay REL1=0` for a USB
/// relay board. A command that exits non-zero, cannot start or outlives `timeout` is a failure carrying its exit status and
/// the first line it wrote to stderr.
public struct CommandAmplifier: AmplifierSwitch {
    public var onCommand: String
    public var offCommand: String
    public var timeout: Double

    public init(onCommand: String, offCommand: String, timeout: Double = 10) {
        self.onCommand = onCommand
        self.offCommand = offCommand
        self.timeout = timeout
    }

    public var name: String { "command" }

    public func switchOn() throws(HardwareError) { try run(onCommand, key: "amplifier.on-command") }
    public func switchOff() throws(HardwareError) { try run(offCommand, key: "amplifier.off-command") }

    private func run(_ command: String, key: String) throws(HardwareError) {
        guard !command.isEmpty else { return }
        // A `Child`, not a `Process`: a command that leaves a job running (`amp-ctl on &`) would hand the job Foundation's exit
        // socket, and the command's own exit would not be seen until the job ended.
        let process = Child()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = nil
        process.standardInput = nil
        do {
            try process.run()
        } catch {
            throw HardwareError("\(key) '\(command)' cannot start: \(error)")
        }
        let output = ChildOutput(errors)
        if !process.wait(timeout: timeout) {
            process.kill()
            process.waitUntilExit()
            throw HardwareError("\(key) '\(command)' did not finish within \(timeout) s and was killed")
        }
        // A job the command left running keeps its stderr open: what it wrote by now is all that is waited for.
        let text = output.text(within: 0.5)
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let how = process.terminationReason == .exit ? "exited with status \(process.terminationStatus)" : "was killed by signal \(process.terminationStatus)"
            let first = text.split(separator: "\n").first.map { ": \($0.prefix(200))" } ?? ""
            throw HardwareError("\(key) '\(command)' \(how)\(first)")
        }
    }
}
