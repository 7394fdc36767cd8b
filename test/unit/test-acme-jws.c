/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "acme-jws.h"
#include "pki-key.h"
#include "string-util.h"
#include "tests.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(ECDSA_SIG *, ECDSA_SIG_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);

static char *decode_str(const char *b64) {
        unsigned char *d = NULL;
        size_t n = 0;

        ASSERT_OK(acme_base64url_decode(b64, &d, &n));
        ASSERT_EQ(strlen((char *) d), n); /* NUL-terminated, no embedded NUL in our JSON */
        return (char *) d;
}

static json_t *decode_json(const char *b64) {
        _cleanup_free_ char *s = decode_str(b64);
        json_t *j = json_loads(s, 0, NULL);
        ASSERT_NOT_NULL(j);
        return j;
}

static EVP_PKEY *make_key(const char *type) {
        EVP_PKEY *k = NULL;
        ASSERT_OK(pki_key_generate(streq(type, "RSA") ? KEY_TYPE_RSA : KEY_TYPE_EC, 0, &k));
        return k;
}

/* Verifies a flattened JWS made with an account key, the way a CA does. */
static void verify_jws(json_t *jws, EVP_PKEY *key) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        _cleanup_free_ unsigned char *sig = NULL, *der = NULL;
        _cleanup_free_ char *input = NULL;
        const char *prot = json_string_value(json_object_get(jws, "protected"));
        const char *payload = json_string_value(json_object_get(jws, "payload"));
        const char *sig64 = json_string_value(json_object_get(jws, "signature"));
        size_t siglen = 0;
        bool ec = EVP_PKEY_get_base_id(key) == EVP_PKEY_EC;

        ASSERT_NOT_NULL(prot);
        ASSERT_NOT_NULL(payload);
        ASSERT_NOT_NULL(sig64);
        input = strjoin(prot, ".", payload);
        ASSERT_OK(acme_base64url_decode(sig64, &sig, &siglen));

        if (ec) {
                /* JWS: raw r||s (64 bytes for ES256); OpenSSL wants DER. */
                _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *s = ECDSA_SIG_new();
                unsigned char *p;
                int n;

                ASSERT_EQ(siglen, 64);
                ASSERT_TRUE(ECDSA_SIG_set0(s, BN_bin2bn(sig, 32, NULL), BN_bin2bn(sig + 32, 32, NULL)));
                n = i2d_ECDSA_SIG(s, NULL);
                ASSERT_TRUE(n > 0);
                der = malloc((size_t) n);
                p = der;
                ASSERT_EQ(i2d_ECDSA_SIG(s, &p), n);
                free(sig);
                sig = TAKE_PTR(der);
                siglen = (size_t) n;
        }
        ASSERT_TRUE(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1);
        ASSERT_TRUE(EVP_DigestVerify(ctx, sig, siglen, (unsigned char *) input, strlen(input)) == 1);
}

TEST(base64url_decode) {
        unsigned char *d = NULL;
        size_t n = 0;

        ASSERT_OK(acme_base64url_decode("", &d, &n));
        ASSERT_EQ(n, 0);
        free(d);
        ASSERT_OK(acme_base64url_decode("aGVsbG8", &d, &n));
        ASSERT_EQ(n, 5);
        ASSERT_TRUE(memcmp(d, "hello", 5) == 0);
        free(d);
        ASSERT_OK(acme_base64url_decode("-_8", &d, &n));
        ASSERT_EQ(n, 2);
        ASSERT_EQ(d[0], 0xfb);
        ASSERT_EQ(d[1], 0xff);
        free(d);
        ASSERT_ERROR(acme_base64url_decode("aGVsbG8=", &d, &n), EINVAL);
        ASSERT_ERROR(acme_base64url_decode("aGV sbG8", &d, &n), EINVAL);
        ASSERT_ERROR(acme_base64url_decode("a+/b", &d, &n), EINVAL);
        ASSERT_ERROR(acme_base64url_decode("a", &d, &n), EINVAL);
        ASSERT_ERROR(acme_base64url_decode("aGVsbG9", &d, &n), EINVAL); /* non-zero left-over bits */
}

