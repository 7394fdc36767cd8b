/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "store.h"

/* Opens the daemon's database. With full_check (or when the last background check left the marker
 * PATH.damaged), the whole file is checked first: a damaged file is moved aside and restored from
 * certkeeper.db.bak (or .bak.1), loudly. Without a usable backup it refuses, says what to do, and
 * leaves the damaged file as it is: an empty database is never created over it. */
int database_open(const char *path, bool full_check, Store **ret);

/* The full integrity check in a child process ("certkeeperd --check-database PATH"), started right
 * after start-up so that a large store is ready at once. The child exits with
 * DATABASE_CHECK_DAMAGED (and writes PATH.damaged) if the file is damaged; the daemon then
 * restarts itself to restore it. */
#define DATABASE_CHECK_DAMAGED 3
int database_check_start(const char *path, pid_t *ret_pid);
int database_check_run(const char *path);

/* Backs the database up to path.bak (the previous copy kept as path.bak.1) in a child process, so
 * the event loop never waits for it. Returns the child's pid. */
int database_backup_start(const char *path, pid_t *ret_pid);

/* The backup itself (in the child started above): path -> path.bak, keeping path.bak.1. */
int database_backup_run(const char *path);
