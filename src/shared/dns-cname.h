/* SPDX-License-Identifier: MIT */
#pragma once

/* CNAME chains in DNS answers, for dns-01 delegation: _acme-challenge.www.example.com CNAME
 * www.example.com.acme.example.net puts the TXT record at the target.
 *
 * The answers are untrusted: only CNAME records of class IN whose owner is the chain's end are
 * followed (a CNAME for any other name is ignored), a chain holds at most DNS_CNAME_LINKS_MAX
 * links, a name seen before is a loop, and every target must be a DNS name records can be put at
 * (letters, digits, '-', '_'; no escapes, no '*', not the root). */

#include <stddef.h>

#include "dns-message.h"
#include "macro.h"

#define DNS_CNAME_LINKS_MAX 8U

typedef struct DnsCnameChain {
        char **names; /* names[0] the name asked for; each next one the target of the one before */
        size_t n_names;
} DnsCnameChain;

/* Starts a chain at name (a valid DNS name; -EINVAL otherwise), kept absolute (final dot). */
int dns_cname_chain_init(DnsCnameChain *c, const char *name) _warn_unused_result_;
void dns_cname_chain_done(DnsCnameChain *c);

/* The last name of the chain: where the records are. */
const char *dns_cname_chain_end(const DnsCnameChain *c);

/* Follows the CNAME records of m's answer section from the chain's end, appending each target.
 * Returns the number of links added (0: m has no CNAME for the end). -ELOOP for a target that is
 * already in the chain or a link over DNS_CNAME_LINKS_MAX, -EBADMSG for a target that is not a
 * usable DNS name (or a CNAME record that cannot be read); on those errors the chain ends with the
 * offending target, for the words. */
int dns_cname_chain_extend(DnsCnameChain *c, const DnsMessage *m) _warn_unused_result_;

/* "a. -> b. -> c.", for words. NULL on OOM. */
char *dns_cname_chain_to_string(const DnsCnameChain *c);
