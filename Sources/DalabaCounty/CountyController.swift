import DalabaCore
import DalabaIntake
import DalabaLink
import Foundation
import Hummingbird

/// The head-end's API: announcements to regions (operators), villages, coverage, reports and the log (officials), audio
/// by digest (villages), and a read-only console.
struct CountyController {
    let configuration: CountyConfiguration
    let desk: AnnouncementDesk
    let store: CountyStore

    static let maximumJSONBytes = 256 << 10

    func addRoutes(to router: Router<CountyRequestContext>) {
        router.group().add(middleware: CountyRoleGuard(roles: [.operatorRole]))
            .post("/v1/announcements", use: announce)
            .delete("/v1/announcements/:id", use: cancel)
            .patch("/v1/announcements/:id", use: update)
            .post("/v1/stop-all", use: stopAll)
        router.group().add(middleware: CountyRoleGuard(roles: [.official, .operatorRole]))
            .get("/v1/villages", use: villages)
            .get("/v1/coverage/:id", use: coverage)
            .get("/v1/report", use: report)
            .get("/v1/log", use: log)
            .get("/v1/log/verify", use: verify)
            .get("/", use: consoleVillages)
            .get("/coverage/:id", use: consoleCoverage)
            .get("/log", use: consoleLog)
        router.group().add(middleware: VillageFetchGuard()).get("/v1/audio/:sha256", use: audio)
        router.get("/login", use: loginPage)
        router.post("/login", use: login)
        router.get("/v1/health") { _, _ in "ok" }
    }

    // MARK: Operators

    /// `POST /v1/announcements`: JSON (a queue request plus `to: [codes]`), or multipart with `metadata` and `audio`; `to`
    /// may also come as `?to=code,code`. Answers 202 once the announcement and its outbox entries are in PostgreSQL.
    @Sendable func announce(_ request: Request, context: CountyRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let contentType = request.headers[.contentType] ?? ""
        let media = contentType.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        var queryTargets = request.uri.queryParameters.get("to").map { $0.split(separator: ",").map(String.init) }
        let metadata: [UInt8]
        var upload: String?
        defer { if let upload { unlink(upload) } }
        switch media {
        case "application/json":
            do {
                metadata = Array(try await request.body.collect(upTo: Self.maximumJSONBytes).readableBytesView)
            } catch {
                throw CountyHTTPError(.contentTooLarge, "a JSON request is larger than \(Self.maximumJSONBytes) bytes")
            }
        case "multipart/form-data":
            let body: ByteBuffer
            do {
                body = try await request.body.collect(upTo: configuration.maxUploadBytes)
            } catch {
                throw CountyHTTPError(.contentTooLarge, "the upload is larger than \(configuration.maxUploadBytes) bytes", field: "audio")
            }
            let parts: [MultipartIntake.Part]
            do {
                parts = try MultipartIntake.parse(body: Array(body.readableBytesView), contentType: contentType)
            } catch {
                throw CountyHTTPError(.badRequest, error.error, field: error.field)
            }
            guard let meta = parts.first(where: { $0.name == "metadata" }) else {
                throw CountyHTTPError(.badRequest, "is required (the JSON of the announcement)", field: "metadata")
            }
            guard let audio = parts.first(where: { $0.name == "audio" }), !audio.body.isEmpty else {
                throw CountyHTTPError(.badRequest, "is required (the audio file)", field: "audio")
            }
            metadata = meta.body
            let directory = configuration.stateURL.appendingPathComponent("uploads")
            try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let path = directory.appendingPathComponent(UUID().uuidString).path
            guard FileManager.default.createFile(atPath: path, contents: Data(audio.body)) else {
                throw CountyHTTPError(.init(code: 507), "the upload cannot be stored", field: "audio")
            }
            upload = path
        default:
            throw CountyHTTPError(.unsupportedMediaType, "send application/json, or multipart/form-data with the audio file")
        }
        let (queueRequest, bodyTargets) = try Self.decode(metadata)
        if let bodyTargets {
            guard queryTargets == nil else { throw CountyHTTPError(.badRequest, "give to in the body or in the query, not both", field: "to") }
            queryTargets = bodyTargets
        }
        do {
            let accepted = try await desk.announce(queueRequest, to: queryTargets, audioFile: upload, caller: caller)
            return try Self.json(accepted, status: accepted.status == "accepted" ? .accepted : .ok)
        } catch let refusal as CountyRefusal {
            throw CountyHTTPError(refusal)
        }
    }

