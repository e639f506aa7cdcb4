// The C surface of xmlsec1 (OpenSSL crypto) for DalabaXMLSignature, the only Swift module that imports it.
// pkg-config normally supplies these defines; they change struct layouts, so they are pinned here as well.
#ifndef XMLSEC_NO_SIZE_T
#define XMLSEC_NO_SIZE_T 1
#endif
#ifndef XMLSEC_CRYPTO_OPENSSL
#define XMLSEC_CRYPTO_OPENSSL 1
#endif
#ifndef XMLSEC_NO_CRYPTO_DYNAMIC_LOADING
#define XMLSEC_NO_CRYPTO_DYNAMIC_LOADING 1
#endif
#ifndef XMLSEC_NO_GOST
#define XMLSEC_NO_GOST 1
#endif
#ifndef XMLSEC_NO_GOST2012
#define XMLSEC_NO_GOST2012 1
#endif
#ifndef XMLSEC_OPENSSL3_ENGINES
#define XMLSEC_OPENSSL3_ENGINES 1
#endif
#ifndef __XMLSEC_FUNCTION__
#define __XMLSEC_FUNCTION__ __func__
#endif

// Debian's libxml2 is built with ICU, and its encoding header then pulls in the system's ICU headers, which clash with
// the copy Foundation carries. Nothing here uses the ICU fields of libxml2's encoding handlers (only pointers to them).
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <xmlsec/xmlsec.h>
#include <xmlsec/errors.h>
#include <xmlsec/keysmngr.h>
#include <xmlsec/keyinfo.h>
#include <xmlsec/transforms.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmltree.h>
#include <xmlsec/openssl/app.h>
#include <xmlsec/openssl/crypto.h>
#include <xmlsec/openssl/x509.h>
#include <openssl/x509.h>
#include <time.h>

/// 1 when the loaded library is ABI-compatible with these headers.
static inline int dalaba_xmlsec_check_version(void) {
    return xmlSecCheckVersionExt(XMLSEC_VERSION_MAJOR, XMLSEC_VERSION_MINOR, XMLSEC_VERSION_SUBMINOR, xmlSecCheckVersionABICompatible);
}

/// Keys may come only from <X509Data> certificates that chain to a trusted one: never from a <KeyValue> the
/// document carries, which would let anyone sign. Also refuses to go on past an invalid certificate.
static inline int dalaba_xmlsec_restrict_key_info(xmlSecDSigCtxPtr ctx) {
    ctx->keyInfoReadCtx.flags |= XMLSEC_KEYINFO_FLAGS_X509DATA_STOP_ON_INVALID_CERT;
    return xmlSecPtrListAdd(&(ctx->keyInfoReadCtx.enabledKeyData), (const xmlSecPtr)xmlSecOpenSSLKeyDataX509Id);
}

/// An enveloped signature over the whole alert: reference URI "" only, with the enveloped-signature transform and
/// canonicalisation, nothing that fetches or rewrites (no XPath, XSLT or base64 tricks).
static inline int dalaba_xmlsec_restrict_transforms(xmlSecDSigCtxPtr ctx) {
    ctx->enabledReferenceUris = xmlSecTransformUriTypeEmpty;
    if (xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformEnvelopedId) < 0) return -1;
    if (xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformExclC14NId) < 0) return -1;
    if (xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformExclC14NWithCommentsId) < 0) return -1;
    if (xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformInclC14NId) < 0) return -1;
    if (xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformInclC14NWithCommentsId) < 0) return -1;
    if (xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecTransformInclC14N11Id) < 0) return -1;
    // The digest method is read as a reference transform too.
    if (xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecOpenSSLTransformSha1Id) < 0) return -1;
    if (xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecOpenSSLTransformSha224Id) < 0) return -1;
    if (xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecOpenSSLTransformSha256Id) < 0) return -1;
    if (xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecOpenSSLTransformSha384Id) < 0) return -1;
    if (xmlSecDSigCtxEnableReferenceTransform(ctx, xmlSecOpenSSLTransformSha512Id) < 0) return -1;
    return 0;
}

