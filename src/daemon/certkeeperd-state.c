/* SPDX-License-Identifier: MIT */
/* The per-certificate state machine. cert_step() starts the work a state calls for;
 * cert_job_done() applies its outcome. Together they own every transition; docs/STATE-MACHINE.md
 * draws them. */
#include <inttypes.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>

#include "cert-state.h"
#include "id-list.h"
#include "certkeeperd-manager-private.h"
#include "log.h"
#include "renew-policy.h"
#include "string-util.h"
#include "time-util.h"

static const char *const job_op_names[_JOB_OP_MAX] = {
        [JOB_READ] = "read",
        [JOB_ISSUE] = "issue",
        [JOB_SAVE] = "save",
        [JOB_SUBMIT] = "submit",
        [JOB_ARI] = "ari",
        [JOB_DEPLOY] = "deploy",
};

/* The state a job runs in; its reply is applied only if the certificate is still in it. */
static const CertState job_op_state[_JOB_OP_MAX] = {
        [JOB_READ] = CERT_NEWLY_ADDED,
        [JOB_ISSUE] = CERT_SUBMITTING,
        [JOB_SAVE] = CERT_SAVING_CERT,
        [JOB_SUBMIT] = CERT_SUBMITTING,
        [JOB_ARI] = CERT_MONITORING, /* a check while the certificate is watched */
        [JOB_DEPLOY] = CERT_MONITORING, /* not a state of its own: its reply is applied in any */
};

/* Bounds of a helper's own "ask again in N seconds" (exit 5); the upper one is [helpers] max_delay. */
#define HELPER_MIN_DELAY 5
/* ACME orders poll sooner: the CA validates in about a second. */
#define ACME_MIN_DELAY 1

/* Whether a job's reply still applies: the certificate is still in the state the job ran in. */
static bool job_state_matches(JobOp op, CertState s) {
        if (op == JOB_ISSUE)
                /* For an EXTERNAL CA the job only makes the key and the CSR. */
                return IN_SET(s, CERT_SUBMITTING, CERT_GENERATING_KEY_PAIR, CERT_GENERATING_CSR);
        return s == job_op_state[op];
}

static double random_fraction(void) {
        uint32_t v = 0;
        if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
                v = (uint32_t) rand();
        return (double) v / 4294967296.0;
}

static const char *cert_label(const CertRecord *r) {
        return r->cert_path ? r->cert_path : strna(r->nickname);
}

static int set_str(char **field, const char *value) {
        return cert_record_set(field, value);
}

static int set_strf(char **field, const char *fmt, ...) _printf_(2, 3);
static int set_strf(char **field, const char *fmt, ...) {
        char *s;
        va_list ap;
        int r;

        va_start(ap, fmt);
        r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        free(*field);
        *field = s;
        return 0;
}

static json_t *record_paths_json(const CertRecord *r) {
        return json_pack("{s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:s?, s:I, s:s?}", "nickname", r->nickname,
                         "cert_path", r->cert_path, "key_path", r->key_path, "chain_path", r->chain_path,
                         "fullchain_path", r->fullchain_path, "key_owner", r->key_owner, "key_mode",
                         (json_int_t) r->key_mode, "cert_owner", r->cert_owner, "cert_mode",
                         (json_int_t) r->cert_mode, "ca_file", r->ca_file);
}

static void fail(Manager *m, CertRecord *r, const char *result, const char *message, int64_t now);

/* SUBMIT (or POLL with the cookie of an earlier "wait") to an EXTERNAL CA's helper. */
static int start_submit(Manager *m, CertRecord *r, const CARecord *ca) {
        _cleanup_free_ char *err = NULL;
        json_auto_t *job = NULL, *tmpl = NULL;
        bool poll = !isempty(r->ca_cookie);
        int k;

        /* A renewal must carry what the CA requires of renewals (its GET-RENEW-REQUEST-REQUIREMENTS). */
        if (r->sha256) {
                k = manager_ca_check_request(m, ca, r, true, &err);
                if (k == -EINVAL)
                        return fail(m, r, "guidance", err, (int64_t) time(NULL)), 0;
                if (k < 0)
                        return k;
        }
        tmpl = r->template_json ? json_loads(r->template_json, 0, NULL) : NULL;
        job = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s, s:I, s:I}", "op", "submit",
                        "helper_op", poll ? "POLL" : "SUBMIT", "ca", ca->name, "helper", strempty(ca->helper),
                        "csr_pem", r->csr_pem, "spkac", r->spkac, "cookie", poll ? r->ca_cookie : NULL, "cert_path", r->sha256 ? r->cert_path : NULL,
                        "profile", json_string_value(json_object_get(tmpl, "profile")), "issuer",
                        json_string_value(json_object_get(tmpl, "ca_issuer")), "home", m->cfg.run_dir,
                        "timeout", (json_int_t) m->cfg.helper_timeout, "output_max",
                        (json_int_t) m->cfg.helper_output_max);
        if (!job)
                return -ENOMEM;
        k = manager_queue_helper_job(m, r->id, JOB_SUBMIT, TAKE_PTR(job));
        if (k < 0)
                return k;
        r->state = CERT_SUBMITTING;
        r->next_action_at = 0;
        return 0;
}

/* An ACME order (or its next step, with the order URL as the cookie) in a helper worker. */
static int start_acme(Manager *m, CertRecord *r, const CARecord *ca) {
        _cleanup_free_ char *err = NULL;
        json_t *job = NULL;
        int64_t at = 0;
        int k;

        if (isempty(r->ca_cookie)) {
                /* A new order: within the CA's order limit, or later. */
                k = manager_acme_pace(m, ca, (int64_t) time(NULL), &at);
                if (k == -EAGAIN) {
                        r->next_action_at = at;
                        return 0;
                }
                if (k < 0)
                        return k;
        }

        k = manager_acme_job(m, ca, r, &job, &err);
        if (IN_SET(k, -EINVAL, -EBUSY, -EADDRINUSE, -EACCES))
                return fail(m, r, "guidance", err, (int64_t) time(NULL)), 0;
        if (k < 0)
                return k;
        k = manager_queue_helper_job(m, r->id, JOB_SUBMIT, job);
        if (k < 0) {
                manager_acme_job_done(m, r->id, NULL);
                return k;
        }
        r->state = CERT_SUBMITTING;
        r->next_action_at = 0;
        return 0;
}

