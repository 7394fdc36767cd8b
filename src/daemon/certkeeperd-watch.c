/* SPDX-License-Identifier: MIT */
/* Outside changes to tracked certificate and key files (docs/EVENTS.md): inotify on their
 * directories, bursts settled, then the certificate's files are read again by the ordinary read
 * job, whose comparison with the thumbprint the store knows tells an outside change (event 1001,
 * the bindings deployed again, docs/BINDINGS.md) or a deletion (1004) from our own saves, which
 * record the new thumbprint before anything reads the file again. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "certkeeperd-manager-private.h"
#include "certkeeperd-watch.h"
#include "log.h"
#include "pki-cert.h"
#include "string-util.h"

/* A file written in place is looked at once closed, not when created or truncated. */
#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR)
#define WATCH_SETTLE (250U * USEC_PER_MSEC)

typedef struct WatchDir {
        int wd;
        char *path;
        bool used; /* in the set being built */
} WatchDir;

typedef struct WatchFile {
        int wd;
        char *name;
        int64_t owner;
        unsigned flags;
} WatchFile;

typedef FileWatchDue WatchDue;

struct FileWatch {
        int fd;
        usec_t settle;
        WatchDir *dirs;
        size_t n_dirs;
        WatchFile *files;
        size_t n_files;
        WatchDue *due;
        size_t n_due;
        int add_error;
};

int file_watch_new(usec_t settle, FileWatch **ret) {
        FileWatch *w;

        w = calloc(1, sizeof(FileWatch));
        if (!w)
                return -ENOMEM;
        w->settle = settle;
        w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w->fd < 0) {
                int r = -errno;
                free(w);
                return r;
        }
        *ret = w;
        return 0;
}

static void files_free(WatchFile *f, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(f[i].name);
}

FileWatch *file_watch_free(FileWatch *w) {
        if (!w)
                return NULL;
        for (size_t i = 0; i < w->n_dirs; i++)
                free(w->dirs[i].path);
        free(w->dirs);
        files_free(w->files, w->n_files);
        free(w->files);
        free(w->due);
        safe_close(w->fd);
        free(w);
        return NULL;
}

int file_watch_fd(const FileWatch *w) {
        return w->fd;
}

void file_watch_begin(FileWatch *w) {
        files_free(w->files, w->n_files);
        w->n_files = 0;
        w->add_error = 0;
        for (size_t i = 0; i < w->n_dirs; i++)
                w->dirs[i].used = false;
}

static WatchDir *dir_find_path(FileWatch *w, const char *path) {
        for (size_t i = 0; i < w->n_dirs; i++)
                if (streq(w->dirs[i].path, path))
                        return &w->dirs[i];
        return NULL;
}

static WatchDir *dir_find_wd(FileWatch *w, int wd) {
        for (size_t i = 0; i < w->n_dirs; i++)
                if (w->dirs[i].wd == wd)
                        return &w->dirs[i];
        return NULL;
}

int file_watch_add(FileWatch *w, int64_t owner, unsigned flags, const char *path) {
        _cleanup_free_ char *dir = NULL, *name = NULL;
        const char *slash;
        WatchDir *d;
        WatchFile *f;

        if (isempty(path) || path[0] != '/')
                return -EINVAL;
        slash = strrchr(path, '/');
        dir = slash == path ? strdup("/") : strndup(path, (size_t) (slash - path));
        name = strdup(slash + 1);
        if (!dir || !name)
                return -ENOMEM;
        if (isempty(name))
                return -EINVAL;

        d = dir_find_path(w, dir);
        if (!d) {
                WatchDir *p;
                int wd = inotify_add_watch(w->fd, dir, WATCH_MASK);

                if (wd < 0) {
                        w->add_error = -errno;
                        return 0;
                }
                /* Two spellings of one directory share its wd. */
                d = dir_find_wd(w, wd);
                if (!d) {
                        p = reallocarray(w->dirs, w->n_dirs + 1, sizeof(WatchDir));
                        if (!p)
                                return -ENOMEM;
                        w->dirs = p;
                        d = &w->dirs[w->n_dirs++];
                        *d = (WatchDir) { .wd = wd, .path = TAKE_PTR(dir) };
                }
        }
        d->used = true;

        f = reallocarray(w->files, w->n_files + 1, sizeof(WatchFile));
        if (!f)
                return -ENOMEM;
        w->files = f;
        w->files[w->n_files++] = (WatchFile) { .wd = d->wd, .name = TAKE_PTR(name), .owner = owner, .flags = flags };
        return 0;
}