    /// The queue request and its `to`, read as they came by the village's strict decoder with `to` among its keys: every key
    /// is checked exactly as the village checks it, and a duplicated `to` is refused rather than collapsed.
    static func decode(_ body: [UInt8]) throws -> (StationAPI.QueueRequest, [String]?) {
        do {
            return try CountyRequestDecoder.announcement(body)
        } catch {
            throw CountyHTTPError(.badRequest, error.error, field: error.field)
        }
    }

    /// An update's body, strictly: `title`, `expires`, at least one of them, nothing else.
    static func decodeUpdate(_ body: [UInt8]) throws -> CountyAPI.UpdateRequest {
        do {
            return try CountyRequestDecoder.update(body)
        } catch {
            throw CountyHTTPError(.badRequest, error.error, field: error.field)
        }
    }

    /// `PATCH /v1/announcements/:id` (`{"title"?, "expires"?}`): a signed update to the villages it went to, within the
    /// caller's scope; 202 once recorded in PostgreSQL.
    @Sendable func update(_ request: Request, context: CountyRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        let contentType = request.headers[.contentType] ?? ""
        guard contentType.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() == "application/json" else {
            throw CountyHTTPError(.unsupportedMediaType, "send application/json: {\"title\": …, \"expires\": …}")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: 64 << 10)
        } catch {
            throw CountyHTTPError(.contentTooLarge, "an update is larger than 64 KiB")
        }
        let change = try Self.decodeUpdate(Array(body.readableBytesView))
        do {
            return try Self.json(try await desk.update(id: id, change, caller: caller), status: .accepted)
        } catch let refusal as CountyRefusal {
            throw CountyHTTPError(refusal)
        }
    }

    @Sendable func cancel(_ request: Request, context: CountyRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        do {
            return try Self.json(try await desk.cancel(id: id, caller: caller), status: .accepted)
        } catch let refusal as CountyRefusal {
            throw CountyHTTPError(refusal)
        }
    }

    @Sendable func stopAll(_ request: Request, context: CountyRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let body = try await request.body.collect(upTo: 64 << 10)
        var to: [String]?
        if body.readableBytes > 0 {
            do {
                to = try JSONDecoder().decode(CountyAPI.StopAllRequest.self, from: Data(body.readableBytesView)).to
            } catch {
                throw CountyHTTPError(.badRequest, "the body must be {\"to\": [region codes]}", field: "to")
            }
        }
        do {
            return try Self.json(try await desk.stopAll(to: to, caller: caller), status: .accepted)
        } catch let refusal as CountyRefusal {
            throw CountyHTTPError(refusal)
        }
    }

    // MARK: Officials

    /// The region a reader asks about: `?region=` narrowed within the token's scope (never wider).
    func region(_ request: Request, _ caller: CountyConfiguration.Token) throws -> RegionCode {
        guard let text = request.uri.queryParameters.get("region") else { return caller.scope }
        guard let code = try? RegionCode(text) else { throw CountyHTTPError(.badRequest, "is not a region code", field: "region") }
        guard caller.scope.covers(code) else {
            throw CountyHTTPError(.forbidden, "token \(DisplayText.echo(caller.name)) may read region \(caller.scope) only", field: "region")
        }
        return code
    }

    @Sendable func villages(_ request: Request, context: CountyRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        return try Self.json(CountyAPI.Villages(villages: try await store.villages(in: try region(request, caller))))
    }

    @Sendable func coverage(_ request: Request, context: CountyRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        guard let coverage = try await store.coverage(id: id, within: caller.scope) else {
            throw CountyHTTPError(.notFound, "no county announcement has id \(DisplayText.echo(id))")
        }
        return try Self.json(coverage)
    }

    @Sendable func report(_ request: Request, context: CountyRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let scope = try region(request, caller)
        let byText = request.uri.queryParameters.get("by") ?? "village"
        guard let by = CountyStore.Grouping(rawValue: byText) else {
            throw CountyHTTPError(.badRequest, "must be village, township, kind, level or day", field: "by")
        }
        let from = try date(request, "from")
        let to = try date(request, "to")
        var groups = try await store.report(by: by, region: scope, from: from, to: to, timeZone: configuration.timeZone)
        let names = Dictionary(configuration.villages.map { ($0.code.digits, $0.name) }, uniquingKeysWith: { a, _ in a })
        for index in groups.indices {
            switch by {
            case .village: groups[index].name = names[groups[index].key]
            case .township: groups[index].name = (try? RegionCode(groups[index].key)).map(configuration.townshipName)
            default: break
            }
        }
        let total = CountyAPI.AirtimeGroup(
            key: "total", plays: groups.map(\.plays).reduce(0, +), frames: groups.map(\.frames).reduce(0, +),
            seconds: groups.map(\.seconds).reduce(0, +), drillPlays: groups.map(\.drillPlays).reduce(0, +),
            drillFrames: groups.map(\.drillFrames).reduce(0, +), drillSeconds: groups.map(\.drillSeconds).reduce(0, +))
        let report = CountyAPI.Report(
            by: by.rawValue, timeZone: configuration.timeZone.identifier, from: from, to: to, region: scope.digits, groups: groups, total: total)
        if request.uri.queryParameters.get("format") == "csv" {
            let header = [by.rawValue, "name", "plays", "frames", "seconds", "drill plays", "drill frames", "drill seconds"]
            let rows = (groups + [total]).map {
                [$0.key, $0.name ?? "", "\($0.plays)", "\($0.frames)", AirtimeText.seconds($0.seconds), "\($0.drillPlays)", "\($0.drillFrames)",
                 AirtimeText.seconds($0.drillSeconds)]
            }
            return Self.text(CSV.document(header: header, rows: rows), type: "text/csv; charset=utf-8")
        }
        return try Self.json(report)
    }

    @Sendable func log(_ request: Request, context: CountyRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let scope = try region(request, caller)
        let limit = min(max(Int(request.uri.queryParameters.get("limit") ?? "") ?? 100, 1), 100_000)
        let offset = max(Int(request.uri.queryParameters.get("offset") ?? "") ?? 0, 0)
        let page = try await store.log(region: scope, from: try date(request, "from"), to: try date(request, "to"), limit: limit, offset: offset)
        if request.uri.queryParameters.get("format") == "csv" {
            return Self.text(Self.logCSV(page.rows, timeZone: configuration.timeZone), type: "text/csv; charset=utf-8")
        }
        struct Entry: Encodable {
            var village: String
            var row: LinkRow
        }
        struct Page: Encodable {
            var total: Int
            var limit: Int
            var offset: Int
            var entries: [Entry]
        }
        return try Self.json(Page(total: page.total, limit: limit, offset: offset, entries: page.rows.map { Entry(village: $0.village, row: $0.row) }))
    }

    /// `GET /v1/log/verify[?region=]`: every village's chain in the region re-verified from PostgreSQL alone (each row's hash
    /// recomputed from its stored fields, every link followed from row 1); `intact` is false when any village has a fault.
    @Sendable func verify(_ request: Request, context: CountyRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let region = try region(request, caller)
        let checks = try await store.verifyChains(region: region)
        return try Self.json(
            CountyAPI.LogVerification(
                county: configuration.county.digits, region: region.digits, checkedAt: Date(),
                villages: checks.map { .init(village: $0.village, rows: $0.rows, lastSeq: $0.lastSeq, faults: $0.faults, firstBadSeq: $0.firstBadSeq) }))
    }

    /// A stored volume (hundredths of a dB) as the operator set it: "-6.00".
    static func decibels(_ hundredths: Int64) -> String { String(format: "%.2f", Double(hundredths) / 100) }

    /// The county's copy of the villages' rows as CSV, like the village log: one line per row, with the volume it played at.
    static func logCSV(_ rows: [(village: String, row: LinkRow)], timeZone: TimeZone) -> String {
        let local = LocalTime(timeZone: timeZone)
        let header = [
            "village", "seq", "id", "title", "kind", "level", "test", "tier", "source", "started (\(timeZone.identifier))",
            "ended", "frames", "signal frames", "rate", "seconds", "volume (dB)", "outcome", "error", "hash",
        ]
        let lines = rows.map { village, r in
            [
                village, "\(r.seq)", CSV.text(r.announcementID), CSV.text(r.title), r.kind, r.level.map { "\($0)" } ?? "",
                r.isTest ? "yes" : "no", r.tier,
                CSV.text(r.source), r.startedAt.map { local.dateTime(Date(timeIntervalSince1970: Double($0) / 1000)) } ?? "",
                local.dateTime(Date(timeIntervalSince1970: Double(r.endedAt) / 1000)), "\(r.frames)", "\(r.signalFrames)", "\(r.rate)",
                AirtimeText.seconds(r.airtime), r.volume.map(decibels) ?? "", r.outcome, CSV.text(r.error ?? ""), r.hash,
            ]
        }
        return CSV.document(header: header, rows: lines)
    }

    // MARK: Villages

    /// `GET /v1/audio/<sha256>`: the transcoded audio, for a village holding a fetch token.
    @Sendable func audio(_ request: Request, context: CountyRequestContext) async throws -> Response {
        let digest = try context.parameters.require("sha256")
        guard let path = desk.transcoder.path(sha256: digest), let data = FileManager.default.contents(atPath: path) else {
            throw CountyHTTPError(.notFound, "no audio with this digest")
        }
        return Response(
            status: .ok, headers: [.contentType: "audio/ogg", .cacheControl: "private, max-age=31536000, immutable"],
            body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    // MARK: Console

    @Sendable func consoleVillages(_ request: Request, context: CountyRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let villages = try await store.villages(in: caller.scope)
        return Self.text(CountyPages.villages(villages, county: configuration, caller: caller), type: "text/html; charset=utf-8")
    }

    /// `GET /log`: the newest 500 airtime rows of the caller's region, with the volume each played at.
    @Sendable func consoleLog(_ request: Request, context: CountyRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let page = try await store.log(region: caller.scope, from: nil, to: nil, limit: 500, offset: 0)
        return Self.text(CountyPages.log(page.rows, total: page.total, county: configuration, caller: caller), type: "text/html; charset=utf-8")
    }

    @Sendable func consoleCoverage(_ request: Request, context: CountyRequestContext) async throws -> Response {
        let caller = try context.requireCaller()
        let id = try context.parameters.require("id")
        guard let coverage = try await store.coverage(id: id, within: caller.scope) else {
            throw CountyHTTPError(.notFound, "no county announcement has id \(DisplayText.echo(id))")
        }
        return Self.text(CountyPages.coverage(coverage, county: configuration), type: "text/html; charset=utf-8")
    }

    @Sendable func loginPage(_ request: Request, context: CountyRequestContext) async throws -> Response {
        Self.text(CountyPages.login(configuration), type: "text/html; charset=utf-8")
    }

    /// `POST /login` (form `token=…`): a known reader token becomes an HttpOnly, SameSite=Strict cookie, good for GET only.
    @Sendable func login(_ request: Request, context: CountyRequestContext) async throws -> Response {
        let body = String(buffer: try await request.body.collect(upTo: 4_096))
        let token = body.split(separator: "&").compactMap { pair -> String? in
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0] == "token" else { return nil }
            return String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
        }.first
        guard let token, configuration.tokens.contains(where: { CountyAuthenticator.equal($0.token, token) }) else {
            throw CountyHTTPError(.unauthorized, "unknown token")
        }
        return Response(
            status: .seeOther,
            headers: [.location: "/", .setCookie: "\(CountyAuthenticator.cookie)=\(token); Path=/; HttpOnly; SameSite=Strict"])
    }

    // MARK: Helpers

    /// An ISO 8601 time, or a date (the start of that day in the county's zone).
    func date(_ request: Request, _ name: String) throws -> Date? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        if let date = LinkJSON.parse(text) { return date }
        let parts = text.split(separator: "-").compactMap { Int($0) }
        if text.utf8.count == 10, parts.count == 3 {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = configuration.timeZone
            if let date = calendar.date(from: DateComponents(year: parts[0], month: parts[1], day: parts[2])) { return date }
        }
        throw CountyHTTPError(.badRequest, "must be an ISO 8601 time or a date like 2026-12-01", field: name)
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try StationAPI.makeEncoder().encode(value)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func text(_ text: String, type: String) -> Response {
        Response(status: .ok, headers: [.contentType: type, .cacheControl: "no-store"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}
