/* SPDX-License-Identifier: MIT */
#pragma once

#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>

#include "macro.h"

/* <openssl/x509v3.h> defines KU_* macros with OpenSSL's bit values, which would clash with the enum
 * below: include it first and drop them, so KU_* always means ours. Use X509_get_key_usage()'s
 * values by number (0x80 digitalSignature ... 0x8000 decipherOnly) where OpenSSL's are needed. */
#undef KU_DIGITAL_SIGNATURE
#undef KU_NON_REPUDIATION
#undef KU_KEY_ENCIPHERMENT
#undef KU_DATA_ENCIPHERMENT
#undef KU_KEY_AGREEMENT
#undef KU_KEY_CERT_SIGN
#undef KU_CRL_SIGN
#undef KU_ENCIPHER_ONLY
#undef KU_DECIPHER_ONLY

/* Key usage bits, in certmonger's naming order. */
enum {
        KU_DIGITAL_SIGNATURE = 1 << 0,
        KU_NON_REPUDIATION = 1 << 1,
        KU_KEY_ENCIPHERMENT = 1 << 2,
        KU_DATA_ENCIPHERMENT = 1 << 3,
        KU_KEY_AGREEMENT = 1 << 4,
        KU_KEY_CERT_SIGN = 1 << 5,
        KU_CRL_SIGN = 1 << 6,
        KU_ENCIPHER_ONLY = 1 << 7,
        KU_DECIPHER_ONLY = 1 << 8,
};

/* "digitalSignature" etc. -> bit; 0 if unknown. */
unsigned key_usage_from_string(const char *s);
/* Comma-separated certmonger names, e.g. "digitalSignature,keyEncipherment". */
char *key_usage_to_string(unsigned ku);

/* EKU: name (id-kp-serverAuth, serverAuth, id-kp-clientAuth, ..., id-pkinit-KPClientAuth,
 * id-pkinit-KPKdc, id-ms-kp-sc-logon) or dotted OID -> canonical certmonger name or OID text.
 * -EINVAL if neither. */
int eku_normalize(const char *s, char **ret) _warn_unused_result_;

/* What a certificate should contain. */
typedef struct CertTemplate {
        char *subject;     /* "CN=foo,O=Bar" (RFC 4514-ish, most significant last or first: see pki_name_parse) */
        char **dns;
        char **ip;         /* normalized text */
        char **email;
        char **principal;  /* Kerberos principals "host/foo@REALM" */
        unsigned key_usage;
        char **eku;        /* canonical names or OIDs */
        bool is_ca;
        int path_len;      /* -1: none */
        char *profile;     /* -T; also put into the CSR as the MS certificate template name */
} CertTemplate;

void cert_template_done(CertTemplate *t);

/* Parses "CN=a,O=b" (also "/CN=a/O=b"), with \, escapes. -EINVAL with words in reterr.
 * Order rule: the comma form is RFC 4514, the LAST RDN in the string is the FIRST in the DER (so
 * "CN=web,O=Example" is O=Example then CN=web in the DER); the slash form is OpenSSL's -subj form, in DER
 * order ("/O=Example/CN=web" is the same name). pki_name_format() always prints the comma form, so
 * what a user passes as "CN=web,O=Example" prints back as "CN=web,O=Example". Attribute names are
 * case-insensitive (CN, O, OU, L, ST, C, DC, UID, emailAddress/E, serialNumber, ..., or a dotted OID);
 * spaces around ',' and '=' are dropped; '\' escapes the next character, "\2C" is a hex byte; '+' is
 * a literal character (no multi-valued RDNs). */
int pki_name_parse(const char *s, X509_NAME **ret, char **reterr) _warn_unused_result_;
/* Formats a name as certmonger prints it: "CN=a,O=b" in NSS order (most specific first). */
char *pki_name_format(const X509_NAME *name);

/* Builds and signs a CSR: subject, friendlyName = nickname (if any), extensionRequest with SAN
 * (DNS, IP, email, and each principal twice: MS UPN and KRB5PrincipalName otherNames, as certmonger
 * does), KU, EKU, basicConstraints (critical), SKI, and the MS template name if profile is set. */
int pki_csr_build(EVP_PKEY *key, const CertTemplate *t, const char *nickname, X509_REQ **ret, char **reterr)
        _warn_unused_result_;
int pki_csr_to_pem(X509_REQ *req, char **ret) _warn_unused_result_;
int pki_csr_from_pem(const char *pem, X509_REQ **ret) _warn_unused_result_;
/* A Netscape SignedPublicKeyAndChallenge for the key, with an empty challenge, signed by the key,
 * base64 DER without line breaks (certmonger's CERTMONGER_SPKAC). */
int pki_spkac_build(EVP_PKEY *key, char **ret) _warn_unused_result_;

/* OIDs certmonger puts into requests. */
#define PKI_OID_MS_UPN "1.3.6.1.4.1.311.20.2.3"              /* otherName, UTF8String */
#define PKI_OID_KRB5_PRINCIPAL_NAME "1.3.6.1.5.2.2"          /* otherName, KRB5PrincipalName */
#define PKI_OID_MS_TEMPLATE_NAME "1.3.6.1.4.1.311.20.2"      /* extension, BMPString */

/* Kerberos principal "comp1/comp2@REALM" (backslash escapes '/', '@', '\\') <-> DER of the RFC 4556
 * KRB5PrincipalName (name-type 1, NT-PRINCIPAL). to_der: -EINVAL if there is no realm or an empty
 * component; the result is malloc'd. from_der: -EBADMSG if not a valid encoding. */
int pki_krb5_principal_to_der(const char *principal, unsigned char **ret, size_t *ret_len) _warn_unused_result_;
int pki_krb5_principal_from_der(const unsigned char *der, size_t len, char **ret) _warn_unused_result_;

/* Extension builders shared by pki_csr_build() and pki-sign.c. */
int pki_ext_key_usage(unsigned ku, X509_EXTENSION **ret) _warn_unused_result_;          /* critical */
int pki_ext_basic_constraints(bool is_ca, int path_len, X509_EXTENSION **ret) _warn_unused_result_; /* critical */
int pki_ext_subject_key_id(EVP_PKEY *key, X509_EXTENSION **ret) _warn_unused_result_;
int pki_ext_template_name(const char *name, X509_EXTENSION **ret) _warn_unused_result_;

DEFINE_TRIVIAL_CLEANUP_FUNC(X509_REQ *, X509_REQ_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_NAME *, X509_NAME_free);
