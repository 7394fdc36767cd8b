/* SPDX-License-Identifier: MIT */
#pragma once

/* certmonger's CA helper protocol, the pure parts: the environment a helper is run with, and what
 * its exit status and output mean. Running it is process-util's job (spawn_run_full()); deciding
 * what a request does next is the daemon's. docs/HELPERS.md describes the contract. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "pki-csr.h"
#include "process-util.h"

typedef enum HelperOp {
        HELPER_SUBMIT,
        HELPER_POLL,
        HELPER_IDENTIFY,
        HELPER_FETCH_ROOTS,
        HELPER_GET_NEW_REQUEST_REQUIREMENTS,
        HELPER_GET_RENEW_REQUEST_REQUIREMENTS,
        HELPER_GET_SUPPORTED_TEMPLATES,
        HELPER_GET_DEFAULT_TEMPLATE,
        _HELPER_OP_MAX,
        _HELPER_OP_INVALID = -EINVAL,
} HelperOp;

/* "SUBMIT", "POLL", "IDENTIFY", "FETCH-ROOTS", "GET-NEW-REQUEST-REQUIREMENTS", ...; NULL for an invalid
 * op. from_string is exact (case-sensitive) and returns _HELPER_OP_INVALID for anything else. */
const char *helper_op_to_string(HelperOp op);
HelperOp helper_op_from_string(const char *s);

typedef struct HelperRequest {
        HelperOp op;
        const char *ca_nickname; /* CERTMONGER_CA_NICKNAME */
        const char *csr_pem;     /* SUBMIT/POLL: CERTMONGER_CSR; the REQ_*, SPKI and KEY_TYPE values come from it */
        const char *cookie;      /* POLL: CERTMONGER_CA_COOKIE */
        const char *cert_pem;    /* SUBMIT/POLL when a certificate exists: CERTMONGER_CERTIFICATE */
        const char *profile;     /* -T: CERTMONGER_CA_PROFILE */
        const char *issuer;      /* -X: CERTMONGER_CA_ISSUER */
        const char *spkac;       /* CERTMONGER_SPKAC, made where the key is (pki_spkac_build()) */
        const char *home;        /* HOME and TMPDIR; "/" when NULL */
} HelperRequest;

/* Builds the helper's whole environment (a NULL-terminated strv): PATH=/usr/bin:/bin:/usr/sbin:/sbin,
 * HOME, TMPDIR, SHELL=/bin/sh, TERM=dumb, LANG=C.UTF-8, then CERTMONGER_OPERATION and
 * CERTMONGER_CA_NICKNAME, and for SUBMIT/POLL every CERTMONGER_* variable the request gives:
 * CSR, CA_COOKIE (POLL), CERTIFICATE, REQ_SUBJECT, REQ_HOSTNAME, REQ_EMAIL, REQ_PRINCIPAL,
 * REQ_IP_ADDRESS (multi-value variables newline-separated, unset when empty), CA_PROFILE,
 * CA_ISSUER, SPKAC, SPKI (base64 DER SubjectPublicKeyInfo) and KEY_TYPE (RSA, EC or ED25519).
 * CERTMONGER_CA_NICKNAME is unset when the nickname is NULL or empty; CERTMONGER_CA_COOKIE is set
 * for a POLL even when the cookie is empty (an exit 1 may give an empty one). KEY_TYPE is unset for
 * other key types. Subject and SAN values are read from the CSR itself (principals from both otherName
 * encodings, listed once).
 * -EBADMSG with words in *reterr if the CSR cannot be parsed or a SAN value holds a control character
 * (it would forge an extra line in a newline-separated list); -EINVAL (with words) for SUBMIT/POLL
 * without CSR, a POLL without cookie, or an unknown op. *reterr may be NULL. */
int helper_env(const HelperRequest *req, char ***ret_envp, char **reterr) _warn_unused_result_;

typedef enum HelperResult {
        HELPER_ISSUED,       /* exit 0 with a certificate */
        HELPER_WAIT,         /* exit 1 (cookie) or 5 (delay and cookie) */
        HELPER_REJECTED,     /* exit 2 */
        HELPER_UNREACHABLE,  /* exit 3, or a helper that timed out */
        HELPER_UNCONFIGURED, /* exit 4 */
        HELPER_UNSUPPORTED,  /* exit 6 */
        HELPER_NEED_REKEY,   /* exit 17 */
        HELPER_GUIDANCE,     /* anything else: unknown exit, exit 0 without a certificate, exit 5
                              * with a bad delay, killed by a signal, not found, not executable */
        _HELPER_RESULT_MAX,
} HelperResult;

/* "issued", "waiting", "rejected", "unreachable", "unconfigured", "unsupported", "rekey",
 * "guidance"; NULL if out of range. */
const char *helper_result_to_string(HelperResult r);

/* How a helper run ended, as the caller observed it. */
typedef struct HelperRun {
        int exec_error;          /* 0, or -errno when the program could not be started (-ENOENT, -EACCES, ...) */
        const char *program;     /* argv[0], for messages */
        int exit_status;         /* valid when !signaled && !timed_out && !exec_error */
        int term_signal;         /* valid when signaled */
        bool signaled;
        bool timed_out;
        int64_t timeout_sec;     /* for the message */
        const char *out;         /* stdout, NUL-terminated */
        size_t out_len;
        bool out_truncated;
        const char *err;         /* stderr, NUL-terminated (may be NULL) */
        size_t err_len;
        bool err_truncated;
} HelperRun;

