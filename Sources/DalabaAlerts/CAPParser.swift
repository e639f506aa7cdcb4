import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Parses and validates OASIS CAP 1.2 documents given as bytes. Pure: it reads no file, opens no socket and
/// resolves no entity, so an alert from an untrusted upstream can do nothing but be accepted or refused with a reason.
public struct CAPParser: Sendable {
    /// The only namespace accepted: CAP 1.0 and 1.1 differ in meaning (1.1 sizes are kilobytes, 1.0 has "Very Likely").
    public static let namespace = "urn:oasis:names:tc:emergency:cap:1.2"

    /// Documents longer than this are refused before parsing; 1 MiB fits a text alert with a short embedded recording.
    public var maximumBytes: Int
    /// Accept `Z` for UTC in date-times, which CAP 1.2 forbids but some feeds send; off by default.
    public var acceptsZuluTime: Bool

    /// Off only in tests, to show that the parser's own refusal of DTDs holds even without the byte screen.
    var screensDeclarations = true

    public init(maximumBytes: Int = 1 << 20, acceptsZuluTime: Bool = false) {
        self.maximumBytes = maximumBytes
        self.acceptsZuluTime = acceptsZuluTime
    }

    /// Parses one `<alert>`; every refusal names its field (`CAPError.field`).
    public func parse(_ data: Data) throws(CAPError) -> CAPAlert {
        try screen(data)
        let root = try buildTree(data)
        guard root.name == "alert" else {
            throw CAPError(field: "document", reason: "the root element is <\(root.name)>, not a CAP <alert>")
        }
        guard let namespace = root.namespace, !namespace.isEmpty else {
            throw CAPError(field: "alert", reason: "missing namespace: expected xmlns=\"\(CAPParser.namespace)\"")
        }
        guard namespace == CAPParser.namespace else {
            throw CAPError(field: "alert", reason: "wrong namespace '\(namespace)': expected '\(CAPParser.namespace)' (CAP 1.2)")
        }
        return try alert(root)
    }

    // MARK: - Before XMLParser sees a byte

