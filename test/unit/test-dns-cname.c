/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns-cname.h"
#include "string-util.h"
#include "tests.h"

/* A message being put together: a header whose answer count grows with each record. */
static DnsPacket *answer_new(const char *qname, int rcode) {
        DnsPacket *p = calloc(1, sizeof(DnsPacket));
        static const uint8_t header[] = { 0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0 };

        ASSERT_NOT_NULL(p);
        ASSERT_OK(dns_packet_append(p, header, sizeof(header)));
        p->data[3] = (uint8_t) (p->data[3] | rcode);
        ASSERT_OK(dns_packet_append_name(p, qname));
        ASSERT_OK(dns_packet_append_u16(p, DNS_TYPE_TXT));
        ASSERT_OK(dns_packet_append_u16(p, DNS_CLASS_IN));
        return p;
}

static void add_record(DnsPacket *p, const char *owner, uint16_t type, uint16_t class, const void *rdata,
                       size_t len) {
        ASSERT_OK(dns_packet_append_name(p, owner));
        ASSERT_OK(dns_packet_append_u16(p, type));
        ASSERT_OK(dns_packet_append_u16(p, class));
        ASSERT_OK(dns_packet_append_u32(p, 60));
        ASSERT_OK(dns_packet_append_u16(p, (uint16_t) len));
        ASSERT_OK(dns_packet_append(p, rdata, len));
        p->data[7]++; /* ANCOUNT, under 256 here */
}

static void add_cname(DnsPacket *p, const char *owner, const char *target) {
        uint8_t wire[DNS_NAME_WIRE_MAX];
        size_t len;

        ASSERT_OK(dns_name_to_wire(target, wire, &len));
        add_record(p, owner, DNS_TYPE_CNAME, DNS_CLASS_IN, wire, len);
}

static DnsMessage *parsed(DnsPacket *p) {
        DnsMessage *m = NULL;

        ASSERT_OK(dns_message_parse(p->data, p->len, &m));
        dns_packet_free(p);
        return m;
}

static char *chain_text(const DnsCnameChain *c) {
        char *s = dns_cname_chain_to_string(c);

        ASSERT_NOT_NULL(s);
        return s;
}

TEST(no_cname) {
        _cleanup_(dns_cname_chain_done) DnsCnameChain c = {};
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        DnsPacket *p = answer_new("_acme-challenge.www.example.test", DNS_RCODE_NXDOMAIN);

        m = parsed(p);
        ASSERT_OK(dns_cname_chain_init(&c, "_acme-challenge.www.example.test"));
        ASSERT_EQ(dns_cname_chain_extend(&c, m), 0);
        ASSERT_STREQ(dns_cname_chain_end(&c), "_acme-challenge.www.example.test.");
        ASSERT_EQ(c.n_names, (size_t) 1);

        /* a TXT record answered, no CNAME */
        m = dns_message_free(m);
        p = answer_new("_acme-challenge.www.example.test", DNS_RCODE_NOERROR);
        add_record(p, "_acme-challenge.www.example.test", DNS_TYPE_TXT, DNS_CLASS_IN, "\x02hi", 3);
        m = parsed(p);
        ASSERT_EQ(dns_cname_chain_extend(&c, m), 0);
        ASSERT_STREQ(dns_cname_chain_end(&c), "_acme-challenge.www.example.test.");

        dns_cname_chain_done(&c);
        ASSERT_ERROR(dns_cname_chain_init(&c, "bad name.test"), EINVAL);
        ASSERT_ERROR(dns_cname_chain_init(&c, "."), EINVAL);
}

