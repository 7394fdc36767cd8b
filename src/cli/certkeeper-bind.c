/* SPDX-License-Identifier: MIT */
/* bind, bindings, unbind, deploy: the services a certificate is rebound to on each replacement
 * (docs/BINDINGS.md). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "certkeeper-common.h"
#include "parse-util.h"
#include "string-util.h"

enum {
        ARG_CONFIG = _ARG_COMMON_MAX,
        ARG_TEST_COMMAND,
        ARG_RELOAD_COMMAND,
        ARG_COMMAND,
        ARG_ENDPOINT,
        ARG_PATH,
        ARG_LAYOUT,
        ARG_OWNER,
        ARG_MODE,
        ARG_PASSWORD_FILE,
        ARG_BINDING,
        ARG_NO_ENDPOINT_CHECK,
};

/* The API's field of each option of bind, in the order of the enum. */
static const char *const bind_fields[] = { "config", "test_command", "reload_command", "command", "endpoint",
                                           "path", "layout", "owner", "mode", "password_file" };

/* The options of the verbs that take only -i ID (and the common ones). Returns -1 to go on, or
 * the exit code (after --help or a bad option). */
static int parse_id_only(CliContext *c, int argc, char *argv[], const char *usage, const char **ret_id) {
        static const struct option options[] = { CLI_COMMON_LONG_OPTIONS, {} };
        int opt;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hi:", options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                switch (opt) {
                case 'h':
                        fputs(usage, stdout);
                        return CLI_EXIT_OK;
                case 'i':
                        *ret_id = optarg;
                        break;
                default:
                        return cli_bad_option(c, opt, argv);
                }
        }
        if (cli_extra_args(c, argc, argv) != 0)
                return CLI_EXIT_FAILURE;
        return -1;
}

