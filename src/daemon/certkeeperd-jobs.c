/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include "ca-local.h"
#include "cert-json.h"
#include "certkeeperd-jobs.h"
#include "certkeeperd-jobs-private.h"
#include "fs-util.h"
#include "parse-util.h"
#include "pki-cert.h"
#include "pki-csr.h"
#include "pki-key.h"
#include "pki-sign.h"
#include "process-util.h"
#include "string-util.h"
#include "time-util.h"

#define PEM_MAX (1024 * 1024)

static LocalCA *local_ca = NULL;
static char *local_ca_dir = NULL;
static int64_t local_ca_opened = 0;
/* The CA certificates of the chains this worker saw, parsed once. */
static PkiCertCache *cert_cache = NULL;

void job_cleanup(void) {
        local_ca = local_ca_free(local_ca);
        local_ca_dir = mfree(local_ca_dir);
        cert_cache = pki_cert_cache_free(cert_cache);
        job_acme_cleanup();
}

static PkiCertCache *get_cert_cache(void) {
        if (!cert_cache)
                cert_cache = pki_cert_cache_new(); /* NULL on OOM: parse without */
        return cert_cache;
}

int reply_error(json_t **ret, const char *result, int err, const char *fmt, ...) {
        _cleanup_free_ char *msg = NULL;
        va_list ap;

        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);

        *ret = json_pack("{s:b, s:s, s:s, s:i}", "ok", 0, "result", result, "error", msg ? msg : "out of memory",
                         "errno", (json_int_t) -abs(err));
        return *ret ? 0 : -ENOMEM;
}

int attrs_from_job(json_t *job, const char *owner_key, const char *mode_key, mode_t def, FileAttrs *ret,
                   char **reterr) {
        FileAttrs a = FILE_ATTRS(def);
        const char *owner = jstr(job, owner_key);
        int64_t mode = jint(job, mode_key);
        int r;

        if (mode > 0)
                a.mode = (mode_t) mode;
        if (!isempty(owner)) {
                r = parse_owner(owner, &a.uid, &a.gid);
                if (r < 0) {
                        (void) asprintf(reterr, "owner '%s' is not a known user[:group]", owner);
                        return r;
                }
        }
        *ret = a;
        return 0;
}

/* The key a CSR or a self-signed certificate is made with: the staged one during a rekey. */
static int load_request_key(json_t *job, EVP_PKEY **ret, char **reterr) {
        const char *key_path = jstr(job, "key_path");
        _cleanup_free_ char *staged = NULL;
        int r;

        if (!key_path)
                return -EINVAL;
        if (jbool(job, "use_staged")) {
                staged = fs_staged_path(key_path);
                if (!staged)
                        return -ENOMEM;
                r = pki_key_load(staged, ret);
                if (r < 0)
                        (void) asprintf(reterr, "cannot read the new key '%s': %s", staged, strerror(-r));
                return r;
        }
        r = pki_key_load(key_path, ret);
        if (r < 0)
                (void) asprintf(reterr, "cannot read the key '%s': %s", key_path, strerror(-r));
        return r;
}

static int local_ca_get(json_t *job, int64_t now, LocalCA **ret, char **reterr) {
        const char *dir = jstr(job, "local_dir");
        LocalCAConfig cfg = {
                .root_lifetime = jint(job, "root_lifetime"),
                .issuing_lifetime = jint(job, "issuing_lifetime"),
        };
        int r;

        if (!dir)
                return -EINVAL;
        /* Re-open now and then, so that a renewal made by another process is picked up. */
        if (local_ca && local_ca_dir && streq(local_ca_dir, dir) && now - local_ca_opened < 30) {
                *ret = local_ca;
                return 0;
        }
        local_ca = local_ca_free(local_ca);
        local_ca_dir = mfree(local_ca_dir);
        r = local_ca_open(dir, &cfg, now, &local_ca, reterr);
        if (r < 0)
                return r;
        local_ca_dir = strdup(dir);
        if (!local_ca_dir)
                return -ENOMEM;
        local_ca_opened = now;
        *ret = local_ca;
        return 0;
}

