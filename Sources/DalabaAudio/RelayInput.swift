import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

extension Player {
    /// A relayed stream (转播: the county's live programme from an Icecast/HTTP MP3, Ogg Vorbis or Ogg Opus stream) in place of
    /// a capture input.
    public struct Relay: Sendable, Equatable {
        /// An http or https address, without credentials (they would be logged).
        public var url: String
        /// Seconds of silence or missing audio after which the relay counts as dead air.
        public var deadAirSeconds: Double
        /// What plays on dead air before the item ends (failed, "dead air"); nil ends it at once.
        public var fallback: String?
        /// Audio gathered before the first frame, and again after the buffer ran dry: rides out network jitter.
        public var prebufferSeconds: Double
        /// The fallback's loudness gain (the item's volume comes on top).
        public var fallbackGain: Float
        /// Whether a redirect is followed (up to 5). Off while the station allows only some hosts (`[live] relay-hosts`):
        /// a redirect could lead anywhere.
        public var followsRedirects: Bool
        /// The device's period in milliseconds, set by the player: how long it waits when it has no audio to give.
        var periodMilliseconds = 5
        public init(
            url: String, deadAirSeconds: Double = 10, fallback: String? = nil, fallbackGain: Float = 1, prebufferSeconds: Double = 1,
            followsRedirects: Bool = true
        ) {
            self.followsRedirects = followsRedirects
            self.url = url
            self.deadAirSeconds = deadAirSeconds
            self.fallback = fallback
            self.fallbackGain = fallbackGain
            self.prebufferSeconds = prebufferSeconds
        }
    }

    /// The relay on air, for status pages and metrics.
    public struct RelayStatus: Sendable, Equatable {
        public var url: String
        /// True while a response with audio is being received.
        public var connected: Bool
        /// Connections made again after the first.
        public var reconnects: Int
        /// Set once the relay has been silent or without data for the dead-air time (it then falls back or ends).
        public var deadAir: Bool
        /// Why the last connection ended or failed.
        public var lastError: String?
        /// Audio in the jitter buffer, in seconds of the device's rate.
        public var bufferedSeconds: Double = 0
        /// The dead-air time configured for the relay: silence or no data this long ends it or plays its fallback.
        public var deadAirSeconds: Double = 0
        /// The source clock's drift against the card's as the drift corrector estimates it, in ppm (positive: fast).
        public var driftPPM: Double = 0
    }
}

/// A relayed stream as a live feed: a streaming HTTP GET (AsyncHTTPClient's response delegate) decoded (libmpg123 for MP3,
/// libvorbisfile or libopusfile for Ogg) and converted to the device format off the player thread, into a jitter buffer the
/// player reads a period at a time; the conversion's ratio follows the drift corrector, so the buffer stays at its fill. While the
/// stream is down or the buffer refills, the player gets silence, so the item keeps its place on air; a dropped or ended
/// connection is made again with backoff (0.5 s doubling to 5 s).
final class RelayInput: LiveFeed {
    let relay: Player.Relay
    private let stream: RelayStream

    init(relay: Player.Relay, format: OutputFormat, health: HealthState, logger: Logger) {
        var relay = relay
        relay.periodMilliseconds = format.periodFrames * 1_000 / format.rate
        self.relay = relay
        stream = RelayStream(relay: relay, format: format, health: health, logger: logger)
        let thread = Thread { [stream] in stream.run() }
        thread.name = "dalaba-relay"
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// The connection thread ends on its own once told; the player never waits for the network.
    deinit { stream.stop() }

    /// Stops the connection now, so nothing it does later touches the status of what plays next.
    func close() { stream.stop() }

    /// Always fills `frames`: with the stream's audio when the buffer has it, else with silence (the stream is down or
    /// refilling). Throws when the stream turned out not to be audio before it ever played.
    func read(into buffer: UnsafeMutableRawPointer, frames: Int) throws(AudioError) -> Int {
        try stream.read(into: buffer, frames: frames)
    }

    /// With audio buffered, only a waiting command is looked for, without blocking: the device's own pace holds the
    /// player back. Without it, a period's time passes first (or a command wakes it), so silence is never made faster
    /// than real time, even on a device that takes frames at once (`null`, a file).
    func waitForData(orWake wakeDescriptor: Int32) throws(AudioError) -> Bool {
        var descriptor = pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0)
        let wait = stream.hasAudio ? 0 : Int32(max(1, relay.periodMilliseconds))
        return poll(&descriptor, 1, wait) > 0 && descriptor.revents & Int16(POLLIN) != 0
    }

