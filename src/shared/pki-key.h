/* SPDX-License-Identifier: MIT */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
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
/* The same from the BIT STRING's content (X509_PUBKEY_get0_param()). */
int pki_key_id_from_bits(const unsigned char *bits, size_t len, unsigned char ret[static 20]);

/* Fills spki (e.g. X509_REQ_get_X509_PUBKEY()) with the public key of an EC (P-256/384/521) or
 * Ed25519 key, without OpenSSL 3.0's encoder and decoder round trip that X509_PUBKEY_set() makes.
 * The X509_PUBKEY then holds no cached EVP_PKEY (X509_PUBKEY_get0() returns NULL): use
 * pki_key_from_x509_pubkey(). -EOPNOTSUPP for other keys: use X509_PUBKEY_set() and friends. */
int pki_key_set_x509_pubkey(EVP_PKEY *key, X509_PUBKEY *spki) _warn_unused_result_;

/* The public key of a SubjectPublicKeyInfo, also one without a cached EVP_PKEY. */
int pki_key_from_x509_pubkey(const X509_PUBKEY *spki, EVP_PKEY **ret) _warn_unused_result_;

/* SHA-1 and SHA-256, fetched once per thread (EVP_sha1()/EVP_sha256() fetch at every use). */
const EVP_MD *pki_digest_sha1(void);
const EVP_MD *pki_digest_sha256(void);

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
