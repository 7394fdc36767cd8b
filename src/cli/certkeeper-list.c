/* SPDX-License-Identifier: MIT */
/* list and list-cas. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "certkeeper-common.h"
#include "certkeeper-format.h"
#include "string-util.h"

enum {
        ARG_STATE = _ARG_COMMON_MAX,
};

static int total_count(CliContext *c, int64_t *ret) {
        _cleanup_(api_response_done) ApiResponse a = {};
        json_t *t;
        int r;

        r = cli_call(c, "GET", "/api/v1/certificates?limit=1", NULL, &a);
        if (r < 0)
                return r;
        if (a.status >= 400)
                return cli_report_problem(c, &a), api_status_to_errno(a.status);
        t = json_object_get(a.body, "total");
        if (!json_is_integer(t))
                return cli_fail(c, "The daemon's answer has no total count."), -EBADMSG;
        *ret = json_integer_value(t);
        return 0;
}

static int append_query(char **q, const char *key, const char *value) {
        _cleanup_free_ char *e = NULL;
        char *n;

        if (api_client_escape(value, &e) < 0)
                return -ENOMEM;
        n = strjoin(strempty(*q), *q ? "&" : "", key, "=", e);
        if (!n)
                return -ENOMEM;
        free(*q);
        *q = n;
        return 0;
}

int verb_list(CliContext *c, int argc, char *argv[]) {
        static const struct option options[] = {
                CLI_COMMON_LONG_OPTIONS,
                { "ca", required_argument, NULL, 'c' },
                { "requests-only", no_argument, NULL, 'r' },
                { "tracking-only", no_argument, NULL, 't' },
                { "utc", no_argument, NULL, 'u' },
                { "id", required_argument, NULL, 'i' },
                { "dbdir", required_argument, NULL, 'd' },
                { "nickname", required_argument, NULL, 'n' },
                { "certfile", required_argument, NULL, 'f' },
                { "verbose", no_argument, NULL, 'v' },
                { "state", required_argument, NULL, ARG_STATE },
                { "long", no_argument, NULL, 'l' },
                {}
        };
        _cleanup_(cli_selector_done) CliSelector sel = {};
        _cleanup_free_ char *query = NULL;
        json_auto_t *items = NULL;
        const char *ca = NULL, *state = NULL;
        bool requests_only = false, tracking_only = false, utc = false, lng = c->getcert;
        int64_t total = 0;
        json_t *v;
        size_t i;
        int opt, r;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hc:rtui:d:n:f:vl", options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                switch (opt) {
                case 'h':
                        printf("Usage: %s list [options]\n"
                               "Lists the requests and tracked certificates.\n\n"
                               "  -c CA              only those of this CA\n"
                               "  -r                 only requests (not in MONITORING)\n"
                               "  -t                 only tracked certificates (in MONITORING)\n"
                               "  -i NAME, -f FILE   only this request\n"
                               "  -u, --utc          times in UTC\n"
                               "  --state=STATE      only requests in this state\n"
                               "  -l, --long         getcert's long format (the default for getcert)\n"
                               "  --json             the API's JSON\n",
                               c->getcert ? "getcert" : "certkeeper");
                        return CLI_EXIT_OK;
                case 'c':
                        ca = optarg;
                        break;
                case 'r':
                        requests_only = true;
                        break;
                case 't':
                        tracking_only = true;
                        break;
                case 'u':
                        utc = true;
                        break;
                case 'v':
                        c->verbose++;
                        break;
                case 'l':
                        lng = true;
                        break;
                case ARG_STATE:
                        state = optarg;
                        break;
                case 'i':
                case 'f':
                case 'd':
                case 'n':
                        if (cli_selector_option(c, &sel, opt, optarg) < 0)
                                return CLI_EXIT_FAILURE;
                        break;
                default:
                        return cli_bad_option(c, opt, argv);
                }
        }
        if (cli_extra_args(c, argc, argv) != 0)
                return CLI_EXIT_FAILURE;
        if (requests_only && tracking_only)
                return cli_fail(c, "-r (requests only) and -t (tracking only) exclude each other; give one.");

        if (ca && cli_check_ca(c, ca) < 0)
                return CLI_EXIT_FAILURE;

        if (cli_selector_is_set(&sel)) {
                json_t *one = NULL;

                r = cli_selector_find(c, &sel, &one);
                if (r < 0)
                        return CLI_EXIT_FAILURE;
                items = json_array();
                if (!items || json_array_append_new(items, one) < 0)
                        return cli_fail(c, "Out of memory.");
                if (total_count(c, &total) < 0)
                        return CLI_EXIT_FAILURE;
        } else {
                if ((ca && append_query(&query, "ca", ca) < 0) ||
                    (state && append_query(&query, "state", state) < 0) ||
                    (requests_only && append_query(&query, "tracking", "requests") < 0) ||
                    (tracking_only && append_query(&query, "tracking", "monitoring") < 0))
                        return cli_fail(c, "Out of memory.");

                r = cli_list_certs(c, query, &items, &total);
                if (r < 0)
                        return CLI_EXIT_FAILURE;
                /* The count line counts everything, even when filtered. */
                if (query && total_count(c, &total) < 0)
                        return CLI_EXIT_FAILURE;
        }

        /* Filters the daemon may not apply, applied again here (harmless if it did). */
        for (i = json_array_size(items); i > 0; i--) {
                const char *st;

                v = json_array_get(items, i - 1);
                st = json_string_value(json_object_get(v, "state"));
                if ((ca && !streq(strempty(json_string_value(json_object_get(v, "ca"))), ca)) ||
                    (state && !streq(strempty(st), state)) ||
                    (requests_only && streq(strempty(st), "MONITORING")) ||
                    (tracking_only && !streq(strempty(st), "MONITORING")))
                        (void) json_array_remove(items, i - 1);
        }

        if (c->json) {
                json_auto_t *o = json_pack("{s:O,s:I}", "items", items, "total", (json_int_t) total);

                if (!o)
                        return cli_fail(c, "Out of memory.");
                return cli_print_json(o);
        }

        if (!lng) {
                _cleanup_free_ char *t = NULL;

                if (cli_format_table(items, utc, &t) < 0)
                        return cli_fail(c, "Out of memory.");
                fputs(t, stdout);
                return CLI_EXIT_OK;
        }

        {
                _cleanup_free_ char *line = NULL;

                if (cli_format_count_line(total, &line) < 0)
                        return cli_fail(c, "Out of memory.");
                fputs(line, stdout);
        }
        json_array_foreach(items, i, v) {
                _cleanup_free_ char *t = NULL;

                if (cli_format_request(v, utc, &t) < 0)
                        return cli_fail(c, "Out of memory.");
                fputs(t, stdout);
        }
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}

