/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "dns-tsig.h"
#include "string-util.h"
#include "tests.h"

#define SECRET_B64 "J/FVnoW46F0vOiAtusDECAZUhzB+NJGmQQoQqeBqbek="

static const uint8_t secret[] = { 0x27, 0xf1, 0x55, 0x9e, 0x85, 0xb8, 0xe8, 0x5d, 0x2f, 0x3a, 0x20,
                                  0x2d, 0xba, 0xc0, 0xc4, 0x08, 0x06, 0x54, 0x87, 0x30, 0x7e, 0x34,
                                  0x91, 0xa6, 0x41, 0x0a, 0x10, 0xa9, 0xe0, 0x6a, 0x6d, 0xe9 };

static void key(const char *text, DnsTsigKey *k) {
        _cleanup_free_ char *err = NULL;
        int r = dns_tsig_key_parse(text, k, &err);
        if (r < 0)
                fprintf(stderr, "key: %s\n", strna(err));
        ASSERT_OK(r);
}

TEST(key_files) {
        DnsTsigKey k = {};
        _cleanup_free_ char *err = NULL;

        /* BIND, as tsig-keygen writes it */
        key("key \"ck-test\" {\n\talgorithm hmac-sha256;\n\tsecret \"" SECRET_B64 "\";\n};\n", &k);
        ASSERT_STREQ(k.name, "ck-test.");
        ASSERT_STREQ(k.algorithm, "hmac-sha256.");
        ASSERT_EQ(k.secret_len, sizeof(secret));
        ASSERT_TRUE(memcmp(k.secret, secret, sizeof(secret)) == 0);

        /* knot, as keymgr -t writes it (the comment line is a one-liner we do not read) */
        key("# hmac-sha512:other:AAAA\nkey:\n  - id: CK-Test\n    algorithm: hmac-sha384\n    secret: " SECRET_B64 "\n",
            &k);
        ASSERT_STREQ(k.name, "ck-test.");
        ASSERT_STREQ(k.algorithm, "hmac-sha384.");
        ASSERT_EQ(k.secret_len, sizeof(secret));

        /* one line, as knsupdate -y, with and without the algorithm; BIND comments */
        key("hmac-md5:ck-test.:" SECRET_B64 "\n", &k);
        ASSERT_STREQ(k.algorithm, "hmac-md5.sig-alg.reg.int.");
        key("ck-test:" SECRET_B64, &k);
        ASSERT_STREQ(k.algorithm, "hmac-sha256.");
        key("// made by hand\n/* a\n comment */ key ck-test { algorithm HMAC-SHA512; secret \"" SECRET_B64
            "\"; };", &k);
        ASSERT_STREQ(k.algorithm, "hmac-sha512.");
        /* a secret with '//' in it is not a comment */
        key("key \"x\" { algorithm hmac-sha256; secret \"ab//cd==\"; };", &k);
        ASSERT_EQ(k.secret_len, (size_t) 4);

        ASSERT_ERROR(dns_tsig_key_parse("key \"x\" { algorithm hmac-sha256; secret \"not base64!\"; };", &k, &err),
                     EINVAL);
        ASSERT_TRUE(strstr(err, "base64") != NULL);
        ASSERT_ERROR(dns_tsig_key_parse("key \"x\" { algorithm hmac-sha3; secret \"" SECRET_B64 "\"; };", &k, &err),
                     EINVAL);
        ASSERT_TRUE(strstr(err, "hmac-sha3") != NULL);
        ASSERT_ERROR(dns_tsig_key_parse("key \"x\" { algorithm hmac-sha256; };", &k, &err), EINVAL);
        ASSERT_TRUE(strstr(err, "holds no key") != NULL);
        ASSERT_ERROR(dns_tsig_key_parse("key \"x { secret \"a\"; };", &k, &err), EINVAL);
        ASSERT_ERROR(dns_tsig_key_parse("", &k, &err), EINVAL);
        ASSERT_ERROR(dns_tsig_key_parse("bad name!:" SECRET_B64, &k, &err), EINVAL);
        ASSERT_ERROR(dns_tsig_key_parse("/* unterminated", &k, &err), EINVAL);
        /* the secret never shows in the words */
        ASSERT_ERROR(dns_tsig_key_parse("key \"x\" { algorithm nope; secret \"" SECRET_B64 "\"; };", &k, &err), EINVAL);
        ASSERT_NULL(strstr(err, SECRET_B64));
        dns_tsig_key_done(&k);
}

