import CMosquitto
import Foundation
import Logging
import Synchronization

/// One MQTT connection through libmosquitto: one `struct mosquitto *`, created in `init` and destroyed in `deinit`.
///
/// The network loop runs on a thread of its own (every read, write, connect and reconnect happens there, never on Swift's
/// cooperative pool), reconnecting with exponential backoff after any failure. The session is persistent (a fixed
/// client id, clean session off), the subscriptions are renewed on every connect, and a QoS 1 publish completes only
/// when the broker has acknowledged it, so a caller deletes its outbox entry only then.
///
/// Messages received wait in a bounded buffer until the consumer of `events` takes them: while it holds
/// `receiveBufferMessages` messages or `receiveBufferBytes` bytes, the loop thread stops reading the socket (it still
/// writes, so publishes and pings go out), TCP holds the broker back, and the broker keeps the rest in the session's queue
/// with its QoS 1 flow control (at most its `max_inflight_messages` unacknowledged). Memory stays bounded; nothing is lost.
public final class BrokerClient: @unchecked Sendable {
    // @unchecked: the handle is used from the loop thread and from callers at once, which libmosquitto allows once
    // `mosquitto_threaded_set` is on (its own mutexes guard the packet queues); all Swift state is in Mutexes.

    public struct Options: Sendable {
        public var host: String
        public var port: Int
        /// Fixed, so the broker keeps the session (subscriptions and queued QoS 1 messages) while the client is away.
        public var clientID: String
        public var username: String?
        public var password: String?
        /// The CA that signed the broker's certificate; nil connects without TLS.
        public var caFile: String?
        public var keepAlive: Int = 30
        public var cleanSession = false
        public var will: Will?
        /// Subscribed at QoS 1 on every connect.
        public var subscriptions: [String] = []
        /// Seconds before the first reconnect, doubling up to `reconnectMaximum`.
        public var reconnectMinimum: Double = 0.25
        public var reconnectMaximum: Double = 15
        /// QoS 1 messages in flight at once (libmosquitto queues the rest).
        public var maxInflight = 100
        /// Received messages waiting for the consumer, at most (beyond it the socket is not read); libmosquitto reads up to
        /// `maxInflight` packets at a time, so the buffer may exceed this by that many.
        public var receiveBufferMessages = 2_000
        /// Payload bytes waiting for the consumer, at most (as for `receiveBufferMessages`).
        public var receiveBufferBytes = 32 << 20

        public init(host: String, port: Int, clientID: String, username: String? = nil, password: String? = nil, caFile: String? = nil) {
            self.host = host
            self.port = port
            self.clientID = clientID
            self.username = username
            self.password = password
            self.caFile = caFile
        }
    }

