/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "certkeeper-common.h"
#include "certkeeper-format.h"
#include "fs-util.h"
#include "log.h"
#include "parse-util.h"
#include "string-util.h"

/* The API's largest page (docs/API.md). */
#define LIST_PAGE 10000

int cli_common_option(CliContext *c, int opt, const char *arg) {
        switch (opt) {
        case ARG_JSON:
                c->json = true;
                return 1;
        case ARG_RUN_DIR:
                c->run_dir = arg;
                return 1;
        default:
                return 0;
        }
}

int cli_bad_option(const CliContext *c, int opt, char *const argv[]) {
        const char *bad = optind > 0 ? argv[optind - 1] : "?";
        char s[3] = { '-', (char) optopt, 0 };

        /* For a short option, getopt leaves optind at the next word only once the cluster is used up,
         * so name the option letter itself. */
        if (optopt > 0 && optopt < 0x100)
                bad = s;

        if (opt == ':')
                (void) cli_fail(c, "Option '%s' of '%s' needs a value, see --help.", bad, c->verb);
        else
                (void) cli_fail(c, "Unknown option '%s' for '%s', see --help.", bad, c->verb);
        return CLI_EXIT_FAILURE;
}

int cli_parse_common_options(CliContext *c, int argc, char *argv[], const char *usage) {
        static const struct option options[] = { CLI_COMMON_LONG_OPTIONS, {} };
        int opt;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":h", options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                if (opt == 'h') {
                        fputs(usage, stdout);
                        return CLI_EXIT_OK;
                }
                return cli_bad_option(c, opt, argv);
        }
        return -1;
}

int cli_extra_args(const CliContext *c, int argc, char *const argv[]) {
        if (optind < argc)
                return cli_fail(c, c->getcert ? "Error: unused extra arguments were supplied."
                                              : "Unexpected argument '%s' for '%s', see --help.",
                                argv[optind], c->verb);
        return CLI_EXIT_OK;
}

static void vprint(const CliContext *c, const char *fmt, va_list ap) _printf_(2, 0);

static void vprint(const CliContext *c, const char *fmt, va_list ap) {
        FILE *f = c->getcert ? stdout : stderr;

        fflush(stdout);
        vfprintf(f, fmt, ap);
        fputc('\n', f);
        fflush(f);
}

int cli_fail(const CliContext *c, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vprint(c, fmt, ap);
        va_end(ap);
        return CLI_EXIT_FAILURE;
}

void cli_warn(const CliContext *c, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vprint(c, fmt, ap);
        va_end(ap);
}

static int call(CliContext *c, const char *method, const char *path, json_t *body, bool raw, ApiResponse *ret) {
        _cleanup_free_ char *err = NULL;
        int r;

        if (!c->api) {
                r = api_client_new(c->run_dir, API_TRANSPORT_AUTO, &c->api, &err);
                if (r < 0) {
                        (void) cli_fail(c, "%s", err ?: strerror(-r));
                        /* Never -ENOENT here: callers read that as "no such request". */
                        return r == -ENOMEM ? r : -ENOTCONN;
                }
        }

        if (c->verbose > 1) {
                log_set_max_level(LOG_DEBUG);
                log_debug("%s %s", method, path);
        }

        r = raw ? api_client_call_raw(c->api, method, path, body, ret, &err)
                : api_client_call(c->api, method, path, body, ret, &err);
        if (r < 0) {
                (void) cli_fail(c, "%s", err ?: strerror(-r));
                return r == -ENOMEM ? r : -ENOTCONN;
        }
        if (c->verbose > 1)
                log_debug("HTTP %ld", ret->status);
        return 0;
}

int cli_call(CliContext *c, const char *method, const char *path, json_t *body, ApiResponse *ret) {
        return call(c, method, path, body, false, ret);
}

int cli_call_checked(CliContext *c, const char *method, const char *path, json_t *body, ApiResponse *ret) {
        if (cli_call(c, method, path, body, ret) < 0)
                return CLI_EXIT_FAILURE;
        if (ret->status >= 400)
                return cli_report_problem(c, ret);
        return CLI_EXIT_OK;
}

/* The first sentence of a text: up to the first '.' that ends a word outside double quotes. */
static char *first_sentence(const char *s) {
        bool quoted = false;

        for (const char *p = s; *p; p++) {
                if (*p == '"')
                        quoted = !quoted;
                else if (*p == '.' && !quoted && (p[1] == ' ' || p[1] == '\0'))
                        return strndup(s, (size_t) (p - s + 1));
        }
        return strdup(s);
}