static int start_job(Manager *m, CertRecord *r, JobOp op) {
        json_auto_t *job = record_paths_json(r);
        json_t *tmpl = NULL;
        CertState state = job_op_state[op];
        int k = 0;

        if (!job)
                return -ENOMEM;
        json_object_set_new(job, "op", json_string(job_op_names[op]));
        json_object_set_new(job, "use_staged", json_boolean(r->rekey_pending));

        switch (op) {
        case JOB_ISSUE: {
                CARecord ca = {};
                int64_t validity;

                k = store_ca_get(m->store, r->ca, &ca);
                if (k < 0)
                        return k;
                validity = r->validity > 0 ? r->validity
                         : streq(ca.type, "INTERNAL:SELF") ? m->cfg.selfsign_validity
                                                           : m->cfg.local_validity;
                /* A new key when rekeying (and again after a crash during it). */
                json_object_set_new(job, "need_key", json_boolean(r->rekey_pending));
                json_object_set_new(job, "key_type", json_string(r->key_type ?: m->cfg.key_type));
                json_object_set_new(job, "key_bits", json_integer(r->key_bits > 0 ? r->key_bits : m->cfg.key_bits));
                if (r->template_json) {
                        /* The requests of a fleet mostly share their template: the last one parsed
                         * is kept, and shared by the jobs (which only read it). */
                        static char *last_json = NULL;
                        static json_t *last = NULL;

                        if (!last || !streq(last_json, r->template_json)) {
                                _cleanup_free_ char *copy = strdup(r->template_json);
                                tmpl = copy ? json_loads(r->template_json, 0, NULL) : NULL;
                                if (tmpl) {
                                        json_decref(last);
                                        free(last_json);
                                        last = tmpl;
                                        last_json = TAKE_PTR(copy);
                                }
                        }
                        if (last && streq(last_json, r->template_json))
                                json_object_set(job, "template", last);
                }
                json_object_set_new(job, "ca_type", json_string(ca.type));
                json_object_set_new(job, "validity", json_integer(validity));
                json_object_set_new(job, "local_dir", json_string(m->local_ca_dir));
                json_object_set_new(job, "root_lifetime", json_integer(m->cfg.local_root_lifetime));
                json_object_set_new(job, "issuing_lifetime", json_integer(m->cfg.local_issuing_lifetime));
                /* EXTERNAL and ACME: only the key and the CSR here; the CA is asked in a job of its own. */
                if (streq(ca.type, "EXTERNAL") || streq(ca.type, "ACME"))
                        state = r->rekey_pending ? CERT_GENERATING_KEY_PAIR : CERT_GENERATING_CSR;
                ca_record_done(&ca);
                break;
        }
        case JOB_SAVE:
                /* Stored from a JSON string: already checked as UTF-8 once (2 KB or more). */
                json_object_set_new(job, "issued_pem", json_string_nocheck(r->issued_pem ?: ""));
                json_object_set_new(job, "archive_dir", json_string(m->archive_dir));
                json_object_set_new(job, "pre_save_cmd", r->pre_save_cmd ? json_string(r->pre_save_cmd) : json_null());
                json_object_set_new(job, "post_save_cmd",
                                    r->post_save_cmd ? json_string(r->post_save_cmd) : json_null());
                json_object_set_new(job, "hook_timeout", json_integer(m->cfg.hook_timeout));
                json_object_set_new(job, "hook_output_max", json_integer(m->cfg.hook_output_max));
                if (r->ca_file) {
                        /* -F with an EXTERNAL CA: the roots its helper reported. */
                        CARecord ca = {};
                        if (store_ca_get(m->store, r->ca, &ca) >= 0 && streq_ptr(ca.type, "EXTERNAL")) {
                                json_auto_t *data = manager_ca_data(&ca);
                                json_object_set(job, "roots_pem", json_object_get(data, "roots_pem") ?: json_null());
                        }
                        ca_record_done(&ca);
                }
                break;
        default:
                break;
        }

        k = manager_queue_job(m, r->id, op, TAKE_PTR(job));
        if (k < 0)
                return k;
        r->state = state;
        r->next_action_at = 0;
        return 0;
}

/* Where a transient state goes back to when its job is lost (crash, restart). */
static CertState transient_previous(CertState s) {
        switch (s) {
        case CERT_GENERATING_KEY_PAIR:
                return CERT_NEED_KEY_PAIR;
        case CERT_GENERATING_CSR:
                return CERT_NEED_CSR;
        case CERT_SUBMITTING:
                return CERT_NEED_TO_SUBMIT;
        case CERT_SAVING_CERT:
                return CERT_NEED_TO_SAVE_CERT;
        default:
                return s;
        }
}

static void expiry_notices(Manager *m, CertRecord *r, int64_t now) {
        char when[64];
        bool renewing = r->autorenew && r->track && r->state == CERT_MONITORING && r->backoff_step == 0;

        /* Certificates renewed in time need no warning; the others (not renewed automatically, or
         * whose renewal is failing or waiting) get one at each threshold, and when they expire. */
        if (renewing || r->not_after <= 0)
                return;

        int64_t next = notice_next(r->not_after, r->last_notified_at, m->notify_ttls, m->n_notify_ttls);
        if (next == 0 || next > now)
                return;

        (void) format_timestamp_getcert(r->not_after, true, when, sizeof(when));
        if (now >= r->not_after)
                (void) manager_event(m, CERT_EVENT_EXPIRED, r, NULL, NULL,
                                     "Certificate in file \"%s\" is no longer valid.", cert_label(r));
        else
                (void) manager_event(m, CERT_EVENT_ABOUT_TO_EXPIRE, r, NULL, NULL,
                                     "Certificate in file \"%s\" will not be valid after %s.%s%s", cert_label(r),
                                     when, r->state != CERT_MONITORING ? " Its renewal is failing: " : "",
                                     r->state != CERT_MONITORING ? strna(r->ca_error) : "");
        /* Crossing several thresholds at once (e.g. after downtime) gives one notice. */
        r->last_notified_at = now;
}

static int64_t next_notice_at(Manager *m, const CertRecord *r) {
        bool renewing = r->autorenew && r->track && r->state == CERT_MONITORING && r->backoff_step == 0;

        if (renewing || r->not_after <= 0)
                return 0;
        return notice_next(r->not_after, r->last_notified_at, m->notify_ttls, m->n_notify_ttls);
}

static int64_t min_nonzero(int64_t a, int64_t b) {
        if (a <= 0)
                return b;
        if (b <= 0)
                return a;
        return MIN(a, b);
}

static void fail(Manager *m, CertRecord *r, const char *result, const char *message, int64_t now) {
        CertState prev = transient_previous(r->state);

        (void) set_str(&r->ca_error, message);
        if (streq_ptr(result, "guidance")) {
                r->state = CERT_NEED_GUIDANCE;
                r->next_action_at = next_notice_at(m, r);
                (void) manager_event(m, CERT_EVENT_STUCK, r, NULL, NULL, "Request '%s' needs guidance: %s",
                                     strna(r->nickname), strna(message));
                return;
        }
        if (streq_ptr(result, "rejected")) {
                /* A rejected renewal keeps the certificate we have. */
                r->state = r->sha256 ? CERT_MONITORING : CERT_CA_REJECTED;
                r->next_action_at = next_notice_at(m, r);
                if (r->state == CERT_MONITORING) {
                        r->backoff_step++;
                        r->next_action_at = now + retry_delay(r->backoff_step, m->cfg.renewal_retry_delay);
                }
                /* Rejected for good (stuck), or a renewal that is retried later. */
                (void) manager_event(m, r->state == CERT_MONITORING ? CERT_EVENT_RENEWAL_FAILED : CERT_EVENT_STUCK,
                                     r, NULL, NULL,
                                     "Request for certificate to be stored in file \"%s\" rejected by CA: %s",
                                     cert_label(r), strna(message));
                return;
        }

        r->backoff_step++;
        r->state = streq_ptr(result, "unreachable") ? CERT_CA_UNREACHABLE : prev;
        r->next_action_at = now + retry_delay(r->backoff_step, m->cfg.renewal_retry_delay);
        (void) manager_event(m, CERT_EVENT_RENEWAL_FAILED, r, NULL, NULL, "Request '%s': %s; retrying in %" PRIi64 "s.",
                             strna(r->nickname), strna(message), r->next_action_at - now);
}

