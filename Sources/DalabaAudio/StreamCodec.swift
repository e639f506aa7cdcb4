import Foundation

/// The codecs a relay decodes, told apart by the response's `Content-Type` and, where that says only "Ogg" or nothing
/// useful, by the stream's first bytes.
enum StreamCodec: String, Equatable, Sendable {
    case mp3 = "MP3"
    case vorbis = "Ogg Vorbis"
    case opus = "Ogg Opus"

    /// What the first bytes of a stream tell.
    enum Identification: Equatable, Sendable {
        case codec(StreamCodec)
        /// Not enough bytes yet to tell.
        case needMore
        /// Not a stream the station relays, and why.
        case refused(String)
    }

    /// Judges a stream whose response passed `RelayStream.refusal` from its content type and its first bytes.
    ///
    /// An MPEG type is taken at its word: MP3 streams may begin mid-frame, and the MPEG decoder gives up on its own when no
    /// frame comes. An Ogg type must begin with an Ogg page whose first packet is a Vorbis or Opus identification header.
    /// A missing or generic type (`application/octet-stream`) goes by the bytes: an Ogg page as above, else MP3.
    static func identify(contentType: String?, prefix: [UInt8]) -> Identification {
        let type = mediaType(contentType)
        if mpegTypes.contains(type) { return .codec(.mp3) }
        let claimsOgg = oggTypes.contains(type)
        let capture = Array("OggS".utf8)
        if prefix.count < capture.count { return .needMore }
        guard prefix.starts(with: capture) else {
            if claimsOgg { return .refused("not Ogg: the server sent \(type) but the stream does not begin with an Ogg page") }
            return .codec(.mp3)
        }
        // The page header is 27 bytes, then its segment table; the first packet follows.
        guard prefix.count >= 27 else { return .needMore }
        let packet = 27 + Int(prefix[26])
        guard prefix.count >= packet + 8 else { return .needMore }
        let head = Array(prefix[packet..<(packet + 8)])
        if head.starts(with: [0x01] + Array("vorbis".utf8)) { return .codec(.vorbis) }
        if head == Array("OpusHead".utf8) { return .codec(.opus) }
        let shown = String(decoding: head.map { (0x20..<0x7F).contains($0) ? $0 : UInt8(ascii: ".") }, as: UTF8.self)
        return .refused("an Ogg stream of a codec the station does not relay (first packet \"\(shown)\"): it relays MP3, Ogg Vorbis and Ogg Opus")
    }

    static let mpegTypes: Set = ["audio/mpeg", "audio/mp3", "audio/mpeg3", "audio/x-mpeg", "audio/x-mp3", "audio/mpa"]
    static let oggTypes: Set = [
        "audio/ogg", "application/ogg", "audio/opus", "audio/vorbis", "audio/x-ogg", "application/x-ogg", "audio/x-vorbis+ogg",
    ]

    /// The media type of a `Content-Type` value, lowercased, without its parameters.
    static func mediaType(_ contentType: String?) -> String {
        (contentType ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
    }
}
