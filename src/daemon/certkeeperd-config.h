/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "macro.h"

/* The daemon's settings. Every setting comes from one table (certkeeperd-config.c) that drives
 * parsing, the defaults, the bounds, reloading on SIGHUP, and "certkeeperd --dump-config". */
typedef struct Config {
        char *state_dir;
        char *run_dir;
        char *admin_group;
        char *api_address;
        int64_t api_port;
        bool api_tcp;
        int64_t workers;
        char *key_type;
        int64_t key_bits;
        int64_t hook_timeout;
        int64_t hook_output_max;
        int64_t helper_workers;
        int64_t helper_timeout;
        int64_t helper_output_max;
        int64_t helper_rekey_limit;
        int64_t helper_rekey_delay;
        int64_t helper_max_delay;
        int64_t helper_refresh_interval;
        int64_t local_validity;
        int64_t local_root_lifetime;
        int64_t local_issuing_lifetime;
        int64_t selfsign_validity;
        char *notify_ttls;
        int64_t renewal_retry_delay;
        int64_t backup_interval;
        int64_t events_keep;
        int64_t events_delivery_timeout;
        int64_t events_retry_delay;
        int64_t events_stream_keepalive;
        int64_t bindings_batch_window_ms;
        char *log_level;
} Config;

void config_init(Config *c);  /* defaults */
void config_done(Config *c);

/* Parses an INI-style file ("[section]", "key = value", '#' comments). Unknown keys, bad values and
 * out-of-range numbers are errors naming the file, line, key and allowed values. With
 * reload_only, keys that cannot change at run time are checked but left as they are. */
int config_parse_file(Config *c, const char *path, bool reload_only, char **reterr) _warn_unused_result_;
int config_parse_string(Config *c, const char *text, const char *name, bool reload_only, char **reterr)
        _warn_unused_result_;

/* Writes the effective configuration in the file format, annotated. */
void config_dump(const Config *c, FILE *f);

/* Parsed notify_ttls, in seconds, largest first; returns the count (at most max). */
unsigned config_notify_ttls(const Config *c, int64_t *ret, unsigned max);
