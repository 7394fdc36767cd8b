/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dynbuf.h"
#include "process-util.h"
#include "string-util.h"

#define SPAWN_DEFAULT_PATH "/usr/bin:/bin:/usr/sbin:/sbin"
#define SPAWN_CLEAN_PATH "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
#define SPAWN_KILL_GRACE_USEC (2 * USEC_PER_SEC)
/* Without a pidfd, how often the child is checked for exit while its pipe stays open. */
#define SPAWN_POLL_TICK_MSEC 50
#define SPAWN_READ_CHUNK (64 * 1024)

void spawn_result_done(SpawnResult *r) {
        if (!r)
                return;
        r->output = mfree(r->output);
        r->output_len = 0;
        r->err_output = mfree(r->err_output);
        r->err_output_len = 0;
}

/* Finds the program to run the way execvp() would, but in the PATH of the child's environment and
 * before forking, so that the child only has to call execve(). */
static int find_executable(const char *name, char *const envp[], char **ret) {
        const char *path = SPAWN_DEFAULT_PATH, *p;
        int last_error = -ENOENT;

        if (strchr(name, '/')) {
                char *c = strdup(name);

                if (!c)
                        return -ENOMEM;
                *ret = c;
                return 0;
        }

        for (char *const *e = envp; e && *e; e++)
                if (startswith(*e, "PATH=")) {
                        path = *e + strlen("PATH=");
                        break;
                }

        p = path;
        for (;;) {
                size_t n = strcspn(p, ":");
                _cleanup_free_ char *dir = NULL, *candidate = NULL;
                struct stat st;

                /* An empty PATH element means the current directory; the child runs in "/" and we
                 * do not want relative lookups, so empty elements are skipped. */
                if (n > 0) {
                        dir = strndup(p, n);
                        if (!dir)
                                return -ENOMEM;
                        candidate = strjoin(dir, "/", name);
                        if (!candidate)
                                return -ENOMEM;

                        if (stat(candidate, &st) >= 0 && S_ISREG(st.st_mode)) {
                                if (access(candidate, X_OK) >= 0) {
                                        *ret = TAKE_PTR(candidate);
                                        return 0;
                                }
                                last_error = -EACCES;
                        }
                }

                if (p[n] == '\0')
                        break;
                p += n + 1;
        }

        return last_error;
}

/* Runs in the vfork() child, on the parent's stack and in its memory, until execve() or _exit():
 * only system calls, nothing that allocates, takes a lock or returns into the parent's frames. It
 * starts with every signal blocked (see spawn_vfork()), so no handler of the parent can run here
 * before the dispositions are reset. On failure the errno is sent to the parent through the error
 * pipe, which closes on a successful exec. (errno itself is shared with the parent, which is
 * suspended and does not look at it.) */
