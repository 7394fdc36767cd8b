/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "parse-util.h"
#include "rate-window.h"
#include "string-util.h"

#define RATE_LIMIT_MAX 100000U
#define RATE_WINDOW_MAX (7 * 86400)

int rate_window_parse(const char *s, unsigned *ret_limit, int64_t *ret_window) {
        _cleanup_free_ char *n = NULL;
        const char *slash;
        unsigned limit;
        int64_t window;

        if (!s)
                return -EINVAL;
        slash = strchr(s, '/');
        if (!slash || slash == s)
                return -EINVAL;
        n = strndup(s, (size_t) (slash - s));
        if (!n)
                return -ENOMEM;
        if (safe_atou(n, &limit) < 0 || limit < 1 || limit > RATE_LIMIT_MAX)
                return -EINVAL;
        if (parse_duration_sec(slash + 1, &window) < 0 || window < 1 || window > RATE_WINDOW_MAX)
                return -EINVAL;
        *ret_limit = limit;
        *ret_window = window;
        return 0;
}

int rate_window_set(RateWindow *w, unsigned limit, int64_t window) {
        int64_t *times = NULL;
        unsigned n = 0;

        if (limit == w->limit && window == w->window)
                return 0;
        if (limit > 0) {
                times = calloc(limit, sizeof(int64_t));
                if (!times)
                        return -ENOMEM;
                /* The newest events that fit the new limit, oldest first. */
                for (unsigned i = w->n > limit ? w->n - limit : 0; i < w->n; i++)
                        times[n++] = w->times[(w->head + i) % w->limit];
        }
        free(w->times);
        *w = (RateWindow) { .limit = limit, .window = window, .times = times, .n = n, .head = 0 };
        return 0;
}

int rate_window_take(RateWindow *w, int64_t now, int64_t *ret_at) {
        if (w->limit == 0)
                return 0;
        if (w->n == w->limit) {
                int64_t oldest = w->times[w->head];

                if (oldest > now - w->window) {
                        if (ret_at)
                                *ret_at = oldest + w->window;
                        return -EAGAIN;
                }
                /* The oldest one left the window: its slot is the newest now. */
                w->times[w->head] = now;
                w->head = (w->head + 1) % w->limit;
                return 0;
        }
        w->times[(w->head + w->n) % w->limit] = now;
        w->n++;
        return 0;
}

void rate_window_done(RateWindow *w) {
        free(w->times);
        *w = (RateWindow) {};
}