int cli_report_problem(const CliContext *c, const ApiResponse *a) {
        const char *detail = a->detail ?: "The daemon refused the request.";

        /* certmonger prints one sentence for duplicates; the daemon's detail starts with it and then
         * says what to do. */
        if (c->getcert && a->status == 409 && !c->verbose) {
                _cleanup_free_ char *s = first_sentence(detail);

                if (s)
                        return cli_fail(c, "%s", s);
        }
        if (c->verbose && a->problem_type)
                return cli_fail(c, "%s (HTTP %ld, %s)", detail, a->status, a->problem_type);
        return cli_fail(c, "%s", detail);
}

int cli_print_json(json_t *j) {
        if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY) < 0)
                return CLI_EXIT_FAILURE;
        fputc('\n', stdout);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

int cli_file_path(const CliContext *c, const char *arg, char **ret) {
        _cleanup_free_ char *p = NULL, *dir = NULL;
        char *slash;
        int r;

        if (isempty(arg)) {
                (void) cli_fail(c, "An empty file name was given. Give a path such as /etc/pki/tls/certs/web.pem.");
                return -EINVAL;
        }

        r = cli_absolute_path(c, arg, &p);
        if (r < 0)
                return r;

        dir = strdup(p);
        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash == dir)
                slash[1] = '\0';
        else if (slash)
                *slash = '\0';

        r = fs_check_writable(p);
        switch (r) {
        case 0:
                break;
        case -ENOTDIR:
                (void) cli_fail(c, c->getcert ? "Path \"%s\" is not a directory."
                                              : "Path \"%s\" is not a directory. Give a file in an existing "
                                                "directory.",
                                dir);
                return r;
        case -EACCES:
        case -EPERM:
        case -EROFS:
                (void) cli_fail(c, c->getcert ? "Path \"%s\": insufficient permissions."
                                              : "Path \"%s\": insufficient permissions. Make the directory "
                                                "writable, or run as root.",
                                dir);
                return r;
        case -EISDIR:
                (void) cli_fail(c, c->getcert ? "Path \"%s\" is not a regular file."
                                              : "Path \"%s\" is not a regular file. Give a file name, not a "
                                                "directory.",
                                p);
                return r;
        case -ENOENT:
                (void) cli_fail(c, c->getcert ? "Path \"%s\": %s."
                                              : "Path \"%s\": %s. Create the directory first (mkdir -p).",
                                dir, strerror(-r));
                return r;
        default:
                (void) cli_fail(c, "Path \"%s\": %s.", dir, strerror(-r));
                return r;
        }

        *ret = TAKE_PTR(p);
        return 0;
}

/* Fetches the pages; each goes to f as a parsed array, or to f_raw as bytes (exactly one is set). */
static int list_pages(CliContext *c, const char *query, CliListPageFunc f, CliListRawFunc f_raw, void *userdata) {
        int64_t after = 0, total = -1;

        for (;;) {
                _cleanup_(api_response_done) ApiResponse a = {};
                json_auto_t *body = NULL;
                CliListPage page = {};
                int64_t page_total, next;
                size_t n_items;
                char path[512];
                int r;

                if (after > 0)
                        r = snprintf(path, sizeof(path), "/api/v1/certificates?limit=%d&after=%" PRIi64 "%s%s",
                                     LIST_PAGE, after, query ? "&" : "", strempty(query));
                else
                        r = snprintf(path, sizeof(path), "/api/v1/certificates?limit=%d%s%s", LIST_PAGE,
                                     query ? "&" : "", strempty(query));
                if (r < 0 || (size_t) r >= sizeof(path)) {
                        (void) cli_fail(c, "Filter too long.");
                        return -E2BIG;
                }

                r = call(c, "GET", path, NULL, true, &a);
                if (r < 0)
                        return r;
                if (a.status >= 400) {
                        (void) cli_report_problem(c, &a);
                        return api_status_to_errno(a.status);
                }

                if (f_raw) {
                        /* list --json copies the items through: no objects built. */
                        if (cli_list_page_scan(strempty(a.raw), a.raw_len, &page) < 0) {
                                (void) cli_fail(c, "The daemon's answer has no list of certificates.");
                                return -EBADMSG;
                        }
                        page_total = page.total;
                        next = page.next_after;
                        n_items = page.n_items;
                } else {
                        json_error_t jerr;
                        json_t *t, *n;

                        /* One parse per page; the bytes go before the objects are used. */
                        body = json_loadb(strempty(a.raw), a.raw_len, 0, &jerr);
                        a.raw = mfree(a.raw);
                        if (!json_is_array(json_object_get(body, "items"))) {
                                (void) cli_fail(c, "The daemon's answer has no list of certificates.");
                                return -EBADMSG;
                        }
                        n_items = json_array_size(json_object_get(body, "items"));
                        t = json_object_get(body, "total");
                        page_total = json_is_integer(t) ? json_integer_value(t) : -1;
                        n = json_object_get(body, "next_after");
                        next = json_is_integer(n) ? json_integer_value(n) : 0;
                }

                if (total < 0)
                        total = MAX(page_total < 0 ? (int64_t) n_items : page_total, (int64_t) 0);

                r = f_raw ? f_raw(c, &page, total, userdata) : f(c, json_object_get(body, "items"), total, userdata);
                if (r != 0)
                        return r;

                if (next <= 0 || n_items == 0)
                        return 0;
                if (next <= after) /* a daemon that does not move on: stop */
                        return 0;
                after = next;
                /* a and body are freed here, before the next page is fetched. */
        }
}

