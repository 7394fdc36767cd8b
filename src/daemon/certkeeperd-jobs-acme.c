/* SPDX-License-Identifier: MIT */
/* The ACME worker ops, in a helper worker: "acme-order" (one step of an ACME order for one request),
 * "acme-ari" (the renewal information of a certificate, RFC 9773), "acme-revoke" (one certificate)
 * and "acme-account" (key rollover, deactivation, contact update).
 * The worker keeps an AcmeClient per CA between jobs (directory, nonces, account URL, the TLS
 * connection). It gets the CSR, never the request's private key. Challenges: http-01 by a file in
 * the built-in responder's directory or in a webroot, dns-01 by a hook program or over RFC 2136
 * (certkeeperd-dns01.c), waited for on the zone's authoritative servers, tls-alpn-01 by a challenge
 * certificate (with a throwaway key of its own) in the tls-alpn-01 responder's directory. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "acme-alpn-cert.h"
#include "acme.h"
#include "certkeeperd-dns01.h"
#include "certkeeperd-jobs-private.h"
#include "fs-util.h"
#include "pki-csr.h"
#include "pki-key.h"
#include "process-util.h"
#include "string-util.h"

#define CLIENTS_MAX 8
#define POLL_BUDGET_MS 5000
#define CERT_FILE_MAX (1024 * 1024)
#define ACCOUNT_KEY_MAX (64 * 1024)

/* Beside the account key: the previous key after a rollover, and the key of a deactivated account. */
#define ACCOUNT_KEY_OLD_SUFFIX ".old"
#define ACCOUNT_KEY_DEACTIVATED_SUFFIX ".deactivated"

typedef struct CachedClient {
        /* CA name + account key path, inode and mtime + settings: a changed CA, or an account key
         * replaced by a rollover in another helper worker, gets a new client. */
        char *key;
        AcmeClient *client;
} CachedClient;

static CachedClient clients[CLIENTS_MAX];
static unsigned next_evict;

void job_acme_cleanup(void) {
        for (size_t i = 0; i < CLIENTS_MAX; i++) {
                clients[i].client = acme_client_free(clients[i].client);
                clients[i].key = mfree(clients[i].key);
        }
}

/* Forgets this worker's clients of a CA, after its account key or account changed. */
static void client_drop(const char *ca) {
        for (size_t i = 0; i < CLIENTS_MAX; i++) {
                size_t n = strlen(ca);
                if (!clients[i].key || strncmp(clients[i].key, ca, n) != 0 || clients[i].key[n] != '\n')
                        continue;
                clients[i].client = acme_client_free(clients[i].client);
                clients[i].key = mfree(clients[i].key);
        }
}

