/* SPDX-License-Identifier: MIT */
/* Subscriptions to lifecycle events (docs/EVENTS.md): each due subscription's next undelivered
 * matching event goes to a helper worker ("deliver", certkeeperd-jobs-deliver.c), one at a time per
 * subscription. The cursor (the last event delivered) moves only when the subscriber took the
 * event, in a committed transaction; a failure is retried with backoff. The events table is the
 * outbox: after a restart, even a kill, delivery resumes from the cursors, so every event arrives
 * at least once.
 *
 * Wake-ups: a subscription is due when an event was recorded after its cursor (subs_dirty, set by
 * manager_event()), when a delivery ended, or at its next_attempt_at (the timer). Nothing wakes
 * when nothing is due. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "cert-event.h"
#include "certkeeperd-manager-private.h"
#include "log.h"
#include "parse-util.h"
#include "string-util.h"

/* Events scanned per subscription and pass when looking for one that matches its filters. */
#define SCAN_MAX 256
#define NAME_MAX_LEN 64

static int64_t now_sec(void) {
        return (int64_t) time(NULL);
}

/* At most half the helper workers (at least one) deliver at once: subscribers that hang until
 * their timeout never take every worker from the CAs' helpers. */
static unsigned deliveries_max(Manager *m) {
        return MAX(1u, m->n_delivery_slots / 2);
}

static unsigned deliveries_busy(Manager *m) {
        unsigned n = 0;
        for (unsigned i = 0; i < m->n_delivery_slots; i++)
                if (m->deliveries[i].name)
                        n++;
        return n;
}

static bool delivery_in_flight(Manager *m, const char *name) {
        for (unsigned i = 0; i < m->n_delivery_slots; i++)
                if (streq_ptr(m->deliveries[i].name, name))
                        return true;
        return false;
}

void manager_deliveries_free(Manager *m) {
        for (unsigned i = 0; i < m->n_delivery_slots; i++)
                free(m->deliveries[i].name);
        free(m->deliveries);
        m->deliveries = NULL;
        m->n_delivery_slots = 0;
}

/* The wait after the attempts-th failure in a row (1-based). */
static int64_t retry_delay(Manager *m, int64_t attempts) {
        static const int64_t factors[] = { 1, 6, 60, 360 };
        int64_t f = factors[MIN((size_t) MAX(attempts, (int64_t) 1) - 1, ELEMENTSOF(factors) - 1)];

        return MIN(m->cfg.events_retry_delay * f, (int64_t) 3600);
}

typedef struct SubList {
        SubscriptionRecord *items;
        size_t n;
} SubList;

static void sub_list_done(SubList *l) {
        for (size_t i = 0; i < l->n; i++)
                subscription_record_done(&l->items[i]);
        free(l->items);
        *l = (SubList) {};
}

static int sub_collect(const SubscriptionRecord *r, void *userdata) {
        SubList *l = userdata;
        SubscriptionRecord *n, c = {
                .cert_id = r->cert_id,
                .cursor = r->cursor,
                .attempts = r->attempts,
                .next_attempt_at = r->next_attempt_at,
        };

        n = reallocarray(l->items, l->n + 1, sizeof(SubscriptionRecord));
        if (!n)
                return -ENOMEM;
        l->items = n;
        c.name = strdup(r->name);
        c.kind = strdup(r->kind);
        c.target = strdup(r->target);
        c.secret = r->secret ? strdup(r->secret) : NULL;
        c.events = r->events ? strdup(r->events) : NULL;
        l->items[l->n++] = c;
        if (!c.name || !c.kind || !c.target || (r->secret && !c.secret) || (r->events && !c.events))
                return -ENOMEM;
        return 0;
}

typedef struct EventScan {
        char **events;  /* the event ids wanted, as text; NULL: any */
        int64_t last;   /* the last id seen */
        int64_t row;    /* the match, 0: none */
        char *payload;
        size_t n;
} EventScan;

static int scan_one(const EventRecord *e, void *userdata) {
        EventScan *s = userdata;
        char id[16];

        s->last = e->id;
        s->n++;
        (void) snprintf(id, sizeof(id), "%d", e->event_id);
        if (s->events && !strv_contains(s->events, id))
                return 0;
        s->row = e->id;
        s->payload = strdup(strempty(e->payload_json));
        return s->payload ? -ECANCELED : -ENOMEM;
}

/* Looks for the next event of sub; starts its delivery, or moves its cursor past events that do
 * not match. Returns 1 when a delivery started. */
