/* SPDX-License-Identifier: MIT */
/* The parts of the ACME client that need no server: configuration checks, name tables, ARI
 * certificate ids, and refusing bad requests before any network I/O. The flows themselves are
 * tested against Pebble in test/integration/test-acme-client.sh. */
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "acme.h"
#include "pki-cert.h"
#include "pki-key.h"
#include "string-util.h"
#include "tests.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);

/* A self-signed certificate with the given serial and AKI keyIdentifier, as PEM. */
static char *make_cert(const unsigned char *serial, size_t serial_len, const unsigned char *aki, size_t aki_len) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_(X509_freep) X509 *x = X509_new();
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
        ASN1_INTEGER *sn = ASN1_INTEGER_new();
        char *data = NULL, *pem;
        long n;

        ASSERT_OK(pki_key_generate(KEY_TYPE_EC, 256, &k));
        ASSERT_NOT_NULL(x);
        ASSERT_TRUE(ASN1_STRING_set(sn, serial, (int) serial_len));
        ASSERT_TRUE(X509_set_serialNumber(x, sn));
        ASN1_INTEGER_free(sn);
        ASSERT_TRUE(X509_set_version(x, 2));
        X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (unsigned char *) "t", -1, -1, 0);
        ASSERT_TRUE(X509_set_issuer_name(x, X509_get_subject_name(x)));
        ASSERT_NOT_NULL(X509_gmtime_adj(X509_getm_notBefore(x), 0));
        ASSERT_NOT_NULL(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
        ASSERT_TRUE(X509_set_pubkey(x, k));
        if (aki) {
                AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
                akid->keyid = ASN1_OCTET_STRING_new();
                ASSERT_TRUE(ASN1_OCTET_STRING_set(akid->keyid, aki, (int) aki_len));
                ASSERT_TRUE(X509_add1_ext_i2d(x, NID_authority_key_identifier, akid, 0, X509V3_ADD_DEFAULT) == 1);
                AUTHORITY_KEYID_free(akid);
        }
        ASSERT_TRUE(X509_sign(x, k, EVP_sha256()) > 0);
        ASSERT_TRUE(PEM_write_bio_X509(b, x));
        n = BIO_get_mem_data(b, &data);
        pem = strndup(data, (size_t) n);
        ASSERT_NOT_NULL(pem);
        return pem;
}

