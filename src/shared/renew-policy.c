/* SPDX-License-Identifier: MIT */
#include <stdio.h>

#include "parse-util.h"
#include "renew-policy.h"
#include "string-util.h"

#define TEN_DAYS (10 * 86400LL)

static int parse_percent(const char *s, unsigned *ret) {
        _cleanup_free_ char *num = NULL;
        size_t n = strlen(s);
        unsigned v;
        int r;

        if (n < 2 || s[n - 1] != '%')
                return -EINVAL;
        num = strndup(s, n - 1);
        if (!num)
                return -ENOMEM;
        r = safe_atou(num, &v);
        if (r < 0)
                return r;
        if (v < 1 || v > 99)
                return -ERANGE;
        *ret = v;
        return 0;
}

int renew_before_check(const char *renew_before, char **reterr) {
        unsigned pct;
        int64_t secs;

        if (isempty(renew_before))
                return 0;
        if (endswith(renew_before, "%")) {
                if (parse_percent(renew_before, &pct) >= 0)
                        return 0;
        } else if (parse_duration_sec(renew_before, &secs) >= 0 && secs > 0)
                return 0;

        if (reterr)
                (void) asprintf(reterr,
                                "Invalid renew-before value '%s': give a time before expiry such as '14d' or "
                                "'12h', or a share of the lifetime left such as '33%%' (1%% to 99%%).",
                                renew_before);
        return -EINVAL;
}

int renew_time(int64_t not_before, int64_t not_after, const char *renew_before, double jitter_fraction,
               int64_t *ret) {
        int64_t lifetime = not_after - not_before, before, jitter, t;
        unsigned pct;
        int r;

        if (lifetime <= 0)
                return -EINVAL;
        if (jitter_fraction < 0 || jitter_fraction >= 1)
                return -EINVAL;

        if (isempty(renew_before))
                before = lifetime < TEN_DAYS ? lifetime / 2 : lifetime / 3;
        else if (endswith(renew_before, "%")) {
                r = parse_percent(renew_before, &pct);
                if (r < 0)
                        return r;
                before = lifetime * (int64_t) pct / 100;
        } else {
                r = parse_duration_sec(renew_before, &before);
                if (r < 0)
                        return r;
        }

        jitter = MIN(lifetime / 50, 3600LL);
        t = not_after - before - (int64_t) (jitter * jitter_fraction);
        *ret = MAX(t, not_before);
        return 0;
}

bool ari_window_changed(int64_t start, int64_t end, int64_t prev_start, int64_t prev_end) {
        return start != prev_start || end != prev_end;
}

int ari_renew_time(int64_t start, int64_t end, int64_t prev_start, int64_t prev_end, int64_t cur,
                   double fraction, int64_t *ret) {
        if (start <= 0 || end < start)
                return -EINVAL;
        if (fraction < 0 || fraction >= 1)
                return -EINVAL;

        /* Drawn once per window: asking twice a day must not move the time each time (RFC 9773
         * 4.2: the client picks a time and keeps it unless the window changes). */
        if (!ari_window_changed(start, end, prev_start, prev_end) && cur >= start && cur <= end) {
                *ret = cur;
                return 0;
        }
        /* end - start + 1 moments; the fraction below 1 keeps the draw within end. */
        *ret = start + (int64_t) ((double) (end - start + 1) * fraction);
        if (*ret > end)
                *ret = end;
        return 0;
}

int64_t ari_next_check(int64_t now, int64_t retry_after, int64_t interval) {
        if (retry_after > 0)
                return now + CLAMP(retry_after, ARI_CHECK_MIN, ARI_CHECK_INTERVAL);
        return now + CLAMP(interval, ARI_CHECK_MIN, ARI_CHECK_INTERVAL);
}

int64_t retry_delay(int64_t failures, int64_t first) {
        int64_t d = CLAMP(first, (int64_t) 1, (int64_t) 86400);

        if (failures > 3)
                return 86400;
        for (int64_t i = 1; i < failures; i++)
                d *= 10;
        return MIN(d, (int64_t) 86400);
}

int64_t notice_next(int64_t not_after, int64_t last_notified, const int64_t *thresholds, unsigned n) {
        int64_t next = 0;

        /* The thresholds and the expiry itself; the earliest one not yet notified wins. */
        for (unsigned i = 0; i <= n; i++) {
                int64_t at = not_after - (i < n ? thresholds[i] : 0);
                if (at <= last_notified)
                        continue;
                if (next == 0 || at < next)
                        next = at;
        }
        return next;
}