_noreturn_ static void child_exec(
                const char *path,
                char *const argv[],
                char *const envp[],
                int null_fd,
                int out_fd,
                int err_fd,
                int error_fd) {

        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t ss;
        int r;

        /* The parent may block SIGCHLD for a signalfd or ignore SIGPIPE: both survive exec, so give
         * the program the defaults it expects. The dispositions are this process's own (vfork()
         * does not share them); reset them before the mask is cleared below. */
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) sigaction(sig, &sa, NULL);
        sigemptyset(&ss);
        if (sigprocmask(SIG_SETMASK, &ss, NULL) < 0)
                goto fail;

        /* A new session, hence a new process group with our pid as its id, so the parent can signal
         * everything we start. */
        if (setsid() < 0)
                goto fail;

        /* Move our fds out of 0-2 first, in case the parent had those closed and pipe() or open()
         * handed them out. */
        null_fd = fcntl(null_fd, F_DUPFD_CLOEXEC, 3);
        if (null_fd < 0)
                goto fail;
        out_fd = fcntl(out_fd, F_DUPFD_CLOEXEC, 3);
        if (out_fd < 0)
                goto fail;
        err_fd = fcntl(err_fd, F_DUPFD_CLOEXEC, 3);
        if (err_fd < 0)
                goto fail;
        error_fd = fcntl(error_fd, F_DUPFD_CLOEXEC, 3);
        if (error_fd < 0)
                goto fail;

        if (dup2(null_fd, STDIN_FILENO) < 0 || dup2(out_fd, STDOUT_FILENO) < 0 ||
            dup2(err_fd, STDERR_FILENO) < 0)
                goto fail;

        if (chdir("/") < 0)
                goto fail;

        /* Close everything else but the error pipe, which is O_CLOEXEC and closes on exec. */
        r = 0;
        if (error_fd > 3)
                r = close_range(3, (unsigned) error_fd - 1, 0);
        if (r >= 0)
                r = close_range((unsigned) error_fd + 1, UINT_MAX, 0);
        if (r < 0) {
                struct rlimit rl;
                int max = 65536;

                if (getrlimit(RLIMIT_NOFILE, &rl) >= 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < INT_MAX)
                        max = (int) rl.rlim_cur;
                for (int fd = 3; fd < max; fd++)
                        if (fd != error_fd)
                                (void) close(fd);
        }

        execve(path, argv, envp);

fail:
        r = errno > 0 ? errno : EIO;
        (void) !write(error_fd, &r, sizeof(r));
        _exit(127);
}

/* Starts the child with vfork() rather than fork(): the child borrows the parent's memory until it
 * calls execve(), so nothing is copied (no page tables, no copy-on-write faults in the parent
 * afterwards), and the parent resumes only once the child has exec'd or failed. glibc's
 * posix_spawn() works the same way (clone(CLONE_VM|CLONE_VFORK)), but under valgrind, which runs
 * vfork as a plain fork, it cannot report an exec error: it passes the errno back through the
 * shared memory, which is then not shared. The error pipe works either way.
 * All signals stay blocked while the child borrows the memory: a handler of the parent running in
 * the child would write to the parent's data. The child clears the mask itself after resetting the
 * dispositions. Kept out of line so that the child's frames sit below a frame that stays valid;
 * the child never returns from here. */
static __attribute__((noinline)) pid_t spawn_vfork(
                const char *path,
                char *const argv[],
                char *const envp[],
                int null_fd,
                int out_fd,
                int err_fd,
                int error_fd) {

        sigset_t all, saved;
        pid_t pid;
        int r;

        sigfillset(&all);
        r = pthread_sigmask(SIG_SETMASK, &all, &saved);
        if (r != 0)
                return -r;

        pid = vfork();
        if (pid == 0)
                child_exec(path, argv, envp, null_fd, out_fd, err_fd, error_fd);
        r = pid < 0 ? negative_errno() : pid;

        (void) pthread_sigmask(SIG_SETMASK, &saved, NULL);
        return r;
}

static int read_exec_error(int fd) {
        int e = 0;
        ssize_t n;

        do
                n = read(fd, &e, sizeof(e));
        while (n < 0 && errno == EINTR);

        if (n < 0)
                return negative_errno();
        if (n == 0)
                return 0; /* closed by a successful execve() */
        if (n != (ssize_t) sizeof(e) || e <= 0)
                return -EIO;

        return -e;
}

static void record_status(SpawnResult *r, int status) {
        if (WIFEXITED(status)) {
                r->exit_status = WEXITSTATUS(status);
                r->signaled = false;
        } else if (WIFSIGNALED(status)) {
                r->term_signal = WTERMSIG(status);
                r->signaled = true;
        }
}

/* Reaps pid if it has exited (or, with block, waits for it). Returns 1 if reaped, 0 if not yet. */
static int reap(pid_t pid, bool block, SpawnResult *r) {
        int status;
        pid_t p;

        do
                p = waitpid(pid, &status, block ? 0 : WNOHANG);
        while (p < 0 && errno == EINTR);

        if (p < 0)
                return negative_errno(); /* -ECHILD if the caller set SIGCHLD to SIG_IGN */
        if (p == 0)
                return 0;

        record_status(r, status);
        return 1;
}

