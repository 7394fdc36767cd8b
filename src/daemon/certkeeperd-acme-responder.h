/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* The built-in http-01 responder: an HTTP server (libmicrohttpd, in a thread of its own) that answers
 * only GET /.well-known/acme-challenge/<token>, with the key authorization the ACME order left in
 * dir/<token>. Tokens that are not base64url never touch a path; everything else is 404. */
typedef struct AcmeResponder AcmeResponder;

/* address: "ADDR:PORT", "[ADDR]:PORT" or ":PORT" (every address). -EINVAL with words for a bad
 * address, -errno (EADDRINUSE, EACCES, ...) with words when it cannot listen. */
int acme_responder_start(const char *address, const char *dir, AcmeResponder **ret, char **reterr) _warn_unused_result_;
AcmeResponder *acme_responder_stop(AcmeResponder *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(AcmeResponder *, acme_responder_stop);

/* Checks an "ADDR:PORT" setting without listening. */
int acme_listen_check(const char *address, char **reterr) _warn_unused_result_;

/* Opens a listening TCP socket (non-blocking, close-on-exec) on "ADDR:PORT": -EINVAL with words for a
 * bad address, the -errno of socket(), bind() or listen() with words. */
int acme_listen_open(const char *address, int *ret_fd, char **reterr) _warn_unused_result_;
