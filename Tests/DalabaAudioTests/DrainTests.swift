import DalabaAudio
import DalabaTestSupport
import Foundation
import Testing

/// The player's play-out at the end of a queue, on the clocked virtual card: it waits for what the device holds, a command
/// cuts the wait short, and a device that stops consuming cannot hold the player thread (alsa-lib's blocking drain would
/// wait for it without end).
@Suite(.serialized) struct DrainTests {
    @Test(.timeLimit(.minutes(10))) func playOutWaitsForTheTailReturnsOnAWakeAndGivesUpOnAStalledDevice() async throws {
        try await PacedDevice.with { paced in
            let environment = paced.environment
            let dir = try Processes.temporaryDirectory("drain").path
            let jackd = paced.jackdPID
            await #expect(processExitsWith: .success) { [environment = environment as [String: String], dir = dir as String, jackd = jackd as Int32] in
                PacedDevice.useInExitTest(environment)
                try Self.drains(in: URL(fileURLWithPath: dir), jackd: jackd)
            }
        }
    }

    /// Fills the device's buffer with silence; returns the frames it took.
    static func fill(_ device: PCMDevice) throws -> Int {
        let frames = device.format.periodFrames
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: frames * device.format.bytesPerFrame, alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: frames * device.format.bytesPerFrame)
        var total = 0
        while true {
            let n = try device.write(buffer, frames: frames)
            if n == 0 { return total }
            total += n
        }
    }

    static func drains(in dir: URL, jackd: Int32) throws {
        var format = OutputFormat(device: PacedDevice.pcm(capturingTo: dir.appendingPathComponent("drain.raw").path))
        format.bufferFrames = 9_600
        format.periodFrames = 2_400
        let device = try PCMDevice(format: format)
        let bufferSeconds = Double(device.format.bufferFrames) / Double(device.format.rate)
        var pipeEnds: [Int32] = [-1, -1]
        try #require(pipe(&pipeEnds) == 0)
        defer { for fd in pipeEnds { close(fd) } }

        // 1. A full buffer plays out: the wait lasts about as long as the audio it held, then the device is ready again.
        _ = try fill(device)
        var start = Date()
        #expect(try device.drain(orWake: pipeEnds[0]) == false)
        var took = Date().timeIntervalSince(start)
        #expect(took >= bufferSeconds * 0.5 && took < bufferSeconds + 1, "played out \(bufferSeconds) s of buffer in \(took) s")
        #expect(try fill(device) > 0, "ready for the next item")

        // 2. A command waiting cuts the wait short, and what the device holds plays on.
        var one: UInt8 = 1
        #expect(write(pipeEnds[1], &one, 1) == 1)
        start = Date()
        #expect(try device.drain(orWake: pipeEnds[0]) == true)
        took = Date().timeIntervalSince(start)
        #expect(took < 0.05, "woken at once: \(took) s")
        #expect(device.delay > 0, "the tail still plays")
        _ = read(pipeEnds[0], &one, 1)

        // 3. The server stops consuming mid-drain (as a JACK client the server dropped, or a card that hangs): the wait
        //    ends after the buffer's time and a second, not never.
        _ = try fill(device)
        kill(jackd, SIGSTOP)
        start = Date()
        let woken = try? device.drain(orWake: pipeEnds[0])
        took = Date().timeIntervalSince(start)
        kill(jackd, SIGCONT)
        #expect(woken != true)
        #expect(took < bufferSeconds + 3, "gave up on the stalled device after \(took) s")
    }
}
