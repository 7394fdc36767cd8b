/* SPDX-License-Identifier: MIT */
/* Lifecycle events (docs/EVENTS.md): each is a row of the events table, written in the transaction
 * of the change that raised it, and one log entry, structured for the journal. Deliveries to
 * subscriptions (commands, webhooks) read the table: certkeeperd-subscriptions.c. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "cert-event.h"
#include "certkeeperd-manager-private.h"
#include "log.h"
#include "string-util.h"

/* The subject alternative names of the current certificate, from cert_info_json. */
static json_t *sans_json(const CertRecord *r) {
        json_auto_t *info = r->cert_info_json ? json_loads(r->cert_info_json, 0, NULL) : NULL;
        json_t *sans = json_object();
        static const char *const kinds[] = { "dns", "ip", "email" };

        if (!sans)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                json_t *a = json_object_get(info, kinds[i]);
                if (json_array_size(a) > 0)
                        json_object_set(sans, kinds[i], a);
        }
        return sans;
}

static json_t *event_payload(CertEventId id, const CertRecord *r, const char *old_sha256, json_t *extra,
                             const char *message, int64_t at) {
        json_t *p;

        p = json_pack("{s:i, s:s, s:I, s:I, s:s?, s:s?, s:o?, s:s?, s:s?, s:I, s:{s:s?, s:s?, s:s?, s:s?}, "
                      "s:s?, s:s?, s:s}",
                      "event_id", (int) id, "event", cert_event_to_string(id), "at", (json_int_t) at, "cert_id",
                      (json_int_t) r->id, "nickname", r->nickname, "subject", r->subject, "sans", sans_json(r),
                      "sha256", r->sha256, "old_sha256", old_sha256, "not_after", (json_int_t) r->not_after,
                      "paths", "cert", r->cert_path, "key", r->key_path, "chain", r->chain_path, "fullchain",
                      r->fullchain_path, "ca", r->ca, "state", cert_state_to_string(r->state), "message",
                      message);
        if (p && extra)
                (void) json_object_update(p, extra);
        return p;
}

int manager_event(Manager *m, CertEventId id, const CertRecord *r, const char *old_sha256, json_t *extra,
                  const char *format, ...) {
        _cleanup_free_ char *message = NULL, *payload_s = NULL;
        json_auto_t *payload = NULL;
        char event_s[16], cert_s[32], row_s[32] = "", not_after_s[32];
        int64_t at = (int64_t) time(NULL), row = 0;
        va_list ap;
        int k;

        va_start(ap, format);
        k = vasprintf(&message, format, ap);
        va_end(ap);
        if (k < 0)
                return log_oom();

        payload = event_payload(id, r, old_sha256, extra, message, at);
        payload_s = payload ? json_dumps(payload, JSON_COMPACT) : NULL;
        if (!payload_s)
                k = -ENOMEM;
        else {
                EventRecord e = {
                        .at = at,
                        .event_id = (int) id,
                        .cert_id = r->id,
                        .nickname = r->nickname,
                        .payload_json = payload_s,
                };
                k = manager_tx_begin(m);
                if (k >= 0)
                        k = store_event_add(m->store, &e, &row);
        }
        if (k < 0)
                log_warning_errno(k, "Failed to record event %d (%s) of request '%s', ignoring: %m", (int) id,
                                  cert_event_to_string(id), strna(r->nickname));
        else {
                (void) snprintf(row_s, sizeof(row_s), "%" PRIi64, row);
                /* The subscriptions look for it once it is committed. */
                m->subs_dirty = true;
        }

        (void) snprintf(event_s, sizeof(event_s), "%d", (int) id);
        (void) snprintf(cert_s, sizeof(cert_s), "%" PRIi64, r->id);
        (void) snprintf(not_after_s, sizeof(not_after_s), "%" PRIi64, r->not_after);
        const LogField fields[] = {
                { "CERTKEEPER_EVENT_ID", event_s },
                { "CERTKEEPER_EVENT_NAME", cert_event_to_string(id) },
                { "CERTKEEPER_EVENT_ROW", row_s[0] ? row_s : NULL },
                { "CERTKEEPER_CERT_ID", cert_s },
                { "CERTKEEPER_NICKNAME", r->nickname },
                { "CERTKEEPER_SUBJECT", r->subject },
                { "CERTKEEPER_SHA256", r->sha256 },
                { "CERTKEEPER_OLD_SHA256", old_sha256 },
                { "CERTKEEPER_NOT_AFTER", r->not_after > 0 ? not_after_s : NULL },
                { "CERTKEEPER_CERT_FILE", r->cert_path },
                { "CERTKEEPER_KEY_FILE", r->key_path },
                { "CERTKEEPER_CA", r->ca },
        };
        (void) log_struct(cert_event_priority(id), cert_event_message_id(id), fields, ELEMENTSOF(fields), "%s",
                          message);
        return k < 0 ? k : 0;
}

void manager_events_prune(Manager *m, int64_t now) {
        int64_t n = 0;
        int k;

        if (m->next_event_prune_at <= 0 || now < m->next_event_prune_at)
                return;
        m->next_event_prune_at = now + 86400;
        k = manager_tx_begin(m);
        if (k >= 0)
                k = store_event_prune(m->store, now - m->cfg.events_keep, &n);
        if (k < 0)
                log_warning_errno(k, "Failed to prune old events, ignoring: %m");
        else if (n > 0)
                log_info("Pruned %" PRIi64 " event(s) older than [events] keep.", n);
}
