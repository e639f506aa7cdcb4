import DalabaStore
import Foundation
import Logging
import Synchronization

/// Commits the Station's changes on a thread of its own, in the order they were submitted, so an fsync never blocks
/// Swift's cooperative pool. Changes that could not be written (a full disk) are kept, written first by the next commit
/// and retried every half second on their own, so a fault delays them and loses none; shutdown flushes what is left.
/// Submissions that arrive while a commit runs are written together in the next one (group commit).
public final class StoreWriter: Sendable {
    public struct Health: Sendable, Equatable {
        /// The last error, until a commit succeeds again.
        public var fault: String?
        /// Changes waiting in memory.
        public var backlog: Int
    }

    private struct Job: Sendable {
        var changes: [StoreChange]
        var required: Bool
        var done: (@Sendable (Result<Void, StoreError>) -> Void)?
    }

    private struct State {
        var inbox: [Job] = []
        var backlog: [StoreChange] = []
        var fault: String?
        var retryScheduled = false
    }

    private let store: StationStore
    private let queue = DispatchQueue(label: "dalaba.store-writer")
    private let state = Mutex(State())
    private let logger: Logger
    private let metrics: StationMetrics?
    private let retryInterval: Double

    public init(store: StationStore, logger: Logger, metrics: StationMetrics? = nil, retryInterval: Double = 0.5) {
        self.store = store
        self.logger = logger
        self.metrics = metrics
        self.retryInterval = retryInterval
    }

    public var health: Health { state.withLock { Health(fault: $0.fault, backlog: $0.backlog.count) } }

    /// Writes `changes` after everything submitted before; does not wait. A failure keeps them for the retry.
    public func submit(_ changes: [StoreChange]) {
        guard !changes.isEmpty else { return }
        enqueue(Job(changes: changes, required: false, done: nil))
    }

    /// Writes `changes` after everything submitted before and says whether they are on disk. With `required`, changes
    /// that could not be written are dropped (the caller refuses what it was asked and undoes it); otherwise they are
    /// kept for the retry like submitted ones.
    public func commit(_ changes: [StoreChange], required: Bool) async -> Result<Void, StoreError> {
        await withCheckedContinuation { continuation in
            enqueue(Job(changes: changes, required: required, done: { continuation.resume(returning: $0) }))
        }
    }

    /// Waits until everything submitted is written, retrying for up to `timeout` seconds; false if some is still not.
    public func flush(timeout: Double) async -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            _ = await commit([], required: false)
            if health.backlog == 0 { return true }
            if Date() >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(Int(retryInterval * 1000)))
        }
    }

    /// Frees the database's caches on the writer's own thread, after what was submitted before.
    public func releaseMemory() {
        queue.async {
            self.store.releaseMemory()
            #if os(Linux)
            // glibc keeps freed memory in its arenas until asked; malloc_trim is not in the Glibc module's headers, and
            // RTLD_DEFAULT is a null handle in glibc.
            typealias Trim = @convention(c) (Int) -> Int32
            if let symbol = dlsym(nil, "malloc_trim") { _ = unsafeBitCast(symbol, to: Trim.self)(0) }
            #endif
        }
    }

    private func enqueue(_ job: Job) {
        state.withLock { $0.inbox.append(job) }
        queue.async { self.drain() }
    }

    /// Runs on `queue` only.
    private func drain() {
        let (jobs, backlog) = state.withLock { state -> ([Job], [StoreChange]) in
            defer { state.inbox = [] }
            return (state.inbox, state.backlog)
        }
        let fresh = jobs.flatMap(\.changes)
        if fresh.isEmpty && backlog.isEmpty {
            for job in jobs { job.done?(.success(())) }
            return
        }
        do {
            try store.commit(backlog + fresh)
            metrics?.storeCommits.increment()
            recovered()
            for job in jobs { job.done?(.success(())) }
        } catch {
            let storeError = error as? StoreError ?? StoreError(operation: "commit station changes", path: store.path, reason: .other, message: "\(error)")
            // What must not be kept is dropped; the rest may still fit without it.
            let keep = backlog + jobs.filter { !$0.required }.flatMap(\.changes)
            var kept = keep
            if jobs.contains(where: \.required), !keep.isEmpty, (try? store.commit(keep)) != nil {
                metrics?.storeCommits.increment()
                kept = []
            }
            failed(storeError, keeping: kept)
            for job in jobs { job.done?(.failure(storeError)) }
        }
    }

    private func recovered() {
        let wasFaulty = state.withLock { state -> Bool in
            defer {
                state.backlog = []
                state.fault = nil
            }
            return state.fault != nil
        }
        if wasFaulty {
            logger.notice("store healthy again; every change kept in memory is written")
            metrics?.storeHealthy.set(to: 1)
        }
        metrics?.storeBacklog.set(to: 0)
    }

    private func failed(_ error: StoreError, keeping changes: [StoreChange]) {
        let message = "\(error)"
        let (first, count, scheduleRetry) = state.withLock { state -> (Bool, Int, Bool) in
            let first = state.fault != message
            state.fault = message
            state.backlog = changes
            let schedule = !changes.isEmpty && !state.retryScheduled
            if schedule { state.retryScheduled = true }
            return (first, changes.count, schedule)
        }
        metrics?.storeFaults.increment()
        metrics?.storeBacklog.set(to: Double(count))
        metrics?.storeHealthy.set(to: 0)
        if first { logger.critical("store failure; changes kept in memory and retried", metadata: ["error": "\(message)", "kept": "\(count)"]) }
        if scheduleRetry {
            queue.asyncAfter(deadline: .now() + retryInterval) {
                self.state.withLock { $0.retryScheduled = false }
                self.drain()
            }
        }
    }
}