    /// The message the broker publishes for this client when the connection drops without a DISCONNECT.
    public struct Will: Sendable {
        public var topic: String
        public var payload: Data
        public var qos: Int
        public var retain: Bool
        public init(topic: String, payload: Data, qos: Int = 1, retain: Bool = true) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
        }
    }

    public struct Message: Sendable {
        public var topic: String
        public var payload: Data
        public var qos: Int
        public var retained: Bool
    }

    public enum Event: Sendable {
        /// Connected and subscribed; `sessionPresent` when the broker still had this client's session.
        case connected(sessionPresent: Bool)
        /// The broker refused the connection (bad credentials, not authorised): the client keeps retrying with backoff.
        case refused(String)
        case disconnected(String)
        case message(Message)
    }

    /// Connections, refusals, drops and messages, in the order the loop thread saw them; taking a message makes room for more.
    public let events: Events
    private let backlog: ReceiveBacklog
    /// A pipe (read end, write end) that wakes the loop thread's poll(2) when a publish is queued or the consumer makes room. The loop polls
    /// rather than calling `mosquitto_loop`, whose select(2) refuses a socket numbered 1024 or more (many clients in one
    /// process), and whose wake-up pipe cannot be told about room in the receive buffer.
    private let wake: (read: Int32, write: Int32)
    private let continuation: AsyncStream<Event>.Continuation
    private let handle: OpaquePointer
    private let options: Options
    private let logger: Logger
    private let context: Unmanaged<Context>

    private struct Completions {
        var waiting: [Int32: @Sendable (Result<Void, BrokerError>) -> Void] = [:]
        /// Acks that arrived before `publish` had registered its completion (the loop thread can be that fast).
        var early: Set<Int32> = []
    }
    private let completions = Mutex(Completions())
    private let running = Atomic<Bool>(false)
    private let connected = Atomic<Bool>(false)
    private let finished = Mutex<[CheckedContinuation<Void, Never>]?>([])

    /// What the C callbacks reach through libmosquitto's user data pointer.
    private final class Context: @unchecked Sendable {
        // Only the loop thread touches it, inside libmosquitto's callbacks.
        weak var client: BrokerClient?
    }

    private static let libraryInitialised: Int32 = mosquitto_lib_init()

    /// Creates the handle and sets credentials, TLS and the will; connecting starts with `start()`.
    public init(options: Options, logger: Logger) throws(BrokerError) {
        try BrokerError.check("mosquitto_lib_init", Self.libraryInitialised)
        self.options = options
        self.logger = logger
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else {
            throw BrokerError(operation: "pipe", code: Int32(MOSQ_ERR_ERRNO.rawValue), message: String(cString: strerror(errno)))
        }
        for end in ends where fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK) != 0 || fcntl(end, F_SETFD, FD_CLOEXEC) != 0 {
            let message = String(cString: strerror(errno))
            close(ends[0])
            close(ends[1])
            throw BrokerError(operation: "fcntl (wake-up pipe)", code: Int32(MOSQ_ERR_ERRNO.rawValue), message: message)
        }
        let wake = (read: ends[0], write: ends[1])
        let context = Unmanaged.passRetained(Context())
        guard let handle = mosquitto_new(options.clientID, options.cleanSession, context.toOpaque()) else {
            context.release()
            close(wake.read)
            close(wake.write)
            throw BrokerError("mosquitto_new (client id \(options.clientID))", code: Int32(MOSQ_ERR_ERRNO.rawValue))
        }
        self.handle = handle
        self.context = context
        self.wake = wake
        let (stream, continuation) = AsyncStream.makeStream(of: Event.self)
        self.continuation = continuation
        backlog = ReceiveBacklog(messages: options.receiveBufferMessages, bytes: options.receiveBufferBytes) { Self.signal(wake.write) }
        events = Events(stream: stream, backlog: backlog)
        do {
            try BrokerError.check("mosquitto_threaded_set", mosquitto_threaded_set(handle, true))
            try BrokerError.check(
                "mosquitto_int_option(MQTT 3.1.1)", mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, Int32(MQTT_PROTOCOL_V311)))
            try BrokerError.check("mosquitto_max_inflight_messages_set", mosquitto_max_inflight_messages_set(handle, UInt32(options.maxInflight)))
            if let username = options.username {
                try BrokerError.check("mosquitto_username_pw_set", mosquitto_username_pw_set(handle, username, options.password))
            }
            if let caFile = options.caFile {
                try BrokerError.check("mosquitto_tls_set (\(caFile))", mosquitto_tls_set(handle, caFile, nil, nil, nil, nil))
            }
            if let will = options.will {
                let rc = will.payload.withUnsafeBytes { bytes in
                    mosquitto_will_set(handle, will.topic, Int32(bytes.count), bytes.baseAddress, Int32(will.qos), will.retain)
                }
                try BrokerError.check("mosquitto_will_set (\(will.topic))", rc)
            }
        } catch {
            mosquitto_destroy(handle)
            context.release()
            close(wake.read)
            close(wake.write)
            throw error
        }
        context.takeUnretainedValue().client = self
        mosquitto_connect_with_flags_callback_set(handle) { _, user, rc, flags in
            BrokerClient.client(user)?.didConnect(rc: rc, sessionPresent: flags & 1 != 0)
        }
        mosquitto_disconnect_callback_set(handle) { _, user, rc in BrokerClient.client(user)?.didDisconnect(rc: rc) }
        mosquitto_publish_callback_set(handle) { _, user, mid in BrokerClient.client(user)?.didPublish(mid: mid) }
        mosquitto_message_callback_set(handle) { _, user, message in
            guard let message, let client = BrokerClient.client(user) else { return }
            let m = message.pointee
            let payload = m.payloadlen > 0 && m.payload != nil ? Data(bytes: m.payload!, count: Int(m.payloadlen)) : Data()
            client.backlog.add(bytes: payload.count)
            client.continuation.yield(
                .message(Message(topic: m.topic.map { String(cString: $0) } ?? "", payload: payload, qos: Int(m.qos), retained: m.retain)))
        }
    }

    deinit {
        mosquitto_destroy(handle)
        context.release()
        close(wake.read)
        close(wake.write)
        continuation.finish()
    }

    /// Wakes the loop thread (a full pipe only means it is already due to wake).
    private static func signal(_ wake: Int32) {
        var one: UInt8 = 1
        _ = write(wake, &one, 1)
    }

    private static func client(_ user: UnsafeMutableRawPointer?) -> BrokerClient? {
        guard let user else { return nil }
        return Unmanaged<Context>.fromOpaque(user).takeUnretainedValue().client
    }

    /// True while the broker connection is up.
    public var isConnected: Bool { connected.load(ordering: .acquiring) }

    // MARK: The loop thread

    /// Starts the loop thread, which connects and keeps reconnecting until `stop()`.
    public func start() {
        guard !running.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let thread = Thread { [self] in loop() }
        thread.name = "mosquitto \(options.clientID)"
        thread.start()
    }

    private func loop() {
        var delay = options.reconnectMinimum
        var everConnected = false
        var lastProblem = ""
        while running.load(ordering: .acquiring) {
            let rc = everConnected ? mosquitto_reconnect(handle) : mosquitto_connect(handle, options.host, Int32(options.port), Int32(options.keepAlive))
            if rc == Int32(MOSQ_ERR_SUCCESS.rawValue) {
                everConnected = true
                var code: Int32
                repeat {
                    code = turn()
                } while code == Int32(MOSQ_ERR_SUCCESS.rawValue) && running.load(ordering: .acquiring)
                if connected.exchange(false, ordering: .acquiringAndReleasing) { delay = options.reconnectMinimum }
                if !running.load(ordering: .acquiring) { break }
                let problem = BrokerError("mosquitto_loop", code: code).description
                if problem != lastProblem { logger.warning("broker connection lost", metadata: ["broker": "\(options.host):\(options.port)", "error": "\(problem)"]) }
                lastProblem = problem
            } else {
                let problem = BrokerError("connect to \(options.host):\(options.port)", code: rc).description
                if problem != lastProblem { logger.warning("cannot reach the broker; retrying", metadata: ["error": "\(problem)"]) }
                lastProblem = problem
                continuation.yield(.disconnected(problem))
            }
            // Sleep in slices so stop() is prompt.
            let until = Date().addingTimeInterval(delay)
            while running.load(ordering: .acquiring), Date() < until { usleep(20_000) }
            delay = min(delay * 2, options.reconnectMaximum)
        }
        connected.store(false, ordering: .releasing)
        let waiting = completions.withLock { state in
            defer { state.waiting = [:] }
            return Array(state.waiting.values)
        }
        for completion in waiting { completion(.failure(.stopped)) }
        for waiter in finished.withLock({ list in defer { list = nil }; return list ?? [] }) { waiter.resume() }
    }

    /// Disconnects cleanly (the broker does not send the will) and ends the loop thread.
    public func stop() async {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        _ = mosquitto_disconnect(handle)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = finished.withLock { list -> Bool in
                guard list != nil else { return true }
                list!.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
        continuation.finish()
    }

    /// One turn of the loop: poll(2) the socket (for reading only while the receive buffer has room, for writing when a packet
    /// waits) and the wake-up eventfd, then read, write and keep alive. While the buffer is full the socket is not read, so
    /// TCP holds the broker back; a pause longer than the keepalive ends in a reconnect, after which the broker resends what
    /// it had not had acknowledged (what was acknowledged is in the buffer already).
    private func turn() -> Int32 {
        let success = Int32(MOSQ_ERR_SUCCESS.rawValue)
        let socket = mosquitto_socket(handle)
        guard socket >= 0 else { return Int32(MOSQ_ERR_NO_CONN.rawValue) }
        let reading = !backlog.isFull
        var interest: Int32 = reading ? Int32(POLLIN) : 0
        if mosquitto_want_write(handle) { interest |= Int32(POLLOUT) }
        var descriptors = [pollfd(fd: socket, events: Int16(interest), revents: 0), pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
        let ready = poll(&descriptors, 2, 200)
        if ready < 0, errno != EINTR { return Int32(MOSQ_ERR_ERRNO.rawValue) }
        if descriptors[1].revents & Int16(POLLIN) != 0 {
            var drained = [UInt8](repeating: 0, count: 64)
            while read(wake.read, &drained, drained.count) > 0 {}
        }
        let broken = descriptors[0].revents & Int16(POLLHUP | POLLERR) != 0
        // Read on every turn with room, not only on POLLIN: TLS may hold records already taken off the socket.
        if reading || broken {
            let rc = mosquitto_loop_read(handle, 1)
            guard rc == success else { return rc }
        }
        if mosquitto_want_write(handle) {
            let rc = mosquitto_loop_write(handle, 1)
            guard rc == success else { return rc }
        }
        return mosquitto_loop_misc(handle)
    }

    /// The most messages and payload bytes that waited for the consumer at once (for tests and benchmarks).
    public var receiveHighWater: (messages: Int, bytes: Int) { backlog.highWater }

    // MARK: Callbacks (on the loop thread)

    private func didConnect(rc: Int32, sessionPresent: Bool) {
        guard rc == 0 else {
            let text = String(cString: mosquitto_connack_string(rc))
            logger.warning("the broker refused the connection", metadata: ["client": "\(options.clientID)", "reason": "\(text)"])
            continuation.yield(.refused(text))
            return
        }
        for topic in options.subscriptions {
            let code = mosquitto_subscribe(handle, nil, topic, 1)
            if code != Int32(MOSQ_ERR_SUCCESS.rawValue) { logger.error("subscribe failed", metadata: ["topic": "\(topic)", "error": "\(BrokerError.text(for: code))"]) }
        }
        connected.store(true, ordering: .releasing)
        logger.info("connected to the broker", metadata: ["client": "\(options.clientID)", "session-present": "\(sessionPresent)"])
        continuation.yield(.connected(sessionPresent: sessionPresent))
    }

    private func didDisconnect(rc: Int32) {
        connected.store(false, ordering: .releasing)
        continuation.yield(.disconnected(rc == 0 ? "disconnected" : BrokerError.text(for: rc)))
    }

    private func didPublish(mid: Int32) {
        let completion = completions.withLock { state -> (@Sendable (Result<Void, BrokerError>) -> Void)? in
            if let c = state.waiting.removeValue(forKey: mid) { return c }
            state.early.insert(mid)
            return nil
        }
        completion?(.success(()))
    }

    // MARK: Publishing

    /// Queues a message; `completion` runs on the loop thread once the broker acknowledged it (QoS 1) or it was written
    /// (QoS 0), or with `.stopped` if the client stops first. libmosquitto resends unacknowledged QoS 1 messages after a
    /// reconnect. Returns the message id.
    @discardableResult
    public func publish(
        topic: String, payload: Data, qos: Int = 1, retain: Bool = false, completion: @escaping @Sendable (Result<Void, BrokerError>) -> Void = { _ in }
    ) throws(BrokerError) -> Int32 {
        var mid: Int32 = 0
        let rc = payload.withUnsafeBytes { bytes in
            mosquitto_publish(handle, &mid, topic, Int32(bytes.count), bytes.baseAddress, Int32(qos), retain)
        }
        try BrokerError.check("publish to \(topic)", rc)
        Self.signal(wake.write)
        let acked = completions.withLock { state -> Bool in
            if state.early.remove(mid) != nil { return true }
            state.waiting[mid] = completion
            return false
        }
        if acked { completion(.success(())) }
        return mid
    }

    /// Publishes and waits until the broker acknowledged the message.
    public func publish(topic: String, payload: Data, qos: Int = 1, retain: Bool = false) async throws(BrokerError) {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Void, BrokerError>, Never>) in
            do {
                try publish(topic: topic, payload: payload, qos: qos, retain: retain) { continuation.resume(returning: $0) }
            } catch let error as BrokerError {
                continuation.resume(returning: .failure(error))
            } catch {
                continuation.resume(returning: .failure(BrokerError(operation: "publish to \(topic)", code: -1, message: "\(error)")))
            }
        }
        try result.get()
    }
}

