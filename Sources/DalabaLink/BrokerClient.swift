import CMosquitto
import Foundation
import Logging
import Synchronization

/// One MQTT connection through libmosquitto: one `struct mosquitto *`, created in `init` and destroyed in `deinit`.
///
/// The network loop runs on a thread of its own (`mosquitto_loop` and every connect and reconnect happen there, never on
/// Swift's cooperative pool), reconnecting with exponential backoff after any failure. The session is persistent (a fixed
/// client id, clean session off), the subscriptions are renewed on every connect, and a QoS 1 publish completes only
/// when the broker has acknowledged it, so a caller deletes its outbox entry only then.
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

    /// Connections, refusals, drops and messages, in the order the loop thread saw them.
    public let events: AsyncStream<Event>
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
        let context = Unmanaged.passRetained(Context())
        guard let handle = mosquitto_new(options.clientID, options.cleanSession, context.toOpaque()) else {
            context.release()
            throw BrokerError("mosquitto_new (client id \(options.clientID))", code: Int32(MOSQ_ERR_ERRNO.rawValue))
        }
        self.handle = handle
        self.context = context
        (events, continuation) = AsyncStream.makeStream(of: Event.self)
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
            client.continuation.yield(
                .message(Message(topic: m.topic.map { String(cString: $0) } ?? "", payload: payload, qos: Int(m.qos), retained: m.retain)))
        }
    }

    deinit {
        mosquitto_destroy(handle)
        context.release()
        continuation.finish()
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
                    code = mosquitto_loop(handle, 200, 1)
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