int verb_bind(CliContext *c, int argc, char *argv[]) {
        static const struct option options[] = {
                CLI_COMMON_LONG_OPTIONS,
                { "config", required_argument, NULL, ARG_CONFIG },
                { "test-command", required_argument, NULL, ARG_TEST_COMMAND },
                { "reload-command", required_argument, NULL, ARG_RELOAD_COMMAND },
                { "command", required_argument, NULL, ARG_COMMAND },
                { "endpoint", required_argument, NULL, ARG_ENDPOINT },
                { "path", required_argument, NULL, ARG_PATH },
                { "layout", required_argument, NULL, ARG_LAYOUT },
                { "owner", required_argument, NULL, ARG_OWNER },
                { "mode", required_argument, NULL, ARG_MODE },
                { "password-file", required_argument, NULL, ARG_PASSWORD_FILE },
                { "no-endpoint-check", no_argument, NULL, ARG_NO_ENDPOINT_CHECK },
                {}
        };
        _cleanup_(api_response_done) ApiResponse a = {};
        _cleanup_free_ char *path = NULL;
        json_auto_t *body = json_object();
        const char *id = NULL;
        int opt, r;

        if (!body)
                return cli_fail(c, "Out of memory.");
        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hi:", options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                switch (opt) {
                case 'h':
                        printf("Usage: certkeeper bind -i ID nginx|apache|haproxy [--config FILE] [--test-command CMD]\n"
                               "                  [--reload-command CMD] [--endpoint HOST:PORT[/SNI]] [--path FILE]\n"
                               "       certkeeper bind -i ID command --command CMD [--test-command CMD]\n"
                               "                  [--endpoint HOST:PORT[/SNI]]\n"
                               "       certkeeper bind -i ID file --path FILE [--layout LAYOUT] [--owner USER[:GROUP]]\n"
                               "                  [--mode MODE] [--password-file FILE] [--test-command CMD]\n"
                               "                  [--reload-command CMD] [--endpoint HOST:PORT[/SNI]]\n"
                               "On each replacement of the certificate, writes the binding's files, tests the\n"
                               "service's configuration, reloads it and checks over TLS that the endpoint serves\n"
                               "the new certificate; on a failure the previous certificate and key are put back.\n\n"
                               "  --config FILE          the service's configuration (defaults: /etc/nginx/nginx.conf,\n"
                               "                         /etc/apache2/apache2.conf, /etc/haproxy/haproxy.cfg)\n"
                               "  --test-command CMD     defaults: nginx -t -q -c FILE, apache2ctl -t -f FILE,\n"
                               "                         haproxy -c -q -f FILE\n"
                               "  --reload-command CMD   defaults: systemctl reload nginx|apache2|haproxy (without\n"
                               "                         systemd: nginx -s reload, apache2ctl graceful)\n"
                               "  --command CMD          command: what to run on each replacement\n"
                               "  --endpoint H:P[/SNI]   where the certificate must be served; something must answer\n"
                               "                         there when the binding is added, unless --no-endpoint-check\n"
                               "  --path FILE            haproxy: the combined PEM (default: beside the key,\n"
                               "                         NAME.haproxy.pem); file: the file written\n"
                               "  --layout LAYOUT        file: cert, chain, fullchain (default), key, combined or\n"
                               "                         pkcs12\n"
                               "  --owner USER[:GROUP]   file: the owner of the file\n"
                               "  --mode MODE            file: octal mode (default 0600 with the key, else 0644)\n"
                               "  --password-file FILE   file, pkcs12: the password is the first line of FILE\n"
                               "                         (absolute), read at each deploy; without it, the\n"
                               "                         PKCS#12 file has an empty password\n");
                        return CLI_EXIT_OK;
                case 'i':
                        id = optarg;
                        break;
                case ARG_CONFIG ... ARG_PASSWORD_FILE:
                        json_object_set_new(body, bind_fields[opt - ARG_CONFIG], json_string(optarg));
                        break;
                case ARG_NO_ENDPOINT_CHECK:
                        json_object_set_new(body, "check_endpoint", json_false());
                        break;
                default:
                        return cli_bad_option(c, opt, argv);
                }
        }
        if (!id)
                return cli_fail(c, "Give the request with -i ID.");
        if (optind + 1 != argc)
                return cli_fail(c, "Give one kind of binding: nginx, apache, haproxy, file or command.");
        json_object_set_new(body, "kind", json_string(argv[optind]));

        if (api_client_cert_path(id, "bindings", &path) < 0)
                return cli_fail(c, "Out of memory.");
        r = cli_call_checked(c, "POST", path, body, &a);
        if (r != CLI_EXIT_OK)
                return r;
        if (c->json)
                return cli_print_json(a.body);
        printf("Binding %" JSON_INTEGER_FORMAT " added to request \"%s\".\n",
               json_integer_value(json_object_get(a.body, "id")), id);
        return CLI_EXIT_OK;
}

int verb_bindings(CliContext *c, int argc, char *argv[]) {
        _cleanup_(api_response_done) ApiResponse a = {};
        _cleanup_free_ char *path = NULL;
        const char *id = NULL;
        json_t *items, *b;
        size_t i;
        int r;

        r = parse_id_only(c, argc, argv,
                          "Usage: certkeeper bindings [-i ID] [--json]\n"
                          "Lists the bindings (of one request with -i) and the last deploy of each.\n", &id);
        if (r >= 0)
                return r;
        if (id ? api_client_cert_path(id, "bindings", &path) < 0 : !(path = strdup("/api/v1/bindings")))
                return cli_fail(c, "Out of memory.");
        r = cli_call_checked(c, "GET", path, NULL, &a);
        if (r != CLI_EXIT_OK)
                return r;
        items = json_object_get(a.body, "items");
        if (c->json)
                return cli_print_json(items);
        json_array_foreach(items, i, b) {
                char when[64] = "never";
                int64_t at = json_integer_value(json_object_get(b, "last_at"));

                if (at > 0)
                        (void) format_timestamp_rfc3339(at, when, sizeof(when));
                printf("Binding %" JSON_INTEGER_FORMAT " (request %" JSON_INTEGER_FORMAT "): %s\n",
                       json_integer_value(json_object_get(b, "id")), json_integer_value(json_object_get(b, "cert_id")),
                       strna(json_string_value(json_object_get(b, "kind"))));
                if (json_string_value(json_object_get(b, "config")))
                        printf("\tconfig: %s\n", json_string_value(json_object_get(b, "config")));
                printf("\ttest command: %s\n", json_string_value(json_object_get(b, "test_command")) ?: "none");
                printf("\treload command: %s\n", json_string_value(json_object_get(b, "reload_command")) ?: "none");
                printf("\tendpoint: %s\n", json_string_value(json_object_get(b, "endpoint")) ?: "none");
                if (json_string_value(json_object_get(b, "path")))
                        printf("\tpath: %s (%s%s%s%s%s)\n", json_string_value(json_object_get(b, "path")),
                               strna(json_string_value(json_object_get(b, "layout"))),
                               json_string_value(json_object_get(b, "owner")) ? ", owner " : "",
                               strempty(json_string_value(json_object_get(b, "owner"))),
                               json_string_value(json_object_get(b, "mode")) ? ", mode " : "",
                               strempty(json_string_value(json_object_get(b, "mode"))));
                if (json_string_value(json_object_get(b, "password_file")))
                        printf("\tpassword file: %s\n", json_string_value(json_object_get(b, "password_file")));
                printf("\tlast deploy: %s at %s\n", json_string_value(json_object_get(b, "last_result")) ?: "none", when);
        }
        return CLI_EXIT_OK;
}

