/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

/* When to renew, by lifetime (DESIGN.md "When to renew"):
 *   - by default when 1/3 of the lifetime is left, or 1/2 when the lifetime is under 10 days;
 *   - an override per certificate: "14d" (any duration: renew that long before expiry) or "33%"
 *     (renew when that share of the lifetime is left);
 *   - minus a jitter of up to 2% of the lifetime (at most 1 hour), drawn by the caller
 *     (jitter_fraction in [0, 1)) and persisted, so many certificates never fire together. */

/* Checks an override: NULL/"" is fine (default rule). -EINVAL with words otherwise. */
int renew_before_check(const char *renew_before, char **reterr) _warn_unused_result_;

/* Renewal time for a certificate valid from not_before to not_after. Never before not_before. */
int renew_time(int64_t not_before, int64_t not_after, const char *renew_before, double jitter_fraction,
               int64_t *ret) _warn_unused_result_;

/* ACME Renewal Information (RFC 9773). The CA suggests a window [start, end] (unix seconds) per
 * certificate; the renewal time is a uniformly random moment in it (fraction in [0, 1)), drawn once
 * and kept while the CA suggests the same window. A window in the past means: renew now (the time
 * drawn is in the past, so the certificate is due). */
#define ARI_CHECK_INTERVAL (12 * 3600LL) /* at least twice a day */
#define ARI_CHECK_MIN 60LL               /* a Retry-After below this is raised to it */
#define ARI_RETRY_INTERVAL 3600LL        /* after a failed check without Retry-After */

/* The renewal time for the suggested window [start, end]. prev_start/prev_end is the window the
 * current time cur was drawn in (0, 0: none, cur came from the lifetime rule); an unchanged window
 * keeps cur, a new one draws again. -EINVAL for an empty or inverted window. */
int ari_renew_time(int64_t start, int64_t end, int64_t prev_start, int64_t prev_end, int64_t cur,
                   double fraction, int64_t *ret) _warn_unused_result_;
/* Whether [start, end] differs from the window the current time was drawn in. */
bool ari_window_changed(int64_t start, int64_t end, int64_t prev_start, int64_t prev_end);
/* When to ask the CA again: after its Retry-After (seconds, 0 = none) within
 * [ARI_CHECK_MIN, ARI_CHECK_INTERVAL], else after interval (ARI_CHECK_INTERVAL after an answer,
 * ARI_RETRY_INTERVAL after a failure). */
int64_t ari_next_check(int64_t now, int64_t retry_after, int64_t interval);

/* Retry delay after the n-th failure in a row (n >= 1): first (default 1 min), 10 times, 100 times as
 * long, then daily; never more than a day. */
#define RETRY_DELAY_DEFAULT 60
int64_t retry_delay(int64_t failures, int64_t first);

/* Expiry notice thresholds, in seconds before expiry, largest first: default 28d, 7d, 1d. The next
 * notice time after last_notified (0 = never) for a certificate expiring at not_after: returns 0
 * when no threshold is left to cross (the "expired" notice counts as threshold 0). */
int64_t notice_next(int64_t not_after, int64_t last_notified, const int64_t *thresholds, unsigned n);
