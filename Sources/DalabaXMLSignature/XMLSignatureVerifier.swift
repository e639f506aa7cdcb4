import CXMLSec
import DalabaAlerts
import Foundation
import Synchronization

/// Verifies enveloped XML-DSig signatures on CAP alerts with xmlsec1 (OpenSSL), against the station's trusted
/// certificates. The only Swift module that imports `CXMLSec`.
///
/// A signature counts as verified only when all of this holds: it is the one `<Signature>` child of `<alert>`; its one
/// `<Reference>` has URI "" (the whole alert, so nothing can be added beside the signed part); the reference uses only
/// the enveloped-signature transform and canonicalisation; and the key comes from an `<X509Data>` certificate that
/// chains to a trusted certificate (a `<KeyValue>` in the document is never used, or anyone could sign).
public final class XMLSignatureVerifier: CAPSignatureVerifier {
    /// Why the verifier could not be set up, naming the certificate at fault.
    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
    }

    /// xmlsec1 keeps global state (its own and libxml2's) and its contexts are not shared across threads: one owner,
    /// one verification at a time. Alerts are rare; the lock is never contended for long.
    private let manager: Mutex<KeysManager>

    /// Loads `certificates` (PEM, name for messages → bytes) as trusted roots.
    public init(trustedCertificates certificates: [(name: String, pem: Data)]) throws(SetupError) {
        try XMLSecLibrary.initialize()
        guard !certificates.isEmpty else { throw SetupError(description: "no trusted certificates given") }
        let keys = try KeysManager()
        for certificate in certificates { try keys.trust(certificate.pem, name: certificate.name) }
        manager = Mutex(keys)
    }

    /// Reads each PEM file and trusts it.
    public convenience init(certificateFiles paths: [String]) throws(SetupError) {
        var certificates: [(name: String, pem: Data)] = []
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw SetupError(description: "\(path): cannot read the certificate file")
            }
            certificates.append((path, data))
        }
        try self.init(trustedCertificates: certificates)
    }

    public func verify(_ document: CAPDocument) -> CAPSignatureResult {
        manager.withLock { keys in
            XMLSecLibrary.lastError.withLock { $0 = nil }
            return Self.verify(document.utf8, keys: keys)
        }
    }

    private static func verify(_ utf8: Data, keys: KeysManager) -> CAPSignatureResult {
        // No DTD loading, no entity substitution, no network, no messages on stderr: the bytes were screened already,
        // and this parse must see exactly what the CAP parser sees.
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue)
        let parsed = utf8.withUnsafeBytes { buffer -> xmlDocPtr? in
            guard let base = buffer.baseAddress, buffer.count <= Int(Int32.max) else { return nil }
            return xmlReadMemory(base.assumingMemoryBound(to: CChar.self), Int32(buffer.count), "alert.xml", "UTF-8", options)
        }
        guard let document = parsed else { return .invalid(reason: "the document is not well-formed XML") }
        defer { xmlFreeDoc(document) }
        guard let root = xmlDocGetRootElement(document) else { return .invalid(reason: "the document has no root element") }

        let all = signatureElements(under: root)
        guard !all.isEmpty else { return .unsigned }
        let direct = all.filter { $0.pointee.parent == UnsafeMutablePointer(root) }
        guard all.count == 1, let signature = direct.first else {
            return .invalid(reason: "an alert carries one <Signature>, as a child of <alert>; this one has \(all.count) (\(direct.count) there)")
        }

        guard let context = xmlSecDSigCtxCreate(keys.handle) else { return .invalid(reason: "xmlsec could not create a context") }
        defer { xmlSecDSigCtxDestroy(context) }
        guard dalaba_xmlsec_restrict_key_info(context) == 0, dalaba_xmlsec_restrict_transforms(context) == 0 else {
            return .invalid(reason: "xmlsec could not restrict keys and transforms: \(XMLSecLibrary.takeError())")
        }
        guard xmlSecDSigCtxVerify(context, signature) == 0 else {
            return .invalid(reason: "the signature could not be processed: \(XMLSecLibrary.takeError())")
        }
        guard dalaba_xmlsec_succeeded(context) == 1 else {
            return .invalid(reason: "the signature does not match the alert (altered after signing, or signed by another key)")
        }
        let references = dalaba_xmlsec_reference_count(context)
        guard references == 1, dalaba_xmlsec_reference_is_whole_document(context, 0) == 1 else {
            return .invalid(reason: "the signature must have one Reference with URI=\"\" covering the whole alert; it has \(references)")
        }
        var buffer = [CChar](repeating: 0, count: 512)
        let signer = dalaba_xmlsec_signer(context, &buffer, Int32(buffer.count)) == 0 ? Self.string(buffer) : "unknown signer"
        return .verified(signer: signer)
    }

    /// Every dsig `<Signature>` element anywhere in the document, in document order.
    private static func signatureElements(under root: xmlNodePtr) -> [xmlNodePtr] {
        var found: [xmlNodePtr] = []
        var stack: [xmlNodePtr] = [root]
        while let node = stack.popLast() {
            if node.pointee.type == XML_ELEMENT_NODE, name(node) == "Signature", let ns = node.pointee.ns, let href = ns.pointee.href,
                String(cString: href) == CAPParser.signatureNamespace
            {
                found.append(node)
            }
            var children: [xmlNodePtr] = []
            var child = node.pointee.children
            while let current = child {
                if current.pointee.type == XML_ELEMENT_NODE { children.append(current) }
                child = current.pointee.next
            }
            stack.append(contentsOf: children.reversed())
        }
        return found
    }

    private static func name(_ node: xmlNodePtr) -> String {
        node.pointee.name.map { String(cString: $0) } ?? ""
    }

    private static func string(_ buffer: [CChar]) -> String {
        let bytes = buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// One xmlsec keys manager holding the trusted certificates; freed in `deinit`.
final class KeysManager {
    let handle: xmlSecKeysMngrPtr

    init() throws(XMLSignatureVerifier.SetupError) {
        guard let handle = xmlSecKeysMngrCreate() else {
            throw XMLSignatureVerifier.SetupError(description: "xmlsec could not create a keys manager")
        }
        guard xmlSecOpenSSLAppDefaultKeysMngrInit(handle) == 0 else {
            xmlSecKeysMngrDestroy(handle)
            throw XMLSignatureVerifier.SetupError(description: "xmlsec could not set up a keys manager: \(XMLSecLibrary.takeError())")
        }
        self.handle = handle
    }

    func trust(_ pem: Data, name: String) throws(XMLSignatureVerifier.SetupError) {
        let status = pem.withUnsafeBytes { buffer -> Int32 in
            guard let base = buffer.baseAddress, buffer.count > 0, buffer.count <= Int(UInt32.max) else { return -1 }
            return xmlSecOpenSSLAppKeysMngrCertLoadMemory(
                handle, base.assumingMemoryBound(to: UInt8.self), UInt32(buffer.count), xmlSecKeyDataFormatPem,
                xmlSecKeyDataType(xmlSecKeyDataTypeTrusted))
        }
        guard status == 0 else {
            throw XMLSignatureVerifier.SetupError(description: "\(name): not a PEM certificate xmlsec can load: \(XMLSecLibrary.takeError())")
        }
    }

    deinit { xmlSecKeysMngrDestroy(handle) }
}

/// xmlsec1's process-wide initialisation, done once, and its error callback, which keeps the last message instead of
/// printing it on stderr.
enum XMLSecLibrary {
    private static let state = Mutex<Result<Void, XMLSignatureVerifier.SetupError>?>(nil)
    static let lastError = Mutex<String?>(nil)

    static func initialize() throws(XMLSignatureVerifier.SetupError) {
        let result = state.withLock { state -> Result<Void, XMLSignatureVerifier.SetupError> in
            if let state { return state }
            let outcome = setUp()
            state = outcome
            return outcome
        }
        try result.get()
    }

    private static func setUp() -> Result<Void, XMLSignatureVerifier.SetupError> {
        xmlInitParser()
        guard xmlSecInit() == 0 else { return .failure(.init(description: "xmlSecInit failed")) }
        guard dalaba_xmlsec_check_version() == 1 else {
            return .failure(.init(description: "the xmlsec1 library is not compatible with the headers this was built with"))
        }
        guard xmlSecOpenSSLAppInit(nil) == 0 else { return .failure(.init(description: "xmlsec1 could not initialise OpenSSL")) }
        guard xmlSecOpenSSLInit() == 0 else { return .failure(.init(description: "xmlsec1's OpenSSL engine failed to initialise")) }
        // Last: initialisation installs xmlsec's own callback, which prints on stderr.
        xmlSecErrorsSetCallback { _, _, function, object, subject, reason, message in
            let parts = [function, object, subject, message].compactMap { $0.map { String(cString: $0) } }.filter { !$0.isEmpty && $0 != "NULL" }
            let text = parts.joined(separator: ": ") + " (reason \(reason))"
            XMLSecLibrary.lastError.withLock { last in
                // The first failure is the cause; the rest are callers reporting it on the way up.
                if last == nil { last = text }
            }
        }
        return .success(())
    }

    static func takeError() -> String {
        lastError.withLock { last in
            defer { last = nil }
            return last ?? "no detail from xmlsec"
        }
    }
}