int verb_unbind(CliContext *c, int argc, char *argv[]) {
        static const struct option options[] = {
                CLI_COMMON_LONG_OPTIONS,
                { "binding", required_argument, NULL, ARG_BINDING },
                {}
        };
        _cleanup_(api_response_done) ApiResponse a = {};
        _cleanup_free_ char *path = NULL, *suffix = NULL;
        const char *id = NULL;
        int64_t binding = 0;
        int opt, r;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hi:", options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                switch (opt) {
                case 'h':
                        printf("Usage: certkeeper unbind -i ID [--binding N]\n"
                               "Removes binding N of the request, or all of its bindings.\n");
                        return CLI_EXIT_OK;
                case 'i':
                        id = optarg;
                        break;
                case ARG_BINDING:
                        if (safe_atoi64(optarg, &binding) < 0 || binding <= 0)
                                return cli_fail(c, "--binding is '%s'; give a binding number ('certkeeper bindings').",
                                                optarg);
                        break;
                default:
                        return cli_bad_option(c, opt, argv);
                }
        }
        if (cli_extra_args(c, argc, argv) != 0)
                return CLI_EXIT_FAILURE;
        if (!id)
                return cli_fail(c, "Give the request with -i ID.");
        if (binding > 0 ? asprintf(&suffix, "bindings/%" PRIi64, binding) < 0 : !(suffix = strdup("bindings")))
                return cli_fail(c, "Out of memory.");
        if (api_client_cert_path(id, suffix, &path) < 0)
                return cli_fail(c, "Out of memory.");
        r = cli_call_checked(c, "DELETE", path, NULL, &a);
        if (r != CLI_EXIT_OK)
                return r;
        printf("Removed.\n");
        return CLI_EXIT_OK;
}

int verb_deploy(CliContext *c, int argc, char *argv[]) {
        _cleanup_(api_response_done) ApiResponse a = {};
        _cleanup_free_ char *path = NULL;
        const char *id = NULL;
        int r;

        r = parse_id_only(c, argc, argv,
                          "Usage: certkeeper deploy -i ID\n"
                          "Runs the deploy of the request's current certificate to its bindings again\n"
                          "(test, reload, verify), without issuing. The outcome is event 1103 or 1104\n"
                          "('certkeeper events') and the deploy stage of 'certkeeper list'.\n", &id);
        if (r >= 0)
                return r;
        if (!id)
                return cli_fail(c, "Give the request with -i ID.");
        if (api_client_cert_path(id, "deploy", &path) < 0)
                return cli_fail(c, "Out of memory.");
        r = cli_call_checked(c, "POST", path, NULL, &a);
        if (r != CLI_EXIT_OK)
                return r;
        if (streq_ptr(json_string_value(json_object_get(a.body, "deploy")), "waiting"))
                printf("Deploy queued: waiting for a free worker.\n");
        else
                printf("Deploy started.\n");
        return CLI_EXIT_OK;
}
