import DalabaCore
import DalabaIntake
import DalabaSchedule
import DalabaStation
import Foundation
import Hummingbird
import HummingbirdAuth

/// The operators' console: queue an uploaded file or a spoken text (with "listen first"), see what will happen before
/// confirming (emergencies twice), watch and cancel the live queue, and read the next seven days of schedule. Every form
/// posts to a route in the `operatorConsole` group, so it carries the session's CSRF token and is refused cross-site.
struct OperatorController {
    let station: Station
    let intake: AnnouncementIntake
    let preparation: AudioPreparation?
    let schedules: ScheduleService?
    let timeZone: TimeZone
    let clock: @Sendable () -> Date
    let uploadDirectory: String
    let stateDirectory: String
    let maxUploadBytes: Int
    let minimumFreeBytes: Int
    let maxSpeechCharacters: Int
    /// Seconds of the chime and the attention signal, for the estimates.
    let chimeSeconds: Double
    let attentionSeconds: Double

    func addRoutes(to routes: RouteTable, csrf: CSRFGuard) {
        routes.group(.operatorConsole, style: .page, csrf: csrf)
            .get("/operate", use: form)
            .post("/operate/upload", use: upload)
            .post("/operate/review", use: review)
            .post("/operate/queue", use: queue)
            .post("/operate/listen", use: listen)
            .get("/live", use: live)
            .get("/live/fragment", use: liveFragment)
            .post("/live/cancel", use: cancel)
            .post("/live/stop-all", use: stopAll)
        routes.group(.watcher, style: .page).get("/schedule", use: schedule)
    }

    // MARK: - The form

    /// What the operator typed, as typed, so a refused form comes back filled in.
    struct FormValues: Decodable {
        var text: String?
        var upload: String?
        var filename: String?
        var kind: String?
        var level: String?
        var title: String?
        var repeatCount: String?
        var interval: String?
        var notBefore: String?
        var expires: String?
        var test: String?
        var confirmEmergency: String?

        enum CodingKeys: String, CodingKey {
            case text, upload, filename, kind, level, title, interval, notBefore, expires, test, confirmEmergency
            case repeatCount = "repeat"
        }

        /// The fields the review page carries forward to the confirmation.
        var hidden: [ConsolePages.Option] {
            [
                ("text", text), ("upload", upload), ("filename", filename), ("kind", kind), ("level", level), ("title", title),
                ("repeat", repeatCount), ("interval", interval), ("notBefore", notBefore), ("expires", expires), ("test", test),
            ].compactMap { name, value in value.flatMap { $0.isEmpty ? nil : ConsolePages.Option(value: $0, text: name, selected: false) } }
        }
    }

    struct Field {
        var name: String
        var value: String
    }

    struct OperatePage {
        var health: ConsolePages.Health
        var error: String?
        var kinds: [ConsolePages.Option]
        var levels: [ConsolePages.Option]
        var values: FormView
        var maxSpeech: Int
        var pending: String?
        var pendingName: String?
    }

    struct FormView {
        var text: String
        var title: String
        var repeatCount: String
        var interval: String
        var notBefore: String
        var expires: String
        var test: Bool
        var upload: String
        var filename: String
    }

    func page(_ caller: Caller, _ context: StationRequestContext, values: FormValues = FormValues(), error: String? = nil, status: HTTPResponse.Status = .ok)
        async -> Response
    {
        let state = await station.status()
        let kind = values.kind ?? Kind.policy.rawValue
        let model = OperatePage(
            health: .init(state, freeBytes: ConsoleQueries.freeBytes(at: stateDirectory)), error: error,
            kinds: Kind.allCases.map { .init(value: $0.rawValue, text: "\(AirtimeText.chineseName($0)) \($0.rawValue)", selected: $0.rawValue == kind) },
            levels: (1...4).map { .init(value: String($0), text: ["Ⅰ级 (最高 highest)", "Ⅱ级", "Ⅲ级", "Ⅳ级"][$0 - 1], selected: values.level == String($0)) },
            values: .init(
                text: values.text ?? "", title: values.title ?? "", repeatCount: values.repeatCount ?? "1", interval: values.interval ?? "0",
                notBefore: values.notBefore ?? "", expires: values.expires ?? "", test: values.test == "1", upload: values.upload ?? "",
                filename: values.filename ?? ""),
            maxSpeech: maxSpeechCharacters, pending: values.upload, pendingName: values.filename ?? values.upload)
        return ConsolePages.render("operate", frame("播出 Queue", caller, .operate, context, script: true), model, status: status)
    }

