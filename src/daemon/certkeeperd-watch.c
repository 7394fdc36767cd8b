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
#include "fs-util.h"
#include "log.h"
#include "pki-cert.h"
#include "string-util.h"

/* A file written in place is looked at once closed, not when created or truncated. */
#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ONLYDIR)
#define WATCH_SETTLE (250U * USEC_PER_MSEC)
/* A full sync reads every request: not more often than this, so that many changes in a row (a bulk
 * import) cost one. */
#define WATCH_SYNC_INTERVAL (30U * USEC_PER_SEC)
/* watch_synced_at before the first sync, which comes this long after start-up. */
#define WATCH_FIRST_SYNC USEC_INFINITY
#define WATCH_FIRST_SYNC_DELAY (200U * USEC_PER_MSEC)
/* The start-up check reads this many requests' certificate files per loop turn (about 10 ms on
 * two loaded cores; bench/RESULTS.md). */
#define WATCH_SCAN_CHUNK 256U

/* A watched directory is known by its wd alone: inotify_add_watch() gives the same wd for every
 * spelling of it, so its path is not kept (a store of 100,000 requests in as many directories). */
typedef struct WatchDir {
        int wd;
        bool used; /* in the set being built */
        bool gone; /* removed (IN_IGNORED): its wd is dead; dropped at the next sync */
} WatchDir;

typedef struct WatchFile {
        int wd;
        uint32_t name; /* offset of its NUL-terminated name in FileWatch.names */
        int64_t owner;
        unsigned flags;
        size_t next; /* the next file of its hash bucket, or NONE */
} WatchFile;

typedef FileWatchDue WatchDue;

#define NONE SIZE_MAX
#define TABLE_MIN 16U

/* Hash tables of indices, so that a store of 100,000 requests costs no quadratic work: the
 * directories by path and by wd (open addressing), the files by directory and name (chained). */
typedef struct Slots {
        size_t *slot;
        size_t size; /* a power of two, or 0 */
} Slots;

struct FileWatch {
        int fd;
        usec_t settle;
        WatchDir *dirs;
        size_t n_dirs, cap_dirs;
        Slots dir_by_wd;
        WatchFile *files;
        size_t n_files, cap_files;
        char *names; /* the files' names, one after the other (not one allocation each) */
        size_t n_names, cap_names;
        Slots file_heads;
        WatchDue *due;
        size_t n_due;
        int add_error;
        bool lost_dirs; /* a watched directory went away since file_watch_take_lost() */
};

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n) {
        const unsigned char *b = p;

        for (size_t i = 0; i < n; i++)
                h = (h ^ b[i]) * 1099511628211ULL; /* FNV-1a */
        return h;
}

static uint64_t hash_wd(int wd) {
        return hash_bytes(14695981039346656037ULL, &wd, sizeof(wd));
}

static uint64_t hash_file(int wd, const char *name) {
        return hash_bytes(hash_wd(wd), name, strlen(name));
}

static int slots_reset(Slots *t, size_t want) {
        size_t size = TABLE_MIN;
        size_t *p;

        while (size < want)
                size *= 2;
        p = reallocarray(t->slot, size, sizeof(size_t));
        if (!p)
                return -ENOMEM;
        t->slot = p;
        t->size = size;
        for (size_t i = 0; i < size; i++)
                p[i] = NONE;
        return 0;
}

static void slots_insert(Slots *t, uint64_t h, size_t idx) {
        size_t i = h & (t->size - 1);

        while (t->slot[i] != NONE)
                i = (i + 1) & (t->size - 1);
        t->slot[i] = idx;
}

/* The directory table, at most half full. */
static int dirs_reindex(FileWatch *w) {
        if (slots_reset(&w->dir_by_wd, 2 * w->n_dirs + 1) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < w->n_dirs; i++)
                slots_insert(&w->dir_by_wd, hash_wd(w->dirs[i].wd), i);
        return 0;
}

static WatchDir *dir_find_wd(FileWatch *w, int wd) {
        if (w->dir_by_wd.size == 0)
                return NULL;
        for (size_t i = hash_wd(wd) & (w->dir_by_wd.size - 1);; i = (i + 1) & (w->dir_by_wd.size - 1)) {
                size_t idx = w->dir_by_wd.slot[i];
                if (idx == NONE)
                        return NULL;
                if (!w->dirs[idx].gone && w->dirs[idx].wd == wd)
                        return &w->dirs[idx];
        }
}

static const char *file_name(const FileWatch *w, const WatchFile *f) {
        return w->names + f->name;
}

