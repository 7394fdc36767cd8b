/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "certkeeperd-jobs.h"
#include "certkeeperd-worker.h"
#include "dynbuf.h"
#include "parse-util.h"

#define MESSAGE_MAX (4 * 1024 * 1024)

/* A message (a job or a reply) is one datagram: a JSON text, then a NUL byte and the long strings
 * of that JSON (PEM, mostly) as raw bytes. In the JSON, each long string is replaced by a
 * reference to its bytes: a string that begins with a NUL byte, "\u0000OFFSET:LENGTH". No other
 * string does: ours come from C strings, or from JSON parsed without JSON_ALLOW_NUL. jansson
 * spends 60 to 100 instructions on every byte of a string it writes or parses; moved raw, the
 * bytes cost a copy. A message without a NUL byte is plain JSON. */
#define LONG_STRING_MIN 64
#define MESSAGE_DEPTH_MAX 8

/* A place in a JSON container: a member of an object (iter) or an element of an array (index). */
typedef struct Slot {
        json_t *container;
        void *iter;
        size_t index;
} Slot;

static int slot_set_new(const Slot *at, json_t *value) {
        if (at->iter)
                return json_object_iter_set_new(at->container, at->iter, value) < 0 ? -ENOMEM : 0;
        return json_array_set_new(at->container, at->index, value) < 0 ? -ENOMEM : 0;
}

typedef int (*visit_t)(const Slot *at, json_t *child, void *userdata, unsigned depth);

/* Calls f for each member or element of v. */
static int visit_children(json_t *v, visit_t f, void *userdata, unsigned depth) {
        int k = 0;

        if (depth > MESSAGE_DEPTH_MAX)
                return 0; /* deeper strings stay in the JSON */
        if (json_is_object(v))
                for (void *it = json_object_iter(v); it && k >= 0; it = json_object_iter_next(v, it))
                        k = f(&(Slot) { .container = v, .iter = it }, json_object_iter_value(it), userdata, depth);
        else if (json_is_array(v))
                for (size_t i = 0; i < json_array_size(v) && k >= 0; i++)
                        k = f(&(Slot) { .container = v, .index = i }, json_array_get(v, i), userdata, depth);
        return k;
}

/* The long strings swapped out of a message for their references, put back after it is written. */
typedef struct Swaps {
        DynBuf raw;
        struct {
                Slot at;
                json_t *value;
        } *s;
        size_t n, allocated;
} Swaps;

static void swaps_restore(Swaps *w) {
        for (size_t i = w->n; i > 0; i--)
                (void) slot_set_new(&w->s[i - 1].at, w->s[i - 1].value);
        free(w->s);
        dynbuf_done(&w->raw);
}

static int swap_out(const Slot *at, json_t *v, void *userdata, unsigned depth) {
        Swaps *w = userdata;
        size_t len = json_string_length(v);
        char ref[64];
        json_t *r;
        int n, k;

        if (!json_is_string(v) || len < LONG_STRING_MIN)
                return visit_children(v, swap_out, w, depth + 1);

        if (w->n == w->allocated) {
                size_t a = MAX(w->allocated * 2, (size_t) 16);
                void *s = reallocarray(w->s, a, sizeof(*w->s));
                if (!s)
                        return -ENOMEM;
                w->s = s;
                w->allocated = a;
        }
        n = snprintf(ref, sizeof(ref), "%c%zu:%zu", '\0', w->raw.len, len);
        k = dynbuf_append(&w->raw, json_string_value(v), len);
        if (k < 0)
                return k;
        r = json_stringn(ref, (size_t) n);
        if (!r)
                return -ENOMEM;
        w->s[w->n].at = *at;
        w->s[w->n++].value = json_incref(v);
        return slot_set_new(at, r);
}

/* msg is left as it was. */
static int message_encode(json_t *msg, char **ret, size_t *ret_len) {
        _cleanup_free_ char *text = NULL;
        Swaps w = { .raw = DYNBUF_INIT(MESSAGE_MAX) };
        size_t len, raw_len;
        char *out = NULL;
        int k;

        k = visit_children(msg, swap_out, &w, 0);
        if (k >= 0)
                text = json_dumps(msg, JSON_COMPACT);
        if (k >= 0 && !text)
                k = -ENOMEM;
        len = text ? strlen(text) : 0;
        raw_len = w.raw.len;
        if (k >= 0 && len + 1 + raw_len > MESSAGE_MAX)
                k = -E2BIG;
        if (k >= 0)
                out = malloc(len + 1 + raw_len);
        if (k >= 0 && !out)
                k = -ENOMEM;
        if (k >= 0) {
                memcpy(out, text, len + 1);
                if (raw_len > 0)
                        memcpy(out + len + 1, w.raw.data, raw_len);
        }
        swaps_restore(&w);
        if (k < 0)
                return k;
        *ret = out;
        *ret_len = raw_len > 0 ? len + 1 + raw_len : len;
        return 0;
}

typedef struct Raw {
        const char *data;
        size_t len;
} Raw;

static bool is_ascii(const char *s, size_t n) {
        unsigned char any = 0;

        for (size_t i = 0; i < n; i++)
                any |= (unsigned char) s[i];
        return any < 0x80;
}

