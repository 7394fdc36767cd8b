/* SPDX-License-Identifier: MIT */
#pragma once

/* The dns-01 settings of an ACME CA (its config object: dns01_rfc2136, tsig_key, dns01_zone,
 * dns01_resolver, dns01_ns_port, dns01_propagation_timeout), checked on the daemon's side and used
 * by the order jobs in the helper workers: RFC 2136 updates, and the wait for the record on the
 * zone's authoritative servers after an update or a hook (src/ca/acme-dns01.h). */

#include <jansson.h>
#include <stdbool.h>

#include "acme-dns01.h"

/* The settings as an AcmeDns01Config (pointing into cfg). -EINVAL with words for bad numbers. */
int dns01_settings(json_t *cfg, AcmeDns01Config *ret, char **reterr);

/* Checks the dns-01 settings of a CA's config object: which ones go together, the addresses,
 * the zone, the TSIG key file. */
int dns01_settings_check(json_t *cfg, char **reterr);

/* The order job's dns-01 steps. txt_name: where the TXT record of identifier goes (the end of the
 * CNAME chain of _acme-challenge.<name>; acme_dns01_txt_target()), for a hook when hook. present:
 * the record added over RFC 2136 (when the CA has a server), then waited for; wait: only waited for
 * (after a hook). cleanup: the record of token deleted over RFC 2136, at the name found again the
 * same way; its value comes from the account key (job's account_key), so a later job that resumes
 * the order can remove what an earlier one added. */
int dns01_txt_name(json_t *job, const char *identifier, bool hook, char **ret, char **reterr);
int dns01_present(json_t *job, const char *txt_name, const char *value, char **reterr);
int dns01_wait(json_t *job, const char *txt_name, const char *value, char **reterr);
void dns01_cleanup(json_t *job, const char *identifier, const char *token);
