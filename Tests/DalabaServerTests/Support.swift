import DalabaAudio
import DalabaCore
@testable import DalabaServer
import DalabaStation
import DalabaStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

let shanghai = TimeZone(identifier: "Asia/Shanghai")!

/// An instant written with its offset, so each test states the wall clock it means: "2025-03-14T08:00:00+08:00".
func instant(_ text: String) -> Date {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.date(from: text)!
}

enum Tokens {
    static let official = Configuration.Token(name: "王主任", token: "official-token-0123456789", role: .official)
    static let admin = Configuration.Token(name: "admin", token: "admin-token-0123456789ab", role: .admin)
    static let operatorToken = Configuration.Token(name: "广播员", token: "operator-token-012345678", role: .operatorRole)
    static let all = [official, admin, operatorToken]
}

func bearer(_ token: Configuration.Token) -> HTTPFields { [.authorization: "Bearer \(token.token)"] }

/// A fresh sign-in form, as `GET /login` gives it: the pre-session nonce cookie and the `login_csrf` field that goes with it.
struct SignInForm {
    var nonce: String
    var field: String
    /// The form's headers for `POST /login`: URL-encoded, with the nonce cookie.
    var headers: HTTPFields { [.contentType: "application/x-www-form-urlencoded", .cookie: "\(LoginToken.cookieName)=\(nonce)"] }
    /// `fields` with the form's token appended.
    func body(_ fields: String) -> ByteBuffer { ByteBuffer(string: fields + "&login_csrf=\(field)") }

    static func fetch(_ client: some TestClientProtocol) async throws -> SignInForm {
        try await client.execute(uri: "/login", method: .get) { response throws in
            let cookie = try #require(response.headers[values: .setCookie].first { $0.hasPrefix("\(LoginToken.cookieName)=") })
            let marker = "name=\"login_csrf\" value=\""
            let start = try #require(response.text.range(of: marker)).upperBound
            return SignInForm(
                nonce: String(cookie.dropFirst(LoginToken.cookieName.count + 1).prefix { $0 != ";" }), field: String(response.text[start...].prefix(64)))
        }
    }
}

func record(
    _ id: String, _ title: String, kind: Kind, level: Int? = nil, test: Bool = false, tier: Tier = .village, source: String = "村委会",
    startedAt: Date?, endedAt: Date? = nil, frames: Int64, rate: Int = 48000, outcome: Outcome = .completed, error: String? = nil
) -> AirtimeRecord {
    let start = startedAt ?? endedAt!
    return AirtimeRecord(
        announcementID: id, title: title, kind: kind, level: level, isTest: test, tier: tier, source: source, audio: "/srv/audio/\(id).wav",
        text: nil, playNumber: 1, scheduledAt: nil, startedAt: startedAt,
        endedAt: endedAt ?? start.addingTimeInterval(rate > 0 ? Double(frames) / Double(rate) : 0), frames: frames, signalFrames: 4800,
        rate: rate, outcome: outcome, error: error)
}

/// The prepared log: three days in Asia/Shanghai with every kind, a drill, a cancel that never played, a failure, a title that
/// needs CSV quoting and one that a spreadsheet would take for a formula.
enum PreparedLog {
    static let quotedTitle = "关于\"秸秆禁烧\"的通知，请相互转告, 谢谢"
    static let formulaTitle = "=HYPERLINK(\"http://example.com\")"