static json_t *strv_to_json(char **l) {
        json_t *a = json_array();
        STRV_FOREACH(s, l)
                json_array_append_new(a, json_string(*s));
        return a;
}

/* The facts about a certificate that the database keeps. */
json_t *cert_facts(X509 *cert) {
        _cleanup_(cert_info_done) CertInfo i = {};
        _cleanup_free_ char *ku = NULL;
        _cleanup_strv_free_ char **kul = NULL;

        if (pki_cert_info(cert, &i) < 0)
                return NULL;
        if (i.has_key_usage) {
                ku = key_usage_to_string(i.key_usage);
                if (ku && strv_split(ku, ",", &kul) < 0)
                        return NULL;
        }
        json_t *info = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:i, s:s?, s:s?, s:s?}",
                                 "dns", strv_to_json(i.dns), "ip", strv_to_json(i.ip), "email",
                                 strv_to_json(i.email), "principal", strv_to_json(i.principal), "key_usage",
                                 strv_to_json(kul), "eku", strv_to_json(i.eku), "is_ca", i.is_ca, "path_len",
                                 (json_int_t) i.path_len, "template_name", i.template_name, "aki", i.aki_hex,
                                 "ski", i.ski_hex);
        return json_pack("{s:s?, s:s?, s:s?, s:I, s:I, s:s, s:s, s:o}", "subject", i.subject, "issuer",
                         i.issuer, "serial", i.serial_hex, "not_before", (json_int_t) i.not_before, "not_after",
                         (json_int_t) i.not_after, "sha1", i.sha1, "sha256", i.sha256, "info", info);
}

json_t *run_save_hook(const char *stage, const char *cmd, json_t *job) {
        _cleanup_(spawn_result_done) SpawnResult res = {};
        _cleanup_strv_free_ char **env = NULL, **extra = NULL;
        _cleanup_free_ char *desc = NULL, *msg = NULL;
        char *argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) cmd, NULL };
        static const char *vars[][2] = {
                { "CERTKEEPER_NICKNAME", "nickname" },
                { "CERTKEEPER_CERT_FILE", "cert_path" },
                { "CERTKEEPER_KEY_FILE", "key_path" },
                { "CERTKEEPER_CHAIN_FILE", "chain_path" },
                { "CERTKEEPER_FULLCHAIN_FILE", "fullchain_path" },
        };
        int r;

        for (size_t i = 0; i < ELEMENTSOF(vars); i++)
                if (jstr(job, vars[i][1]) &&
                    strv_consume(&extra, strjoin(vars[i][0], "=", jstr(job, vars[i][1]))) < 0)
                        return NULL;
        if (strv_consume(&extra, strjoin("CERTKEEPER_HOOK=", stage)) < 0)
                return NULL;
        env = spawn_clean_env(extra);
        if (!env)
                return NULL;

        r = spawn_run(argv, env, (usec_t) jint(job, "hook_timeout") * USEC_PER_SEC,
                      (size_t) jint(job, "hook_output_max"), &res);
        if (r < 0) {
                (void) asprintf(&msg, "cannot run the command: %s", strerror(-r));
                return json_pack("{s:s, s:s, s:s?, s:i}", "stage", stage, "result", "failed", "message", msg,
                                 "duration_ms", 0);
        }

        (void) spawn_result_describe(&res, &desc);
        bool ok = !res.signaled && !res.timed_out && res.exit_status == 0;
        (void) asprintf(&msg, "%s%s%s", strempty(desc), res.output_len > 0 ? "; output:\n" : "",
                        strempty(res.output));
        return json_pack("{s:s, s:s, s:o, s:I}", "stage", stage, "result", ok ? "ok" : "failed", "message",
                         cert_json_text(msg), "duration_ms", (json_int_t) (res.duration / USEC_PER_MSEC));
}

/* ---- batches: many certificates per job, one syncfs() per file system per phase ---- */

