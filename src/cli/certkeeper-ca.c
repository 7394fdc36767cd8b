/* SPDX-License-Identifier: MIT */
/* add-ca, modify-ca, remove-ca. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "certkeeper-acme-opts.h"
#include "certkeeper-common.h"
#include "string-util.h"

enum {
        ARG_TYPE = _ARG_COMMON_MAX,
        ARG_DEFAULT,
        ARG_NOT_DEFAULT,
        ARG_CONFIG_JSON,
};

typedef struct CaOpts {
        const char *name;
        const char *helper;
        const char *type;
        int is_default;       /* -1 unset */
        json_t *config;
} CaOpts;

static void ca_opts_done(CaOpts *o) {
        json_decref(o->config);
}

static int check_helper(const CliContext *c, const char *cmd) {
        _cleanup_strv_free_ char **argv = NULL;
        int r;

        r = strv_split_shell(cmd, &argv);
        if (r < 0 || strv_length(argv) == 0)
                return cli_fail(c, "Invalid helper command \"%s\": it is empty or has an unterminated quote. Give "
                                "the program and its arguments, e.g. -e '/usr/lib/certmonger/local-submit -d DIR'.",
                                cmd), -EINVAL;
        /* Whether the program exists and can be run is the daemon's to say: it runs it. */
        return 0;
}

static int parse_ca_args(CliContext *c, int argc, char *argv[], const char *shortopts, const char *help, CaOpts *o) {
        static const struct option options[] = {
                CLI_COMMON_LONG_OPTIONS,
                { "ca", required_argument, NULL, 'c' },
                { "command", required_argument, NULL, 'e' },
                { "verbose", no_argument, NULL, 'v' },
                { "type", required_argument, NULL, ARG_TYPE },
                { "default", no_argument, NULL, ARG_DEFAULT },
                { "not-default", no_argument, NULL, ARG_NOT_DEFAULT },
                { "config-json", required_argument, NULL, ARG_CONFIG_JSON },
                CLI_ACME_LONG_OPTIONS,
                {}
        };
        json_auto_t *acme = NULL;
        json_error_t jerr;
        int opt, r;

        *o = (CaOpts) { .is_default = -1 };
        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, shortopts, options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                r = cli_acme_option(c, opt, optarg, &acme);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                switch (opt) {
                case 'h':
                        printf("Usage: %s %s [options]\n%s", c->getcert ? "getcert" : "certkeeper", c->verb, help);
                        if (strchr(shortopts, 'e'))
                                fputs(cli_acme_help, stdout);
                        return 0;
                case 'c':
                        o->name = optarg;
                        break;
                case 'e':
                        if (!strchr(shortopts, 'e'))
                                return cli_bad_option(c, '?', argv), -EINVAL;
                        o->helper = optarg;
                        break;
                case 'v':
                        c->verbose++;
                        break;
                case ARG_TYPE:
                        if (!streq(optarg, "EXTERNAL") && !streq(optarg, "ACME"))
                                return cli_fail(c, "Invalid CA type \"%s\": give EXTERNAL (a certmonger helper) or "
                                                "ACME. INTERNAL:SELF and INTERNAL:LOCAL are built in.", optarg),
                                       -EINVAL;
                        o->type = optarg;
                        break;
                case ARG_DEFAULT:
                        o->is_default = 1;
                        break;
                case ARG_NOT_DEFAULT:
                        o->is_default = 0;
                        break;
                case ARG_CONFIG_JSON:
                        json_decref(o->config);
                        o->config = json_loads(optarg, 0, &jerr);
                        if (!json_is_object(o->config))
                                return cli_fail(c, "Invalid --config-json: %s. Give a JSON object, e.g. "
                                                "'{\"directory\": \"https://...\"}'.",
                                                o->config ? "not an object" : jerr.text), -EINVAL;
                        break;
                default:
                        return cli_bad_option(c, opt, argv), -EINVAL;
                }
        }
        if (acme) {
                /* The ACME options are keys of the CA's config object (over --config-json). */
                if (!o->config)
                        o->config = json_object();
                if (!o->config || json_object_update(o->config, acme) < 0)
                        return cli_fail(c, "Out of memory."), -ENOMEM;
        }
        if (cli_extra_args(c, argc, argv) != 0)
                return -EINVAL;
        if (!o->name)
                return cli_fail(c, c->getcert ? "CA nickname not specified."
                                              : "CA nickname not specified. Give -c NAME."), -EINVAL;
        return 1;
}

