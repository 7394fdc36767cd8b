/* SPDX-License-Identifier: MIT */
/* ACME operations that a person asks for and that wait for the CA's answer: revoking a certificate,
 * and the account's key rollover, deactivation and contact update. Each runs in a helper worker
 * (certkeeperd-jobs-acme.c) with the CA's account key; the API request that asked stays open until
 * the CA has answered (api_operation_done()). Nothing here changes a certificate's state. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "acme.h"
#include "certkeeperd-manager-private.h"
#include "log.h"
#include "parse-util.h"
#include "string-util.h"

static void acme_op_done(AcmeOp *op) {
        free(op->ca);
        free(op->action);
        json_decref(op->info);
        json_decref(op->job);
        *op = (AcmeOp) {};
}

void manager_acme_ops_free(Manager *m) {
        for (size_t i = 0; i < ACME_OPS_MAX; i++)
                acme_op_done(&m->acme_ops[i]);
}

/* Hands the waiting operations to free helper workers, oldest ticket first. */
void manager_acme_ops_start(Manager *m) {
        for (;;) {
                AcmeOp *next = NULL;
                int k;

                for (size_t i = 0; i < ACME_OPS_MAX; i++)
                        if (m->acme_ops[i].job && (!next || m->acme_ops[i].ticket < next->ticket))
                                next = &m->acme_ops[i];
                if (!next || manager_helpers_available(m) == 0)
                        return;
                k = worker_pool_submit(m->helper_pool, next->job,
                                       -(ACME_OP_COOKIE_BASE + (int64_t) (next - m->acme_ops)));
                if (k < 0)
                        return; /* tried again when a helper worker is done */
                json_decref(next->job);
                next->job = NULL;
        }
}

/* Takes a slot for an operation and starts it when a helper worker is free. Takes job and info. */
static int op_add(Manager *m, uint64_t ticket, int64_t cert_id, const char *ca, const char *action, json_t *job,
                  json_t *info, char **reterr) {
        AcmeOp *slot = NULL;

        for (size_t i = 0; i < ACME_OPS_MAX; i++) {
                AcmeOp *o = &m->acme_ops[i];
                if (!o->ticket) {
                        slot = slot ?: o;
                        continue;
                }
                if (!streq(o->ca, ca))
                        continue;
                if (cert_id > 0 ? o->cert_id == cert_id : o->cert_id == 0) {
                        json_decref(job);
                        json_decref(info);
                        return errorf(reterr, -EALREADY, cert_id > 0 ?
                                      "This certificate's revocation is already under way; wait for its answer." :
                                      "An account operation of CA '%s' (%s) is already under way; wait for its answer.",
                                      ca, o->action);
                }
        }
        if (!slot) {
                json_decref(job);
                json_decref(info);
                return errorf(reterr, -EAGAIN, "%d ACME operations are already waiting for their CAs; try again "
                              "in a moment.", ACME_OPS_MAX);
        }
        *slot = (AcmeOp) {
                .ticket = ticket,
                .cert_id = cert_id,
                .ca = strdup(ca),
                .action = strdup(action),
                .info = info,
                .job = job,
        };
        if (!slot->ca || !slot->action) {
                acme_op_done(slot);
                return -ENOMEM;
        }
        manager_acme_ops_start(m);
        return 0;
}

/* The CA of an operation, which must be an ACME CA. */
static int acme_ca_get(Manager *m, const char *name, const char *what, CARecord *ret, char **reterr) {
        _cleanup_(ca_record_done) CARecord ca = {};
        int k;

        k = store_ca_get(m->store, name, &ca);
        if (k == -ENOENT)
                return errorf(reterr, k, "No CA named '%s'. List them with certkeeper list-cas.", name);
        if (k < 0)
                return k;
        if (!streq_ptr(ca.type, "ACME"))
                return errorf(reterr, -EOPNOTSUPP, "The CA '%s' is of type %s, not ACME: %s is only available for "
                              "ACME CAs.", name, strna(ca.type), what);
        *ret = ca;
        ca = (CARecord) {};
        return 0;
}

int manager_cert_revoke(Manager *m, int64_t id, const char *reason, uint64_t ticket, char **reterr) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        _cleanup_(ca_record_done) CARecord ca = {};
        json_auto_t *job = NULL, *info = NULL;
        int code = -1, k;

        if (reason) {
                code = acme_revocation_reason_from_string(reason);
                if (code < 0)
                        return errorf(reterr, -EINVAL, "The revocation reason '%s' is not a CRLReason: give one of "
                                      "unspecified, keyCompromise, affiliationChanged, superseded, "
                                      "cessationOfOperation (or another RFC 5280 name), or its number.", reason);
        }
        k = store_cert_get(m->store, id, &r);
        if (k < 0)
                return k;
        k = acme_ca_get(m, strempty(r->ca), "revocation by certkeeper (ask the CA itself)", &ca, reterr);
        if (k < 0)
                return k;
        if (!r->sha256 || isempty(r->cert_path))
                return errorf(reterr, -ENODATA, "The request '%s' has no certificate yet: there is nothing to revoke.",
                              r->nickname);

        k = manager_acme_base_job(m, &ca, "acme-revoke", &job, reterr);
        if (k < 0)
                return k;
        if (json_object_set_new(job, "cert_path", json_string(r->cert_path)) < 0 ||
            json_object_set_new(job, "reason", json_integer(code)) < 0)
                return -ENOMEM;
        info = json_pack("{s:I, s:s, s:s, s:s?, s:s?}", "id", (json_int_t) r->id, "nickname", r->nickname, "ca",
                         ca.name, "serial", r->serial, "reason", acme_revocation_reason_to_string(code));
        if (!info)
                return -ENOMEM;
        k = op_add(m, ticket, r->id, ca.name, "revoke", TAKE_PTR(job), TAKE_PTR(info), reterr);
        if (k >= 0)
                log_info("Revoking the certificate of '%s' (serial %s) at CA '%s'.", r->nickname, strna(r->serial),
                         ca.name);
        return k;
}

