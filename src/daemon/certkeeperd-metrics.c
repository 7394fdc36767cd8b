/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "cert-event.h"
#include "cert-state.h"
#include "certkeeperd-metrics.h"
#include "config.h"
#include "prom-text.h"

/* The per-request families are written straight into the body, one pass over the store each (a
 * family's samples must not be interleaved with another's): a pass over six columns costs less than
 * holding a family aside, which would double the memory of a large scrape. The first pass counts the
 * states too. */
typedef enum Pass {
        PASS_NOT_AFTER,
        PASS_RENEW_AT,
        PASS_STUCK,
} Pass;

typedef struct Gather {
        DynBuf *out;
        Pass pass;
        const char *name; /* the family of this pass */
        uint64_t states[_CERT_STATE_MAX];
        uint64_t stuck_total;
} Gather;

static int gather_one(const CertSummary *c, void *userdata) {
        Gather *g = userdata;
        int64_t value;
        char id[24];

        if (g->pass == PASS_NOT_AFTER) {
                if (c->state >= 0 && c->state < _CERT_STATE_MAX)
                        g->states[c->state]++;
                g->stuck_total += cert_state_is_stuck(c->state);
        }

        (void) snprintf(id, sizeof(id), "%" PRId64, c->id);
        if (g->pass == PASS_STUCK) {
                if (!cert_state_is_stuck(c->state))
                        return 0;
                return prom_text_sample(g->out, g->name,
                                        (const char *const[]) { "id", id, "nickname", c->nickname, "ca", c->ca,
                                                                "state", cert_state_to_string(c->state), NULL },
                                        1);
        }

        value = g->pass == PASS_NOT_AFTER ? c->not_after : c->renew_at;
        if (value <= 0) /* no certificate, or no renewal time drawn */
                return 0;
        return prom_text_sample(g->out, g->name,
                                (const char *const[]) { "id", id, "nickname", c->nickname, "ca", c->ca, NULL }, value);
}

/* HELP and TYPE, then one pass over the store for the samples. */
static int family_pass(Store *s, Gather *g, Pass pass, const char *name, const char *help) {
        int r;

        r = prom_text_family(g->out, name, "gauge", help);
        if (r < 0)
                return r;
        g->pass = pass;
        g->name = name;
        return store_cert_foreach_summary(s, gather_one, g);
}

static int event_count_one(int64_t event_id, int64_t count, void *userdata) {
        DynBuf *out = userdata;
        char id[24];

        (void) snprintf(id, sizeof(id), "%" PRId64, event_id);
        return prom_text_sample(out, "certkeeper_events_total",
                                (const char *const[]) { "event_id", id, "event",
                                                        cert_event_to_string((CertEventId) event_id), NULL },
                                count);
}

/* A family of one sample. */
static int single(DynBuf *out, const char *name, const char *help, const char *const *labels, int64_t value) {
        int r;

        r = prom_text_family(out, name, "gauge", help);
        if (r < 0)
                return r;
        return prom_text_sample(out, name, labels, value);
}

static int render_daemon(const MetricsDaemon *d, DynBuf *out) {
        int r;

        r = single(out, "certkeeper_build_info", "Always 1; the labels say which certkeeper runs.",
                   (const char *const[]) { "version", PACKAGE_VERSION, NULL }, 1);
        if (r < 0)
                return r;
        r = single(out, "certkeeper_start_time_seconds", "When the daemon started, in unix seconds.", NULL,
                   d->start_time);
        if (r < 0)
                return r;
        r = single(out, "certkeeper_workers", "Worker processes running.", NULL, d->workers);
        if (r < 0)
                return r;
        return single(out, "certkeeper_workers_busy", "Worker processes busy with a job.", NULL, d->workers_busy);
}

int metrics_render(Store *s, const MetricsDaemon *d, DynBuf *out) {
        Gather g = { .out = out };
        int r;

        if (!s || !d || !out)
                return -EINVAL;

        r = render_daemon(d, out);
        if (r < 0)
                return r;

        r = family_pass(s, &g, PASS_NOT_AFTER, "certkeeper_certificate_not_after_seconds",
                        "When the request's certificate expires, in unix seconds.");
        if (r < 0)
                return r;
        r = family_pass(s, &g, PASS_RENEW_AT, "certkeeper_certificate_renew_at_seconds",
                        "When the request's certificate is to be renewed, in unix seconds.");
        if (r < 0)
                return r;

        r = prom_text_family(out, "certkeeper_certificates", "gauge", "Requests in each state.");
        if (r < 0)
                return r;
        for (CertState st = 0; st < _CERT_STATE_MAX; st++) {
                r = prom_text_sample(out, "certkeeper_certificates",
                                     (const char *const[]) { "state", cert_state_to_string(st), NULL },
                                     (int64_t) g.states[st]);
                if (r < 0)
                        return r;
        }
        r = single(out, "certkeeper_certificates_stuck",
                   "Requests stuck in a state that only a person can leave (CA_REJECTED, CA_UNCONFIGURED, "
                   "NEED_CA, NEED_GUIDANCE).",
                   NULL, (int64_t) g.stuck_total);
        if (r < 0)
                return r;
        r = family_pass(s, &g, PASS_STUCK, "certkeeper_certificate_stuck",
                        "1 for each stuck request, labelled with its state; absent otherwise.");
        if (r < 0)
                return r;

        r = prom_text_family(out, "certkeeper_events_total", "counter",
                             "Lifecycle events raised since the database was created.");
        if (r < 0)
                return r;
        return store_event_counts_foreach(s, event_count_one, out);
}
