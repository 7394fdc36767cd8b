/* SPDX-License-Identifier: MIT */
/* EXTERNAL CAs, the parts that are about the CA rather than one request: fetching what its helper
 * reports (identity, roots, requirements, templates) at start-up, on add/modify/refresh-ca and
 * every refresh_interval; keeping the requests' -F files current; and checking new requests
 * against the CA's templates and requirements. The requests themselves go through the state
 * machine (certkeeperd-state.c). */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "cert-json.h"
#include "certkeeperd-manager-private.h"
#include "helper-protocol.h"
#include "log.h"
#include "string-util.h"

static int64_t now_sec(void) {
        return (int64_t) time(NULL);
}

/* Which data keys each operation fills: when an operation fails, what it said last time stays. */
static const struct {
        HelperOp op;
        const char *keys[4];
} op_keys[] = {
        { HELPER_IDENTIFY, { "identify" } },
        { HELPER_FETCH_ROOTS, { "roots", "other_roots", "other_certs", "roots_pem" } },
        { HELPER_GET_NEW_REQUEST_REQUIREMENTS, { "new_requirements" } },
        { HELPER_GET_RENEW_REQUEST_REQUIREMENTS, { "renew_requirements" } },
        { HELPER_GET_SUPPORTED_TEMPLATES, { "templates" } },
        { HELPER_GET_DEFAULT_TEMPLATE, { "default_template" } },
};

json_t *manager_ca_data(const CARecord *ca) {
        json_t *d = ca->data_json ? json_loads(ca->data_json, 0, NULL) : NULL;

        if (d && !json_is_object(d)) {
                json_decref(d);
                d = NULL;
        }
        return d;
}

static int collect_ca_file(const CertRecord *r, void *userdata) {
        json_t *files = userdata;

        if (isempty(r->ca_file))
                return 0;
        return json_array_append_new(files, json_pack("{s:s, s:s?, s:I}", "path", r->ca_file, "owner",
                                                      r->cert_owner, "mode", (json_int_t) r->cert_mode));
}

static bool strv_has(char **l, const char *s) {
        STRV_FOREACH(i, l)
                if (streq(*i, s))
                        return true;
        return false;
}

static int add_pending(Manager *m, const char *name) {
        if (strv_has(m->ca_refresh_pending, name))
                return 0;
        return strv_extend(&m->ca_refresh_pending, name);
}

int manager_ca_refresh_start(Manager *m, const char *name) {
        _cleanup_(ca_record_done) CARecord ca = {};
        json_auto_t *job = NULL, *files = json_array(), *old = NULL;
        CertFilter f = { .ca = name };
        int slot = -1, k;

        k = store_ca_get(m->store, name, &ca);
        if (k < 0)
                return k;
        if (!streq_ptr(ca.type, "EXTERNAL"))
                return 0;

        for (unsigned i = 0; i < m->n_ca_slots; i++) {
                if (streq_ptr(m->ca_refreshing[i], name))
                        /* Running: refresh again after it, the CA may have changed since it started. */
                        return add_pending(m, name);
                if (!m->ca_refreshing[i] && slot < 0)
                        slot = (int) i;
        }
        if (slot < 0 || manager_helpers_available(m) == 0)
                return add_pending(m, name);

        if (!files)
                return -ENOMEM;
        k = store_cert_foreach(m->store, &f, collect_ca_file, files);
        if (k < 0)
                return k;
        old = manager_ca_data(&ca);

        job = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:O, s:s?}", "op", "ca-data", "ca", ca.name, "helper",
                        strempty(ca.helper), "home", m->cfg.run_dir, "timeout", (json_int_t) m->cfg.helper_timeout,
                        "output_max", (json_int_t) m->cfg.helper_output_max, "ca_files", files, "roots_pem",
                        json_string_value(json_object_get(old, "roots_pem")));
        if (!job)
                return -ENOMEM;
        m->ca_refreshing[slot] = strdup(name);
        if (!m->ca_refreshing[slot])
                return -ENOMEM;
        k = worker_pool_submit(m->helper_pool, job, -(int64_t) slot - 1);
        if (k < 0) {
                m->ca_refreshing[slot] = mfree(m->ca_refreshing[slot]);
                return add_pending(m, name);
        }
        log_debug("Refreshing the data of CA '%s'.", name);
        return 0;
}

static int refresh_one(const CARecord *ca, void *userdata) {
        Manager *m = userdata;

        if (streq_ptr(ca->type, "EXTERNAL") && manager_ca_refresh_start(m, ca->name) < 0)
                log_warning("Failed to start refreshing the data of CA '%s'; trying again later.", ca->name);
        return 0;
}

void manager_ca_refresh_due(Manager *m) {
        int64_t now = now_sec();

        if (m->next_ca_refresh_at <= 0 || now < m->next_ca_refresh_at)
                return;
        m->next_ca_refresh_at = now + m->cfg.helper_refresh_interval;
        if (store_ca_foreach(m->store, refresh_one, m) < 0)
                log_warning("Failed to list the CAs to refresh; trying again in %" PRIi64 "s.",
                            m->cfg.helper_refresh_interval);
}

