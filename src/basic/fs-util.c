/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs-util.h"
#include "string-util.h"

#define DEFAULT_FILE_MODE 0600
#define ARCHIVE_MAX_SUFFIX 1000

/* Splits path into its directory and its last component, without basename()/dirname() (which may
 * modify their argument). Trailing slashes are ignored. "foo" is in ".", "/foo" in "/". */
static int path_split(const char *path, char **ret_dir, char **ret_base) {
        _cleanup_free_ char *dir = NULL, *base = NULL;
        size_t n;
        const char *slash;

        if (isempty(path))
                return -EINVAL;

        n = strlen(path);
        while (n > 1 && path[n - 1] == '/')
                n--;

        slash = NULL;
        for (size_t i = n; i > 0; i--)
                if (path[i - 1] == '/') {
                        slash = path + i - 1;
                        break;
                }

        if (!slash) {
                dir = strdup(".");
                base = strndup(path, n);
        } else {
                size_t dlen = (size_t) (slash - path);

                /* Collapse the slashes between directory and name; keep a lone "/" for the root. */
                while (dlen > 1 && path[dlen - 1] == '/')
                        dlen--;
                dir = dlen == 0 ? strdup("/") : strndup(path, dlen);
                base = strndup(slash + 1, n - (size_t) (slash + 1 - path));
        }
        if (!dir || !base)
                return -ENOMEM;
        if (isempty(base) || streq(base, "/"))
                return -EINVAL;

        if (ret_dir)
                *ret_dir = TAKE_PTR(dir);
        if (ret_base)
                *ret_base = TAKE_PTR(base);
        return 0;
}

static int fsync_directory(const char *dir) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fsync(fd) < 0)
                return negative_errno();

        return 0;
}

static int write_all(int fd, const void *data, size_t len) {
        const char *p = data;

        while (len > 0) {
                ssize_t n = write(fd, p, len);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        return -EIO;

                p += n;
                len -= (size_t) n;
        }

        return 0;
}

int fs_mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = NULL;
        size_t n;

        if (isempty(path))
                return -EINVAL;

        p = strdup(path);
        if (!p)
                return -ENOMEM;

        n = strlen(p);
        /* Walk the components: each '/' after a name ends a prefix that must be a directory. */
        for (size_t i = 1; i <= n; i++) {
                struct stat st;
                char saved;

                if (i < n && p[i] != '/')
                        continue;
                if (p[i - 1] == '/')
                        continue;

                saved = p[i];
                p[i] = '\0';

                if (mkdir(p, mode) < 0) {
                        if (errno != EEXIST)
                                return negative_errno();
                        if (stat(p, &st) < 0)
                                return negative_errno();
                        if (!S_ISDIR(st.st_mode))
                                return -ENOTDIR;
                }

                p[i] = saved;
        }

        return 0;
}

int fs_read_file(const char *path, size_t max, char **ret, size_t *ret_len) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        size_t len = 0, allocated = 0;
        struct stat st;

        if (isempty(path) || !ret)
                return -EINVAL;
        /* Room for one byte past max and the NUL must be addressable. */
        max = MIN(max, SIZE_MAX - 2);

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (S_ISREG(st.st_mode) && (uint64_t) st.st_size > max)
                return -EFBIG;

        for (;;) {
                ssize_t n;

                /* Always keep room for one byte beyond max, to notice a file that grew past it, and
                 * for the terminating NUL. */
                if (len + 1 >= allocated) {
                        size_t a = allocated == 0 ? MIN(max + 2, (size_t) 4096) : MIN(allocated * 2, max + 2);
                        char *b;

                        /* Files in /proc and /sys report size 0: start small then. */
                        if (S_ISREG(st.st_mode) && st.st_size > 0 && allocated == 0)
                                a = MIN((size_t) st.st_size + 2, max + 2);
                        if (a <= allocated)
                                return -EFBIG;

                        b = realloc(buf, a);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                        allocated = a;
                }

                n = read(fd, buf + len, allocated - len - 1);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        break;

                len += (size_t) n;
                if (len > max)
                        return -EFBIG;
        }

        buf[len] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_len)
                *ret_len = len;
        return 0;
}

int fs_read_password_file(const char *path, char **ret) {
        char *p = NULL;
        size_t len = 0, line;
        int r;

        if (!ret)
                return -EINVAL;
        r = fs_read_file(path, FS_PASSWORD_FILE_MAX, &p, &len);
        if (r < 0)
                return r;
        /* The rest of the file goes too: only the first line is the password. */
        line = strcspn(p, "\r\n");
        explicit_bzero(p + line, len - line);
        if (line == 0) {
                free(p);
                return -ENODATA;
        }
        *ret = p;
        return 0;
}

