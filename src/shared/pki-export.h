/* SPDX-License-Identifier: MIT */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

#include "macro.h"

/* What 'certkeeper export' writes: the certificate, its chain and optionally its key, as PEM or as
 * PKCS#12 (AES-256-CBC with PBKDF2 and a SHA-256 MAC, OpenSSL 3's defaults). */

/* PEM: the certificate, then the chain, then the key (PKCS#8) when key is not NULL. */
int pki_export_pem(X509 *cert, STACK_OF(X509) *chain, EVP_PKEY *key, char **ret, size_t *ret_len)
        _warn_unused_result_;
/* PKCS#12 (DER) protected by password; name is the friendly name (may be NULL). password NULL
 * gives the empty password (a file protected only by its owner and mode); -EINVAL for a password
 * that is "" (a caller's mistake), -EIO when OpenSSL fails. */
int pki_export_pkcs12(X509 *cert, STACK_OF(X509) *chain, EVP_PKEY *key, const char *password, const char *name,
                      unsigned char **ret, size_t *ret_len) _warn_unused_result_;
/* Standard base64 with padding, as a NUL-terminated string. */
int pki_base64_encode(const void *data, size_t len, char **ret) _warn_unused_result_;
/* The reverse; -EBADMSG if s is not base64 with padding. */
int pki_base64_decode(const char *s, unsigned char **ret, size_t *ret_len) _warn_unused_result_;
