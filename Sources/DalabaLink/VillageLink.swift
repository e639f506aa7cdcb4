import Foundation

/// The village's side of the county link as a state machine: events in (connected, a message from the broker, rows sent,
/// a tick of the clock), actions out (refuse, act, store the confirmed mark, send rows, publish state, drain the outbox).
/// The caller performs the actions; time comes in as values, so every rule here is a plain unit test.
public struct VillageLink: Sendable {
    public struct Settings: Sendable {
        public var village: RegionCode
        public var key: CountyKey
        /// Rows per `VillageRows` message.
        public var rowBatch = 100
        /// Batches sent per tick at most, so a day's backlog goes out in steps instead of one burst.
        public var batchesPerTick = 10
        /// Seconds between state messages when nothing changed.
        public var statePeriod: TimeInterval = 30
        /// Seconds to wait for a confirmation of sent rows before sending them again; doubles while none comes, up to an hour.
        public var confirmPatience: TimeInterval = 60
        /// Refusal receipts per minute at most: a flood of forged messages is logged and counted, not relayed one for one.
        public var refusalsPerMinute = 30
        /// Seconds between prompt resends: a confirm that does not advance while rows are outstanding says the county lost
        /// them (PostgreSQL was down), so they go again at once rather than after the patience, but not once per confirm.
        public var promptResendInterval: TimeInterval = 5

        public init(village: RegionCode, key: CountyKey) {
            self.village = village
            self.key = key
        }
    }

    public enum Action: Sendable, Equatable {
        /// Log one line and queue a `refused` receipt (nil when the refusal budget is spent).
        case refuse(CountyMessageCheck.Refused, receipt: VillageReceipt?)
        /// Act on the message, then remember its id until `keepUntil`.
        case act(CountyMessage, late: Bool, keepUntil: Date)
        /// The county has stored the rows through this seq: persist the mark.
        case storeConfirmed(Int64)
        /// Publish up to `limit` rows after `seq`, then report `rowsSent(through:)`.
        case sendRows(after: Int64, limit: Int)
        /// Publish the current state (retained).
        case publishState(VillageState)
        /// Publish what waits in the outbox.
        case drainOutbox
    }

    public let settings: Settings
    public private(set) var isConnected = false
    /// The last row seq the county confirmed.
    public private(set) var confirmedSeq: Int64
    /// The last row seq handed to the broker since the last (re)connect or resend.
    public private(set) var sentSeq: Int64
    private var seen: [String: Date]
    private var lastProgress: Date
    private var patience: TimeInterval
    private var lastState: VillageState?
    private var lastStateAt: Date?
    private var refusalWindow: (start: Date, count: Int)
    private var lastPromptResend = Date.distantPast
    /// Refusals not relayed because the budget was spent, since start.
    public private(set) var suppressedRefusals = 0

    public init(settings: Settings, seen: [String: Date], confirmedSeq: Int64, now: Date) {
        self.settings = settings
        self.seen = seen
        self.confirmedSeq = confirmedSeq
        sentSeq = confirmedSeq
        lastProgress = now
        patience = settings.confirmPatience
        refusalWindow = (now, 0)
    }

    /// How many message ids are remembered.
    public var seenCount: Int { seen.count }

    // MARK: Events

    /// Connected (again): everything after the confirmed mark is sent again, the outbox drained, the state published.
    public mutating func connected(now: Date, state: VillageState) -> [Action] {
        isConnected = true
        sentSeq = confirmedSeq
        lastProgress = now
        lastState = state
        lastStateAt = now
        return [.publishState(state), .drainOutbox]
    }

    public mutating func disconnected() { isConnected = false }

    /// A message from the broker on one of the village's topics.
    public mutating func received(_ bytes: Data, now: Date) -> [Action] {
        let seen = self.seen
        switch CountyMessageCheck.check(bytes, key: settings.key, village: settings.village, now: now, seen: { seen[$0] != nil }) {
        case .failure(let refused):
            return [.refuse(refused, receipt: refusalReceipt(refused, now: now))]
        case .success(let accepted):
            let keepUntil = accepted.message.expires.addingTimeInterval(CountyMessageCheck.lateWindow)
            self.seen[accepted.message.id] = keepUntil
            var actions: [Action] = [.act(accepted.message, late: accepted.late, keepUntil: keepUntil)]
            // A confirm of receipts only says nothing about rows.
            guard case .confirm(let confirm) = accepted.message.body, confirm.village == settings.village, let seq = confirm.seq else {
                return actions
            }
            if seq > confirmedSeq {
                confirmedSeq = seq
                sentSeq = max(sentSeq, confirmedSeq)
                lastProgress = now
                patience = settings.confirmPatience
                actions.append(.storeConfirmed(seq))
            } else if sentSeq > confirmedSeq, now.timeIntervalSince(lastPromptResend) >= settings.promptResendInterval {
                // The county answers but holds nothing past the mark: what was sent after it is lost there. Send it again
                // from the mark on the next tick.
                sentSeq = confirmedSeq
                lastProgress = now
                lastPromptResend = now
                patience = settings.confirmPatience
            }
            return actions
        }
    }

    /// The rows through `seq` were handed to the broker.
    public mutating func rowsSent(through seq: Int64) { sentSeq = max(sentSeq, seq) }

    /// A tick of the clock with the newest row seq and the station's state now: rows to send, a state to publish, rows to
    /// send again when the county has confirmed nothing for a while, seen ids to forget.
    public mutating func tick(now: Date, headSeq: Int64, state: VillageState) -> [Action] {
        seen = seen.filter { $0.value >= now }
        guard isConnected else { return [] }
        var actions: [Action] = []
        if sentSeq > confirmedSeq, now.timeIntervalSince(lastProgress) >= patience {
            sentSeq = confirmedSeq
            lastProgress = now
            patience = min(patience * 2, 3_600)
        }
        if headSeq > sentSeq {
            var after = sentSeq
            for _ in 0..<settings.batchesPerTick where after < headSeq {
                actions.append(.sendRows(after: after, limit: settings.rowBatch))
                after += Int64(settings.rowBatch)
            }
        }
        var comparable = state
        comparable.at = lastState?.at ?? state.at
        if comparable != lastState || lastStateAt.map({ now.timeIntervalSince($0) >= settings.statePeriod }) ?? true {
            lastState = state
            lastStateAt = now
            actions.append(.publishState(state))
        }
        actions.append(.drainOutbox)
        return actions
    }

    private mutating func refusalReceipt(_ refused: CountyMessageCheck.Refused, now: Date) -> VillageReceipt? {
        if now.timeIntervalSince(refusalWindow.start) >= 60 { refusalWindow = (now, 0) }
        guard refusalWindow.count < settings.refusalsPerMinute else {
            suppressedRefusals += 1
            return nil
        }
        refusalWindow.count += 1
        return VillageReceipt(
            village: settings.village, announcement: refused.announcementID, message: refused.messageID, stage: .refused, at: now,
            reason: refused.reason.rawValue)
    }
}
