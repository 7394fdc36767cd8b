/* SPDX-License-Identifier: MIT */
/* The worker ops "acme-order" (one step of an ACME order for one request) and "acme-ari" (the
 * renewal information of a certificate, RFC 9773), in a helper worker. The
 * worker keeps an AcmeClient per CA between jobs (directory, nonces, account URL, the TLS
 * connection). It gets the CSR, never the request's private key. Challenges: http-01 by a file in
 * the built-in responder's directory or in a webroot, dns-01 by a hook program. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "acme.h"
#include "certkeeperd-jobs-private.h"
#include "fs-util.h"
#include "pki-csr.h"
#include "process-util.h"
#include "string-util.h"

#define CLIENTS_MAX 8
#define POLL_BUDGET_MS 5000

typedef struct CachedClient {
        char *key; /* CA name + directory + account key: a changed CA gets a new client */
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

static const char *cfg_str(json_t *cfg, const char *key) {
        return json_string_value(json_object_get(cfg, key));
}

static int client_get(json_t *job, AcmeClient **ret) {
        json_t *cfg = json_object_get(job, "config");
        _cleanup_free_ char *key = NULL, *cfg_text = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
        CachedClient *slot;
        int r;

        if (!cfg_text)
                return -ENOMEM;
        key = strjoin(strempty(jstr(job, "ca")), "\n", strempty(jstr(job, "account_key")), "\n", cfg_text);
        if (!key)
                return -ENOMEM;
        for (size_t i = 0; i < CLIENTS_MAX; i++)
                if (streq_ptr(clients[i].key, key)) {
                        *ret = clients[i].client;
                        return 0;
                }

        AcmeConfig c = {
                .directory_url = cfg_str(cfg, "directory"),
                .ca_bundle = cfg_str(cfg, "ca_bundle"),
                .account_key_path = jstr(job, "account_key"),
                .account_key_type = cfg_str(cfg, "account_key_type"),
                .email = cfg_str(cfg, "email"),
                .agree_tos = json_is_true(json_object_get(cfg, "agree_tos")),
                .eab_kid = cfg_str(cfg, "eab_kid"),
                .eab_hmac_key = cfg_str(cfg, "eab_hmac"),
                .eab_alg = cfg_str(cfg, "eab_alg"),
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
        const char *dir;      /* where http-01 answers go */
        const char *hook;     /* dns-01 hook program */
        int64_t timeout;
} ChallengeCtx;

static int run_hook(ChallengeCtx *x, const char *method, const char *identifier, const char *token,
                    const char *key_authorization, const char *txt, char **reterr) {
        _cleanup_strv_free_ char **argv = NULL, **env = NULL, **extra = NULL;
        _cleanup_(spawn_result_done) SpawnResult res = {};
        _cleanup_free_ char *what = NULL;
        int r;

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
                { "CERTKEEPER_ACME_TXT_NAME", NULL },
                { "CERTKEEPER_ACME_TXT_VALUE", txt },
        };
        for (size_t i = 0; i < ELEMENTSOF(vars); i++) {
                _cleanup_free_ char *e = NULL;
                if (i == 4) {
                        const char *name = startswith(identifier, "*.") ? identifier + 2 : identifier;
                        e = strjoin(vars[i][0], "=_acme-challenge.", name);
                } else
                        e = strjoin(vars[i][0], "=", strempty(vars[i][1]));
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

static int present(void *userdata, const char *identifier, const char *token, const char *key_authorization,
                   const char *dns_txt_value, char **reterr) {
        ChallengeCtx *x = userdata;
        _cleanup_free_ char *path = NULL;
        FileAttrs attrs = FILE_ATTRS(0644);
        int r;

        if (x->hook)
                return run_hook(x, "begin", identifier, token, key_authorization, dns_txt_value, reterr);
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
                (void) run_hook(x, "done", identifier, token, "", "", &err);
                return;
        }
        if (http01_path(x, token, &path) >= 0)
                (void) unlink(path);
}

/* ---- the job ---- */

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
 * current certificate, for "replaces"), dns [...], ip [...], profile, user_agent, timeout.
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

        r = client_get(job, &client);
        if (r < 0)
                return reply_error(ret, "guidance", r, "the ACME client cannot be set up: %s", strerror(-r));

        ChallengeCtx x = {
                .job = job,
                .dir = jstr(job, "challenge_dir"),
                .hook = streq_ptr(cfg_str(cfg, "challenge"), "dns-01") ? cfg_str(cfg, "dns01_hook") : NULL,
                .timeout = jint(job, "timeout"),
        };
        if (!x.hook && cfg_str(cfg, "webroot")) {
                webroot_dir = strjoin(cfg_str(cfg, "webroot"), "/.well-known/acme-challenge");
                if (!webroot_dir)
                        return -ENOMEM;
                r = fs_mkdir_p(webroot_dir, 0755);
                if (r < 0)
                        return reply_error(ret, "guidance", r, "cannot create '%s': %s", webroot_dir, strerror(-r));
                x.dir = webroot_dir;
        }
        AcmeChallengeHandler handler = {
                .type = x.hook ? ACME_CHALLENGE_DNS01 : ACME_CHALLENGE_HTTP01,
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
                .preferred_chain = cfg_str(cfg, "preferred_chain"),
                .order_url = jstr(job, "order_url"),
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
