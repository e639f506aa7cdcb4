import Foundation
import GRDB

/// A store operation that failed, in words an operator can act on: what was being done, on which database file, and why
/// (read-only file, full disk, locked, not a database, …). Every public `StationStore` method throws this, never a bare SQLite error.
public struct StoreError: Error, Sendable, CustomStringConvertible, LocalizedError {
    /// The broad cause, so callers can react (e.g. an HTTP 507 for a full disk) without parsing the message.
    public enum Reason: String, Sendable, Codable {
        case readOnly
        case diskFull
        case cannotOpen
        case locked
        case notADatabase
        case appendOnly
        case invalidData
        case other
    }

    /// What the store was doing, as a verb phrase: "append to the airtime log".
    public var operation: String
    /// The database file, or ":memory:".
    public var path: String
    public var reason: Reason
    /// The cause in plain words.
    public var message: String

    public init(operation: String, path: String, reason: Reason, message: String) {
        self.operation = operation
        self.path = path
        self.reason = reason
        self.message = message
    }

    public var description: String { "cannot \(operation) (database \(path)): \(message)" }
    public var errorDescription: String? { description }

    /// Turns any error thrown inside a database access into a `StoreError` naming the operation and the file.
    init(operation: String, path: String, wrapping error: any Error) {
        if var error = error as? StoreError {
            if error.path.isEmpty { error.path = path }
            self = error
            return
        }
        guard let error = error as? DatabaseError else {
            self.init(operation: operation, path: path, reason: .other, message: "\(error)")
            return
        }
        let sqliteMessage = error.message ?? "SQLite error \(error.extendedResultCode.rawValue)"
        switch error.resultCode {
        case .SQLITE_READONLY:
            self.init(operation: operation, path: path, reason: .readOnly, message: "the database is read-only (\(sqliteMessage))")
        case .SQLITE_FULL:
            self.init(operation: operation, path: path, reason: .diskFull, message: "the disk is full (\(sqliteMessage))")
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_AUTH:
            self.init(operation: operation, path: path, reason: .cannotOpen, message: "the database file cannot be opened (\(sqliteMessage))")
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            self.init(operation: operation, path: path, reason: .locked, message: "the database is locked by another process (\(sqliteMessage))")
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            self.init(operation: operation, path: path, reason: .notADatabase, message: "the file is not a valid database (\(sqliteMessage))")
        case .SQLITE_CONSTRAINT where sqliteMessage.contains(AirtimeLogSchema.appendOnlyMessage):
            self.init(operation: operation, path: path, reason: .appendOnly, message: AirtimeLogSchema.appendOnlyMessage)
        case .SQLITE_IOERR:
            self.init(operation: operation, path: path, reason: .other, message: "disk I/O error (\(sqliteMessage))")
        default:
            self.init(operation: operation, path: path, reason: .other, message: sqliteMessage)
        }
    }
}