int fs_fsync_parent(const char *path) {
        _cleanup_free_ char *dir = NULL;
        int r;

        r = path_split(path, &dir, NULL);
        if (r < 0)
                return r;

        return fsync_directory(dir);
}

/* A temporary file beside its target, created O_EXCL with mode 0600 by mkostemp() and then given
 * its final owner and mode before any data is written, so that it is never more accessible than
 * the target will be. */
typedef struct TempFile {
        int fd;
        char *path;
        char *dir;
} TempFile;

#define TEMP_FILE_NULL ((TempFile) { .fd = -EBADF })

static void temp_file_done(TempFile *t) {
        if (t->fd >= 0)
                (void) close(t->fd);
        t->fd = -EBADF;
        if (t->path) {
                (void) unlink(t->path);
                free(t->path);
                t->path = NULL;
        }
        free(t->dir);
        t->dir = NULL;
}

/* Owner, then mode (chown first: it may clear set-id bits that the mode wants), on a new file
 * before any data is written to it. */
static int apply_attrs(int fd, const FileAttrs *attrs, mode_t mode) {
        if (attrs && (attrs->uid != (uid_t) -1 || attrs->gid != (gid_t) -1) && fchown(fd, attrs->uid, attrs->gid) < 0)
                return negative_errno();
        if (fchmod(fd, mode & 07777) < 0)
                return negative_errno();
        return 0;
}

static int temp_file_create(const char *target, const FileAttrs *attrs, mode_t default_mode, TempFile *ret) {
        _cleanup_free_ char *dir = NULL, *base = NULL, *tmpl = NULL;
        _cleanup_close_ int fd = -EBADF;
        mode_t mode = attrs && attrs->mode != 0 ? attrs->mode : default_mode;
        int r;

        r = path_split(target, &dir, &base);
        if (r < 0)
                return r;

        /* Hidden, so that globs over the directory (e.g. "*.pem" in a hook) do not pick it up. */
        tmpl = strjoin(dir, "/.", base, ".ck-tmp-XXXXXX");
        if (!tmpl)
                return -ENOMEM;

        fd = mkostemp(tmpl, O_CLOEXEC);
        if (fd < 0)
                return negative_errno();

        r = apply_attrs(fd, attrs, mode);
        if (r < 0)
                goto fail;

        *ret = (TempFile) {
                .fd = TAKE_FD(fd),
                .path = TAKE_PTR(tmpl),
                .dir = TAKE_PTR(dir),
        };
        return 0;

fail:
        (void) unlink(tmpl);
        return r;
}

/* Makes the data durable and closes the temporary file. */
static int temp_file_sync(TempFile *t) {
        int r;

        if (fsync(t->fd) < 0)
                return negative_errno();

        r = close(t->fd);
        t->fd = -EBADF;
        if (r < 0 && errno != EINTR)
                return negative_errno();

        return 0;
}

/* Moves the synced temporary file to target. With noreplace, fails with -EEXIST if target exists,
 * atomically. On success the temporary file is gone and the directory synced. */
static int temp_file_move(TempFile *t, const char *target, bool noreplace) {
        if (!noreplace) {
                if (rename(t->path, target) < 0)
                        return negative_errno();
        } else if (renameat2(AT_FDCWD, t->path, AT_FDCWD, target, RENAME_NOREPLACE) < 0) {
                if (!IN_SET(errno, EINVAL, ENOSYS, EOPNOTSUPP))
                        return negative_errno();

                /* The file system cannot rename without replacing: link() fails with EEXIST just as
                 * atomically. */
                if (link(t->path, target) < 0)
                        return negative_errno();
                (void) unlink(t->path);
        }

        t->path = mfree(t->path);

        return fsync_directory(t->dir);
}

static int write_file(const char *target, const void *data, size_t len, const FileAttrs *attrs, bool noreplace) {
        _cleanup_(temp_file_done) TempFile t = TEMP_FILE_NULL;
        int r;

        if (isempty(target) || (!data && len > 0))
                return -EINVAL;

        r = temp_file_create(target, attrs, DEFAULT_FILE_MODE, &t);
        if (r < 0)
                return r;

        r = write_all(t.fd, data, len);
        if (r < 0)
                return r;

        r = temp_file_sync(&t);
        if (r < 0)
                return r;

        return temp_file_move(&t, target, noreplace);
}

int fs_write_atomic(const char *path, const void *data, size_t len, const FileAttrs *attrs) {
        return write_file(path, data, len, attrs, false);
}

char *fs_staged_path(const char *path) {
        if (!path)
                return NULL;
        return strjoin(path, FS_STAGED_SUFFIX);
}

