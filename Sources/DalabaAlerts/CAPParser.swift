import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// Parses and validates OASIS CAP 1.0, 1.1 and 1.2 documents given as bytes, in any encoding their XML declaration names
/// that Foundation can convert. Pure: it reads no file, opens no socket and resolves no entity, so an alert from an
/// untrusted upstream can do nothing but be accepted or refused with a reason.
public struct CAPParser: Sendable {
    /// The CAP 1.2 namespace. Every version's namespace is accepted (`CAPVersion`); 1.0 and 1.1 are read with their
    /// differences noted there.
    public static let namespace = CAPVersion.v1_2.namespace

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
        try parse(document(data))
    }

    /// Converts `data` to UTF-8 and screens it (`CAPDocument`): the bytes a signature check and the parser both read.
    public func document(_ data: Data) throws(CAPError) -> CAPDocument {
        try CAPDocument(data, maximumBytes: maximumBytes, screensDeclarations: screensDeclarations)
    }

    /// Parses an already converted and screened document.
    public func parse(_ document: CAPDocument) throws(CAPError) -> CAPAlert {
        let root = try buildTree(document.utf8)
        guard root.name == "alert" else {
            throw CAPError(field: "document", reason: "the root element is <\(root.name)>, not a CAP <alert>")
        }
        guard let namespace = root.namespace, !namespace.isEmpty else {
            throw CAPError(field: "alert", reason: "missing namespace: expected xmlns=\"\(CAPParser.namespace)\"")
        }
        guard let version = CAPVersion(namespace: namespace) else {
            let known = CAPVersion.allCases.map { "'\($0.namespace)' (CAP \($0.rawValue))" }.joined(separator: ", ")
            throw CAPError(field: "alert", reason: "wrong namespace '\(namespace)': expected one of \(known)")
        }
        let signatures = root.children.filter { $0.name == "Signature" && $0.namespace == CAPParser.signatureNamespace }.count
        var alert = try alert(root, version: version)
        alert.signatureCount = signatures
        return alert
    }

    /// XML-DSig's namespace: a `<Signature>` child of `<alert>` signs the whole alert (CAP 1.2 section 3.3.2.1).
    public static let signatureNamespace = "http://www.w3.org/2000/09/xmldsig#"

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

    private func alert(_ root: Element, version: CAPVersion) throws(CAPError) -> CAPAlert {
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
            infos.append(try info(element, path: "info[\(index + 1)]", version: version))
        }
        return CAPAlert(
            identifier: identifier, sender: sender, sent: sent, sentText: sentText, status: status, msgType: msgType, scope: scope,
            references: references, info: infos, version: version
        )
    }

    private func info(_ element: Element, path: String, version: CAPVersion) throws(CAPError) -> CAPInfo {
        let language = try element.optional("language", in: path) ?? "en-US"
        let categoryTexts = element.children(named: "category").map { $0.trimmedText }
        if categoryTexts.isEmpty { throw CAPError(field: "\(path)/category", reason: "is missing (at least one is required)") }
        var categories: [CAPCategory] = []
        for text in categoryTexts { categories.append(try enumeration(text, field: "\(path)/category")) }
        let event = try element.required("event", in: path)
        let urgency: CAPUrgency = try enumeration(element.required("urgency", in: path), field: "\(path)/urgency")
        let severity: CAPSeverity = try enumeration(element.required("severity", in: path), field: "\(path)/severity")
        var certaintyText = try element.required("certainty", in: path)
        // CAP 1.0 had "Very Likely"; 1.1 deprecated it as meaning "Likely", and 1.2 dropped it.
        if version != .v1_2 && certaintyText == "Very Likely" { certaintyText = CAPCertainty.likely.rawValue }
        let certainty: CAPCertainty = try enumeration(certaintyText, field: "\(path)/certainty")
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
            resources.append(try resource(child, path: "\(path)/resource[\(index + 1)]", version: version))
        }
        var areas: [CAPArea] = []
        for (index, child) in element.children(named: "area").enumerated() {
            areas.append(CAPArea(areaDesc: try child.required("areaDesc", in: "\(path)/area[\(index + 1)]")))
        }
        return CAPInfo(
            language: language, categories: categories, event: event, urgency: urgency, severity: severity, certainty: certainty,
            senderName: try element.optional("senderName", in: path), headline: try element.optional("headline", in: path).map(CAPText.plain),
            description: try element.optional("description", in: path).map(CAPText.plain),
            instruction: try element.optional("instruction", in: path).map(CAPText.plain),
            onset: onset, expires: expires, resources: resources, areas: areas
        )
    }

    private func resource(_ element: Element, path: String, version: CAPVersion) throws(CAPError) -> CAPResource {
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
            // Before 1.2 `size` was approximate (and read by some as kilobytes): only the digest can be held against it.
            try AlertAudio.verify(payload: data, size: version == .v1_2 ? size : nil, digest: digest, field: path)
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

    /// CAP children only (those in the alert's own namespace): XML signatures and extensions are not CAP fields.
    func children(named name: String) -> [Element] {
        children.filter { $0.name == name && $0.namespace == namespace }
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
        guard let element = stack.popLast() else { return }
        // Unescaped HTML in a text field (`<description>a<br/>b</description>`) parses as child elements: their text
        // belongs to the field, with a line break for block tags, so that `CAPText.plain` sees the words in order.
        let name = element.name.lowercased()
        if let parent = stack.last, TreeBuilder.inlineTags.contains(name) || TreeBuilder.blockTags.contains(name) {
            let isBlock = TreeBuilder.blockTags.contains(name)
            parent.text += name == "br" ? "\n" : (isBlock ? "\n" : "") + element.text + (isBlock ? "\n" : "")
        }
    }

    static let blockTags: Set<String> = [
        "br", "p", "div", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "blockquote", "pre",
    ]
    static let inlineTags: Set<String> = [
        "b", "i", "u", "em", "strong", "span", "a", "font", "small", "big", "sub", "sup", "td", "th", "tbody", "thead",
    ]

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