/* Fills a HelperRun from what spawn_run_full() returned: spawn_r < 0 becomes exec_error (res is then
 * not read; handle failures of our own such as -ENOMEM before calling this), otherwise the fields of
 * *res (out is "" when res has no output). The strings stay owned by res and program. */
void helper_run_from_spawn(int spawn_r, const SpawnResult *res, const char *program, int64_t timeout_sec,
                           HelperRun *ret);

typedef struct HelperOutcome {
        HelperResult result;
        char *cert_pem;  /* ISSUED: the certificate, then any other certificates found, as PEM */
        char *cookie;    /* WAIT: the cookie (may be empty) */
        int64_t delay;   /* WAIT: seconds the helper asked for (exit 5), -1 when it gave none (exit 1) */
        char *message;   /* never NULL (also for ISSUED): one line for ca-error and the history, naming
                          * the helper, what happened and what to do, with the helper's own text (stderr,
                          * else stdout) trimmed to a few hundred bytes and made printable; text holding
                          * "PRIVATE KEY" is withheld */
} HelperOutcome;

void helper_outcome_done(HelperOutcome *o);

/* Maps the end of a SUBMIT or POLL run to its outcome (certmonger's exit status table, plus timeouts,
 * signals and exec errors). Output around a certificate is ignored; PEM, DER and PKCS#7 are read.
 * Exit 1: the whole stdout, trimmed, is the cookie. Exit 5: the first line must be a positive decimal
 * number of seconds (no sign, fits in int64), the rest, trimmed, is the cookie. A cookie holding a
 * NUL byte makes it GUIDANCE. Messages are one line without control characters (quoted helper text
 * has its whitespace collapsed, invalid UTF-8 replaced by '?', and is cut at about 400 bytes with
 * "(truncated)" noted); for exit 1 and 5 only stderr is quoted, as stdout is the cookie.
 * Returns 0 (the outcome says what happened), -EINVAL or -ENOMEM. */
int helper_submit_outcome(const HelperRun *run, HelperOutcome *ret) _warn_unused_result_;

/* Words for a CA-data operation (IDENTIFY, FETCH-ROOTS, ...) that did not exit 0: like
 * HelperOutcome.message, naming the operation. 6 (unsupported) is not an error for these: -EOPNOTSUPP
 * and no message. -EINVAL (and no message) for a run that exited 0. */
int helper_data_error(HelperOp op, const HelperRun *run, char **ret_message) _warn_unused_result_;

/* FETCH-ROOTS output: "nickname\nPEM" entries; a blank line ends the roots, a second blank line
 * ends the other trusted roots, the rest are other (chain) certificates. Tolerant of CRLF, of
 * missing nicknames (then the certificate's subject CN is used) and of a missing last section. */
typedef struct HelperCert {
        char *nickname;
        char *pem; /* one certificate, re-encoded as PEM by us */
} HelperCert;

typedef struct HelperRoots {
        HelperCert *roots;
        size_t n_roots;
        HelperCert *other_roots;
        size_t n_other_roots;
        HelperCert *others;
        size_t n_others;
} HelperRoots;

void helper_roots_done(HelperRoots *r);
/* Each blank line after the first certificate moves on to the next section (so two blank lines skip
 * the other roots); blank lines before the first certificate, between a nickname and its certificate
 * and after the third section are ignored. A PKCS#7 block adds all its certificates. At most 256
 * certificates (-E2BIG with words).
 * -EBADMSG with words when something that is not a certificate stands where one must be (two text
 * lines in a row, a nickname at the end, a PEM block that is not a certificate or has no END line),
 * or when no root at all (neither root nor other root) is found. *reterr may be NULL. */
int helper_parse_roots(const char *out, size_t len, HelperRoots *ret, char **reterr) _warn_unused_result_;
/* All root certificates (roots then other roots) concatenated as PEM, for -F files ("" if none). */
int helper_roots_pem(const HelperRoots *r, char **ret) _warn_unused_result_;

/* GET-*-REQUIREMENTS, GET-SUPPORTED-TEMPLATES, GET-DEFAULT-TEMPLATE, IDENTIFY: names separated by
 * commas and/or newlines (CRLF too), trimmed, empty ones skipped, duplicates dropped, order kept.
 * Non-printable bytes (control characters other than tab, CR and LF; NUL; invalid UTF-8) are refused
 * (-EBADMSG); more than 1024 names is -E2BIG. An empty output gives an empty (non-NULL) strv.
 * IDENTIFY answers one line: callers wanting it whole take the output's first line instead. */
int helper_parse_names(const char *out, size_t len, char ***ret) _warn_unused_result_;

/* Checks a request against the variables a CA says it requires (CERTMONGER_REQ_SUBJECT,
 * _REQ_HOSTNAME, _REQ_EMAIL, _REQ_PRINCIPAL, _REQ_IP_ADDRESS, _CA_PROFILE; unknown names are
 * ignored; names match without regard to case, as in certmonger). 0 if all are there; -EINVAL with
 * words naming the missing fields and the getcert flags that set them (-N, -D, -E, -K, -A, -T).
 * t may be NULL (nothing set); ca_name may be NULL. */
int helper_requirements_check(char *const *required, const CertTemplate *t, const char *ca_name, char **reterr)
        _warn_unused_result_;
