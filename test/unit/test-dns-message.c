/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "dns-message.h"
#include "string-util.h"
#include "tests.h"

TEST(name_to_wire) {
        uint8_t w[DNS_NAME_WIRE_MAX];
        char label63[64], long_name[300];
        size_t len;

        ASSERT_OK(dns_name_to_wire("_acme-challenge.WWW.Example.test.", w, &len));
        ASSERT_EQ(len, (size_t) 34);
        ASSERT_TRUE(memcmp(w, "\x0f_acme-challenge\x03www\x07" "example\x04test\x00", 34) == 0);
        ASSERT_OK(dns_name_to_wire("example.test", w, &len));
        ASSERT_EQ(len, (size_t) 14);
        ASSERT_OK(dns_name_to_wire(".", w, &len));
        ASSERT_EQ(len, (size_t) 1);

        memset(label63, 'a', 63);
        label63[63] = '\0';
        ASSERT_OK(dns_name_to_wire(label63, w, &len));
        ASSERT_ERROR(dns_name_to_wire("a..b", w, &len), EINVAL);
        ASSERT_ERROR(dns_name_to_wire(".a", w, &len), EINVAL);
        ASSERT_ERROR(dns_name_to_wire("", w, &len), EINVAL);
        ASSERT_ERROR(dns_name_to_wire("a b.test", w, &len), EINVAL);
        ASSERT_ERROR(dns_name_to_wire("a\\.b.test", w, &len), EINVAL);
        {
                char l64[70];
                memset(l64, 'a', 64);
                l64[64] = '\0';
                ASSERT_ERROR(dns_name_to_wire(l64, w, &len), EINVAL);
        }
        /* 4 x 63-octet labels: 4 * 64 + 1 = 257 octets on the wire */
        (void) snprintf(long_name, sizeof(long_name), "%s.%s.%s.%s", label63, label63, label63, label63);
        ASSERT_ERROR(dns_name_to_wire(long_name, w, &len), EINVAL);
}

TEST(names) {
        ASSERT_TRUE(dns_name_equal("Example.TEST.", "example.test"));
        ASSERT_FALSE(dns_name_equal("example.test", "xexample.test"));
        ASSERT_STREQ(dns_name_parent("a.b.test."), "b.test.");
        ASSERT_STREQ(dns_name_parent("test."), ".");
        ASSERT_NULL(dns_name_parent("."));
        ASSERT_STREQ(dns_rcode_to_string(DNS_RCODE_REFUSED), "REFUSED");
        ASSERT_STREQ(dns_rcode_to_string(DNS_RCODE_BADKEY), "BADKEY");
        ASSERT_NULL(dns_rcode_to_string(12));
        ASSERT_NULL(dns_rcode_to_string(-1));
}

TEST(query) {
        _cleanup_(dns_packet_freep) DnsPacket *p = NULL;
        static const uint8_t want[] = { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 4,   't', 'e',
                                        's',  't',  0,    0,    6, 0, 1 };

        ASSERT_OK(dns_message_new_query(0x1234, "TEST.", DNS_TYPE_SOA, true, &p));
        ASSERT_EQ(p->len, sizeof(want));
        ASSERT_TRUE(memcmp(p->data, want, sizeof(want)) == 0);
        p = dns_packet_free(p);
        ASSERT_ERROR(dns_message_new_query(1, "bad name!", DNS_TYPE_TXT, false, &p), EINVAL);
        ASSERT_NULL(p);
}