/* One captured output stream of the child. */
typedef struct SpawnStream {
        int fd;
        DynBuf buf;
        bool truncated;
} SpawnStream;

#define SPAWN_STREAMS_MAX 2

static void spawn_streams_done(SpawnStream (*st)[SPAWN_STREAMS_MAX]) {
        for (size_t i = 0; i < SPAWN_STREAMS_MAX; i++) {
                (*st)[i].fd = safe_close((*st)[i].fd);
                dynbuf_done(&(*st)[i].buf);
        }
}

/* Reads what is available. Returns 0 on EOF (and closes the fd), 1 after reading data, 2 if
 * nothing was ready. */
static int read_output(SpawnStream *st) {
        char chunk[SPAWN_READ_CHUNK];
        ssize_t n;
        int r;

        n = read(st->fd, chunk, sizeof(chunk));
        if (n < 0) {
                if (IN_SET(errno, EINTR, EAGAIN))
                        return 2;
                return negative_errno();
        }
        if (n == 0) {
                st->fd = safe_close(st->fd);
                return 0;
        }

        /* Beyond the cap the data is read and dropped, so that the child never blocks on a full
         * pipe. */
        if (st->buf.len < st->buf.cap) {
                size_t k = MIN((size_t) n, st->buf.cap - st->buf.len);

                r = dynbuf_append(&st->buf, chunk, k);
                if (r < 0)
                        return r;
                if (k < (size_t) n)
                        st->truncated = true;
        } else
                st->truncated = true;

        return 1;
}

static bool process_group_exists(pid_t pgid) {
        return kill(-pgid, 0) >= 0 || errno != ESRCH;
}

