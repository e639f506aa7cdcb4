import DalabaCore
import Foundation

/// Reads the JSON of `POST /v1/live` as strictly as a queue request: known keys once each, typed, bounded. The input is
/// only a name here; the station accepts it only if it is one of its configured capture inputs, since an ALSA PCM
/// string can name a file plugin that would broadcast any file the daemon can read.
public enum LiveRequestDecoder {
    public static let acceptedKeys = ["kind", "level", "title", "tier", "id", "test", "input", "url", "silence", "maximum"]

    public static func decode(_ body: [UInt8]) throws(StationAPI.Failure) -> StationAPI.LiveRequest {
        guard String(validating: body, as: UTF8.self) != nil else { throw StationAPI.Failure(error: "the body is not UTF-8 text") }
        try StrictJSONScan.check(body)
        do {
            return try JSONDecoder().decode(StrictLiveRequest.self, from: Data(body)).request
        } catch let failure as StationAPI.Failure {
            throw failure
        } catch {
            throw StationAPI.Failure(error: "the body could not be read as a live request: \(error)")
        }
    }
}

struct StrictLiveRequest: Decodable {
    var request: StationAPI.LiveRequest

    init(from decoder: any Decoder) throws {
        let reader = FieldReader(container: try decoder.container(keyedBy: AnyKey.self))
        try reader.refuseUnknownKeys(accepted: LiveRequestDecoder.acceptedKeys)
        let (kind, level) = try reader.kindAndLevel()
        request = StationAPI.LiveRequest(kind: kind, level: level)
        request.title = try reader.line("title", maximum: QueueRequestDecoder.maximumTitleLength)
        request.test = try reader.bool("test")
        if let id = try reader.string("id") {
            try AnnouncementID.validate(id, field: "id")
            request.id = id
        }
        if let tier = try reader.string("tier") {
            guard Tier(name: tier) != nil else {
                throw StationAPI.Failure(error: "unknown tier \(DisplayText.echo(tier)) (use county, township or village)", field: "tier")
            }
            request.tier = tier
        }
        request.input = try reader.line("input", maximum: 200)
        request.url = try reader.line("url", maximum: LiveSource.maximumURLLength)
        if request.input != nil, request.url != nil {
            throw StationAPI.Failure(error: "give an input or a url (a relay), not both", field: "url")
        }
        request.silence = try reader.seconds("silence", in: 0...3_600)
        request.maximum = try reader.seconds("maximum", in: 1...86_400)
    }
}