TEST(chain) {
        _cleanup_(dns_cname_chain_done) DnsCnameChain c = {};
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        _cleanup_free_ char *words = NULL;
        DnsPacket *p = answer_new("_acme-challenge.www.example.test", DNS_RCODE_NOERROR);

        /* Out of order, with noise: a CNAME of another name, one of class CH, a TXT at the end. */
        add_cname(p, "www.example.test.acme.test", "final.validation.test");
        add_cname(p, "other.example.test", "evil.test");
        add_record(p, "_acme-challenge.www.example.test", DNS_TYPE_CNAME, 3, "\x04" "evil\x04test\x00", 11);
        add_cname(p, "_ACME-challenge.www.example.test.", "www.example.test.acme.test");
        add_record(p, "final.validation.test", DNS_TYPE_TXT, DNS_CLASS_IN, "\x02hi", 3);
        m = parsed(p);
        ASSERT_OK(dns_cname_chain_init(&c, "_acme-challenge.www.example.test."));
        ASSERT_EQ(dns_cname_chain_extend(&c, m), 2);
        ASSERT_STREQ(dns_cname_chain_end(&c), "final.validation.test.");
        words = chain_text(&c);
        ASSERT_STREQ(words, "_acme-challenge.www.example.test. -> www.example.test.acme.test. -> "
                            "final.validation.test.");
        /* the same answer again adds nothing: its end has no CNAME in it */
        ASSERT_EQ(dns_cname_chain_extend(&c, m), 0);

        /* a later answer (an authoritative server that does not chase) continues the chain */
        m = dns_message_free(m);
        p = answer_new("final.validation.test", DNS_RCODE_NOERROR);
        add_cname(p, "final.validation.test", "really-final.validation.test");
        m = parsed(p);
        ASSERT_EQ(dns_cname_chain_extend(&c, m), 1);
        ASSERT_STREQ(dns_cname_chain_end(&c), "really-final.validation.test.");
}

TEST(only_the_queried_name) {
        _cleanup_(dns_cname_chain_done) DnsCnameChain c = {};
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        DnsPacket *p = answer_new("_acme-challenge.www.example.test", DNS_RCODE_NOERROR);

        /* a CNAME whose owner is not the name asked for (nor a parent or child of it) is ignored */
        add_cname(p, "_acme-challenge.example.test", "evil.test");
        add_cname(p, "www.example.test", "evil.test");
        add_cname(p, "x._acme-challenge.www.example.test", "evil.test");
        m = parsed(p);
        ASSERT_OK(dns_cname_chain_init(&c, "_acme-challenge.www.example.test"));
        ASSERT_EQ(dns_cname_chain_extend(&c, m), 0);
        ASSERT_STREQ(dns_cname_chain_end(&c), "_acme-challenge.www.example.test.");
}

TEST(loop) {
        _cleanup_(dns_cname_chain_done) DnsCnameChain c = {};
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        _cleanup_free_ char *words = NULL;
        DnsPacket *p = answer_new("a.test", DNS_RCODE_NOERROR);

        add_cname(p, "a.test", "b.test");
        add_cname(p, "b.test", "c.test");
        add_cname(p, "c.test", "A.test");
        m = parsed(p);
        ASSERT_OK(dns_cname_chain_init(&c, "a.test"));
        ASSERT_ERROR(dns_cname_chain_extend(&c, m), ELOOP);
        words = chain_text(&c);
        ASSERT_STREQ(words, "a.test. -> b.test. -> c.test. -> a.test.");

        /* to itself */
        dns_cname_chain_done(&c);
        m = dns_message_free(m);
        p = answer_new("a.test", DNS_RCODE_NOERROR);
        add_cname(p, "a.test", "a.test.");
        m = parsed(p);
        ASSERT_OK(dns_cname_chain_init(&c, "a.test"));
        ASSERT_ERROR(dns_cname_chain_extend(&c, m), ELOOP);

        /* a loop across two answers */
        dns_cname_chain_done(&c);
        m = dns_message_free(m);
        p = answer_new("a.test", DNS_RCODE_NOERROR);
        add_cname(p, "a.test", "b.test");
        m = parsed(p);
        ASSERT_OK(dns_cname_chain_init(&c, "a.test"));
        ASSERT_EQ(dns_cname_chain_extend(&c, m), 1);
        m = dns_message_free(m);
        p = answer_new("b.test", DNS_RCODE_NOERROR);
        add_cname(p, "b.test", "a.test");
        m = parsed(p);
        ASSERT_ERROR(dns_cname_chain_extend(&c, m), ELOOP);
}

