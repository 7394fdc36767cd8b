/* SPDX-License-Identifier: MIT */
#pragma once

/* Parsers of what an ACME (RFC 8555) server sends: JSON resources, problem documents and the HTTP
 * headers the protocol relies on. Everything here is untrusted input and pure: no I/O, no logging.
 * Each parser caps sizes and checks characters before anything reaches a path, an argv or a URL we
 * connect to. Strings in the results are malloc'd copies, owned by the result and freed by its
 * *_done(). On failure the result is left untouched and reterr (when given) gets words. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

#define ACME_BODY_MAX (1024U * 1024U)  /* any response body */
#define ACME_HEADER_MAX 8192U          /* one header line */
#define ACME_URL_MAX 2048U
#define ACME_NONCE_MAX 256U
#define ACME_TOKEN_MAX 256U
#define ACME_DETAIL_MAX 512U           /* a problem's detail as we keep it */
#define ACME_LIST_MAX 100U             /* authorizations, identifiers, challenges, links, contacts */
#define ACME_RETRY_AFTER_MAX (7 * 86400) /* larger Retry-After values are clamped to this */

typedef enum AcmeStatus {
        ACME_STATUS_PENDING,
        ACME_STATUS_READY,
        ACME_STATUS_PROCESSING,
        ACME_STATUS_VALID,
        ACME_STATUS_INVALID,
        ACME_STATUS_EXPIRED,
        ACME_STATUS_REVOKED,
        ACME_STATUS_DEACTIVATED,
        _ACME_STATUS_MAX,
        _ACME_STATUS_INVALID = -EINVAL,
} AcmeStatus;

const char *acme_status_to_string(AcmeStatus s);
AcmeStatus acme_status_from_string(const char *s);

/* What the caller should make of a problem document. */
typedef enum AcmeProblemClass {
        ACME_PROBLEM_BAD_NONCE,    /* retry the request with a fresh nonce */
        ACME_PROBLEM_RATELIMITED,  /* retry after Retry-After */
        ACME_PROBLEM_REJECTED,     /* the CA said no: unauthorized, caa, dns, badCSR, malformed, ... */
        ACME_PROBLEM_UNREACHABLE,  /* serverInternal, 5xx: try again later */
        ACME_PROBLEM_CONFIG,       /* externalAccountRequired, userActionRequired, accountDoesNotExist,
                                    * badPublicKey, badSignatureAlgorithm, ... : needs a person */
        _ACME_PROBLEM_CLASS_MAX,
} AcmeProblemClass;

typedef struct AcmeSubproblem {
        char *type;           /* the short type ("rejectedIdentifier"), or the full URI if not an ACME one */
        char *detail;         /* printable, capped; may be NULL */
        char *identifier;     /* "dns:example.com", or NULL */
} AcmeSubproblem;

typedef struct AcmeProblem {
        char *type;           /* short type as above; "about:blank" if none given */
        char *detail;         /* printable, capped; may be NULL */
        int status;           /* the document's "status", 0 if none */
        AcmeSubproblem *subproblems;
        size_t n_subproblems;
} AcmeProblem;

void acme_problem_done(AcmeProblem *p);
int acme_parse_problem(const char *body, size_t len, AcmeProblem *ret, char **reterr) _warn_unused_result_;
/* The class of a problem type (short or full form) given with an HTTP status (0 if none). */
AcmeProblemClass acme_problem_classify(const char *type, long http_status);
/* One printable line: "detail (type)[: sub-detail (identifier); ...]", capped at 1 KiB. */
char *acme_problem_summary(const AcmeProblem *p);

typedef struct AcmeDirectory {
        char *new_nonce;
        char *new_account;
        char *new_order;
        char *new_authz;      /* optional */
        char *revoke_cert;
        char *key_change;
        char *renewal_info;   /* ARI, optional */
        char *terms_of_service;
        char *website;
        char **caa_identities;
        char **profiles;      /* names of meta.profiles */
        bool external_account_required;
} AcmeDirectory;

void acme_directory_done(AcmeDirectory *d);
int acme_parse_directory(const char *body, size_t len, AcmeDirectory *ret, char **reterr) _warn_unused_result_;

typedef struct AcmeAccount {
        AcmeStatus status;
        char **contact;
        char *orders;         /* may be NULL */
} AcmeAccount;

void acme_account_done(AcmeAccount *a);
int acme_parse_account(const char *body, size_t len, AcmeAccount *ret, char **reterr) _warn_unused_result_;