static int apply_facts(CertRecord *r, json_t *facts) {
        json_t *info = json_object_get(facts, "info");
        const char *sha256 = json_string_value(json_object_get(facts, "sha256"));
        bool changed = !streq_ptr(sha256, r->sha256);
        _cleanup_free_ char *info_s = NULL;
        int k;

        if (set_str(&r->subject, json_string_value(json_object_get(facts, "subject"))) < 0 ||
            set_str(&r->issuer, json_string_value(json_object_get(facts, "issuer"))) < 0 ||
            set_str(&r->serial, json_string_value(json_object_get(facts, "serial"))) < 0 ||
            set_str(&r->sha1, json_string_value(json_object_get(facts, "sha1"))) < 0 ||
            set_str(&r->sha256, sha256) < 0)
                return -ENOMEM;
        r->not_before = json_integer_value(json_object_get(facts, "not_before"));
        r->not_after = json_integer_value(json_object_get(facts, "not_after"));
        info_s = info ? json_dumps(info, JSON_COMPACT) : NULL;
        free(r->cert_info_json);
        r->cert_info_json = TAKE_PTR(info_s);

        if (changed) {
                /* A window the CA suggested was for the certificate we had. */
                r->ari_start = r->ari_end = r->ari_next_at = 0;
                (void) set_str(&r->ari_explanation_url, NULL);
        }
        if (changed || r->renew_at <= 0) {
                k = renew_time(r->not_before, r->not_after, r->renew_before, random_fraction(), &r->renew_at);
                if (k < 0)
                        r->renew_at = r->not_after; /* a certificate without a lifetime */
                r->last_notified_at = 0;
        }
        return 0;
}

/* Sets MONITORING and the next time anything is due: renewal, a renewal information check, or an
 * expiry notice. */
static void monitor(Manager *m, CertRecord *r, int64_t now) {
        r->state = CERT_MONITORING;
        r->next_action_at = min_nonzero(r->autorenew && r->track ? min_nonzero(r->renew_at, r->ari_next_at) : 0,
                                        next_notice_at(m, r));
        if (r->next_action_at > 0 && r->next_action_at < now)
                r->next_action_at = now;
}

static bool renewal_due(const CertRecord *r, int64_t now) {
        return r->autorenew && r->track && r->renew_at > 0 && now >= r->renew_at;
}

/* ---- ACME Renewal Information (RFC 9773) ----
 * A certificate of an ACME CA asks the CA when to renew: right after it is read or saved, then every
 * 12 hours (sooner when the CA's Retry-After says so). The renewal time is drawn once inside the
 * suggested window and kept until the window changes. Without renewalInfo in the directory the
 * lifetime rule stays and nothing more is asked until the files are read again. */

static bool ari_due(const CertRecord *r, int64_t now) {
        return r->autorenew && r->track && r->ari_next_at > 0 && now >= r->ari_next_at;
}

static bool ca_is_acme(Manager *m, const char *name) {
        _cleanup_(ca_record_done) CARecord ca = {};

        return name && store_ca_get(m->store, name, &ca) >= 0 && streq_ptr(ca.type, "ACME");
}

/* Back to the lifetime rule: the window (if any) no longer applies. */
static void ari_forget(CertRecord *r) {
        if (r->ari_start > 0 && r->not_after > r->not_before &&
            renew_time(r->not_before, r->not_after, r->renew_before, random_fraction(), &r->renew_at) < 0)
                r->renew_at = r->not_after;
        r->ari_start = r->ari_end = r->ari_next_at = 0;
        (void) set_str(&r->ari_explanation_url, NULL);
}

/* After the files were read or a certificate saved. */
static void ari_track(Manager *m, CertRecord *r, int64_t now) {
        if (ca_is_acme(m, r->ca))
                r->ari_next_at = now; /* also on refresh and modify: they ask again */
        else
                ari_forget(r);
}

static int start_ari(Manager *m, CertRecord *r, int64_t now) {
        _cleanup_(ca_record_done) CARecord ca = {};
        _cleanup_free_ char *err = NULL;
        json_t *job = NULL;
        int k;

        k = store_ca_get(m->store, r->ca, &ca);
        if (k < 0 && k != -ENOENT)
                return k;
        if (k == -ENOENT || !streq_ptr(ca.type, "ACME")) {
                ari_forget(r);
                monitor(m, r, now);
                return 0;
        }
        k = manager_acme_ari_job(m, &ca, r, &job, &err);
        if (k == -EINVAL) {
                /* A renewal would fail on the same settings and say so; ask again later. */
                log_warning("Request '%s': cannot ask the CA for renewal information: %s", strna(r->nickname),
                            strna(err));
                r->ari_next_at = ari_next_check(now, 0, ARI_CHECK_INTERVAL);
                monitor(m, r, now);
                return 0;
        }
        if (k < 0)
                return k;
        k = manager_queue_helper_job(m, r->id, JOB_ARI, job);
        if (k < 0)
                return k; /* -EAGAIN: waits for a helper worker, unchanged */
        /* The reply sets the next check; this one stands if it never comes (a restart). */
        r->ari_next_at = ari_next_check(now, 0, ARI_RETRY_INTERVAL);
        monitor(m, r, now);
        return 0;
}

/* The CA's answer (or the worker's failure) for a certificate still in MONITORING. */
static void ari_done(Manager *m, CertRecord *r, json_t *reply, const char *failure, int64_t now) {
        bool ok = reply && json_is_true(json_object_get(reply, "ok"));
        const char *result = reply ? json_string_value(json_object_get(reply, "result")) : "failed";
        const char *error = reply ? json_string_value(json_object_get(reply, "error")) : failure;
        json_int_t retry_after = json_integer_value(json_object_get(reply, "retry_after"));
        json_int_t duration = json_integer_value(json_object_get(reply, "duration_ms"));
        int64_t start = json_integer_value(json_object_get(reply, "start"));
        int64_t end = json_integer_value(json_object_get(reply, "end"));
        _cleanup_free_ char *msg = NULL;
        char a[64], b[64], t[64];
        int64_t at;

        if (!ok && streq_ptr(result, "unsupported")) {
                log_debug("Request '%s': %s; renewing by lifetime.", strna(r->nickname), strna(error));
                ari_forget(r);
                monitor(m, r, now);
                return;
        }
        if (ok && ari_renew_time(start, end, r->ari_start, r->ari_end, r->renew_at, random_fraction(), &at) < 0) {
                ok = false;
                result = "failed";
                error = "the CA's suggested window is empty";
        }
        if (!ok) {
                /* The renewal time stays as it was drawn; the next check comes sooner. */
                r->ari_next_at = ari_next_check(now, retry_after, ARI_RETRY_INTERVAL);
                (void) manager_history(m, r->id, "ari", strna(result), error, duration);
                log_warning("Request '%s': fetching renewal information failed, keeping the renewal time: %s; "
                            "asking again in %" PRIi64 "s.", strna(r->nickname), strna(error), r->ari_next_at - now);
                monitor(m, r, now);
                return;
        }

        if (ari_window_changed(start, end, r->ari_start, r->ari_end)) {
                (void) format_timestamp_getcert(start, true, a, sizeof(a));
                (void) format_timestamp_getcert(end, true, b, sizeof(b));
                (void) format_timestamp_getcert(at, true, t, sizeof(t));
                (void) asprintf(&msg, "suggested window %s to %s; renewing at %s%s", a, b, t,
                                at <= now ? " (now)" : "");
                (void) manager_history(m, r->id, "ari", "ok", msg, duration);
                log_info("Certificate in file \"%s\": the CA's %s.", cert_label(r), strna(msg));
        }
        r->renew_at = at;
        r->ari_start = start;
        r->ari_end = end;
        (void) set_str(&r->ari_explanation_url, json_string_value(json_object_get(reply, "explanation_url")));
        r->ari_next_at = ari_next_check(now, retry_after, ARI_CHECK_INTERVAL);
        monitor(m, r, now);
}

