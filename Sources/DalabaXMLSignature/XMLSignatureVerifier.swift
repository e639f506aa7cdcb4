import CXMLSec
import DalabaAlerts
import Foundation
import Synchronization

/// Verifies enveloped XML-DSig signatures on CAP alerts with xmlsec1 (OpenSSL), against the station's trusted
/// certificates. The only Swift module that imports `CXMLSec`.
///
/// A signature counts as verified only when all of this holds: it is a `<Signature>` child of `<alert>`; its one
/// `<Reference>` has URI "" (the whole alert, so nothing can be added beside the signed part); the reference uses only
/// the enveloped-signature transform, canonicalisation and a SHA digest; the method is RSA or ECDSA (no MD5, no HMAC);
/// and the key comes from an `<X509Data>` certificate that chains to a trusted certificate, or the signature verifies
/// with a trusted certificate's own key. A key the document carries in `<KeyValue>` is never trusted by itself, or
/// anyone could sign; a trusted certificate counts only while it is valid.
public final class XMLSignatureVerifier: CAPSignatureVerifier {
    /// Why the verifier could not be set up, naming the certificate at fault.
    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
    }

    /// xmlsec1 keeps global state (its own and libxml2's) and its contexts are not shared across threads: one owner,
    /// one verification at a time. Alerts are rare; the lock is never contended for long.
    private let manager: Mutex<KeysManager>
    /// The time certificates are checked at; nil (now) except in tests of archived alerts whose certificates expired.
    let certificateTime: Date?

    /// Loads `certificates` (PEM, name for messages → bytes) as trusted roots.
    public convenience init(trustedCertificates certificates: [(name: String, pem: Data)]) throws(SetupError) {
        try self.init(trustedCertificates: certificates, certificateTime: nil)
    }

    init(trustedCertificates certificates: [(name: String, pem: Data)], certificateTime: Date?) throws(SetupError) {
        self.certificateTime = certificateTime
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
            return Self.verify(document.utf8, keys: keys, certificateTime: certificateTime)
        }
    }

    private static func verify(_ utf8: Data, keys: KeysManager, certificateTime: Date?) -> CAPSignatureResult {
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
        guard !direct.isEmpty else { return .invalid(reason: "the <Signature> is not a child of <alert>, so it does not sign the alert") }
        // Relays countersign (Canada's NAAD adds its signature beside the issuer's), and in practice each was computed
        // over the alert without the others. So each is checked on a copy of the alert from which the other
        // <Signature>s of <alert> are removed: they are not CAP fields, and everything the station reads stays covered.
        // One signature that verifies suffices.
        var failures: [String] = []
        let when = certificateTime.map { time_t($0.timeIntervalSince1970) } ?? time(nil)
        for index in direct.indices.reversed() {
            guard let copy = xmlCopyDoc(document, 1) else { return .invalid(reason: "libxml2 could not copy the document") }
            defer { xmlFreeDoc(copy) }
            guard let copyRoot = xmlDocGetRootElement(copy) else { return .invalid(reason: "the document has no root element") }
            let signatures = signatureElements(under: copyRoot).filter { $0.pointee.parent == UnsafeMutablePointer(copyRoot) }
            guard signatures.count == direct.count else { return .invalid(reason: "libxml2 copied the document differently") }
            for (other, node) in signatures.enumerated() where other != index {
                xmlUnlinkNode(node)
                xmlFreeNode(node)
            }
            let signature = signatures[index]
            // First the certificate the signature carries, if it chains to a trusted one; then each trusted
            // certificate's own key, which is how feeds that send only a <KeyValue>, or a certificate the station pins
            // without its CA, are checked (key material in the document is never trusted by itself).
            switch verifySignature(signature, keys: keys, time: when, key: nil) {
            case .success(let signer): return .verified(signer: signer)
            case .failure(let failure): failures.append(failure.description)
            }
            for pinned in keys.pinned {
                guard dalaba_xmlsec_certificate_valid_at(pinned.key, when) == 1 else {
                    failures.append("\(pinned.name) is not valid at that time")
                    continue
                }
                switch verifySignature(signature, keys: keys, time: when, key: pinned.key) {
                case .success(let signer): return .verified(signer: signer)
                case .failure(let failure): failures.append("with \(pinned.name)'s key: \(failure)")
                }
            }
        }
        let summary = direct.count == 1 ? "it does not verify" : "none of its \(direct.count) signatures verifies"
        return .invalid(reason: "\(summary) with a trusted certificate: " + failures.joined(separator: "; "))
    }

    /// One signature, with the key from its `<X509Data>` chained to a trusted certificate, or with `key` when given.
    private static func verifySignature(_ signature: xmlNodePtr, keys: KeysManager, time: time_t, key: xmlSecKeyPtr?) -> Result<String, Failure> {
        guard let context = xmlSecDSigCtxCreate(keys.handle) else { return .failure("xmlsec could not create a context") }
        defer { xmlSecDSigCtxDestroy(context) }
        guard dalaba_xmlsec_restrict_key_info(context) == 0, dalaba_xmlsec_restrict_transforms(context) == 0,
            dalaba_xmlsec_restrict_signature_methods(context) == 0
        else {
            return .failure(Failure("xmlsec could not restrict keys and transforms: \(XMLSecLibrary.takeError())"))
        }
        context.pointee.keyInfoReadCtx.certsVerificationTime = time
        if let key {
            // The context owns and frees its signing key, so it gets a copy; with it set, KeyInfo is not read.
            guard let copy = xmlSecKeyDuplicate(key) else { return .failure("xmlsec could not copy a trusted key") }
            context.pointee.signKey = copy
        }
        guard xmlSecDSigCtxVerify(context, signature) == 0 else {
            return .failure(Failure("the signature could not be processed: \(XMLSecLibrary.takeError())"))
        }
        guard dalaba_xmlsec_succeeded(context) == 1 else {
            return .failure("the signature does not match the alert (altered after signing, or signed by another key)")
        }
        let references = dalaba_xmlsec_reference_count(context)
        guard references == 1, dalaba_xmlsec_reference_is_whole_document(context, 0) == 1 else {
            return .failure(Failure("the signature must have one Reference with URI=\"\" covering the whole alert; it has \(references)"))
        }
        var buffer = [CChar](repeating: 0, count: 512)
        return .success(dalaba_xmlsec_signer(context, &buffer, Int32(buffer.count)) == 0 ? Self.string(buffer) : "unknown signer")
    }

    /// Why one signature did not verify.
    struct Failure: Error, ExpressibleByStringLiteral, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
        init(stringLiteral value: String) { description = value }
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
    /// Each trusted certificate's public key, with the certificate attached (for its validity and subject).
    private(set) var pinned: [(name: String, key: xmlSecKeyPtr)] = []

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
        let key = pem.withUnsafeBytes { buffer -> xmlSecKeyPtr? in
            guard let base = buffer.baseAddress else { return nil }
            return dalaba_xmlsec_certificate_key(base.assumingMemoryBound(to: UInt8.self), UInt32(buffer.count))
        }
        guard let key else {
            throw XMLSignatureVerifier.SetupError(description: "\(name): xmlsec cannot read the certificate's key: \(XMLSecLibrary.takeError())")
        }
        pinned.append((name, key))
    }

    deinit {
        for (_, key) in pinned { xmlSecKeyDestroy(key) }
        xmlSecKeysMngrDestroy(handle)
    }
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
