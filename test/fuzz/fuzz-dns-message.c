/* SPDX-License-Identifier: MIT */
/* Feeds arbitrary bytes, as a DNS server's answer, to the message parser, then reads every record
 * the way dns-01 does (TXT text, NS/SOA names, A/AAAA addresses), follows its CNAME chain from the
 * question's name and checks a TSIG signature on it.
 * Nothing may crash, leak or read out of bounds, and what is taken must be within its limits. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns-cname.h"
#include "dns-message.h"
#include "dns-tsig.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        static const uint8_t request_mac[32] = { 1, 2, 3 };
        DnsCnameChain chain = {};
        DnsTsigKey key = {};
        int tsig_error = 0;

        if (dns_message_parse(data, size, &m) < 0)
                return 0;
        if (m->n_records > DNS_RECORDS_MAX || strlen(m->qname) >= DNS_NAME_TEXT_MAX)
                abort();
        for (size_t i = 0; i < m->n_records; i++) {
                const DnsRecord *r = &m->records[i];
                _cleanup_free_ char *txt = NULL;
                char name[DNS_NAME_TEXT_MAX], addr[64];
                size_t len;

                if (strlen(r->name) >= DNS_NAME_TEXT_MAX || r->rdata_offset + r->rdata_len > m->size)
                        abort();
                if (dns_record_txt(m, r, &txt, &len) >= 0 && len > r->rdata_len)
                        abort();
                if (dns_record_name(m, r, name) >= 0 && strlen(name) >= DNS_NAME_TEXT_MAX)
                        abort();
                if (dns_record_address(m, r, addr, sizeof(addr)) >= 0 && strlen(addr) >= sizeof(addr))
                        abort();
        }
        /* The CNAME chain from the question's name: bounded, and its end a usable name. */
        if (m->has_question && dns_cname_chain_init(&chain, m->qname) >= 0) {
                int r = dns_cname_chain_extend(&chain, m);
                uint8_t wire[DNS_NAME_WIRE_MAX];
                size_t len;

                if (chain.n_names > DNS_CNAME_LINKS_MAX + 2 || (r >= 0 && (size_t) r != chain.n_names - 1) ||
                    (r >= 0 && dns_name_to_wire(dns_cname_chain_end(&chain), wire, &len) < 0))
                        abort();
                free(dns_cname_chain_to_string(&chain));
                dns_cname_chain_done(&chain);
        }
        if (dns_tsig_key_parse("hmac-sha256:ck-test:J/FVnoW46F0vOiAtusDECAZUhzB+NJGmQQoQqeBqbek=", &key, NULL) < 0)
                abort();
        /* junk never verifies */
        if (dns_tsig_verify(m, &key, request_mac, sizeof(request_mac), 1700000000, &tsig_error) >= 0)
                abort();
        dns_tsig_key_done(&key);
        return 0;
}