/* The new data, with what failed this time taken from the old. */
static json_t *merge_data(json_t *old, json_t *fresh, json_t *errors) {
        json_t *d = json_deep_copy(json_is_object(fresh) ? fresh : json_object());

        if (!d)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(op_keys); i++) {
                if (!json_object_get(errors, helper_op_to_string(op_keys[i].op)))
                        continue;
                for (size_t j = 0; j < ELEMENTSOF(op_keys[i].keys) && op_keys[i].keys[j]; j++) {
                        json_t *v = json_object_get(old, op_keys[i].keys[j]);
                        if (v && json_object_set(d, op_keys[i].keys[j], v) < 0) {
                                json_decref(d);
                                return NULL;
                        }
                }
        }
        return d;
}

void manager_ca_data_done(Manager *m, int64_t cookie, json_t *reply, const char *failure) {
        _cleanup_(ca_record_done) CARecord ca = {};
        _cleanup_free_ char *name = NULL, *text = NULL;
        json_auto_t *old = NULL, *data = NULL, *errors = NULL;
        unsigned slot = (unsigned) (-cookie - 1);
        const char *key;
        json_t *v;
        size_t i;
        int k;

        if (slot >= m->n_ca_slots)
                return;
        name = TAKE_PTR(m->ca_refreshing[slot]);
        if (!name || store_ca_get(m->store, name, &ca) < 0)
                return; /* removed meanwhile */

        old = manager_ca_data(&ca);
        if (reply && json_is_true(json_object_get(reply, "ok")))
                errors = json_incref(json_object_get(reply, "errors"));
        else
                errors = json_pack("{s:s}", "refresh", failure ?: strna(json_string_value(json_object_get(reply, "error"))));
        if (!json_is_object(errors)) {
                log_oom();
                return;
        }
        data = merge_data(old, reply ? json_object_get(reply, "data") : NULL, errors);
        if (!data || json_object_set(data, "errors", errors) < 0 ||
            json_object_set_new(data, "refreshed_at", json_integer(now_sec())) < 0) {
                log_oom();
                return;
        }
        if (!reply) {
                /* The worker died: keep everything we knew. */
                json_object_foreach(old, key, v)
                        if (!json_object_get(data, key))
                                (void) json_object_set(data, key, v);
        }

        json_object_foreach(errors, key, v)
                log_warning("CA '%s': %s: %s", name, key, strna(json_string_value(v)));
        json_array_foreach(json_object_get(reply, "file_errors"), i, v)
                log_warning("CA '%s': %s", name, strna(json_string_value(v)));
        json_array_foreach(json_object_get(reply, "files_written"), i, v)
                log_info("CA '%s': its roots were written to '%s'.", name, strna(json_string_value(v)));

        text = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text) {
                log_oom();
                return;
        }
        free(ca.data_json);
        ca.data_json = TAKE_PTR(text);
        if (json_is_string(json_object_get(data, "identify"))) {
                free(ca.aka);
                ca.aka = strdup(json_string_value(json_object_get(data, "identify")));
        }
        k = manager_tx_begin(m);
        if (k >= 0)
                k = store_ca_update(m->store, &ca);
        if (k < 0)
                log_error_errno(k, "Failed to store the data of CA '%s': %m", name);
}

static int json_strv(json_t *a, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        json_t *v;
        size_t i;

        json_array_foreach(a, i, v)
                if (json_is_string(v) && strv_extend(&l, json_string_value(v)) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

int manager_ca_check_request(Manager *m, const CARecord *ca, const CertRecord *r, bool renewal, char **reterr) {
        _cleanup_(cert_template_done) CertTemplate t = {};
        _cleanup_strv_free_ char **templates = NULL, **required = NULL;
        _cleanup_free_ char *offered = NULL;
        json_auto_t *data = NULL, *tj = NULL;
        int k;

        (void) m;
        if (!streq_ptr(ca->type, "EXTERNAL"))
                return 0;
        data = manager_ca_data(ca);
        if (!data)
                return 0; /* not fetched yet: the CA itself will say */

        tj = r->template_json ? json_loads(r->template_json, 0, NULL) : NULL;
        k = cert_template_from_json(tj, &t, reterr);
        if (k < 0)
                return k;

        k = json_strv(json_object_get(data, "templates"), &templates);
        if (k < 0)
                return k;
        if (!isempty(t.profile) && templates && !strv_has(templates, t.profile)) {
                offered = strv_join(templates, ", ");
                if (asprintf(reterr, "The CA '%s' does not offer the template '%s'. It offers: %s. Choose one of "
                             "them with -T.", ca->name, t.profile, strna(offered)) < 0)
                        *reterr = NULL;
                return -EINVAL;
        }

        k = json_strv(json_object_get(data, renewal ? "renew_requirements" : "new_requirements"), &required);
        if (k < 0)
                return k;
        return helper_requirements_check(required, &t, ca->name, reterr);
}
