/* SPDX-License-Identifier: MIT */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

typedef struct CertInfo {
        char *subject;      /* pki_name_format() */
        char *issuer;
        char *serial_hex;   /* uppercase hex, no leading zeros */
        int64_t not_before; /* unix seconds */
        int64_t not_after;
        char **dns;
        char **ip;
        char **email;
        char **principal;
        unsigned key_usage; /* KU_* */
        bool has_key_usage;
        char **eku;         /* canonical names or OIDs */
        bool is_ca;
        int path_len;       /* -1: none */
        char *template_name; /* MS certificate template name extension, if present */
        char *aki_hex;      /* uppercase hex with ':' separators, or NULL */
        char *ski_hex;
        char sha1[41];      /* lowercase hex thumbprints of the DER */
        char sha256[65];
} CertInfo;

void cert_info_done(CertInfo *i);

/* Parses the first certificate found in data: PEM (noise before/after ignored, several blobs
 * allowed), DER, PKCS#7 (PEM or DER, certs-only). The first leaf-looking certificate becomes *ret;
 * any others go into *ret_chain (optional), in order. -EBADMSG if no certificate is found. */
int pki_cert_parse(const void *data, size_t len, X509 **ret, STACK_OF(X509) **ret_chain) _warn_unused_result_;

/* The same, taking CA certificates already parsed from cache and keeping new ones there (by their
 * DER; at most a few, replaced round robin). The certificates returned may be shared with the
 * cache: do not modify them. cache may be NULL. Not thread-safe: one cache per thread. */
typedef struct PkiCertCache PkiCertCache;
PkiCertCache *pki_cert_cache_new(void);
PkiCertCache *pki_cert_cache_free(PkiCertCache *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(PkiCertCache *, pki_cert_cache_free);
int pki_cert_parse_cached(const void *data, size_t len, PkiCertCache *cache, X509 **ret,
                          STACK_OF(X509) **ret_chain) _warn_unused_result_;
int pki_cert_load(const char *path, X509 **ret) _warn_unused_result_;

int pki_cert_info(X509 *cert, CertInfo *ret) _warn_unused_result_;

/* 1 if key is the private key of cert's public key, 0 if not, -errno on failure. */
int pki_cert_key_match(X509 *cert, EVP_PKEY *key);

int pki_cert_to_pem(X509 *cert, char **ret, size_t *ret_len) _warn_unused_result_;
int pki_chain_to_pem(STACK_OF(X509) *chain, char **ret, size_t *ret_len) _warn_unused_result_;

int pki_cert_thumbprint_sha256(X509 *cert, char ret[static 65]);
/* The SHA-256 of the DER inside the first CERTIFICATE block of PEM text, without parsing the
 * certificate: a cheap "is this file still the certificate we know" (compare with a thumbprint
 * from pki_cert_thumbprint_sha256()). -EBADMSG if there is no such block or it is not plain base64. */
int pki_pem_first_cert_sha256(const char *pem, size_t len, char ret[static 65]);

void pki_chain_free(STACK_OF(X509) *chain);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(STACK_OF(X509) *, pki_chain_free);