    static let records: [AirtimeRecord] = [
        record(
            "e1", "防汛应急通知", kind: .emergency, level: 2, tier: .county, source: "县应急管理局", startedAt: instant("2025-03-14T08:00:00+08:00"),
            frames: 48000 * 90),
        record("p1", quotedTitle, kind: .policy, startedAt: instant("2025-03-14T09:00:00+08:00"), frames: 44100 * 120 + 100, rate: 44100),
        record(
            "d1", "地震应急演练", kind: .emergency, level: 1, test: true, source: "县应急管理局", startedAt: instant("2025-03-14T10:00:00+08:00"),
            frames: 48000 * 60),
        record(
            "r1", "早间新闻", kind: .routine, source: "schedule:morning-news", startedAt: instant("2025-03-15T07:30:00+08:00"), frames: 48000 * 300,
            outcome: .interrupted),
        record(
            "x1", "辟谣：自来水安全", kind: .rumorRebuttal, source: "乡政府", startedAt: nil, endedAt: instant("2025-03-15T07:40:00+08:00"),
            frames: 0, rate: 0, outcome: .cancelled),
        record(
            "f1", formulaTitle, kind: .policy, startedAt: instant("2025-03-16T12:00:00+08:00"), frames: 48000 * 30, outcome: .failed,
            error: "device lost, reopened"),
        record("n1", "晚间天气", kind: .routine, source: "weather-relay", startedAt: instant("2025-03-16T23:59:50+08:00"), frames: 48000 * 10),
    ]

    /// Real airtime: 90 + (120 + 100/44100) + 300 + 30 + 10 seconds; drills: 60.
    static let realSeconds = 90.0 + 120.0 + 100.0 / 44100.0 + 300 + 30 + 10
    static let drillSeconds = 60.0

    static func store() throws -> StationStore {
        let store = try StationStore.inMemory(timeZone: shanghai)
        try store.append(contentsOf: records)
        return store
    }
}

/// A log source whose every read fails as a read-only or vanished database would, for the 503 paths.
struct FailingLogSource: AirtimeLogSource {
    var error = StoreError(
        operation: "read the airtime log", path: "/var/lib/dalaba/station.sqlite", reason: .cannotOpen,
        message: "the database file cannot be opened (disk I/O error)")

    func log(_ query: LogQuery) throws -> [LogRow] { throw error }
    func logCount(_ query: LogQuery) throws -> Int { throw error }
    func report(_ query: ReportQuery) throws -> Report { throw error }
    func verify(expecting published: ChainHead?) throws -> Verification { throw error }
}

func testConfiguration() -> Configuration {
    var configuration = Configuration()
    configuration.tokens = Tokens.all
    configuration.timeZone = shanghai
    configuration.output = OutputFormat(device: "null")
    configuration.stateDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("dalaba-server-tests").path
    return configuration
}

/// A station that never runs (status still answers).
func idleStation(_ configuration: Configuration) throws -> Station {
    let store = try StationStore.inMemory(timeZone: shanghai)
    let player = Player(format: configuration.output, logger: Logger(label: "test.player"))
    let station = try Station(configuration: configuration, store: store, player: player, metrics: StationMetrics(), logger: Logger(label: "test"))
    // The station never runs here, so nothing would ever end the player's thread: end it now (status still reads its health).
    player.shutdown()
    return station
}

/// The application as the daemon composes it, over the given log, with a station that never runs (status still answers).
func makeApplication(source: (any AirtimeLogSource)? = nil) throws -> some ApplicationProtocol {
    let configuration = testConfiguration()
    return buildApplication(
        station: try idleStation(configuration), configuration: configuration, metrics: StationMetrics(), store: try source ?? PreparedLog.store(),
        logger: Logger(label: "test.http"))
}

/// The router and its declared routes, as `buildApplication` builds them.
func makeRouter(station: Station? = nil) throws -> (Router<StationRequestContext>, [DeclaredRoute]) {
    let configuration = testConfiguration()
    return buildRouter(
        station: try station ?? idleStation(configuration), configuration: configuration, metrics: StationMetrics(), store: try PreparedLog.store(),
        sessions: MemoryPersistDriver())
}

extension TestResponse {
    var text: String { String(buffer: body) }

    func json<T: Decodable>(_ type: T.Type) throws -> T {
        try StationAPI.makeDecoder().decode(type, from: Data(body.readableBytesView))
    }
}
