/* SPDX-License-Identifier: MIT */
/* db check|backup|restore|recover: works on the database file directly, not through the daemon. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "certkeeper-common.h"
#include "config.h"
#include "fs-util.h"
#include "store.h"
#include "string-util.h"

enum {
        ARG_OUTPUT = _ARG_COMMON_MAX,
        ARG_FROM,
};

static const char db_help[] =
        "Works on the database file directly.\n\n"
        "  check              integrity check\n"
        "  backup             consistent copy to certkeeper.db.bak (the previous one kept as .bak.1)\n"
        "  restore            put the backup back in place (the daemon must be stopped); the current\n"
        "                     file is moved aside\n"
        "  recover            salvage what can be read from a damaged database into a new one and put\n"
        "                     it in place (the daemon must be stopped); the damaged file is moved aside\n\n"
        "  --state-dir=DIR    state directory (default $CERTKEEPER_STATE_DIR or " DEFAULT_STATE_DIR ")\n"
        "  --output=FILE      backup: write here; recover: write here and leave the database alone\n"
        "  --from=FILE        restore: the backup to use (default certkeeper.db.bak)\n";

/* Refuses while the daemon runs: it has the database open. */
static int refuse_if_running(CliContext *c, const char *what) {
        ApiEndpoint e = {};
        bool alive;

        if (api_endpoint_load(c->run_dir, &e, NULL) < 0)
                return 0;
        alive = api_endpoint_pid_alive(&e);
        if (alive)
                (void) cli_fail(c, "certkeeperd is running (pid %" PRIi64 ") and has the database open: stop it first "
                                "(systemctl stop certkeeperd), then run 'certkeeper db %s' again.", e.pid, what);
        api_endpoint_done(&e);
        return alive ? -EBUSY : 0;
}

static int move_aside(const char *from, const char *to) {
        if (rename(from, to) < 0)
                return errno == ENOENT ? 0 : -errno;
        return 1;
}

static int do_recover_in_place(CliContext *c, const char *path) {
        _cleanup_free_ char *dest = NULL, *aside = NULL, *err = NULL;
        char stamp[32];
        struct tm tm;
        time_t now = time(NULL);
        unsigned rows = 0;
        int r;

        if (!gmtime_r(&now, &tm) || strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
                return cli_fail(c, "Cannot read the clock.");
        dest = strjoin(path, ".recovered-", stamp);
        aside = strjoin(path, ".corrupt-", stamp);
        if (!dest || !aside)
                return cli_fail(c, "Out of memory.");

        r = store_file_recover(path, dest, &rows, &err);
        if (r < 0)
                return cli_fail(c, "Recovery of '%s' failed: %s", path, err ?: strerror(-r));

        /* Move the damaged file aside together with its WAL, which must never be applied to the new file. */
        static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                _cleanup_free_ char *f = strjoin(path, suffixes[i]), *t = strjoin(aside, suffixes[i]);

                if (!f || !t)
                        return cli_fail(c, "Out of memory.");
                r = move_aside(f, t);
                if (r < 0)
                        return cli_fail(c, "Failed to move '%s' aside: %s. The salvaged database is in '%s'.", f,
                                        strerror(-r), dest);
        }
        if (rename(dest, path) < 0)
                return cli_fail(c, "Failed to move '%s' to '%s': %s. Move it by hand; the damaged file is '%s'.",
                                dest, path, strerror(errno), aside);
        r = fs_fsync_parent(path);
        if (r < 0)
                return cli_fail(c, "Failed to sync the directory of '%s': %s.", path, strerror(-r));

        printf("Recovered %u rows from '%s' into a new database in its place. The damaged file was moved "
               "to '%s'. Start certkeeperd and check 'certkeeper list'.\n", rows, path, aside);
        return CLI_EXIT_OK;
}

