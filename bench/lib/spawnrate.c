/* SPDX-License-Identifier: MIT */
/* spawnrate: how many times per second this machine can start a program and wait for it, from one
 * process or from several in parallel. Used by bench/helper.sh for the raw fork+exec rate (with
 * /bin/true) and for a helper program run alone, outside the daemon.
 *
 *   spawnrate [-p PARALLEL] [-t SECONDS] [-m fork|vfork] [-c] PROGRAM [ARG...]
 *
 *   -p   processes spawning at once, each in its own loop (default 1)
 *   -t   how long to run (default 2 s)
 *   -m   fork: fork() + execve() + waitpid(), as certkeeperd's helper workers start helpers;
 *        vfork: posix_spawn() (glibc uses clone(CLONE_VM|CLONE_VFORK)) + waitpid()
 *   -c   capture stdout and stderr through pipes, read to EOF, as the daemon does; without it the
 *        program's stdout and stderr go to /dev/null
 *
 * The program gets this process's environment (set CERTMONGER_* before running a helper). It must
 * exit 0. Prints one JSON line: {"parallel", "seconds", "spawns", "per_s", "us_per_spawn",
 * "cpu_us_per_spawn", "mode"}: us_per_spawn is wall time per start in each loop, cpu_us_per_spawn
 * the user+system CPU of the started programs and the loops per start (fork, exec, exit, wait).
 * Build: cc -O2 -o spawnrate spawnrate.c */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static double now(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void die(const char *what) {
        perror(what);
        exit(2);
}

/* One start, capture (or not) and wait. Returns the exit status. */
static int run_once(char **argv, bool use_vfork, bool capture, int null_fd) {
        int out[2] = { -1, -1 }, err[2] = { -1, -1 }, status;
        pid_t pid;

        if (capture && (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0))
                die("pipe2");
        int ofd = capture ? out[1] : null_fd, efd = capture ? err[1] : null_fd;

        if (use_vfork) {
                posix_spawn_file_actions_t fa;
                posix_spawn_file_actions_init(&fa);
                posix_spawn_file_actions_adddup2(&fa, null_fd, 0);
                posix_spawn_file_actions_adddup2(&fa, ofd, 1);
                posix_spawn_file_actions_adddup2(&fa, efd, 2);
                int r = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
                posix_spawn_file_actions_destroy(&fa);
                if (r != 0) {
                        errno = r;
                        die("posix_spawn");
                }
        } else {
                pid = fork();
                if (pid < 0)
                        die("fork");
                if (pid == 0) {
                        if (dup2(null_fd, 0) < 0 || dup2(ofd, 1) < 0 || dup2(efd, 2) < 0)
                                _exit(126);
                        execve(argv[0], argv, environ);
                        _exit(127);
                }
        }

        if (capture) {
                char buf[16384];
                struct pollfd p[2] = { { .fd = out[0], .events = POLLIN }, { .fd = err[0], .events = POLLIN } };
                close(out[1]);
                close(err[1]);
                int open_fds = 2;
                while (open_fds > 0) {
                        if (poll(p, 2, -1) < 0) {
                                if (errno == EINTR)
                                        continue;
                                die("poll");
                        }
                        for (int i = 0; i < 2; i++)
                                if (p[i].fd >= 0 && p[i].revents) {
                                        ssize_t n = read(p[i].fd, buf, sizeof(buf));
                                        if (n <= 0) {
                                                close(p[i].fd);
                                                p[i].fd = -1;
                                                open_fds--;
                                        }
                                }
                }
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        die("waitpid");
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(int argc, char *argv[]) {
        int par = 1, c;
        double seconds = 2;
        bool use_vfork = false, capture = false;

        while ((c = getopt(argc, argv, "+p:t:m:c")) >= 0)
                switch (c) {
                case 'p':
                        par = atoi(optarg);
                        break;
                case 't':
                        seconds = atof(optarg);
                        break;
                case 'm':
                        use_vfork = strcmp(optarg, "vfork") == 0;
                        break;
                case 'c':
                        capture = true;
                        break;
                default:
                        fprintf(stderr, "usage: %s [-p N] [-t SECONDS] [-m fork|vfork] [-c] PROGRAM [ARG...]\n", argv[0]);
                        return 2;
                }
        if (optind >= argc || par < 1 || par > 256 || seconds <= 0) {
                fprintf(stderr, "usage: %s [-p N] [-t SECONDS] [-m fork|vfork] [-c] PROGRAM [ARG...]\n", argv[0]);
                return 2;
        }
        char **prog = argv + optind;
        int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null_fd < 0)
                die("/dev/null");

        /* One check run: the program must work before it is timed. */
        int st = run_once(prog, use_vfork, capture, null_fd);
        if (st != 0) {
                fprintf(stderr, "%s exited with status %d\n", prog[0], st);
                return 1;
        }

        long *counts = mmap(NULL, sizeof(long) * (size_t) par, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (counts == MAP_FAILED)
                die("mmap");
        double t0 = now(), end = t0 + seconds;
        for (int i = 0; i < par; i++) {
                pid_t pid = fork();
                if (pid < 0)
                        die("fork");
                if (pid == 0) {
                        long n = 0;
                        while (now() < end) {
                                if (run_once(prog, use_vfork, capture, null_fd) != 0)
                                        _exit(1);
                                n++;
                        }
                        counts[i] = n;
                        _exit(0);
                }
        }
        int failed = 0, status;
        for (int i = 0; i < par; i++) {
                if (wait(&status) < 0)
                        die("wait");
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                        failed = 1;
        }
        double dt = now() - t0;
        struct rusage ru;
        if (getrusage(RUSAGE_CHILDREN, &ru) < 0)
                die("getrusage");
        double cpu = (double) ru.ru_utime.tv_sec + (double) ru.ru_utime.tv_usec / 1e6 + (double) ru.ru_stime.tv_sec +
                     (double) ru.ru_stime.tv_usec / 1e6;
        long total = 0;
        for (int i = 0; i < par; i++)
                total += counts[i];
        if (failed) {
                fprintf(stderr, "a run of %s failed\n", prog[0]);
                return 1;
        }
        printf("{\"parallel\": %d, \"seconds\": %.3f, \"spawns\": %ld, \"per_s\": %.1f, \"us_per_spawn\": %.1f, "
               "\"cpu_us_per_spawn\": %.1f, \"mode\": \"%s%s\"}\n",
               par, dt, total, (double) total / dt, dt * 1e6 * par / (double) total, cpu * 1e6 / (double) total,
               use_vfork ? "vfork" : "fork", capture ? "+pipes" : "");
        return 0;
}
