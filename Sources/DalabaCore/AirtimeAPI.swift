import Foundation

/// The JSON of the officials' endpoints (`GET /v1/log`, `GET /v1/report`, `GET /v1/log/verify`), shared by the server and the
/// `dalaba` tool. Times are instants (UTC in JSON); each answer names the station's zone so that clients show local times.
extension StationAPI {
    /// One row of the airtime log.
    public struct LogEntry: Codable, Sendable, Equatable {
        /// The row's place in the hash chain: 1, 2, 3, …
        public var seq: Int64
        public var id: String
        public var title: String
        public var kind: Kind
        public var level: Int?
        /// A drill or test, counted apart from real broadcasts.
        public var test: Bool
        public var tier: String
        /// Operator name, schedule name or CAP sender.
        public var source: String
        public var audio: String
        public var text: String?
        public var playNumber: Int
        public var scheduledAt: Date?
        /// nil when the announcement never reached the device (cancelled or expired in the queue, missed, failed to start).
        public var startedAt: Date?
        public var endedAt: Date
        /// Frames of the announcement handed to the device, and their rate: the airtime is exactly `frames / rate`.
        public var frames: Int64
        /// Frames of the chime or attention signal before it, counted apart.
        public var signalFrames: Int64
        public var rate: Int
        /// `frames / rate`, for readers that do not want to divide.
        public var seconds: Double
        public var outcome: Outcome
        public var error: String?
        public var hash: String
        /// The level it played at, dB below full scale; nil when it never reached the device or was logged before volumes were.
        public var volume: Double?

        public init(
            seq: Int64, id: String, title: String, kind: Kind, level: Int?, test: Bool, tier: String, source: String, audio: String,
            text: String?, playNumber: Int, scheduledAt: Date?, startedAt: Date?, endedAt: Date, frames: Int64, signalFrames: Int64,
            rate: Int, outcome: Outcome, error: String?, hash: String, volume: Double? = nil
        ) {
            self.seq = seq
            self.id = id
            self.title = title
            self.kind = kind
            self.level = level
            self.test = test
            self.tier = tier
            self.source = source
            self.audio = audio
            self.text = text
            self.playNumber = playNumber
            self.scheduledAt = scheduledAt
            self.startedAt = startedAt
            self.endedAt = endedAt
            self.frames = frames
            self.signalFrames = signalFrames
            self.rate = rate
            self.seconds = rate > 0 ? Double(frames) / Double(rate) : 0
            self.outcome = outcome
            self.error = error
            self.hash = hash
            self.volume = volume
        }

        /// The time the row is filed under: when it started, or when it ended if it never started.
        public var at: Date { startedAt ?? endedAt }
    }

    /// `GET /v1/log`: one page of rows and how many match in all.
    public struct LogPage: Codable, Sendable, Equatable {
        /// The station's zone (an IANA identifier such as "Asia/Shanghai"), in which dates are meant and times are shown.
        public var timeZone: String
        /// Rows matching the filters, over all pages.
        public var total: Int
        public var limit: Int
        public var offset: Int
        public var entries: [LogEntry]

        public init(timeZone: String, total: Int, limit: Int, offset: Int, entries: [LogEntry]) {
            self.timeZone = timeZone
            self.total = total
            self.limit = limit
            self.offset = offset
            self.entries = entries
        }
    }

    /// Plays and seconds of airtime in one group, real broadcasts and drills apart.
    public struct AirtimeTotals: Codable, Sendable, Hashable {
        /// "2025-03-14", "2025-W11", "2025-03", a kind, a level ("1" … "4", "none"), a source, or "total".
        public var key: String
        public var realCount: Int
        public var realSeconds: Double
        public var drillCount: Int
        public var drillSeconds: Double

        public init(key: String, realCount: Int, realSeconds: Double, drillCount: Int, drillSeconds: Double) {
            self.key = key
            self.realCount = realCount
            self.realSeconds = realSeconds
            self.drillCount = drillCount
            self.drillSeconds = drillSeconds
        }

        public var totalCount: Int { realCount + drillCount }
        public var totalSeconds: Double { realSeconds + drillSeconds }
    }

    /// `GET /v1/report`: totals grouped one way over a range, and the grand total.
    public struct AirtimeReport: Codable, Sendable, Equatable {
        /// day, week, month, kind, level or source.
        public var by: String
        public var timeZone: String
        /// The range asked for, as instants: from inclusive, to exclusive.
        public var from: Date?
        public var to: Date?
        public var groups: [AirtimeTotals]
        public var total: AirtimeTotals

        public init(by: String, timeZone: String, from: Date?, to: Date?, groups: [AirtimeTotals], total: AirtimeTotals) {
            self.by = by
            self.timeZone = timeZone
            self.from = from
            self.to = to
            self.groups = groups
            self.total = total
        }
    }

    /// `GET /v1/log/verify`: the result of walking the hash chain.
    public struct LogVerification: Codable, Sendable, Equatable {
        public var intact: Bool
        /// Rows walked.
        public var rows: Int
        /// The first row at fault (or the first missing one).
        public var firstBadSeq: Int64?
        /// What is wrong, in one sentence.
        public var problem: String?
        /// The newest link, "seq:hash": keep it elsewhere and pass it back as `head` to detect a later truncation or rewrite.
        public var head: String?
        public var checkedAt: Date
        /// Where the chain starts after retention removed its oldest rows; absent when it starts at row 1.
        public var anchor: LogAnchor?
        /// Not a fault, but worth knowing: rows removed by retention after the published head.
        public var notice: String?

        public init(
            intact: Bool, rows: Int, firstBadSeq: Int64?, problem: String?, head: String?, checkedAt: Date, anchor: LogAnchor? = nil,
            notice: String? = nil
        ) {
            self.intact = intact
            self.rows = rows
            self.firstBadSeq = firstBadSeq
            self.problem = problem
            self.head = head
            self.checkedAt = checkedAt
            self.anchor = anchor
            self.notice = notice
        }
    }

    /// The retention anchor of `LogVerification`: rows before `firstKeptSeq` were removed by the retention record at
    /// `retentionSeq`, a link of the chain itself, and the first kept row links to `anchorHash`.
    public struct LogAnchor: Codable, Sendable, Equatable {
        public var firstKeptSeq: Int64
        public var anchorHash: String
        public var retentionSeq: Int64
        public var madeAt: Date
        public var madeBy: String
        public var cutoff: Date?
        public var removedRows: Int

        public init(firstKeptSeq: Int64, anchorHash: String, retentionSeq: Int64, madeAt: Date, madeBy: String, cutoff: Date?, removedRows: Int) {
            self.firstKeptSeq = firstKeptSeq
            self.anchorHash = anchorHash
            self.retentionSeq = retentionSeq
            self.madeAt = madeAt
            self.madeBy = madeBy
            self.cutoff = cutoff
            self.removedRows = removedRows
        }
    }
}
