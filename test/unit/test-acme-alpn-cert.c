/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "acme-alpn-cert.h"
#include "pki-cert.h"
#include "pki-key.h"
#include "tests.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAMES *, GENERAL_NAMES_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OBJECT *, ASN1_OBJECT_free);

/* Parses what acme_alpn_cert_new() returned: the certificate, then the key. */
static void parse(const char *pem, X509 **ret_cert, EVP_PKEY **ret_key) {
        _cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(pem, -1);

        ASSERT_NOT_NULL(bio);
        *ret_cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        ASSERT_NOT_NULL(*ret_cert);
        *ret_key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        ASSERT_NOT_NULL(*ret_key);
}

/* The acmeIdentifier extension's extnValue, which must be critical. */
static const ASN1_OCTET_STRING *acme_identifier(X509 *x) {
        _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *obj = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
        X509_EXTENSION *ext;
        int i;

        ASSERT_NOT_NULL(obj);
        i = X509_get_ext_by_OBJ(x, obj, -1);
        ASSERT_TRUE(i >= 0);
        ASSERT_EQ(X509_get_ext_by_OBJ(x, obj, i), -1); /* only once */
        ext = X509_get_ext(x, i);
        ASSERT_EQ(X509_EXTENSION_get_critical(ext), 1);
        return X509_EXTENSION_get_data(ext);
}

/* extnValue = DER OCTET STRING (04 20) of SHA-256(key authorization). */
static void check_digest(X509 *x, const char *key_authorization) {
        const ASN1_OCTET_STRING *v = acme_identifier(x);
        unsigned char md[32];
        unsigned len = 0;

        ASSERT_TRUE(EVP_Digest(key_authorization, strlen(key_authorization), md, &len, EVP_sha256(), NULL));
        ASSERT_EQ(len, 32u);
        ASSERT_EQ(ASN1_STRING_length(v), 34);
        ASSERT_EQ(ASN1_STRING_get0_data(v)[0], 0x04);
        ASSERT_EQ(ASN1_STRING_get0_data(v)[1], 0x20);
        ASSERT_TRUE(memcmp(ASN1_STRING_get0_data(v) + 2, md, 32) == 0);
}

/* The one SAN, of the given type, critical. */
static const GENERAL_NAME *single_san(X509 *x, GENERAL_NAMES **keep, int type) {
        int crit = -1;

        *keep = X509_get_ext_d2i(x, NID_subject_alt_name, &crit, NULL);
        ASSERT_NOT_NULL(*keep);
        ASSERT_EQ(crit, 1);
        ASSERT_EQ(sk_GENERAL_NAME_num(*keep), 1);
        ASSERT_EQ(sk_GENERAL_NAME_value(*keep, 0)->type, type);
        return sk_GENERAL_NAME_value(*keep, 0);
}