int verb_add_ca(CliContext *c, int argc, char *argv[]) {
        _cleanup_(ca_opts_done) CaOpts o = {};
        _cleanup_(api_response_done) ApiResponse a = {};
        json_auto_t *body = NULL;
        const char *type;
        int r;

        r = parse_ca_args(c, argc, argv, ":hc:e:v",
                          "Adds a CA.\n\n"
                          "  -c NAME            name of the new CA\n"
                          "  -e CMD             helper command line (certmonger's helper protocol)\n"
                          "  --type=TYPE        EXTERNAL (default) or ACME\n"
                          "  --default          make it the default CA\n"
                          "  --config-json=JSON type-specific settings\n"
                          "  --json             print the new CA as JSON\n",
                          &o);
        if (r <= 0)
                return r < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;

        type = o.type ?: json_object_get(o.config, "directory") ? "ACME" : "EXTERNAL";
        if (streq(type, "EXTERNAL") && !o.helper)
                return cli_fail(c, c->getcert ? "CA helper command not specified."
                                              : "CA helper command not specified. Give -e COMMAND.");
        if (o.helper && check_helper(c, o.helper) < 0)
                return CLI_EXIT_FAILURE;

        body = json_pack("{s:s,s:s}", "name", o.name, "type", type);
        if (!body)
                return cli_fail(c, "Out of memory.");
        if ((o.helper && json_object_set_new(body, "helper", json_string(o.helper)) < 0) ||
            (o.is_default >= 0 && json_object_set_new(body, "is_default", json_boolean(o.is_default)) < 0) ||
            (o.config && json_object_set(body, "config", o.config) < 0))
                return cli_fail(c, "Out of memory.");

        r = cli_call(c, "POST", "/api/v1/cas", body, &a);
        if (r < 0)
                return CLI_EXIT_FAILURE;
        if (a.status >= 400) {
                /* certmonger's sentence, then why. */
                if (c->getcert && a.status != 409)
                        cli_warn(c, "New CA could not be added.");
                return cli_report_problem(c, &a);
        }
        if (c->json)
                return cli_print_json(a.body);
        printf("New CA \"%s\" added.\n", json_string_value(json_object_get(a.body, "name")) ?: o.name);
        return CLI_EXIT_OK;
}

int verb_modify_ca(CliContext *c, int argc, char *argv[]) {
        _cleanup_(ca_opts_done) CaOpts o = {};
        _cleanup_(api_response_done) ApiResponse a = {};
        _cleanup_free_ char *path = NULL;
        json_auto_t *body = NULL;
        int r;

        r = parse_ca_args(c, argc, argv, ":hc:e:v",
                          "Changes a CA's helper command (and, for certkeeper, its settings).\n\n"
                          "  -c NAME            the CA\n"
                          "  -e CMD             new helper command line\n"
                          "  --default, --not-default, --config-json=JSON\n",
                          &o);
        if (r <= 0)
                return r < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
        if (o.type)
                return cli_fail(c, "The type of a CA cannot change. Remove it and add it again.");
        if (!o.helper && o.is_default < 0 && !o.config)
                return cli_fail(c, c->getcert ? "CA helper command not specified."
                                              : "Nothing to change: give -e COMMAND, --default or --config-json.");
        if (o.helper && check_helper(c, o.helper) < 0)
                return CLI_EXIT_FAILURE;
        if (cli_check_ca(c, o.name) < 0)
                return CLI_EXIT_FAILURE;

        body = json_object();
        if (!body ||
            (o.helper && json_object_set_new(body, "helper", json_string(o.helper)) < 0) ||
            (o.is_default >= 0 && json_object_set_new(body, "is_default", json_boolean(o.is_default)) < 0) ||
            (o.config && json_object_set(body, "config", o.config) < 0) ||
            api_client_ca_path(o.name, &path) < 0)
                return cli_fail(c, "Out of memory.");

        r = cli_call(c, "PATCH", path, body, &a);
        if (r < 0)
                return CLI_EXIT_FAILURE;
        if (a.status >= 400) {
                if (c->getcert)
                        cli_warn(c, "CA could not be modified.");
                return cli_report_problem(c, &a);
        }
        if (c->json)
                return cli_print_json(a.body);
        printf("CA \"%s\" modified.\n", o.name);
        return CLI_EXIT_OK;
}