int cli_list_certs(CliContext *c, const char *query, CliListPageFunc f, void *userdata) {
        if (!f)
                return -EINVAL;
        return list_pages(c, query, f, NULL, userdata);
}

int cli_list_certs_raw(CliContext *c, const char *query, CliListRawFunc f, void *userdata) {
        if (!f)
                return -EINVAL;
        return list_pages(c, query, NULL, f, userdata);
}

typedef struct FindByFile {
        const char *certfile;
        const char *keyfile;
        json_t *found;
} FindByFile;

static int find_by_file(CliContext *c, json_t *items, int64_t total, void *userdata) {
        FindByFile *f = userdata;
        size_t i;
        json_t *v;

        (void) c;
        (void) total;
        json_array_foreach(items, i, v) {
                const char *cp = json_string_value(json_object_get(v, "cert_path"));
                const char *kp = json_string_value(json_object_get(v, "key_path"));

                if (f->certfile && !streq(strempty(cp), f->certfile))
                        continue;
                if (f->keyfile && !streq(strempty(kp), f->keyfile))
                        continue;
                f->found = json_incref(v);
                return 1; /* found: no more pages */
        }
        return 0;
}

int cli_find_request(CliContext *c, const char *id, const char *certfile, const char *keyfile, json_t **ret) {
        int r;

        if (id) {
                _cleanup_(api_response_done) ApiResponse a = {};
                _cleanup_free_ char *path = NULL;

                r = api_client_cert_path(id, NULL, &path);
                if (r < 0)
                        return r;
                r = cli_call(c, "GET", path, NULL, &a);
                if (r < 0)
                        return r;
                if (a.status == 404)
                        return -ENOENT;
                if (a.status >= 400) {
                        (void) cli_report_problem(c, &a);
                        return api_status_to_errno(a.status);
                }
                if (!json_is_object(a.body))
                        return -EBADMSG;
                /* -i and -f together must name the same entry. */
                if (certfile && !streq(strempty(json_string_value(json_object_get(a.body, "cert_path"))), certfile))
                        return -ENOENT;
                *ret = json_incref(a.body);
                return 0;
        }

        if (certfile || keyfile) {
                FindByFile f = { .certfile = certfile, .keyfile = keyfile };

                r = cli_list_certs(c, NULL, find_by_file, &f);
                if (r < 0)
                        return r;
                if (f.found) {
                        *ret = f.found;
                        return 0;
                }
        }

        return -ENOENT;
}

int cli_check_ca(CliContext *c, const char *name) {
        _cleanup_(api_response_done) ApiResponse a = {};
        _cleanup_free_ char *path = NULL;
        int r;

        r = api_client_ca_path(name, &path);
        if (r < 0)
                return r;
        r = cli_call(c, "GET", path, NULL, &a);
        if (r < 0)
                return r;
        if (a.status == 404) {
                (void) cli_fail(c, c->getcert ? "No CA with name \"%s\" found."
                                              : "No CA with name \"%s\" found. 'certkeeper list-cas' shows the "
                                                "CAs there are.",
                                name);
                return -ENOENT;
        }
        if (a.status >= 400) {
                (void) cli_report_problem(c, &a);
                return api_status_to_errno(a.status);
        }
        return 0;
}

