/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "certkeeperd-jobs.h"
#include "certkeeperd-worker.h"

#define MESSAGE_MAX (4 * 1024 * 1024)

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
                json_error_t e;
                ssize_t n;

                n = recv(fd, buf, MESSAGE_MAX, 0);
                if (n == 0)
                        break;
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                job = json_loadb(buf, (size_t) n, 0, &e);
                if (!job || job_run(job, &reply) < 0 || !reply)
                        reply = json_pack("{s:b, s:s, s:s}", "ok", 0, "result", "failed", "error",
                                          job ? "the job failed (out of memory)" : "the job message is malformed");
                out = json_dumps(reply, JSON_COMPACT);
                if (!out || send(fd, out, strlen(out), MSG_NOSIGNAL) < 0)
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

        for (unsigned i = 0; i < p->n; i++) {
                Worker *w = &p->workers[i];
                if (w->busy || w->fd < 0)
                        continue;
                msg = json_dumps(job, JSON_COMPACT);
                if (!msg)
                        return -ENOMEM;
                len = strlen(msg);
                if (len > MESSAGE_MAX)
                        return -E2BIG;
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
        json_error_t e;
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

        json_auto_t *reply = json_loadb(p->buf, (size_t) n, 0, &e);
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