    /// Refuses what must never reach an XML parser: oversize input, non-UTF-8 encodings (a UTF-16 document would hide a
    /// DOCTYPE from a byte scan), and any DTD or entity declaration (XXE, billion laughs).
    private func screen(_ data: Data) throws(CAPError) {
        if data.isEmpty { throw CAPError(field: "document", reason: "is empty") }
        if data.count > maximumBytes {
            throw CAPError(field: "document", reason: "is \(data.count) bytes, over the limit of \(maximumBytes) bytes")
        }
        if data.starts(with: [0xFE, 0xFF]) || data.starts(with: [0xFF, 0xFE]) || data.contains(0) {
            throw CAPError(field: "document", reason: "only UTF-8 documents are accepted")
        }
        let bytes = [UInt8](data)
        let body = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? bytes[3...] : bytes[...]
        // EBCDIC and other ASCII-incompatible encodings would hide a DOCTYPE from the scan below; in them '<' is not 0x3C.
        guard body.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) }) == UInt8(ascii: "<") else {
            throw CAPError(field: "document", reason: "is not an XML document in UTF-8 (it must start with '<')")
        }
        if body.starts(with: Array("<?xml".utf8)), let declarationEnd = find(Array("?>".utf8), in: Array(body)) {
            let declaration = String(decoding: body.prefix(declarationEnd), as: UTF8.self).lowercased()
            if let range = declaration.range(of: "encoding") {
                let value = declaration[range.upperBound...].drop(while: { $0 == " " || $0 == "=" || $0 == "\"" || $0 == "'" })
                    .prefix(while: { $0 != "\"" && $0 != "'" })
                guard ["utf-8", "utf8", "us-ascii", "ascii"].contains(String(value)) else {
                    throw CAPError(field: "document", reason: "declares encoding '\(value)'; only UTF-8 documents are accepted")
                }
            }
        }
        guard screensDeclarations else { return }
        if findIgnoringCase("<!DOCTYPE", in: bytes) != nil {
            throw CAPError(field: "document", reason: "contains a DOCTYPE; DTDs are refused (external and internal entities are never expanded)")
        }
        if findIgnoringCase("<!ENTITY", in: bytes) != nil {
            throw CAPError(
                field: "document", reason: "contains an entity declaration; DTDs are refused (external and internal entities are never expanded)")
        }
    }

    private func find(_ needle: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= needle.count else { return nil }
        for start in 0...(bytes.count - needle.count) where bytes[start] == needle[0] {
            if bytes[start..<(start + needle.count)].elementsEqual(needle) { return start }
        }
        return nil
    }

    private func findIgnoringCase(_ needle: String, in bytes: [UInt8]) -> Int? {
        let needle = Array(needle.uppercased().utf8)
        guard bytes.count >= needle.count else { return nil }
        for start in 0...(bytes.count - needle.count) where bytes[start] == needle[0] {
            var matches = true
            for offset in 1..<needle.count {
                var byte = bytes[start + offset]
                if (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) { byte -= 32 }
                if byte != needle[offset] {
                    matches = false
                    break
                }
            }
            if matches { return start }
        }
        return nil
    }

    // MARK: - XML to a small tree

    private func buildTree(_ data: Data) throws(CAPError) -> Element {
        let parser = XMLParser(data: data)
        let builder = TreeBuilder()
        parser.delegate = builder
        parser.shouldProcessNamespaces = true
        parser.shouldReportNamespacePrefixes = false
        parser.shouldResolveExternalEntities = false
        let ok = parser.parse()
        if let failure = builder.failure { throw failure }
        guard ok, let root = builder.root else {
            let detail = parser.parserError.map { " (\(($0 as NSError).localizedDescription))" } ?? ""
            throw CAPError(field: "document", reason: "is not well-formed XML at line \(parser.lineNumber)\(detail)")
        }
        // Foundation's XMLParser on Linux reports success for a document cut off mid-element, so a truncated
        // delivery would otherwise pass as a shorter alert.
        if let open = builder.openElement {
            throw CAPError(field: "document", reason: "is not well-formed XML: it ends before <\(open)> is closed (truncated?)")
        }
        return root
    }

    // MARK: - The tree to a validated alert

    private func alert(_ root: Element) throws(CAPError) -> CAPAlert {
        let identifier = try root.required("identifier", in: "")
        try checkToken(identifier, field: "identifier")
        let sender = try root.required("sender", in: "")
        try checkToken(sender, field: "sender")
        let sentText = try root.required("sent", in: "")
        let sent = try CAPDateTime.parse(sentText, field: "sent", acceptZulu: acceptsZuluTime)
        let status: CAPStatus = try enumeration(root.required("status", in: ""), field: "status")
        let msgType: CAPMessageType = try enumeration(root.required("msgType", in: ""), field: "msgType")
        let scope: CAPScope = try enumeration(root.required("scope", in: ""), field: "scope")
        if scope == .private, try root.optional("addresses", in: "") == nil {
            throw CAPError(field: "addresses", reason: "is required when scope is Private")
        }
        var references: [CAPReference] = []
        if let text = try root.optional("references", in: "") {
            references = try parseReferences(text)
        }
        if (msgType == .update || msgType == .cancel) && references.isEmpty {
            throw CAPError(
                field: "references",
                reason: "is required for msgType \(msgType.rawValue): it names the alerts to \(msgType == .update ? "replace" : "cancel")")
        }
        var infos: [CAPInfo] = []
        for (index, element) in root.children(named: "info").enumerated() {
            infos.append(try info(element, path: "info[\(index + 1)]"))
        }
        return CAPAlert(
            identifier: identifier, sender: sender, sent: sent, sentText: sentText, status: status, msgType: msgType, scope: scope,
            references: references, info: infos
        )
    }

    private func info(_ element: Element, path: String) throws(CAPError) -> CAPInfo {
        let language = try element.optional("language", in: path) ?? "en-US"
        let categoryTexts = element.children(named: "category").map { $0.trimmedText }
        if categoryTexts.isEmpty { throw CAPError(field: "\(path)/category", reason: "is missing (at least one is required)") }
        var categories: [CAPCategory] = []
        for text in categoryTexts { categories.append(try enumeration(text, field: "\(path)/category")) }
        let event = try element.required("event", in: path)
        let urgency: CAPUrgency = try enumeration(element.required("urgency", in: path), field: "\(path)/urgency")
        let severity: CAPSeverity = try enumeration(element.required("severity", in: path), field: "\(path)/severity")
        let certainty: CAPCertainty = try enumeration(element.required("certainty", in: path), field: "\(path)/certainty")
        var onset: Date?
        if let text = try element.optional("onset", in: path) {
            onset = try CAPDateTime.parse(text, field: "\(path)/onset", acceptZulu: acceptsZuluTime)
        }
        var expires: Date?
        if let text = try element.optional("expires", in: path) {
            expires = try CAPDateTime.parse(text, field: "\(path)/expires", acceptZulu: acceptsZuluTime)
        }
        var resources: [CAPResource] = []
        for (index, child) in element.children(named: "resource").enumerated() {
            resources.append(try resource(child, path: "\(path)/resource[\(index + 1)]"))
        }
        var areas: [CAPArea] = []
        for (index, child) in element.children(named: "area").enumerated() {
            areas.append(CAPArea(areaDesc: try child.required("areaDesc", in: "\(path)/area[\(index + 1)]")))
        }
        return CAPInfo(
            language: language, categories: categories, event: event, urgency: urgency, severity: severity, certainty: certainty,
            senderName: try element.optional("senderName", in: path), headline: try element.optional("headline", in: path),
            description: try element.optional("description", in: path), instruction: try element.optional("instruction", in: path),
            onset: onset, expires: expires, resources: resources, areas: areas
        )
    }

    private func resource(_ element: Element, path: String) throws(CAPError) -> CAPResource {
        let description = try element.required("resourceDesc", in: path)
        let mimeType = try element.required("mimeType", in: path)
        var size: Int?
        if let text = try element.optional("size", in: path) {
            guard let value = Int(text), value >= 0 else {
                throw CAPError(field: "\(path)/size", reason: "'\(text)' is not a whole number of bytes")
            }
            size = value
        }
        var digest: String?
        if let text = try element.optional("digest", in: path) {
            guard text.count == 40, text.allSatisfy(\.isHexDigit) else {
                throw CAPError(field: "\(path)/digest", reason: "'\(text)' is not a SHA-1 digest (40 hexadecimal digits)")
            }
            digest = text.lowercased()
        }
        var payload: Data?
        if let text = try element.optional("derefUri", in: path) {
            let compact = String(text.unicodeScalars.filter { !CharacterSet.whitespacesAndNewlines.contains($0) })
            guard let data = Data(base64Encoded: compact) else {
                throw CAPError(field: "\(path)/derefUri", reason: "is not valid base64")
            }
            try AlertAudio.verify(payload: data, size: size, digest: digest, field: path)
            payload = data
        }
        var resource = CAPResource(
            resourceDesc: description, mimeType: mimeType, size: size, uri: try element.optional("uri", in: path), payload: payload,
            digest: digest
        )
        if resource.isAudio {
            resource.audio = try AlertAudio.validate(resource, field: path)
        }
        return resource
    }

    private func parseReferences(_ text: String) throws(CAPError) -> [CAPReference] {
        var references: [CAPReference] = []
        for triple in text.split(whereSeparator: { $0.isWhitespace }) {
            let parts = triple.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw CAPError(field: "references", reason: "'\(triple)' is not a sender,identifier,sent triple")
            }
            _ = try CAPDateTime.parse(parts[2], field: "references", acceptZulu: acceptsZuluTime)
            references.append(CAPReference(sender: parts[0], identifier: parts[1], sent: parts[2]))
        }
        return references
    }

    /// CAP forbids spaces, commas and restricted characters in `identifier` and `sender`: they would break `references`.
    private func checkToken(_ value: String, field: String) throws(CAPError) {
        if value.contains(where: { $0.isWhitespace || $0 == "," || $0 == "<" || $0 == "&" }) {
            throw CAPError(field: field, reason: "'\(value)' contains a space, comma, '<' or '&', which CAP forbids")
        }
    }

    private func enumeration<Value: RawRepresentable & CaseIterable>(_ text: String, field: String) throws(CAPError) -> Value
    where Value.RawValue == String {
        guard let value = Value(rawValue: text) else {
            let allowed = Value.allCases.map(\.rawValue).joined(separator: ", ")
            throw CAPError(field: field, reason: "'\(text)' is not one of \(allowed)")
        }
        return value
    }
}