/* The file systems a batch wrote to, each synced once. */
typedef struct SyncSet {
        dev_t devs[16];
        char *paths[16];
        size_t n;
        bool overflow;
        char **extra; /* paths on further file systems, synced one by one */
} SyncSet;

static void sync_set_done(SyncSet *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->paths[i]);
        strv_free(s->extra);
        *s = (SyncSet) {};
}

static int sync_set_add(SyncSet *s, const char *path) {
        _cleanup_free_ char *dir = NULL;
        struct stat st;
        char *slash;

        if (isempty(path))
                return 0;
        dir = strdup(path);
        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash && slash != dir)
                *slash = '\0';
        if (stat(dir, &st) < 0)
                return -errno;
        for (size_t i = 0; i < s->n; i++)
                if (s->devs[i] == st.st_dev)
                        return 0;
        if (s->n < ELEMENTSOF(s->devs)) {
                s->devs[s->n] = st.st_dev;
                s->paths[s->n++] = strdup(path);
                return s->paths[s->n - 1] ? 0 : -ENOMEM;
        }
        return strv_extend(&s->extra, path);
}

static int sync_set_run(SyncSet *s) {
        int r;

        for (size_t i = 0; i < s->n; i++) {
                r = fs_syncfs(s->paths[i]);
                if (r < 0)
                        return r;
        }
        STRV_FOREACH(p, s->extra) {
                r = fs_syncfs(*p);
                if (r < 0)
                        return r;
        }
        return 0;
}


/* Key (new and staged, or the current one), CSR, signature by a built-in CA, and the new files
 * staged beside their targets. Nothing is durable until the batch's sync. */