int verb_remove_ca(CliContext *c, int argc, char *argv[]) {
        _cleanup_(ca_opts_done) CaOpts o = {};
        _cleanup_(api_response_done) ApiResponse a = {};
        _cleanup_free_ char *path = NULL;
        int r;

        r = parse_ca_args(c, argc, argv, ":hc:v",
                          "Removes a CA. Requests that use it go to NEED_CA; the built-in CAs cannot be removed.\n\n"
                          "  -c NAME            the CA\n",
                          &o);
        if (r <= 0)
                return r < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
        if (o.type || o.is_default >= 0 || o.config)
                return cli_fail(c, "remove-ca takes only -c NAME, see --help.");
        if (cli_check_ca(c, o.name) < 0)
                return CLI_EXIT_FAILURE;
        if (api_client_ca_path(o.name, &path) < 0)
                return cli_fail(c, "Out of memory.");

        r = cli_call(c, "DELETE", path, NULL, &a);
        if (r < 0)
                return CLI_EXIT_FAILURE;
        if (a.status == 404)
                return cli_fail(c, "No CA with name \"%s\" found.", o.name);
        if (a.status >= 400)
                /* The reason (built-in CA, ...) is worth more than certmonger's "could not be removed". */
                return cli_report_problem(c, &a);
        if (c->json)
                return cli_print_json(a.body);
        printf("CA \"%s\" removed.\n", o.name);
        return CLI_EXIT_OK;
}

static int refresh_one(CliContext *c, const char *name) {
        _cleanup_(api_response_done) ApiResponse a = {};
        _cleanup_free_ char *path = NULL, *p = NULL;
        int r;

        if (api_client_ca_path(name, &path) < 0 || !(p = strjoin(path, "/refresh")))
                return cli_fail(c, "Out of memory.");
        r = cli_call(c, "POST", p, NULL, &a);
        if (r < 0)
                return CLI_EXIT_FAILURE;
        if (a.status == 404)
                return cli_fail(c, "No CA with name \"%s\" found.", name);
        if (a.status >= 400)
                return cli_report_problem(c, &a);
        if (c->json)
                return cli_print_json(a.body);
        printf("Data for CA '%s' being refreshed.\n", name);
        return CLI_EXIT_OK;
}

int verb_refresh_ca(CliContext *c, int argc, char *argv[]) {
        static const struct option options[] = {
                CLI_COMMON_LONG_OPTIONS,
                { "ca", required_argument, NULL, 'c' },
                { "all", no_argument, NULL, 'a' },
                { "verbose", no_argument, NULL, 'v' },
                {}
        };
        _cleanup_(api_response_done) ApiResponse a = {};
        const char *name = NULL;
        bool all = false;
        json_t *v;
        size_t i;
        int opt, ret = CLI_EXIT_OK;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hc:av", options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                switch (opt) {
                case 'h':
                        printf("Usage: %s refresh-ca [options]\n"
                               "Asks CAs' helpers again for their data (identity, roots, requirements, templates)\n"
                               "and writes the roots to the -F files of their requests.\n\n"
                               "  -c NAME            this CA\n"
                               "  -a, --all          every CA\n",
                               c->getcert ? "getcert" : "certkeeper");
                        return CLI_EXIT_OK;
                case 'c':
                        name = optarg;
                        break;
                case 'a':
                        all = true;
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
        if (!name == !all)
                return cli_fail(c, name ? "Give either -c NAME or -a, not both."
                                        : "CA nickname not specified. Give -c NAME, or -a for every CA.");
        if (name)
                return refresh_one(c, name);

        if (cli_call_checked(c, "GET", "/api/v1/cas", NULL, &a) != CLI_EXIT_OK)
                return CLI_EXIT_FAILURE;
        json_array_foreach(json_object_get(a.body, "items"), i, v) {
                const char *n = json_string_value(json_object_get(v, "name"));
                if (n && refresh_one(c, n) != CLI_EXIT_OK)
                        ret = CLI_EXIT_FAILURE;
        }
        return ret;
}
