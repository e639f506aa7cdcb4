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
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        let errors = ChildStart.pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        do {
            try ChildStart.run(process)
        } catch {
            throw HardwareError("\(key) '\(command)' cannot start: \(error.localizedDescription)")
        }
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            kill(process.processIdentifier, SIGKILL)
            exited.wait()
            throw HardwareError("\(key) '\(command)' did not finish within \(timeout) s and was killed")
        }
        let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let how = process.terminationReason == .exit ? "exited with status \(process.terminationStatus)" : "was killed by signal \(process.terminationStatus)"
            let first = text.split(separator: "\n").first.map { ": \($0.prefix(200))" } ?? ""
            throw HardwareError("\(key) '\(command)' \(how)\(first)")
        }
    }
}
