/* SPDX-License-Identifier: MIT */
#pragma once

/* An RFC 8555 (ACME) client, blocking, for one process: it runs inside a helper worker, one order
 * step at a time, and keeps what makes the next call cheap (the directory, nonces, the account URL,
 * the TLS connection) in an AcmeClient that lives as long as the worker.
 *
 * It never sees a certificate's private key: it is given the CSR (made on the store side) and
 * returns certificates. The only private key it holds is the ACME account key.
 *
 * Every function returns 0 or a negative errno, and on failure fills an AcmeError (never NULL
 * words) that says what the CA or the network did and maps it to what the caller should do next.
 * The errno follows the outcome: ACME_WAIT -EAGAIN, ACME_RATELIMITED -EBUSY, ACME_REJECTED -EPERM
 * (-EOPNOTSUPP when the CA offers no challenge of the handler's type), ACME_UNREACHABLE
 * -EHOSTUNREACH, -ETIMEDOUT, -ECONNREFUSED, -EPROTO (TLS), -EIO, -E2BIG (a response over our caps),
 * ACME_CONFIG -EINVAL, -EACCES (terms of service or EAB needed) or the errno of the account key file.
 *
 * Every URL the server hands out must be on the directory's server (scheme, host and port):
 * redirects are never followed and other hosts are refused. Bodies are capped at 1 MiB. */

#include <stdbool.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "macro.h"

typedef enum AcmeOutcome {
        ACME_OK,
        ACME_WAIT,        /* the CA is still working (order/authz pending or processing): ask again after retry_after */
        ACME_RATELIMITED, /* rateLimited: not before retry_after */
        ACME_REJECTED,    /* unauthorized, rejectedIdentifier, caa, dns, connection, incorrectResponse,
                           * badCSR, malformed, ... : the CA said no, with its own detail */
        ACME_UNREACHABLE, /* network errors, timeouts, 5xx, serverInternal */
        ACME_CONFIG,      /* our side: no terms of service agreed, EAB required, bad directory URL,
                           * bad account key, ... : needs a person */
        _ACME_OUTCOME_MAX,
} AcmeOutcome;

typedef struct AcmeError {
        AcmeOutcome outcome;
        char *type;          /* the problem type without "urn:ietf:params:acme:error:", or NULL */
        char *message;       /* words: what happened (with the CA's detail, printable, capped) and what to do */
        int64_t retry_after; /* seconds, from Retry-After; 0 when not given */
} AcmeError;

void acme_error_done(AcmeError *e);
const char *acme_outcome_to_string(AcmeOutcome o); /* "ok", "wait", "rate limited", ... */

typedef enum AcmeChallengeType {
        ACME_CHALLENGE_HTTP01,
        ACME_CHALLENGE_DNS01,
        ACME_CHALLENGE_TLSALPN01,
        _ACME_CHALLENGE_TYPE_MAX,
} AcmeChallengeType;

const char *acme_challenge_type_to_string(AcmeChallengeType t); /* "http-01", ... */
int acme_challenge_type_from_string(const char *s);             /* -EINVAL if unknown */

typedef struct AcmeConfig {
        const char *directory_url;  /* https://... (http:// only for 127.0.0.1/localhost in tests) */
        const char *ca_bundle;      /* PEM file of CAs trusted for the ACME server's TLS; NULL = system */
        const char *account_key_path; /* PEM, created 0600 (EC P-256 by default) if missing */
        const char *account_key_type; /* "EC" (ES256, default) or "RSA" (RS256, 2048) */
        const char *email;          /* contact, may be NULL */
        bool agree_tos;
        const char *eab_kid;        /* external account binding, both or none */
        const char *eab_hmac_key;   /* base64url */
        const char *eab_alg;        /* "HS256" (default), "HS384", "HS512" */
        const char *user_agent;
        int64_t timeout_sec;        /* per HTTP request; 0 = 30 */
} AcmeConfig;

typedef struct AcmeClient AcmeClient;

