import DalabaCore
import DalabaIntake
import DalabaStation
import Hummingbird

/// `POST /v1/live` puts a live item (实时喊话) on the queue; `DELETE /v1/live` ends it. Operators only, by bearer token,
/// like queueing: tier from the token, never above it; the input only from the station's configured list.
struct LiveController {
    let station: Station
    let intake: AnnouncementIntake

    func addRoutes(to routes: RouteTable) {
        routes.group(.operatorAPI)
            .post("/v1/live", use: start)
            .delete("/v1/live", use: stop)
    }

    @Sendable func start(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        let body = try await request.jsonBody(upTo: 16 << 10, "a live request", send: "send the live request as application/json")
        let live: StationAPI.LiveRequest
        let announcement: Announcement
        do {
            live = try LiveRequestDecoder.decode(body)
        } catch {
            throw APIError(.badRequest, error)
        }
        let tier: Tier
        do {
            tier = try QueueRequestDecoder.tier(requested: live.tier, allowed: caller.tier, token: caller.name)
        } catch {
            throw APIError(error.error.hasPrefix("unknown") ? .badRequest : .forbidden, error)
        }
        do {
            announcement = try intake.liveAnnouncement(from: live, source: caller.name, tier: tier)
        } catch {
            throw APIError(.badRequest, error)
        }
        let receipt: StationAPI.QueueReceipt
        do {
            receipt = try await station.enqueue(announcement)
        } catch {
            throw APIError(error)
        }
        return try JSONResponse.make(receipt, status: receipt.status == .queued ? .created : .ok)
    }

    @Sendable func stop(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        guard let id = await station.endLive(by: caller.name) else { throw APIError(.notFound, "no live item is on air or queued") }
        return try JSONResponse.make(StationAPI.LiveEnded(id: id))
    }
}