static int msec_until(usec_t now, usec_t deadline) {
        usec_t d;

        if (deadline == USEC_INFINITY)
                return -1;
        if (deadline <= now)
                return 0;

        d = (deadline - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC;
        return d > INT_MAX ? INT_MAX : (int) d;
}

int spawn_run_full(char *const argv[], char *const envp[], const SpawnOptions *opts, SpawnResult *ret) {
        _cleanup_close_ int null_fd = -EBADF, out_write = -EBADF, err_write = -EBADF, exec_err_read = -EBADF,
                            exec_err_write = -EBADF, pidfd = -EBADF;
        _cleanup_(spawn_streams_done) SpawnStream streams[SPAWN_STREAMS_MAX] = {
                { .fd = -EBADF, .buf = DYNBUF_INIT(opts ? opts->output_cap : 0) },
                { .fd = -EBADF, .buf = DYNBUF_INIT(opts ? opts->output_cap : 0) },
        };
        _cleanup_free_ char *path = NULL;
        SpawnResult result = { .exit_status = 0 };
        usec_t start, deadline, kill_deadline = USEC_INFINITY;
        bool reaped = false, killed = false;
        char *const empty_env[] = { NULL };
        size_t n_streams;
        int pipefd[2], r;
        pid_t pid;

        if (!argv || isempty(argv[0]) || !opts || !ret)
                return -EINVAL;
        if (!envp)
                envp = empty_env;
        n_streams = opts->separate_stderr ? 2 : 1;

        r = find_executable(argv[0], envp, &path);
        if (r < 0)
                return r;

        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (null_fd < 0)
                return negative_errno();

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return negative_errno();
        streams[0].fd = pipefd[0];
        out_write = pipefd[1];

        if (opts->separate_stderr) {
                if (pipe2(pipefd, O_CLOEXEC) < 0)
                        return negative_errno();
                streams[1].fd = pipefd[0];
                err_write = pipefd[1];
        }

        /* Closes on a successful execve(); carries the errno otherwise. */
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return negative_errno();
        exec_err_read = pipefd[0];
        exec_err_write = pipefd[1];

        start = now_usec(CLOCK_MONOTONIC);
        deadline = opts->timeout == 0 || opts->timeout == USEC_INFINITY || opts->timeout > USEC_INFINITY - start
                           ? USEC_INFINITY
                           : start + opts->timeout;

        pid = spawn_vfork(path, argv, envp, null_fd, out_write, err_write >= 0 ? err_write : out_write,
                          exec_err_write);
        if (pid < 0)
                return pid;

        null_fd = safe_close(null_fd);
        out_write = safe_close(out_write);
        err_write = safe_close(err_write);
        exec_err_write = safe_close(exec_err_write);

        r = read_exec_error(exec_err_read);
        if (r < 0) {
                /* The child never ran the program; it exits right away. */
                (void) reap(pid, true, &result);
                return r;
        }
        exec_err_read = safe_close(exec_err_read);

        /* A pidfd makes the child's exit pollable; without one (old kernel, seccomp) we check with
         * WNOHANG on a short tick. Either way the specific pid is waited for, so this works with
         * SIGCHLD blocked for a signalfd and never reaps anyone else's children. */
        pidfd = pidfd_open(pid, 0);

        for (size_t i = 0; i < n_streams; i++)
                if (fcntl(streams[i].fd, F_SETFL, O_NONBLOCK) < 0) {
                        r = negative_errno();
                        goto kill_and_reap;
                }

        for (;;) {
                struct pollfd pfd[SPAWN_STREAMS_MAX + 1];
                int idx[SPAWN_STREAMS_MAX] = { -1, -1 };
                bool streams_open = false;
                nfds_t n = 0;
                int wait_ms;
                usec_t now;

                if (!reaped) {
                        r = reap(pid, false, &result);
                        if (r < 0)
                                goto kill_and_reap;
                        reaped = r > 0;
                }

                for (size_t i = 0; i < n_streams; i++)
                        if (streams[i].fd >= 0)
                                streams_open = true;

                /* Done when the child is gone and nobody holds a pipe anymore; after a timeout
                 * also wait for the rest of the process group, until SIGKILL. */
                if (reaped && !streams_open && (!killed || !process_group_exists(pid)))
                        break;

                now = now_usec(CLOCK_MONOTONIC);
                if (!killed && now >= deadline) {
                        result.timed_out = true;
                        killed = true;
                        (void) kill(-pid, SIGTERM);
                        kill_deadline = now + SPAWN_KILL_GRACE_USEC;
                        continue;
                }
                if (killed && now >= kill_deadline) {
                        (void) kill(-pid, SIGKILL);
                        break;
                }

                wait_ms = msec_until(now, killed ? kill_deadline : deadline);
                for (size_t i = 0; i < n_streams; i++)
                        if (streams[i].fd >= 0) {
                                idx[i] = (int) n;
                                pfd[n++] = (struct pollfd) { .fd = streams[i].fd, .events = POLLIN };
                        }
                if (!reaped && pidfd >= 0)
                        pfd[n++] = (struct pollfd) { .fd = pidfd, .events = POLLIN };
                if ((!reaped && pidfd < 0) || (reaped && !streams_open))
                        /* Nothing to poll for the child's (or its group's) end: check on a tick. */
                        wait_ms = wait_ms < 0 ? SPAWN_POLL_TICK_MSEC : MIN(wait_ms, SPAWN_POLL_TICK_MSEC);

                r = poll(pfd, n, wait_ms);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        goto kill_and_reap;
                }

                for (size_t i = 0; i < n_streams; i++)
                        if (idx[i] >= 0 && pfd[idx[i]].revents != 0) {
                                r = read_output(&streams[i]);
                                if (r < 0)
                                        goto kill_and_reap;
                        }
                /* The pidfd's event is handled by the reap() at the top of the loop. */
        }

        if (!reaped) {
                r = reap(pid, true, &result);
                if (r < 0)
                        return r;
        }

        /* After SIGKILL, take what is still buffered in the pipes, but do not wait for more: a
         * process outside the group may hold them. */
        for (size_t i = 0; i < n_streams; i++)
                while (streams[i].fd >= 0) {
                        r = read_output(&streams[i]);
                        if (r < 0)
                                return r;
                        if (r != 1)
                                break;
                }

        result.duration = now_usec(CLOCK_MONOTONIC) - start;
        result.output_truncated = streams[0].truncated;
        result.output = dynbuf_steal(&streams[0].buf, &result.output_len);
        if (!result.output)
                return -ENOMEM;
        if (opts->separate_stderr) {
                result.err_output_truncated = streams[1].truncated;
                result.err_output = dynbuf_steal(&streams[1].buf, &result.err_output_len);
                if (!result.err_output) {
                        spawn_result_done(&result);
                        return -ENOMEM;
                }
        }

        *ret = result;
        return 0;

kill_and_reap:
        (void) kill(-pid, SIGKILL);
        if (!reaped)
                (void) reap(pid, true, &result);
        return r;
}