/* An answer to n<first>.test with n links n<first>.test -> n<first+1>.test -> ... */
static DnsMessage *chain_of(unsigned first, unsigned n) {
        char qname[32];
        DnsPacket *p;

        (void) snprintf(qname, sizeof(qname), "n%u.test", first);
        p = answer_new(qname, DNS_RCODE_NOERROR);
        for (unsigned i = first; i < first + n; i++) {
                char owner[32], target[32];
                (void) snprintf(owner, sizeof(owner), "n%u.test", i);
                (void) snprintf(target, sizeof(target), "n%u.test", i + 1);
                add_cname(p, owner, target);
        }
        return parsed(p);
}

TEST(length) {
        _cleanup_(dns_cname_chain_done) DnsCnameChain c = {};
        _cleanup_(dns_message_freep) DnsMessage *m = chain_of(0, DNS_CNAME_LINKS_MAX);

        ASSERT_OK(dns_cname_chain_init(&c, "n0.test"));
        ASSERT_EQ(dns_cname_chain_extend(&c, m), (int) DNS_CNAME_LINKS_MAX);
        ASSERT_STREQ(dns_cname_chain_end(&c), "n8.test.");

        dns_cname_chain_done(&c);
        m = dns_message_free(m);
        m = chain_of(0, DNS_CNAME_LINKS_MAX + 1);
        ASSERT_OK(dns_cname_chain_init(&c, "n0.test"));
        ASSERT_ERROR(dns_cname_chain_extend(&c, m), ELOOP);
        ASSERT_STREQ(dns_cname_chain_end(&c), "n9.test.");
        ASSERT_EQ(c.n_names, (size_t) DNS_CNAME_LINKS_MAX + 2);

        /* nine links over several answers count the same */
        dns_cname_chain_done(&c);
        m = dns_message_free(m);
        m = chain_of(0, 5);
        ASSERT_OK(dns_cname_chain_init(&c, "n0.test"));
        ASSERT_EQ(dns_cname_chain_extend(&c, m), 5);
        m = dns_message_free(m);
        m = chain_of(5, 4);
        ASSERT_ERROR(dns_cname_chain_extend(&c, m), ELOOP);
}

TEST(bad_target) {
        _cleanup_(dns_cname_chain_done) DnsCnameChain c = {};
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        static const struct {
                const char *rdata;
                size_t len;
        } bad[] = {
                { "\x05" "a b.c\x04test\x00", 12 }, /* a space and a dot inside a label */
                { "\x01*\x04test\x00", 8 },         /* a wildcard */
                { "\x00", 1 },                      /* the root */
                { "\x03" "a\x00" "b\x04test\x00", 10 },
                { "\x05" "ab", 3 },                 /* cut short: the record parses, its name does not */
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *words = NULL;
                DnsPacket *p = answer_new("_acme-challenge.x.test", DNS_RCODE_NOERROR);

                add_record(p, "_acme-challenge.x.test", DNS_TYPE_CNAME, DNS_CLASS_IN, bad[i].rdata, bad[i].len);
                m = dns_message_free(m);
                m = parsed(p);
                dns_cname_chain_done(&c);
                ASSERT_OK(dns_cname_chain_init(&c, "_acme-challenge.x.test"));
                ASSERT_ERROR(dns_cname_chain_extend(&c, m), EBADMSG);
                words = chain_text(&c);
                ASSERT_TRUE(startswith(words, "_acme-challenge.x.test."));
        }
}

TEST_MAIN();