TEST(rfc7638_thumbprint) {
        /* RFC 7638, section 3.1. */
        json_auto_t *jwk = json_pack(
                "{s:s,s:s,s:s,s:s}", "kty", "RSA", "n",
                "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n"
                "3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zg"
                "dAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur"
                "-kEgU8awapJzKnqDKgw",
                "e", "AQAB", "alg", "RS256");
        _cleanup_free_ char *t = NULL;

        ASSERT_NOT_NULL(jwk);
        ASSERT_OK(acme_jws_jwk_thumbprint(jwk, &t));
        ASSERT_STREQ(t, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");

        json_auto_t *bad = json_pack("{s:s}", "kty", "oct");
        char *x = NULL;
        ASSERT_ERROR(acme_jws_jwk_thumbprint(bad, &x), EOPNOTSUPP);
        json_auto_t *missing = json_pack("{s:s,s:s}", "kty", "RSA", "e", "AQAB");
        ASSERT_ERROR(acme_jws_jwk_thumbprint(missing, &x), EINVAL);
}

TEST(jwk_ec) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = make_key("EC");
        json_auto_t *jwk = NULL;
        _cleanup_free_ char *t1 = NULL, *t2 = NULL;
        unsigned char *x = NULL;
        size_t n = 0;

        ASSERT_STREQ(acme_jws_alg(k), "ES256");
        ASSERT_OK(acme_jws_jwk(k, &jwk));
        ASSERT_STREQ(json_string_value(json_object_get(jwk, "kty")), "EC");
        ASSERT_STREQ(json_string_value(json_object_get(jwk, "crv")), "P-256");
        ASSERT_EQ(json_object_size(jwk), 4);
        ASSERT_OK(acme_base64url_decode(json_string_value(json_object_get(jwk, "x")), &x, &n));
        ASSERT_EQ(n, 32); /* padded to the field size */
        free(x);
        ASSERT_OK(acme_jws_jwk_thumbprint(jwk, &t1));
        ASSERT_OK(acme_jws_thumbprint(k, &t2));
        ASSERT_STREQ(t1, t2);
        ASSERT_EQ(strlen(t1), 43);
}

TEST(key_load_or_create) {
        char dir[] = "/tmp/test-acme-jws.XXXXXX";
        _cleanup_free_ char *p = NULL, *p2 = NULL, *p3 = NULL, *t1 = NULL, *t2 = NULL;
        EVP_PKEY *k = NULL;
        bool created = false;
        struct stat st;
        mode_t old = umask(0);

        ASSERT_NOT_NULL(mkdtemp(dir));
        p = strjoin(dir, "/account.key");
        ASSERT_OK(acme_jws_key_load_or_create(p, NULL, &k, &created));
        umask(old);
        ASSERT_TRUE(created);
        ASSERT_STREQ(acme_jws_alg(k), "ES256");
        ASSERT_OK(acme_jws_thumbprint(k, &t1));
        EVP_PKEY_free(k);
        ASSERT_OK(stat(p, &st));
        ASSERT_EQ(st.st_mode & 07777, 0600);

        ASSERT_OK(acme_jws_key_load_or_create(p, "RSA", &k, &created));
        ASSERT_FALSE(created);
        ASSERT_OK(acme_jws_thumbprint(k, &t2));
        ASSERT_STREQ(t1, t2);
        EVP_PKEY_free(k);

        p2 = strjoin(dir, "/rsa.key");
        ASSERT_OK(acme_jws_key_load_or_create(p2, "RSA", &k, &created));
        ASSERT_TRUE(created);
        ASSERT_STREQ(acme_jws_alg(k), "RS256");
        EVP_PKEY_free(k);

        p3 = strjoin(dir, "/junk.key");
        FILE *f = fopen(p3, "we");
        ASSERT_NOT_NULL(f);
        fputs("not a key\n", f);
        fclose(f);
        ASSERT_ERROR(acme_jws_key_load_or_create(p3, NULL, &k, NULL), EBADMSG);
        ASSERT_ERROR(acme_jws_key_load_or_create("/nonexistent-dir/x/account.key", NULL, &k, NULL), ENOENT);
        {
                _cleanup_free_ char *p4 = strjoin(dir, "/ed.key");
                ASSERT_ERROR(acme_jws_key_load_or_create(p4, "ED25519", &k, NULL), EINVAL);
                ASSERT_FALSE(access(p4, F_OK) == 0);
        }

        unlink(p);
        unlink(p2);
        unlink(p3);
        rmdir(dir);
}

TEST(unusable_key_types) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ed = NULL;
        json_t *j = NULL;
        char *s = NULL;

        ASSERT_OK(pki_key_generate(KEY_TYPE_ED25519, 0, &ed));
        ASSERT_NULL(acme_jws_alg(ed));
        ASSERT_ERROR(acme_jws_sign(ed, NULL, "n", "https://x/", NULL, &s), EOPNOTSUPP);
        ASSERT_ERROR(acme_jws_jwk(ed, &j), EOPNOTSUPP);
}