static void sleep_usec(usec_t u) {
        struct timespec ts = { .tv_sec = (time_t) (u / USEC_PER_SEC), .tv_nsec = (long) ((u % USEC_PER_SEC) * 1000) };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

int cli_wait(CliContext *c, const char *id, usec_t timeout, bool print_changes) {
        _cleanup_free_ char *path = NULL, *last = NULL;
        usec_t start = now_usec(CLOCK_MONOTONIC), interval = 50 * USEC_PER_MSEC;
        int r;

        r = api_client_cert_path(id, NULL, &path);
        if (r < 0)
                return CLI_EXIT_FAILURE;

        for (;;) {
                _cleanup_(api_response_done) ApiResponse a = {};
                const char *state;
                bool stuck;

                r = cli_call(c, "GET", path, NULL, &a);
                if (r < 0)
                        return CLI_EXIT_FAILURE;
                if (a.status == 404) {
                        (void) cli_fail(c, "No request found that matched arguments.");
                        return CLI_EXIT_FAILURE;
                }
                if (a.status >= 400) {
                        (void) cli_report_problem(c, &a);
                        return CLI_EXIT_FAILURE;
                }

                state = json_string_value(json_object_get(a.body, "state"));
                stuck = json_is_true(json_object_get(a.body, "stuck"));

                if (print_changes && state && (!last || !streq(last, state))) {
                        printf("State %s, stuck: %s.\n", state, stuck ? "yes" : "no");
                        fflush(stdout);
                        free(last);
                        last = strdup(state);
                        if (!last)
                                return CLI_EXIT_FAILURE;
                }

                if (cli_state_is_final(state, stuck)) {
                        const char *err = json_string_value(json_object_get(a.body, "ca_error"));

                        if (print_changes && !c->getcert && !isempty(err) && !streq(state, "MONITORING"))
                                printf("ca-error: %s\n", err);
                        return cli_status_code(state, stuck);
                }

                if (timeout > 0 && now_usec(CLOCK_MONOTONIC) - start >= timeout)
                        return cli_status_code(state, stuck);

                sleep_usec(interval);
                interval = MIN(interval + 10 * USEC_PER_MSEC, 100 * USEC_PER_MSEC);
        }
}

int cli_parse_timeout(const CliContext *c, const char *arg, usec_t *ret) {
        int64_t s;

        if (parse_duration_sec(arg, &s) < 0 || s < 0 || (uint64_t) s > UINT64_MAX / USEC_PER_SEC) {
                (void) cli_fail(c, "Invalid wait timeout '%s': give seconds, or a duration such as 90s or 5m.", arg);
                return -EINVAL;
        }
        *ret = (usec_t) s * USEC_PER_SEC;
        return 0;
}

int cli_refuse_nss(const CliContext *c) {
        return cli_fail(c, "NSS databases are not supported (-d, -n, -t): certkeeper keeps keys and "
                        "certificates in PEM files. Use -f CERTFILE and -k KEYFILE instead.");
}

int cli_absolute_path(const CliContext *c, const char *arg, char **ret) {
        _cleanup_free_ char *p = NULL;
        int r;

        if (isempty(arg)) {
                (void) cli_fail(c, "An empty file name was given, see --help.");
                return -EINVAL;
        }
        r = fs_path_absolute(arg, &p);
        if (r < 0) {
                (void) cli_fail(c, "Path \"%s\" is not absolute, and there was an error determining the name of "
                                "the current directory.", arg);
                return r;
        }
        if (!streq(p, arg))
                cli_warn(c, "Path \"%s\" is not absolute, attempting to use \"%s\" instead.", arg, p);
        *ret = TAKE_PTR(p);
        return 0;
}

void cli_selector_done(CliSelector *s) {
        if (!s)
                return;
        free(s->certfile);
        free(s->keyfile);
        *s = (CliSelector) {};
}

int cli_selector_option(const CliContext *c, CliSelector *s, int opt, const char *arg) {
        char **target;
        int r;

        switch (opt) {
        case 'i':
                s->id = arg;
                return 1;
        case 'f':
        case 'k':
                target = opt == 'f' ? &s->certfile : &s->keyfile;
                free(*target);
                *target = NULL;
                r = cli_absolute_path(c, arg, target);
                return r < 0 ? r : 1;
        case 'd':
        case 'n':
        case 't':
                (void) cli_refuse_nss(c);
                return -EOPNOTSUPP;
        default:
                return 0;
        }
}

bool cli_selector_is_set(const CliSelector *s) {
        return s->id || s->certfile || s->keyfile;
}

int cli_selector_find(CliContext *c, const CliSelector *s, json_t **ret) {
        int r;

        r = cli_find_request(c, s->id, s->certfile, s->keyfile, ret);
        if (r == -ENOENT)
                (void) cli_fail(c, c->getcert ? "No request found that matched arguments."
                                              : "No request found that matched arguments. 'certkeeper list' shows "
                                                "the requests there are.");
        return r;
}