TEST(ari_cert_id) {
        /* RFC 9773, section 4.1: AKI 69:88:5B:6B:87:46:40:41:E1:B3:7B:84:7B:A0:AE:2C:DE:01:C8:D4 and
         * serial 00:87:65:43:21 give "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE". */
        static const unsigned char aki[] = { 0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
                                             0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4 };
        static const unsigned char serial[] = { 0x87, 0x65, 0x43, 0x21 };
        static const unsigned char small[] = { 0x12, 0x34 };
        _cleanup_free_ char *pem = make_cert(serial, sizeof(serial), aki, sizeof(aki));
        _cleanup_free_ char *pem2 = make_cert(small, sizeof(small), aki, sizeof(aki));
        _cleanup_free_ char *pem3 = make_cert(small, sizeof(small), NULL, 0);
        _cleanup_free_ char *id = NULL, *id2 = NULL;
        char *x = NULL;

        ASSERT_OK(acme_ari_cert_id(pem, &id));
        ASSERT_STREQ(id, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE");
        ASSERT_OK(acme_ari_cert_id(pem2, &id2));
        ASSERT_STREQ(id2, "aYhba4dGQEHhs3uEe6CuLN4ByNQ.EjQ");
        ASSERT_ERROR(acme_ari_cert_id(pem3, &x), ENODATA);
        ASSERT_TRUE(acme_ari_cert_id("not a certificate", &x) < 0);
        ASSERT_NULL(x);
}

TEST(names) {
        ASSERT_STREQ(acme_challenge_type_to_string(ACME_CHALLENGE_HTTP01), "http-01");
        ASSERT_STREQ(acme_challenge_type_to_string(ACME_CHALLENGE_DNS01), "dns-01");
        ASSERT_STREQ(acme_challenge_type_to_string(ACME_CHALLENGE_TLSALPN01), "tls-alpn-01");
        ASSERT_NULL(acme_challenge_type_to_string(_ACME_CHALLENGE_TYPE_MAX));
        for (int i = 0; i < _ACME_CHALLENGE_TYPE_MAX; i++)
                ASSERT_EQ(acme_challenge_type_from_string(acme_challenge_type_to_string((AcmeChallengeType) i)), i);
        ASSERT_ERROR(acme_challenge_type_from_string("HTTP-01"), EINVAL);
        ASSERT_ERROR(acme_challenge_type_from_string(NULL), EINVAL);
        for (int i = 0; i < _ACME_OUTCOME_MAX; i++)
                ASSERT_NOT_NULL(acme_outcome_to_string((AcmeOutcome) i));
        ASSERT_NULL(acme_outcome_to_string(_ACME_OUTCOME_MAX));
}

TEST(revocation_reasons) {
        ASSERT_EQ(acme_revocation_reason_from_string("keyCompromise"), 1);
        ASSERT_EQ(acme_revocation_reason_from_string("KEYCOMPROMISE"), 1);
        ASSERT_EQ(acme_revocation_reason_from_string("cessationOfOperation"), 5);
        ASSERT_EQ(acme_revocation_reason_from_string("unspecified"), 0);
        ASSERT_EQ(acme_revocation_reason_from_string("4"), 4);
        ASSERT_EQ(acme_revocation_reason_from_string("10"), 10);
        ASSERT_ERROR(acme_revocation_reason_from_string("7"), EINVAL);
        ASSERT_ERROR(acme_revocation_reason_from_string("11"), EINVAL);
        ASSERT_ERROR(acme_revocation_reason_from_string("-1"), EINVAL);
        ASSERT_ERROR(acme_revocation_reason_from_string("99999999999999999999"), EINVAL);
        ASSERT_ERROR(acme_revocation_reason_from_string("stolen"), EINVAL);
        ASSERT_ERROR(acme_revocation_reason_from_string(""), EINVAL);
        ASSERT_ERROR(acme_revocation_reason_from_string(NULL), EINVAL);
        ASSERT_STREQ(acme_revocation_reason_to_string(3), "affiliationChanged");
        ASSERT_NULL(acme_revocation_reason_to_string(7));
        ASSERT_NULL(acme_revocation_reason_to_string(-1));
        for (int i = 0; i <= 10; i++)
                if (i != 7)
                        ASSERT_EQ(acme_revocation_reason_from_string(acme_revocation_reason_to_string(i)), i);
}

TEST(client_config) {
        AcmeClient *c = NULL;
        AcmeConfig ok = { .directory_url = "https://acme.test/directory", .account_key_path = "/nonexistent/k.pem" };
        AcmeConfig cfg;

        ASSERT_OK(acme_client_new(&ok, &c));
        c = acme_client_free(c);
        ASSERT_NULL(c);

        cfg = ok;
        cfg.directory_url = "http://acme.test/directory"; /* plain HTTP only on loopback */
        ASSERT_ERROR(acme_client_new(&cfg, &c), EINVAL);
        cfg.directory_url = "http://127.0.0.1:14000/dir";
        ASSERT_OK(acme_client_new(&cfg, &c));
        c = acme_client_free(c);
        cfg.directory_url = "http://127.0.0.1.evil.test/dir";
        ASSERT_ERROR(acme_client_new(&cfg, &c), EINVAL);
        cfg.directory_url = "ftp://acme.test/";
        ASSERT_ERROR(acme_client_new(&cfg, &c), EINVAL);

        cfg = ok;
        cfg.eab_kid = "kid-1"; /* both or none */
        ASSERT_ERROR(acme_client_new(&cfg, &c), EINVAL);
        cfg.eab_hmac_key = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
        cfg.eab_alg = "HS1";
        ASSERT_ERROR(acme_client_new(&cfg, &c), EINVAL);
        cfg.eab_alg = "HS512";
        ASSERT_OK(acme_client_new(&cfg, &c));
        c = acme_client_free(c);

        cfg = ok;
        cfg.account_key_type = "ED25519";
        ASSERT_ERROR(acme_client_new(&cfg, &c), EINVAL);
        cfg = ok;
        cfg.email = "not an address";
        ASSERT_ERROR(acme_client_new(&cfg, &c), EINVAL);
        cfg = ok;
        cfg.account_key_path = NULL;
        ASSERT_ERROR(acme_client_new(&cfg, &c), EINVAL);
        ASSERT_NULL(c);
}

static int never_present(void *userdata, const char *identifier, const char *token, const char *key_authorization,
                         const char *dns_txt_value, char **reterr) {
        abort();
}

TEST(bad_requests_fail_before_io) {
        _cleanup_(acme_client_freep) AcmeClient *c = NULL;
        _cleanup_(acme_order_result_done) AcmeOrderResult res = {};
        _cleanup_(acme_error_done) AcmeError e = {};
        AcmeConfig cfg = { .directory_url = "https://acme.invalid/directory", .account_key_path = "/nonexistent/k" };
        AcmeChallengeHandler h = { .type = ACME_CHALLENGE_HTTP01, .present = never_present };
        char *dns[] = { (char *) "a.test", NULL };
        AcmeOrderRequest req = { .csr_der_b64url = "not base64url!", .dns = dns };

        ASSERT_OK(acme_client_new(&cfg, &c));
        ASSERT_ERROR(acme_order(c, &req, &h, &res, &e), EINVAL);
        ASSERT_EQ(e.outcome, ACME_CONFIG);
        ASSERT_NOT_NULL(e.message);
        ASSERT_NULL(res.order_url);

        ASSERT_ERROR(acme_revoke(c, "not a certificate", 1, &e), EBADMSG);
        ASSERT_EQ(e.outcome, ACME_CONFIG);
        ASSERT_ERROR(acme_revoke(c, "x", 7, &e), EINVAL); /* reason 7 is unused in RFC 5280 */
        ASSERT_ERROR(acme_account_update(c, "bad address", &e), EINVAL);
        ASSERT_ERROR(acme_ari_get(c, "no-dot", NULL, NULL, NULL, NULL, &e), EINVAL);
        ASSERT_ERROR(acme_ari_get(c, "a/b.c", NULL, NULL, NULL, NULL, &e), EINVAL);
        ASSERT_ERROR(acme_ari_get(c, "abc.d/e", NULL, NULL, NULL, NULL, NULL), EINVAL); /* err may be NULL */
}

TEST_MAIN();