static void deploy_after_save(Manager *m, CertRecord *r, json_t *archived, int64_t now);

/* After reading the files: what is there decides where to go. */
static void decide(Manager *m, CertRecord *r, json_t *reply, int64_t now) {
        const char *cert = json_string_value(json_object_get(reply, "cert"));
        const char *key = json_string_value(json_object_get(reply, "key"));
        json_int_t match = json_integer_value(json_object_get(reply, "match"));
        const char *key_type = json_string_value(json_object_get(reply, "key_type"));
        _cleanup_free_ char *msg = NULL, *old_sha256 = NULL;

        if (key_type && streq_ptr(key, "ok")) {
                (void) set_str(&r->key_type, key_type);
                r->key_bits = json_integer_value(json_object_get(reply, "key_bits"));
        }

        if (streq_ptr(cert, "ok")) {
                if (r->key_path && !streq_ptr(key, "ok") && !streq_ptr(key, "absent")) {
                        (void) asprintf(&msg, "The key file '%s' is %s. Fix or restore it, or request a new key "
                                        "with 'certkeeper rekey'.", r->key_path, strna(key));
                        fail(m, r, "guidance", msg, now);
                        return;
                }
                if (match == 0) {
                        (void) asprintf(&msg, "The key '%s' does not match the certificate '%s'. Restore the "
                                        "matching key, or request a new key with 'certkeeper rekey'.",
                                        r->key_path, r->cert_path);
                        fail(m, r, "guidance", msg, now);
                        return;
                }
                old_sha256 = r->sha256 ? strdup(r->sha256) : NULL;
                if ((r->sha256 && !old_sha256) || apply_facts(r, json_object_get(reply, "facts")) < 0) {
                        fail(m, r, "failed", "out of memory", now);
                        return;
                }
                ari_track(m, r, now);
                if (old_sha256 && !streq_ptr(old_sha256, r->sha256)) {
                        /* Not by us: whatever saves our certificates records them first. Its
                         * services are given the new one, as after our own saves (nothing to roll
                         * back to: the previous certificate is gone). */
                        (void) manager_event(m, CERT_EVENT_REPLACED, r, old_sha256, NULL,
                                             "Certificate in file \"%s\" was replaced on disk (it was %s).",
                                             cert_label(r), old_sha256);
                        deploy_after_save(m, r, NULL, now);
                }
                if (renewal_due(r, now) && r->key_path) {
                        /* A renewal under way keeps its count of failures (the backoff) and their
                         * words; a saved certificate resets them. */
                        r->state = CERT_NEED_CSR;
                        r->next_action_at = now;
                        log_info("Certificate in file \"%s\" is due for renewal.", cert_label(r));
                        return;
                }
                r->backoff_step = 0;
                (void) set_str(&r->ca_error, NULL);
                monitor(m, r, now);
                expiry_notices(m, r, now);
                return;
        }

        if (!streq_ptr(cert, "absent")) {
                (void) asprintf(&msg, "The certificate file '%s' is %s: it holds no certificate in PEM, DER or "
                                "PKCS#7 form that can be read. Restore it, or remove it and run 'certkeeper "
                                "resubmit' to get a new one.", r->cert_path,
                                streq_ptr(cert, "garbage") ? "not a certificate" : "unreadable");
                fail(m, r, "guidance", msg, now);
                return;
        }

        /* No certificate (any more). */
        if (r->sha256)
                /* It had one, which was removed by something else: the request gets a new one (with
                 * a key) or waits for a person, as one without a certificate. */
                (void) manager_event(m, CERT_EVENT_DELETED, r, NULL, NULL,
                                     "Certificate file \"%s\" was deleted on disk (it was %s).", cert_label(r),
                                     r->sha256);
        /* Once: the next certificate saved is "installed". */
        (void) set_str(&r->sha256, NULL);
        if (!r->key_path) {
                (void) asprintf(&msg, "There is no certificate at '%s' and no key location to request one "
                                "with. Give a key file with -k.", r->cert_path);
                fail(m, r, "guidance", msg, now);
                return;
        }
        if (streq_ptr(key, "ok")) {
                /* Use the key that is there. */
                r->rekey_pending = false;
                r->state = CERT_NEED_CSR;
        } else if (streq_ptr(key, "absent")) {
                r->rekey_pending = true;
                r->state = CERT_NEED_KEY_PAIR;
        } else {
                (void) asprintf(&msg, "The key file '%s' is %s. Fix or remove it.", r->key_path, strna(key));
                fail(m, r, "guidance", msg, now);
                return;
        }
        r->next_action_at = now;
}

static int save_record(Manager *m, CertRecord *r, int64_t now) {
        _cleanup_free_ char *err = NULL;
        int k;

        r->updated_at = now;
        k = manager_tx_begin(m);
        if (k < 0)
                return k;
        k = store_cert_update(m->store, r, &err);
        if (k < 0)
                return log_error_errno(k, "Failed to store request '%s': %s", strna(r->nickname), strna(err));
        return manager_schedule(m, r->id, r->next_action_at);
}

/* To the CA: an EXTERNAL CA gets the CSR we have; the built-in CAs make key, CSR and certificate in
 * one job. */
static int submit(Manager *m, CertRecord *r) {
        _cleanup_(ca_record_done) CARecord ca = {};
        int k;

        k = store_ca_get(m->store, r->ca, &ca);
        if (k < 0)
                return k;
        if (!streq_ptr(ca.type, "EXTERNAL") && !streq_ptr(ca.type, "ACME"))
                return start_job(m, r, JOB_ISSUE);
        if (isempty(r->csr_pem)) {
                r->state = CERT_NEED_CSR;
                return start_job(m, r, JOB_ISSUE);
        }
        if (streq(ca.type, "ACME"))
                return start_acme(m, r, &ca);
        return start_submit(m, r, &ca);
}

/* One step for a certificate whose time has come. Needs a free worker for the states that start
 * a job; the caller checks manager_workers_available(). */