int manager_ca_account(Manager *m, const char *name, const char *action, const char *email, uint64_t ticket,
                       char **reterr) {
        _cleanup_(ca_record_done) CARecord ca = {};
        json_auto_t *job = NULL, *info = NULL;
        int k;

        if (!streq_ptr(action, "rollover") && !streq_ptr(action, "deactivate") && !streq_ptr(action, "update"))
                return errorf(reterr, -EINVAL, "The account action '%s' is not rollover, deactivate or update.",
                              strempty(action));
        if (streq(action, "update") != !!email)
                return errorf(reterr, -EINVAL, streq(action, "update") ?
                              "An account update needs the new contact: email (\"\" for none)." :
                              "email goes only with the action update.");
        if (!isempty(email) && !email_is_valid(email))
                return errorf(reterr, -EINVAL, "'%s' is not an e-mail address.", email);

        k = acme_ca_get(m, name, "an account operation", &ca, reterr);
        if (k < 0)
                return k;
        k = manager_acme_base_job(m, &ca, "acme-account", &job, reterr);
        if (k < 0)
                return k;
        if (json_object_set_new(job, "action", json_string(action)) < 0 ||
            (!isempty(email) && json_object_set_new(job, "email", json_string(email)) < 0))
                return -ENOMEM;
        info = json_pack("{s:s, s:s, s:s?}", "ca", ca.name, "action", action, "email", email);
        if (!info)
                return -ENOMEM;
        k = op_add(m, ticket, 0, ca.name, action, TAKE_PTR(job), TAKE_PTR(info), reterr);
        if (k >= 0)
                log_info("ACME account of CA '%s': %s.", ca.name, action);
        return k;
}

/* After a contact update, the CA's setting follows, so that a new account gets it too. */
static void ca_email_store(Manager *m, const char *name, const char *email) {
        _cleanup_(ca_record_done) CARecord ca = {};
        json_auto_t *cfg = NULL;
        char *text;
        int k;

        if (store_ca_get(m->store, name, &ca) < 0)
                return;
        cfg = ca.config_json ? json_loads(ca.config_json, 0, NULL) : json_object();
        if (!json_is_object(cfg))
                return;
        k = isempty(email) ? json_object_del(cfg, "email") : json_object_set_new(cfg, "email", json_string(email));
        (void) k;
        text = json_dumps(cfg, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text) {
                log_oom();
                return;
        }
        free(ca.config_json);
        ca.config_json = text;
        k = manager_tx_begin(m);
        if (k >= 0)
                k = store_ca_update(m->store, &ca);
        if (k < 0)
                log_error_errno(k, "Failed to store the new contact of CA '%s': %m", name);
}

void manager_acme_op_done(Manager *m, int64_t cookie, json_t *reply, const char *failure) {
        int64_t slot = -cookie - ACME_OP_COOKIE_BASE;
        json_auto_t *result = NULL;
        _cleanup_free_ char *message = NULL;
        const char *words;
        AcmeOp *op;
        bool ok;

        if (slot < 0 || slot >= ACME_OPS_MAX || !m->acme_ops[slot].ticket)
                return;
        op = &m->acme_ops[slot];
        ok = reply && json_is_true(json_object_get(reply, "ok"));
        words = reply ? json_string_value(json_object_get(reply, ok ? "message" : "error")) : failure;
        result = json_deep_copy(op->info);
        if (!result || json_object_set_new(result, "ok", json_boolean(ok)) < 0 ||
            json_object_set_new(result, "result", json_string(ok ? "ok" : (json_string_value(json_object_get(
                                                          reply, "result")) ?: "failed"))) < 0 ||
            json_object_set_new(result, "message", json_string(strna(words))) < 0 ||
            json_object_set_new(result, "duration_ms", json_integer(json_integer_value(json_object_get(
                                        reply, "duration_ms")))) < 0) {
                log_oom();
                json_decref(TAKE_PTR(result));
        }

        if (streq(op->action, "revoke")) {
                const char *reason = json_string_value(json_object_get(op->info, "reason"));
                if (ok && asprintf(&message, "revoked by CA '%s'%s%s%s", op->ca, reason ? " (reason " : "",
                                   strempty(reason), reason ? ")" : "") < 0)
                        message = NULL;
                (void) manager_history(m, op->cert_id, "revoke", ok ? "ok" : strna(json_string_value(json_object_get(
                                                                         result, "result"))),
                                       ok ? message : words,
                                       json_integer_value(json_object_get(reply, "duration_ms")));
        } else if (ok && streq(op->action, "update"))
                ca_email_store(m, op->ca, json_string_value(json_object_get(op->info, "email")));

        if (ok)
                log_info("CA '%s': %s: %s.", op->ca, op->action, strna(message ?: words));
        else
                log_warning("CA '%s': %s failed: %s", op->ca, op->action, strna(words));
        if (m->api)
                api_operation_done(m->api, op->ticket, result);
        acme_op_done(op);
}