int spawn_run(char *const argv[], char *const envp[], usec_t timeout, size_t output_cap, SpawnResult *ret) {
        return spawn_run_full(argv, envp, &(const SpawnOptions) { .timeout = timeout, .output_cap = output_cap },
                              ret);
}

int spawn_result_describe(const SpawnResult *r, char **ret) {
        char buf[128];
        char *s;

        if (!r || !ret)
                return -EINVAL;

        if (r->timed_out) {
                if (r->duration < USEC_PER_SEC)
                        (void) snprintf(buf, sizeof(buf), "timed out after %" PRIu64 "ms",
                                        (uint64_t) (r->duration / USEC_PER_MSEC));
                else
                        (void) snprintf(buf, sizeof(buf), "timed out after %" PRIu64 "s",
                                        (uint64_t) (r->duration / USEC_PER_SEC));
        } else if (r->signaled) {
                const char *name = sigabbrev_np(r->term_signal);

                if (name)
                        (void) snprintf(buf, sizeof(buf), "killed by signal SIG%s", name);
                else
                        (void) snprintf(buf, sizeof(buf), "killed by signal %i", r->term_signal);
        } else
                (void) snprintf(buf, sizeof(buf), "exited with status %i", r->exit_status);

        s = strdup(buf);
        if (!s)
                return -ENOMEM;

        *ret = s;
        return 0;
}

static bool env_name_matches(const char *a, const char *b) {
        size_t na = strcspn(a, "="), nb = strcspn(b, "=");

        return na == nb && strneq(a, b, na);
}

char **spawn_clean_env(char *const extra[]) {
        static const char *const base[] = {
                ("PATH=" SPAWN_CLEAN_PATH), "HOME=/", "SHELL=/bin/sh", "TERM=dumb", "LANG=C.UTF-8",
        };
        _cleanup_strv_free_ char **l = NULL;

        l = calloc(1, sizeof(char *));
        if (!l)
                return NULL;

        for (size_t i = 0; i < ELEMENTSOF(base); i++)
                if (strv_extend(&l, base[i]) < 0)
                        return NULL;

        for (char *const *e = extra; e && *e; e++) {
                bool replaced = false;

                if (!strchr(*e, '=') || (*e)[0] == '=') {
                        errno = EINVAL;
                        return NULL;
                }

                /* An extra entry overrides a base entry (or an earlier extra) of the same name. */
                for (char **i = l; *i; i++)
                        if (env_name_matches(*i, *e)) {
                                char *c = strdup(*e);

                                if (!c)
                                        return NULL;
                                free(*i);
                                *i = c;
                                replaced = true;
                                break;
                        }

                if (!replaced && strv_extend(&l, *e) < 0)
                        return NULL;
        }

        return TAKE_PTR(l);
}