static int step_record(Manager *m, CertRecord *r, int64_t now) {
        if (cert_state_is_transient(r->state))
                return 0; /* its job is running; the reply steps it */

        switch (r->state) {
        case CERT_NEWLY_ADDED:
                return start_job(m, r, JOB_READ);
        case CERT_NEED_KEY_PAIR:
                /* The new key is made by the issue job and staged until its certificate is saved. */
                r->rekey_pending = true;
                return start_job(m, r, JOB_ISSUE);
        case CERT_NEED_CSR:
                return start_job(m, r, JOB_ISSUE);
        case CERT_NEED_TO_SUBMIT:
        case CERT_CA_WORKING:
        case CERT_CA_UNREACHABLE:
                if (r->next_action_at > now)
                        return 0;
                expiry_notices(m, r, now);
                return submit(m, r);
        case CERT_NEED_TO_SAVE_CERT:
                if (r->next_action_at > now)
                        return 0;
                return start_job(m, r, JOB_SAVE);
        case CERT_MONITORING:
                if (renewal_due(r, now)) {
                        expiry_notices(m, r, now);
                        /* Look at the files first: a renewal starts from what is really there. */
                        r->state = CERT_NEWLY_ADDED;
                        return start_job(m, r, JOB_READ);
                }
                expiry_notices(m, r, now);
                if (ari_due(r, now))
                        return start_ari(m, r, now);
                monitor(m, r, now);
                return 0;
        default:
                /* Parked: only notices. */
                expiry_notices(m, r, now);
                r->next_action_at = next_notice_at(m, r);
                return 0;
        }
}

int cert_step(Manager *m, int64_t id, int64_t now) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int k;

        if (manager_in_flight(m, id))
                return 0; /* stepped again when its job ends */

        k = store_cert_get(m->store, id, &r);
        if (k == -ENOENT)
                return 0;
        if (k < 0)
                return log_error_errno(k, "Failed to load request %" PRIi64 ": %m", id);

        if (r->next_action_at > now && r->state != CERT_NEWLY_ADDED) {
                /* Not due: the scheduler entry was early or stale. */
                return manager_schedule(m, id, r->next_action_at);
        }

        k = step_record(m, r, now);
        if (IN_SET(k, -EBUSY, -EAGAIN))
                return k; /* nothing changed; it waits for a worker (-EBUSY) or helper worker (-EAGAIN) */
        if (k < 0) {
                _cleanup_free_ char *msg = NULL;
                (void) asprintf(&msg, "internal error: %s", strerror(-k));
                fail(m, r, "failed", msg, now);
        }
        return save_record(m, r, now);
}

static void record_hooks(Manager *m, const CertRecord *r, json_t *hooks) {
        size_t i;
        json_t *h;

        json_array_foreach(hooks, i, h)
                (void) manager_history(m, r->id, json_string_value(json_object_get(h, "stage")),
                                       json_string_value(json_object_get(h, "result")),
                                       json_string_value(json_object_get(h, "message")),
                                       json_integer_value(json_object_get(h, "duration_ms")));
}

/* The events of a save: the previous versions archived (1005), then the certificate installed
 * where there was none (1006) or replacing another (1001). A save done again after a crash, of the
 * certificate already recorded, is neither. */
static void saved_events(Manager *m, const CertRecord *r, const char *old_sha256, json_t *archived) {
        if (json_array_size(archived) > 0) {
                json_auto_t *extra = json_pack("{s:O}", "archived", archived);
                (void) manager_event(m, CERT_EVENT_ARCHIVED, r, old_sha256, extra,
                                     "Previous version of certificate in file \"%s\" archived to '%s'.",
                                     cert_label(r), strna(json_string_value(json_array_get(archived, 0))));
        }
        if (!old_sha256)
                (void) manager_event(m, CERT_EVENT_INSTALLED, r, NULL, NULL,
                                     "Certificate in file \"%s\" issued by CA and saved.", cert_label(r));
        else if (!streq_ptr(old_sha256, r->sha256))
                (void) manager_event(m, CERT_EVENT_REPLACED, r, old_sha256, NULL,
                                     "Certificate in file \"%s\" issued by CA and saved, replacing %s.",
                                     cert_label(r), old_sha256);
        else
                log_notice("Certificate in file \"%s\" issued by CA and saved.", cert_label(r));
}

/* ---- bindings: the deploy job after a replacement (docs/BINDINGS.md) ---- */

#define DEPLOY_VERIFY_TIMEOUT 10

typedef struct DeployCollect {
        json_t *bindings;
        int err;
} DeployCollect;

/* A binding as the deploy job needs it. A pkcs12 binding's password file goes by its path: the
 * worker reads the password from it when it writes the file. */
static int deploy_collect(const BindingRecord *b, void *userdata) {
        DeployCollect *c = userdata;

        if (json_array_append_new(c->bindings,
                                  json_pack("{s:I, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:s?, s:I, s:s?}", "id",
                                            (json_int_t) b->id, "kind", b->kind, "config", b->config, "test_cmd",
                                            b->test_cmd, "reload_cmd", b->reload_cmd, "endpoint", b->endpoint, "path",
                                            b->path, "layout", b->layout, "owner", b->owner, "mode",
                                            (json_int_t) b->mode, "password_file", b->password_file)) < 0)
                return -ENOMEM;
        return 0;
}

static int deploy_wait(Manager *m, int64_t id, json_t *archived);

int manager_deploy_start(Manager *m, const CertRecord *r, json_t *archived) {
        json_auto_t *job = record_paths_json(r), *bindings = json_array(), *pending = NULL;
        DeployCollect c = { .bindings = bindings };
        _cleanup_free_ char *pending_s = NULL;
        size_t i, n;
        json_t *p;
        int k;

        if (!job || !bindings)
                return -ENOMEM;
        k = store_binding_foreach(m->store, r->id, deploy_collect, &c);
        if (k < 0)
                return k;
        n = json_array_size(bindings);
        if (n == 0)
                return 0;
        json_object_set_new(job, "op", json_string("deploy"));
        json_object_set_new(job, "sha256", r->sha256 ? json_string(r->sha256) : json_null());
        json_object_set(job, "bindings", bindings);
        json_object_set_new(job, "verify_timeout", json_integer(DEPLOY_VERIFY_TIMEOUT));
        json_object_set_new(job, "hook_timeout", json_integer(m->cfg.hook_timeout));
        json_object_set_new(job, "hook_output_max", json_integer(m->cfg.hook_output_max));
        /* The save's copies: "key-…" is the previous key (a new key was saved), the other the certificate. */
        json_array_foreach(archived, i, p) {
                const char *path = json_string_value(p), *base = path ? strrchr(path, '/') : NULL;
                base = base ? base + 1 : path;
                if (base)
                        json_object_set(job, startswith(base, "key-") ? "archived_key" : "archived_cert", p);
        }
        /* Until its outcome is applied, the deploy is in the store: a crash before that runs it
         * again at start-up, with what it needs to roll back. */
        pending = json_pack("{s:s?, s:O?}", "sha256", r->sha256, "archived", archived);
        pending_s = pending ? json_dumps(pending, JSON_COMPACT) : NULL;
        if (!pending_s)
                return -ENOMEM;
        k = manager_tx_begin(m);
        if (k >= 0)
                k = store_deploy_pending_set(m->store, r->id, pending_s, (int64_t) time(NULL));
        if (k < 0)
                return k;
        k = manager_queue_job(m, r->id, JOB_DEPLOY, TAKE_PTR(job));
        if (k == -EBUSY)
                /* No worker free: it waits for one, its pending row kept (a restart runs it too). */
                return deploy_wait(m, r->id, archived);
        if (k < 0 && (manager_tx_begin(m) < 0 || store_deploy_pending_clear(m->store, r->id) < 0))
                log_warning("Failed to clear the pending deploy of '%s'.", strna(r->nickname));
        return k < 0 ? k : (int) n;
}