/* A signed update, then an answer to it signed by "the server" over the request's MAC. */
static void signed_exchange(const DnsTsigKey *client, const DnsTsigKey *server, uint64_t t_client, uint64_t t_server,
                            size_t tamper_at, int want) {
        _cleanup_(dns_packet_freep) DnsPacket *req = NULL, *ans = NULL;
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        uint8_t mac[DNS_TSIG_MAC_MAX], smac[DNS_TSIG_MAC_MAX];
        size_t mac_len, smac_len;
        int tsig_error = -1, r;

        ASSERT_OK(dns_message_new_txt_update(0x4242, "example.test", "_acme-challenge.example.test", "v", true, 60,
                                             &req));
        ASSERT_OK(dns_tsig_sign(req, client, t_client, NULL, 0, mac, &mac_len));
        ASSERT_EQ(mac_len, (size_t) 32);
        /* the request parses, with its TSIG record as the one additional record */
        ASSERT_OK(dns_message_parse(req->data, req->len, &m));
        ASSERT_EQ(m->n_section[DNS_SECTION_ADDITIONAL], (size_t) 1);
        m = dns_message_free(m);

        /* the answer: the update's header and zone section, QR set, no update section */
        ASSERT_OK(dns_message_new_txt_update(0x4242, "example.test", "_acme-challenge.example.test", "v", true, 60,
                                             &ans));
        ans->data[2] |= 0x80;
        ans->data[9] = 0; /* no update section */
        ans->len = 12 + 14 + 4;
        ASSERT_OK(dns_tsig_sign(ans, server, t_server, mac, mac_len, smac, &smac_len));
        if (tamper_at > 0)
                ans->data[tamper_at] ^= 0x01;
        ASSERT_OK(dns_message_parse(ans->data, ans->len, &m));
        r = dns_tsig_verify(m, client, mac, mac_len, t_client, &tsig_error);
        ASSERT_EQ(r, want);
        if (want == 0 || want == -EACCES)
                ASSERT_EQ(tsig_error, 0);
}

TEST(sign_verify) {
        DnsTsigKey k = {}, other_secret = {}, other_name = {}, other_alg = {};

        key("hmac-sha256:ck-test:" SECRET_B64, &k);
        key("hmac-sha256:ck-test:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", &other_secret);
        key("hmac-sha256:someone-else:" SECRET_B64, &other_name);
        key("hmac-sha512:ck-test:" SECRET_B64, &other_alg);

        signed_exchange(&k, &k, 1700000000, 1700000000, 0, 0);
        signed_exchange(&k, &k, 1700000000, 1700000000 + DNS_TSIG_FUDGE, 0, 0);
        /* a flipped bit anywhere in the message or in the MAC */
        signed_exchange(&k, &k, 1700000000, 1700000000, 3, -EACCES);
        signed_exchange(&k, &k, 1700000000, 1700000000, 16, -EACCES);
        /* inside the MAC, which starts at 30 + 9 + 10 + 13 + 6 + 2 + 2 = 72 */
        signed_exchange(&k, &k, 1700000000, 1700000000, 80, -EACCES);
        /* another secret, another key name, another algorithm, the wrong time */
        signed_exchange(&k, &other_secret, 1700000000, 1700000000, 0, -EACCES);
        signed_exchange(&k, &other_name, 1700000000, 1700000000, 0, -ENOKEY);
        signed_exchange(&k, &other_alg, 1700000000, 1700000000, 0, -ENOKEY);
        signed_exchange(&k, &k, 1700000000, 1700000000 + DNS_TSIG_FUDGE + 1, 0, -ETIME);
        dns_tsig_key_done(&k);
}

TEST(unsigned_answer) {
        _cleanup_(dns_message_freep) DnsMessage *m = NULL;
        static const uint8_t plain[] = { 0, 1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
        DnsTsigKey k = {};

        key("ck-test:" SECRET_B64, &k);
        ASSERT_OK(dns_message_parse(plain, sizeof(plain), &m));
        ASSERT_ERROR(dns_tsig_verify(m, &k, NULL, 0, 0, NULL), ENOKEY);
}

TEST_MAIN();