static int client_get(json_t *job, AcmeClient **ret) {
        json_t *cfg = json_object_get(job, "config");
        _cleanup_free_ char *key = NULL, *cfg_text = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
        struct stat st = {};
        char ident[96];
        CachedClient *slot;
        int r;

        if (!cfg_text)
                return -ENOMEM;
        /* A missing key file (the first order creates it) has inode 0. */
        if (stat(strempty(jstr(job, "account_key")), &st) < 0)
                st = (struct stat) {};
        (void) snprintf(ident, sizeof(ident), "%ju:%ju:%jd.%09ld", (uintmax_t) st.st_dev, (uintmax_t) st.st_ino,
                        (intmax_t) st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
        key = strjoin(strempty(jstr(job, "ca")), "\n", strempty(jstr(job, "account_key")), "\n", ident, "\n",
                      cfg_text);
        if (!key)
                return -ENOMEM;
        for (size_t i = 0; i < CLIENTS_MAX; i++)
                if (streq_ptr(clients[i].key, key)) {
                        *ret = clients[i].client;
                        return 0;
                }

        AcmeConfig c = {
                .directory_url = jstr(cfg, "directory"),
                .ca_bundle = jstr(cfg, "ca_bundle"),
                .account_key_path = jstr(job, "account_key"),
                .account_key_type = jstr(cfg, "account_key_type"),
                .email = jstr(cfg, "email"),
                .agree_tos = json_is_true(json_object_get(cfg, "agree_tos")),
                .eab_kid = jstr(cfg, "eab_kid"),
                .eab_hmac_key = jstr(cfg, "eab_hmac"),
                .eab_alg = jstr(cfg, "eab_alg"),
                .user_agent = jstr(job, "user_agent"),
                .timeout_sec = MIN(jint(job, "timeout"), (int64_t) 60),
        };
        slot = &clients[next_evict++ % CLIENTS_MAX];
        slot->client = acme_client_free(slot->client);
        slot->key = mfree(slot->key);
        r = acme_client_new(&c, &slot->client);
        if (r < 0)
                return r;
        slot->key = TAKE_PTR(key);
        *ret = slot->client;
        return 0;
}

/* ---- challenges ---- */

typedef struct ChallengeCtx {
        json_t *job;
        AcmeChallengeType type;
        const char *dir;      /* where http-01 answers go */
        const char *alpn_dir; /* where tls-alpn-01 certificates go */
        const char *hook;     /* dns-01 hook program */
        bool rfc2136;         /* dns-01 over RFC 2136 */
        int64_t timeout;
} ChallengeCtx;

/* txt_name: where the record goes (absolute; the end of the CNAME chain of _acme-challenge.<name>),
 * passed without its final dot, as _acme-challenge.<name> is in CERTKEEPER_ACME_TXT_NAME_ORIGINAL. */
static int run_hook(ChallengeCtx *x, const char *method, const char *identifier, const char *txt_name,
                    const char *token, const char *key_authorization, const char *txt, char **reterr) {
        _cleanup_strv_free_ char **argv = NULL, **env = NULL, **extra = NULL;
        _cleanup_(spawn_result_done) SpawnResult res = {};
        _cleanup_free_ char *what = NULL, *original = NULL, *target = strdup(txt_name);
        int r;

        if (!target)
                return -ENOMEM;
        if (endswith(target, "."))
                target[strlen(target) - 1] = '\0';
        r = acme_dns01_txt_name(identifier, &original);
        if (r < 0)
                return r;
        original[strlen(original) - 1] = '\0';
        r = strv_split_shell(x->hook, &argv);
        if (r < 0 || strv_length(argv) == 0)
                return errorf(reterr, -EINVAL, "The dns-01 hook '%s' is not a usable command line.", x->hook);
        if (strv_extend(&argv, method) < 0 || strv_extend(&argv, identifier) < 0 || strv_extend(&argv, token) < 0 ||
            strv_extend(&argv, key_authorization) < 0)
                return -ENOMEM;
        const char *vars[][2] = {
                { "CERTKEEPER_ACME_METHOD", method },
                { "CERTKEEPER_ACME_IDENTIFIER", identifier },
                { "CERTKEEPER_ACME_TOKEN", token },
                { "CERTKEEPER_ACME_KEY_AUTHORIZATION", key_authorization },
                { "CERTKEEPER_ACME_TXT_NAME", target },
                { "CERTKEEPER_ACME_TXT_NAME_ORIGINAL", original },
                { "CERTKEEPER_ACME_TXT_VALUE", txt },
        };
        for (size_t i = 0; i < ELEMENTSOF(vars); i++) {
                _cleanup_free_ char *e = strjoin(vars[i][0], "=", strempty(vars[i][1]));
                if (!e || strv_extend(&extra, e) < 0)
                        return -ENOMEM;
        }
        env = spawn_clean_env(extra);
        if (!env)
                return -ENOMEM;
        r = spawn_run(argv, env, (usec_t) MAX(x->timeout, (int64_t) 1) * USEC_PER_SEC, 4096, &res);
        if (r < 0)
                return errorf(reterr, r, "The dns-01 hook '%s' cannot be run: %s.", argv[0], strerror(-r));
        if (!res.signaled && !res.timed_out && res.exit_status == 0)
                return 0;
        (void) spawn_result_describe(&res, &what);
        return errorf(reterr, -EPROTO, "The dns-01 hook '%s' (%s %s) %s: %.200s", argv[0], method, identifier,
                      strna(what), strempty(res.output));
}

static int http01_path(ChallengeCtx *x, const char *token, char **ret) {
        /* The token was checked to be base64url by the client; checked again before it is a path. */
        if (!base64url_is_valid(token))
                return -EINVAL;
        *ret = strjoin(x->dir, "/", token);
        return *ret ? 0 : -ENOMEM;
}

/* dir/<the name the CA sends as SNI>.pem; the name is a checked DNS name (or reverse-DNS name). */
static int tls_alpn01_path(ChallengeCtx *x, const char *identifier, char **ret) {
        _cleanup_free_ char *name = NULL;
        int r;

        r = acme_alpn_sni_name(identifier, &name);
        if (r < 0)
                return r;
        *ret = strjoin(x->alpn_dir, "/", name, ".pem");
        return *ret ? 0 : -ENOMEM;
}

static int present_tls_alpn01(ChallengeCtx *x, const char *identifier, const char *key_authorization,
                              char **reterr) {
        _cleanup_free_ char *path = NULL, *pem = NULL;
        FileAttrs attrs = FILE_ATTRS(0600);
        size_t len = 0;
        int r;

        r = tls_alpn01_path(x, identifier, &path);
        if (r == -EINVAL)
                return errorf(reterr, r, "The identifier '%s' is not a DNS name or an IP address tls-alpn-01 can "
                              "answer for.", identifier);
        if (r < 0)
                return r;
        r = acme_alpn_cert_new(identifier, key_authorization, &pem, &len);
        if (r < 0)
                return errorf(reterr, r, "Cannot make the tls-alpn-01 certificate for '%s': %s.", identifier,
                              strerror(-r));
        r = fs_write_atomic(path, pem, len, &attrs);
        explicit_bzero(pem, len);
        if (r < 0)
                return errorf(reterr, r, "Cannot write the tls-alpn-01 certificate to '%s': %s.", path, strerror(-r));
        return 0;
}

static int present(void *userdata, const char *identifier, const char *token, const char *key_authorization,
                   const char *dns_txt_value, char **reterr) {
        ChallengeCtx *x = userdata;
        _cleanup_free_ char *path = NULL;
        FileAttrs attrs = FILE_ATTRS(0644);
        int r;

        if (x->hook || x->rfc2136) {
                _cleanup_free_ char *txt_name = NULL;

                r = dns01_txt_name(x->job, identifier, x->hook, &txt_name, reterr);
                if (r < 0)
                        return r;
                if (!x->hook)
                        return dns01_present(x->job, txt_name, dns_txt_value, reterr);
                r = run_hook(x, "begin", identifier, txt_name, token, key_authorization, dns_txt_value, reterr);
                return r < 0 ? r : dns01_wait(x->job, txt_name, dns_txt_value, reterr);
        }
        if (x->type == ACME_CHALLENGE_TLSALPN01)
                return present_tls_alpn01(x, identifier, key_authorization, reterr);
        r = http01_path(x, token, &path);
        if (r < 0)
                return errorf(reterr, r, "The CA sent a challenge token that is not base64url.");
        r = fs_write_atomic(path, key_authorization, strlen(key_authorization), &attrs);
        if (r < 0)
                return errorf(reterr, r, "Cannot write the http-01 answer to '%s': %s.", path, strerror(-r));
        return 0;
}

static void cleanup(void *userdata, const char *identifier, const char *token) {
        ChallengeCtx *x = userdata;
        _cleanup_free_ char *path = NULL, *err = NULL;

        if (x->hook) {
                _cleanup_free_ char *txt_name = NULL;

                /* When the name cannot be found again now, done gets _acme-challenge.<name>. */
                if (dns01_txt_name(x->job, identifier, true, &txt_name, &err) < 0 &&
                    acme_dns01_txt_name(identifier, &txt_name) < 0)
                        return;
                (void) run_hook(x, "done", identifier, txt_name, token, "", "", &err);
                return;
        }
        if (x->rfc2136) {
                dns01_cleanup(x->job, identifier, token);
                return;
        }
        if (x->type == ACME_CHALLENGE_TLSALPN01) {
                if (tls_alpn01_path(x, identifier, &path) >= 0)
                        (void) unlink(path);
                return;
        }
        if (http01_path(x, token, &path) >= 0)
                (void) unlink(path);
}

/* ---- the job ---- */

static int job_client(json_t *job, AcmeClient **ret_client, json_t **ret);

static int strv_from_json(json_t *a, char ***ret) {
        json_t *v;
        size_t i;

        json_array_foreach(a, i, v)
                if (json_is_string(v) && strv_extend(ret, json_string_value(v)) < 0)
                        return -ENOMEM;
        return 0;
}

static const char *outcome_result(AcmeOutcome o) {
        switch (o) {
        case ACME_WAIT:
                return "waiting";
        case ACME_RATELIMITED:
        case ACME_UNREACHABLE:
                return "unreachable";
        case ACME_REJECTED:
                return "rejected";
        default:
                return "guidance";
        }
}

/* job: ca, config {...}, account_key, challenge_dir, csr_pem, order_url (cookie), cert_path (the
 * current certificate, for "replaces"), dns [...], ip [...], profile, not_after (0: none), user_agent,
 * timeout.
 * Reply: as "submit" (ok with issued_pem; or result waiting/unreachable/rejected/guidance with
 * error, cookie = the order URL, delay and retry_after), plus "acme": true. */
int job_acme_order(json_t *job, json_t **ret) {
        _cleanup_(acme_order_result_done) AcmeOrderResult res = {};
        _cleanup_(acme_error_done) AcmeError err = {};
        _cleanup_strv_free_ char **dns = NULL, **ip = NULL;
        _cleanup_free_ char *csr_b64 = NULL, *replaces = NULL, *cur = NULL, *full = NULL, *webroot_dir = NULL;
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        json_t *cfg = json_object_get(job, "config");
        usec_t start = now_usec(CLOCK_MONOTONIC);
        AcmeClient *client;
        unsigned char *der = NULL;
        int len, r;

        r = pki_csr_from_pem(strempty(jstr(job, "csr_pem")), &req);
        if (r < 0)
                return reply_error(ret, "guidance", r, "the request's CSR cannot be read; run 'certkeeper resubmit'");
        len = i2d_X509_REQ(req, &der);
        if (len <= 0)
                return -ENOMEM;
        r = base64url_encode(der, (size_t) len, &csr_b64);
        OPENSSL_free(der);
        if (r < 0)
                return r;
        if (strv_from_json(json_object_get(job, "dns"), &dns) < 0 || strv_from_json(json_object_get(job, "ip"), &ip) < 0)
                return -ENOMEM;
        if (strv_length(dns) + strv_length(ip) == 0)
                return reply_error(ret, "guidance", -EINVAL, "an ACME certificate needs at least one DNS name (-D) or "
                                   "IP address (-A); the subject alone is not an identifier");

        /* A renewal says which certificate it replaces (ARI), when the CA knows ARI ids. */
        if (jstr(job, "cert_path") && fs_read_file(jstr(job, "cert_path"), 1024 * 1024, &cur, NULL) >= 0 &&
            acme_ari_cert_id(cur, &replaces) < 0)
                replaces = mfree(replaces); /* no AKI: the order simply does not say */

        r = job_client(job, &client, ret);
        if (r != 0)
                return r < 0 ? r : 0;

        r = acme_challenge_type_from_string(jstr(cfg, "challenge") ?: "http-01");
        if (r < 0)
                return reply_error(ret, "guidance", r, "the challenge type '%s' is not http-01, dns-01 or tls-alpn-01",
                                   jstr(cfg, "challenge"));
        ChallengeCtx x = {
                .job = job,
                .type = (AcmeChallengeType) r,
                .dir = jstr(job, "challenge_dir"),
                .alpn_dir = jstr(job, "alpn_dir"),
                .hook = streq_ptr(jstr(cfg, "challenge"), "dns-01") ? jstr(cfg, "dns01_hook") : NULL,
                .rfc2136 = streq_ptr(jstr(cfg, "challenge"), "dns-01") && jstr(cfg, "dns01_rfc2136"),
                .timeout = jint(job, "timeout"),
        };
        if (x.type == ACME_CHALLENGE_TLSALPN01 && !x.alpn_dir)
                return reply_error(ret, "guidance", -EINVAL, "the daemon gave no directory for tls-alpn-01 answers");
        if (x.type == ACME_CHALLENGE_HTTP01 && jstr(cfg, "webroot")) {
                webroot_dir = strjoin(jstr(cfg, "webroot"), "/.well-known/acme-challenge");
                if (!webroot_dir)
                        return -ENOMEM;
                r = fs_mkdir_p(webroot_dir, 0755);
                if (r < 0)
                        return reply_error(ret, "guidance", r, "cannot create '%s': %s", webroot_dir, strerror(-r));
                x.dir = webroot_dir;
        }
        AcmeChallengeHandler handler = {
                .type = x.type,
                .present = present,
                .cleanup = cleanup,
                .userdata = &x,
        };
        AcmeOrderRequest oreq = {
                .csr_der_b64url = csr_b64,
                .dns = dns,
                .ip = ip,
                .profile = jstr(job, "profile"),
                .replaces = replaces,
                .preferred_chain = jstr(cfg, "preferred_chain"),
                .order_url = jstr(job, "order_url"),
                .not_after = jint(job, "not_after"),
                .poll_budget_ms = POLL_BUDGET_MS,
        };

        r = acme_order(client, &oreq, &handler, &res, &err);
        if (r >= 0) {
                full = strjoin(strempty(res.cert_pem), strempty(res.chain_pem));
                if (!full)
                        return -ENOMEM;
                *ret = json_pack("{s:b, s:b, s:s, s:s, s:s, s:I}", "ok", 1, "acme", 1, "result", "issued", "issued_pem",
                                 full, "csr_pem", jstr(job, "csr_pem"), "duration_ms", (json_int_t) elapsed_ms(start));
                return *ret ? 0 : -ENOMEM;
        }
        if (r == -ENOMEM)
                return r;

        *ret = json_pack("{s:b, s:b, s:s, s:s, s:s?, s:I, s:I, s:I}", "ok", 0, "acme", 1, "result",
                         outcome_result(err.outcome), "error", err.message ?: strerror(-r), "cookie",
                         err.outcome == ACME_WAIT ? res.order_url : NULL, "delay",
                         (json_int_t) (err.outcome == ACME_WAIT ? MAX(err.retry_after, (int64_t) 1) : -1),
                         "retry_after", (json_int_t) err.retry_after, "duration_ms", (json_int_t) elapsed_ms(start));
        return *ret ? 0 : -ENOMEM;
}

/* job: ca, config {...}, account_key, cert_path, user_agent, timeout (as "acme-order"; no account is
 * needed: renewalInfo is a plain GET). Reply: ok with start, end (unix seconds), explanation_url,
 * retry_after and cert_id; or result "unsupported" (the directory has no renewalInfo, or the
 * certificate has no Authority Key Identifier to name it by), "unreachable", "rejected" or "guidance",
 * with error and retry_after (seconds, 0 = none). */
int job_acme_ari(json_t *job, json_t **ret) {
        _cleanup_(acme_error_done) AcmeError err = {};
        _cleanup_free_ char *pem = NULL, *cert_id = NULL, *url = NULL;
        usec_t start_usec = now_usec(CLOCK_MONOTONIC);
        int64_t start = 0, end = 0, retry_after = 0;
        AcmeClient *client;
        int r;

        r = fs_read_file(strempty(jstr(job, "cert_path")), 1024 * 1024, &pem, NULL);
        if (r < 0)
                return reply_error(ret, "failed", r, "cannot read the certificate '%s': %s", strempty(jstr(job, "cert_path")),
                                   strerror(-r));
        r = acme_ari_cert_id(pem, &cert_id);
        if (r == -ENODATA)
                return reply_error(ret, "unsupported", r, "the certificate has no Authority Key Identifier, so the CA's "
                                   "renewal information cannot name it");
        if (r < 0)
                return reply_error(ret, "failed", r, "cannot read the certificate '%s' as PEM: %s",
                                   strempty(jstr(job, "cert_path")), strerror(-r));

        r = client_get(job, &client);
        if (r < 0)
                return reply_error(ret, "guidance", r, "the ACME client cannot be set up: %s", strerror(-r));

        r = acme_ari_get(client, cert_id, &start, &end, &url, &retry_after, &err);
        if (r == -ENOMEM)
                return r;
        if (r == -EOPNOTSUPP)
                return reply_error(ret, "unsupported", r, "%s", strna(err.message));
        if (r < 0) {
                *ret = json_pack("{s:b, s:s, s:s, s:I, s:I}", "ok", 0, "result", outcome_result(err.outcome), "error",
                                 err.message ?: strerror(-r), "retry_after", (json_int_t) err.retry_after,
                                 "duration_ms", (json_int_t) elapsed_ms(start_usec));
                return *ret ? 0 : -ENOMEM;
        }
        *ret = json_pack("{s:b, s:s, s:I, s:I, s:s?, s:I, s:s, s:I}", "ok", 1, "result", "ok", "start", (json_int_t) start,
                         "end", (json_int_t) end, "explanation_url", url, "retry_after", (json_int_t) retry_after,
                         "cert_id", cert_id, "duration_ms", (json_int_t) elapsed_ms(start_usec));
        return *ret ? 0 : -ENOMEM;
}

/* ---- revocation and the account ---- */

static char *path_with_suffix(const char *path, const char *suffix) {
        return strjoin(strempty(path), suffix);
}

/* An account deactivated by "acme-account" has its key moved aside: the CA refuses that key for
 * good (RFC 8555 7.3.6), and a missing key would otherwise silently create a new account. Replies
 * "guidance" with what to do, and returns 1, when that is so. */
static int account_deactivated(json_t *job, json_t **ret) {
        _cleanup_free_ char *moved = path_with_suffix(jstr(job, "account_key"), ACCOUNT_KEY_DEACTIVATED_SUFFIX);
        int r;

        if (!moved)
                return -ENOMEM;
        if (fs_exists(jstr(job, "account_key")) || !fs_exists(moved))
                return 0;
        r = reply_error(ret, "guidance", -EPERM, "the ACME account of CA '%s' was deactivated (certkeeper acme-account "
                        "--deactivate), and the CA refuses it for good. To use the CA with a new account, remove "
                        "'%s'; the next order then creates one", strna(jstr(job, "ca")), moved);
        return r < 0 ? r : 1;
}

/* *ret for an ACME call that failed: result = what the outcome means for the caller. */
static int reply_acme_error(json_t **ret, int r, const AcmeError *err, usec_t start) {
        if (r == -ENOMEM)
                return r;
        *ret = json_pack("{s:b, s:b, s:s, s:s, s:s?, s:I}", "ok", 0, "acme", 1, "result", outcome_result(err->outcome),
                         "error", err->message ?: strerror(-r), "type", err->type, "duration_ms",
                         (json_int_t) elapsed_ms(start));
        return *ret ? 0 : -ENOMEM;
}

static int reply_ok(json_t **ret, const char *message, usec_t start) {
        *ret = json_pack("{s:b, s:b, s:s, s:s, s:I}", "ok", 1, "acme", 1, "result", "ok", "message", message,
                         "duration_ms", (json_int_t) elapsed_ms(start));
        return *ret ? 0 : -ENOMEM;
}

/* "WORDS 'KEY_PATH SUFFIX'" */
static int reply_ok_kept(json_t **ret, const char *words, const char *key_path, const char *suffix, usec_t start) {
        _cleanup_free_ char *message = strjoin(words, " '", key_path, suffix, "'");

        return message ? reply_ok(ret, message, start) : -ENOMEM;
}

/* Sets up the job's client, or replies why not (returns 1 then). */
static int job_client(json_t *job, AcmeClient **ret_client, json_t **ret) {
        int r;

        r = account_deactivated(job, ret);
        if (r != 0)
                return r;
        r = client_get(job, ret_client);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                r = reply_error(ret, "guidance", r, "the ACME client cannot be set up: %s", strerror(-r));
                return r < 0 ? r : 1;
        }
        return 0;
}