    func inputFailure(_ error: AudioError) -> AudioError { error }

    /// Marks the relay as dead air in its status and returns the reason for the log row.
    func deadAir() -> String { stream.markDeadAir() }
}

/// The network side of a relay: one connection at a time, made and made again on its own thread, the decoding on the
/// HTTP client's event loop (`RelayConnection`), and the jitter buffer between them and the player. All mutable state is
/// guarded by `condition`. AsyncHTTPClient rather than URLSession: Foundation's Linux URLSession refuses Icecast's
/// responses ("Failed writing header" on its `icy-name:` header lines).
final class RelayStream: @unchecked Sendable {
    let relay: Player.Relay
    let format: OutputFormat
    let logger: Logger
    /// Where the status is published (`health.relay`).
    private let health: HealthState
    private let condition = NSCondition()
    private let prebufferBytes: Int
    /// Device-format bytes, oldest first, at most 8 s: beyond it the oldest go, so a source whose clock runs fast
    /// cannot grow the delay without bound.
    private var ring: [UInt8]
    private var ringStart = 0
    private var ringCount = 0
    private var refilling = true
    private var stopped = false
    private var connectionEnded = false
    private var task: HTTPClient.Task<Void>?
    /// The stream's failure before it ever gave audio, when that failure is its content (not audio, an HTTP error):
    /// retrying would not change it, so the item fails with it.
    private var failure: AudioError?
    private var everPlayed = false
    private var audioThisConnection = false
    private var current = Player.RelayStatus(url: "", connected: false, reconnects: 0, deadAir: false, lastError: nil)
    /// Completed once the player has taken the buffer down to `lowWater`: until then the connection reads no more, so
    /// a server that sends faster than real time is held back by TCP instead of being decoded and thrown away.
    private var room: EventLoopPromise<Void>?
    /// Set while an Ogg decoder's thread waits in `waitForRoom`.
    private var decoderWaiting = false
    /// The pipe of the connection on air when it decodes on a thread of its own (Ogg): discarded on stop, so that thread ends.
    private var pipe: BytePipe?
    /// The decoded format of the last block, to log a chained stream's change of rate or channels.
    private var currentFormat: StreamFormat?
    private let highWater: Int
    private let lowWater: Int
    /// When the connection last gave data or was let read again.
    private var lastHeard = Date()
    static let stallSeconds = 5.0
    /// Holds the buffer at the fill it settled at after play (re)started, against the drift between the source's clock
    /// and the card's: it sees the fill at each period the player reads, on the card's clock, and the conversion of what
    /// arrives runs at its ratio.
    private var drift: DriftCorrector
    /// Device frames played since play (re)started, while the fill settles; nil once the corrector holds it.
    private var settling: Int? = 0
    /// Far beyond two real clocks' drift (well under 0.1 %), so even a badly wrong source clock is followed; at most 17
    /// cents of pitch while it is.
    static let maximumCorrection = 0.01
    /// A relay's fill moves by a whole page or TCP burst at a time (up to a second of audio), not by a capture period, so
    /// its loop is ten times slower than a capture's (about five minutes to settle, a fraction of a cent of wobble) and
    /// its fill is smoothed over ten seconds; before the first correction it settles for three of those.
    static let driftLoopFrequency = 0.01
    static let driftSmoothingSeconds = 10.0
    static let driftSettlingSeconds = 30.0
    /// Device frames dropped because the buffer was full, and periods the player found it dry after playing had begun:
    /// what the drift corrector is there to prevent.
    private(set) var overflowFrames = 0
    private(set) var underruns = 0

