/* SPDX-License-Identifier: MIT */
/* certkeeper (and getcert): main(), global options, the verb table. */
#include <errno.h>
#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certkeeper-common.h"
#include "config.h"
#include "log.h"
#include "string-util.h"

typedef struct Verb {
        const char *name;
        int (*run)(CliContext *c, int argc, char *argv[]);
        const char *help;
} Verb;

static int verb_version(CliContext *c, int argc, char *argv[]);

static const Verb verbs[] = {
        { "request", verb_request, "ask a CA for a new certificate and track it" },
        { "start-tracking", verb_start_tracking, "track an existing certificate, or modify a request (-i)" },
        { "stop-tracking", verb_stop_tracking, "stop tracking a request (files are kept)" },
        { "resubmit", verb_resubmit, "new signing request with the same key, submitted again" },
        { "rekey", verb_rekey, "new key pair and new certificate" },
        { "refresh", verb_refresh, "contact the CA now for a waiting request" },
        { "revoke", verb_revoke, "have an ACME CA revoke a request's certificate" },
        { "list", verb_list, "list requests and tracked certificates" },
        { "status", verb_status, "state of one request as an exit code (-w waits)" },
        { "list-cas", verb_list_cas, "list the CAs" },
        { "add-ca", verb_add_ca, "add a CA (-c NAME -e COMMAND)" },
        { "modify-ca", verb_modify_ca, "change a CA's helper command" },
        { "remove-ca", verb_remove_ca, "remove a CA" },
        { "acme-account", verb_acme_account, "roll over, deactivate or update an ACME CA's account" },
        { "refresh-ca", verb_refresh_ca, "fetch a CA's roots, requirements and templates again (-c NAME or -a)" },
        { "events", verb_events, "lifecycle events: installed, replaced, expiring, failed, ... (--since, --id, --cert)" },
        { "bind", verb_bind, "rebind a service on each renewal: nginx or a command, verified over TLS" },
        { "bindings", verb_bindings, "list bindings and their last deploy (-i ID)" },
        { "unbind", verb_unbind, "remove a request's bindings (-i ID [--binding N])" },
        { "export", verb_export, "write a certificate (and chain, key) to a file, PEM or PKCS#12 (-i ID --out FILE)" },
        { "deploy", verb_deploy, "deploy the current certificate to its bindings again (-i ID)" },
        { "subscribe", verb_subscribe, "deliver events to a command or a webhook, at least once (--command, --webhook)" },
        { "subscriptions", verb_subscriptions, "list the subscriptions to events, their cursors and last results" },
        { "unsubscribe", verb_unsubscribe, "remove a subscription to events" },
        { "db", verb_db, "check, backup, restore or recover the database file" },
        { "doctor", verb_doctor, "explain what keeps a client from the daemon" },
        { "version", verb_version, "client and daemon versions" },
};

static void help(const CliContext *c) {
        const char *prog = c->getcert ? "getcert" : "certkeeper";

        printf("%s - certificate lifecycle manager client\n\n"
               "Usage: %s [global options] VERB [options]\n\n"
               "Verbs:\n", prog, prog);
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                printf("  %-16s %s\n", verbs[i].name, verbs[i].help);
        printf("\nGlobal options:\n"
               "  --run-dir=DIR      runtime directory of certkeeperd (default $CERTKEEPER_RUN_DIR or %s)\n"
               "  --state-dir=DIR    state directory, for db and doctor (default $CERTKEEPER_STATE_DIR or %s)\n"
               "  --json             print the API's JSON\n"
               "  -v, --verbose      more details\n"
               "  --version          print the version\n\n"
               "'%s VERB --help' describes each verb. See %s(1).\n",
               DEFAULT_RUN_DIR, DEFAULT_STATE_DIR, prog, "certkeeper");
}

static int verb_version(CliContext *c, int argc, char *argv[]) {
        _cleanup_(api_client_freep) ApiClient *api = NULL;
        _cleanup_(api_response_done) ApiResponse a = {};
        _cleanup_free_ char *err = NULL;
        const char *daemon = NULL;
        int r;

        r = cli_parse_common_options(c, argc, argv,
                                     "Usage: certkeeper version [--json]\nPrints the client's version and, when it "
                                     "answers, the daemon's.\n");
        if (r >= 0)
                return r;
        if (cli_extra_args(c, argc, argv) != 0)
                return CLI_EXIT_FAILURE;

        /* The daemon is optional here: no error when it is not running. */
        if (api_client_new(c->run_dir, API_TRANSPORT_AUTO, &api, &err) >= 0 &&
            api_client_call(api, "GET", "/api/v1/system/version", NULL, &a, &err) >= 0 && a.status == 200)
                daemon = json_string_value(json_object_get(a.body, "version"));

        if (c->json) {
                json_auto_t *j = json_pack("{s:s,s:s?}", "client", PACKAGE_VERSION, "daemon", daemon);

                return j ? cli_print_json(j) : CLI_EXIT_FAILURE;
        }
        printf("certkeeper %s\n", PACKAGE_VERSION);
        if (daemon)
                printf("certkeeperd %s\n", daemon);
        else if (c->verbose)
                printf("certkeeperd: not reachable (%s)\n", err ?: "no answer");
        return CLI_EXIT_OK;
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "run-dir", required_argument, NULL, ARG_RUN_DIR },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "json", no_argument, NULL, ARG_JSON },
                { "verbose", no_argument, NULL, 'v' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        CliContext c = {};
        const char *base;
        int opt, r;

        setlocale(LC_ALL, "");
        log_open("certkeeper", LOG_TARGET_STDERR, true);

        base = argv[0] ? strrchr(argv[0], '/') : NULL;
        base = base ? base + 1 : (argv[0] ?: "certkeeper");
        c.getcert = streq(base, "getcert") || startswith(base, "getcert.");
        c.verb = "certkeeper";
        c.run_dir = getenv("CERTKEEPER_RUN_DIR");
        if (isempty(c.run_dir))
                c.run_dir = DEFAULT_RUN_DIR;
        c.state_dir = getenv("CERTKEEPER_STATE_DIR");
        if (isempty(c.state_dir))
                c.state_dir = DEFAULT_STATE_DIR;

        opterr = 0;
        while ((opt = getopt_long(argc, argv, "+:hv", options, NULL)) >= 0) {
                switch (opt) {
                case 'h':
                        help(&c);
                        return CLI_EXIT_OK;
                case 'V':
                        printf("certkeeper %s\n", PACKAGE_VERSION);
                        return CLI_EXIT_OK;
                case 'v':
                        c.verbose++;
                        break;
                case ARG_RUN_DIR:
                        c.run_dir = optarg;
                        break;
                case ARG_STATE_DIR:
                        c.state_dir = optarg;
                        break;
                case ARG_JSON:
                        c.json = true;
                        break;
                default:
                        return cli_bad_option(&c, opt, argv);
                }
        }

        if (optind >= argc) {
                help(&c);
                return CLI_EXIT_FAILURE;
        }

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                if (!streq(argv[optind], verbs[i].name))
                        continue;
                c.verb = verbs[i].name;
                if (c.verbose > 1)
                        log_set_max_level(LOG_DEBUG);
                r = verbs[i].run(&c, argc - optind, argv + optind);
                c.api = api_client_free(c.api);
                fflush(stdout);
                return r;
        }

        if (c.getcert)
                return cli_fail(&c, "Unknown command '%s', see --help.", argv[optind]);
        return cli_fail(&c, "Unknown verb '%s', see --help.", argv[optind]);
}
