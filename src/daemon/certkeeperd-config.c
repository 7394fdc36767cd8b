/* SPDX-License-Identifier: MIT */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "certkeeperd-config.h"
#include "config.h"
#include "fs-util.h"
#include "parse-util.h"
#include "string-util.h"

typedef enum ConfigType {
        CONFIG_STRING,
        CONFIG_INT,
        CONFIG_DURATION,
        CONFIG_BOOL,
} ConfigType;

typedef struct ConfigEntry {
        const char *section;
        const char *name;
        ConfigType type;
        size_t offset;
        const char *def;
        int64_t min, max;
        bool reloadable;
        const char *help;
} ConfigEntry;

#define E(sec, nam, typ, field, d, lo, hi, rel, h) \
        { sec, nam, typ, offsetof(Config, field), d, lo, hi, rel, h }

static const ConfigEntry table[] = {
        E("daemon", "state_dir", CONFIG_STRING, state_dir, DEFAULT_STATE_DIR, 0, 0, false,
          "database, local CA and default certificate store"),
        E("daemon", "run_dir", CONFIG_STRING, run_dir, DEFAULT_RUN_DIR, 0, 0, false,
          "API socket and api.json"),
        E("daemon", "workers", CONFIG_INT, workers, "0", 0, 256, false,
          "worker processes for keys, CSRs, signing and hooks; 0 = two per CPU"),
        E("daemon", "log_level", CONFIG_STRING, log_level, "info", 0, 0, true,
          "debug, info, notice, warning or err"),
        E("daemon", "backup_interval", CONFIG_DURATION, backup_interval, "1d", 60, 366 * 86400LL, true,
          "how often the database is backed up to certkeeper.db.bak"),
        E("api", "admin_group", CONFIG_STRING, admin_group, "", 0, 0, true,
          "group whose members may use the API socket besides root"),
        E("api", "tcp", CONFIG_BOOL, api_tcp, "yes", 0, 0, false,
          "also serve the API on TCP (loopback, bearer token)"),
        E("api", "address", CONFIG_STRING, api_address, "127.0.0.1", 0, 0, false,
          "TCP address; only loopback addresses are accepted"),
        E("api", "port", CONFIG_INT, api_port, "9696", 1, 65535, false,
          "first TCP port tried; the next free one is used if busy"),
        E("keys", "key_type", CONFIG_STRING, key_type, "EC", 0, 0, true,
          "default key type: RSA, EC or ED25519"),
        E("keys", "key_bits", CONFIG_INT, key_bits, "0", 0, 8192, true,
          "default key size; 0 = RSA 2048, EC 256"),
        E("hooks", "timeout", CONFIG_DURATION, hook_timeout, "60s", 1, 86400, true,
          "time limit of pre-save and post-save commands"),
        E("hooks", "output_max", CONFIG_INT, hook_output_max, "65536", 1024, 16777216, true,
          "bytes of a command's output kept in the history"),
        E("helpers", "workers", CONFIG_INT, helper_workers, "8", 1, 256, false,
          "CA helper programs (EXTERNAL CAs) that may run at once"),
        E("helpers", "timeout", CONFIG_DURATION, helper_timeout, "5min", 1, 86400, true,
          "time limit of one helper run; the whole process group is killed after it"),
        E("helpers", "output_max", CONFIG_INT, helper_output_max, "262144", 4096, 1048576, true,
          "bytes of a helper's stdout (and of its stderr) that are read; the rest is dropped"),
        E("helpers", "rekey_limit", CONFIG_INT, helper_rekey_limit, "3", 0, 100, true,
          "new keys a CA may ask for in a row (exit 17) before the request needs guidance"),
        E("helpers", "rekey_delay", CONFIG_DURATION, helper_rekey_delay, "30s", 1, 86400, true,
          "wait before making the new key a CA asked for (exit 17)"),
        E("helpers", "max_delay", CONFIG_DURATION, helper_max_delay, "1d", 60, 30 * 86400LL, true,
          "longest wait a helper may ask for (exit 5); longer requests are cut to this"),
        E("helpers", "refresh_interval", CONFIG_DURATION, helper_refresh_interval, "12h", 60, 30 * 86400LL, true,
          "how often each EXTERNAL CA's roots, requirements and templates are fetched again"),
        E("local", "validity", CONFIG_DURATION, local_validity, "1y", 60, 20 * 366 * 86400LL, true,
          "lifetime of certificates issued by the local CA (per request: --validity)"),
        E("local", "root_lifetime", CONFIG_DURATION, local_root_lifetime, "10y", 3600, 30 * 366 * 86400LL,
          true, "lifetime of the local CA's root"),
        E("local", "issuing_lifetime", CONFIG_DURATION, local_issuing_lifetime, "2y", 600,
          30 * 366 * 86400LL, true, "lifetime of the local CA's issuing certificate"),
        E("selfsign", "validity", CONFIG_DURATION, selfsign_validity, "1y", 60, 30 * 366 * 86400LL, true,
          "lifetime of self-signed certificates"),
        E("renewal", "notify_ttls", CONFIG_STRING, notify_ttls, "28d, 7d, 1d", 0, 0, true,
          "expiry notices this long before expiry, for certificates not renewed automatically"),
        E("renewal", "retry_delay", CONFIG_DURATION, renewal_retry_delay, "1min", 1, 86400, true,
          "wait after a failed issuance or renewal; then 10 and 100 times as long, then daily"),
        E("events", "keep", CONFIG_DURATION, events_keep, "30d", 3600, 100 * 366 * 86400LL, true,
          "how long lifecycle events are kept in the database (pruned at start-up and daily)"),
        E("events", "delivery_timeout", CONFIG_DURATION, events_delivery_timeout, "30s", 1, 3600, true,
          "time limit of one delivery to a subscription (a command's run, a webhook's POST)"),
        E("events", "retry_delay", CONFIG_DURATION, events_retry_delay, "10s", 1, 3600, true,
          "wait after a failed delivery; then 6, 60 and 360 times as long, at most an hour"),
        E("events", "stream_keepalive", CONFIG_DURATION, events_stream_keepalive, "15s", 1, 25, false,
          "keep-alive period of GET /api/v1/events/stream (below the API's 30 s connection timeout)"),
        E("bindings", "batch_window_ms", CONFIG_INT, bindings_batch_window_ms, "500", 0, 60000, true,
          "milliseconds a deploy waits for those of other certificates replaced together (one reload)"),
};