    init(relay: Player.Relay, format: OutputFormat, health: HealthState, logger: Logger) {
        self.relay = relay
        self.format = format
        self.health = health
        self.logger = logger
        prebufferBytes = Int(relay.prebufferSeconds * Double(format.rate)) * format.bytesPerFrame
        ring = .init(repeating: 0, count: 8 * format.rate * format.bytesPerFrame)
        // Held back from 4 s down to 3.5 s, leaving room below the 8 s cap for what one large read decodes to.
        highWater = 4 * format.rate * format.bytesPerFrame
        lowWater = 7 * format.rate * format.bytesPerFrame / 2
        var settings = DriftCorrector.Settings(
            rate: format.rate, bufferFrames: ring.count / format.bytesPerFrame, periodFrames: max(1, format.periodFrames))
        settings.maximumCorrection = Self.maximumCorrection
        settings.loopFrequency = Self.driftLoopFrequency
        settings.smoothingSeconds = Self.driftSmoothingSeconds
        drift = DriftCorrector(settings: settings)
        current.url = relay.url
        current.deadAirSeconds = relay.deadAirSeconds
        health.relay.withLock { $0 = current }
    }

    /// Connects, and connects again after each drop with backoff, until stopped or failed for good.
    func run() {
        // No read timeout of the client's: while the buffer is full the connection reads nothing on purpose, so a stalled
        // server is told apart below, by no data for `stallSeconds` while the connection was free to read.
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: relay.followsRedirects ? .follow(max: 5, allowCycles: false) : .disallow, timeout: .init(connect: .seconds(3), read: nil),
            decompression: .disabled)
        configuration.httpVersion = .http1Only
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        defer { try? client.syncShutdown() }
        let request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(url: relay.url, method: .GET, headers: ["Icy-MetaData": "0", "User-Agent": "dalaba"])
        } catch {
            fail(.unreadable(path: relay.url, reason: "not a URL the relay can fetch: \(error)"))
            return
        }
        var backoff = 0.5
        var first = true
        while true {
            condition.lock()
            if stopped || failure != nil {
                condition.unlock()
                return
            }
            if !first { update { $0.reconnects += 1 } }
            first = false
            connectionEnded = false
            audioThisConnection = false
            condition.unlock()
            let next = client.execute(request: request, delegate: RelayConnection(stream: self))
            next.futureResult.whenComplete { [self] _ in ended() }
            condition.lock()
            task = next
            lastHeard = Date()
            if stopped { next.cancel() }
            while !connectionEnded && !stopped {
                if !condition.wait(until: Date(timeIntervalSinceNow: 1)), room == nil, Date().timeIntervalSince(lastHeard) > Self.stallSeconds {
                    update { $0.lastError = "no data for \(Int(Self.stallSeconds)) s" }
                    lastHeard = .distantFuture
                    next.cancel()
                }
            }
            task = nil
            if stopped || failure != nil {
                condition.unlock()
                next.cancel()
                return
            }
            if audioThisConnection { backoff = 0.5 }
            let reason = current.lastError ?? "the stream ended"
            update { $0.connected = false }
            condition.unlock()
            logger.warning("relay down; connecting again", metadata: ["url": "\(relay.url)", "reason": "\(reason)", "in": "\(backoff) s"])

            condition.lock()
            let deadline = Date(timeIntervalSinceNow: backoff)
            while !stopped, condition.wait(until: deadline) {}
            condition.unlock()
            backoff = min(backoff * 2, 5)
        }
    }

    func stop() {
        condition.lock()
        stopped = true
        pipe?.discard()
        pipe = nil
        let running = task
        let waiting = room
        room = nil
        condition.broadcast()
        condition.unlock()
        waiting?.succeed()
        // The status stays until the player ends the item: on dead air it keeps saying so while the fallback plays.
        running?.cancel()
    }

    func read(into buffer: UnsafeMutableRawPointer, frames: Int) throws(AudioError) -> Int {
        let wanted = frames * format.bytesPerFrame
        condition.lock()
        defer { condition.unlock() }
        if let failure { throw failure }
        var copied = 0
        if refilling, ringCount >= prebufferBytes {
            refilling = false
            settling = 0
            drift.restart(fill: ringCount / format.bytesPerFrame)
        }
        if !refilling {
            observeDrift(frames: frames)
            let taken = min(wanted, ringCount - ringCount % format.bytesPerFrame)
            ring.withUnsafeBytes { source in
                let firstPart = min(taken, source.count - ringStart)
                buffer.copyMemory(from: source.baseAddress! + ringStart, byteCount: firstPart)
                if taken > firstPart { (buffer + firstPart).copyMemory(from: source.baseAddress!, byteCount: taken - firstPart) }
            }
            ringStart = (ringStart + taken) % ring.count
            ringCount -= taken
            copied = taken
            // Ran dry: the rest is silence, and audio returns only once the prebuffer has filled again.
            if copied < wanted {
                refilling = true
                underruns += 1
            }
        }
        if copied < wanted { (buffer + copied).initializeMemory(as: UInt8.self, repeating: 0, count: wanted - copied) }
        if ringCount <= lowWater {
            if let waiting = room {
                room = nil
                lastHeard = Date()
                waiting.succeed()
            }
            if decoderWaiting { condition.broadcast() }
        }
        current.bufferedSeconds = Double(ringCount / format.bytesPerFrame) / Double(format.rate)
        if !stopped {
            let (buffered, ppm) = (current.bufferedSeconds, current.driftPPM)
            health.relay.withLock {
                $0?.bufferedSeconds = buffered
                $0?.driftPPM = ppm
            }
        }
        return frames
    }

    /// For a decoder on its own thread (Ogg): waits while the buffer is above `highWater` until the player has taken it
    /// down to `lowWater`, as `roomToRead` holds the connection for one on the event loop. False once the relay stopped.
    func waitForRoom() -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard ringCount > highWater else { return !stopped }
        decoderWaiting = true
        while ringCount > lowWater && !stopped { condition.wait() }
        decoderWaiting = false
        lastHeard = Date()
        return !stopped
    }

    /// Converts a decoded block to the device format (a new converter when the stream's format changed, as at a chained
    /// Ogg stream's next track) at the ratio the drift corrector gives, and buffers it.
    func deliver(_ samples: UnsafeBufferPointer<Float>, _ decoded: StreamFormat, converter: inout StreamConverter?) throws(AudioError) {
        if converter?.sourceRate != decoded.rate || converter?.sourceChannels != decoded.channels {
            converter = try StreamConverter(rate: decoded.rate, channels: decoded.channels, output: format, maximumCorrection: Self.maximumCorrection)
            condition.lock()
            let previous = currentFormat
            currentFormat = decoded
            condition.unlock()
            if let previous, previous != decoded {
                logger.info("relay stream format changed", metadata: ["url": "\(relay.url)", "from": "\(previous)", "to": "\(decoded)"])
            }
        }
        guard let converter else { return }
        try converter.correct(to: driftRatio)
        try converter.convert(samples) { append($0) }
    }

    /// Shows the drift corrector the fill as the player takes `frames` (on the card's clock): while it settles after play
    /// (re)started, only smoothed; then corrected. A fill so high the corrector asks to skip drops the oldest frames back
    /// to its target; a low one needs nothing here, since the buffer refills on its own once dry. Called with `condition`
    /// held.
    private func observeDrift(frames: Int) {
        let fill = ringCount / format.bytesPerFrame
        if let played = settling {
            drift.settle(fill: fill, elapsedFrames: frames)
            if Double(played + frames) >= Self.driftSettlingSeconds * Double(format.rate) {
                drift.hold()
                settling = nil
            } else {
                settling = played + frames
            }
            return
        }
        if case .skip(let skipped, _) = drift.observe(fill: fill, elapsedFrames: frames), skipped > 0 {
            dropOldest(skipped * format.bytesPerFrame)
        }
        current.driftPPM = drift.estimatedDriftPPM
    }

    /// The ratio the drift corrector runs the conversion at now (output frames per input frame).
    var driftRatio: Double {
        condition.lock()
        defer { condition.unlock() }
        return drift.ratio
    }

    /// The fill the drift corrector holds the buffer at, in device frames.
    var driftTarget: Double {
        condition.lock()
        defer { condition.unlock() }
        return drift.settings.targetFill
    }

    /// Audio buffered, in device frames.
    var bufferedFrames: Int {
        condition.lock()
        defer { condition.unlock() }
        return ringCount / format.bytesPerFrame
    }

    /// Whole frames off the oldest end; called with `condition` held.
    private func dropOldest(_ bytes: Int) {
        let dropped = min(ringCount, bytes - bytes % format.bytesPerFrame)
        ringStart = (ringStart + dropped) % ring.count
        ringCount -= dropped
        overflowFrames += dropped / format.bytesPerFrame
    }

    /// When the connection may read on: at once while the buffer is below `highWater`, else once the player has taken
    /// it down to `lowWater`.
    func roomToRead(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        condition.lock()
        defer { condition.unlock() }
        guard ringCount > highWater, !stopped else { return eventLoop.makeSucceededVoidFuture() }
        let promise = room ?? eventLoop.makePromise(of: Void.self)
        room = promise
        return promise.futureResult
    }

    /// True when a read now gives the stream's audio rather than silence.
    var hasAudio: Bool {
        condition.lock()
        defer { condition.unlock() }
        return refilling ? ringCount >= prebufferBytes : ringCount > 0
    }

    func markDeadAir() -> String {
        condition.lock()
        defer { condition.unlock() }
        update { $0.deadAir = true }
        let seconds = relay.deadAirSeconds == relay.deadAirSeconds.rounded() ? "\(Int(relay.deadAirSeconds))" : "\(relay.deadAirSeconds)"
        return "dead air: no audio from \(relay.url) for \(seconds) s" + (current.lastError.map { " (\($0))" } ?? "")
    }

    // MARK: From the connection (the event loop)

    /// The response head was audio: the connection counts as up.
    func connected() {
        condition.lock()
        update {
            $0.connected = true
            $0.lastError = nil
        }
        condition.unlock()
        logger.info("relay connected", metadata: ["url": "\(relay.url)"])
    }

    /// The connection ended, by the server, an error or a cancel: the connection thread decides what follows.
    private func ended() {
        condition.lock()
        if current.lastError == nil { update { $0.lastError = "the stream ended" } }
        connectionEnded = true
        condition.broadcast()
        condition.unlock()
    }

    /// Why the connection failed (a refused connect, a timeout), unless a reason was already given.
    func note(_ error: any Error) {
        condition.lock()
        if current.connected || current.lastError == nil {
            update { $0.lastError = String(String(describing: error).prefix(300)) }
        }
        condition.unlock()
    }

    // MARK: Helpers

    /// Why a response is not an audio stream, or nil when it may be one.
    static func refusal(status: HTTPResponseStatus, contentType: String?) -> String? {
        let type = StreamCodec.mediaType(contentType)
        guard (200..<300).contains(status.code) else {
            if (300..<400).contains(status.code) {
                return "not audio: HTTP \(status.code) \(status.reasonPhrase), a redirect (relays follow none while [live] relay-hosts is set)"
            }
            return "not audio: HTTP \(status.code) \(status.reasonPhrase)" + (type.isEmpty ? "" : " (\(type))")
        }
        if type.hasPrefix("text/") || type.contains("html") || type.contains("json") || type.contains("xml") {
            return "not audio: the server sent \(type)"
        }
        if type.contains("aac") || type.contains("flac") || type.contains("mp4") || type.contains("webm") || type.contains("x-matroska") {
            return "\(type) is not relayed: the station relays MP3, Ogg Vorbis and Ogg Opus streams"
        }
        return nil
    }

    /// A failure of this connection: before the relay ever played it fails the item; after, the stream is retried.
    func drop(_ error: AudioError) {
        condition.lock()
        if !everPlayed { failure = error }
        update {
            $0.connected = false
            $0.lastError = error.description
        }
        condition.broadcast()
        condition.unlock()
        logger.error("relay refused", metadata: ["url": "\(relay.url)", "error": "\(error)"])
    }

    private func fail(_ error: AudioError) {
        condition.lock()
        failure = error
        condition.unlock()
    }

    func append(_ bytes: UnsafeRawBufferPointer) {
        condition.lock()
        defer { condition.unlock() }
        everPlayed = true
        audioThisConnection = true
        lastHeard = Date()
        var source = bytes
        if source.count > ring.count { source = UnsafeRawBufferPointer(rebasing: source[(source.count - ring.count)...]) }
        let overflow = ringCount + source.count - ring.count
        // Whole frames only, so the buffer stays aligned to frames.
        if overflow > 0 { dropOldest(overflow + (format.bytesPerFrame - overflow % format.bytesPerFrame) % format.bytesPerFrame) }
        let end = (ringStart + ringCount) % ring.count
        ring.withUnsafeMutableBytes { target in
            let firstPart = min(source.count, target.count - end)
            (target.baseAddress! + end).copyMemory(from: source.baseAddress!, byteCount: firstPart)
            if source.count > firstPart {
                target.baseAddress!.copyMemory(from: source.baseAddress! + firstPart, byteCount: source.count - firstPart)
            }
        }
        ringCount += source.count
    }

    /// Starts the thread that decodes an Ogg connection's bytes from `pipe`; false when the relay has stopped. The thread ends
    /// when the pipe does (the connection ended, or the relay stopped); a failure of the stream's content drops the relay's
    /// connection with the reason.
    func startDecoding(_ codec: StreamCodec, from pipe: BytePipe, task: HTTPClient.Task<Void>) -> Bool {
        condition.lock()
        guard !stopped else {
            condition.unlock()
            return false
        }
        self.pipe = pipe
        condition.unlock()
        let thread = Thread { [self] in
            defer { pipe.discard() }
            do throws(AudioError) {
                let input = OggInput(pipe: pipe)
                let decoder: any OggStreamDecoder =
                    codec == .vorbis
                    ? try VorbisStreamDecoder(source: relay.url, input: input) : try OpusStreamDecoder(source: relay.url, input: input)
                var converter: StreamConverter?
                while waitForRoom() {
                    let more = try decoder.decode { samples, decoded throws(AudioError) in try deliver(samples, decoded, converter: &converter) }
                    if !more { break }
                }
            } catch {
                guard !isStopped else { return }
                drop(error)
                task.cancel()
            }
        }
        thread.name = "dalaba-relay-ogg"
        thread.stackSize = 1 << 20
        thread.start()
        return true
    }

    private var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopped
    }

    /// Changes the status and publishes it; called with `condition` held.
    private func update(_ change: (inout Player.RelayStatus) -> Void) {
        change(&current)
        let snapshot = current
        if !stopped { health.relay.withLock { $0 = snapshot } }
    }
}

