/* SPDX-License-Identifier: MIT */
#pragma once

#include <getopt.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "api-client.h"
#include "macro.h"
#include "time-util.h"

/* State shared by the verbs of the CLI. */
typedef struct CliContext {
        bool getcert;          /* started as "getcert": certmonger's words and formats */
        bool json;             /* --json: print the API's JSON */
        int verbose;           /* -v */
        const char *run_dir;   /* --run-dir, $CERTKEEPER_RUN_DIR or DEFAULT_RUN_DIR */
        const char *state_dir; /* --state-dir, $CERTKEEPER_STATE_DIR or DEFAULT_STATE_DIR */
        const char *verb;
        ApiClient *api;        /* connected on first use */
} CliContext;

/* Exit codes. getcert status and -w use 0-5 of certmonger (certkeeper-format.h). */
#define CLI_EXIT_OK 0
#define CLI_EXIT_FAILURE 1

/* Long options every verb takes, and their values. */
enum {
        ARG_JSON = 0x100,
        ARG_RUN_DIR,
        ARG_STATE_DIR,
        _ARG_COMMON_MAX,
};

#define CLI_COMMON_LONG_OPTIONS                                              \
        { "json", no_argument, NULL, ARG_JSON },                             \
        { "run-dir", required_argument, NULL, ARG_RUN_DIR },                 \
        { "help", no_argument, NULL, 'h' }

/* The long options of a request selector, read by cli_selector_option(). */
#define CLI_SELECTOR_LONG_OPTIONS                                            \
        { "id", required_argument, NULL, 'i' },                              \
        { "dbdir", required_argument, NULL, 'd' },                           \
        { "nickname", required_argument, NULL, 'n' },                        \
        { "token", required_argument, NULL, 't' },                           \
        { "certfile", required_argument, NULL, 'f' },                        \
        { "keyfile", required_argument, NULL, 'k' }

/* Handles a common option. Returns 1 if it was one of them, 0 if not. */
int cli_common_option(CliContext *c, int opt, const char *arg);

/* Reports a getopt failure ('?' or ':') in one line that names the option and says "see --help".
 * Returns CLI_EXIT_FAILURE. */
int cli_bad_option(const CliContext *c, int opt, char *const argv[]);
/* Parses the options of a verb that takes only the common ones and leaves optind at the first
 * argument. Returns -1 to go on, or the exit code after --help (which prints usage) or a bad option. */
int cli_parse_common_options(CliContext *c, int argc, char *argv[], const char *usage);
/* Refuses extra positional arguments. Returns CLI_EXIT_FAILURE. */
int cli_extra_args(const CliContext *c, int argc, char *const argv[]);

/* Prints an error: to stdout in the getcert personality (as certmonger does), to stderr
 * otherwise. Returns CLI_EXIT_FAILURE. */
int cli_fail(const CliContext *c, const char *fmt, ...) _printf_(2, 3);
/* Prints a warning on stderr (certkeeper) or stdout (getcert). */
void cli_warn(const CliContext *c, const char *fmt, ...) _printf_(2, 3);

/* Calls the daemon; connects on first use. Returns 0 when an HTTP answer came (any status), or a
 * negative errno after printing why the daemon could not be reached. */
int cli_call(CliContext *c, const char *method, const char *path, json_t *body, ApiResponse *ret);
/* Prints the error of an answer with status >= 400 and returns CLI_EXIT_FAILURE. */
int cli_report_problem(const CliContext *c, const ApiResponse *a);

/* Calls the daemon and prints why when it cannot be reached or answers with status >= 400.
 * Returns CLI_EXIT_OK for an answer below 400, CLI_EXIT_FAILURE otherwise. */
int cli_call_checked(CliContext *c, const char *method, const char *path, json_t *body, ApiResponse *ret);

/* Prints JSON on stdout, indented. Returns CLI_EXIT_OK or CLI_EXIT_FAILURE. */
int cli_print_json(json_t *j);

/* Makes a file path absolute (with certmonger's warning) and checks that its directory exists and
 * is writable. Prints and returns negative errno on failure. */
int cli_file_path(const CliContext *c, const char *arg, char **ret);

/* Called by cli_list_certs() with each page of certificate objects (a JSON array, borrowed: it is
 * freed once the callback returns) as soon as the page arrives. total is the daemon's "total" of the
 * first page. Returns 0 to go on, a positive value to stop early (cli_list_certs() returns it), or a
 * negative errno to stop with that error (the callback prints it). */
typedef int (*CliListPageFunc)(CliContext *c, json_t *items, int64_t total, void *userdata);