/* job: as "acme-order" (ca, config, account_key, user_agent, timeout), cert_path and reason (an
 * RFC 5280 code, -1: none). Reply: ok, or result rejected/unreachable/guidance with error. */
int job_acme_revoke(json_t *job, json_t **ret) {
        _cleanup_(acme_error_done) AcmeError err = {};
        _cleanup_free_ char *pem = NULL;
        usec_t start = now_usec(CLOCK_MONOTONIC);
        const char *path = jstr(job, "cert_path");
        AcmeClient *client;
        int r;

        r = fs_read_file(strempty(path), CERT_FILE_MAX, &pem, NULL);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !strstr(pem, "-----BEGIN CERTIFICATE-----"))
                return reply_error(ret, "guidance", r < 0 ? r : -EBADMSG, "the certificate file '%s' %s", strna(path),
                                   r < 0 ? strerror(-r) : "holds no PEM certificate");
        r = job_client(job, &client, ret);
        if (r != 0)
                return r < 0 ? r : 0;
        r = acme_revoke(client, pem, (int) jint(job, "reason"), &err);
        if (r < 0)
                return reply_acme_error(ret, r, &err, start);
        return reply_ok(ret, "revoked", start);
}

/* Makes a new key of the current key's type and size, and stages it beside the account key. */
static int rollover_stage_key(const char *key_path, char **reterr) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *cur = NULL, *fresh = NULL;
        _cleanup_free_ char *pem = NULL;
        FileAttrs attrs = FILE_ATTRS(0600);
        size_t len;
        unsigned bits;
        KeyType type;
        int r;

        r = pki_key_load(key_path, &cur);
        if (r == -ENOENT)
                return errorf(reterr, r, "there is no account key '%s' yet: the first order creates the account, "
                              "there is nothing to roll over", key_path);
        if (r < 0)
                return errorf(reterr, r, "the account key '%s' cannot be read: %s", key_path, strerror(-r));
        r = pki_key_info(cur, &type, &bits);
        if (r < 0)
                return errorf(reterr, r, "the account key '%s' is of an unknown type", key_path);
        r = pki_key_generate(type, bits, &fresh);
        if (r >= 0)
                r = pki_key_to_pem(fresh, &pem, &len);
        if (r < 0)
                return errorf(reterr, r, "cannot make a new account key: %s", strerror(-r));
        r = fs_stage(key_path, pem, len, &attrs);
        explicit_bzero(pem, len);
        if (r < 0)
                return errorf(reterr, r, "cannot write the new account key beside '%s': %s", key_path, strerror(-r));
        return 0;
}