static void file_link(FileWatch *w, size_t i) {
        size_t b = hash_file(w->files[i].wd, file_name(w, &w->files[i])) & (w->file_heads.size - 1);

        w->files[i].next = w->file_heads.slot[b];
        w->file_heads.slot[b] = i;
}

static int files_reindex(FileWatch *w) {
        if (slots_reset(&w->file_heads, w->n_files + 1) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < w->n_files; i++)
                file_link(w, i);
        return 0;
}

/* Grows *array (of *cap elements of size) to hold at least n + 1, doubling. */
static int grow(void **array, size_t *cap, size_t n, size_t size) {
        size_t c = *cap ? *cap : TABLE_MIN;
        void *p;

        if (n < *cap)
                return 0;
        while (c <= n)
                c *= 2;
        p = reallocarray(*array, c, size);
        if (!p)
                return -ENOMEM;
        *array = p;
        *cap = c;
        return 0;
}

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

FileWatch *file_watch_free(FileWatch *w) {
        if (!w)
                return NULL;
        free(w->dirs);
        free(w->dir_by_wd.slot);
        free(w->files);
        free(w->names);
        free(w->file_heads.slot);
        free(w->due);
        safe_close(w->fd);
        free(w);
        return NULL;
}

int file_watch_fd(const FileWatch *w) {
        return w->fd;
}

void file_watch_begin(FileWatch *w) {
        w->n_files = 0;
        w->n_names = 0;
        w->add_error = 0;
        for (size_t i = 0; i < w->file_heads.size; i++)
                w->file_heads.slot[i] = NONE;
        for (size_t i = 0; i < w->n_dirs; i++)
                w->dirs[i].used = false;
}

int file_watch_add(FileWatch *w, int64_t owner, unsigned flags, const char *path) {
        _cleanup_free_ char *dir = NULL;
        const char *slash, *name;
        size_t len;
        WatchDir *d;

        if (isempty(path) || path[0] != '/')
                return -EINVAL;
        slash = strrchr(path, '/');
        dir = slash == path ? strdup("/") : strndup(path, (size_t) (slash - path));
        name = slash + 1;
        if (!dir)
                return -ENOMEM;
        len = strlen(name) + 1;
        if (len == 1 || w->n_names + len > UINT32_MAX)
                return -EINVAL;

        /* Watched already: the same mask again, the same wd back (for every spelling of the directory). */
        int wd = inotify_add_watch(w->fd, dir, WATCH_MASK);
        if (wd < 0) {
                w->add_error = -errno;
                return 0;
        }
        d = dir_find_wd(w, wd);
        if (!d) {
                if (grow((void **) &w->dirs, &w->cap_dirs, w->n_dirs, sizeof(WatchDir)) < 0)
                        return -ENOMEM;
                w->dirs[w->n_dirs++] = (WatchDir) { .wd = wd };
                d = &w->dirs[w->n_dirs - 1];
                if (2 * w->n_dirs >= w->dir_by_wd.size) {
                        if (dirs_reindex(w) < 0)
                                return -ENOMEM;
                } else
                        slots_insert(&w->dir_by_wd, hash_wd(d->wd), w->n_dirs - 1);
        }
        d->used = true;

        if (grow((void **) &w->files, &w->cap_files, w->n_files, sizeof(WatchFile)) < 0)
                return -ENOMEM;
        if (grow((void **) &w->names, &w->cap_names, w->n_names + len - 1, 1) < 0)
                return -ENOMEM;
        memcpy(w->names + w->n_names, name, len);
        w->files[w->n_files++] = (WatchFile) { .wd = d->wd, .name = (uint32_t) w->n_names, .owner = owner,
                                               .flags = flags };
        w->n_names += len;
        if (w->n_files >= w->file_heads.size)
                return files_reindex(w);
        file_link(w, w->n_files - 1);
        return 0;
}