extension BrokerClient {
    /// The client's events as an async sequence; each message taken from it frees its room in the receive buffer.
    public struct Events: AsyncSequence, Sendable {
        public typealias Element = Event
        let stream: AsyncStream<Event>
        let backlog: ReceiveBacklog

        public struct AsyncIterator: AsyncIteratorProtocol {
            var inner: AsyncStream<Event>.AsyncIterator
            let backlog: ReceiveBacklog

            public mutating func next() async -> Event? {
                let event = await inner.next()
                if case .message(let message) = event { backlog.remove(bytes: message.payload.count) }
                return event
            }
        }

        public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(inner: stream.makeAsyncIterator(), backlog: backlog) }
    }
}

/// What the loop thread has received and the consumer not yet taken, against its limits.
final class ReceiveBacklog: Sendable {
    private struct State {
        var messages = 0
        var bytes = 0
        var highMessages = 0
        var highBytes = 0
    }
    private let state = Mutex(State())
    /// Called when the consumer frees room in a full buffer, to wake the loop thread.
    private let room: @Sendable () -> Void
    let messageLimit: Int
    let byteLimit: Int

    init(messages: Int, bytes: Int, room: @escaping @Sendable () -> Void = {}) {
        messageLimit = max(messages, 1)
        byteLimit = max(bytes, 1)
        self.room = room
    }

    var isFull: Bool { state.withLock { $0.messages >= messageLimit || $0.bytes >= byteLimit } }

    var highWater: (messages: Int, bytes: Int) { state.withLock { ($0.highMessages, $0.highBytes) } }

    func add(bytes: Int) {
        state.withLock {
            $0.messages += 1
            $0.bytes += bytes
            $0.highMessages = max($0.highMessages, $0.messages)
            $0.highBytes = max($0.highBytes, $0.bytes)
        }
    }

    func remove(bytes: Int) {
        let freed = state.withLock { s -> Bool in
            let wasFull = s.messages >= messageLimit || s.bytes >= byteLimit
            s.messages -= 1
            s.bytes -= bytes
            return wasFull && s.messages < messageLimit && s.bytes < byteLimit
        }
        if freed { room() }
    }
}