static int sub_run(Manager *m, const SubscriptionRecord *sub) {
        _cleanup_strv_free_ char **events = NULL;
        _cleanup_free_ char *payload = NULL;
        json_auto_t *job = NULL;
        EventScan scan = {};
        EventFilter f = {
                .cert_id = sub->cert_id,
                .after_id = sub->cursor,
                .limit = SCAN_MAX,
                .oldest_first = true,
        };
        unsigned slot;
        int r;

        if (sub->events && strv_split(sub->events, ",", &events) < 0)
                return -ENOMEM;
        scan.events = events;
        r = store_event_foreach(m->store, &f, scan_one, &scan);
        payload = scan.payload;
        if (r < 0 && r != -ECANCELED)
                return r;

        if (scan.row == 0) {
                if (scan.last > sub->cursor) {
                        r = manager_tx_begin(m);
                        if (r >= 0)
                                r = store_subscription_skip(m->store, sub->name, scan.last);
                        if (r < 0)
                                return r;
                        /* More may follow the ones scanned. */
                        if (scan.n >= SCAN_MAX)
                                m->subs_dirty = true;
                }
                return 0;
        }

        for (slot = 0; slot < m->n_delivery_slots && m->deliveries[slot].name; slot++)
                ;
        if (slot >= m->n_delivery_slots)
                return 0;

        job = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:I, s:I, s:I}", "op", "deliver", "kind", sub->kind, "target",
                        sub->target, "secret", sub->secret, "payload", payload, "row", (json_int_t) scan.row,
                        "timeout", (json_int_t) m->cfg.events_delivery_timeout, "output_max",
                        (json_int_t) m->cfg.helper_output_max);
        if (!job)
                return -ENOMEM;
        m->deliveries[slot].name = strdup(sub->name);
        if (!m->deliveries[slot].name)
                return -ENOMEM;
        m->deliveries[slot].row = scan.row;
        r = worker_pool_submit(m->helper_pool, job, -(DELIVERY_COOKIE_BASE + (int64_t) slot));
        if (r < 0) {
                m->deliveries[slot].name = mfree(m->deliveries[slot].name);
                return r;
        }
        log_debug("Delivering event %" PRIi64 " to subscription '%s'.", scan.row, sub->name);
        return 1;
}

void manager_subscriptions_run(Manager *m) {
        _cleanup_(sub_list_done) SubList l = {};
        int64_t now = now_sec();
        int r;

        if (!m->subs_dirty && (m->next_sub_attempt_at <= 0 || now < m->next_sub_attempt_at))
                return;
        m->subs_dirty = false;
        m->next_sub_attempt_at = 0;

        r = store_subscription_foreach(m->store, sub_collect, &l);
        if (r < 0) {
                log_warning_errno(r, "Failed to read the subscriptions, retrying in a minute: %m");
                m->next_sub_attempt_at = now + 60;
                return;
        }

        for (size_t i = 0; i < l.n; i++) {
                const SubscriptionRecord *sub = &l.items[i];

                if (delivery_in_flight(m, sub->name))
                        continue; /* its end makes the subscriptions due again */
                if (sub->next_attempt_at > now) {
                        if (m->next_sub_attempt_at <= 0 || sub->next_attempt_at < m->next_sub_attempt_at)
                                m->next_sub_attempt_at = sub->next_attempt_at;
                        continue;
                }
                if (deliveries_busy(m) >= deliveries_max(m) || manager_helpers_available(m) == 0) {
                        /* Tried again when a helper worker is done. */
                        m->subs_dirty = true;
                        continue;
                }
                r = sub_run(m, sub);
                if (r < 0) {
                        log_warning_errno(r, "Failed to look for events to deliver to subscription '%s', "
                                          "retrying in a minute: %m", sub->name);
                        if (m->next_sub_attempt_at <= 0 || now + 60 < m->next_sub_attempt_at)
                                m->next_sub_attempt_at = now + 60;
                }
        }
}