static bool deploy_is_waiting(Manager *m, int64_t id) {
        json_t *o;
        size_t i;

        json_array_foreach(m->deploy_waiting, i, o)
                if (json_integer_value(json_object_get(o, "id")) == id)
                        return true;
        return false;
}

static int deploy_wait(Manager *m, int64_t id, json_t *archived) {
        if (!m->deploy_waiting) {
                m->deploy_waiting = json_array();
                if (!m->deploy_waiting)
                        return -ENOMEM;
        }
        if (!deploy_is_waiting(m, id) &&
            json_array_append_new(m->deploy_waiting, json_pack("{s:I, s:O?}", "id", (json_int_t) id, "archived",
                                                               archived)) < 0)
                return -ENOMEM;
        return -EBUSY;
}

void manager_deploys_waiting_run(Manager *m) {
        int64_t now = (int64_t) time(NULL);

        while (json_array_size(m->deploy_waiting) > 0 && manager_workers_available(m) > 0) {
                _cleanup_(cert_record_freep) CertRecord *r = NULL;
                json_auto_t *o = json_incref(json_array_get(m->deploy_waiting, 0));
                int64_t id = json_integer_value(json_object_get(o, "id"));
                int k;

                (void) json_array_remove(m->deploy_waiting, 0);
                if (store_cert_get(m->store, id, &r) < 0)
                        continue; /* removed meanwhile (its pending row with it) */
                k = manager_deploy_start(m, r, json_object_get(o, "archived"));
                if (k == -EBUSY)
                        break; /* back in the list */
                if (k > 0)
                        (void) set_str(&r->stage_deploy, "running");
                else {
                        if (k == 0 && (manager_tx_begin(m) < 0 || store_deploy_pending_clear(m->store, id) < 0))
                                log_warning("Failed to clear the pending deploy of '%s'.", strna(r->nickname));
                        (void) set_strf(&r->stage_deploy, "failed: queue: %s",
                                        k == 0 ? "the request has no bindings any more" : strerror(-k));
                }
                (void) save_record(m, r, now);
        }
}

static int resume_collect(int64_t cert_id, const char *job, int64_t since, void *userdata) {
        json_t *o = json_pack("{s:I, s:s, s:I}", "cert_id", (json_int_t) cert_id, "job", job, "since",
                              (json_int_t) since);

        return json_array_append_new(userdata, o) < 0 ? -ENOMEM : 0;
}

static void resume_one(Manager *m, int64_t cert_id, const char *job, int64_t since) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        json_auto_t *pending = json_loads(job, 0, NULL);
        int k;

        if (store_cert_get(m->store, cert_id, &r) < 0)
                return;
        log_notice("Certificate in file \"%s\": its deploy was interrupted (started at %" PRIi64 "); running it again.",
                   cert_label(r), since);
        /* The bindings as they are now (perhaps fixed meanwhile), the rollback of that save. */
        k = manager_deploy_start(m, r, json_object_get(pending, "archived"));
        if (k == -EBUSY) {
                (void) set_str(&r->stage_deploy, "waiting");
                (void) save_record(m, r, (int64_t) time(NULL));
        } else if (k <= 0) {
                if (manager_tx_begin(m) < 0 || store_deploy_pending_clear(m->store, cert_id) < 0)
                        log_warning("Failed to clear the pending deploy of '%s'.", strna(r->nickname));
                (void) set_strf(&r->stage_deploy, "failed: resume: %s",
                                k == 0 ? "the request has no bindings any more" : strerror(-k));
                (void) save_record(m, r, (int64_t) time(NULL));
        }
}

void manager_deploys_resume(Manager *m) {
        json_auto_t *all = json_array();
        json_t *o;
        size_t i;

        if (!all || store_deploy_pending_foreach(m->store, resume_collect, all) < 0) {
                log_warning("Failed to read the interrupted deploys; run 'certkeeper deploy -i ID' for each "
                            "request whose deploy stage says running.");
                return;
        }
        json_array_foreach(all, i, o)
                resume_one(m, json_integer_value(json_object_get(o, "cert_id")),
                           json_string_value(json_object_get(o, "job")),
                           json_integer_value(json_object_get(o, "since")));
        (void) manager_tx_commit(m);
}

static void deploy_after_save(Manager *m, CertRecord *r, json_t *archived, int64_t now) {
        int k = manager_deploy_start(m, r, archived);

        if (k == 0)
                return;
        if (k > 0 || k == -EBUSY) {
                /* Running, or waiting for a free worker. */
                (void) set_str(&r->stage_deploy, k > 0 ? "running" : "waiting");
                return;
        }
        (void) set_strf(&r->stage_deploy, "failed: queue: %s", strerror(-k));
        (void) manager_event(m, CERT_EVENT_REBIND_FAILED, r, NULL, NULL,
                             "Certificate in file \"%s\" was not rebound: %s; run 'certkeeper deploy -i %" PRIi64 "'.",
                             cert_label(r), strerror(-k), r->id);
        (void) now;
}

static void deploy_done(Manager *m, CertRecord *r, json_t *reply, const char *failure, int64_t now) {
        json_t *results = json_object_get(reply, "bindings"), *b, *facts;
        const char *stage = json_string_value(json_object_get(reply, "stage"));
        const char *error = json_string_value(json_object_get(reply, "error")) ?: failure;
        const char *deployed = json_string_value(json_object_get(reply, "sha256"));
        bool restored = json_is_true(json_object_get(reply, "restored"));
        size_t i;

        if (manager_tx_begin(m) < 0 || store_deploy_pending_clear(m->store, r->id) < 0)
                log_warning("Failed to clear the pending deploy of '%s'.", strna(r->nickname));
        json_array_foreach(results, i, b) {
                _cleanup_free_ char *res = NULL;
                const char *st = json_string_value(json_object_get(b, "stage"));

                if (st)
                        (void) asprintf(&res, "failed: %s: %s", st, strna(json_string_value(json_object_get(b, "error"))));
                if (store_binding_set_result(m->store, json_integer_value(json_object_get(b, "id")), res ?: "ok",
                                             now) < 0)
                        log_warning("Failed to record the deploy result of a binding of '%s'.", strna(r->nickname));
        }

        if (reply && json_is_true(json_object_get(reply, "rebound"))) {
                (void) set_str(&r->stage_deploy, "ok");
                (void) manager_event(m, CERT_EVENT_REBOUND, r, NULL, NULL,
                                     "Certificate in file \"%s\" rebound: %zu binding(s) reloaded and serving %s.",
                                     cert_label(r), json_array_size(results), strna(r->sha256));
                return;
        }

        (void) set_strf(&r->stage_deploy, "failed: %s: %s%s", stage ?: "deploy", strna(error),
                        restored ? " (previous certificate restored)" : "");
        facts = json_object_get(reply, "restored_facts");
        if (restored && facts && streq_ptr(deployed, r->sha256)) {
                /* The files hold the previous certificate again: so does the record. Its renewal
                 * is tried again later, with the backoff, like any other failure. */
                _cleanup_free_ char *failed_sha = r->sha256 ? strdup(r->sha256) : NULL;
                if (apply_facts(r, facts) >= 0 && r->state == CERT_MONITORING) {
                        r->backoff_step++;
                        if (r->autorenew && r->track)
                                r->next_action_at = now + retry_delay(r->backoff_step, m->cfg.renewal_retry_delay);
                }
                (void) manager_event(m, CERT_EVENT_REBIND_FAILED, r, failed_sha, NULL,
                                     "Certificate in file \"%s\" could not be rebound (%s: %s); the previous "
                                     "certificate was restored and the services reloaded.",
                                     cert_label(r), stage ?: "deploy", strna(error));
                return;
        }
        (void) manager_event(m, CERT_EVENT_REBIND_FAILED, r, NULL, NULL,
                             "Certificate in file \"%s\" could not be rebound (%s: %s)%s.", cert_label(r),
                             stage ?: "deploy", strna(error),
                             json_string_value(json_object_get(reply, "restore_error")) ? "; restoring the previous "
                             "certificate failed too" : "");
}