TEST(dns_identifier) {
        const char *ka = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI";
        _cleanup_free_ char *pem = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *gens = NULL;
        const GENERAL_NAME *g;
        size_t len = 0;
        time_t now = time(NULL);

        ASSERT_OK(acme_alpn_cert_new("WWW.Example.test", ka, &pem, &len));
        ASSERT_EQ(len, strlen(pem));
        parse(pem, &x, &key);

        check_digest(x, ka);
        g = single_san(x, &gens, GEN_DNS);
        ASSERT_EQ(ASN1_STRING_length(g->d.dNSName), (int) strlen("www.example.test"));
        ASSERT_TRUE(memcmp(ASN1_STRING_get0_data(g->d.dNSName), "www.example.test", 16) == 0);

        /* Self-signed by the key that came with it, valid now, a P-256 key. */
        ASSERT_EQ(X509_verify(x, key), 1);
        ASSERT_EQ(X509_check_private_key(x, key), 1);
        ASSERT_TRUE(X509_cmp_time(X509_get0_notBefore(x), &now) < 0);
        ASSERT_TRUE(X509_cmp_time(X509_get0_notAfter(x), &now) > 0);
        ASSERT_EQ(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
}

TEST(known_digest) {
        /* SHA-256("abc") from FIPS 180-2, appendix B.1. */
        static const unsigned char abc[32] = {
                0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad,
        };
        _cleanup_free_ char *pem = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        const ASN1_OCTET_STRING *v;

        ASSERT_OK(acme_alpn_cert_new("a.example", "abc", &pem, NULL));
        parse(pem, &x, &key);
        v = acme_identifier(x);
        ASSERT_EQ(ASN1_STRING_length(v), 34);
        ASSERT_TRUE(memcmp(ASN1_STRING_get0_data(v) + 2, abc, 32) == 0);
}

TEST(ip_identifiers) {
        static const struct {
                const char *ip;
                int family;
                int len;
        } cases[] = { { "192.0.2.7", AF_INET, 4 }, { "2001:db8::1", AF_INET6, 16 } };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *pem = NULL;
                _cleanup_(X509_freep) X509 *x = NULL;
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
                _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *gens = NULL;
                const GENERAL_NAME *g;
                unsigned char a[16];

                ASSERT_OK(acme_alpn_cert_new(cases[i].ip, "tok.thumb", &pem, NULL));
                parse(pem, &x, &key);
                check_digest(x, "tok.thumb");
                /* RFC 8738 section 6: the SAN is the address itself. */
                g = single_san(x, &gens, GEN_IPADD);
                ASSERT_EQ(inet_pton(cases[i].family, cases[i].ip, a), 1);
                ASSERT_EQ(ASN1_STRING_length(g->d.iPAddress), cases[i].len);
                ASSERT_TRUE(memcmp(ASN1_STRING_get0_data(g->d.iPAddress), a, (size_t) cases[i].len) == 0);
        }
}

TEST(fresh_key_every_time) {
        _cleanup_free_ char *a = NULL, *b = NULL;
        _cleanup_(X509_freep) X509 *xa = NULL, *xb = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ka = NULL, *kb = NULL;

        ASSERT_OK(acme_alpn_cert_new("a.example", "x.y", &a, NULL));
        ASSERT_OK(acme_alpn_cert_new("a.example", "x.y", &b, NULL));
        parse(a, &xa, &ka);
        parse(b, &xb, &kb);
        ASSERT_TRUE(EVP_PKEY_eq(ka, kb) != 1);
}

TEST(refused_identifiers) {
        static const char *const bad[] = { "", "*.example.test", "a..b", ".a", "a.", "a b", "a/b", "../x",
                                           "a_b.example" };
        _cleanup_free_ char *pem = NULL, *name = NULL;

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                ASSERT_ERROR(acme_alpn_cert_new(bad[i], "x.y", &pem, NULL), EINVAL);
                ASSERT_ERROR(acme_alpn_sni_name(bad[i], &name), EINVAL);
                ASSERT_FALSE(acme_alpn_name_is_valid(bad[i]));
        }
        ASSERT_NULL(pem);
        ASSERT_NULL(name);
}

TEST(sni_names) {
        static const struct {
                const char *identifier, *sni;
        } cases[] = {
                { "Example.TEST", "example.test" },
                { "127.0.0.1", "1.0.0.127.in-addr.arpa" },
                { "192.0.2.10", "10.2.0.192.in-addr.arpa" },
                /* RFC 8738 section 6's example. */
                { "2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *name = NULL;
                ASSERT_OK(acme_alpn_sni_name(cases[i].identifier, &name));
                ASSERT_STREQ(name, cases[i].sni);
                ASSERT_TRUE(acme_alpn_name_is_valid(name));
        }
}

TEST(name_limits) {
        char label[65], name[300];

        memset(label, 'a', 64);
        label[64] = 0;
        ASSERT_FALSE(acme_alpn_name_is_valid(label));
        label[63] = 0;
        ASSERT_TRUE(acme_alpn_name_is_valid(label));

        /* 4 labels of 63 and one of 1: 257 characters with the dots, over 253. */
        (void) snprintf(name, sizeof(name), "%s.%s.%s.%s.a", label, label, label, label);
        ASSERT_FALSE(acme_alpn_name_is_valid(name));
        (void) snprintf(name, sizeof(name), "%s.%s.%s.%.61s", label, label, label, label);
        ASSERT_EQ(strlen(name), 253u);
        ASSERT_TRUE(acme_alpn_name_is_valid(name));
        ASSERT_FALSE(acme_alpn_name_is_valid(NULL));
}

TEST_MAIN();