static int issue_one(json_t *item, SyncSet *sync, json_t **ret) {
        const char *ca_type = jstr(item, "ca_type"), *key_path = jstr(item, "key_path");
        const char *cert_path = jstr(item, "cert_path");
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_(pki_chain_freep) STACK_OF(X509) *chain = NULL;
        _cleanup_(cert_template_done) CertTemplate t = {};
        _cleanup_free_ char *err = NULL, *csr_pem = NULL, *pem = NULL, *chain_pem = NULL, *full = NULL;
        int64_t now = (int64_t) time(NULL), validity = jint(item, "validity");
        usec_t start = now_usec(CLOCK_MONOTONIC);
        bool need_key = jbool(item, "need_key");
        size_t len, clen = 0;
        KeyType kt;
        unsigned bits;
        int r;

        if (!ca_type || !key_path || !cert_path)
                return reply_error(ret, "guidance", -EINVAL, "invalid issue job");

        if (need_key) {
                _cleanup_free_ char *kpem = NULL;
                FileAttrs attrs;

                kt = key_type_from_string(jstr(item, "key_type"));
                if (kt < 0)
                        return reply_error(ret, "guidance", -EINVAL, "unknown key type '%s'",
                                           strna(jstr(item, "key_type")));
                r = pki_key_params_check(kt, (unsigned) jint(item, "key_bits"), &bits, &err);
                if (r < 0)
                        return reply_error(ret, "guidance", r, "%s", strna(err));
                r = attrs_from_job(item, "key_owner", "key_mode", 0600, &attrs, &err);
                if (r < 0)
                        return reply_error(ret, "guidance", r, "%s", strna(err));
                r = pki_key_generate(kt, bits, &key);
                if (r < 0)
                        return reply_error(ret, "failed", r, "key generation failed: %s", strerror(-r));
                r = pki_key_to_pem(key, &kpem, &len);
                if (r >= 0) {
                        /* Staged: it replaces the current key only together with its certificate. */
                        r = fs_stage_unsynced(key_path, kpem, len, &attrs);
                        explicit_bzero(kpem, len);
                }
                if (r < 0)
                        return reply_error(ret, IN_SET(r, -EACCES, -ENOENT, -EROFS) ? "guidance" : "failed", r,
                                           "cannot write the new key beside '%s': %s", key_path, strerror(-r));
        } else {
                r = load_request_key(item, &key, &err);
                if (r < 0)
                        return reply_error(ret, "guidance", r, "%s", strna(err));
                if (key_path) {
                        /* Not rekeying: a key left staged by an abandoned rekey is stale. */
                        _cleanup_free_ char *staged = fs_staged_path(key_path);
                        if (staged && !jbool(item, "use_staged"))
                                (void) unlink(staged);
                }
        }
        (void) pki_key_info(key, &kt, &bits);

        r = cert_template_from_json(json_object_get(item, "template"), &t, &err);
        if (r < 0)
                return reply_error(ret, "guidance", r, "%s", err ? err : "invalid template");
        r = pki_csr_build(key, &t, jstr(item, "nickname"), &req, &err);
        if (r < 0)
                return reply_error(ret, "guidance", r, "cannot build the CSR: %s", err ? err : strerror(-r));
        r = pki_csr_to_pem(req, &csr_pem);
        if (r < 0)
                return reply_error(ret, "failed", r, "cannot encode the CSR: %s", strerror(-r));

        if (streq(ca_type, "EXTERNAL") || streq(ca_type, "ACME")) {
                /* The CSR goes to the CA's helper in a job of its own; a new key stays staged (and
                 * durable) until the certificate for it is saved. Helpers also get an SPKAC made
                 * here, where the key is (the process that runs helpers never holds keys). */
                _cleanup_free_ char *spkac = NULL;

                if (streq(ca_type, "EXTERNAL")) {
                        r = pki_spkac_build(key, &spkac);
                        if (r < 0)
                                return reply_error(ret, "failed", r, "cannot make the SPKAC: %s", strerror(-r));
                }
                r = need_key ? sync_set_add(sync, key_path) : 0;
                if (r < 0)
                        return reply_error(ret, "guidance", r, "cannot reach the directory of '%s': %s", key_path,
                                           strerror(-r));
                *ret = json_pack("{s:b, s:s, s:s?, s:s, s:i, s:I}", "ok", 1, "csr_pem", csr_pem, "spkac", spkac,
                                 "key_type", key_type_to_string(kt), "key_bits", (json_int_t) bits, "duration_ms",
                                 (json_int_t) elapsed_ms(start));
                return *ret ? 0 : -ENOMEM;
        }

        if (streq(ca_type, "INTERNAL:SELF"))
                r = pki_sign_csr_full(req, NULL, key, now - MIN((int64_t) 60, validity / 10), now + validity,
                                      PKI_SIGN_CSR_TRUSTED, &cert, &err);
        else if (streq(ca_type, "INTERNAL:LOCAL")) {
                LocalCA *ca;
                r = local_ca_get(item, now, &ca, &err);
                if (r < 0)
                        return reply_error(ret, "unreachable", r, "the local CA cannot be opened: %s",
                                           err ? err : strerror(-r));
                r = local_ca_sign_full(ca, req, PKI_SIGN_CSR_TRUSTED, now, validity, &cert, &chain, &err);
        } else
                return reply_error(ret, "guidance", -EOPNOTSUPP,
                                   "CA type '%s' cannot issue certificates in this version", ca_type);
        if (r < 0)
                return reply_error(ret, "rejected", r, "%s", err ? err : strerror(-r));

        r = pki_cert_to_pem(cert, &pem, &len);
        if (r >= 0 && chain && sk_X509_num(chain) > 0)
                r = pki_chain_to_pem(chain, &chain_pem, &clen);
        if (r < 0)
                return reply_error(ret, "failed", r, "cannot encode the certificate: %s", strerror(-r));
        full = strjoin(pem, strempty(chain_pem));
        if (!full)
                return -ENOMEM;

        r = sync_set_add(sync, key_path);
        if (r >= 0)
                r = sync_set_add(sync, cert_path);
        if (r < 0)
                return reply_error(ret, "guidance", r, "cannot reach the directory of '%s': %s", cert_path,
                                   strerror(-r));

        *ret = json_pack("{s:b, s:s, s:s, s:s, s:i, s:I}", "ok", 1, "csr_pem", csr_pem, "issued_pem", full,
                         "key_type", key_type_to_string(kt), "key_bits", (json_int_t) bits, "duration_ms",
                         (json_int_t) elapsed_ms(start));
        return *ret ? 0 : -ENOMEM;
}

