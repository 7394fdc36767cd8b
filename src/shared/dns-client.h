/* SPDX-License-Identifier: MIT */
#pragma once

/* A small blocking DNS client for dns-01: one question to one server, over UDP with a fallback to
 * TCP when the answer is truncated, under a deadline. Numeric server addresses only (no name
 * resolution behind the caller's back). Answers are matched on id and question and parsed with
 * dns-message (untrusted input). Every failure comes with words in *reterr that name the server. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dns-message.h"
#include "dns-tsig.h"
#include "macro.h"
#include "time-util.h"

#define DNS_SERVER_TEXT_MAX 64U
#define DNS_ZONE_SERVERS_MAX 16U

typedef struct DnsServer {
        struct sockaddr_storage address;
        socklen_t address_len;
        char text[DNS_SERVER_TEXT_MAX]; /* "127.0.0.1:53", "[::1]:53" */
} DnsServer;

/* "ADDR", "ADDR:PORT", "[IPV6]:PORT" or a bare IPv6 address; default_port when none is given.
 * -EINVAL for anything else (host names included). */
int dns_server_parse(const char *s, uint16_t default_port, DnsServer *ret) _warn_unused_result_;

/* The first "nameserver" of a resolv.conf file, port 53. -ENOENT when it lists none. */
int dns_server_from_resolv_conf(const char *path, DnsServer *ret) _warn_unused_result_;

/* Sends the message (UDP, then TCP if the answer is truncated) and waits for the answer until
 * deadline (CLOCK_MONOTONIC). -ETIMEDOUT, -ECONNREFUSED, -EBADMSG (a malformed answer), ... */
int dns_exchange(const DnsServer *s, const DnsPacket *request, usec_t deadline, DnsMessage **ret,
                 char **reterr) _warn_unused_result_;

/* A query for name/type (RD set), checked to answer that question. */
int dns_query(const DnsServer *s, const char *name, uint16_t type, usec_t deadline, DnsMessage **ret,
              char **reterr) _warn_unused_result_;

/* Where the records of name are: asks s for name TXT and follows the CNAME chain in its answers
 * (asking again for the end of the chain until an answer adds no link; dns-cname checks the
 * links). *ret is the chain's end, absolute; name itself (made absolute) when it has no CNAME
 * (NXDOMAIN, or NOERROR without one). Errors: the network's errno; -EAGAIN (SERVFAIL: the resolver
 * may answer later), -EPERM (REFUSED), -EPROTO (another RCODE); -ELOOP (a loop, or a chain over
 * DNS_CNAME_LINKS_MAX links) and -EBADMSG (a target that is not a DNS name), with the chain in the
 * words. */
int dns_follow_cname(const DnsServer *s, const char *name, usec_t deadline, char **ret,
                     char **reterr) _warn_unused_result_;

/* The zone that holds name: the owner of the SOA in the answer or the authority section of SOA
 * queries for name and then each of its parents, asked of s. */
int dns_find_zone(const DnsServer *s, const char *name, usec_t deadline, char **ret_zone,
                  char **reterr) _warn_unused_result_;

/* The addresses (port port) of the authoritative servers of zone: its NS records, and their A and
 * AAAA records (glue, or asked of resolver). At most DNS_ZONE_SERVERS_MAX. ret_names (optional)
 * gets the NS name of each. -ENOENT when the zone has no NS that resolves. */
int dns_zone_servers(const DnsServer *resolver, const char *zone, uint16_t port, usec_t deadline, DnsServer **ret,
                     char ***ret_names, size_t *ret_n, char **reterr) _warn_unused_result_;

/* Adds (ttl) or deletes exactly the TXT record name/value in zone with an RFC 2136 UPDATE, signed
 * with key (NULL: unsigned) and the answer's signature verified. Errors: -EACCES (the server did
 * not accept the key or signature: BADKEY, BADSIG, BADTIME; or its answer is not signed by the key),
 * -EPERM (REFUSED, NOTAUTH: the key may not update the zone, or the server is not its primary),
 * -EPROTO (another RCODE), or the network's errno. */
int dns_update_txt(const DnsServer *s, const DnsTsigKey *key, const char *zone, const char *name, const char *value,
                   bool add, uint32_t ttl, usec_t deadline, char **reterr) _warn_unused_result_;

/* Whether s answers name TXT with a record whose value is value: 1 yes, 0 no (then *ret_seen says
 * what it answered, e.g. "NXDOMAIN" or "2 other TXT records"), <0 when it cannot be asked. */
int dns_txt_present(const DnsServer *s, const char *name, const char *value, usec_t deadline, char **ret_seen,
                    char **reterr) _warn_unused_result_;