TEST(sign_es256_jwk) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = make_key("EC");
        _cleanup_free_ char *text = NULL;
        json_auto_t *jws = NULL, *prot = NULL, *jwk = NULL;
        _cleanup_free_ char *payload = NULL;

        ASSERT_OK(acme_jws_sign(k, NULL, "bm9uY2U", "https://ca.test/acme/new-acct", "{\"onlyReturnExisting\":true}",
                                &text));
        jws = json_loads(text, 0, NULL);
        ASSERT_NOT_NULL(jws);
        ASSERT_EQ(json_object_size(jws), 3);
        prot = decode_json(json_string_value(json_object_get(jws, "protected")));
        ASSERT_STREQ(json_string_value(json_object_get(prot, "alg")), "ES256");
        ASSERT_STREQ(json_string_value(json_object_get(prot, "nonce")), "bm9uY2U");
        ASSERT_STREQ(json_string_value(json_object_get(prot, "url")), "https://ca.test/acme/new-acct");
        ASSERT_NULL(json_object_get(prot, "kid"));
        ASSERT_OK(acme_jws_jwk(k, &jwk));
        ASSERT_TRUE(json_equal(json_object_get(prot, "jwk"), jwk));
        payload = decode_str(json_string_value(json_object_get(jws, "payload")));
        ASSERT_STREQ(payload, "{\"onlyReturnExisting\":true}");
        verify_jws(jws, k);
}

TEST(sign_kid_post_as_get) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = make_key("EC");
        json_auto_t *jws = NULL, *prot = NULL;

        for (int i = 0; i < 20; i++) { /* r or s with leading zeros get padded */
                json_decref(jws);
                jws = NULL;
                ASSERT_OK(acme_jws_sign_object(k, "https://ca.test/acct/1", "bm9uY2U", "https://ca.test/order/1", NULL,
                                               &jws));
                verify_jws(jws, k);
        }
        ASSERT_STREQ(json_string_value(json_object_get(jws, "payload")), "");
        prot = decode_json(json_string_value(json_object_get(jws, "protected")));
        ASSERT_STREQ(json_string_value(json_object_get(prot, "kid")), "https://ca.test/acct/1");
        ASSERT_NULL(json_object_get(prot, "jwk"));
}

TEST(sign_rs256) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = make_key("RSA");
        json_auto_t *jws = NULL, *prot = NULL, *jwk = NULL;

        ASSERT_OK(acme_jws_sign_object(k, NULL, "bm9uY2U", "https://ca.test/x", "{}", &jws));
        prot = decode_json(json_string_value(json_object_get(jws, "protected")));
        ASSERT_STREQ(json_string_value(json_object_get(prot, "alg")), "RS256");
        jwk = json_incref(json_object_get(prot, "jwk"));
        ASSERT_STREQ(json_string_value(json_object_get(jwk, "e")), "AQAB");
        verify_jws(jws, k);
}