static int job_issue(json_t *job, json_t **ret) {
        _cleanup_(sync_set_done) SyncSet sync = {};
        json_auto_t *items = json_array();
        json_t *item, *out;
        size_t i;
        int r;

        if (!items)
                return -ENOMEM;
        json_array_foreach(json_object_get(job, "items"), i, item) {
                out = NULL;
                r = issue_one(item, &sync, &out);
                if (r < 0 || !out)
                        (void) reply_error(&out, "failed", r, "issuance failed: %s", strerror(-r));
                if (!out || json_array_append_new(items, out) < 0)
                        return -ENOMEM;
        }

        /* The staged keys are durable before anything refers to them. */
        r = sync_set_run(&sync);
        if (r < 0)
                json_array_foreach(items, i, item)
                        if (json_is_true(json_object_get(item, "ok"))) {
                                json_t *e = NULL;
                                (void) reply_error(&e, "failed", r, "cannot make the new key durable: %s",
                                                   strerror(-r));
                                if (e)
                                        json_array_set_new(items, i, e);
                        }

        *ret = json_pack("{s:b, s:O}", "ok", 1, "items", items);
        return *ret ? 0 : -ENOMEM;
}

/* One certificate of a save batch, between its phases. */
typedef struct SaveItem {
        json_t *item;
        json_t *reply;
        json_t *hooks;
        X509 *cert;
        STACK_OF(X509) *chain;
        char *pem, *chain_pem, *full_pem;
        json_t *archived; /* paths of the previous versions kept in the archive */
        bool new_key;
        FileAttrs cert_attrs;
} SaveItem;

static void save_item_done(SaveItem *s) {
        json_decref(s->reply);
        json_decref(s->hooks);
        X509_free(s->cert);
        pki_chain_free(s->chain);
        free(s->pem);
        free(s->chain_pem);
        free(s->full_pem);
        json_decref(s->archived);
}

/* Stages content beside path unless the same content is staged already (written by the issue
 * job and synced there). Returns 1 if it wrote. */
static int stage_if_needed(const char *path, const char *content, const FileAttrs *attrs) {
        _cleanup_free_ char *staged = NULL, *cur = NULL;
        size_t len;
        int r;

        if (isempty(path))
                return 0;
        staged = fs_staged_path(path);
        if (!staged)
                return -ENOMEM;
        if (fs_read_file(staged, PEM_MAX, &cur, &len) >= 0 && len == strlen(content) && memcmp(cur, content, len) == 0)
                return 0;
        r = fs_stage_unsynced(path, content, strlen(content), attrs);
        return r < 0 ? r : 1;
}