/// One element of the parsed document; only what the CAP reader needs.
private final class Element {
    let name: String
    let namespace: String?
    var text = ""
    var children: [Element] = []

    init(name: String, namespace: String?) {
        self.name = name
        self.namespace = namespace
    }

    var trimmedText: String { text.trimmingCharacters(in: .whitespacesAndNewlines) }

    /// CAP children only: elements of other namespaces (XML signatures, extensions) are not CAP fields.
    func children(named name: String) -> [Element] {
        children.filter { $0.name == name && $0.namespace == CAPParser.namespace }
    }

    func optional(_ name: String, in path: String) throws(CAPError) -> String? {
        let found = children(named: name)
        let field = path.isEmpty ? name : "\(path)/\(name)"
        if found.count > 1 { throw CAPError(field: field, reason: "appears \(found.count) times; CAP allows one") }
        return found.first?.trimmedText
    }

    func required(_ name: String, in path: String) throws(CAPError) -> String {
        let field = path.isEmpty ? name : "\(path)/\(name)"
        guard let value = try optional(name, in: path) else { throw CAPError(field: field, reason: "is missing (required)") }
        if value.isEmpty { throw CAPError(field: field, reason: "is empty") }
        return value
    }
}

/// Builds the element tree. The declaration callbacks are a backstop behind the byte screen: libxml2 on Linux does not
/// always deliver them, which is why the screen refuses DTDs before this parser runs.
private final class TreeBuilder: NSObject, XMLParserDelegate {
    /// CAP nests five deep (alert/info/area/geocode/value); anything far deeper is an attack, not an alert.
    private let maximumDepth = 32
    var root: Element?
    var failure: CAPError?
    private var stack: [Element] = []

