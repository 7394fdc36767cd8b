/* SPDX-License-Identifier: MIT */
/* subscribe, subscriptions, unsubscribe: commands and webhooks that get the lifecycle events
 * (docs/EVENTS.md), each from its own cursor, at least once. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "certkeeper-common.h"
#include "fs-util.h"
#include "json-get.h"
#include "string-util.h"

enum {
        ARG_COMMAND = _ARG_COMMON_MAX,
        ARG_WEBHOOK,
        ARG_SECRET_FILE,
        ARG_EVENT,
        ARG_CERT,
        ARG_NAME,
};

#define SECRET_MAX 4096

/* The secret is the file's first line; it goes to the daemon, which keeps it in its database. */
static int read_secret(const CliContext *c, const char *path, char **ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = fs_read_file(path, SECRET_MAX, &s, NULL);
        if (r < 0)
                return cli_fail(c, "Cannot read the secret file '%s': %s.", path, strerror(-r));
        s[strcspn(s, "\r\n")] = '\0';
        if (isempty(s))
                return cli_fail(c, "The secret file '%s' is empty: put a long random string in it, for example "
                                "with: openssl rand -hex 32 > %s", path, path);
        *ret = TAKE_PTR(s);
        return 0;
}

int verb_subscribe(CliContext *c, int argc, char *argv[]) {
        static const struct option options[] = {
                CLI_COMMON_LONG_OPTIONS,
                { "command", required_argument, NULL, ARG_COMMAND },
                { "webhook", required_argument, NULL, ARG_WEBHOOK },
                { "secret-file", required_argument, NULL, ARG_SECRET_FILE },
                { "event", required_argument, NULL, ARG_EVENT },
                { "cert", required_argument, NULL, ARG_CERT },
                { "name", required_argument, NULL, ARG_NAME },
                {}
        };
        _cleanup_(api_response_done) ApiResponse a = {};
        _cleanup_free_ char *secret = NULL;
        json_auto_t *body = json_object(), *events = json_array();
        const char *command = NULL, *url = NULL, *secret_file = NULL, *cert = NULL, *name = NULL;
        int opt, r;

        if (!body || !events)
                return cli_fail(c, "Out of memory.");
        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hi:", options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                switch (opt) {
                case 'h':
                        printf("Usage: certkeeper subscribe --command CMD | --webhook URL --secret-file FILE\n"
                               "                            [--event ID ...] [--cert ID|NICK] [--name NAME]\n"
                               "Delivers each lifecycle event from now on, at least once, to a command (run with\n"
                               "the event in CERTKEEPER_* environment variables) or a webhook (a JSON POST signed\n"
                               "with HMAC-SHA256 of the secret). Failures are retried with backoff.\n\n"
                               "  --command=CMD      run this command line for each event\n"
                               "  --webhook=URL      POST each event to this http:// or https:// URL\n"
                               "  --secret-file=FILE the webhook's signing key: the file's first line\n"
                               "  --event=ID         only this event, a number (1001) or a name (replaced);\n"
                               "                     may be given several times\n"
                               "  --cert=ID|NICK     only this certificate's events (-i NICK)\n"
                               "  --name=NAME        the subscription's name (default: command-N, webhook-N)\n");
                        return CLI_EXIT_OK;
                case ARG_COMMAND:
                        command = optarg;
                        break;
                case ARG_WEBHOOK:
                        url = optarg;
                        break;
                case ARG_SECRET_FILE:
                        secret_file = optarg;
                        break;
                case ARG_EVENT:
                        if (json_array_append_new(events, json_string(optarg)) < 0)
                                return cli_fail(c, "Out of memory.");
                        break;
                case 'i':
                case ARG_CERT:
                        cert = optarg;
                        break;
                case ARG_NAME:
                        name = optarg;
                        break;
                default:
                        return cli_bad_option(c, opt, argv);
                }
        }
        if (cli_extra_args(c, argc, argv) != 0)
                return CLI_EXIT_FAILURE;
        if (!command == !url)
                return cli_fail(c, "Give either --command CMD or --webhook URL.");
        if (url && !secret_file)
                return cli_fail(c, "A webhook needs --secret-file FILE: its requests are signed with that secret.");
        if (command && secret_file)
                return cli_fail(c, "--secret-file is only for webhooks.");
        if (secret_file) {
                r = read_secret(c, secret_file, &secret);
                if (r != 0)
                        return CLI_EXIT_FAILURE;
        }

        if (json_object_set_new(body, command ? "command" : "url", json_string(command ?: url)) < 0 ||
            (secret && json_object_set_new(body, "secret", json_string(secret)) < 0) ||
            (name && json_object_set_new(body, "name", json_string(name)) < 0) ||
            (cert && json_object_set_new(body, "cert", json_string(cert)) < 0) ||
            (json_array_size(events) > 0 && json_object_set(body, "events", events) < 0))
                return cli_fail(c, "Out of memory.");

        if (cli_call_checked(c, "POST", "/api/v1/subscriptions", body, &a) != CLI_EXIT_OK)
                return CLI_EXIT_FAILURE;
        if (c->json)
                return cli_print_json(a.body);
        printf("Subscription '%s' added.\n", strna(jstr(a.body, "name")));
        return CLI_EXIT_OK;
}

