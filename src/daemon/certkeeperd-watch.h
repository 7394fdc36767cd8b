/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "time-util.h"

/* Outside changes to the files of tracked certificates, seen with inotify. The directories are
 * watched, not the files, so that a file replaced by a rename (how careful tools write) is seen
 * as well as one written in place or removed; events are matched to the files by name. A burst of
 * changes to one certificate's files ends in one report, once nothing changed for the settle
 * delay. Knows nothing of the manager: certkeeperd-watch.c's manager_watch_*() use it. */
typedef struct FileWatch FileWatch;

int file_watch_new(usec_t settle, FileWatch **ret) _warn_unused_result_;
FileWatch *file_watch_free(FileWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(FileWatch *, file_watch_free);

/* The inotify fd, for the manager's epoll (EPOLLIN). */
int file_watch_fd(const FileWatch *w);

/* An owner that is due, with the flags of the files that changed (or'ed), and those given to
 * file_watch_delay(). */
typedef struct FileWatchDue {
        int64_t owner;
        unsigned flags;
        usec_t at;
} FileWatchDue;

/* Replacing the set of files: begin, add each (the owner's id, flags of the caller's choosing, its
 * path), end. Directories no
 * longer needed stop being watched. A directory that cannot be watched (missing, no permission)
 * is skipped: -errno of the last such failure is returned by file_watch_end(), which still
 * applies the rest. */
void file_watch_begin(FileWatch *w);
int file_watch_add(FileWatch *w, int64_t owner, unsigned flags, const char *path) _warn_unused_result_;
int file_watch_end(FileWatch *w);

/* Set in the flags of an owner that busy() said was busy when one of its files changed. */
#define FILE_WATCH_BUSY (1U << 31)

/* Reads what inotify has; owners whose files changed are due after the settle delay. busy (may be
 * NULL) tells whether an owner is writing its files itself right now. */
int file_watch_process(FileWatch *w, usec_t now, bool (*busy)(int64_t owner, void *userdata), void *userdata);
/* Owners due at now (their settle delay passed), in *ret (malloc'd, n in *ret_n); they are
 * removed from the due set. */
int file_watch_take_due(FileWatch *w, usec_t now, FileWatchDue **ret, size_t *ret_n) _warn_unused_result_;
/* Makes an owner due again after the settle delay, with more flags (for one whose files are being
 * written by a job of ours right now). */
int file_watch_delay(FileWatch *w, int64_t owner, unsigned flags, usec_t now) _warn_unused_result_;
/* Drops an owner's pending report, if any (its files are about to be read anyway). */
void file_watch_forget(FileWatch *w, int64_t owner);
/* Whether a watched directory went away (it is no longer watched) since the last call. */
bool file_watch_take_lost(FileWatch *w);
/* Time until file_watch_take_due() has something, USEC_INFINITY if nothing is pending. */
usec_t file_watch_timeout(const FileWatch *w, usec_t now);
