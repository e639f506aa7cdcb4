import DalabaCore
import Foundation

/// Reads the head-end's request bodies as strictly as the village reads a queue request: the announcement (a queue request
/// plus `to`, read in the same pass by the same field reader, so a duplicated or misspelt `to` is refused like any other
/// key) and the update of an announcement already sent.
public enum CountyRequestDecoder {
    /// The keys of a county announcement: a queue request's and `to`.
    public static let announcementKeys = QueueRequestDecoder.acceptedKeys + ["to"]
    public static let updateKeys = ["title", "expires"]
    /// Most region codes in one `to` (as many as one county message may carry).
    public static let maximumTargets = 1_000

    /// A queue request and its `to` (nil when left out): a list of 1 to 1000 strings. Whether each is a region code inside the
    /// caller's scope is the desk's check, which names the entry (`to[2]`).
    public static func announcement(_ body: [UInt8]) throws(StationAPI.Failure) -> (request: StationAPI.QueueRequest, to: [String]?) {
        guard String(validating: body, as: UTF8.self) != nil else { throw StationAPI.Failure(error: "the body is not UTF-8 text") }
        try StrictJSONScan.check(body)
        let decoder = JSONDecoder()
        decoder.userInfo[StrictQueueRequest.acceptedKeysInfo] = announcementKeys
        do {
            let decoded = try decoder.decode(StrictCountyAnnouncement.self, from: Data(body))
            return (decoded.request.request, decoded.to)
        } catch let failure as StationAPI.Failure {
            throw failure
        } catch {
            throw StationAPI.Failure(error: "the body could not be read as an announcement: \(error)")
        }
    }

    /// `PATCH /v1/announcements/{id}`: a new `title`, a new `expires`, or both; at least one.
    public static func update(_ body: [UInt8]) throws(StationAPI.Failure) -> CountyAPI.UpdateRequest {
        guard String(validating: body, as: UTF8.self) != nil else { throw StationAPI.Failure(error: "the body is not UTF-8 text") }
        try StrictJSONScan.check(body)
        do {
            return try JSONDecoder().decode(StrictUpdate.self, from: Data(body)).update
        } catch let failure as StationAPI.Failure {
            throw failure
        } catch {
            throw StationAPI.Failure(error: "the body could not be read as an update: \(error)")
        }
    }
}

/// The queue request (through `StrictQueueRequest`, told that `to` is a known key) and `to`, from one object.
struct StrictCountyAnnouncement: Decodable {
    var request: StrictQueueRequest
    var to: [String]?

    init(from decoder: any Decoder) throws {
        request = try StrictQueueRequest(from: decoder)
        let c = try decoder.container(keyedBy: AnyKey.self)
        let key = AnyKey("to")
        guard c.contains(key), try !c.decodeNil(forKey: key) else { return }
        guard var list = try? c.nestedUnkeyedContainer(forKey: key) else {
            throw StationAPI.Failure(error: "must be a list of region codes, like [\"370703001\"]", field: "to")
        }
        var codes: [String] = []
        while !list.isAtEnd {
            guard codes.count < CountyRequestDecoder.maximumTargets else {
                throw StationAPI.Failure(
                    error: "has more than \(CountyRequestDecoder.maximumTargets) codes: target their township or the county", field: "to")
            }
            guard let code = try? list.decode(String.self) else {
                throw StationAPI.Failure(error: "must be a region code as a string, like \"370703001\"", field: "to[\(codes.count)]")
            }
            codes.append(code)
        }
        guard !codes.isEmpty else { throw StationAPI.Failure(error: "is empty: leave it out to reach your whole region", field: "to") }
        to = codes
    }
}

struct StrictUpdate: Decodable {
    var update: CountyAPI.UpdateRequest

    init(from decoder: any Decoder) throws {
        let reader = FieldReader(container: try decoder.container(keyedBy: AnyKey.self))
        try reader.refuseUnknownKeys(accepted: CountyRequestDecoder.updateKeys)
        update = CountyAPI.UpdateRequest(
            title: try reader.line("title", maximum: QueueRequestDecoder.maximumTitleLength), expires: try reader.date("expires"))
        guard update.title != nil || update.expires != nil else {
            throw StationAPI.Failure(error: "give title, expires or both (nothing to change)", field: nil)
        }
    }
}