static void print_subscription(json_t *s) {
        char when[64] = "-";
        int64_t next = json_integer_value(json_object_get(s, "next_attempt_at"));
        json_t *events = json_object_get(s, "events"), *e;
        size_t i;

        printf("%s:\n", strna(jstr(s, "name")));
        if (jstr(s, "url"))
                printf("\twebhook: %s\n", jstr(s, "url"));
        else
                printf("\tcommand: %s\n", strna(jstr(s, "command")));
        printf("\tevents: ");
        if (json_array_size(events) == 0)
                printf("all");
        json_array_foreach(events, i, e)
                printf("%s%" JSON_INTEGER_FORMAT, i > 0 ? "," : "", json_integer_value(e));
        printf("\n");
        if (json_integer_value(json_object_get(s, "cert_id")) > 0)
                printf("\tcertificate: %" JSON_INTEGER_FORMAT "\n", json_integer_value(json_object_get(s, "cert_id")));
        printf("\tcursor: %" JSON_INTEGER_FORMAT "\n", json_integer_value(json_object_get(s, "cursor")));
        printf("\tdelivered: %" JSON_INTEGER_FORMAT "\n", json_integer_value(json_object_get(s, "delivered")));
        if (json_integer_value(json_object_get(s, "attempts")) > 0) {
                (void) format_timestamp_rfc3339(next, when, sizeof(when));
                printf("\tlast result: failed (%" JSON_INTEGER_FORMAT " attempts): %s\n",
                       json_integer_value(json_object_get(s, "attempts")), strna(jstr(s, "last_error")));
                printf("\tnext attempt: %s\n", when);
        } else if (json_integer_value(json_object_get(s, "last_delivered_at")) > 0) {
                (void) format_timestamp_rfc3339(json_integer_value(json_object_get(s, "last_delivered_at")), when,
                                                sizeof(when));
                printf("\tlast result: delivered at %s\n", when);
        } else
                printf("\tlast result: none yet\n");
        if (json_is_true(json_object_get(s, "in_flight")))
                printf("\tdelivery in progress\n");
}

int verb_subscriptions(CliContext *c, int argc, char *argv[]) {
        _cleanup_(api_response_done) ApiResponse a = {};
        json_t *items, *s;
        size_t i;
        int r;

        r = cli_parse_common_options(c, argc, argv,
                                     "Usage: certkeeper subscriptions [--json]\n"
                                     "Lists the subscriptions to lifecycle events: each one's target, filters, cursor\n"
                                     "(the last event delivered), and the result of its last delivery.\n");
        if (r >= 0)
                return r;
        if (cli_extra_args(c, argc, argv) != 0)
                return CLI_EXIT_FAILURE;

        if (cli_call_checked(c, "GET", "/api/v1/subscriptions", NULL, &a) != CLI_EXIT_OK)
                return CLI_EXIT_FAILURE;
        items = json_object_get(a.body, "items");
        if (!json_is_array(items))
                return cli_fail(c, "The daemon's answer has no list of subscriptions.");
        if (c->json)
                return cli_print_json(items);
        json_array_foreach(items, i, s)
                print_subscription(s);
        return CLI_EXIT_OK;
}

int verb_unsubscribe(CliContext *c, int argc, char *argv[]) {
        _cleanup_(api_response_done) ApiResponse a = {};
        _cleanup_free_ char *esc = NULL, *path = NULL;
        int r;

        r = cli_parse_common_options(c, argc, argv,
                                     "Usage: certkeeper unsubscribe NAME\n"
                                     "Removes a subscription to lifecycle events; a delivery under way finishes.\n");
        if (r >= 0)
                return r;
        if (optind != argc - 1)
                return cli_fail(c, "Give the name of one subscription (see certkeeper subscriptions).");

        if (api_client_escape(argv[optind], &esc) < 0 || asprintf(&path, "/api/v1/subscriptions/%s", esc) < 0)
                return cli_fail(c, "Out of memory.");
        if (cli_call_checked(c, "DELETE", path, NULL, &a) != CLI_EXIT_OK)
                return CLI_EXIT_FAILURE;
        if (c->json)
                return cli_print_json(a.body);
        printf("Subscription '%s' removed.\n", argv[optind]);
        return CLI_EXIT_OK;
}