int fs_stage(const char *path, const void *data, size_t len, const FileAttrs *attrs) {
        _cleanup_free_ char *staged = NULL;

        if (isempty(path))
                return -EINVAL;

        staged = fs_staged_path(path);
        if (!staged)
                return -ENOMEM;

        return write_file(staged, data, len, attrs, false);
}

/* The staged name is only ever a staging name, never read by anyone but us before the batch's
 * sync: so it is written in place, without a temporary file and a rename. Still a new file (O_EXCL,
 * after removing any earlier one), given its owner and final mode before any data, as
 * temp_file_create() does. On failure nothing is left at the staged name. */
int fs_stage_unsynced(const char *path, const void *data, size_t len, const FileAttrs *attrs) {
        _cleanup_free_ char *staged = NULL;
        _cleanup_close_ int fd = -EBADF;
        mode_t mode = attrs && attrs->mode != 0 ? attrs->mode : DEFAULT_FILE_MODE;
        int r;

        if (isempty(path) || (!data && len > 0))
                return -EINVAL;
        staged = fs_staged_path(path);
        if (!staged)
                return -ENOMEM;

        for (unsigned attempt = 0;; attempt++) {
                fd = open(staged, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, DEFAULT_FILE_MODE);
                if (fd >= 0)
                        break;
                if (errno != EEXIST || attempt >= 3)
                        return negative_errno();
                if (unlink(staged) < 0 && errno != ENOENT)
                        return negative_errno();
        }

        r = apply_attrs(fd, attrs, mode);
        if (r < 0)
                goto fail;
        r = write_all(fd, data, len);
        if (r < 0)
                goto fail;
        r = close(TAKE_FD(fd));
        if (r < 0 && errno != EINTR) {
                r = negative_errno();
                goto fail;
        }
        return 0;

fail:
        (void) unlink(staged);
        return r;
}

int fs_commit_staged_unsynced(const char *path) {
        _cleanup_free_ char *staged = NULL;

        if (isempty(path))
                return -EINVAL;
        staged = fs_staged_path(path);
        if (!staged)
                return -ENOMEM;
        return RET_NERRNO(rename(staged, path));
}

int fs_syncfs(const char *path) {
        _cleanup_free_ char *dir = NULL, *base = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = path_split(path, &dir, &base);
        if (r < 0)
                return r;
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        return RET_NERRNO(syncfs(fd));
}

int fs_commit_staged(const char *path) {
        int r;

        r = fs_commit_staged_unsynced(path);
        if (r < 0)
                return r;
        return fs_fsync_parent(path);
}

int fs_create_exclusive(const char *path, const void *data, size_t len, const FileAttrs *attrs) {
        /* Fail early and cheaply; the final rename checks again, atomically. */
        if (!isempty(path) && fs_exists(path))
                return -EEXIST;

        return write_file(path, data, len, attrs, true);
}

static int copy_fd(int from, int to) {
        char buf[16 * 1024];

        for (;;) {
                ssize_t n = read(from, buf, sizeof(buf));
                int r;

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (n == 0)
                        return 0;

                r = write_all(to, buf, (size_t) n);
                if (r < 0)
                        return r;
        }
}

int fs_archive(const char *path, const char *archive_dir, const char *prefix, char **ret_archived) {
        _cleanup_(temp_file_done) TempFile t = TEMP_FILE_NULL;
        _cleanup_free_ char *base = NULL, *name = NULL;
        _cleanup_close_ int fd = -EBADF;
        char stamp[sizeof("YYYYmmddTHHMMSSZ")];
        struct stat st;
        struct tm tm;
        time_t now;
        int r;

        if (isempty(path) || isempty(archive_dir) || isempty(prefix))
                return -EINVAL;

        r = path_split(path, NULL, &base);
        if (r < 0)
                return r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                if (errno == ENOENT)
                        return 0;
                return negative_errno();
        }
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADFD;

        r = fs_mkdir_p(archive_dir, 0700);
        if (r < 0)
                return r;

        now = time(NULL);
        if (!gmtime_r(&now, &tm))
                return -EOVERFLOW;
        if (strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
                return -EOVERFLOW;

        name = strjoin(archive_dir, "/", prefix, "-", stamp, "-", base);
        if (!name)
                return -ENOMEM;

        /* The copy gets the source's mode from the start, so a key's copy is as private as the key. */
        r = temp_file_create(name, &FILE_ATTRS(st.st_mode & 07777), DEFAULT_FILE_MODE, &t);
        if (r < 0)
                return r;

        r = copy_fd(fd, t.fd);
        if (r < 0)
                return r;

        r = temp_file_sync(&t);
        if (r < 0)
                return r;

        /* Never replace an earlier archive: a second archive within the same second gets "-N". */
        for (unsigned i = 1;; i++) {
                char suffix[sizeof("-") + 3 * sizeof(unsigned)];
                _cleanup_free_ char *candidate = NULL;

                if (i == 1)
                        candidate = strdup(name);
                else {
                        (void) snprintf(suffix, sizeof(suffix), "-%u", i - 1);
                        candidate = strjoin(name, suffix);
                }
                if (!candidate)
                        return -ENOMEM;

                r = temp_file_move(&t, candidate, true);
                if (r == -EEXIST && i < ARCHIVE_MAX_SUFFIX)
                        continue;
                if (r < 0)
                        return r;

                if (ret_archived)
                        *ret_archived = TAKE_PTR(candidate);
                return 1;
        }
}