int verb_list_cas(CliContext *c, int argc, char *argv[]) {
        static const struct option options[] = {
                CLI_COMMON_LONG_OPTIONS,
                { "ca", required_argument, NULL, 'c' },
                { "verbose", no_argument, NULL, 'v' },
                {}
        };
        _cleanup_(api_response_done) ApiResponse a = {};
        const char *name = NULL;
        json_t *items, *v;
        bool found = false;
        size_t i;
        int opt, r;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hc:v", options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                switch (opt) {
                case 'h':
                        printf("Usage: %s list-cas [options]\n"
                               "Lists the CAs.\n\n"
                               "  -c NAME            only this CA\n"
                               "  -v                 more details\n"
                               "  --json             the API's JSON\n",
                               c->getcert ? "getcert" : "certkeeper");
                        return CLI_EXIT_OK;
                case 'c':
                        name = optarg;
                        break;
                case 'v':
                        c->verbose++;
                        break;
                default:
                        return cli_bad_option(c, opt, argv);
                }
        }
        if (cli_extra_args(c, argc, argv) != 0)
                return CLI_EXIT_FAILURE;

        r = cli_call(c, "GET", "/api/v1/cas", NULL, &a);
        if (r < 0)
                return CLI_EXIT_FAILURE;
        if (a.status >= 400)
                return cli_report_problem(c, &a);
        items = json_object_get(a.body, "items");
        if (!json_is_array(items))
                return cli_fail(c, "The daemon's answer has no list of CAs.");

        if (c->json) {
                if (!name)
                        return cli_print_json(a.body);
                json_array_foreach(items, i, v)
                        if (streq(strempty(json_string_value(json_object_get(v, "name"))), name))
                                return cli_print_json(v);
                return cli_fail(c, "No CA with name \"%s\" found.", name);
        }

        json_array_foreach(items, i, v) {
                _cleanup_free_ char *t = NULL;

                if (name && !streq(strempty(json_string_value(json_object_get(v, "name"))), name))
                        continue;
                found = true;
                if (cli_format_ca(v, c->verbose > 0, &t) < 0)
                        return cli_fail(c, "Out of memory.");
                fputs(t, stdout);
        }
        if (name && !found)
                return cli_fail(c, "No CA with name \"%s\" found.", name);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}
