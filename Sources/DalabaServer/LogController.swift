import DalabaCore
import DalabaStore
import Foundation
import Hummingbird

/// The officials' API: the airtime log (paginated, or all of it as CSV), reports, and the hash-chain check. Roles `official`
/// and `admin`; the caller may have signed in with a bearer token or, for reading, with a console session.
struct LogController {
    let source: any AirtimeLogSource
    /// The station's zone: dates in filters are its days, and reports divide days, weeks and months at its midnights.
    let timeZone: TimeZone
    let verifier: VerificationRunner
    let clock: @Sendable () -> Date

    static let defaultPageSize = 100
    static let maximumPageSize = 1000

    init(source: any AirtimeLogSource, timeZone: TimeZone, clock: @escaping @Sendable () -> Date = { Date() }) {
        self.source = source
        self.timeZone = timeZone
        self.verifier = VerificationRunner(source: source)
        self.clock = clock
    }

    func addRoutes(to routes: RouteTable) {
        routes.group(.official)
            .get("/v1/log", use: list)
            .get("/v1/log/verify", use: verify)
            .get("/v1/report", use: report)
    }

    /// `GET /v1/log?from&to&kind&outcome&test&limit&offset&order&format`. JSON pages default to 100 rows, newest first. CSV
    /// without `limit` is the whole matching log, oldest first, streamed, for the spreadsheet download.
    @Sendable func list(_ request: Request, context: StationRequestContext) async throws -> Response {
        let parameters = QueryParameters(request)
        let filters = try LogFilters.parse(parameters, timeZone: timeZone)
        let format = try parameters.choice("format", default: "json", among: ["json", "csv"])
        let order: LogQuery.Order =
            try parameters.choice("order", default: format == "csv" ? "oldest" : "newest", among: ["newest", "oldest"]) == "oldest"
            ? .oldestFirst : .newestFirst
        let offset = try parameters.integer("offset", default: 0, in: 0...Int(Int32.max))
        let source = source
        if format == "csv" {
            let limit = try parameters["limit"].map { _ in try parameters.integer("limit", default: 0, in: 1...Self.maximumPageSize) }
            return try await csv(filters: filters, limit: limit, offset: offset, order: order)
        }
        let limit = try parameters.integer("limit", default: Self.defaultPageSize, in: 1...Self.maximumPageSize)
        let query = filters.logQuery(limit: limit, offset: offset, order: order)
        let (rows, total) = try await StoreReads.run { (try source.log(query), try source.logCount(query)) }
        return try JSONResponse.make(
            StationAPI.LogPage(timeZone: timeZone.identifier, total: total, limit: limit, offset: offset, entries: rows.map(StationAPI.LogEntry.init))
        )
    }