int fs_check_writable(const char *path) {
        _cleanup_free_ char *dir = NULL;
        struct stat st;
        int r;

        r = path_split(path, &dir, NULL);
        if (r < 0)
                return r;

        if (stat(dir, &st) < 0)
                return negative_errno();
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0)
                return negative_errno();

        /* An existing directory at path itself cannot be replaced by a file. */
        if (stat(path, &st) >= 0 && S_ISDIR(st.st_mode))
                return -EISDIR;

        return 0;
}

int fs_path_absolute(const char *path, char **ret) {
        _cleanup_free_ char *cwd = NULL;
        char *r;

        if (isempty(path) || !ret)
                return -EINVAL;

        if (path[0] == '/')
                r = strdup(path);
        else {
                cwd = getcwd(NULL, 0);
                if (!cwd)
                        return negative_errno();
                r = strjoin(cwd, streq(cwd, "/") ? "" : "/", path);
        }
        if (!r)
                return -ENOMEM;

        *ret = r;
        return 0;
}

bool fs_exists(const char *path) {
        struct stat st;

        if (isempty(path))
                return false;

        /* A dangling symlink exists too: nothing may be created in its place. */
        return lstat(path, &st) >= 0;
}

typedef struct StaleName {
        char *dir, *base;
} StaleName;

static int stale_name_compare(const void *a, const void *b) {
        return strcmp(((const StaleName *) a)->dir, ((const StaleName *) b)->dir);
}

/* One pass over dir for the n names that are in it. */
static int remove_stale_temps_in(const char *dir, const StaleName *names, size_t n) {
        static const char infix[] = ".ck-tmp-";
        const size_t suffix = sizeof(infix) - 1 + 6;
        struct dirent *de;
        DIR *d;
        int k = 0;

        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : negative_errno();
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);

                /* ".BASE.ck-tmp-" and mkostemp()'s six characters, nothing else. */
                if (len < 2 + suffix || de->d_name[0] != '.' ||
                    memcmp(de->d_name + len - suffix, infix, sizeof(infix) - 1) != 0)
                        continue;
                for (size_t i = 0; i < n; i++)
                        if (strlen(names[i].base) == len - 1 - suffix &&
                            memcmp(de->d_name + 1, names[i].base, len - 1 - suffix) == 0) {
                                if (unlinkat(dirfd(d), de->d_name, 0) >= 0)
                                        k++;
                                break;
                        }
        }
        (void) closedir(d);
        return k;
}

int fs_remove_stale_temps_many(char *const *paths) {
        size_t n = 0, cap = strv_length(paths);
        StaleName *names;
        int r = 0, total = 0;

        names = calloc(MAX(cap, (size_t) 1), sizeof(StaleName));
        if (!names)
                return -ENOMEM;
        STRV_FOREACH(p, paths) {
                if (isempty(*p))
                        continue;
                r = path_split(*p, &names[n].dir, &names[n].base);
                if (r < 0)
                        goto finish;
                n++;
        }

        /* Each directory once, however many of the paths share it. */
        qsort(names, n, sizeof(StaleName), stale_name_compare);
        for (size_t i = 0, j; i < n; i = j) {
                for (j = i + 1; j < n && streq(names[j].dir, names[i].dir); j++)
                        ;
                r = remove_stale_temps_in(names[i].dir, names + i, j - i);
                if (r < 0)
                        goto finish;
                total += r;
        }
        r = total;
finish:
        for (size_t i = 0; i < cap; i++) {
                free(names[i].dir);
                free(names[i].base);
        }
        free(names);
        return r;
}

int fs_remove_stale_temps(const char *path) {
        if (isempty(path))
                return -EINVAL;
        return fs_remove_stale_temps_many((char *const[]) { (char *) path, NULL });
}
