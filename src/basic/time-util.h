/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

typedef uint64_t usec_t;

#define USEC_INFINITY ((usec_t) UINT64_MAX)
#define USEC_PER_SEC ((usec_t) 1000000ULL)
#define USEC_PER_MSEC ((usec_t) 1000ULL)

usec_t now_usec(clockid_t clock);

/* certmonger's list format: "YYYY-MM-DD HH:MM:SS TZ" in local time, or UTC if utc. */
int format_timestamp_getcert(int64_t t, bool utc, char *buf, size_t size);
/* RFC 3339 in UTC: "2026-11-22T10:00:00Z" */
int format_timestamp_rfc3339(int64_t t, char *buf, size_t size);
int parse_timestamp_rfc3339(const char *s, int64_t *ret);