    /// The log as CSV. Without a limit the rows are read a thousand at a time by position in time (not by OFFSET, whose cost grows
    /// with the page number), so exporting a million rows costs memory for one page. The first page is read before answering, so
    /// a store that cannot be read still gets its 503.
    private func csv(filters: LogFilters, limit: Int?, offset: Int, order: LogQuery.Order) async throws -> Response {
        let local = LocalTime(timeZone: timeZone)
        let header = CSV.byteOrderMark + CSV.line(LogTable.csvHeader(timeZone: timeZone))
        var headers: HTTPFields = [.contentType: "text/csv; charset=utf-8", .cacheControl: "no-store"]
        headers[.contentDisposition] = "attachment; filename=\"\(Self.filename("log", filters, local: local))\""
        let source = source
        if let limit {
            let query = filters.logQuery(limit: limit, offset: offset, order: order)
            let rows = try await StoreReads.run { try source.log(query) }
            var text = header
            for row in rows { text += CSV.line(LogTable.csvRow(.init(row), local: local)) }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        var firstPager = CSVPager(filters: filters, offset: offset, order: order, pageSize: Self.maximumPageSize)
        let first = try await firstPager.next(from: source)
        let afterFirst = firstPager
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                var pager = afterFirst
                var page = first
                var text = header
                while true {
                    for row in page { text += CSV.line(LogTable.csvRow(.init(row), local: local)) }
                    try await writer.write(ByteBuffer(string: text))
                    text = ""
                    guard page.count == pager.pageSize else { break }
                    page = try await pager.next(from: source)
                }
                try await writer.finish(nil)
            })
    }

    /// "dalaba-log-2025-03-01_2025-03-31.csv", naming the local days covered.
    static func filename(_ what: String, _ filters: LogFilters, local: LocalTime) -> String {
        let from = filters.from.map(local.date) ?? "start"
        let to = filters.to.map { local.date($0.addingTimeInterval(-1)) } ?? "now"
        return "dalaba-\(what)-\(from)_\(to).csv"
    }

    /// `GET /v1/report?by&from&to&format`: totals per day, week, month, kind, level or source, real and drills apart.
    @Sendable func report(_ request: Request, context: StationRequestContext) async throws -> Response {
        let parameters = QueryParameters(request)
        let filters = try LogFilters.parse(parameters, timeZone: timeZone)
        let by = try parameters.choice("by", default: "month", among: ReportQuery.Grouping.allCases.map(\.rawValue))
        let format = try parameters.choice("format", default: "json", among: ["json", "csv"])
        let query = ReportQuery(by: ReportQuery.Grouping(rawValue: by)!, from: filters.from, to: filters.to, timeZone: timeZone)
        let source = source
        let report = StationAPI.AirtimeReport(try await StoreReads.run { try source.report(query) }, query: query)
        guard format == "csv" else { return try JSONResponse.make(report) }
        var headers: HTTPFields = [.contentType: "text/csv; charset=utf-8", .cacheControl: "no-store"]
        headers[.contentDisposition] = "attachment; filename=\"\(Self.filename("report-by-\(by)", filters, local: LocalTime(timeZone: timeZone)))\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: ReportTable.csv(report))))
    }

    /// `GET /v1/log/verify[?head=SEQ:HASH]`: walks the hash chain; with a head kept from an earlier check, also detects the
    /// truncation or rewrite of the newest rows. The answer names the retention anchor, if any, and says when retention removed
    /// rows after the given head. A broken chain is still a 200: the check ran, and its answer says what is wrong.
    @Sendable func verify(_ request: Request, context: StationRequestContext) async throws -> Response {
        let parameters = QueryParameters(request)
        var head: ChainHead?
        if let text = parameters["head"] {
            let parts = text.split(separator: ":")
            guard parts.count == 2, let seq = Int64(parts[0]), seq > 0, parts[1].count == 64, parts[1].allSatisfy(\.isHexDigit) else {
                throw APIError(.badRequest, "must be SEQ:HASH as printed by dalaba log verify, not \"\(text)\"", field: "head")
            }
            head = ChainHead(seq: seq, hash: parts[1].lowercased())
        }
        let verification = try await verifier.verify(expecting: head)
        return try JSONResponse.make(StationAPI.LogVerification(verification, checkedAt: clock()))
    }
}

/// Pages through the whole matching log by time: each page starts at the last row's time, skipping the rows at that instant
/// already sent, which keeps every page as cheap as the first however deep the export goes.
struct CSVPager: Sendable {
    var filters: LogFilters
    var offset: Int
    var order: LogQuery.Order
    let pageSize: Int

    mutating func next(from source: any AirtimeLogSource) async throws -> [LogRow] {
        let query = filters.logQuery(limit: pageSize, offset: offset, order: order)
        let page = try await StoreReads.run { try source.log(query) }
        guard let last = page.last else { return page }
        let lastAt = last.record.startedAt ?? last.record.endedAt
        let boundary = order == .oldestFirst ? filters.from : filters.to
        let tied = page.reversed().prefix { ($0.record.startedAt ?? $0.record.endedAt) == lastAt }.count
        if order == .oldestFirst {
            if boundary == lastAt { offset += page.count } else { offset = tied }
            filters.from = lastAt
        } else {
            // Newest first: the next page ends at the last row's time; `to` is exclusive, so rows at that very instant come
            // from the page after it, found by position among those tied rows.
            if boundary == lastAt.addingTimeInterval(0.001) { offset += page.count } else { offset = tied }
            filters.to = lastAt.addingTimeInterval(0.001)
        }
        return page
    }
}