/* Phase 1: checks, pre-save command, archive, stage. */
static int save_prepare(SaveItem *s, SyncSet *sync) {
        json_t *item = s->item;
        const char *key_path = jstr(item, "key_path"), *cert_path = jstr(item, "cert_path");
        const char *issued = jstr(item, "issued_pem"), *archive_dir = jstr(item, "archive_dir");
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *staged_key = NULL, *cur_key = NULL;
        _cleanup_free_ char *staged = NULL, *err = NULL;
        FileAttrs key_attrs;
        size_t len, clen = 0;
        int r;

        if (!key_path || !cert_path || !issued)
                return reply_error(&s->reply, "guidance", -EINVAL, "invalid save job");

        r = pki_cert_parse_cached(issued, strlen(issued), get_cert_cache(), &s->cert, &s->chain);
        if (r < 0)
                return reply_error(&s->reply, "guidance", r, "the issued certificate cannot be parsed");

        /* Which key does it belong to: the staged new key, or the current one (also after a crash
         * between the renames below, when the new key is already in place). */
        staged = fs_staged_path(key_path);
        if (!staged)
                return -ENOMEM;
        if (pki_key_load(staged, &staged_key) >= 0 && pki_cert_key_match(s->cert, staged_key) > 0)
                s->new_key = true;
        else if (pki_key_load(key_path, &cur_key) < 0 || pki_cert_key_match(s->cert, cur_key) <= 0)
                return reply_error(&s->reply, "guidance", -EBADMSG,
                                   "the issued certificate matches neither the key '%s' nor a new key staged "
                                   "beside it; request a new key with 'certkeeper rekey'",
                                   key_path);

        r = attrs_from_job(item, "key_owner", "key_mode", 0600, &key_attrs, &err);
        if (r >= 0)
                r = attrs_from_job(item, "cert_owner", "cert_mode", 0644, &s->cert_attrs, &err);
        if (r < 0)
                return reply_error(&s->reply, "guidance", r, "%s", strna(err));

        if (!isempty(jstr(item, "pre_save_cmd")))
                json_array_append_new(s->hooks, run_save_hook("pre-save", jstr(item, "pre_save_cmd"), item));

        /* Keep the previous versions. */
        if (archive_dir) {
                _cleanup_free_ char *cert_copy = NULL, *key_copy = NULL;

                r = fs_archive(cert_path, archive_dir, "cert", &cert_copy);
                if (r >= 0 && s->new_key)
                        r = fs_archive(key_path, archive_dir, "key", &key_copy);
                if (r < 0)
                        return reply_error(&s->reply, "failed", r,
                                           "cannot archive the previous files into '%s': %s", archive_dir,
                                           strerror(-r));
                /* Said in the reply, for the "archived" event. */
                s->archived = json_array();
                if (!s->archived)
                        return -ENOMEM;
                if (cert_copy)
                        json_array_append_new(s->archived, json_string(cert_copy));
                if (key_copy)
                        json_array_append_new(s->archived, json_string(key_copy));
        }

        r = pki_cert_to_pem(s->cert, &s->pem, &len);
        if (r >= 0 && s->chain && sk_X509_num(s->chain) > 0)
                r = pki_chain_to_pem(s->chain, &s->chain_pem, &clen);
        if (r < 0)
                return reply_error(&s->reply, "failed", r, "cannot encode the certificate: %s", strerror(-r));
        s->full_pem = strjoin(s->pem, strempty(s->chain_pem));
        if (!s->full_pem)
                return -ENOMEM;

        r = stage_if_needed(cert_path, s->pem, &s->cert_attrs);
        if (r >= 0)
                r = stage_if_needed(jstr(item, "chain_path"), strempty(s->chain_pem), &s->cert_attrs);
        if (r >= 0)
                r = stage_if_needed(jstr(item, "fullchain_path"), s->full_pem, &s->cert_attrs);
        if (r >= 0)
                r = sync_set_add(sync, cert_path);
        if (r >= 0)
                r = sync_set_add(sync, key_path);
        if (r >= 0)
                r = sync_set_add(sync, jstr(item, "chain_path"));
        if (r >= 0)
                r = sync_set_add(sync, jstr(item, "fullchain_path"));
        if (r < 0)
                return reply_error(&s->reply, IN_SET(r, -EACCES, -EROFS, -ENOENT) ? "guidance" : "failed", r,
                                   "cannot save the certificate to '%s': %s", cert_path, strerror(-r));
        return 0;
}

/* Phase 2: the pair swap, once everything staged is durable: the key first, then the certificate.
 * A crash in between is rolled forward by running the save again from the certificate kept in the
 * database. */