/* Creating the client fetches nothing. */
int acme_client_new(const AcmeConfig *cfg, AcmeClient **ret) _warn_unused_result_;
AcmeClient *acme_client_free(AcmeClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(AcmeClient *, acme_client_free);

/* Looks up the account of the key (onlyReturnExisting), or creates it (with the contact, the
 * terms of service agreed and EAB) when there is none. Returns the account URL in *ret_url
 * (optional, owned by the client). Called by the order functions as needed. */
int acme_account_ensure(AcmeClient *c, const char **ret_url, AcmeError *err) _warn_unused_result_;

/* How a challenge is answered. For http-01 the caller publishes key_authorization at
 * /.well-known/acme-challenge/<token>; for dns-01 the TXT value (base64url SHA-256 of the key
 * authorization) at _acme-challenge.<identifier>; for tls-alpn-01 a certificate with the
 * acmeIdentifier extension. present() returns 0 when the answer is in place; cleanup() always runs
 * after the CA has decided (or the order step failed). Tokens have been checked to be base64url. */
typedef struct AcmeChallengeHandler {
        AcmeChallengeType type;
        int (*present)(void *userdata, const char *identifier, const char *token, const char *key_authorization,
                       const char *dns_txt_value, char **reterr);
        void (*cleanup)(void *userdata, const char *identifier, const char *token);
        void *userdata;
} AcmeChallengeHandler;

typedef struct AcmeOrderRequest {
        const char *csr_der_b64url; /* the CSR, DER, base64url (the order's identifiers come from it) */
        char **dns;                 /* identifiers: DNS names (wildcards need dns-01) */
        char **ip;                  /* and IP addresses */
        const char *profile;        /* only sent when the directory lists it; NULL = none */
        int64_t not_before;         /* 0 = not sent */
        int64_t not_after;
        const char *replaces;       /* ARI certificate id of the certificate this renews, or NULL */
        const char *preferred_chain; /* issuer CN of the top certificate of the preferred chain, or NULL */
        const char *order_url;      /* resume: an order made by an earlier call (the cookie), or NULL */
        int64_t poll_budget_ms;     /* how long to poll inline (pending/processing) before ACME_WAIT */
} AcmeOrderRequest;

typedef struct AcmeOrderResult {
        char *order_url;     /* always set once the order exists (to resume with after ACME_WAIT) */
        char *cert_pem;      /* ACME_OK: the leaf */
        char *chain_pem;     /* ACME_OK: the rest of the chosen chain (from Link: rel="up" / the body) */
        char *cert_url;
} AcmeOrderResult;

void acme_order_result_done(AcmeOrderResult *r);

/* Runs an order as far as it can go now: new order (or the one at order_url), each pending
 * authorization answered with handler (tried with the challenge type the handler offers), polled
 * (honouring Retry-After, within poll_budget_ms), finalized with the CSR, polled, the certificate
 * downloaded and the preferred chain chosen among the alternates. ACME_WAIT with order_url set when
 * the budget ran out. badNonce is retried with a fresh nonce (up to 5 times per request). The
 * returned certificate is checked to be for the CSR's public key.
 *
 * Polling starts at 50 ms and doubles up to 2 s, or waits what the CA's Retry-After says; when the
 * next wait would pass poll_budget_ms the call returns ACME_WAIT (-EAGAIN) with err->retry_after
 * (seconds, at least 1). ret->order_url is set as soon as the order exists, also on failure; the
 * other fields only on success. ret is the caller's: acme_order_result_done() it in any case.
 *
 * Challenges: cleanup() runs for every answer present() was called for, once the CA has decided on
 * its authorization or the call failed, but not on ACME_WAIT while the CA still validates: the
 * answer must stay in place. The resuming call (order_url) calls present() again for an
 * authorization still pending (the CA is not asked to validate twice), and cleanup() for those the CA
 * decided on meanwhile (so cleanup() may come for an answer present() was called for by an earlier
 * call, or by an earlier order whose authorization the CA reuses: it must be idempotent). */
int acme_order(AcmeClient *c, const AcmeOrderRequest *req, const AcmeChallengeHandler *handler,
               AcmeOrderResult *ret, AcmeError *err) _warn_unused_result_;

/* RFC 5280 CRLReason codes and names: "unspecified" (0), "keyCompromise" (1), "cACompromise",
 * "affiliationChanged", "superseded", "cessationOfOperation", "certificateHold", "removeFromCRL"
 * (8; 7 is unused), "privilegeWithdrawn", "aACompromise" (10). from_string() takes a name (any
 * case) or the code's number; -EINVAL otherwise. to_string() returns NULL for a code without a name. */
int acme_revocation_reason_from_string(const char *s);
const char *acme_revocation_reason_to_string(int reason);

/* Revokes a certificate (PEM) with the account key; reason is an RFC 5280 CRLReason code or -1. */
int acme_revoke(AcmeClient *c, const char *cert_pem, int reason, AcmeError *err) _warn_unused_result_;

/* Rolls the account over to the key at new_key_path (RFC 8555 7.3.5); on success the caller moves
 * that file over account_key_path. */
int acme_key_change(AcmeClient *c, const char *new_key_path, AcmeError *err) _warn_unused_result_;
/* Deactivates the account. */
int acme_account_deactivate(AcmeClient *c, AcmeError *err) _warn_unused_result_;
/* Updates the contact (email may be NULL: no contact). */
int acme_account_update(AcmeClient *c, const char *email, AcmeError *err) _warn_unused_result_;

/* ARI (RFC 9773): the certificate id of a certificate (base64url AKI "." base64url serial; -ENODATA
 * without an AKI), and its suggested window (unix seconds) with the Retry-After (seconds, 0 if not
 * given) to poll again after. -EOPNOTSUPP when the directory has no renewalInfo: err->outcome is
 * ACME_OK then, this is no failure and needs nobody. */
int acme_ari_cert_id(const char *cert_pem, char **ret) _warn_unused_result_;
int acme_ari_get(AcmeClient *c, const char *cert_id, int64_t *ret_start, int64_t *ret_end, char **ret_explanation_url,
                 int64_t *ret_retry_after, AcmeError *err) _warn_unused_result_;
