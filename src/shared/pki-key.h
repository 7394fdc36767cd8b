/* SPDX-License-Identifier: MIT */
#pragma once

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

typedef enum KeyType {
        KEY_TYPE_RSA,
        KEY_TYPE_EC,
        KEY_TYPE_ED25519,
        _KEY_TYPE_MAX,
        _KEY_TYPE_INVALID = -EINVAL,
} KeyType;

const char *key_type_to_string(KeyType t);   /* "RSA", "EC", "ED25519" */
KeyType key_type_from_string(const char *s); /* case-insensitive; also "ECDSA" */

/* RSA 2048..8192 (multiple of 8... any size in range), EC 256/384/521, Ed25519 (bits ignored, 0 ok).
 * bits == 0 picks the default (RSA 2048, EC 256). Writes the effective size. *reterr gets words. */
int pki_key_params_check(KeyType t, unsigned bits, unsigned *ret_bits, char **reterr) _warn_unused_result_;

int pki_key_generate(KeyType t, unsigned bits, EVP_PKEY **ret) _warn_unused_result_;

/* PKCS#8 PEM, unencrypted. */
int pki_key_to_pem(EVP_PKEY *key, char **ret, size_t *ret_len) _warn_unused_result_;
/* PEM (PKCS#8, traditional RSA/EC) or DER. -EBADMSG if not a private key. */
int pki_key_from_data(const void *data, size_t len, EVP_PKEY **ret) _warn_unused_result_;
int pki_key_load(const char *path, EVP_PKEY **ret) _warn_unused_result_;

int pki_key_info(EVP_PKEY *key, KeyType *ret_type, unsigned *ret_bits);

/* SHA-256 of the DER SubjectPublicKeyInfo, lowercase hex (64 chars + NUL). */
int pki_key_spki_sha256(EVP_PKEY *key, char ret[static 65]);

/* The digest to sign with this key: NULL for Ed25519 (which hashes by itself), SHA-384 for P-384,
 * SHA-512 for P-521, SHA-256 otherwise. */
const EVP_MD *pki_key_digest(EVP_PKEY *key);

/* Key identifier (RFC 5280 4.2.1.2 method 1): SHA-1 of the subjectPublicKey BIT STRING. */
int pki_key_id(EVP_PKEY *key, unsigned char ret[static 20]);

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
