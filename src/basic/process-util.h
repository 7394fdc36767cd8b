/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"
#include "time-util.h"

typedef struct SpawnResult {
        int exit_status;   /* valid when !signaled && !timed_out */
        int term_signal;   /* valid when signaled */
        bool signaled;
        bool timed_out;
        char *output;      /* stdout (and stderr, interleaved, unless separate_stderr), NUL-terminated,
                            * at most output_cap bytes */
        size_t output_len;
        bool output_truncated;
        char *err_output;  /* with separate_stderr: stderr, NUL-terminated, at most output_cap bytes;
                            * otherwise NULL */
        size_t err_output_len;
        bool err_output_truncated;
        usec_t duration;
} SpawnResult;

typedef struct SpawnOptions {
        usec_t timeout;       /* 0 or USEC_INFINITY: none */
        size_t output_cap;    /* per captured stream */
        bool separate_stderr; /* capture stderr apart from stdout, into err_output */
} SpawnOptions;

void spawn_result_done(SpawnResult *r);

/* Runs argv[0] (searched in PATH of envp if it has no slash) with exactly envp as its environment,
 * stdin on /dev/null, cwd "/", in a new process group, all fds but 0-2 closed. stdout and stderr
 * are captured into one buffer capped at output_cap bytes, or with opts->separate_stderr into two
 * buffers (output and err_output) capped at output_cap bytes each; beyond a cap the rest is read and
 * dropped, so the child never blocks on a full pipe. After the timeout the whole process group gets
 * SIGTERM, then SIGKILL 2 s later. Blocks until the child and its pipes are done. Returns 0 when the
 * child ran (whatever its exit code) and fills *ret; -ENOENT/-EACCES (or another exec error, e.g.
 * -ENOEXEC) if it could not be executed (reported through an exec-error pipe), other -errno on
 * failure. *ret is written only on success.
 * timed_out is also set when the child itself exited in time but something it left behind kept an
 * output pipe open until the timeout (exit_status is then still filled). After a timeout
 * spawn_run_full() also waits (up to the SIGKILL) for the rest of the process group to be gone.
 * Works with SIGCHLD blocked (e.g. for a signalfd): only the specific pid is waited for; it fails
 * with -ECHILD if SIGCHLD is set to SIG_IGN. */
int spawn_run_full(char *const argv[], char *const envp[], const SpawnOptions *opts, SpawnResult *ret)
        _warn_unused_result_;

/* spawn_run_full() with stdout and stderr captured together. */
int spawn_run(char *const argv[], char *const envp[], usec_t timeout, size_t output_cap, SpawnResult *ret)
        _warn_unused_result_;

/* A one-line human description: "exited with status 3", "killed by signal SIGSEGV", "timed out
 * after 30s". Returns allocated text in *ret, to be freed by the caller. */
int spawn_result_describe(const SpawnResult *r, char **ret);

/* Minimal clean environment for hooks: PATH, HOME=/, SHELL=/bin/sh, TERM=dumb, LANG=C.UTF-8,
 * plus the extra "NAME=value" entries given (an extra entry replaces a base entry of the same name).
 * Returns an strv, or NULL on OOM or (errno EINVAL) an extra entry without "NAME=". */
char **spawn_clean_env(char *const extra[]);
