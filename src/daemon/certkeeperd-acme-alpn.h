/* SPDX-License-Identifier: MIT */
#pragma once

#include "macro.h"

/* The built-in tls-alpn-01 responder (RFC 8737): a TLS server, in a thread of its own, that
 * negotiates only the ALPN protocol "acme-tls/1", presents the challenge certificate the ACME order
 * left in dir/<SNI name>.pem (certificate and throwaway key, see acme-alpn-cert.h) for the name the
 * client asks for, and closes each connection once the handshake is done. A client that offers no
 * "acme-tls/1", sends no SNI, or asks for a name that has no certificate there fails the handshake;
 * SNI names that are not plain DNS names never touch a path. */
typedef struct AcmeAlpnResponder AcmeAlpnResponder;

/* address: "ADDR:PORT", "[ADDR]:PORT" or ":PORT" (every address). -EINVAL with words for a bad
 * address, -errno (EADDRINUSE, EACCES, ...) with words when it cannot listen. */
int acme_alpn_responder_start(const char *address, const char *dir, AcmeAlpnResponder **ret, char **reterr)
        _warn_unused_result_;
/* Stops the thread, closes every connection and the listening socket. */
AcmeAlpnResponder *acme_alpn_responder_stop(AcmeAlpnResponder *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(AcmeAlpnResponder *, acme_alpn_responder_stop);