static void job_succeeded(Manager *m, CertRecord *r, JobOp op, json_t *reply, int64_t now) {
        _cleanup_free_ char *old_sha256 = NULL;
        const char *s;

        switch (op) {
        case JOB_READ:
                decide(m, r, reply, now);
                break;
        case JOB_ISSUE:
                (void) set_str(&r->key_type, json_string_value(json_object_get(reply, "key_type")));
                r->key_bits = json_integer_value(json_object_get(reply, "key_bits"));
                (void) set_str(&r->csr_pem, json_string_value(json_object_get(reply, "csr_pem")));
                (void) set_str(&r->spkac, json_string_value(json_object_get(reply, "spkac")));
                if (!json_string_value(json_object_get(reply, "issued_pem"))) {
                        /* Only the CSR (EXTERNAL CAs): a new submission, without an old cookie. */
                        (void) set_str(&r->ca_cookie, NULL);
                        r->state = CERT_NEED_TO_SUBMIT;
                        r->next_action_at = now;
                        break;
                }
                _fallthrough_;
        case JOB_SUBMIT:
                s = json_string_value(json_object_get(reply, "issued_pem"));
                (void) set_str(&r->issued_pem, s);
                (void) set_str(&r->stage_issue, "ok");
                (void) set_str(&r->ca_error, NULL);
                (void) set_str(&r->ca_cookie, NULL);
                r->backoff_step = 0;
                r->state = CERT_NEED_TO_SAVE_CERT;
                r->next_action_at = now;
                break;
        case JOB_SAVE:
                old_sha256 = r->sha256 ? strdup(r->sha256) : NULL;
                if ((r->sha256 && !old_sha256) || apply_facts(r, json_object_get(reply, "facts")) < 0) {
                        fail(m, r, "failed", "out of memory", now);
                        return;
                }
                (void) set_str(&r->issued_pem, NULL);
                (void) set_str(&r->stage_save, "ok");
                (void) set_str(&r->ca_error, NULL);
                r->rekey_pending = false;
                r->backoff_step = 0;
                r->rekey_count = 0;
                r->issued_count++;
                if (r->renew_at <= now) {
                        /* A certificate due as soon as it is issued (a CA that backdates a short
                         * lifetime, or an override larger than the lifetime) would be renewed in a
                         * loop: give it half of what is left instead. */
                        r->renew_at = now + MAX((r->not_after - now) / 2, (int64_t) 1);
                        log_warning("Certificate in file \"%s\" was due for renewal when it was issued; "
                                    "renewing it at half of its remaining lifetime instead.", cert_label(r));
                }
                ari_track(m, r, now);
                monitor(m, r, now);
                saved_events(m, r, old_sha256, json_object_get(reply, "archived"));
                if (old_sha256 && !streq_ptr(old_sha256, r->sha256))
                        deploy_after_save(m, r, json_object_get(reply, "archived"), now);
                break;
        default:
                break;
        }
}

/* What an EXTERNAL CA's helper said when it did not issue (docs/HELPERS.md has the table). */
static void submit_failed(Manager *m, CertRecord *r, json_t *reply, const char *result, const char *error,
                          int64_t now) {
        _cleanup_free_ char *msg = NULL;

        if (streq_ptr(result, "waiting")) {
                json_int_t delay = reply ? json_integer_value(json_object_get(reply, "delay")) : -1;
                const char *cookie = reply ? json_string_value(json_object_get(reply, "cookie")) : NULL;

                (void) set_str(&r->ca_cookie, isempty(cookie) ? NULL : cookie);
                (void) set_str(&r->ca_error, NULL);
                r->state = CERT_CA_WORKING;
                if (delay >= 0)
                        /* The CA's own wait (exit 5, Retry-After), within bounds. */
                        r->next_action_at = now + CLAMP((int64_t) delay, json_is_true(json_object_get(reply, "acme"))
                                                                                 ? ACME_MIN_DELAY : HELPER_MIN_DELAY,
                                                        m->cfg.helper_max_delay);
                else {
                        r->backoff_step++;
                        r->next_action_at = now + retry_delay(r->backoff_step, m->cfg.renewal_retry_delay);
                }
                log_info("Request '%s': the CA is working on it; asking again in %" PRIi64 "s.", strna(r->nickname),
                         r->next_action_at - now);
                return;
        }

        if (streq_ptr(result, "rekey")) {
                (void) set_str(&r->ca_cookie, NULL);
                r->rekey_count++;
                if (r->rekey_count > m->cfg.helper_rekey_limit) {
                        (void) asprintf(&msg, "The CA asked for a new key %" PRIi64 " times in a row (the limit is "
                                        "[helpers] rekey_limit = %" PRIi64 "), so certkeeper stopped asking. Check "
                                        "the CA's key policy, then run 'certkeeper rekey -i %s'. Last answer: %s",
                                        r->rekey_count, m->cfg.helper_rekey_limit, strna(r->nickname), strna(error));
                        fail(m, r, "guidance", msg ?: error, now);
                        return;
                }
                (void) set_str(&r->ca_error, error);
                r->rekey_pending = true;
                r->state = CERT_NEED_KEY_PAIR;
                r->next_action_at = now + m->cfg.helper_rekey_delay;
                log_notice("Request '%s': the CA asked for a new key; making one.", strna(r->nickname));
                return;
        }

        if (streq_ptr(result, "unconfigured")) {
                (void) set_str(&r->ca_error, error);
                if (r->sha256) {
                        /* Keep the certificate we have; try again later. */
                        r->state = CERT_MONITORING;
                        r->backoff_step++;
                        r->next_action_at = now + retry_delay(r->backoff_step, m->cfg.renewal_retry_delay);
                } else {
                        r->state = CERT_CA_UNCONFIGURED;
                        r->next_action_at = next_notice_at(m, r);
                }
                (void) manager_event(m, r->state == CERT_MONITORING ? CERT_EVENT_RENEWAL_FAILED : CERT_EVENT_STUCK,
                                     r, NULL, NULL, "Request '%s': the CA is not configured for it: %s",
                                     strna(r->nickname), strna(error));
                return;
        }

        if (streq_ptr(result, "rejected"))
                (void) set_str(&r->ca_cookie, NULL);
        fail(m, r, (streq_ptr(result, "unsupported") || streq_ptr(result, "guidance")) ? "guidance" : result, error, now);
        /* A CA's Retry-After (rateLimited, 503) pushes the retry out, within bounds. */
        json_int_t retry_after = reply ? json_integer_value(json_object_get(reply, "retry_after")) : 0;
        if (r->next_action_at > 0 && retry_after > 0)
                r->next_action_at = MAX(r->next_action_at, now + MIN((int64_t) retry_after, m->cfg.helper_max_delay));
}