int file_watch_end(FileWatch *w) {
        size_t j = 0;

        for (size_t i = 0; i < w->n_dirs; i++) {
                if (!w->dirs[i].used) {
                        (void) inotify_rm_watch(w->fd, w->dirs[i].wd);
                        free(w->dirs[i].path);
                        continue;
                }
                w->dirs[j++] = w->dirs[i];
        }
        w->n_dirs = j;
        return w->add_error;
}

static int due_add(FileWatch *w, int64_t owner, unsigned flags, usec_t at) {
        WatchDue *p;

        for (size_t i = 0; i < w->n_due; i++)
                if (w->due[i].owner == owner) {
                        w->due[i].at = at; /* settles again */
                        w->due[i].flags |= flags;
                        return 0;
                }
        p = reallocarray(w->due, w->n_due + 1, sizeof(WatchDue));
        if (!p)
                return -ENOMEM;
        w->due = p;
        w->due[w->n_due++] = (WatchDue) { .owner = owner, .flags = flags, .at = at };
        return 0;
}

int file_watch_delay(FileWatch *w, int64_t owner, unsigned flags, usec_t now) {
        return due_add(w, owner, flags, now + w->settle);
}

static int due_file(FileWatch *w, const WatchFile *f, usec_t now, bool (*busy)(int64_t owner, void *userdata),
                    void *userdata) {
        unsigned flags = f->flags;

        if (busy && busy(f->owner, userdata))
                flags |= FILE_WATCH_BUSY;
        return due_add(w, f->owner, flags, now + w->settle);
}

int file_watch_process(FileWatch *w, usec_t now, bool (*busy)(int64_t owner, void *userdata), void *userdata) {
        /* Aligned as inotify wants; large enough for many events per read. */
        char buf[16 * (sizeof(struct inotify_event) + NAME_MAX + 1)]
                __attribute__((aligned(__alignof__(struct inotify_event))));

        for (;;) {
                ssize_t n = read(w->fd, buf, sizeof(buf));

                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        return -errno;
                }
                if (n == 0)
                        return 0;

                for (char *p = buf; p < buf + n;) {
                        const struct inotify_event *e = (const struct inotify_event *) p;

                        p += sizeof(struct inotify_event) + e->len;
                        if (e->mask & IN_Q_OVERFLOW) {
                                /* Events were lost: look at everything. */
                                for (size_t i = 0; i < w->n_files; i++)
                                        if (due_file(w, &w->files[i], now, busy, userdata) < 0)
                                                return -ENOMEM;
                                continue;
                        }
                        if (e->mask & IN_IGNORED) {
                                /* The directory went away: its files are looked at (deleted). */
                                for (size_t i = 0; i < w->n_files; i++)
                                        if (w->files[i].wd == e->wd && due_file(w, &w->files[i], now, busy, userdata) < 0)
                                                return -ENOMEM;
                                continue;
                        }
                        if (e->len == 0)
                                continue;
                        for (size_t i = 0; i < w->n_files; i++)
                                if (w->files[i].wd == e->wd && streq(w->files[i].name, e->name) &&
                                    due_file(w, &w->files[i], now, busy, userdata) < 0)
                                        return -ENOMEM;
                }
        }
}

int file_watch_take_due(FileWatch *w, usec_t now, FileWatchDue **ret, size_t *ret_n) {
        _cleanup_free_ FileWatchDue *ids = NULL;
        size_t n = 0, j = 0;

        for (size_t i = 0; i < w->n_due; i++)
                if (w->due[i].at <= now)
                        n++;
        if (n > 0) {
                ids = calloc(n, sizeof(FileWatchDue));
                if (!ids)
                        return -ENOMEM;
                n = 0;
                for (size_t i = 0; i < w->n_due; i++) {
                        if (w->due[i].at <= now)
                                ids[n++] = w->due[i];
                        else
                                w->due[j++] = w->due[i];
                }
                w->n_due = j;
        }
        *ret = TAKE_PTR(ids);
        *ret_n = n;
        return 0;
}

usec_t file_watch_timeout(const FileWatch *w, usec_t now) {
        usec_t t = USEC_INFINITY;

        for (size_t i = 0; i < w->n_due; i++)
                t = MIN(t, w->due[i].at > now ? w->due[i].at - now : 0);
        return t;
}

/* ---- the manager's side ---- */

enum {
        WATCH_CERT = 1U << 0,
        WATCH_KEY = 1U << 1,
        WATCH_OURS = FILE_WATCH_BUSY, /* a job of ours was writing the files meanwhile */
};

static int sync_one(const CertRecord *r, void *userdata) {
        FileWatch *w = userdata;
        int k;

        if (!r->track)
                return 0;
        k = r->cert_path ? file_watch_add(w, r->id, WATCH_CERT, r->cert_path) : 0;
        if (k >= 0 && r->key_path)
                k = file_watch_add(w, r->id, WATCH_KEY, r->key_path);
        return k == -EINVAL ? 0 : k;
}