typedef struct AcmeIdentifier {
        char *type;           /* "dns", "ip" */
        char *value;
} AcmeIdentifier;

typedef struct AcmeOrder {
        AcmeStatus status;
        int64_t expires;      /* 0 if not given */
        AcmeIdentifier *identifiers;
        size_t n_identifiers;
        char **authorizations;
        char *finalize;
        char *certificate;    /* NULL until valid */
        char *profile;
        AcmeProblem *error;   /* NULL if none */
} AcmeOrder;

void acme_order_done(AcmeOrder *o);
int acme_parse_order(const char *body, size_t len, AcmeOrder *ret, char **reterr) _warn_unused_result_;

typedef struct AcmeChallenge {
        char *type;           /* as given: "http-01", "dns-01", "tls-alpn-01", or anything else */
        char *url;
        char *token;          /* checked with acme_token_is_valid(); NULL for types without one */
        AcmeStatus status;
        AcmeProblem *error;
} AcmeChallenge;

void acme_challenge_done(AcmeChallenge *c);
int acme_parse_challenge(const char *body, size_t len, AcmeChallenge *ret, char **reterr) _warn_unused_result_;

typedef struct AcmeAuthorization {
        AcmeStatus status;
        AcmeIdentifier identifier;
        bool wildcard;
        int64_t expires;
        AcmeChallenge *challenges;
        size_t n_challenges;
} AcmeAuthorization;

void acme_authorization_done(AcmeAuthorization *a);
int acme_parse_authorization(const char *body, size_t len, AcmeAuthorization *ret, char **reterr)
        _warn_unused_result_;

/* ARI renewalInfo (RFC 9773). */
typedef struct AcmeRenewalInfo {
        int64_t start;
        int64_t end;
        char *explanation_url; /* may be NULL */
} AcmeRenewalInfo;

void acme_renewal_info_done(AcmeRenewalInfo *i);
int acme_parse_renewal_info(const char *body, size_t len, AcmeRenewalInfo *ret, char **reterr)
        _warn_unused_result_;

/* ---- headers ---- */

typedef enum AcmeContentType {
        ACME_CONTENT_JSON,
        ACME_CONTENT_PROBLEM,
        ACME_CONTENT_PEM_CHAIN,
        ACME_CONTENT_OTHER,
        ACME_CONTENT_NONE,     /* no Content-Type header */
        _ACME_CONTENT_TYPE_MAX,
} AcmeContentType;

AcmeContentType acme_parse_content_type(const char *value);

/* Splits one raw header line ("Name: value\r\n") as libcurl hands it over. Returns 1 with the name
 * (lower-cased) and the trimmed value, 0 for the status line, the empty line or a line that is not
 * a header, -E2BIG if longer than ACME_HEADER_MAX. */
int acme_parse_header_line(const char *line, size_t len, char **ret_name, char **ret_value);

/* Appends to *ret the URLs of the links in a Link header value (RFC 8288; several comma-separated
 * links, parameters in any order, rel quoted or not, a rel may list several relations) whose rel
 * matches. Only links with a valid URL (acme_url_is_valid()) are taken. Returns the number added;
 * at most ACME_LIST_MAX in *ret in total. */
int acme_parse_link(const char *value, const char *rel, char ***ret) _warn_unused_result_;

/* Retry-After: delta-seconds or an HTTP-date (IMF-fixdate), relative to now (unix seconds). Returns
 * seconds from now, 0 for a date in the past, clamped to ACME_RETRY_AFTER_MAX. */
int acme_parse_retry_after(const char *value, int64_t now, int64_t *ret) _warn_unused_result_;

/* Replay-Nonce: base64url, at most ACME_NONCE_MAX characters. */
int acme_parse_nonce(const char *value, char **ret) _warn_unused_result_;

/* Location and every URL in a resource: http(s), no whitespace or control characters, no
 * fragment, at most ACME_URL_MAX characters. */
bool acme_url_is_valid(const char *url);
int acme_parse_location(const char *value, char **ret) _warn_unused_result_;
/* True if a and b have the same scheme, host and port. */
bool acme_url_same_origin(const char *a, const char *b);

/* A challenge token: base64url only (no '.', '/', '%'), 1..ACME_TOKEN_MAX characters. */
bool acme_token_is_valid(const char *token);

/* A string fit for a message: printable ASCII, at most max bytes (with "..." when cut). */
char *acme_printable(const char *s, size_t max);