int verb_db(CliContext *c, int argc, char *argv[]) {
        static const struct option options[] = {
                CLI_COMMON_LONG_OPTIONS,
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "output", required_argument, NULL, ARG_OUTPUT },
                { "from", required_argument, NULL, ARG_FROM },
                { "verbose", no_argument, NULL, 'v' },
                {}
        };
        _cleanup_free_ char *path = NULL, *bak = NULL, *msg = NULL, *err = NULL, *moved = NULL;
        const char *output = NULL, *from = NULL, *sub;
        int opt, r;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hv", options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                switch (opt) {
                case 'h':
                        printf("Usage: certkeeper db check|backup|restore|recover [options]\n%s", db_help);
                        return CLI_EXIT_OK;
                case 'v':
                        c->verbose++;
                        break;
                case ARG_STATE_DIR:
                        c->state_dir = optarg;
                        break;
                case ARG_OUTPUT:
                        output = optarg;
                        break;
                case ARG_FROM:
                        from = optarg;
                        break;
                default:
                        return cli_bad_option(c, opt, argv);
                }
        }
        if (optind >= argc)
                return cli_fail(c, "Missing action: give check, backup, restore or recover, see --help.");
        sub = argv[optind++];
        if (cli_extra_args(c, argc, argv) != 0)
                return CLI_EXIT_FAILURE;

        path = strjoin(c->state_dir, "/certkeeper.db");
        if (!path)
                return cli_fail(c, "Out of memory.");

        if (streq(sub, "check")) {
                r = store_file_check(path, &msg);
                if (r == -ENOENT)
                        return cli_fail(c, "There is no database at '%s'. Give the right --state-dir.", path);
                if (r == -EBADMSG)
                        return cli_fail(c, "Database '%s' is damaged: %s (Stop certkeeperd before 'certkeeper db "
                                        "restore' or 'certkeeper db recover'.)", path,
                                        msg ?: "the integrity check failed.");
                if (r < 0)
                        return cli_fail(c, "Cannot check '%s': %s", path, msg ?: strerror(-r));
                if (c->json) {
                        json_auto_t *j = json_pack("{s:s,s:s}", "database", path, "status", "ok");
                        return j ? cli_print_json(j) : CLI_EXIT_FAILURE;
                }
                printf("Database '%s': ok.\n", path);
                return CLI_EXIT_OK;
        }

        if (streq(sub, "backup")) {
                bak = output ? strdup(output) : strjoin(path, ".bak");
                if (!bak)
                        return cli_fail(c, "Out of memory.");
                r = store_file_backup(path, bak, &err);
                if (r < 0)
                        return cli_fail(c, "Backup of '%s' failed: %s", path, err ?: strerror(-r));
                printf("Database '%s' backed up to '%s'.\n", path, bak);
                return CLI_EXIT_OK;
        }

        if (streq(sub, "restore")) {
                if (refuse_if_running(c, "restore") < 0)
                        return CLI_EXIT_FAILURE;
                bak = from ? strdup(from) : strjoin(path, ".bak");
                if (!bak)
                        return cli_fail(c, "Out of memory.");
                r = store_file_restore(path, bak, &moved, &err);
                if (r < 0)
                        return cli_fail(c, "Restore of '%s' failed: %s", path, err ?: strerror(-r));
                if (moved)
                        printf("Database '%s' restored from '%s'. The previous file was moved to '%s'.\n", path, bak,
                               moved);
                else
                        printf("Database '%s' restored from '%s'.\n", path, bak);
                return CLI_EXIT_OK;
        }

        if (streq(sub, "recover")) {
                unsigned rows = 0;

                if (output) {
                        r = store_file_recover(path, output, &rows, &err);
                        if (r < 0)
                                return cli_fail(c, "Recovery of '%s' failed: %s", path, err ?: strerror(-r));
                        printf("Recovered %u rows from '%s' into '%s'.\n", rows, path, output);
                        return CLI_EXIT_OK;
                }
                if (refuse_if_running(c, "recover") < 0)
                        return CLI_EXIT_FAILURE;
                return do_recover_in_place(c, path);
        }

        return cli_fail(c, "Unknown action '%s' for 'db': give check, backup, restore or recover, see --help.", sub);
}