TEST(update) {
        _cleanup_(dns_packet_freep) DnsPacket *add = NULL, *del = NULL;
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        const DnsRecord *rr;
        _cleanup_free_ char *txt = NULL;
        char long_value[300];

        ASSERT_OK(dns_message_new_txt_update(7, "example.test.", "_acme-challenge.www.example.test.", "abc-_123", true,
                                             60, &add));
        /* opcode UPDATE, 1 zone, 0 prerequisites, 1 update, 0 additional */
        ASSERT_EQ(add->data[2], 5 << 3);
        ASSERT_OK(dns_message_parse(add->data, add->len, &m));
        ASSERT_EQ(m->opcode, DNS_OPCODE_UPDATE);
        ASSERT_STREQ(m->qname, "example.test.");
        ASSERT_EQ(m->qtype, DNS_TYPE_SOA);
        ASSERT_EQ(dns_message_section(m, DNS_SECTION_AUTHORITY, &rr), (size_t) 1);
        ASSERT_STREQ(rr->name, "_acme-challenge.www.example.test.");
        ASSERT_EQ(rr->type, DNS_TYPE_TXT);
        ASSERT_EQ(rr->class, DNS_CLASS_IN);
        ASSERT_EQ(rr->ttl, (uint32_t) 60);
        ASSERT_OK(dns_record_txt(m, rr, &txt, NULL));
        ASSERT_STREQ(txt, "abc-_123");
        m = dns_message_free(m);

        /* delete exactly this record: class NONE, TTL 0, the same rdata */
        ASSERT_OK(dns_message_new_txt_update(8, "example.test", "_acme-challenge.www.example.test", "abc-_123", false,
                                             60, &del));
        ASSERT_OK(dns_message_parse(del->data, del->len, &m));
        ASSERT_EQ(dns_message_section(m, DNS_SECTION_AUTHORITY, &rr), (size_t) 1);
        ASSERT_EQ(rr->class, DNS_CLASS_NONE);
        ASSERT_EQ(rr->ttl, (uint32_t) 0);
        ASSERT_EQ(memcmp(add->data + add->len - 9, del->data + del->len - 9, 9), 0);

        memset(long_value, 'x', 256);
        long_value[256] = '\0';
        ASSERT_ERROR(dns_message_new_txt_update(9, "example.test", "a.example.test", long_value, true, 60, &add),
                     EINVAL);
}

/* An answer with compression: question _acme-challenge.example.test TXT; answer TXT ("ab" "cd")
 * at a pointer to the question; authority NS ns1.<ptr example.test>; additional A 127.0.0.1. */
static const uint8_t answer[] = {
        0xab, 0xcd, 0x84, 0x00, 0, 1, 0, 1, 0, 1, 0, 1,
        /* 12: question */
        15, '_', 'a', 'c', 'm', 'e', '-', 'c', 'h', 'a', 'l', 'l', 'e', 'n', 'g', 'e',
        /* 28: example.test */
        7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0, 0, 16, 0, 1,
        /* answer */
        0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, 6, 2, 'a', 'b', 2, 'c', 'd',
        /* authority: example.test NS ns1.example.test */
        0xc0, 28, 0, 2, 0, 1, 0, 0, 0, 60, 0, 6, 3, 'n', 's', '1', 0xc0, 28,
        /* additional: ns1.example.test A 127.0.0.1 (a pointer into the NS rdata above: offset 76) */
        0xc0, 76, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1,
};

TEST(parse) {
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        _cleanup_free_ char *txt = NULL;
        const DnsRecord *rr;
        char name[DNS_NAME_TEXT_MAX], addr[64];
        size_t len;

        ASSERT_EQ(answer[76], 3); /* the offset the last record points to */
        ASSERT_OK(dns_message_parse(answer, sizeof(answer), &m));
        ASSERT_EQ(m->id, 0xabcd);
        ASSERT_TRUE(m->flags & DNS_FLAG_QR);
        ASSERT_TRUE(m->flags & DNS_FLAG_AA);
        ASSERT_EQ(m->rcode, DNS_RCODE_NOERROR);
        ASSERT_STREQ(m->qname, "_acme-challenge.example.test.");
        ASSERT_EQ(dns_message_section(m, DNS_SECTION_ANSWER, &rr), (size_t) 1);
        ASSERT_STREQ(rr->name, "_acme-challenge.example.test.");
        ASSERT_OK(dns_record_txt(m, rr, &txt, &len));
        ASSERT_STREQ(txt, "abcd");
        ASSERT_EQ(len, (size_t) 4);
        ASSERT_EQ(dns_message_section(m, DNS_SECTION_AUTHORITY, &rr), (size_t) 1);
        ASSERT_OK(dns_record_name(m, rr, name));
        ASSERT_STREQ(name, "ns1.example.test.");
        ASSERT_EQ(dns_message_section(m, DNS_SECTION_ADDITIONAL, &rr), (size_t) 1);
        ASSERT_STREQ(rr->name, "ns1.example.test.");
        ASSERT_OK(dns_record_address(m, rr, addr, sizeof(addr)));
        ASSERT_STREQ(addr, "127.0.0.1");
        ASSERT_ERROR(dns_record_name(m, rr, name), EINVAL);
}