/* Puts back the string a reference stands for. */
static int resolve(const Slot *at, json_t *v, void *userdata, unsigned depth) {
        const Raw *raw = userdata;
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        char buf[64], *colon;
        uint64_t off, n;
        json_t *r;

        if (!json_is_string(v))
                return visit_children(v, resolve, userdata, depth + 1);
        if (len == 0)
                return 0;
        if (s[0] != '\0')
                return memchr(s, '\0', len) ? -EBADMSG : 0; /* only a reference holds a NUL */
        if (len >= sizeof(buf))
                return -EBADMSG;
        memcpy(buf, s + 1, len - 1);
        buf[len - 1] = '\0';
        colon = strchr(buf, ':');
        if (!colon)
                return -EBADMSG;
        *colon = '\0';
        if (safe_atou64(buf, &off) < 0 || safe_atou64(colon + 1, &n) < 0 || off > raw->len || n > raw->len - off)
                return -EBADMSG;
        if (memchr(raw->data + off, '\0', (size_t) n))
                return -EBADMSG;
        /* PEM and hex are ASCII, which is UTF-8 without the per-character check. */
        r = is_ascii(raw->data + off, (size_t) n) ? json_stringn_nocheck(raw->data + off, (size_t) n)
                                                  : json_stringn(raw->data + off, (size_t) n);
        if (!r)
                return -EBADMSG; /* not UTF-8 */
        return slot_set_new(at, r);
}

static json_t *message_decode(const char *buf, size_t n) {
        const char *nul = memchr(buf, '\0', n);
        size_t text_len = nul ? (size_t) (nul - buf) : n;
        json_auto_t *msg = NULL;
        json_error_t e;

        msg = json_loadb(buf, text_len, nul ? JSON_ALLOW_NUL : 0, &e);
        if (!msg)
                return NULL;
        if (nul && visit_children(msg, resolve, &(Raw) { .data = nul + 1, .len = n - text_len - 1 }, 0) < 0)
                return NULL;
        return TAKE_PTR(msg);
}

typedef struct Worker {
        pid_t pid;
        int fd;
        bool busy;
        int64_t cookie;
} Worker;

struct WorkerPool {
        Worker *workers;
        unsigned n;
        unsigned busy;
        worker_done_t done;
        void *userdata;
        char *buf;
        int epoll_fd;
        uint64_t tag_base;
};

static _noreturn_ void worker_main(int fd) {
        _cleanup_free_ char *buf = malloc(MESSAGE_MAX);
        sigset_t all;

        /* A worker ends when the daemon does. */
        (void) prctl(PR_SET_PDEATHSIG, SIGTERM);
        sigemptyset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);
        (void) signal(SIGTERM, SIG_DFL);
        (void) signal(SIGPIPE, SIG_IGN);
        if (!buf)
                _exit(EXIT_FAILURE);

        for (;;) {
                json_auto_t *job = NULL, *reply = NULL;
                _cleanup_free_ char *out = NULL;
                size_t out_len = 0;
                ssize_t n;

                n = recv(fd, buf, MESSAGE_MAX, 0);
                if (n == 0)
                        break;
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                job = message_decode(buf, (size_t) n);
                if (!job || job_run(job, &reply) < 0 || !reply)
                        reply = json_pack("{s:b, s:s, s:s}", "ok", 0, "result", "failed", "error",
                                          job ? "the job failed (out of memory)" : "the job message is malformed");
                if (!reply || message_encode(reply, &out, &out_len) < 0 || send(fd, out, out_len, MSG_NOSIGNAL) < 0)
                        break;
        }
        job_cleanup();
        _exit(EXIT_SUCCESS);
}