static int save_commit(SaveItem *s) {
        const char *key_path = jstr(s->item, "key_path"), *cert_path = jstr(s->item, "cert_path");
        int r = 0;

        if (s->new_key)
                r = fs_commit_staged_unsynced(key_path);
        if (r >= 0)
                r = fs_commit_staged_unsynced(cert_path);
        for (const char *k = "chain_path"; r >= 0 && k; k = streq(k, "chain_path") ? "fullchain_path" : NULL)
                if (!isempty(jstr(s->item, k))) {
                        r = fs_commit_staged_unsynced(jstr(s->item, k));
                        if (r == -ENOENT)
                                r = 0;
                }
        if (r < 0)
                return reply_error(&s->reply, "failed", r, "cannot put the new certificate in place at '%s': %s",
                                   cert_path, strerror(-r));

        if (!isempty(jstr(s->item, "ca_file")) && !isempty(jstr(s->item, "roots_pem"))) {
                /* -F with an EXTERNAL CA: the roots its helper reported (FETCH-ROOTS). */
                r = fs_write_atomic(jstr(s->item, "ca_file"), jstr(s->item, "roots_pem"),
                                    strlen(jstr(s->item, "roots_pem")), &s->cert_attrs);
                if (r < 0)
                        return reply_error(&s->reply, "failed", r,
                                           "the certificate was saved, but the CA file '%s' was not: %s",
                                           jstr(s->item, "ca_file"), strerror(-r));
        } else if (!isempty(jstr(s->item, "ca_file")) && s->chain && sk_X509_num(s->chain) > 0) {
                /* -F: the CA's root, the last certificate of the chain. */
                _cleanup_free_ char *root = NULL;
                size_t rl;
                r = pki_cert_to_pem(sk_X509_value(s->chain, sk_X509_num(s->chain) - 1), &root, &rl);
                if (r >= 0)
                        r = fs_write_atomic(jstr(s->item, "ca_file"), root, rl, &s->cert_attrs);
                if (r < 0)
                        return reply_error(&s->reply, "failed", r,
                                           "the certificate was saved, but the CA file '%s' was not: %s",
                                           jstr(s->item, "ca_file"), strerror(-r));
        }
        return 0;
}

static int job_save(json_t *job, json_t **ret) {
        _cleanup_(sync_set_done) SyncSet sync = {};
        _cleanup_strv_free_ char **temps = NULL;
        json_t *items_in = json_object_get(job, "items"), *item;
        json_auto_t *items = json_array();
        size_t n = json_array_size(items_in), i;
        SaveItem *s;
        int r;

        if (!items)
                return -ENOMEM;

        /* Temporary files left by an earlier save, issue or keygen of these requests that was killed
         * (a crash): that job is being done again, so they are nobody's. One pass over each directory
         * for the whole batch: certificates that share a directory (-k/-f in one place) would
         * otherwise have it read several times each. */
        json_array_foreach(items_in, i, item) {
                static const char *const keys[] = { "key_path", "cert_path", "chain_path", "fullchain_path",
                                                    "ca_file" };
                for (size_t k = 0; k < ELEMENTSOF(keys); k++) {
                        const char *p = jstr(item, keys[k]);
                        if (isempty(p))
                                continue;
                        if (strv_extend(&temps, p) < 0 || strv_consume(&temps, fs_staged_path(p)) < 0)
                                return -ENOMEM;
                }
        }
        (void) fs_remove_stale_temps_many(temps);

        s = calloc(MAX(n, (size_t) 1), sizeof(SaveItem));
        if (!s)
                return -ENOMEM;

        json_array_foreach(items_in, i, item) {
                s[i].item = item;
                s[i].hooks = json_array();
                r = save_prepare(&s[i], &sync);
                if (r < 0 && !s[i].reply)
                        (void) reply_error(&s[i].reply, "failed", r, "saving failed: %s", strerror(-r));
        }

        /* Everything staged is durable before any rename... */
        r = sync_set_run(&sync);
        for (i = 0; i < n; i++) {
                if (s[i].reply)
                        continue;
                if (r < 0)
                        (void) reply_error(&s[i].reply, "failed", r, "cannot make the new files durable: %s",
                                           strerror(-r));
                else
                        (void) save_commit(&s[i]);
        }
        /* ...and the renames are durable before we say so. */
        r = sync_set_run(&sync);

        for (i = 0; i < n; i++) {
                json_t *facts;

                if (!s[i].reply && r < 0)
                        (void) reply_error(&s[i].reply, "failed", r, "cannot make the renames durable: %s",
                                           strerror(-r));
                if (!s[i].reply) {
                        if (!isempty(jstr(s[i].item, "post_save_cmd")))
                                json_array_append_new(s[i].hooks,
                                                      run_save_hook("post-save", jstr(s[i].item, "post_save_cmd"), s[i].item));
                        facts = cert_facts(s[i].cert);
                        if (facts)
                                s[i].reply = json_pack("{s:b, s:b, s:o, s:O, s:O?}", "ok", 1, "new_key",
                                                       s[i].new_key, "facts", facts, "hooks", s[i].hooks,
                                                       "archived", s[i].archived);
                        if (!s[i].reply)
                                (void) reply_error(&s[i].reply, "failed", -ENOMEM,
                                                   "cannot describe the saved certificate");
                } else if (json_array_size(s[i].hooks) > 0)
                        json_object_set(s[i].reply, "hooks", s[i].hooks);
                if (!s[i].reply || json_array_append(items, s[i].reply) < 0)
                        r = -ENOMEM;
                save_item_done(&s[i]);
        }
        free(s);
        if (r == -ENOMEM)
                return r;

        *ret = json_pack("{s:b, s:O}", "ok", 1, "items", items);
        return *ret ? 0 : -ENOMEM;
}