void manager_watch_sync(Manager *m) {
        int k;

        if (!m->watch || !m->watch_dirty)
                return;
        m->watch_dirty = false;
        file_watch_begin(m->watch);
        k = store_cert_foreach(m->store, NULL, sync_one, m->watch);
        if (k < 0) {
                log_warning_errno(k, "Failed to list the files to watch for outside changes: %m");
                m->watch_dirty = true;
        }
        k = file_watch_end(m->watch);
        if (k < 0)
                log_debug_errno(k, "Some certificate directories cannot be watched for outside changes: %m");
}

/* Is the certificate file what the store knows? Only the thumbprint is compared here: a file that
 * is gone, unreadable or another certificate is for the read job to judge. */
static bool cert_file_known(const CertRecord *r) {
        _cleanup_(X509_freep) X509 *x = NULL;
        char sha[65];

        if (!r->cert_path || !r->sha256 || pki_cert_load(r->cert_path, &x) < 0 ||
            pki_cert_thumbprint_sha256(x, sha) < 0)
                return false;
        return strcasecmp(sha, r->sha256) == 0;
}

/* A certificate whose files changed: unless a job of ours is writing them (looked at again once it
 * is done), and unless they are still what the store knows (our own save, or a key written by our
 * job), read them again as 'certkeeper refresh' does; the read job tells what changed. One on its
 * way to a new certificate gets it anyway. */
static int watch_recheck(Manager *m, const FileWatchDue *d, usec_t now_us, int64_t now) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int k;

        if (manager_in_flight(m, d->owner))
                return file_watch_delay(m->watch, d->owner, d->flags | WATCH_OURS, now_us);
        k = store_cert_get(m->store, d->owner, &r);
        if (k == -ENOENT)
                return 0;
        if (k < 0)
                return k;
        if (IN_SET(r->state, CERT_CA_WORKING, CERT_CA_UNREACHABLE, CERT_NEED_TO_SUBMIT, CERT_NEED_TO_SAVE_CERT) ||
            cert_state_is_transient(r->state))
                return 0;
        /* A known certificate and no key changed by someone else: nothing to look at. */
        if (r->state != CERT_NEED_GUIDANCE && cert_file_known(r) && (!(d->flags & WATCH_KEY) || (d->flags & WATCH_OURS)))
                return 0;

        log_debug("Files of request '%s' changed on disk; reading them again.", strna(r->nickname));
        r->state = CERT_NEWLY_ADDED;
        r->next_action_at = now;
        k = manager_tx_begin(m);
        if (k >= 0)
                k = store_cert_update(m->store, r, NULL);
        if (k >= 0)
                k = manager_schedule(m, d->owner, now);
        return k;
}

static bool watch_busy(int64_t id, void *userdata) {
        return manager_in_flight(userdata, id);
}

void manager_watch_read(Manager *m) {
        int k;

        if (!m->watch)
                return;
        /* At once, before the replies of the workers polled with it: a change made while a job of
         * ours runs for that certificate is taken as the job's. */
        k = file_watch_process(m->watch, now_usec(CLOCK_MONOTONIC), watch_busy, m);
        if (k < 0)
                log_warning_errno(k, "Failed to read file change notifications: %m");
}

void manager_watch_run(Manager *m) {
        _cleanup_free_ FileWatchDue *due = NULL;
        usec_t now_us = now_usec(CLOCK_MONOTONIC);
        size_t n = 0;
        int k;

        if (!m->watch)
                return;
        k = file_watch_take_due(m->watch, now_us, &due, &n);
        if (k < 0) {
                log_oom();
                return;
        }
        for (size_t i = 0; i < n; i++) {
                k = watch_recheck(m, &due[i], now_us, (int64_t) time(NULL));
                if (k < 0)
                        log_warning_errno(k, "Failed to look at the changed files of request %" PRIi64 ": %m",
                                          due[i].owner);
        }
}

usec_t manager_watch_timeout(Manager *m) {
        return m->watch ? file_watch_timeout(m->watch, now_usec(CLOCK_MONOTONIC)) : USEC_INFINITY;
}

int manager_watch_start(Manager *m) {
        int k;

        k = file_watch_new(WATCH_SETTLE, &m->watch);
        if (k < 0) {
                /* Not fatal: outside changes are then seen at the next read (renewal, refresh). */
                log_warning_errno(k, "Failed to set up inotify, outside changes to certificate files are not "
                                  "watched: %m");
                return 0;
        }
        m->watch_dirty = true;
        manager_watch_sync(m);
        return file_watch_fd(m->watch);
}