static int worker_start(WorkerPool *p, unsigned i) {
        int pair[2], sz = MESSAGE_MAX;
        pid_t pid;

        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
                return -errno;
        for (int k = 0; k < 2; k++) {
                (void) setsockopt(pair[k], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
                (void) setsockopt(pair[k], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
        }

        pid = fork();
        if (pid < 0) {
                int r = -errno;
                close(pair[0]);
                close(pair[1]);
                return r;
        }
        if (pid == 0) {
                /* Keep only stdio and our end: the database, the API sockets and the other workers'
                 * sockets are not ours. This is the one fork without exec: the worker runs our own
                 * job code. */
                if (pair[1] != 3) {
                        if (dup2(pair[1], 3) < 0)
                                _exit(EXIT_FAILURE);
                }
                (void) close_range(4, ~0U, 0);
                worker_main(3);
        }

        close(pair[1]);
        p->workers[i] = (Worker) { .pid = pid, .fd = pair[0] };
        if (p->epoll_fd >= 0) {
                struct epoll_event ev = { .events = EPOLLIN, .data.u64 = p->tag_base + i };
                if (epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, pair[0], &ev) < 0)
                        return -errno;
        }
        return 0;
}

int worker_pool_new(unsigned n, worker_done_t done, void *userdata, WorkerPool **ret) {
        WorkerPool *p;
        int r;

        if (n == 0)
                return -EINVAL;
        p = calloc(1, sizeof(WorkerPool));
        if (!p)
                return -ENOMEM;
        p->epoll_fd = -EBADF;
        p->n = n;
        p->done = done;
        p->userdata = userdata;
        p->workers = calloc(n, sizeof(Worker));
        p->buf = malloc(MESSAGE_MAX);
        if (!p->workers || !p->buf) {
                worker_pool_free(p);
                return -ENOMEM;
        }
        for (unsigned i = 0; i < n; i++)
                p->workers[i] = (Worker) { .pid = 0, .fd = -EBADF };
        for (unsigned i = 0; i < n; i++) {
                r = worker_start(p, i);
                if (r < 0) {
                        worker_pool_free(p);
                        return r;
                }
        }
        *ret = p;
        return 0;
}

WorkerPool *worker_pool_free(WorkerPool *p) {
        if (!p)
                return NULL;
        for (unsigned i = 0; p->workers && i < p->n; i++) {
                Worker *w = &p->workers[i];
                if (w->fd >= 0)
                        close(w->fd);
                if (w->pid > 0) {
                        (void) kill(w->pid, SIGTERM);
                        (void) waitpid(w->pid, NULL, 0);
                }
        }
        free(p->workers);
        free(p->buf);
        free(p);
        return NULL;
}

void worker_pool_set_epoll(WorkerPool *p, int epoll_fd, uint64_t tag_base) {
        p->epoll_fd = epoll_fd;
        p->tag_base = tag_base;
}

unsigned worker_pool_size(WorkerPool *p) {
        return p->n;
}

unsigned worker_pool_busy(WorkerPool *p) {
        return p->busy;
}

bool worker_pool_running(WorkerPool *p, int64_t id, int64_t modulus) {
        for (unsigned i = 0; i < p->n; i++)
                if (p->workers[i].busy && p->workers[i].cookie / modulus == id)
                        return true;
        return false;
}

int worker_pool_fd(WorkerPool *p, unsigned i) {
        return i < p->n ? p->workers[i].fd : -EBADF;
}

int worker_pool_submit(WorkerPool *p, json_t *job, int64_t cookie) {
        _cleanup_free_ char *msg = NULL;
        size_t len;
        int r;

        for (unsigned i = 0; i < p->n; i++) {
                Worker *w = &p->workers[i];
                if (w->busy || w->fd < 0)
                        continue;
                r = message_encode(job, &msg, &len);
                if (r < 0)
                        return r;
                if (send(w->fd, msg, len, MSG_NOSIGNAL) < 0)
                        return -errno;
                w->busy = true;
                w->cookie = cookie;
                p->busy++;
                return 0;
        }
        return -EBUSY;
}

static void worker_died(WorkerPool *p, unsigned i, const char *why) {
        Worker *w = &p->workers[i];
        int status = 0;
        char reason[256];
        bool was_busy = w->busy;
        int64_t cookie = w->cookie;

        if (w->fd >= 0) {
                if (p->epoll_fd >= 0)
                        (void) epoll_ctl(p->epoll_fd, EPOLL_CTL_DEL, w->fd, NULL);
                close(w->fd);
                w->fd = -EBADF;
        }
        if (w->pid > 0) {
                (void) kill(w->pid, SIGKILL);
                if (waitpid(w->pid, &status, 0) > 0 && WIFSIGNALED(status))
                        snprintf(reason, sizeof(reason), "the worker process was killed by signal %s",
                                 sigabbrev_np(WTERMSIG(status)) ?: "?");
                else
                        snprintf(reason, sizeof(reason), "the worker process %s", why);
        } else
                snprintf(reason, sizeof(reason), "the worker process %s", why);
        w->pid = 0;
        if (was_busy) {
                w->busy = false;
                p->busy--;
        }

        (void) worker_start(p, i);
        if (was_busy)
                p->done(p->userdata, cookie, NULL, reason);
}

int worker_pool_process(WorkerPool *p, unsigned i) {
        Worker *w;
        ssize_t n;

        if (i >= p->n)
                return -EINVAL;
        w = &p->workers[i];
        if (w->fd < 0)
                return 0;

        n = recv(w->fd, p->buf, MESSAGE_MAX, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
                return 0;
        if (n <= 0) {
                worker_died(p, i, "exited");
                return 0;
        }
        if (!w->busy) {
                worker_died(p, i, "sent a message without a job");
                return 0;
        }

        json_auto_t *reply = message_decode(p->buf, (size_t) n);
        int64_t cookie = w->cookie;
        w->busy = false;
        p->busy--;
        if (!reply || !json_is_object(reply))
                p->done(p->userdata, cookie, NULL, "the worker sent a malformed reply");
        else
                p->done(p->userdata, cookie, reply, NULL);
        return 0;
}

void worker_pool_reap(WorkerPool *p) {
        for (unsigned i = 0; i < p->n; i++) {
                Worker *w = &p->workers[i];
                int status;
                if (w->pid > 0 && waitpid(w->pid, &status, WNOHANG) == w->pid) {
                        w->pid = 0;
                        worker_died(p, i, "exited");
                }
        }
}