/// Public-key signature methods only (RSA and ECDSA with SHA-1 or SHA-2; feeds still sign with RSA-SHA1), and the
/// standard canonicalisations of <SignedInfo>: no MD5, no HMAC.
static inline int dalaba_xmlsec_restrict_signature_methods(xmlSecDSigCtxPtr ctx) {
    xmlSecTransformId ids[] = {
        xmlSecTransformInclC14NId, xmlSecTransformInclC14NWithCommentsId, xmlSecTransformInclC14N11Id,
        xmlSecTransformInclC14N11WithCommentsId, xmlSecTransformExclC14NId, xmlSecTransformExclC14NWithCommentsId,
        xmlSecOpenSSLTransformRsaSha1Id, xmlSecOpenSSLTransformRsaSha224Id, xmlSecOpenSSLTransformRsaSha256Id,
        xmlSecOpenSSLTransformRsaSha384Id, xmlSecOpenSSLTransformRsaSha512Id,
        xmlSecOpenSSLTransformEcdsaSha1Id, xmlSecOpenSSLTransformEcdsaSha224Id, xmlSecOpenSSLTransformEcdsaSha256Id,
        xmlSecOpenSSLTransformEcdsaSha384Id, xmlSecOpenSSLTransformEcdsaSha512Id,
    };
    for (unsigned int i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        if (xmlSecDSigCtxEnableSignatureTransform(ctx, ids[i]) < 0) return -1;
    }
    return 0;
}

/// The number of <Reference>s in <SignedInfo> after verification.
static inline unsigned int dalaba_xmlsec_reference_count(xmlSecDSigCtxPtr ctx) {
    return (unsigned int)xmlSecPtrListGetSize(&(ctx->signedInfoReferences));
}

/// 1 when reference `index` has URI "" (or none) and verified; 0 otherwise.
static inline int dalaba_xmlsec_reference_is_whole_document(xmlSecDSigCtxPtr ctx, unsigned int index) {
    xmlSecDSigReferenceCtxPtr ref = (xmlSecDSigReferenceCtxPtr)xmlSecPtrListGetItem(&(ctx->signedInfoReferences), index);
    if (ref == NULL || ref->status != xmlSecDSigStatusSucceeded) return 0;
    return (ref->uri == NULL || ref->uri[0] == '\0') ? 1 : 0;
}

/// The certificate `key` came from: the one it was verified with, else (a key made from a trusted certificate) the
/// first attached; NULL when there is none.
static inline X509 *dalaba_xmlsec_key_certificate(xmlSecKeyPtr key) {
    xmlSecKeyDataPtr data = xmlSecKeyGetData(key, xmlSecOpenSSLKeyDataX509Id);
    if (data == NULL) return NULL;
    X509 *cert = xmlSecOpenSSLKeyDataX509GetKeyCert(data);
    if (cert == NULL && xmlSecOpenSSLKeyDataX509GetCertsSize(data) > 0) cert = xmlSecOpenSSLKeyDataX509GetCert(data, 0);
    return cert;
}

/// The subject of the certificate `key` came from, into `buffer`; 0 on success.
static inline int dalaba_xmlsec_key_subject(xmlSecKeyPtr key, char *buffer, int size) {
    if (key == NULL || size <= 0) return -1;
    X509 *cert = dalaba_xmlsec_key_certificate(key);
    if (cert == NULL) return -1;
    X509_NAME *name = X509_get_subject_name(cert);
    if (name == NULL) return -1;
    return X509_NAME_oneline(name, buffer, size) == NULL ? -1 : 0;
}

/// The subject of the certificate that supplied the signing key, into `buffer`; 0 on success.
static inline int dalaba_xmlsec_signer(xmlSecDSigCtxPtr ctx, char *buffer, int size) {
    return dalaba_xmlsec_key_subject(ctx->signKey, buffer, size);
}

/// The public key of a PEM certificate, with the certificate attached; NULL when it cannot be read.
static inline xmlSecKeyPtr dalaba_xmlsec_certificate_key(const unsigned char *pem, unsigned int size) {
    return xmlSecOpenSSLAppKeyLoadMemory(pem, size, xmlSecKeyDataFormatCertPem, NULL, NULL, NULL);
}

/// 1 when the certificate `key` came from is valid at `when` (0: now), 0 when it is not yet or no longer valid.
static inline int dalaba_xmlsec_certificate_valid_at(xmlSecKeyPtr key, time_t when) {
    X509 *cert = dalaba_xmlsec_key_certificate(key);
    if (cert == NULL) return 0;
    time_t t = when != 0 ? when : time(NULL);
    return (X509_cmp_time(X509_get0_notBefore(cert), &t) < 0 && X509_cmp_time(X509_get0_notAfter(cert), &t) > 0) ? 1 : 0;
}

/// 1 when the signature verified.
static inline int dalaba_xmlsec_succeeded(xmlSecDSigCtxPtr ctx) {
    return ctx->status == xmlSecDSigStatusSucceeded ? 1 : 0;
}
