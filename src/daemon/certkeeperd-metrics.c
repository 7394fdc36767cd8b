/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "cert-event.h"
#include "cert-state.h"
#include "certkeeperd-metrics.h"
#include "config.h"
#include "prom-text.h"

/* One pass over the requests fills the per-request families, each in its own buffer (a family's
 * samples must not be interleaved with another's), and counts the states. */
typedef struct Gather {
        DynBuf not_after;
        DynBuf renew_at;
        DynBuf stuck;
        uint64_t states[_CERT_STATE_MAX];
        uint64_t stuck_total;
} Gather;

static void gather_done(Gather *g) {
        dynbuf_done(&g->not_after);
        dynbuf_done(&g->renew_at);
        dynbuf_done(&g->stuck);
}

static int gather_one(const CertSummary *c, void *userdata) {
        Gather *g = userdata;
        char id[24];
        int r;

        (void) snprintf(id, sizeof(id), "%" PRId64, c->id);
        if (c->state >= 0 && c->state < _CERT_STATE_MAX)
                g->states[c->state]++;
        if (c->not_after > 0) {
                r = prom_text_sample(&g->not_after, "certkeeper_certificate_not_after_seconds",
                                     (const char *const[]) { "id", id, "nickname", c->nickname, "ca", c->ca, NULL },
                                     c->not_after);
                if (r < 0)
                        return r;
        }
        if (c->renew_at > 0) {
                r = prom_text_sample(&g->renew_at, "certkeeper_certificate_renew_at_seconds",
                                     (const char *const[]) { "id", id, "nickname", c->nickname, "ca", c->ca, NULL },
                                     c->renew_at);
                if (r < 0)
                        return r;
        }
        if (cert_state_is_stuck(c->state)) {
                g->stuck_total++;
                r = prom_text_sample(&g->stuck, "certkeeper_certificate_stuck",
                                     (const char *const[]) { "id", id, "nickname", c->nickname, "ca", c->ca,
                                                             "state", cert_state_to_string(c->state), NULL },
                                     1);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int family_from(DynBuf *out, const char *name, const char *type, const char *help, const DynBuf *samples) {
        int r;

        r = prom_text_family(out, name, type, help);
        if (r < 0)
                return r;
        return dynbuf_append(out, samples->data, samples->len);
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
        r = single(out, "certkeeper_workers", "Helper workers running.", NULL, d->workers);
        if (r < 0)
                return r;
        return single(out, "certkeeper_workers_busy", "Helper workers busy with a job.", NULL, d->workers_busy);
}

int metrics_render(Store *s, const MetricsDaemon *d, DynBuf *out) {
        _cleanup_(gather_done) Gather g = {
                .not_after = DYNBUF_INIT(out->cap),
                .renew_at = DYNBUF_INIT(out->cap),
                .stuck = DYNBUF_INIT(out->cap),
        };
        int r;

        if (!s || !d || !out)
                return -EINVAL;

        r = store_cert_foreach_summary(s, gather_one, &g);
        if (r < 0)
                return r;

        r = render_daemon(d, out);
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
        r = family_from(out, "certkeeper_certificate_stuck", "gauge",
                        "1 for each stuck request, labelled with its state; absent otherwise.", &g.stuck);
        if (r < 0)
                return r;
        r = family_from(out, "certkeeper_certificate_not_after_seconds", "gauge",
                        "When the request's certificate expires, in unix seconds.", &g.not_after);
        if (r < 0)
                return r;
        r = family_from(out, "certkeeper_certificate_renew_at_seconds", "gauge",
                        "When the request's certificate is to be renewed, in unix seconds.", &g.renew_at);
        if (r < 0)
                return r;

        r = prom_text_family(out, "certkeeper_events_total", "counter",
                             "Lifecycle events raised since the database was created.");
        if (r < 0)
                return r;
        return store_event_counts_foreach(s, event_count_one, out);
}