    func frame(_ title: String, _ caller: Caller, _ section: ConsolePages.Section, _ context: StationRequestContext, script: Bool = false, reload: Int? = nil)
        -> ConsolePages.Frame
    {
        .init(
            title: title, user: caller.name, role: caller.role, active: section, timeZone: timeZone, csrf: context.sessions.session?.csrf,
            reloadSeconds: reload, script: script)
    }

    @Sendable func form(_ request: Request, context: StationRequestContext) async throws -> Response {
        var values = FormValues()
        let parameters = QueryParameters(request)
        if let upload = parameters["upload"], Self.isPendingName(upload) {
            values.upload = upload
            values.filename = parameters["filename"]
        }
        return await page(try context.caller, context, values: values)
    }

    // MARK: - Upload

    /// `POST /operate/upload?csrf=…` (multipart, one `audio` part): streamed into the upload directory as it arrives (the
    /// API's `MultipartIntake` and `UploadFile`), checked with libsndfile, then the details form for it.
    @Sendable func upload(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        guard let contentType = request.headers[.contentType], contentType.lowercased().hasPrefix("multipart/form-data") else {
            return await page(caller, context, error: "请选择要上传的文件 Choose a file to upload.", status: .unsupportedMediaType)
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxUploadBytes {
            return await page(caller, context, error: "文件太大 The file is larger than \(maxUploadBytes) bytes.", status: .contentTooLarge)
        }
        try? FileManager.default.createDirectory(atPath: uploadDirectory, withIntermediateDirectories: true)
        if let free = ConsoleQueries.freeBytes(at: uploadDirectory), free < minimumFreeBytes {
            return await page(caller, context, error: "存储空间不足 The station's disk is too full to store an upload.", status: .init(code: 507))
        }
        let file = UploadFile(directory: uploadDirectory, minimumFreeBytes: minimumFreeBytes)
        do {
            var limits = MultipartIntake.Limits()
            limits.fileBytes = maxUploadBytes
            let stream = try MultipartIntake.Stream(contentType: contentType, limits: limits, sink: file)
            var total = 0
            for try await chunk in request.body {
                total += chunk.readableBytes
                guard total <= maxUploadBytes else { throw StationAPI.Failure(error: "the file is larger than \(maxUploadBytes) bytes", field: "audio") }
                try stream.feed(chunk)
            }
            let parts = try stream.finish()
            try file.close()
            guard let path = file.path, parts.contains(where: { $0.name == "audio" && $0.byteCount > 0 }) else {
                throw StationAPI.Failure(error: "请选择要上传的文件 choose a file to upload", field: "audio")
            }
            do {
                try intake.checkAudio(path)
            } catch {
                throw StationAPI.Failure(
                    error: "无法读取此音频 this station cannot read \(file.filename ?? "the file") as audio: "
                        + error.error.replacingOccurrences(of: path, with: file.filename ?? "the file"), field: "audio")
            }
            let name = (path as NSString).lastPathComponent
            return ConsoleController.redirect(to: "/operate" + HTML.query([("upload", name), ("filename", file.filename ?? name)]))
        } catch let failure as StationAPI.Failure {
            file.discard()
            return await page(caller, context, error: failure.description, status: file.diskFull ? .init(code: 507) : .badRequest)
        } catch {
            file.discard()
            throw error
        }
    }

    /// A stored upload's name as `UploadFile` makes it (a UUID and a short extension): nothing that could name another file.
    static func isPendingName(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts[0].count == 36, UUID(uuidString: String(parts[0])) != nil else { return false }
        return parts.count == 1 || (1...8).contains(parts[1].count) && parts[1].allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber) }
    }

    // MARK: - Review and confirm

    struct ReviewPage {
        var health: ConsolePages.Health
        var itemTitle: String
        var badge: ConsolePages.Badge
        var preview: String
        var details: String
        var emergency: Bool
        var hidden: [Field]
    }

    /// Reads the form into a queue request, naming the field at fault.
    func queueRequest(from values: FormValues, now: Date) throws(StationAPI.Failure) -> StationAPI.QueueRequest {
        guard let kindName = values.kind, let kind = Kind(rawValue: kindName) else {
            throw StationAPI.Failure(error: "请选择类别 choose a kind", field: "kind")
        }
        var level: Int?
        if let text = values.level, !text.isEmpty {
            guard let value = Int(text), (1...4).contains(value) else { throw StationAPI.Failure(error: "must be 1 to 4", field: "level") }
            level = value
        }
        if kind == .emergency, level == nil { throw StationAPI.Failure(error: "紧急广播须选择级别 an emergency needs a level (1 to 4)", field: "level") }
        if kind != .emergency { level = nil }
        let repeatCount = try Self.number(values.repeatCount, "repeat", default: 1, in: 1...Double(QueueRequestDecoder.repeats.upperBound))
        let minutes = try Self.number(values.interval, "interval", default: 0, in: 0...(QueueRequestDecoder.repeatIntervals.upperBound / 60))
        let text = values.text.map { $0.replacingOccurrences(of: "\r\n", with: "\n") }.flatMap { $0.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? nil : $0 }
        if values.upload == nil, text == nil { throw StationAPI.Failure(error: "请输入播出内容 type the text to speak", field: "text") }
        if let text, text.count > maxSpeechCharacters {
            throw StationAPI.Failure(error: "is longer than \(maxSpeechCharacters) characters", field: "text")
        }
        let title = values.title.flatMap { $0.trimmingCharacters(in: .whitespaces).isEmpty ? nil : $0 } ?? values.filename
        let request = StationAPI.QueueRequest(
            text: values.upload == nil ? text : nil, kind: kind, level: level, title: title, repeat: Int(repeatCount),
            repeatInterval: minutes * 60, notBefore: try localTime(values.notBefore, "notBefore"), expires: try localTime(values.expires, "expires"),
            test: values.test == "1")
        try QueueRequestDecoder.checkTimes(request, now: now)
        return request
    }

    static func number(_ text: String?, _ field: String, default value: Double, in range: ClosedRange<Double>) throws(StationAPI.Failure) -> Double {
        guard let text, !text.isEmpty else { return value }
        guard let number = Double(text), number.isFinite, range.contains(number) else {
            throw StationAPI.Failure(error: "must be a number from \(Int(range.lowerBound)) to \(Int(range.upperBound))", field: field)
        }
        return number
    }

    /// A `datetime-local` value ("2026-12-01T14:30") in the station's zone.
    func localTime(_ text: String?, _ field: String) throws(StationAPI.Failure) -> Date? {
        guard let text, !text.isEmpty else { return nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = timeZone
        for format in ["yyyy-MM-dd'T'HH:mm", "yyyy-MM-dd'T'HH:mm:ss"] {
            formatter.dateFormat = format
            if let date = formatter.date(from: text) { return date }
        }
        throw StationAPI.Failure(error: "must be a date and time like 2026-12-01T14:30", field: field)
    }

    func readForm(_ request: Request) async throws -> FormValues {
        let body = try await request.body.collect(upTo: CSRFGuard.maximumFormBytes)
        do {
            return try URLEncodedFormDecoder().decode(FormValues.self, from: String(buffer: body))
        } catch {
            throw APIError(.badRequest, "the form could not be read")
        }
    }

    /// `POST /operate/review`: the confirmation page, saying what will happen.
    @Sendable func review(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        let values = try await readForm(request)
        if let upload = values.upload, !Self.isPendingName(upload) || !FileManager.default.fileExists(atPath: uploadDirectory + "/" + upload) {
            return await page(caller, context, error: "上传的文件已失效，请重新上传 The upload has expired; upload it again.", status: .badRequest)
        }
        let queueRequest: StationAPI.QueueRequest
        do {
            queueRequest = try self.queueRequest(from: values, now: clock())
        } catch {
            return await page(caller, context, values: values, error: error.description, status: .badRequest)
        }
        let status = await station.status()
        let seconds = values.upload.flatMap { ConsoleQueries.audioSeconds(uploadDirectory + "/" + $0) } ?? queueRequest.text.map(Self.speechSeconds)
        let local = LocalTime(timeZone: timeZone)
        var details: [String] = []
        if let seconds { details.append("时长约 about \(AirtimeText.hms(seconds))") }
        if let count = queueRequest.repeat, count > 1 {
            details.append("播 \(count) 次，间隔 \(Int((queueRequest.repeatInterval ?? 0) / 60)) 分钟 plays \(count) times")
        }
        if let notBefore = queueRequest.notBefore { details.append("不早于 not before \(local.dateTime(notBefore))") }
        if let expires = queueRequest.expires { details.append("过期 expires \(local.dateTime(expires))") }
        if queueRequest.test == true { details.append("演练 drill") }
        let model = ReviewPage(
            health: .init(status, freeBytes: ConsoleQueries.freeBytes(at: stateDirectory)),
            itemTitle: queueRequest.title ?? String((queueRequest.text ?? "").prefix(40)),
            badge: .init(queueRequest.kind, queueRequest.level, queueRequest.test ?? false),
            preview: Forecast.line(kind: queueRequest.kind, notBefore: queueRequest.notBefore, status: status, timing: timing, local: local),
            details: details.joined(separator: " · "), emergency: queueRequest.kind == .emergency,
            hidden: values.hidden.map { Field(name: $0.text, value: $0.value) })
        return ConsolePages.render("review", frame("确认 Confirm", caller, .operate, context, script: true), model)
    }

    /// About how long espeak-ng takes to say a Chinese text: some four characters a second.
    static func speechSeconds(_ text: String) -> Double { max(1, Double(text.count) / 4) }

    var timing: Forecast.Timing {
        .init(chime: chimeSeconds, attention: attentionSeconds, seconds: { ConsoleQueries.audioSeconds($0) })
    }

    /// `POST /operate/queue`: queues what was reviewed. An emergency needs its second confirmation.
    @Sendable func queue(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        let values = try await readForm(request)
        let queueRequest: StationAPI.QueueRequest
        do {
            queueRequest = try self.queueRequest(from: values, now: clock())
        } catch {
            return await page(caller, context, values: values, error: error.description, status: .badRequest)
        }
        if queueRequest.kind == .emergency, values.confirmEmergency != "1" {
            return await page(
                caller, context, values: values, error: "紧急广播须再次确认 An emergency needs its second confirmation.", status: .badRequest)
        }
        var uploaded: String?
        if let upload = values.upload {
            guard Self.isPendingName(upload), FileManager.default.fileExists(atPath: uploadDirectory + "/" + upload) else {
                return await page(caller, context, error: "上传的文件已失效，请重新上传 The upload has expired; upload it again.", status: .badRequest)
            }
            uploaded = uploadDirectory + "/" + upload
        }
        do {
            let announcement = try await intake.announcement(from: queueRequest, uploaded: uploaded, source: caller.name, tier: caller.tier)
            let receipt: StationAPI.QueueReceipt
            do {
                receipt = try await station.enqueue(announcement)
            } catch {
                let failure = APIError(error).failure
                return await page(caller, context, values: values, error: failure.description, status: .init(code: 507))
            }
            context.logger.notice("console: \(caller.name) queued \(receipt.id) (\(queueRequest.kind.rawValue))")
            return ConsoleController.redirect(to: "/live" + HTML.query([("queued", receipt.id)]))
        } catch {
            var failure = error
            if let uploaded { failure.error = failure.error.replacingOccurrences(of: uploaded, with: values.filename ?? "the upload") }
            return await page(caller, context, values: values, error: failure.description, status: .badRequest)
        }
    }

    /// `POST /operate/listen`: the text spoken as the station would say it, as a WAV for the browser to play before
    /// anything goes on air. Nothing is queued.
    @Sendable func listen(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        let values = try await readForm(request)
        guard let preparation else {
            return ConsolePages.problem(
                title: "无法试听 No preview", message: "本站未启用语音合成 Speech synthesis is not available on this station.", user: caller.name,
                back: "/operate", status: .serviceUnavailable)
        }
        guard let text = values.text?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else {
            return await page(caller, context, values: values, error: "text: 请输入播出内容 type the text to speak", status: .badRequest)
        }
        do {
            let path = try await preparation.speak(text, voice: nil)
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            return Response(
                status: .ok, headers: [.contentType: "audio/wav", .cacheControl: "no-store", .contentDisposition: "inline; filename=\"preview.wav\""],
                body: .init(byteBuffer: ByteBuffer(bytes: data)))
        } catch let failure as StationAPI.Failure {
            return await page(caller, context, values: values, error: failure.description, status: .badRequest)
        }
    }

    // MARK: - The live queue

    struct LivePage {
        var health: ConsolePages.Health
        var notice: String?
        var nowID: String
        var nowPlaying: LiveNow?
        var queue: [ConsolePages.QueueItem]
        var queueCount: Int
        var queueEmpty: Bool
        var csrf: String
    }

    struct LiveNow {
        var id: String
        var title: String
        var badge: ConsolePages.Badge
        var position: String
        var source: String
        var playNumber: Int
        var repeatCount: Int
        var startedAt: String?
        var hasDuration: Bool
        var duration: Double
        var progress: Double
        var csrf: String
    }

    func liveModel(_ context: StationRequestContext, notice: String?) async -> LivePage {
        let status = await station.status()
        let local = LocalTime(timeZone: timeZone)
        let csrf = context.sessions.session?.csrf ?? ""
        let starts = Forecast.expectedStarts(status: status, timing: timing)
        let now = status.nowPlaying.map { playing in
            let view = ConsolePages.NowPlaying(playing, local: local)
            return LiveNow(
                id: view.id, title: view.title, badge: view.badge, position: view.position, source: view.source, playNumber: view.playNumber,
                repeatCount: view.repeatCount, startedAt: view.startedAt, hasDuration: view.hasDuration, duration: view.duration, progress: view.progress,
                csrf: csrf)
        }
        return LivePage(
            health: .init(status, freeBytes: ConsoleQueries.freeBytes(at: stateDirectory)), notice: notice, nowID: status.nowPlaying?.item.id ?? "",
            nowPlaying: now,
            queue: status.queue.map { item in
                .init(item, local: local, expected: starts[item.id].map { "\(local.time($0)) 开始 starts" } ?? "时间未知 unknown")
            }, queueCount: status.queue.count, queueEmpty: status.queue.isEmpty, csrf: csrf)
    }

    @Sendable func live(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        let parameters = QueryParameters(request)
        var notice: String?
        if let id = parameters["queued"] { notice = "已加入队列 Queued: \(id)" }
        if let id = parameters["cancelled"] { notice = "已取消 Cancelled: \(id)" }
        if let count = parameters["stopped"] { notice = "已全部停播 Stopped everything (\(count) items)" }
        let model = await liveModel(context, notice: notice)
        return ConsolePages.render("live", frame("实时队列 Live queue", caller, .live, context, script: true, reload: 5), model)
    }

    /// The live sections alone, which the page's script fetches every second and swaps in.
    @Sendable func liveFragment(_ request: Request, context: StationRequestContext) async throws -> Response {
        let model = await liveModel(context, notice: nil)
        let html = ConsolePages.library.render(model, withTemplate: "live-section") ?? ""
        return ConsolePages.response(html)
    }

    struct IDForm: Decodable {
        var id: String?
        var confirm: String?
    }

    @Sendable func cancel(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        let body = try await request.body.collect(upTo: CSRFGuard.maximumFormBytes)
        let form = (try? URLEncodedFormDecoder().decode(IDForm.self, from: String(buffer: body))) ?? IDForm()
        guard let id = form.id, !id.isEmpty else { throw APIError(.badRequest, "is required", field: "id") }
        guard await station.cancel(id: id, by: caller.name) else {
            return ConsolePages.problem(
                title: "无法取消 Not found", message: "没有这一条（可能已播完）No queued or playing item has id \(DisplayText.echo(id, limit: 200)).",
                user: caller.name, back: "/live", status: .notFound)
        }
        return ConsoleController.redirect(to: "/live" + HTML.query([("cancelled", id)]))
    }

    @Sendable func stopAll(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        let body = try await request.body.collect(upTo: CSRFGuard.maximumFormBytes)
        let form = (try? URLEncodedFormDecoder().decode(IDForm.self, from: String(buffer: body))) ?? IDForm()
        guard form.confirm == "1" else {
            return ConsolePages.problem(
                title: "未确认 Not confirmed", message: "请勾选确认后再全部停播。Tick the confirmation to stop everything.", user: caller.name,
                back: "/live", status: .badRequest)
        }
        let count = await station.stopAll(by: caller.name)
        return ConsoleController.redirect(to: "/live?stopped=\(count)")
    }

    // MARK: - Schedule

    struct SchedulePage {
        var health: ConsolePages.Health
        var available: Bool
        var count: Int
        var days: [ScheduleDay]
    }

    struct ScheduleDay {
        var date: String
        var weekday: String
        var lunar: String
        var slots: [ScheduleSlot]
    }

    struct ScheduleSlot {
        var programme: String
        var title: String
        var badge: ConsolePages.Badge
        var time: String
        var lunar: String
        var rule: String
        var file: String
        var line: Int
    }

    /// `GET /schedule`: the slots of the next seven days, by local day, with the lunar date and the rule behind each.
    @Sendable func schedule(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        let status = await station.status()
        let now = clock()
        let end = now.addingTimeInterval(7 * 86_400)
        let local = LocalTime(timeZone: timeZone)
        let lunar = LunarDate(timeZone: timeZone)
        var days: [ScheduleDay] = []
        if let schedules {
            for slot in await schedules.listing(count: 2_000) where slot.time < end {
                let date = local.date(slot.time)
                let view = ScheduleSlot(
                    programme: slot.programme, title: slot.title, badge: .init(slot.kind, slot.level, false), time: local.time(slot.time).prefix(5).description,
                    lunar: lunar.describe(slot.time), rule: slot.rule, file: (slot.file as NSString).lastPathComponent, line: slot.line)
                if days.last?.date == date {
                    days[days.count - 1].slots.append(view)
                } else {
                    days.append(.init(date: date, weekday: lunar.weekday(slot.time), lunar: lunar.describe(slot.time), slots: [view]))
                }
            }
        }
        let model = SchedulePage(
            health: .init(status, freeBytes: ConsoleQueries.freeBytes(at: stateDirectory)), available: schedules != nil,
            count: days.reduce(0) { $0 + $1.slots.count }, days: days)
        return ConsolePages.render("schedule", frame("节目表 Schedule", caller, .schedule, context), model)
    }
}
