/* SPDX-License-Identifier: MIT */
#pragma once

/* TSIG (RFC 8945): HMAC signatures on DNS messages with a shared key, as RFC 2136 dynamic updates
 * use them. hmac-sha256 (the usual one), hmac-sha384, hmac-sha512, hmac-sha224, hmac-sha1 and
 * hmac-md5 (hmac-md5.sig-alg.reg.int).
 *
 * Key files, as written by the usual tools:
 *   key "NAME" { algorithm hmac-sha256; secret "BASE64"; };        BIND, tsig-keygen, ddns-confgen
 *   key: - id: NAME  algorithm: hmac-sha256  secret: BASE64       knot (keymgr -t), YAML lines
 *   [ALGORITHM:]NAME:BASE64                                        one line, as knsupdate -y
 * Comments (#, // and C comments) are ignored; the first key in the file is used. */

#include <stddef.h>
#include <stdint.h>

#include "dns-message.h"
#include "macro.h"

#define DNS_TSIG_SECRET_MAX 512U
#define DNS_TSIG_MAC_MAX 64U
#define DNS_TSIG_FUDGE 300U

typedef struct DnsTsigKey {
        char name[DNS_NAME_TEXT_MAX];      /* presentation form, lower case, with a final dot */
        char algorithm[DNS_NAME_TEXT_MAX]; /* "hmac-sha256." ... */
        uint8_t secret[DNS_TSIG_SECRET_MAX];
        size_t secret_len;
} DnsTsigKey;

/* Erases the secret. */
void dns_tsig_key_done(DnsTsigKey *k);

/* Parses key file text; -EINVAL with words in *reterr when it holds no usable key (the words never
 * contain the secret). */
int dns_tsig_key_parse(const char *text, DnsTsigKey *ret, char **reterr) _warn_unused_result_;

/* Reads a key file (at most 64 KiB) and parses it; the errno of the file otherwise, with words. */
int dns_tsig_key_load(const char *path, DnsTsigKey *ret, char **reterr) _warn_unused_result_;

/* Signs the message in p (a whole message, without TSIG): appends the TSIG record, time signed
 * now (unix seconds), and increments ARCOUNT. A request has no request_mac (NULL, 0); an answer is
 * signed over the MAC of the request it answers. The MAC is returned in ret_mac (DNS_TSIG_MAC_MAX)
 * for the verification of the answer. */
int dns_tsig_sign(DnsPacket *p, const DnsTsigKey *k, uint64_t now, const uint8_t *request_mac,
                  size_t request_mac_len, uint8_t *ret_mac, size_t *ret_mac_len) _warn_unused_result_;

/* Verifies the TSIG record of an answer to a request signed with request_mac. Returns 0 when it
 * is signed by k over the message and the request's MAC, within the fudge of now; otherwise:
 * -ENOKEY (no TSIG record, or another key or algorithm), -EBADMSG (a malformed TSIG record),
 * -EACCES (the MAC does not match: tampered, or another secret), -ETIME (time outside the fudge),
 * -EPERM (the server reported a TSIG error: *ret_tsig_error is BADSIG, BADKEY, BADTIME...; the
 * answer to a request that failed verification is not signed). *ret_tsig_error is set whenever a
 * TSIG record was read (optional). */
int dns_tsig_verify(const DnsMessage *m, const DnsTsigKey *k, const uint8_t *request_mac, size_t request_mac_len,
                    uint64_t now, int *ret_tsig_error) _warn_unused_result_;
