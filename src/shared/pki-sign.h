/* SPDX-License-Identifier: MIT */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>

#include "macro.h"

/* Signs a CSR. issuer == NULL means self-signed (issuer_key must then be the CSR's key and the
 * subject becomes the issuer). Copies the requested SAN, KU, EKU, basicConstraints and template
 * extensions, adds SKI and AKI, a random 128-bit serial, and the given validity (not_after is
 * capped at the issuer's notAfter). Verifies the CSR's signature first. */
int pki_sign_csr(X509_REQ *csr, X509 *issuer, EVP_PKEY *issuer_key, int64_t not_before, int64_t not_after,
                 X509 **ret, char **reterr) _warn_unused_result_;

typedef enum PkiSignFlags {
        /* The caller made the CSR itself with pki_csr_build() (with the key it holds) just before:
         * its signature is not verified again. Never for a CSR that came from elsewhere. The
         * certificate's public key is then copied from the request as it is, and the certificate
         * returned may hold no cached EVP_PKEY (X509_get0_pubkey() NULL): it is meant to be
         * encoded (pki_cert_key_match() copes). */
        PKI_SIGN_CSR_TRUSTED = 1 << 0,
} PkiSignFlags;

int pki_sign_csr_full(X509_REQ *csr, X509 *issuer, EVP_PKEY *issuer_key, int64_t not_before, int64_t not_after,
                      PkiSignFlags flags, X509 **ret, char **reterr) _warn_unused_result_;

/* A certificate with everything but extensions and the signature: version 3, a random 128-bit
 * serial, the names, the validity, and the public key (pub, or else copied from spki). */
int pki_sign_cert_new(const X509_NAME *subject, const X509_NAME *issuer_name, EVP_PKEY *pub, const X509_PUBKEY *spki,
                      int64_t not_before, int64_t not_after, X509 **ret) _warn_unused_result_;

/* Makes a CA certificate: self-signed root (issuer == NULL) or an intermediate signed by issuer.
 * basicConstraints CA:TRUE (critical, pathlen as given, -1 none), KU keyCertSign|cRLSign. */
int pki_make_ca_cert(EVP_PKEY *key, const char *subject, X509 *issuer, EVP_PKEY *issuer_key, int path_len,
                     int64_t not_before, int64_t not_after, X509 **ret) _warn_unused_result_;