/// One HTTP GET of a relay, as AsyncHTTPClient's response delegate: it judges the response head and the first bytes, and
/// hands the body to the decoder for its codec. MP3 is decoded here as it arrives (libmpg123 takes bytes pushed to it);
/// Ogg goes through a bounded pipe to a thread of the connection's own, since libvorbisfile and libopusfile pull their
/// bytes through a blocking read. Its callbacks run one at a time on the request's event loop, so its state needs no lock.
final class RelayConnection: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = Void
    private let stream: RelayStream
    private enum Decoding {
        /// The response was audio; its first bytes are gathered until they tell the codec.
        case identifying(contentType: String?, prefix: [UInt8])
        case mpeg(MPEGStreamDecoder, StreamConverter?)
        case pulled(BytePipe)
        case done
    }
    private var decoding = Decoding.done
    /// Set once this connection gave its own reason for ending, so the error it ends with does not replace it.
    private var refused = false

    init(stream: RelayStream) { self.stream = stream }

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        let contentType = head.headers.first(name: "content-type")
        if let refusal = RelayStream.refusal(status: head.status, contentType: contentType) {
            return refuse(.unreadable(path: stream.relay.url, reason: refusal), on: task)
        }
        decoding = .identifying(contentType: contentType, prefix: [])
        stream.connected()
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        switch decoding {
        case .identifying(let contentType, var prefix):
            prefix += buffer.readableBytesView
            switch StreamCodec.identify(contentType: contentType, prefix: prefix) {
            case .needMore:
                decoding = .identifying(contentType: contentType, prefix: prefix)
                return task.eventLoop.makeSucceededVoidFuture()
            case .refused(let reason):
                return refuse(.unreadable(path: stream.relay.url, reason: reason), on: task)
            case .codec(.mp3):
                do {
                    decoding = .mpeg(try MPEGStreamDecoder(source: stream.relay.url), nil)
                } catch {
                    return refuse(error, on: task)
                }
                return decodeMPEG(ByteBuffer(bytes: prefix), task: task)
            case .codec(let codec):
                let pipe = BytePipe()
                guard stream.startDecoding(codec, from: pipe, task: task) else { return refuse(nil, on: task) }
                decoding = .pulled(pipe)
                return pipe.write(ByteBuffer(bytes: prefix), on: task.eventLoop)
            }
        case .mpeg:
            return decodeMPEG(buffer, task: task)
        case .pulled(let pipe):
            return pipe.write(buffer, on: task.eventLoop)
        case .done:
            return task.eventLoop.makeSucceededVoidFuture()
        }
    }

    func didReceiveError(task: HTTPClient.Task<Void>, _ error: any Error) {
        if !refused { stream.note(error) }
        end()
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws { end() }

    private func decodeMPEG(_ buffer: ByteBuffer, task: HTTPClient.Task<Void>) -> EventLoopFuture<Void> {
        guard case .mpeg(let decoder, var converter) = decoding else { return task.eventLoop.makeSucceededVoidFuture() }
        do {
            // Untyped on the outside: a generic withUnsafe… and a typed-throws closure crash Swift 6.3's IRGen.
            try buffer.withUnsafeReadableBytes { bytes in
                try decoder.decode(bytes) { samples, decoded throws(AudioError) in try stream.deliver(samples, decoded, converter: &converter) }
            }
        } catch let error as AudioError {
            return refuse(error, on: task)
        } catch {
            return refuse(.unreadable(path: stream.relay.url, reason: "\(error)"), on: task)
        }
        decoding = .mpeg(decoder, converter)
        return stream.roomToRead(on: task.eventLoop)
    }

    /// The body is over: an Ogg decoder drains what it was given and ends.
    private func end() {
        if case .pulled(let pipe) = decoding { pipe.close() }
        decoding = .done
    }

    /// Ends the connection with `error` as its reason (nil: the relay was stopped).
    private func refuse(_ error: AudioError?, on task: HTTPClient.Task<Void>) -> EventLoopFuture<Void> {
        refused = true
        if case .pulled(let pipe) = decoding { pipe.discard() }
        decoding = .done
        if let error { stream.drop(error) }
        return task.eventLoop.makeFailedFuture(error ?? HTTPClientError.cancelled)
    }
}