#undef E

static void *field_of(Config *c, const ConfigEntry *e) {
        return (char *) c + e->offset;
}

static const void *cfield_of(const Config *c, const ConfigEntry *e) {
        return (const char *) c + e->offset;
}

static int set_value(Config *c, const ConfigEntry *e, const char *value, char **reterr) {
        int64_t v;
        int r;

        switch (e->type) {
        case CONFIG_STRING: {
                char *copy = strdup(value), **p = field_of(c, e);
                if (!copy)
                        return -ENOMEM;
                free(*p);
                *p = copy;
                return 0;
        }
        case CONFIG_BOOL:
                r = parse_boolean(value);
                if (r < 0) {
                        (void) asprintf(reterr, "'%s' is not a boolean: use yes or no", value);
                        return -EINVAL;
                }
                *(bool *) field_of(c, e) = r;
                return 0;
        case CONFIG_INT:
                r = safe_atoi64(value, &v);
                if (r < 0) {
                        (void) asprintf(reterr, "'%s' is not a number", value);
                        return -EINVAL;
                }
                break;
        case CONFIG_DURATION:
                r = parse_duration_sec(value, &v);
                if (r < 0) {
                        (void) asprintf(reterr, "'%s' is not a duration: use e.g. 90s, 10m, 12h, 30d, 1y",
                                        value);
                        return -EINVAL;
                }
                break;
        default:
                return -EINVAL;
        }

        if (v < e->min || v > e->max) {
                (void) asprintf(reterr, "%s is out of range: use %" PRIi64 " to %" PRIi64, value, e->min,
                                e->max);
                return -ERANGE;
        }
        *(int64_t *) field_of(c, e) = v;
        return 0;
}

void config_init(Config *c) {
        *c = (Config) {};
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_free_ char *err = NULL;
                /* The defaults are part of the table and known to be valid. */
                if (set_value(c, &table[i], table[i].def, &err) < 0)
                        abort();
        }
}

void config_done(Config *c) {
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (table[i].type == CONFIG_STRING) {
                        char **p = field_of(c, &table[i]);
                        *p = mfree(*p);
                }
}

static const ConfigEntry *lookup(const char *section, const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (streq(table[i].section, section) && streq(table[i].name, name))
                        return &table[i];
        return NULL;
}

static int validate(const Config *c, char **reterr) {
        static const char *levels[] = { "debug", "info", "notice", "warning", "err", NULL };
        _cleanup_strv_free_ char **ttls = NULL;
        int64_t v;

        if (!strv_contains((char **) levels, c->log_level)) {
                (void) asprintf(reterr, "log_level '%s' is unknown: use debug, info, notice, warning or err",
                                c->log_level);
                return -EINVAL;
        }
        if (!streq(c->key_type, "RSA") && !streq(c->key_type, "EC") && !streq(c->key_type, "ED25519")) {
                (void) asprintf(reterr, "key_type '%s' is unknown: use RSA, EC or ED25519", c->key_type);
                return -EINVAL;
        }
        if (!streq(c->api_address, "127.0.0.1") && !streq(c->api_address, "::1") &&
            !startswith(c->api_address, "127.")) {
                (void) asprintf(reterr,
                                "api address '%s' is not a loopback address: the API is local only; use "
                                "127.0.0.1",
                                c->api_address);
                return -EINVAL;
        }
        if (strv_split(c->notify_ttls, ", \t", &ttls) < 0)
                return -ENOMEM;
        STRV_FOREACH(t, ttls)
                if (parse_duration_sec(*t, &v) < 0 || v <= 0) {
                        (void) asprintf(reterr, "notify_ttls item '%s' is not a duration such as 7d", *t);
                        return -EINVAL;
                }
        if (c->state_dir[0] != '/' || c->run_dir[0] != '/') {
                (void) asprintf(reterr, "state_dir and run_dir must be absolute paths");
                return -EINVAL;
        }
        return 0;
}

