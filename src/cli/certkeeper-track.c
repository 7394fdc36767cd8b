/* SPDX-License-Identifier: MIT */
/* stop-tracking and refresh: verbs that act on one existing request without changing it. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "certkeeper-common.h"
#include "string-util.h"

static const struct option selector_options[] = {
        CLI_COMMON_LONG_OPTIONS,
        CLI_SELECTOR_LONG_OPTIONS,
        { "all", no_argument, NULL, 'a' },
        { "verbose", no_argument, NULL, 'v' },
        {}
};

/* Returns 1 to go on, 0 after --help, negative on error (printed). */
static int parse_selector(CliContext *c, int argc, char *argv[], const char *shortopts, const char *help,
                          CliSelector *sel, bool *all) {
        int opt, r;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, shortopts, selector_options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                switch (opt) {
                case 'h':
                        printf("Usage: %s %s [options]\n%s", c->getcert ? "getcert" : "certkeeper", c->verb, help);
                        return 0;
                case 'v':
                        c->verbose++;
                        continue;
                case 'a':
                        if (all) {
                                *all = true;
                                continue;
                        }
                        return cli_bad_option(c, '?', argv), -EINVAL;
                case '?':
                case ':':
                        return cli_bad_option(c, opt, argv), -EINVAL;
                default:
                        r = cli_selector_option(c, sel, opt, optarg);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                return cli_bad_option(c, '?', argv), -EINVAL;
                }
        }
        if (cli_extra_args(c, argc, argv) != 0)
                return -EINVAL;
        return 1;
}

static int id_of(json_t *obj, char buf[static 32]) {
        json_t *id = json_object_get(obj, "id");

        if (!json_is_integer(id))
                return -EBADMSG;
        (void) snprintf(buf, 32, "%" PRIi64, (int64_t) json_integer_value(id));
        return 0;
}

int verb_stop_tracking(CliContext *c, int argc, char *argv[]) {
        _cleanup_(cli_selector_done) CliSelector sel = {};
        _cleanup_(api_response_done) ApiResponse a = {};
        _cleanup_free_ char *path = NULL, *nick = NULL;
        json_auto_t *obj = NULL;
        const char *removed;
        char id[32];
        int r;

        r = parse_selector(c, argc, argv, ":hi:d:n:t:f:k:v",
                           "Stops tracking a request. The key and certificate files are kept.\n\n"
                           "  -i NAME            nickname of the request\n"
                           "  -f FILE [-k FILE]  or its certificate (and key) file\n"
                           "  -v, --json\n",
                           &sel, NULL);
        if (r <= 0)
                return r < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
        if (!cli_selector_is_set(&sel))
                return cli_fail(c, "Give -i NAME or -f FILE to say which request, see --help.");

        r = cli_selector_find(c, &sel, &obj);
        if (r < 0)
                return CLI_EXIT_FAILURE;
        if (id_of(obj, id) < 0 || api_client_cert_path(id, NULL, &path) < 0)
                return cli_fail(c, "The daemon's answer has no request id.");
        nick = strdup(strempty(json_string_value(json_object_get(obj, "nickname"))));
        if (!nick)
                return cli_fail(c, "Out of memory.");

        r = cli_call(c, "DELETE", path, NULL, &a);
        if (r < 0)
                return CLI_EXIT_FAILURE;
        if (a.status == 404)
                return cli_fail(c, "No request found that matched arguments.");
        if (a.status >= 400)
                return cli_report_problem(c, &a);

        if (c->json)
                return cli_print_json(a.body);
        removed = json_string_value(json_object_get(a.body, "removed"));
        printf("Request \"%s\" removed.\n", removed ?: nick);
        return CLI_EXIT_OK;
}

static int refresh_one(CliContext *c, json_t *obj, json_t *results) {
        _cleanup_(api_response_done) ApiResponse a = {};
        _cleanup_free_ char *path = NULL;
        char id[32];
        int r;

        if (id_of(obj, id) < 0 || api_client_cert_path(id, "refresh", &path) < 0)
                return cli_fail(c, "The daemon's answer has no request id."), -EBADMSG;

        r = cli_call(c, "POST", path, NULL, &a);
        if (r < 0)
                return r;
        if (a.status >= 400)
                return cli_report_problem(c, &a), api_status_to_errno(a.status);

        if (results)
                return json_array_append(results, a.body) < 0 ? -ENOMEM : 0;
        printf("Request ID '%s' being refreshed.\n", strempty(json_string_value(json_object_get(obj, "nickname"))));
        fflush(stdout);
        return 0;
}

typedef struct RefreshAll {
        json_t *results;
        bool failed;
} RefreshAll;

static int refresh_page(CliContext *c, json_t *items, int64_t total, void *userdata) {
        RefreshAll *ra = userdata;
        json_t *v;
        size_t i;

        (void) total;
        json_array_foreach(items, i, v) {
                const char *state = json_string_value(json_object_get(v, "state"));

                /* Entries that will not contact the CA again by themselves are left alone. */
                if (!state || streq(state, "MONITORING") || json_is_true(json_object_get(v, "stuck")))
                        continue;
                if (refresh_one(c, v, ra->results) < 0)
                        ra->failed = true;
        }
        return 0;
}

int verb_refresh(CliContext *c, int argc, char *argv[]) {
        _cleanup_(cli_selector_done) CliSelector sel = {};
        json_auto_t *results = NULL;
        bool all = false;
        int r;

        r = parse_selector(c, argc, argv, ":hi:d:n:t:f:k:av",
                           "Asks the daemon to contact the CA now for a request that is waiting, and to read its\n"
                           "files again.\n\n"
                           "  -i NAME            nickname of the request\n"
                           "  -f FILE [-k FILE]  or its certificate (and key) file\n"
                           "  -a, --all          every request that will contact its CA again\n"
                           "  -v, --json\n",
                           &sel, &all);
        if (r <= 0)
                return r < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
        if (!all && !cli_selector_is_set(&sel))
                return cli_fail(c, "Give -i NAME, -f FILE or -a to say which requests, see --help.");

        if (c->json) {
                results = json_array();
                if (!results)
                        return cli_fail(c, "Out of memory.");
        }

        if (all) {
                RefreshAll ra = { .results = results };

                r = cli_list_certs(c, NULL, refresh_page, &ra);
                if (r < 0)
                        return CLI_EXIT_FAILURE;
                if (results && cli_print_json(results) != 0)
                        return CLI_EXIT_FAILURE;
                return ra.failed ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
        }

        {
                json_auto_t *obj = NULL;

                r = cli_selector_find(c, &sel, &obj);
                if (r < 0)
                        return CLI_EXIT_FAILURE;
                if (refresh_one(c, obj, results) < 0)
                        return CLI_EXIT_FAILURE;
        }
        if (results)
                return cli_print_json(json_array_get(results, 0));
        return CLI_EXIT_OK;
}
