/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* Whole-string parsers: no leading/trailing garbage, no overflow, no sign where unsigned. */
int safe_atou(const char *s, unsigned *ret) _warn_unused_result_;
int safe_atoi(const char *s, int *ret) _warn_unused_result_;
int safe_atou64(const char *s, uint64_t *ret) _warn_unused_result_;
int safe_atoi64(const char *s, int64_t *ret) _warn_unused_result_;

/* yes/y/true/t/on/1 and no/n/false/f/off/0 */
int parse_boolean(const char *s) _warn_unused_result_;

/* Durations: plain seconds, or numbers with suffixes y M w d h m s (e.g. "1d 12h", "90s", "2w").
 * Returns seconds. */
int parse_duration_sec(const char *s, int64_t *ret) _warn_unused_result_;
/* A point in time as people write it: unix seconds ("1767225600"), an RFC 3339 timestamp
 * ("2026-01-01T00:00:00Z"), a date ("2026-01-01", midnight UTC), or a duration before now ("1h",
 * "2d", "1d 12h"). -EINVAL for anything else, -ERANGE for a duration beyond now. */
int parse_time_spec(const char *s, int64_t now, int64_t *ret) _warn_unused_result_;

/* Octal file mode, 0-07777. */
int parse_mode(const char *s, mode_t *ret) _warn_unused_result_;

/* "user[:group]", names or numbers. Without a group, the user's primary group. */
int parse_owner(const char *s, uid_t *ret_uid, gid_t *ret_gid) _warn_unused_result_;

/* Validation of SAN values. */
bool dns_name_is_valid(const char *s);   /* LDH labels, optional leading "*.", <= 253 chars */
int ip_address_normalize(const char *s, char **ret) _warn_unused_result_; /* v4 or v6 -> canonical text */
bool email_is_valid(const char *s);
