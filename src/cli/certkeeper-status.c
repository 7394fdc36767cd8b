/* SPDX-License-Identifier: MIT */
/* status [-w]: the state of one request as an exit code (certmonger's 0-5). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "certkeeper-common.h"
#include "certkeeper-format.h"
#include "string-util.h"

enum {
        ARG_WAIT_TIMEOUT = _ARG_COMMON_MAX,
};

int verb_status(CliContext *c, int argc, char *argv[]) {
        static const struct option options[] = {
                CLI_COMMON_LONG_OPTIONS,
                CLI_SELECTOR_LONG_OPTIONS,
                { "wait", no_argument, NULL, 'w' },
                { "wait-timeout", required_argument, NULL, ARG_WAIT_TIMEOUT },
                { "verbose", no_argument, NULL, 'v' },
                {}
        };
        _cleanup_(cli_selector_done) CliSelector sel = {};
        json_auto_t *obj = NULL;
        usec_t timeout = 0;
        bool wait = false;
        const char *state;
        bool stuck;
        char id[32];
        int opt, r;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hi:d:n:t:f:k:wv", options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                switch (opt) {
                case 'h':
                        printf("Usage: %s status [options]\n"
                               "Tells the state of a request in the exit code: 0 issued (MONITORING), 1 no such\n"
                               "request or no daemon, 2 rejected by the CA, 3 CA unreachable, 4 needs configuration\n"
                               "(NEED_GUIDANCE, CA_UNCONFIGURED, NEED_CA), 5 in progress or waiting for the CA.\n\n"
                               "  -i NAME or -f FILE   the request\n"
                               "  -w                   wait until the request is done, printing each state\n"
                               "  --wait-timeout=SECS  wait at most this long\n"
                               "  -v                   print the state\n"
                               "  --json               print the request as JSON\n",
                               c->getcert ? "getcert" : "certkeeper");
                        return CLI_EXIT_OK;
                case 'w':
                        wait = true;
                        break;
                case ARG_WAIT_TIMEOUT:
                        wait = true;
                        if (cli_parse_timeout(c, optarg, &timeout) < 0)
                                return CLI_EXIT_FAILURE;
                        break;
                case 'v':
                        c->verbose++;
                        break;
                case '?':
                case ':':
                        return cli_bad_option(c, opt, argv);
                default:
                        r = cli_selector_option(c, &sel, opt, optarg);
                        if (r < 0)
                                return CLI_EXIT_FAILURE;
                        if (r == 0)
                                return cli_bad_option(c, '?', argv);
                }
        }
        if (cli_extra_args(c, argc, argv) != 0)
                return CLI_EXIT_FAILURE;
        if (!cli_selector_is_set(&sel))
                return cli_fail(c, "Give -i NAME or -f FILE to say which request, see --help.");

        r = cli_selector_find(c, &sel, &obj);
        if (r < 0)
                return CLI_EXIT_FAILURE;

        (void) snprintf(id, sizeof(id), "%" PRIi64, (int64_t) json_integer_value(json_object_get(obj, "id")));

        if (wait) {
                r = cli_wait(c, id, timeout, !c->json && (c->verbose > 0 || !c->getcert));
                if (c->json && r != CLI_EXIT_FAILURE) {
                        json_auto_t *now = NULL;

                        if (cli_find_request(c, id, NULL, NULL, &now) >= 0)
                                (void) cli_print_json(now);
                }
                return r;
        }

        state = json_string_value(json_object_get(obj, "state"));
        stuck = json_is_true(json_object_get(obj, "stuck"));

        if (c->json)
                (void) cli_print_json(obj);
        else if (c->verbose > 0 || !c->getcert) {
                const char *err = json_string_value(json_object_get(obj, "ca_error"));

                printf("State %s, stuck: %s.\n", strempty(state), stuck ? "yes" : "no");
                if (!c->getcert && !isempty(err))
                        printf("ca-error: %s\n", err);
        }
        return cli_status_code(state, stuck);
}