int file_watch_end(FileWatch *w) {
        size_t j = 0;

        for (size_t i = 0; i < w->n_dirs; i++) {
                if (!w->dirs[i].used || w->dirs[i].gone) {
                        if (!w->dirs[i].gone)
                                (void) inotify_rm_watch(w->fd, w->dirs[i].wd);
                        continue;
                }
                w->dirs[j++] = w->dirs[i];
        }
        w->n_dirs = j;
        if (dirs_reindex(w) < 0)
                return -ENOMEM;
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

void file_watch_forget(FileWatch *w, int64_t owner) {
        for (size_t i = 0; i < w->n_due; i++)
                if (w->due[i].owner == owner) {
                        w->due[i] = w->due[--w->n_due];
                        return;
                }
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
                                WatchDir *d = dir_find_wd(w, e->wd);

                                /* The directory went away: its files are looked at (deleted), and it
                                 * is watched again if it comes back (next sync or request change). */
                                if (d) {
                                        d->gone = true;
                                        w->lost_dirs = true;
                                }
                                for (size_t i = 0; i < w->n_files; i++)
                                        if (w->files[i].wd == e->wd && due_file(w, &w->files[i], now, busy, userdata) < 0)
                                                return -ENOMEM;
                                continue;
                        }
                        if (e->len == 0 || w->file_heads.size == 0)
                                continue;
                        for (size_t i = w->file_heads.slot[hash_file(e->wd, e->name) & (w->file_heads.size - 1)];
                             i != NONE; i = w->files[i].next)
                                if (w->files[i].wd == e->wd && streq(file_name(w, &w->files[i]), e->name) &&
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

bool file_watch_take_lost(FileWatch *w) {
        bool b = w->lost_dirs;

        w->lost_dirs = false;
        return b;
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

static int sync_one(int64_t id, const char *cert_path, const char *key_path, void *userdata) {
        FileWatch *w = userdata;
        int k;

        k = cert_path ? file_watch_add(w, id, WATCH_CERT, cert_path) : 0;
        if (k >= 0 && key_path)
                k = file_watch_add(w, id, WATCH_KEY, key_path);
        return k == -EINVAL ? 0 : k;
}

void manager_watch_cert(Manager *m, const CertRecord *r) {
        int k;

        if (!m->watch || !r->track)
                return;
        k = sync_one(r->id, r->cert_path, r->key_path, m->watch);
        if (k < 0)
                log_warning_errno(k, "Failed to watch the files of request '%s' for outside changes: %m",
                                  strna(r->nickname));
}

void manager_watch_sync(Manager *m) {
        usec_t now = now_usec(CLOCK_MONOTONIC);
        int k;

        if (!m->watch || !m->watch_dirty)
                return;
        if (m->watch_synced_at == WATCH_FIRST_SYNC ? now < m->watch_first_sync_at
                                                   : now < m->watch_synced_at + WATCH_SYNC_INTERVAL)
                return;
        m->watch_dirty = false;
        m->watch_synced_at = now;
        file_watch_begin(m->watch);
        k = store_cert_foreach_tracked_paths(m->store, sync_one, m->watch);
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
static bool cert_file_known(const char *cert_path, const char *sha256) {
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_free_ char *pem = NULL;
        size_t len = 0;
        char sha[65];

        if (!cert_path || !sha256)
                return false;
        /* Most often the file is the PEM certkeeper itself just wrote: its first block's bytes
         * hashed, without decoding a certificate (this runs in the main loop after every save). */
        if (fs_read_file(cert_path, 1024 * 1024, &pem, &len) >= 0 && pki_pem_first_cert_sha256(pem, len, sha) >= 0)
                return strcasecmp(sha, sha256) == 0;
        if (pki_cert_load(cert_path, &x) < 0 || pki_cert_thumbprint_sha256(x, sha) < 0)
                return false;
        return strcasecmp(sha, sha256) == 0;
}

/* States in which a request is on its way to a new certificate (waiting for or talking to its CA,
 * saving): its save writes the files anyway, so changes to them are left alone. */
static bool watch_leaves_alone(CertState state) {
        return IN_SET(state, CERT_CA_WORKING, CERT_CA_UNREACHABLE, CERT_NEED_TO_SUBMIT, CERT_NEED_TO_SAVE_CERT) ||
               cert_state_is_transient(state);
}

/* A certificate whose files changed: unless a job of ours is writing them (looked at again once it
 * is done), and unless they are still what the store knows (our own save, or a key written by our
 * job), read them again as 'certkeeper refresh' does; the read job tells what changed. One on its
 * way to a new certificate gets it anyway. */
static int watch_recheck(Manager *m, const FileWatchDue *d, usec_t now_us, int64_t now) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        _cleanup_free_ char *sha256 = NULL, *cert_path = NULL;
        CertState state;
        int k;

        if (manager_in_flight(m, d->owner))
                return file_watch_delay(m->watch, d->owner, d->flags | WATCH_OURS, now_us);
        /* Three columns first: after every save of ours this finds the file it knows. */
        k = store_cert_file_facts(m->store, d->owner, &state, &sha256, &cert_path);
        if (k == -ENOENT)
                return 0;
        if (k < 0)
                return k;
        if (watch_leaves_alone(state))
                return 0;
        /* A known certificate and no key changed by someone else: nothing to look at. */
        if (state != CERT_NEED_GUIDANCE && cert_file_known(cert_path, sha256) &&
            (!(d->flags & WATCH_KEY) || (d->flags & WATCH_OURS)))
                return 0;
        k = store_cert_get(m->store, d->owner, &r);
        if (k == -ENOENT)
                return 0;
        if (k < 0)
                return k;

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

void manager_watch_reading(Manager *m, int64_t id) {
        /* A change seen before the read job starts is what the job reads: not reported again once
         * the job has judged it (a second NEED_GUIDANCE, a second event). Changes seen while the
         * job runs are still looked at after it. */
        if (m->watch)
                file_watch_forget(m->watch, id);
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
        /* A directory removed may come back (a new certificate saved there): watched again at the
         * next sync. */
        if (file_watch_take_lost(m->watch))
                m->watch_dirty = true;
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

typedef struct WatchScan {
        Manager *m;
        usec_t now;
        int64_t last;
} WatchScan;

static int scan_one(int64_t id, CertState state, const char *sha256, const char *cert_path, void *userdata) {
        WatchScan *s = userdata;

        s->last = id;
        /* Left out: a request never issued (no thumbprint: a missing file is no change), one on its
         * way to a new certificate, one that is read at start-up anyway (NEWLY_ADDED), and one
         * waiting for a person, whose file is the reason (reported once; 'certkeeper refresh'
         * reads it again). */
        if (!sha256 || !cert_path || watch_leaves_alone(state) ||
            IN_SET(state, CERT_NEWLY_ADDED, CERT_NEED_GUIDANCE))
                return 0;
        s->m->watch_scan.n_read++;
        if (cert_file_known(cert_path, sha256))
                return 0;
        /* As if inotify had seen it change: watch_recheck() decides, as for a change seen live. */
        s->m->watch_scan.n_changed++;
        return file_watch_delay(s->m->watch, id, WATCH_CERT, s->now);
}

void manager_watch_scan(Manager *m) {
        WatchScan s = { .m = m, .now = now_usec(CLOCK_MONOTONIC), .last = m->watch_scan.after };
        int k;

        /* After the first sync: a change made while the pass runs is seen by inotify. */
        if (!m->watch || m->watch_scan.after < 0 || m->watch_synced_at == WATCH_FIRST_SYNC)
                return;
        if (m->watch_scan.began == 0)
                m->watch_scan.began = s.now;
        k = store_cert_foreach_tracked_facts(m->store, m->watch_scan.after, WATCH_SCAN_CHUNK, scan_one, &s);
        if (k < 0) {
                m->watch_scan.after = -1;
                log_warning_errno(k,
                                  "Failed to compare the certificate files with the store after request "
                                  "%" PRIi64 ", changes made while the daemon was stopped are seen at the "
                                  "next read: %m",
                                  s.last);
                return;
        }
        if ((unsigned) k == WATCH_SCAN_CHUNK) {
                m->watch_scan.after = s.last;
                return;
        }
        m->watch_scan.after = -1;
        log_info("Compared %u certificate file(s) with the store at start-up in %" PRIu64 " ms: %u changed.",
                 m->watch_scan.n_read, (now_usec(CLOCK_MONOTONIC) - m->watch_scan.began) / USEC_PER_MSEC,
                 m->watch_scan.n_changed);
}

usec_t manager_watch_timeout(Manager *m) {
        usec_t now = now_usec(CLOCK_MONOTONIC), t;

        if (!m->watch)
                return USEC_INFINITY;
        t = file_watch_timeout(m->watch, now);
        /* The first sync, once the daemon answers (later ones wait for a wake-up that is due anyway:
         * an idle daemon does not wake up for them). */
        if (m->watch_dirty && m->watch_synced_at == WATCH_FIRST_SYNC)
                t = MIN(t, m->watch_first_sync_at > now ? m->watch_first_sync_at - now : 0);
        /* The start-up check, a chunk per turn until it is done. */
        if (m->watch_scan.after >= 0 && m->watch_synced_at != WATCH_FIRST_SYNC)
                t = 0;
        return t;
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
        /* The first full sync (reading every request's paths, one inotify watch per directory) comes
         * shortly after start-up, so that the daemon answers first. */
        m->watch_dirty = true;
        m->watch_synced_at = WATCH_FIRST_SYNC;
        m->watch_first_sync_at = now_usec(CLOCK_MONOTONIC) + WATCH_FIRST_SYNC_DELAY;
        /* Then the check of every certificate file against the store, a chunk at a time. */
        m->watch_scan.after = 0;
        return file_watch_fd(m->watch);
}
