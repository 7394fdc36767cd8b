/* SPDX-License-Identifier: MIT */
#pragma once

/* dns-01 without a hook, and the wait for the record to be visible, for the ACME client's
 * challenge handler (docs/ACME.md, "dns-01 over RFC 2136" and "DNS propagation").
 *
 *  - acme_dns01_txt_target() says where the TXT record goes: _acme-challenge.<name>, or the end
 *    of the CNAME chain the resolver answers for it (delegated validation).
 *  - acme_dns01_update() puts or removes the TXT record there with an RFC 2136 UPDATE to the
 *    configured server, signed with TSIG; the zone is the configured one or found by SOA queries
 *    to that server.
 *  - acme_dns01_wait() asks each authoritative server of the zone (its NS records, resolved with
 *    the resolver, and the RFC 2136 server when there is one) for the TXT record, until every one
 *    answers with the value, or names the one that lags when the time is up.
 *
 * Blocking; no logging; words in *reterr. */

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

#define ACME_DNS01_TTL 60U
#define ACME_DNS01_PROPAGATION_TIMEOUT_DEFAULT 120
#define ACME_DNS01_RESOLV_CONF "/etc/resolv.conf"

typedef struct AcmeDns01Config {
        const char *rfc2136_server;      /* "ADDR[:PORT]" (port 53 by default), or NULL: a hook answers */
        const char *tsig_key_path;       /* the TSIG key file, or NULL: unsigned updates */
        const char *zone;                /* the zone to update, or NULL: found by SOA queries */
        const char *resolver;            /* "ADDR[:PORT]" to resolve NS names with, or NULL: resolv_conf's */
        const char *resolv_conf;         /* NULL: ACME_DNS01_RESOLV_CONF */
        uint16_t ns_port;                /* the port the zone's servers answer on; 0: 53 */
        int64_t propagation_timeout_sec; /* 0: no wait; <0: ACME_DNS01_PROPAGATION_TIMEOUT_DEFAULT */
        int64_t query_timeout_sec;       /* one question or update; 0: 5 */
} AcmeDns01Config;

/* Checks the settings (addresses, zone, key file) without sending anything; words in *reterr. */
int acme_dns01_config_check(const AcmeDns01Config *c, char **reterr) _warn_unused_result_;

/* "_acme-challenge.example.com." for "example.com" and "*.example.com". */
int acme_dns01_txt_name(const char *identifier, char **ret) _warn_unused_result_;

/* The name of the TXT record for identifier: _acme-challenge.<name>, followed through the CNAME
 * chain the resolver answers for it (at most DNS_CNAME_LINKS_MAX links), absolute. A hook without
 * the propagation check (no RFC 2136 server, propagation_timeout_sec 0) asks nothing: the name
 * itself. Errors as dns_follow_cname(), and -ENOENT when there is no resolver. */
int acme_dns01_txt_target(const AcmeDns01Config *c, const char *identifier, char **ret,
                          char **reterr) _warn_unused_result_;

/* Adds (add) or deletes exactly the TXT record txt_name (from acme_dns01_txt_target()) with value,
 * over RFC 2136. */
int acme_dns01_update(const AcmeDns01Config *c, const char *txt_name, const char *value, bool add,
                      char **reterr) _warn_unused_result_;

/* Waits until every authoritative server answers the TXT record txt_name with value.
 * -ETIMEDOUT with words naming the server that lags and what it answered. Returns at once when
 * propagation_timeout_sec is 0. */
int acme_dns01_wait(const AcmeDns01Config *c, const char *txt_name, const char *value,
                    char **reterr) _warn_unused_result_;
