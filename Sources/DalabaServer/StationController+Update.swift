import DalabaCore
import DalabaIntake
import DalabaStation
import Foundation
import Hummingbird

extension StationController {
    /// `PATCH /v1/announcements/{id}` (`{"title"?, "expires"?}`, strictly, as at the head-end): changes a queued or playing
    /// item in one step (`Station.amend`). 404 when nothing has the id, 409 when it is being stopped, 422 when the change
    /// breaks a rule of the item (an end time not after its not-before), 507 when the store cannot keep it.
    @Sendable func update(_ request: Request, context: StationRequestContext) async throws -> Response {
        let caller = try context.caller
        let prefix = "/v1/announcements/"
        guard request.uri.path.hasPrefix(prefix), let id = AnnouncementID.percentDecoded(request.uri.path.dropFirst(prefix.count)), !id.isEmpty else {
            throw APIError(.badRequest, "is not a percent-encoded UTF-8 id", field: "id")
        }
        let body = try await request.jsonBody(upTo: 64 << 10, "an update", send: "send application/json: {\"title\": …, \"expires\": …}")
        let change: CountyAPI.UpdateRequest
        do {
            change = try CountyRequestDecoder.update(body)
        } catch {
            throw APIError(.badRequest, error)
        }
        let result: Arbiter.AmendResult
        do {
            result = try await station.amend(id: id, Amendment(title: change.title, expires: change.expires), by: caller.name)
        } catch {
            switch error {
            case .unknown: throw APIError(.notFound, "no queued or playing announcement has id \(DisplayText.echo(id, limit: 200))", field: "id")
            case .stopping: throw APIError(.conflict, error.description, field: "id")
            case .invalid(let invalid): throw APIError(.unprocessableContent, invalid.reason, field: invalid.field)
            case .notStored: throw APIError(.init(code: 507, reasonPhrase: "Insufficient Storage"), error.description)
            }
        }
        return try JSONResponse.make(StationAPI.UpdateReceipt(id: id, result))
    }
}
