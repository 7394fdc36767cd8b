/* SPDX-License-Identifier: MIT */
#pragma once

#include <sys/types.h>

#include "store.h"

/* Opens the daemon's database with the start-up integrity check: a damaged file is moved aside and
 * restored from certkeeper.db.bak (or .bak.1), loudly. Without a usable backup it refuses, says what
 * to do, and leaves the damaged file as it is: an empty database is never created over it. */
int database_open(const char *path, Store **ret);

/* Backs the database up to path.bak (the previous copy kept as path.bak.1) in a child process, so
 * the event loop never waits for it. Returns the child's pid. */
int database_backup_start(const char *path, pid_t *ret_pid);

/* The backup itself (in the child started above): path -> path.bak, keeping path.bak.1. */
int database_backup_run(const char *path);