/* Fetches every certificate object, a page of up to 10000 (the API's maximum) at a time, and hands
 * each page to f before the next is fetched, so memory does not grow with the number of
 * certificates. query is appended to the URL ("ca=x&..."), may be NULL. Returns 0 after the last
 * page, what f returned if it stopped early, or a negative errno (printed). */
int cli_list_certs(CliContext *c, const char *query, CliListPageFunc f, void *userdata);

/* The same without building JSON objects: f gets each page's bytes, checked and located by
 * cli_list_page_scan() (certkeeper-format.h), valid only during the call. For list --json, which
 * copies the items through; jansson needs about 0.5 s to build the objects of a 10000-item page. */
typedef struct CliListPage CliListPage;
typedef int (*CliListRawFunc)(CliContext *c, const CliListPage *page, int64_t total, void *userdata);
int cli_list_certs_raw(CliContext *c, const char *query, CliListRawFunc f, void *userdata);

/* Finds one request by nickname/id, or by certificate file (and key file). -ENOENT (not printed)
 * if there is no such request; other errors printed. certfile and keyfile must be absolute. */
int cli_find_request(CliContext *c, const char *id, const char *certfile, const char *keyfile, json_t **ret);

/* How getcert names one request: -i NAME, or -f CERTFILE [-k KEYFILE]. -d/-n/-t (NSS) are refused. */
typedef struct CliSelector {
        const char *id;
        char *certfile;   /* absolute */
        char *keyfile;    /* absolute */
} CliSelector;

void cli_selector_done(CliSelector *s);
/* Handles -i, -f, -k, -d, -n, -t. Returns 1 if handled, 0 if not a selector option, negative errno
 * (printed) on a bad value. */
int cli_selector_option(const CliContext *c, CliSelector *s, int opt, const char *arg);
bool cli_selector_is_set(const CliSelector *s);
/* Finds the request; prints "No request found that matched arguments." if there is none. */
int cli_selector_find(CliContext *c, const CliSelector *s, json_t **ret);
/* The message for -d/-n/-t. Returns CLI_EXIT_FAILURE. */
int cli_refuse_nss(const CliContext *c);
/* A path made absolute with certmonger's warning, no other check. */
int cli_absolute_path(const CliContext *c, const char *arg, char **ret);

/* Makes sure a CA exists: prints 'No CA with name "X" found.' and returns -ENOENT otherwise. */
int cli_check_ca(CliContext *c, const char *name);

/* Polls the request every 50-100 ms until it reaches a final state (cli_state_is_final) or timeout
 * (0 = none) passes. Prints "State X, stuck: Y." for every change when print_changes. Returns the
 * getcert status code (0-5), or 1 if the request vanished or the daemon could not be reached. */
int cli_wait(CliContext *c, const char *id, usec_t timeout, bool print_changes);

/* Parses "--wait-timeout" values: seconds or a duration ("90s", "5m"). */
int cli_parse_timeout(const CliContext *c, const char *arg, usec_t *ret);

/* The verbs. Each returns the process exit code. argv[0] is the verb. */
int verb_request(CliContext *c, int argc, char *argv[]);
int verb_start_tracking(CliContext *c, int argc, char *argv[]);
int verb_resubmit(CliContext *c, int argc, char *argv[]);
int verb_rekey(CliContext *c, int argc, char *argv[]);
int verb_stop_tracking(CliContext *c, int argc, char *argv[]);
int verb_refresh(CliContext *c, int argc, char *argv[]);
int verb_list(CliContext *c, int argc, char *argv[]);
int verb_list_cas(CliContext *c, int argc, char *argv[]);
int verb_status(CliContext *c, int argc, char *argv[]);
int verb_add_ca(CliContext *c, int argc, char *argv[]);
int verb_modify_ca(CliContext *c, int argc, char *argv[]);
int verb_remove_ca(CliContext *c, int argc, char *argv[]);
int verb_refresh_ca(CliContext *c, int argc, char *argv[]);
int verb_db(CliContext *c, int argc, char *argv[]);
int verb_doctor(CliContext *c, int argc, char *argv[]);
int verb_revoke(CliContext *c, int argc, char *argv[]);
int verb_acme_account(CliContext *c, int argc, char *argv[]);
int verb_events(CliContext *c, int argc, char *argv[]);
int verb_export(CliContext *c, int argc, char *argv[]);
/* certkeeper-bind.c */
int verb_bind(CliContext *c, int argc, char *argv[]);
int verb_bindings(CliContext *c, int argc, char *argv[]);
int verb_unbind(CliContext *c, int argc, char *argv[]);
int verb_deploy(CliContext *c, int argc, char *argv[]);
int verb_subscribe(CliContext *c, int argc, char *argv[]);
int verb_subscriptions(CliContext *c, int argc, char *argv[]);
int verb_unsubscribe(CliContext *c, int argc, char *argv[]);
