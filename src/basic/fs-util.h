/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "macro.h"

/* Owner and mode to apply to a written file. uid/gid (uid_t)-1 means "leave as is". mode 0 means
 * the default given by the caller. For the fs_* writers below (attrs NULL or mode 0) that default
 * is 0600, whatever the umask; an explicit mode is applied exactly, also regardless of the umask. */
typedef struct FileAttrs {
        mode_t mode;
        uid_t uid;
        gid_t gid;
} FileAttrs;

#define FILE_ATTRS(m) ((FileAttrs) { .mode = (m), .uid = (uid_t) -1, .gid = (gid_t) -1 })

/* The suffix of a staged file: written durably beside its target, renamed over it later. */
#define FS_STAGED_SUFFIX ".ck-new"

int fs_mkdir_p(const char *path, mode_t mode) _warn_unused_result_;

/* Reads a whole file; fails with -EFBIG if it is larger than max bytes. The result is NUL-terminated. */
int fs_read_file(const char *path, size_t max, char **ret, size_t *ret_len) _warn_unused_result_;

/* The largest password file read by fs_read_password_file(). */
#define FS_PASSWORD_FILE_MAX 4096U

/* A password kept in a file: the first line (without its line end) of path, at most
 * FS_PASSWORD_FILE_MAX bytes. -ENODATA if that line is empty. Free *ret with erase_freep(). */
int fs_read_password_file(const char *path, char **ret) _warn_unused_result_;

/* fsync()s the directory holding path. */
int fs_fsync_parent(const char *path) _warn_unused_result_;

/* Atomic, durable write: a temporary file in the same directory (created O_EXCL, mode applied
 * before any data is written), fsync, rename over path, fsync of the directory. */
int fs_write_atomic(const char *path, const void *data, size_t len, const FileAttrs *attrs) _warn_unused_result_;

/* Same as fs_write_atomic() but to path FS_STAGED_SUFFIX, without touching path itself. The staged
 * file is durable when this returns. */
int fs_stage(const char *path, const void *data, size_t len, const FileAttrs *attrs) _warn_unused_result_;

/* Batched durability: stage and commit without any fsync, then make a whole batch of files and
 * renames durable with one fs_syncfs() per file system (syncfs(2) on the directory of path). A
 * batch written this way is durable only after fs_syncfs() returned 0. */
int fs_stage_unsynced(const char *path, const void *data, size_t len, const FileAttrs *attrs) _warn_unused_result_;
int fs_commit_staged_unsynced(const char *path) _warn_unused_result_;
int fs_syncfs(const char *path) _warn_unused_result_;

/* Returns a newly allocated "path" FS_STAGED_SUFFIX. */
char *fs_staged_path(const char *path);

/* Renames the staged file of path over path and fsyncs the directory. -ENOENT if nothing is staged. */
int fs_commit_staged(const char *path) _warn_unused_result_;

/* Copies path (if it exists) into archive_dir as "<prefix>-<UTC timestamp>-<basename>", durably,
 * keeping its mode. Returns 0 if path did not exist, 1 if archived. ret_archived (optional) gets the
 * archive path. */
int fs_archive(const char *path, const char *archive_dir, const char *prefix, char **ret_archived)
        _warn_unused_result_;

/* Creates a file exclusively (O_EXCL) with the given mode and writes data to it durably. Used for
 * private keys and tokens that must never be created world-readable, not even for an instant. */
int fs_create_exclusive(const char *path, const void *data, size_t len, const FileAttrs *attrs)
        _warn_unused_result_;

/* Checks that a file could be written at path: its directory exists and is writable by us.
 * Returns 0 or -errno (-ENOENT, -EACCES, -ENOTDIR). */
int fs_check_writable(const char *path) _warn_unused_result_;

/* Makes path absolute against the current directory. */
int fs_path_absolute(const char *path, char **ret) _warn_unused_result_;

bool fs_exists(const char *path);

/* Removes the temporary files a writer of path (or of its staged file) left when it was killed
 * (".BASE.ck-tmp-XXXXXX" beside it). Only for a caller that is the sole writer of path. Returns
 * the number removed or -errno. */
int fs_remove_stale_temps(const char *path);
/* The same for several paths, reading each of their directories once. */
int fs_remove_stale_temps_many(char *const *paths);