/* Keeps a copy of the account key (mode 0600) at its path + suffix, replacing an older one. */
static int account_key_keep(const char *key_path, const char *suffix) {
        _cleanup_free_ char *data = NULL, *dest = path_with_suffix(key_path, suffix);
        FileAttrs attrs = FILE_ATTRS(0600);
        size_t len;
        int r;

        if (!dest)
                return -ENOMEM;
        r = fs_read_file(key_path, ACCOUNT_KEY_MAX, &data, &len);
        if (r < 0)
                return r;
        r = fs_write_atomic(dest, data, len, &attrs);
        explicit_bzero(data, len);
        return r;
}

static int account_rollover(json_t *job, AcmeClient *client, json_t **ret, usec_t start) {
        _cleanup_(acme_error_done) AcmeError err = {};
        _cleanup_free_ char *staged = NULL, *words = NULL;
        const char *key_path = jstr(job, "account_key");
        int r;

        staged = fs_staged_path(key_path);
        if (!staged)
                return -ENOMEM;
        r = rollover_stage_key(key_path, &words);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return reply_error(ret, "guidance", r, "%s", strna(words));

        r = acme_key_change(client, staged, &err);
        if (r < 0) {
                (void) unlink(staged);
                return reply_acme_error(ret, r, &err, start);
        }
        /* The CA knows only the new key now: keep the old one, then put the new one in place. */
        r = account_key_keep(key_path, ACCOUNT_KEY_OLD_SUFFIX);
        if (r >= 0)
                r = fs_commit_staged(key_path);
        if (r < 0)
                return reply_error(ret, "guidance", r, "the CA took the new account key, but it cannot be put in place "
                                   "of '%s': %s. The new key is in '%s': move it over the account key by hand",
                                   key_path, strerror(-r), staged);
        return reply_ok_kept(ret, "the account key was rolled over; the previous key is kept as", key_path,
                             ACCOUNT_KEY_OLD_SUFFIX, start);
}

