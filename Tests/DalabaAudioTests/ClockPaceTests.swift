import DalabaAudio
import Foundation
import Testing

/// ALSA's `null` device takes frames as fast as they come, so a demo county or a load run on it decoded a whole item in one
/// burst. `[device] pace` holds such a device to the clock, as a card holds itself: at no moment more than its buffer ahead.
@Suite struct ClockPaceTests {
    static let rate = 48_000

    /// Hands `seconds` of silence a period at a time, waiting as the player does; returns the wall time it took and the most
    /// frames ever handed ahead of the time since the first.
    static func play(_ device: PCMDevice, seconds: Double, wake: Int32) throws -> (took: Double, ahead: Int) {
        let period = device.format.periodFrames
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: period * device.format.bytesPerFrame, alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: period * device.format.bytesPerFrame)
        let total = Int(seconds * Double(rate))
        let start = Date()
        var handed = 0
        var ahead = 0
        while handed < total {
            let n = try device.write(buffer, frames: min(period, total - handed))
            handed += n
            ahead = max(ahead, handed - Int(Date().timeIntervalSince(start) * Double(rate)))
            if n == 0 { _ = try device.waitForSpace(orWake: wake) }
        }
        return (Date().timeIntervalSince(start), ahead)
    }

    @Test func aPacedNullDeviceTakesTwoSecondsOfAudioInTwoSecondsAndNeverRunsMoreThanItsBufferAhead() throws {
        var pipeEnds: [Int32] = [-1, -1]
        try #require(pipe(&pipeEnds) == 0)
        defer { for fd in pipeEnds { close(fd) } }

        let unpaced = try Self.play(try PCMDevice(format: OutputFormat(device: "null")), seconds: 2, wake: pipeEnds[0])
        #expect(unpaced.took < 1, "null alone takes 2 s of audio in \(unpaced.took) s: the reason for pacing")

        var format = OutputFormat(device: "null")
        format.paced = true
        let device = try PCMDevice(format: format)
        let paced = try Self.play(device, seconds: 2, wake: pipeEnds[0])
        let allowance = device.format.bufferFrames
        #expect(paced.took >= 2 - Double(allowance) / Double(Self.rate) - 0.01, "2 s of audio handed in \(paced.took) s")
        #expect(paced.took < 4, "2 s of audio handed in \(paced.took) s")
        // Measured after each write, so the write's own time is on the device's side: the bound is exact.
        #expect(paced.ahead <= allowance, "handed \(paced.ahead) frames ahead of the clock; the buffer is \(allowance)")

        // After a pause (an idle queue) the next item starts at once with a buffer's worth, not a rush to catch up.
        Thread.sleep(forTimeInterval: 0.3)
        let afterPause = try Self.play(device, seconds: 1, wake: pipeEnds[0])
        #expect(afterPause.ahead <= allowance, "after a pause, \(afterPause.ahead) frames ahead; the buffer is \(allowance)")
        #expect(afterPause.took >= 1 - Double(allowance) / Double(Self.rate) - 0.01, "1 s after a pause in \(afterPause.took) s")
    }

    @Test func aCommandCutsAPacingWaitShort() throws {
        var pipeEnds: [Int32] = [-1, -1]
        try #require(pipe(&pipeEnds) == 0)
        defer { for fd in pipeEnds { close(fd) } }
        var format = OutputFormat(device: "null")
        format.paced = true
        format.periodFrames = 4_800
        format.bufferFrames = 9_600
        let device = try PCMDevice(format: format)
        let period = device.format.periodFrames
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: period * device.format.bytesPerFrame, alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: period * device.format.bytesPerFrame)
        while try device.write(buffer, frames: period) > 0 {}
        var one: UInt8 = 1
        #expect(write(pipeEnds[1], &one, 1) == 1)
        let start = Date()
        #expect(try device.waitForSpace(orWake: pipeEnds[0]) == true, "woken by the command")
        #expect(Date().timeIntervalSince(start) < 0.05)
        _ = read(pipeEnds[0], &one, 1)
        // Without a command the wait ends when a period may be handed: a tenth of a second at most here.
        let waited = Date()
        #expect(try device.waitForSpace(orWake: pipeEnds[0]) == false)
        #expect(Date().timeIntervalSince(waited) < 0.2)
        #expect(try device.write(buffer, frames: period) > 0)
    }
}
