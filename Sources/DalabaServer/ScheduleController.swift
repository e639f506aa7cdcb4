import DalabaSchedule
import DalabaStation
import Hummingbird

/// The schedule as the officials' console and remote operators see it: the coming slots of the programmes running now.
struct ScheduleController {
    let schedules: ScheduleService

    /// More than a year of a busy station's slots is never needed at once, and the cap bounds the work of one request.
    static let maximumCount = 10_000

    func addRoutes(to routes: RouteTable) {
        routes.group(.watcher).get("/v1/schedule/next", use: next)
    }

    /// `GET /v1/schedule/next?count=N` (default 10): the next N slots with their local time and rule.
    @Sendable func next(_ request: Request, context: StationRequestContext) async throws -> Response {
        let count: Int
        if let text = request.uri.queryParameters.get("count") {
            guard let value = Int(text), (1...Self.maximumCount).contains(value) else {
                throw APIError(.badRequest, "must be a whole number from 1 to \(Self.maximumCount)", field: "count")
            }
            count = value
        } else {
            count = 10
        }
        return try JSONResponse.make(await schedules.listing(count: count))
    }
}
