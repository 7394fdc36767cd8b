/* SPDX-License-Identifier: MIT */
/* Following CNAME chains through untrusted DNS answers. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dns-cname.h"
#include "string-util.h"

/* A name a TXT record can be put at: valid on the wire, not the root, no wildcard label. */
static bool target_ok(const char *name) {
        uint8_t wire[DNS_NAME_WIRE_MAX];
        size_t len;

        return dns_name_to_wire(name, wire, &len) >= 0 && len > 1 && !strchr(name, '*');
}

static int chain_append(DnsCnameChain *c, const char *name) {
        char *s = strjoin(name, endswith(name, ".") ? "" : ".");
        char **n;

        if (!s)
                return -ENOMEM;
        n = realloc(c->names, sizeof(char *) * (c->n_names + 2));
        if (!n) {
                free(s);
                return -ENOMEM;
        }
        c->names = n;
        c->names[c->n_names++] = s;
        c->names[c->n_names] = NULL;
        return 0;
}

int dns_cname_chain_init(DnsCnameChain *c, const char *name) {
        DnsCnameChain chain = {};
        int r;

        if (!target_ok(name))
                return -EINVAL;
        r = chain_append(&chain, name);
        if (r < 0)
                return r;
        *c = chain;
        return 0;
}

void dns_cname_chain_done(DnsCnameChain *c) {
        c->names = strv_free(c->names);
        c->n_names = 0;
}

const char *dns_cname_chain_end(const DnsCnameChain *c) {
        return c->n_names > 0 ? c->names[c->n_names - 1] : NULL;
}

static bool chain_contains(const DnsCnameChain *c, const char *name) {
        for (size_t i = 0; i < c->n_names; i++)
                if (dns_name_equal(c->names[i], name))
                        return true;
        return false;
}

/* The target of the first CNAME of class IN for name in m's answer: 1 found, 0 none. */
static int cname_of(const DnsMessage *m, const char *name, char *target) {
        const DnsRecord *rr;
        size_t n = dns_message_section(m, DNS_SECTION_ANSWER, &rr);

        for (size_t i = 0; i < n; i++) {
                int r;

                if (rr[i].type != DNS_TYPE_CNAME || rr[i].class != DNS_CLASS_IN || !dns_name_equal(rr[i].name, name))
                        continue;
                r = dns_record_name(m, &rr[i], target);
                return r < 0 ? r : 1;
        }
        return 0;
}

int dns_cname_chain_extend(DnsCnameChain *c, const DnsMessage *m) {
        int added = 0;

        if (c->n_names == 0)
                return -EINVAL;
        for (;;) {
                char target[DNS_NAME_TEXT_MAX];
                bool loop;
                int r;

                r = cname_of(m, dns_cname_chain_end(c), target);
                if (r <= 0)
                        return r < 0 ? r : added;
                loop = chain_contains(c, target);
                r = chain_append(c, target);
                if (r < 0)
                        return r;
                if (loop || c->n_names - 1 > DNS_CNAME_LINKS_MAX)
                        return -ELOOP;
                if (!target_ok(target))
                        return -EBADMSG;
                added++;
        }
}

char *dns_cname_chain_to_string(const DnsCnameChain *c) {
        return strv_join(c->names, " -> ");
}
