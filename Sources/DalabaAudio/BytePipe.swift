import Foundation
import NIOCore

/// Bytes of one relay connection on their way from the HTTP client's event loop to a decoder that pulls them through a
/// read callback (libvorbisfile, libopusfile) on a thread of its own. Bounded: once `capacity` bytes wait, the writer's
/// future holds until the decoder has taken some, so a decoder held back by a full jitter buffer holds the connection's
/// reads, and TCP the server. The event loop never blocks; only the decoder's thread does.
final class BytePipe: @unchecked Sendable {
    /// About 4 s of a 128 kbit/s stream: ample for a body part or two, small next to the jitter buffer.
    static let defaultCapacity = 64 << 10

    let capacity: Int
    private let condition = NSCondition()
    private var pending = ByteBuffer()
    private var closed = false
    private var room: EventLoopPromise<Void>?

    init(capacity: Int = BytePipe.defaultCapacity) { self.capacity = capacity }

    /// Appends `bytes` (all of them: the caller sends the next part only once the future completes) and returns when the
    /// writer may send more: at once while the pipe is below capacity, else when the reader has made room or the pipe
    /// closed. Bytes written after `close()` are dropped.
    func write(_ bytes: ByteBuffer, on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return eventLoop.makeSucceededVoidFuture() }
        var bytes = bytes
        pending.writeBuffer(&bytes)
        condition.broadcast()
        guard pending.readableBytes >= capacity else { return eventLoop.makeSucceededVoidFuture() }
        let promise = room ?? eventLoop.makePromise(of: Void.self)
        room = promise
        return promise.futureResult
    }

    /// Copies up to `count` bytes into `target`, waiting until at least one is there; 0 once the pipe is closed and empty.
    func read(into target: UnsafeMutableRawPointer, count: Int) -> Int {
        condition.lock()
        while pending.readableBytes == 0 && !closed { condition.wait() }
        let taken = min(count, pending.readableBytes)
        if taken > 0 {
            pending.withUnsafeReadableBytes { target.copyMemory(from: $0.baseAddress!, byteCount: taken) }
            pending.moveReaderIndex(forwardBy: taken)
        }
        if pending.readableBytes == 0 { pending.clear() } else if pending.readerIndex > capacity { pending.discardReadBytes() }
        var released: EventLoopPromise<Void>?
        if pending.readableBytes < capacity {
            released = room
            room = nil
        }
        condition.unlock()
        released?.succeed()
        return taken
    }

    /// No more bytes will come (the connection ended) or be taken (the decoder ended): the reader drains what is left and
    /// then reads 0; a waiting writer goes on.
    func close() {
        condition.lock()
        closed = true
        let released = room
        room = nil
        condition.broadcast()
        condition.unlock()
        released?.succeed()
    }

    /// Drops what waits and closes: the decoder gave up, so nothing it has not read will ever be.
    func discard() {
        condition.lock()
        pending.clear()
        condition.unlock()
        close()
    }
}
