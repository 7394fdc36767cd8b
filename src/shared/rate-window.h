/* SPDX-License-Identifier: MIT */
#pragma once

/* A sliding-window rate limit such as "300 orders per 3 hours" (an ACME CA's published limit on new
 * orders): rate_window_take() says whether one more event fits now, and if not, when it will. The
 * last `limit` event times are kept in a ring. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

typedef struct RateWindow {
        unsigned limit;   /* events per window; 0 = no limit */
        int64_t window;   /* seconds */
        int64_t *times;   /* ring of the last `limit` event times, oldest at head once full */
        unsigned n, head;
} RateWindow;

/* Parses "N/DURATION" ("300/3h", "20/1s"): 1 <= N <= 100000, DURATION from 1s to 7d. -EINVAL if
 * it is not that. */
int rate_window_parse(const char *s, unsigned *ret_limit, int64_t *ret_window) _warn_unused_result_;

/* Sets the limit (keeping the events still inside the new window, up to the new limit). */
int rate_window_set(RateWindow *w, unsigned limit, int64_t window) _warn_unused_result_;

/* One event at now, if it fits: 0 and recorded. If it does not: -EAGAIN, nothing recorded, and
 * *ret_at is the first time it will fit. */
int rate_window_take(RateWindow *w, int64_t now, int64_t *ret_at) _warn_unused_result_;

void rate_window_done(RateWindow *w);