TEST(key_authorization) {
        _cleanup_free_ char *ka = NULL, *txt = NULL, *expect = NULL;
        unsigned char md[32];
        unsigned mdlen = 0;
        char *x = NULL;

        ASSERT_OK(acme_jws_key_authorization("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA",
                                             "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs", &ka));
        ASSERT_STREQ(ka, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        ASSERT_OK(acme_jws_dns01_value(ka, &txt));
        ASSERT_TRUE(EVP_Digest(ka, strlen(ka), md, &mdlen, EVP_sha256(), NULL) == 1);
        ASSERT_OK(base64url_encode(md, mdlen, &expect));
        ASSERT_STREQ(txt, expect);
        ASSERT_EQ(strlen(txt), 43);

        ASSERT_ERROR(acme_jws_key_authorization("../../etc/passwd", "abc", &x), EINVAL);
        ASSERT_ERROR(acme_jws_key_authorization("a/b", "abc", &x), EINVAL);
        ASSERT_ERROR(acme_jws_key_authorization("", "abc", &x), EINVAL);
        ASSERT_ERROR(acme_jws_key_authorization("tok.en", "abc", &x), EINVAL);
}

TEST(eab) {
        /* Pebble's example MAC key for kid-1. */
        const char *key64 = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = make_key("EC");
        json_auto_t *eab = NULL, *prot = NULL, *payload = NULL, *jwk = NULL;
        _cleanup_free_ unsigned char *mac_key = NULL, *sig = NULL;
        _cleanup_free_ char *input = NULL;
        unsigned char mac[64];
        unsigned maclen = 0;
        size_t keylen = 0, siglen = 0;
        const char *algs[] = { "HS256", "HS384", "HS512" };
        const EVP_MD *mds[] = { EVP_sha256(), EVP_sha384(), EVP_sha512() };
        json_t *x = NULL;

        ASSERT_OK(acme_base64url_decode(key64, &mac_key, &keylen));
        for (size_t i = 0; i < 3; i++) {
                json_decref(eab);
                json_decref(prot);
                json_decref(payload);
                json_decref(jwk);
                jwk = NULL;
                free(input);
                free(sig);
                sig = NULL;
                ASSERT_OK(acme_jws_eab(algs[i], "kid-1", key64, k, "https://ca.test/new-acct", &eab));
                prot = decode_json(json_string_value(json_object_get(eab, "protected")));
                ASSERT_STREQ(json_string_value(json_object_get(prot, "alg")), algs[i]);
                ASSERT_STREQ(json_string_value(json_object_get(prot, "kid")), "kid-1");
                ASSERT_STREQ(json_string_value(json_object_get(prot, "url")), "https://ca.test/new-acct");
                ASSERT_NULL(json_object_get(prot, "nonce"));
                payload = decode_json(json_string_value(json_object_get(eab, "payload")));
                ASSERT_OK(acme_jws_jwk(k, &jwk));
                ASSERT_TRUE(json_equal(payload, jwk));

                input = strjoin(json_string_value(json_object_get(eab, "protected")), ".",
                                json_string_value(json_object_get(eab, "payload")));
                ASSERT_NOT_NULL(HMAC(mds[i], mac_key, (int) keylen, (unsigned char *) input, strlen(input), mac, &maclen));
                ASSERT_OK(acme_base64url_decode(json_string_value(json_object_get(eab, "signature")), &sig, &siglen));
                ASSERT_EQ(siglen, maclen);
                ASSERT_TRUE(memcmp(sig, mac, maclen) == 0);
        }
        /* Default HS256. */
        json_decref(eab);
        eab = NULL;
        ASSERT_OK(acme_jws_eab(NULL, "kid-1", key64, k, "https://ca.test/new-acct", &eab));

        ASSERT_ERROR(acme_jws_eab("RS256", "kid-1", key64, k, "https://ca.test/", &x), EINVAL);
        ASSERT_ERROR(acme_jws_eab("HS256", "kid-1", "not base64!", k, "https://ca.test/", &x), EINVAL);
        ASSERT_ERROR(acme_jws_eab("HS256", "kid-1", "", k, "https://ca.test/", &x), EINVAL);
        ASSERT_ERROR(acme_jws_eab("HS256", "", key64, k, "https://ca.test/", &x), EINVAL);
}

TEST(key_change) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *old = make_key("EC"), *new = make_key("EC");
        json_auto_t *inner = NULL, *prot = NULL, *payload = NULL, *old_jwk = NULL, *new_jwk = NULL;

        ASSERT_OK(acme_jws_key_change(new, old, "https://ca.test/acct/7", "https://ca.test/key-change", &inner));
        prot = decode_json(json_string_value(json_object_get(inner, "protected")));
        ASSERT_NULL(json_object_get(prot, "nonce"));
        ASSERT_NULL(json_object_get(prot, "kid"));
        ASSERT_STREQ(json_string_value(json_object_get(prot, "url")), "https://ca.test/key-change");
        ASSERT_OK(acme_jws_jwk(new, &new_jwk));
        ASSERT_TRUE(json_equal(json_object_get(prot, "jwk"), new_jwk));
        payload = decode_json(json_string_value(json_object_get(inner, "payload")));
        ASSERT_STREQ(json_string_value(json_object_get(payload, "account")), "https://ca.test/acct/7");
        ASSERT_OK(acme_jws_jwk(old, &old_jwk));
        ASSERT_TRUE(json_equal(json_object_get(payload, "oldKey"), old_jwk));
        verify_jws(inner, new);
}

TEST(ecdsa_der_to_raw_hostile) {
        unsigned char out[64];
        static const unsigned char junk[] = { 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01 };
        static const unsigned char ok[] = { 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02 };
        static const unsigned char trailing[] = { 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02, 0x00 };
        unsigned char big[80] = { 0x30, 0x4e, 0x02, 0x25, 0x01 };

        ASSERT_ERROR(acme_jws_ecdsa_der_to_raw(junk, sizeof(junk), 32, out), EBADMSG);
        ASSERT_ERROR(acme_jws_ecdsa_der_to_raw(trailing, sizeof(trailing), 32, out), EBADMSG);
        ASSERT_OK(acme_jws_ecdsa_der_to_raw(ok, sizeof(ok), 32, out));
        ASSERT_EQ(out[31], 1);
        ASSERT_EQ(out[63], 2);
        ASSERT_EQ(out[0], 0);
        /* r of 37 bytes does not fit 32. */
        big[4 + 37] = 0x02;
        big[4 + 38] = 0x25;
        big[4 + 39] = 0x01;
        ASSERT_TRUE(acme_jws_ecdsa_der_to_raw(big, 2 + 0x4e, 32, out) < 0);
        ERR_clear_error();
}

TEST_MAIN();
