import CMosquitto

/// A libmosquitto call that failed: which call, its return code and mosquitto's own message for it.
public struct BrokerError: Error, Sendable, Equatable, CustomStringConvertible {
    public var operation: String
    public var code: Int32
    public var message: String

    public init(operation: String, code: Int32, message: String) {
        self.operation = operation
        self.code = code
        self.message = message
    }

    init(_ operation: String, code: Int32) {
        self.operation = operation
        self.code = code
        message = Self.text(for: code)
    }

    public var description: String { "\(operation): \(message)" }

    /// The client was stopped before the broker acknowledged the message.
    public static let stopped = BrokerError(operation: "publish", code: -1, message: "the broker client was stopped before the broker acknowledged it")

    static func text(for code: Int32) -> String {
        if code == Int32(MOSQ_ERR_ERRNO.rawValue) {
            return String(cString: strerror(errno))
        }
        return String(cString: mosquitto_strerror(code))
    }

    /// Checks a libmosquitto return code: every call goes through here.
    static func check(_ operation: @autoclosure () -> String, _ code: Int32) throws(BrokerError) {
        guard code == Int32(MOSQ_ERR_SUCCESS.rawValue) else { throw BrokerError(operation(), code: code) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
