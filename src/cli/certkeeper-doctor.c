/* SPDX-License-Identifier: MIT */
/* doctor: explains why a client cannot reach the daemon, and checks permissions and the database. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "certkeeper-common.h"
#include "store.h"
#include "string-util.h"

typedef struct Doctor {
        unsigned failed;
        json_t *checks; /* --json */
} Doctor;

static void report(Doctor *d, bool ok, const char *check, const char *hint, const char *fmt, ...) _printf_(5, 6);

static void report(Doctor *d, bool ok, const char *check, const char *hint, const char *fmt, ...) {
        char text[1024];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);

        if (!ok)
                d->failed++;

        if (d->checks) {
                json_t *o = json_pack("{s:s,s:b,s:s}", "check", check, "ok", ok, "message", text);

                if (o && hint && !ok)
                        (void) json_object_set_new(o, "hint", json_string(hint));
                if (o)
                        (void) json_array_append_new(d->checks, o);
                return;
        }

        printf("%-4s  %s\n", ok ? "ok" : "FAIL", text);
        if (!ok && hint)
                printf("      -> %s\n", hint);
}

static int unix_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -EBADF;

        if (strlen(path) >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (const struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        return 0;
}

static void check_api(Doctor *d, CliContext *c, ApiTransport t, const char *check, const char *where) {
        _cleanup_(api_client_freep) ApiClient *api = NULL;
        _cleanup_(api_response_done) ApiResponse a = {};
        _cleanup_free_ char *err = NULL;
        int r;

        r = api_client_new(c->run_dir, t, &api, &err);
        if (r >= 0)
                r = api_client_call(api, "GET", "/api/system/appversion", NULL, &a, &err);
        if (r < 0) {
                report(d, false, check, t == API_TRANSPORT_TCP && (r == -EACCES || r == -ENOENT)
                                ? "Read the token as root, or use the Unix socket."
                                : "Check that certkeeperd runs and listens there (journalctl -u certkeeperd).",
                       "API at %s does not answer: %s", where, err ?: strerror(-r));
                return;
        }
        if (a.status == 403) {
                report(d, false, check, "Run as root, or add your user to the admin_group of certkeeper.conf.",
                       "API at %s refuses you (HTTP 403): %s", where, strna(a.detail));
                return;
        }
        if (a.status == 401) {
                report(d, false, check, "The token file does not match the running daemon: restart certkeeperd.",
                       "API at %s rejects the bearer token (HTTP 401)", where);
                return;
        }
        if (a.status != 200 || !json_is_string(a.body)) {
                report(d, false, check, "Another program may be using that address; stop it or change the port.",
                       "API at %s answers HTTP %ld without a version: is that certkeeperd?", where, a.status);
                return;
        }
        report(d, true, check, NULL, "API at %s answers (version %s)", where, json_string_value(a.body));
}

static void check_state_dir(Doctor *d, const char *dir) {
        struct stat st;

        if (stat(dir, &st) < 0) {
                report(d, false, "state-dir", "Start certkeeperd once to create it, or give --state-dir DIR.",
                       "State directory '%s': %s", dir, strerror(errno));
                return;
        }
        if (!S_ISDIR(st.st_mode)) {
                report(d, false, "state-dir", "Move the file away; certkeeperd needs a directory there.",
                       "State directory '%s' is not a directory", dir);
                return;
        }
        if (st.st_mode & (S_IWGRP | S_IWOTH)) {
                report(d, false, "state-dir", "chmod go-w on it: it holds private keys and the API token.",
                       "State directory '%s' is writable by group or others (mode %04o)", dir,
                       (unsigned) (st.st_mode & 07777));
                return;
        }
        if (st.st_mode & S_IROTH) {
                report(d, false, "state-dir", "chmod o-rwx on it: it holds private keys and the API token.",
                       "State directory '%s' is readable by everyone (mode %04o)", dir,
                       (unsigned) (st.st_mode & 07777));
                return;
        }
        report(d, true, "state-dir", NULL, "State directory '%s' (mode %04o, owner uid %u)", dir,
               (unsigned) (st.st_mode & 07777), (unsigned) st.st_uid);
}

static void check_database(Doctor *d, const char *dir) {
        _cleanup_free_ char *path = strjoin(dir, "/certkeeper.db"), *msg = NULL;
        int r;

        if (!path)
                return;
        r = store_file_check(path, &msg);
        if (r == -ENOENT)
                report(d, false, "database", "Start certkeeperd once to create it, or give --state-dir DIR.",
                       "No database at '%s'", path);
        else if (r == -EACCES)
                report(d, false, "database", "Run 'certkeeper doctor' as root to check the database.",
                       "Database '%s' is not readable by you", path);
        else if (r < 0)
                report(d, false, "database",
                       "Stop certkeeperd, then 'certkeeper db restore' (last backup) or 'certkeeper db recover'.",
                       "Database '%s' failed its integrity check: %s", path, msg ?: strerror(-r));
        else
                report(d, true, "database", NULL, "Database '%s' passes its integrity check", path);
}

int verb_doctor(CliContext *c, int argc, char *argv[]) {
        static const struct option options[] = {
                CLI_COMMON_LONG_OPTIONS,
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "verbose", no_argument, NULL, 'v' },
                {}
        };
        ApiEndpoint e = {};
        Doctor d = {};
        struct stat st;
        int opt, r;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hv", options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                switch (opt) {
                case 'h':
                        printf("Usage: certkeeper doctor [--run-dir=DIR] [--state-dir=DIR] [--json]\n"
                               "Checks that the daemon runs and can be reached, the permissions of its files and\n"
                               "the integrity of the database; says what to do about each problem.\n"
                               "Exit code 0 if every check passed, 1 otherwise.\n");
                        return CLI_EXIT_OK;
                case 'v':
                        c->verbose++;
                        break;
                case ARG_STATE_DIR:
                        c->state_dir = optarg;
                        break;
                default:
                        return cli_bad_option(c, opt, argv);
                }
        }
        if (cli_extra_args(c, argc, argv) != 0)
                return CLI_EXIT_FAILURE;

        if (c->json) {
                d.checks = json_array();
                if (!d.checks)
                        return cli_fail(c, "Out of memory.");
        }

        {
                _cleanup_free_ char *err = NULL;

                r = api_endpoint_load(c->run_dir, &e, &err);
                if (r < 0)
                        report(&d, false, "api-json", "Start certkeeperd (systemctl start certkeeperd), or give "
                               "--run-dir DIR / CERTKEEPER_RUN_DIR if it runs elsewhere.", "%s", err ?: strerror(-r));
                else
                        report(&d, true, "api-json", NULL, "Endpoint file '%s/api.json' read", c->run_dir);
        }

        if (r >= 0) {
                if (api_endpoint_pid_alive(&e))
                        report(&d, true, "daemon", NULL, "certkeeperd is running (pid %" PRIi64 ")", e.pid);
                else
                        report(&d, false, "daemon", "Start it (systemctl start certkeeperd) and look at its log "
                               "(journalctl -u certkeeperd) if it stops again.",
                               "certkeeperd is not running (pid %" PRIi64 " in api.json is gone)", e.pid);

                if (e.socket_path) {
                        if (stat(e.socket_path, &st) < 0)
                                report(&d, false, "socket", "Restart certkeeperd to create the socket; check that "
                                       "nothing removes files under the runtime directory.",
                                       "Socket '%s': %s", e.socket_path, strerror(errno));
                        else if (!S_ISSOCK(st.st_mode))
                                report(&d, false, "socket", "Remove that file and restart certkeeperd.",
                                       "'%s' is not a socket", e.socket_path);
                        else if ((st.st_mode & 0666) != 0666)
                                report(&d, false, "socket", "Restart certkeeperd; callers are checked by their "
                                       "credentials, so the socket itself should be mode 0666.",
                                       "Socket '%s' has mode %04o", e.socket_path, (unsigned) (st.st_mode & 07777));
                        else {
                                r = unix_connect(e.socket_path);
                                if (r < 0)
                                        report(&d, false, "socket", "The daemon that made it is gone: restart "
                                               "certkeeperd.", "Socket '%s' does not accept connections: %s",
                                               e.socket_path, strerror(-r));
                                else {
                                        report(&d, true, "socket", NULL, "Socket '%s' accepts connections",
                                               e.socket_path);
                                        check_api(&d, c, API_TRANSPORT_UNIX, "socket-api", e.socket_path);
                                }
                        }
                }

                if (e.tcp) {
                        if (e.token_file && access(e.token_file, R_OK) < 0)
                                report(&d, false, "token", "Run as root to use TCP, or use the Unix socket.",
                                       "Token file '%s' is not readable by you: %s", e.token_file, strerror(errno));
                        else if (e.token_file && stat(e.token_file, &st) >= 0 && (st.st_mode & 0077))
                                report(&d, false, "token", "chmod 0600 on it: anyone who reads it controls "
                                       "certkeeper.", "Token file '%s' has mode %04o", e.token_file,
                                       (unsigned) (st.st_mode & 07777));
                        else if (e.token_file)
                                report(&d, true, "token", NULL, "Token file '%s' is private", e.token_file);
                        check_api(&d, c, API_TRANSPORT_TCP, "tcp-api", e.tcp);
                }
        }

        check_state_dir(&d, c->state_dir);
        check_database(&d, c->state_dir);

        api_endpoint_done(&e);

        if (d.checks) {
                json_auto_t *o = json_pack("{s:o,s:b}", "checks", d.checks, "ok", d.failed == 0);

                if (!o)
                        return CLI_EXIT_FAILURE;
                (void) cli_print_json(o);
        } else if (d.failed == 0)
                printf("All checks passed.\n");
        else
                printf("%u check%s failed.\n", d.failed, d.failed == 1 ? "" : "s");

        return d.failed == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}