/* Reads what is on disk for a tracked certificate. */
static int job_read(json_t *job, json_t **ret) {
        const char *key_path = jstr(job, "key_path"), *cert_path = jstr(job, "cert_path");
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_free_ char *data = NULL;
        json_t *facts = NULL;
        const char *cert_state = "absent", *key_state = "absent";
        KeyType kt = _KEY_TYPE_INVALID;
        unsigned bits = 0;
        int match = -1, r;
        size_t len;

        if (!cert_path)
                return reply_error(ret, "guidance", -EINVAL, "invalid read job");

        r = fs_read_file(cert_path, PEM_MAX, &data, &len);
        if (r >= 0) {
                r = pki_cert_parse(data, len, &cert, NULL);
                cert_state = r >= 0 ? "ok" : "garbage";
        } else if (r != -ENOENT)
                cert_state = "unreadable";

        if (key_path) {
                r = pki_key_load(key_path, &key);
                if (r >= 0) {
                        key_state = "ok";
                        (void) pki_key_info(key, &kt, &bits);
                } else if (r == -ENOENT)
                        key_state = "absent";
                else if (r == -EACCES || r == -EPERM)
                        key_state = "unreadable";
                else
                        key_state = "garbage";
        }

        if (cert) {
                facts = cert_facts(cert);
                if (key)
                        match = pki_cert_key_match(cert, key) > 0;
        }

        *ret = json_pack("{s:b, s:s, s:s, s:o?, s:i, s:s?, s:i}", "ok", 1, "cert", cert_state, "key", key_state,
                         "facts", facts, "match", (json_int_t) match, "key_type",
                         kt >= 0 ? key_type_to_string(kt) : NULL, "key_bits", (json_int_t) bits);
        return *ret ? 0 : -ENOMEM;
}

int job_run(json_t *job, json_t **ret_reply) {
        static const struct {
                const char *op;
                int (*func)(json_t *job, json_t **ret);
        } ops[] = {
                { "issue", job_issue },
                { "save", job_save },
                { "read", job_read },
                { "submit", job_submit },
                { "ca-data", job_ca_data },
                { "deliver", job_deliver },
                { "acme-order", job_acme_order },
                { "acme-ari", job_acme_ari },
                { "acme-revoke", job_acme_revoke },
                { "acme-account", job_acme_account },
                { "deploy", job_deploy },
        };
        const char *op = jstr(job, "op");

        for (size_t i = 0; op && i < ELEMENTSOF(ops); i++)
                if (streq(ops[i].op, op))
                        return ops[i].func(job, ret_reply);
        return reply_error(ret_reply, "failed", -EOPNOTSUPP, "unknown job '%s'", strna(op));
}