static int parse_mutated(size_t at, uint8_t v) {
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        uint8_t b[sizeof(answer)];

        memcpy(b, answer, sizeof(b));
        b[at] = v;
        return dns_message_parse(b, sizeof(b), &m);
}

TEST(parse_hostile) {
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        static const uint8_t self_loop[] = { 0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1 };
        static const uint8_t pair_loop[] = { 0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 0xc0, 12, 0, 1, 0, 1 };
        uint8_t big[DNS_HEADER_SIZE + 300] = { 0, 1, 0x80, 0, 0, 1 };
        const DnsRecord *rr;
        _cleanup_free_ char *txt = NULL;

        ASSERT_ERROR(dns_message_parse(self_loop, sizeof(self_loop), &m), EBADMSG);
        ASSERT_ERROR(dns_message_parse(pair_loop, sizeof(pair_loop), &m), EBADMSG);
        /* a forward pointer */
        ASSERT_ERROR(parse_mutated(47, 200), EBADMSG);
        /* every prefix of a valid answer is malformed */
        for (size_t n = 0; n < sizeof(answer); n++)
                ASSERT_ERROR(dns_message_parse(answer, n, &m), EBADMSG);
        /* trailing garbage, a second question, more records than there are */
        {
                uint8_t b[sizeof(answer) + 1];
                memcpy(b, answer, sizeof(answer));
                b[sizeof(answer)] = 0;
                ASSERT_ERROR(dns_message_parse(b, sizeof(b), &m), EBADMSG);
        }
        ASSERT_ERROR(parse_mutated(5, 2), EBADMSG);
        ASSERT_ERROR(parse_mutated(7, 2), EBADMSG);
        ASSERT_ERROR(parse_mutated(6, 0xff), E2BIG);
        /* rdata length past the end */
        ASSERT_ERROR(parse_mutated(57, 60), EBADMSG);
        /* a reserved label type */
        ASSERT_ERROR(parse_mutated(12, 0x40), EBADMSG);
        /* a name over 255 octets */
        for (size_t i = DNS_HEADER_SIZE; i + 2 < sizeof(big); i += 2)
                big[i] = 1, big[i + 1] = 'a';
        ASSERT_ERROR(dns_message_parse(big, sizeof(big), &m), EBADMSG);

        /* TXT character-strings that overrun their rdata: the record parses, its text does not */
        {
                uint8_t b[sizeof(answer)];
                memcpy(b, answer, sizeof(b));
                b[61] = 3;
                ASSERT_OK(dns_message_parse(b, sizeof(b), &m));
                ASSERT_EQ(dns_message_section(m, DNS_SECTION_ANSWER, &rr), (size_t) 1);
                ASSERT_ERROR(dns_record_txt(m, rr, &txt, NULL), EBADMSG);
                ASSERT_NULL(txt);
        }
        m = dns_message_free(m);

        /* odd octets in names come out escaped */
        {
                uint8_t b[sizeof(answer)];
                memcpy(b, answer, sizeof(b));
                b[13] = '.';
                b[14] = 0;
                ASSERT_OK(dns_message_parse(b, sizeof(b), &m));
                ASSERT_TRUE(startswith(m->qname, "\\046\\000cme-challenge."));
        }
}

TEST_MAIN();