static int account_deactivate(json_t *job, AcmeClient *client, json_t **ret, usec_t start) {
        _cleanup_(acme_error_done) AcmeError err = {};
        _cleanup_free_ char *moved = NULL;
        const char *key_path = jstr(job, "account_key");
        int r;

        r = acme_account_deactivate(client, &err);
        if (r < 0)
                return reply_acme_error(ret, r, &err, start);
        moved = path_with_suffix(key_path, ACCOUNT_KEY_DEACTIVATED_SUFFIX);
        if (!moved)
                return -ENOMEM;
        r = rename(key_path, moved) < 0 ? -errno : fs_fsync_parent(key_path);
        if (r < 0)
                return reply_error(ret, "guidance", r, "the account was deactivated, but its key '%s' cannot be moved "
                                   "aside: %s. Move it aside by hand before the next order", key_path, strerror(-r));
        return reply_ok_kept(ret, "the account was deactivated; its key is kept as", key_path,
                             ACCOUNT_KEY_DEACTIVATED_SUFFIX, start);
}

/* job: as "acme-revoke" without cert_path and reason; action "rollover", "deactivate" or "update"
 * (with email, or none to remove the contact). Reply: ok with message, or not ok as "acme-revoke".
 * This worker's client of the CA is dropped either way; the others see the key file change. */
int job_acme_account(json_t *job, json_t **ret) {
        _cleanup_(acme_error_done) AcmeError err = {};
        usec_t start = now_usec(CLOCK_MONOTONIC);
        const char *action = jstr(job, "action");
        AcmeClient *client;
        int r;

        r = job_client(job, &client, ret);
        if (r != 0)
                return r < 0 ? r : 0;
        if (streq_ptr(action, "rollover"))
                r = account_rollover(job, client, ret, start);
        else if (streq_ptr(action, "deactivate"))
                r = account_deactivate(job, client, ret, start);
        else if (streq_ptr(action, "update")) {
                r = acme_account_update(client, jstr(job, "email"), &err);
                r = r < 0 ? reply_acme_error(ret, r, &err, start) : reply_ok(ret, "the account's contact was updated", start);
        } else
                r = reply_error(ret, "guidance", -EINVAL, "unknown account action '%s'", strna(action));
        client_drop(strempty(jstr(job, "ca")));
        return r;
}
