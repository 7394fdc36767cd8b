/* SPDX-License-Identifier: MIT */
#pragma once

/* The cryptography of ACME (RFC 8555) requests: the account key, its JWK (RFC 7517) and thumbprint
 * (RFC 7638), key authorizations, and flattened JWS objects (RFC 7515) signed with the account key
 * (ES256/ES384 with raw r||s signatures, RS256), or with an EAB MAC key (HS256/384/512). No I/O
 * except loading and creating the account key file, no logging. */

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "macro.h"

/* Loads the account key at path, or creates it (type "EC" = P-256, the default when type is NULL,
 * or "RSA" = 2048 bits) with mode 0600 and O_EXCL when there is no file. *ret_created (optional)
 * tells which. -EINVAL for an unknown type, -EBADMSG for a file that is not a usable key (RSA
 * below 2048 bits, EC other than P-256/P-384, Ed25519). */
int acme_jws_key_load_or_create(const char *path, const char *type, EVP_PKEY **ret, bool *ret_created)
        _warn_unused_result_;

/* "ES256", "ES384" or "RS256"; NULL for a key we cannot sign ACME requests with. */
const char *acme_jws_alg(EVP_PKEY *key);

/* The public JWK of the key: {"crv","kty","x","y"} or {"e","kty","n"}. */
int acme_jws_jwk(EVP_PKEY *key, json_t **ret) _warn_unused_result_;
/* The RFC 7638 thumbprint of a JWK: base64url(SHA-256(members in lexicographic order, no spaces)).
 * Only the required members of EC and RSA keys count. */
int acme_jws_jwk_thumbprint(const json_t *jwk, char **ret) _warn_unused_result_;
int acme_jws_thumbprint(EVP_PKEY *key, char **ret) _warn_unused_result_;

/* token "." thumbprint; -EINVAL if the token is not acme_token_is_valid(). */
int acme_jws_key_authorization(const char *token, const char *thumbprint, char **ret) _warn_unused_result_;
/* The dns-01 TXT record value: base64url(SHA-256(key authorization)). */
int acme_jws_dns01_value(const char *key_authorization, char **ret) _warn_unused_result_;

/* A flattened JWS as compact JSON text: {"protected","payload","signature"}. The protected header
 * has alg, url, nonce (when not NULL), and kid (when not NULL) or else the key's jwk. payload NULL
 * means POST-as-GET (empty payload); otherwise it is JSON text. */
int acme_jws_sign(EVP_PKEY *key, const char *kid, const char *nonce, const char *url, const char *payload,
                  char **ret) _warn_unused_result_;

/* The same as a JSON object, for nesting (EAB, keyChange). */
int acme_jws_sign_object(EVP_PKEY *key, const char *kid, const char *nonce, const char *url, const char *payload,
                         json_t **ret) _warn_unused_result_;

/* The externalAccountBinding member of a newAccount payload (RFC 8555 7.3.4): a JWS with alg
 * (HS256 default, HS384, HS512), kid and url, over the account key's JWK, MACed with the base64url
 * hmac_key. -EINVAL for a bad alg or key (the key is never put into any message). */
int acme_jws_eab(const char *alg, const char *kid, const char *hmac_key_b64url, EVP_PKEY *account_key,
                 const char *url, json_t **ret) _warn_unused_result_;

/* The inner JWS of a keyChange request (RFC 8555 7.3.5): signed by new_key, with its jwk, the
 * keyChange url, no nonce, over {"account": account_url, "oldKey": JWK of old_key}. */
int acme_jws_key_change(EVP_PKEY *new_key, EVP_PKEY *old_key, const char *account_url, const char *url,
                        json_t **ret) _warn_unused_result_;

/* base64url (padding and whitespace refused) to bytes. The result has a NUL after ret_len bytes. */
int acme_base64url_decode(const char *s, unsigned char **ret, size_t *ret_len) _warn_unused_result_;

/* Converts a DER ECDSA-Sig-Value to the JWS form: r and s, each padded to n bytes. */
int acme_jws_ecdsa_der_to_raw(const unsigned char *der, size_t der_len, size_t n, unsigned char *ret)
        _warn_unused_result_;
