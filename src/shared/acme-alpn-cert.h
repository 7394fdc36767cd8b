/* SPDX-License-Identifier: MIT */
#pragma once

/* The tls-alpn-01 challenge certificate (RFC 8737 section 3, RFC 8738 section 6) and the names the
 * CA asks for it by (SNI). */

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* id-pe-acmeIdentifier */
#define ACME_ALPN_OID_ACME_IDENTIFIER "1.3.6.1.5.5.7.1.31"
/* The ALPN protocol, in wire format (length-prefixed). */
#define ACME_ALPN_PROTOCOL_WIRE "\x0a" "acme-tls/1"

/* The name a validating CA sends as SNI for an identifier: a DNS name in lower case, or for an IP
 * address its reverse-DNS name ("4.3.2.1.in-addr.arpa", nibbles ".ip6.arpa"). -EINVAL for an
 * identifier that is neither a DNS name (no wildcard: RFC 8737 has none) nor an IP address. */
int acme_alpn_sni_name(const char *identifier, char **ret) _warn_unused_result_;

/* Whether name (from a TLS client) is a DNS name certkeeper answers tls-alpn-01 for: letters,
 * digits, '-' and '.', labels of 1 to 63, at most 253 in all, no trailing dot. Such a name can be
 * used as a file name. */
bool acme_alpn_name_is_valid(const char *name);
/* The same name in lower case; -EINVAL when it is not valid as above. */
int acme_alpn_name_normalize(const char *name, char **ret) _warn_unused_result_;

/* A self-signed certificate for identifier (a DNS name: SAN dNSName; an IP address: SAN iPAddress)
 * with the critical acmeIdentifier extension holding the SHA-256 of key_authorization, valid for
 * 7 days, on a new P-256 key made for it and thrown away after. Returns the certificate's and the
 * key's PEM, one after the other. */
int acme_alpn_cert_new(const char *identifier, const char *key_authorization, char **ret_pem, size_t *ret_len)
        _warn_unused_result_;
