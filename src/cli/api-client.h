/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

/* Client of the daemon's local HTTP API (docs/API.md). Finds the daemon through RUN_DIR/api.json,
 * prefers the Unix socket and falls back to TCP with the bearer token. Never prints anything. */

/* Largest response body accepted. */
#define API_CLIENT_MAX_RESPONSE (64U * 1024U * 1024U)

/* What RUN_DIR/api.json says. Strings are owned; NULL when absent. */
typedef struct ApiEndpoint {
        char *version;
        int64_t pid;          /* 0 if absent */
        char *socket_path;
        char *tcp;            /* "127.0.0.1:9696" */
        char *token_file;
} ApiEndpoint;

void api_endpoint_done(ApiEndpoint *e);

/* Reads and parses RUN_DIR/api.json. -ENOENT if the file is missing (daemon never started or not
 * running), -EBADMSG if it is not valid. reterr gets words. */
int api_endpoint_load(const char *run_dir, ApiEndpoint *ret, char **reterr) _warn_unused_result_;

/* true if the pid in the endpoint names a running process (kill(pid, 0) succeeds or says EPERM). */
bool api_endpoint_pid_alive(const ApiEndpoint *e);

typedef enum ApiTransport {
        API_TRANSPORT_AUTO, /* Unix socket first, TCP if the socket cannot be used */
        API_TRANSPORT_UNIX,
        API_TRANSPORT_TCP,
} ApiTransport;

typedef struct ApiClient ApiClient;

/* Reads api.json; does not connect yet. */
int api_client_new(const char *run_dir, ApiTransport transport, ApiClient **ret, char **reterr)
        _warn_unused_result_;
ApiClient *api_client_free(ApiClient *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(ApiClient *, api_client_free);

const ApiEndpoint *api_client_endpoint(const ApiClient *c);

/* One answer of the daemon. */
typedef struct ApiResponse {
        long status;          /* HTTP status */
        json_t *body;         /* parsed JSON body, NULL if empty or not JSON */
        char *problem_type;   /* for errors: the suffix after "urn:certkeeper:problem:", or NULL */
        char *detail;         /* for errors (status >= 400): problem "detail" (or title, or a generic text) */
        char *raw;            /* api_client_call_raw() with status < 400: the body, unparsed, NUL-terminated */
        size_t raw_len;
} ApiResponse;

void api_response_done(ApiResponse *r);

/* Sends one request. body may be NULL. Returns 0 whenever an HTTP answer came back (whatever its
 * status, see ret->status), or -errno when the daemon could not be reached or the answer was not
 * usable, with words in reterr that say what to do. */
int api_client_call(ApiClient *c, const char *method, const char *path, json_t *body, ApiResponse *ret,
                    char **reterr) _warn_unused_result_;

/* The same, but a successful answer (status < 400) is not parsed: its bytes are in ret->raw and
 * ret->body stays NULL. Error answers are parsed as above. For large lists, which jansson is slow
 * to build objects of. */
int api_client_call_raw(ApiClient *c, const char *method, const char *path, json_t *body, ApiResponse *ret,
                        char **reterr) _warn_unused_result_;

/* A stream of Server-Sent Events (GET /api/v1/events/stream). */
typedef struct ApiStreamHandler {
        const char *last_event_id; /* sent as Last-Event-ID; NULL: none */
        /* Called for each event as it arrives; a negative return ends the stream with it. */
        int (*on_event)(const char *id, const char *event, const char *data, void *userdata);
        void *userdata;
} ApiStreamHandler;

/* GETs path and hands each event of the answer to h until the daemon ends the stream or the
 * connection is lost (no byte for 90 s: the daemon sends keep-alives more often). Returns 0 when an
 * answer came (an error status is parsed into ret as for api_client_call(); for 2xx, 0 when the
 * stream ended), or -errno with words in reterr: the daemon could not be reached, the connection
 * broke, or what on_event returned. */
int api_client_stream(ApiClient *c, const char *path, const ApiStreamHandler *h, ApiResponse *ret, char **reterr)
        _warn_unused_result_;

/* Maps an HTTP error status to -errno: 400 -EINVAL, 401/403 -EACCES, 404 -ENOENT, 409 -EEXIST,
 * 413 -E2BIG, other 4xx -EINVAL, 5xx -EIO; 0 for 2xx/3xx. */
int api_status_to_errno(long status);

/* Percent-encodes everything but unreserved characters (RFC 3986), for paths and query values. */
int api_client_escape(const char *s, char **ret) _warn_unused_result_;

/* "/api/v1/certificates/<escaped id>[/suffix]" and "/api/v1/cas/<escaped name>". */
int api_client_cert_path(const char *id_or_nickname, const char *suffix, char **ret) _warn_unused_result_;
int api_client_ca_path(const char *name, char **ret) _warn_unused_result_;
