import DalabaCore
import DalabaStation
import Foundation
import Hummingbird

/// `GET /v1/volume` and `POST /v1/volume` (`{"base": -6}`): the station's base level, admin only. Emergencies keep their
/// own levels whatever the base, so turning a village down at night never muffles an alert. A new base is stored before it
/// is answered, so it outlasts a restart.
struct VolumeController {
    let station: Station

    func addRoutes(to routes: RouteTable) {
        routes.group(.admin)
            .get("/v1/volume", use: show)
            .post("/v1/volume", use: set)
    }

    @Sendable func show(_ request: Request, context: StationRequestContext) async throws -> Response {
        try JSONResponse.make(await station.status().volume)
    }

    /// The body is exactly `{"base": N}` with N in dB from -60 to 0; anything else is a 400 naming `base`.
    @Sendable func set(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: 1 << 10)
        } catch {
            throw APIError(.contentTooLarge, "a volume request is larger than 1 KiB")
        }
        // A dictionary of numbers, so a string, a boolean or a nested value is refused, and then exactly one key.
        let fields = try? JSONDecoder().decode([String: Double].self, from: Data(body.readableBytesView))
        guard let fields, Set(fields.keys) == ["base"], let base = fields["base"] else {
            throw APIError(.badRequest, "send {\"base\": dB} (a number) and nothing else", field: "base")
        }
        guard base.isFinite, VolumeLevels.range.contains(base) else {
            throw APIError(.badRequest, "must be from \(Int(VolumeLevels.range.lowerBound)) to 0 dB", field: "base")
        }
        let volume: StationAPI.Volume
        do {
            volume = try await station.setBaseVolume(base, by: caller.name)
        } catch {
            let reason = if case .notStored(let reason) = error { reason } else { "\(error)" }
            throw APIError(
                .init(code: 507, reasonPhrase: "Insufficient Storage"), "the station could not store the base volume, so it is unchanged: \(reason)")
        }
        return try JSONResponse.make(volume)
    }
}