static void job_done_one(Manager *m, int64_t id, JobOp op, json_t *reply, const char *failure, int64_t now) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        const char *result, *error;
        bool ok = reply && json_is_true(json_object_get(reply, "ok"));
        int k;

        k = store_cert_get(m->store, id, &r);
        if (k < 0)
                return; /* removed meanwhile */

        result = reply ? json_string_value(json_object_get(reply, "result")) : "failed";
        error = reply ? json_string_value(json_object_get(reply, "error")) : failure;
        /* Renewal information is asked twice a day: only a new window or a failure is history. */
        if (op != JOB_ARI)
                (void) manager_history(m, id, job_op_names[op], ok ? "ok" : strna(result), error,
                                       json_integer_value(json_object_get(reply, "duration_ms")));
        if (reply)
                record_hooks(m, r, json_object_get(reply, "hooks"));

        if (op == JOB_DEPLOY) {
                /* Not tied to a state: the certificate stays MONITORING while its bindings move. */
                deploy_done(m, r, reply, failure ?: "no reply", now);
                (void) save_record(m, r, now);
                return;
        }

        if (!job_state_matches(op, r->state)) {
                /* Changed by a command while the job ran (resubmit, rekey, modify): its outcome no
                 * longer applies; the new state gets its own step. */
                r->next_action_at = now;
        } else if (op == JOB_ARI)
                ari_done(m, r, reply, failure, now);
        else if (ok)
                job_succeeded(m, r, op, reply, now);
        else {
                if (IN_SET(op, JOB_ISSUE, JOB_SUBMIT))
                        (void) set_strf(&r->stage_issue, "%s: %s", streq_ptr(result, "waiting") ? "waiting" : "failed",
                                        strna(error));
                else if (op == JOB_SAVE)
                        (void) set_strf(&r->stage_save, "failed: %s", strna(error));
                if (op == JOB_SUBMIT)
                        submit_failed(m, r, reply, result, error, now);
                else
                        fail(m, r, result, error, now);
        }

        if (r->next_action_at > 0 && r->next_action_at <= now && manager_has_capacity(m)) {
                k = step_record(m, r, now);
                if (IN_SET(k, -EBUSY, -EAGAIN))
                        r->next_action_at = now; /* waits for a worker */
                else if (k < 0)
                        fail(m, r, "failed", "internal error", now);
        }
        (void) save_record(m, r, now);
}

void cert_job_done(Manager *m, int64_t cookie, json_t *reply, const char *failure) {
        int64_t now = (int64_t) time(NULL);

        if (cookie >= 0) {
                job_done_one(m, cookie / _JOB_OP_MAX, (JobOp) (cookie % _JOB_OP_MAX), reply, failure, now);
                return;
        }

        /* A batch: one reply item per certificate, in order. */
        unsigned slot = (unsigned) (-cookie - 1);
        Batch *b = &m->batches[slot];
        json_t *items = json_object_get(reply, "items");
        unsigned n = b->n;
        JobOp op = b->op;
        int64_t ids[BATCH_MAX];

        memcpy(ids, b->ids, n * sizeof(int64_t));
        if (reply && json_array_size(items) != n)
                failure = "the worker's reply does not match its job";
        /* The slot is free before the items are applied: they may open new batches. */
        batch_free_slot(m, slot);
        for (unsigned i = 0; i < n; i++)
                job_done_one(m, ids[i], op, failure ? NULL : json_array_get(items, i), failure ?: "no reply", now);
}

static int collect_transient(const CertRecord *r, void *userdata) {
        if (!cert_state_is_transient(r->state))
                return 0;
        return id_list_push(userdata, r->id);
}

int cert_resume_all(Manager *m, int64_t now) {
        static const CertState transient[] = {
                CERT_GENERATING_KEY_PAIR, CERT_GENERATING_CSR, CERT_SUBMITTING, CERT_SAVING_CERT,
        };
        IdList c = {};
        int k = 0;

        for (size_t i = 0; i < ELEMENTSOF(transient) && k >= 0; i++) {
                CertFilter f = { .state = cert_state_to_string(transient[i]) };
                k = store_cert_foreach(m->store, &f, collect_transient, &c);
        }

        for (size_t i = 0; i < c.n && k >= 0; i++) {
                _cleanup_(cert_record_freep) CertRecord *r = NULL;
                k = store_cert_get(m->store, c.ids[i], &r);
                if (k < 0)
                        break;
                /* Resume from the state before the interrupted job. What was issued is kept in the
                 * database (issued_pem), so an interrupted save is done again, never a new issuance. */
                r->state = transient_previous(r->state);
                r->next_action_at = now;
                k = save_record(m, r, now);
        }
        if (c.n > 0 && k >= 0)
                log_info("Resuming %zu request(s) interrupted by the last stop.", c.n);
        id_list_done(&c);
        return k;
}

static int collect_noticed(const CertRecord *r, void *userdata) {
        /* The states whose step gives expiry notices: MONITORING and the parked ones. */
        switch (r->state) {
        case CERT_MONITORING:
        case CERT_CA_REJECTED:
        case CERT_CA_UNCONFIGURED:
        case CERT_NEED_CA:
        case CERT_NEED_GUIDANCE:
                break;
        default:
                return 0;
        }
        return id_list_push(userdata, r->id);
}

int cert_notices_reschedule(Manager *m, int64_t now) {
        CertFilter f = {};
        IdList c = {};
        int k;

        k = store_cert_foreach(m->store, &f, collect_noticed, &c);
        for (size_t i = 0; i < c.n && k >= 0; i++) {
                _cleanup_(cert_record_freep) CertRecord *r = NULL;
                int64_t next;

                if (manager_in_flight(m, c.ids[i]))
                        continue;
                k = store_cert_get(m->store, c.ids[i], &r);
                if (k == -ENOENT) {
                        k = 0;
                        continue;
                }
                if (k < 0)
                        break;
                /* A renewal waiting for its backoff keeps its time. */
                if (r->state == CERT_MONITORING && renewal_due(r, now))
                        continue;
                next = next_notice_at(m, r);
                if (next <= 0 || (r->next_action_at > 0 && r->next_action_at <= next))
                        continue;
                r->next_action_at = MAX(next, now);
                k = save_record(m, r, now);
        }
        id_list_done(&c);
        return k;
}
