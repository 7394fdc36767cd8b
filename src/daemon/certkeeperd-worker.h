/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

/* A pool of worker processes, forked once at start-up (and again when one dies), each running
 * jobs (certkeeperd-jobs.c) one at a time over a SOCK_SEQPACKET socketpair: one message per job
 * and one per reply, a JSON object (its long strings travel as raw bytes after the JSON text, see
 * certkeeperd-worker.c). The event loop never blocks on them: it watches their sockets. */
typedef struct WorkerPool WorkerPool;

/* Called with the reply of the job that carried 'cookie', or reply == NULL and a reason in words
 * when the worker died or sent garbage. */
typedef void (*worker_done_t)(void *userdata, int64_t cookie, json_t *reply, const char *failure);

int worker_pool_new(unsigned n, worker_done_t done, void *userdata, WorkerPool **ret) _warn_unused_result_;
WorkerPool *worker_pool_free(WorkerPool *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(WorkerPool *, worker_pool_free);

unsigned worker_pool_size(WorkerPool *p);
unsigned worker_pool_busy(WorkerPool *p);

/* Sends a job to an idle worker. -EBUSY if none is idle. */
int worker_pool_submit(WorkerPool *p, json_t *job, int64_t cookie) _warn_unused_result_;

/* Whether a job whose cookie / modulus == id is running. */
bool worker_pool_running(WorkerPool *p, int64_t id, int64_t modulus);

/* The sockets to watch (EPOLLIN); index i belongs to worker i. */
int worker_pool_fd(WorkerPool *p, unsigned i);
/* Handles input on worker i's socket: a reply, or its death (then it is restarted). */
int worker_pool_process(WorkerPool *p, unsigned i);
/* Reaps exited workers (on SIGCHLD). */
void worker_pool_reap(WorkerPool *p);
/* The epoll instance and tag to use for re-registered sockets after a restart. */
void worker_pool_set_epoll(WorkerPool *p, int epoll_fd, uint64_t tag_base);