    /// The innermost element still open when parsing stopped, if any.
    var openElement: String? { stack.last?.name }

    private func refuse(_ parser: XMLParser, _ reason: String) {
        if failure == nil { failure = CAPError(field: "document", reason: reason) }
        parser.abortParsing()
    }

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        guard failure == nil else { return }
        guard stack.count < maximumDepth else { return refuse(parser, "elements nest deeper than \(maximumDepth) levels") }
        let element = Element(name: elementName, namespace: namespaceURI)
        if let parent = stack.last { parent.children.append(element) } else { root = element }
        stack.append(element)
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        _ = stack.popLast()
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        stack.last?.text += string
    }

    func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
        stack.last?.text += String(decoding: CDATABlock, as: UTF8.self)
    }

    func parser(_ parser: XMLParser, foundInternalEntityDeclarationWithName name: String, value: String?) {
        refuse(parser, "declares the entity '\(name)'; entity declarations are refused")
    }

    func parser(_ parser: XMLParser, foundExternalEntityDeclarationWithName name: String, publicID: String?, systemID: String?) {
        refuse(parser, "declares the external entity '\(name)'; entity declarations are refused")
    }

    func parser(_ parser: XMLParser, foundUnparsedEntityDeclarationWithName name: String, publicID: String?, systemID: String?, notationName: String?)
    {
        refuse(parser, "declares the entity '\(name)'; entity declarations are refused")
    }

    func parser(_ parser: XMLParser, foundElementDeclarationWithName elementName: String, model: String) {
        refuse(parser, "contains a DTD; DTDs are refused")
    }

    func parser(_ parser: XMLParser, resolveExternalEntityName name: String, systemID: String?) -> Data? {
        refuse(parser, "refers to the external entity '\(name)'; external entities are never fetched")
        return nil
    }

    func parser(_ parser: XMLParser, parseErrorOccurred parseError: any Error) {}
}