int config_parse_string(Config *c, const char *text, const char *name, bool reload_only, char **reterr) {
        _cleanup_free_ char *copy = strdup(text), *section = strdup("daemon");
        unsigned line = 0;
        char *p, *nl;

        if (!copy || !section)
                return -ENOMEM;

        for (p = copy; p; p = nl) {
                char *l, *eq, *key, *value;
                const ConfigEntry *e;
                _cleanup_free_ char *err = NULL;
                int r;

                nl = strchr(p, '\n');
                if (nl)
                        *nl++ = '\0';
                line++;

                l = strstrip(p);
                if (l[0] == '\0' || l[0] == '#' || l[0] == ';')
                        continue;

                if (l[0] == '[') {
                        char *end = strchr(l, ']');
                        if (!end || end[1] != '\0') {
                                (void) asprintf(reterr, "%s:%u: malformed section header '%s': use [name]",
                                                name, line, l);
                                return -EINVAL;
                        }
                        *end = '\0';
                        free(section);
                        section = strdup(strstrip(l + 1));
                        if (!section)
                                return -ENOMEM;
                        continue;
                }

                eq = strchr(l, '=');
                if (!eq) {
                        (void) asprintf(reterr, "%s:%u: expected 'key = value', got '%s'", name, line, l);
                        return -EINVAL;
                }
                *eq = '\0';
                key = strstrip(l);
                value = strstrip(eq + 1);

                e = lookup(section, key);
                if (!e) {
                        (void) asprintf(reterr,
                                        "%s:%u: unknown setting '%s' in section [%s]; see "
                                        "'certkeeperd --dump-config' for the known ones",
                                        name, line, key, section);
                        return -EINVAL;
                }
                if (reload_only && !e->reloadable)
                        continue;

                r = set_value(c, e, value, &err);
                if (r < 0) {
                        (void) asprintf(reterr, "%s:%u: [%s] %s: %s", name, line, section, key,
                                        err ? err : "invalid value");
                        return r;
                }
        }

        return validate(c, reterr);
}

int config_parse_file(Config *c, const char *path, bool reload_only, char **reterr) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = fs_read_file(path, 1024 * 1024, &text, NULL);
        if (r < 0) {
                (void) asprintf(reterr, "Cannot read config file '%s': %s", path, strerror(-r));
                return r;
        }
        return config_parse_string(c, text, path, reload_only, reterr);
}

void config_dump(const Config *c, FILE *f) {
        const char *section = NULL;

        fputs("# certkeeper.conf: the effective configuration.\n", f);
        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                const ConfigEntry *e = &table[i];
                const void *p = cfield_of(c, e);

                if (!section || !streq(section, e->section)) {
                        fprintf(f, "\n[%s]\n", e->section);
                        section = e->section;
                }
                fprintf(f, "# %s (default: %s%s)\n", e->help, e->def, e->reloadable ? "" : "; needs a restart");
                switch (e->type) {
                case CONFIG_STRING:
                        fprintf(f, "%s = %s\n", e->name, *(char *const *) p);
                        break;
                case CONFIG_BOOL:
                        fprintf(f, "%s = %s\n", e->name, *(const bool *) p ? "yes" : "no");
                        break;
                default:
                        fprintf(f, "%s = %" PRIi64 "\n", e->name, *(const int64_t *) p);
                        break;
                }
        }
}

unsigned config_notify_ttls(const Config *c, int64_t *ret, unsigned max) {
        _cleanup_strv_free_ char **ttls = NULL;
        unsigned n = 0;

        if (strv_split(c->notify_ttls, ", \t", &ttls) < 0)
                return 0;
        STRV_FOREACH(t, ttls) {
                int64_t v;
                if (n >= max || parse_duration_sec(*t, &v) < 0)
                        continue;
                ret[n++] = v;
        }
        /* largest first */
        for (unsigned i = 0; i < n; i++)
                for (unsigned j = i + 1; j < n; j++)
                        if (ret[j] > ret[i]) {
                                int64_t t = ret[i];
                                ret[i] = ret[j];
                                ret[j] = t;
                        }
        return n;
}
