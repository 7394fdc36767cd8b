/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "certkeeperd-manager.h"
#include "macro.h"
#include "time-util.h"

/* The local HTTP API (docs/API.md) on libmicrohttpd, driven by the manager's epoll loop: no
 * threads of its own, and no timer when no connection is open. */
typedef struct Api Api;

typedef struct ApiConfig {
        const char *socket_path;    /* Unix socket, created mode 0666; callers checked by SO_PEERCRED */
        const char *tcp_address;    /* "127.0.0.1"; NULL disables TCP */
        uint16_t tcp_port;          /* first port to try; the next free one is used if busy */
        const char *token_path;     /* bearer token file, created 0600 if missing */
        const char *api_json_path;  /* written atomically with the endpoints actually used */
        size_t max_body;            /* default 64 KiB */
        usec_t stream_keepalive;    /* event stream keep-alive period; default 15 s */
} ApiConfig;

int api_new(Manager *m, const ApiConfig *cfg, Api **ret, char **reterr) _warn_unused_result_;
Api *api_free(Api *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(Api *, api_free);

/* fds to watch for input (EPOLLIN) in the manager's epoll: up to 2 (one per listening daemon).
 * Returns the count. */
unsigned api_get_fds(Api *a, int fds[static 2]);
/* Replies to state-changing requests are held (their connections suspended) until the manager has
 * committed its transaction; this sends them, or a 500 problem if commit_result < 0. */
void api_release_held(Api *a, int commit_result);
bool api_has_held(Api *a);

/* Answers a request that waited for a CA (manager_cert_revoke(), manager_ca_account()) with the
 * operation's result as those describe it (NULL: a 500). The answer is held until the next commit
 * like any other change. Nothing happens when the request is gone. */
void api_operation_done(Api *a, uint64_t ticket, json_t *result);

/* Runs whatever is ready. */
int api_process(Api *a);
/* Time in usec until api_process() must run even without input (connection timeouts), or
 * USEC_INFINITY if none. */
usec_t api_get_timeout(Api *a);