void manager_delivery_done(Manager *m, int64_t cookie, json_t *reply, const char *failure) {
        int64_t slot = -cookie - DELIVERY_COOKIE_BASE, now = now_sec();
        _cleanup_free_ char *name = NULL;
        int64_t row;
        int r;

        if (slot < 0 || slot >= (int64_t) m->n_delivery_slots || !m->deliveries[slot].name)
                return;
        name = TAKE_PTR(m->deliveries[slot].name);
        row = m->deliveries[slot].row;
        m->subs_dirty = true;

        r = manager_tx_begin(m);
        if (r >= 0 && reply && json_is_true(json_object_get(reply, "ok"))) {
                log_debug("Event %" PRIi64 " delivered to subscription '%s'.", row, name);
                r = store_subscription_delivered(m->store, name, row, now);
        } else if (r >= 0) {
                _cleanup_(subscription_record_done) SubscriptionRecord sub = {};
                const char *err = reply ? json_string_value(json_object_get(reply, "error")) : failure;
                int64_t delay;

                r = store_subscription_get(m->store, name, &sub);
                if (r == -ENOENT)
                        return; /* removed meanwhile */
                if (r >= 0) {
                        delay = retry_delay(m, sub.attempts + 1);
                        log_warning("Delivery of event %" PRIi64 " to subscription '%s' failed (attempt %" PRIi64
                                    "), retrying in %" PRIi64 "s: %s", row, name, sub.attempts + 1, delay,
                                    strna(err));
                        r = store_subscription_failed(m->store, name, strna(err), now + delay, now);
                }
        }
        if (r < 0)
                log_warning_errno(r, "Failed to record the delivery of event %" PRIi64 " to subscription '%s': %m",
                                  row, name);
}

/* ---- called by the API ---- */

static bool name_valid(const char *s) {
        if (isempty(s) || strlen(s) > NAME_MAX_LEN)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                      IN_SET(*p, '-', '_', '.')))
                        return false;
        return true;
}

int manager_subscription_add(Manager *m, SubscriptionRecord *r, char **reterr) {
        int k;

        if (!r->name) {
                for (unsigned i = 1; !r->name; i++) {
                        _cleanup_(subscription_record_done) SubscriptionRecord old = {};
                        if (asprintf(&r->name, "%s-%u", r->kind, i) < 0)
                                return -ENOMEM;
                        k = store_subscription_get(m->store, r->name, &old);
                        if (k == -ENOENT)
                                break;
                        r->name = mfree(r->name);
                        if (k < 0)
                                return k;
                }
        }
        if (!name_valid(r->name))
                return errorf(reterr, -EINVAL, "The subscription name '%s' is not usable: give 1 to %d letters, "
                              "digits, '-', '_' or '.'.", r->name, NAME_MAX_LEN);
        if (streq(r->kind, "webhook")) {
                if (!startswith(r->target, "http://") && !startswith(r->target, "https://"))
                        return errorf(reterr, -EINVAL, "The webhook URL '%s' must start with http:// or https://.",
                                      r->target);
                if (isempty(r->secret))
                        return errorf(reterr, -EINVAL, "A webhook needs a secret to sign its requests with "
                                      "(--secret-file).");
        } else if (streq(r->kind, "command")) {
                _cleanup_strv_free_ char **argv = NULL;
                k = strv_split_shell(r->target, &argv);
                if (k < 0 || strv_length(argv) == 0)
                        return errorf(reterr, -EINVAL, "The command line '%s' is empty or badly quoted.", r->target);
                if (r->secret)
                        return errorf(reterr, -EINVAL, "Only webhooks take a secret.");
        } else
                return errorf(reterr, -EINVAL, "Unknown subscription kind '%s'.", strna(r->kind));

        /* From now on: the events before it are not delivered. */
        r->created_at = now_sec();
        k = store_event_last_id(m->store, &r->cursor);
        if (k < 0)
                return k;
        k = manager_tx_begin(m);
        if (k < 0)
                return k;
        k = store_subscription_add(m->store, r);
        if (k == -EEXIST)
                return errorf(reterr, k, "A subscription named '%s' exists already; remove it first with "
                              "certkeeper unsubscribe %s.", r->name, r->name);
        if (k < 0)
                return k;
        log_info("Subscription '%s' added (%s %s).", r->name, r->kind, r->target);
        m->subs_dirty = true;
        return 0;
}

int manager_subscription_remove(Manager *m, const char *name, char **reterr) {
        int k;

        k = manager_tx_begin(m);
        if (k < 0)
                return k;
        k = store_subscription_remove(m->store, name);
        if (k == -ENOENT)
                return errorf(reterr, k, "No subscription named '%s'. List them with certkeeper subscriptions.",
                              name);
        if (k < 0)
                return k;
        log_info("Subscription '%s' removed.", name);
        return 0;
}

bool manager_subscription_in_flight(Manager *m, const char *name) {
        return delivery_in_flight(m, name);
}
