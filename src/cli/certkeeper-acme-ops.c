/* SPDX-License-Identifier: MIT */
/* The verbs that ask an ACME CA something and wait for its answer: revoke (one certificate) and
 * acme-account (the account key's rollover, deactivation, the contact). The daemon answers once the
 * CA has; the answer, or the CA's words, are printed. */
#include <getopt.h>
#include <stdio.h>

#include "certkeeper-common.h"
#include "string-util.h"

/* Prints the CA's refusal (or why the operation could not be made) and returns CLI_EXIT_FAILURE. */
static int report(CliContext *c, const ApiResponse *a, const char *what) {
        const char *detail = json_string_value(json_object_get(a->body, "detail"));

        if (a->status == 502)
                return cli_fail(c, "The CA refused or did not answer the %s: %s", what, strna(detail));
        return cli_report_problem(c, a);
}

int verb_revoke(CliContext *c, int argc, char *argv[]) {
        enum { ARG_REASON = _ARG_COMMON_MAX };
        static const struct option options[] = {
                CLI_COMMON_LONG_OPTIONS,
                { "reason", required_argument, NULL, ARG_REASON },
                {}
        };
        _cleanup_(cli_selector_done) CliSelector sel = {};
        _cleanup_(api_response_done) ApiResponse a = {};
        _cleanup_free_ char *path = NULL;
        json_auto_t *obj = NULL, *body = NULL;
        const char *reason = NULL, *nickname, *serial;
        int opt, r;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hi:d:n:t:f:k:", options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                r = cli_selector_option(c, &sel, opt, optarg);
                if (r < 0)
                        return CLI_EXIT_FAILURE;
                if (r > 0)
                        continue;
                switch (opt) {
                case 'h':
                        printf("Usage: certkeeper revoke -i NAME [--reason REASON]\n"
                               "Asks the request's ACME CA to revoke its current certificate, with the CA's account\n"
                               "key, and waits for the answer. The certificate stays in place and tracked: get a new\n"
                               "one with rekey (or resubmit).\n\n"
                               "  -i NAME            nickname of the request\n"
                               "  -f FILE [-k FILE]  or its certificate (and key) file\n"
                               "  --reason REASON    a CRLReason: unspecified, keyCompromise, affiliationChanged,\n"
                               "                     superseded, cessationOfOperation (or its number); default: none\n");
                        return CLI_EXIT_OK;
                case ARG_REASON:
                        reason = optarg;
                        break;
                default:
                        return cli_bad_option(c, opt, argv);
                }
        }
        if (cli_extra_args(c, argc, argv) != 0)
                return CLI_EXIT_FAILURE;
        if (!cli_selector_is_set(&sel))
                return cli_fail(c, "Give -i NAME or -f FILE to say which certificate to revoke, see --help.");

        r = cli_selector_find(c, &sel, &obj);
        if (r < 0)
                return CLI_EXIT_FAILURE;
        nickname = json_string_value(json_object_get(obj, "nickname"));
        body = json_pack("{s:s*}", "reason", reason);
        if (!body || api_client_cert_path(strempty(nickname), "/revoke", &path) < 0)
                return cli_fail(c, "Out of memory.");
        r = cli_call(c, "POST", path, body, &a);
        if (r < 0)
                return CLI_EXIT_FAILURE;
        if (a.status >= 400)
                return report(c, &a, "revocation");
        if (c->json)
                return cli_print_json(a.body);

        reason = json_string_value(json_object_get(a.body, "reason"));
        serial = json_string_value(json_object_get(a.body, "serial"));
        printf("The certificate of '%s' (serial %s) was revoked by CA '%s'%s%s%s.\n"
               "It stays in place and tracked: run 'certkeeper rekey -i %s' for a new key and certificate.\n",
               strna(nickname), strna(serial), strna(json_string_value(json_object_get(a.body, "ca"))),
               reason ? " (reason " : "", strempty(reason), reason ? ")" : "", strna(nickname));
        return CLI_EXIT_OK;
}

int verb_acme_account(CliContext *c, int argc, char *argv[]) {
        enum { ARG_ROLLOVER = _ARG_COMMON_MAX, ARG_DEACTIVATE, ARG_EMAIL };
        static const struct option options[] = {
                CLI_COMMON_LONG_OPTIONS,
                { "ca", required_argument, NULL, 'c' },
                { "rollover", no_argument, NULL, ARG_ROLLOVER },
                { "deactivate", no_argument, NULL, ARG_DEACTIVATE },
                { "email", required_argument, NULL, ARG_EMAIL },
                {}
        };
        _cleanup_(api_response_done) ApiResponse a = {};
        _cleanup_free_ char *path = NULL, *p = NULL;
        json_auto_t *body = NULL;
        const char *name = NULL, *action = NULL, *email = NULL;
        unsigned n_actions = 0;
        int opt, r;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hc:", options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                switch (opt) {
                case 'h':
                        printf("Usage: certkeeper acme-account -c CA --rollover | --deactivate | --email ADDR\n"
                               "Changes the account that certkeeper holds at an ACME CA, and waits for the CA's answer.\n\n"
                               "  -c CA              the ACME CA\n"
                               "  --rollover         a new account key of the same type; the previous one is kept\n"
                               "                     as account.key.old beside it\n"
                               "  --deactivate       ends the account for good: the CA then refuses its key, and\n"
                               "                     orders wait for a person until the key is removed\n"
                               "  --email ADDR       the account's contact (\"\" for none); the CA's setting follows\n");
                        return CLI_EXIT_OK;
                case 'c':
                        name = optarg;
                        break;
                case ARG_ROLLOVER:
                        action = "rollover";
                        n_actions++;
                        break;
                case ARG_DEACTIVATE:
                        action = "deactivate";
                        n_actions++;
                        break;
                case ARG_EMAIL:
                        action = "update";
                        email = optarg;
                        n_actions++;
                        break;
                default:
                        return cli_bad_option(c, opt, argv);
                }
        }
        if (cli_extra_args(c, argc, argv) != 0)
                return CLI_EXIT_FAILURE;
        if (!name)
                return cli_fail(c, "CA nickname not specified. Give -c NAME.");
        if (n_actions != 1)
                return cli_fail(c, "Give exactly one of --rollover, --deactivate or --email ADDR.");

        body = json_pack("{s:s, s:s*}", "action", action, "email", email);
        if (!body || api_client_ca_path(name, &path) < 0 || !(p = strjoin(path, "/account")))
                return cli_fail(c, "Out of memory.");
        r = cli_call(c, "POST", p, body, &a);
        if (r < 0)
                return CLI_EXIT_FAILURE;
        if (a.status == 404)
                return cli_fail(c, "No CA with name \"%s\" found.", name);
        if (a.status >= 400)
                return report(c, &a, "account change");
        if (c->json)
                return cli_print_json(a.body);
        printf("CA '%s': %s.\n", name, strna(json_string_value(json_object_get(a.body, "message"))));
        return CLI_EXIT_OK;
}
