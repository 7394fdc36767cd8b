/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>

#include "certkeeperd-database.h"
#include "fs-util.h"
#include "log.h"
#include "string-util.h"

static int restore_from(const char *path, const char *bak, const char *problem) {
        _cleanup_free_ char *moved = NULL, *err = NULL, *bakmsg = NULL;
        int r;

        if (!fs_exists(bak))
                return -ENOENT;
        r = store_file_check(bak, &bakmsg);
        if (r < 0) {
                log_error("Backup '%s' is not usable either: %s", bak, strna(bakmsg));
                return r;
        }
        r = store_file_restore(path, bak, &moved, &err);
        if (r < 0)
                return log_error_errno(r, "Failed to restore '%s' from '%s': %s", path, bak, strna(err));

        log_crit("DATABASE DAMAGED: '%s' failed its integrity check (%s). It was moved aside to '%s' and "
                 "restored from the backup '%s'. Changes made after that backup are lost; check 'certkeeper "
                 "list' and re-add what is missing.",
                 path, problem, strna(moved), bak);
        return 0;
}

static char *damaged_marker(const char *path) {
        return strjoin(path, ".damaged");
}

/* The full check; a damaged file is restored from the newest usable backup, or refused. */
static int check_or_restore(const char *path, const char *bak, const char *bak1) {
        _cleanup_free_ char *msg = NULL;
        int r;

        r = store_file_check(path, &msg);
        if (r >= 0 || r == -ENOTSUP)
                return 0;
        if (r != -EBADMSG)
                return log_error_errno(r, "Failed to check database '%s': %m", path);
        if (restore_from(path, bak, strna(msg)) >= 0 || restore_from(path, bak1, strna(msg)) >= 0)
                return 0;
        log_error("The database '%s' is damaged (%s) and no usable backup exists ('%s', '%s'). The damaged "
                  "file was left as it is. To salvage what can be read, stop here and run 'certkeeper db "
                  "recover' with the same --state-dir; or move the file away to start with an empty database.",
                  path, strna(msg), bak, bak1);
        return -EBADMSG;
}

int database_open(const char *path, bool full_check, Store **ret) {
        _cleanup_free_ char *bak = NULL, *bak1 = NULL, *err = NULL, *marker = NULL;
        int r;

        bak = strjoin(path, ".bak");
        bak1 = strjoin(path, ".bak.1");
        marker = damaged_marker(path);
        if (!bak || !bak1 || !marker)
                return log_oom();

        /* The full check reads the whole file, which takes seconds for a large store: it runs here
         * when asked or when the background check of the last run found damage; otherwise the file
         * is opened at once and checked in the background (database_check_start()). */
        if (fs_exists(marker))
                full_check = true;

        if (fs_exists(path)) {
                if (full_check) {
                        r = check_or_restore(path, bak, bak1);
                        if (r < 0)
                                return r;
                }
        } else if (fs_exists(bak)) {
                /* The database is gone but a backup is there: never start empty over it. */
                if (restore_from(path, bak, "the file is missing") < 0 &&
                    restore_from(path, bak1, "the file is missing") < 0) {
                        log_error("The database '%s' is missing and its backup '%s' is unusable. Move the "
                                  "backups away to start with an empty database.", path, bak);
                        return -EBADMSG;
                }
        }

        r = store_open(path, true, ret, &err);
        if (r == -EBADMSG && !full_check) {
                /* Damaged where even opening notices: do the full check and restore now. */
                log_warning("Database '%s' cannot be opened (%s); checking it in full.", path, strna(err));
                return database_open(path, true, ret);
        }
        if (r < 0)
                return log_error_errno(r, "Failed to open database '%s': %s", path, strna(err));
        (void) unlink(marker);
        return 0;
}

static int exec_self(const char *option, const char *path, pid_t *ret_pid) {
        pid_t pid;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                /* SQLite's state must not cross a fork: run in a fresh image of this program. */
                char *argv[] = { (char *) "certkeeperd", (char *) option, (char *) path, NULL };
                sigset_t all;

                sigemptyset(&all);
                (void) sigprocmask(SIG_SETMASK, &all, NULL);
                (void) close_range(3, ~0U, 0);
                execv("/proc/self/exe", argv);
                fprintf(stderr, "Failed to run certkeeperd %s: %m\n", option);
                _exit(EXIT_FAILURE);
        }
        *ret_pid = pid;
        return 0;
}

int database_check_start(const char *path, pid_t *ret_pid) {
        return exec_self("--check-database", path, ret_pid);
}

int database_check_run(const char *path) {
        _cleanup_free_ char *msg = NULL, *marker = damaged_marker(path);
        int r;

        if (!marker)
                return log_oom();
        r = store_file_check(path, &msg);
        if (r == -EBADMSG) {
                /* Remembered, so that the next start checks in full and restores. */
                if (fs_write_atomic(marker, strna(msg), strlen(strna(msg)), NULL) < 0)
                        log_error("Failed to write '%s'.", marker);
                log_crit("DATABASE DAMAGED: '%s' failed its integrity check: %s", path, strna(msg));
                return DATABASE_CHECK_DAMAGED;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to check database '%s': %s", path, strna(msg));
        return 0;
}

int database_backup_start(const char *path, pid_t *ret_pid) {
        return exec_self("--backup-database", path, ret_pid);
}

int database_backup_run(const char *path) {
        _cleanup_free_ char *bak = strjoin(path, ".bak"), *err = NULL;
        int r;

        if (!bak)
                return log_oom();
        r = store_file_backup(path, bak, &err);
        if (r < 0)
                return log_error_errno(r, "Backup of '%s' failed: %s", path, strna(err));
        return 0;
}
