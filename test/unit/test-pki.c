/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pki-cert.h"
#include "pki-csr.h"
#include "pki-export.h"
#include "pki-key.h"
#include "pki-sign.h"
#include "string-util.h"
#include "tests.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(PKCS7 *, PKCS7_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAMES *, GENERAL_NAMES_free);

static void exts_free(STACK_OF(X509_EXTENSION) *s) {
        sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(STACK_OF(X509_EXTENSION) *, exts_free);

static const int64_t T0 = 1767225600; /* 2026-01-01 00:00:00 UTC */

static const char *data_dir(void) {
        const char *d = getenv("TEST_DATA_DIR");
        return d ? d : "test/data";
}

static char *read_data(const char *name, size_t *ret_len) {
        _cleanup_free_ char *path = strjoin(data_dir(), "/", name);
        ASSERT_NOT_NULL(path);
        FILE *f = fopen(path, "re");
        ASSERT_NOT_NULL(f);
        char *buf = malloc(1 << 20);
        ASSERT_NOT_NULL(buf);
        size_t n = fread(buf, 1, (1 << 20) - 1, f);
        fclose(f);
        buf[n] = '\0';
        *ret_len = n;
        return buf;
}

/* ---- keys ---- */

TEST(key_type_strings) {
        ASSERT_STREQ(key_type_to_string(KEY_TYPE_RSA), "RSA");
        ASSERT_STREQ(key_type_to_string(KEY_TYPE_EC), "EC");
        ASSERT_STREQ(key_type_to_string(KEY_TYPE_ED25519), "ED25519");
        ASSERT_NULL(key_type_to_string(_KEY_TYPE_MAX));
        ASSERT_EQ(key_type_from_string("rsa"), KEY_TYPE_RSA);
        ASSERT_EQ(key_type_from_string("ECDSA"), KEY_TYPE_EC);
        ASSERT_EQ(key_type_from_string("ec"), KEY_TYPE_EC);
        ASSERT_EQ(key_type_from_string("Ed25519"), KEY_TYPE_ED25519);
        ASSERT_EQ(key_type_from_string("DSA"), -EINVAL);
        ASSERT_EQ(key_type_from_string(NULL), -EINVAL);
}

TEST(key_params_bounds) {
        unsigned bits = 1;
        _cleanup_free_ char *err = NULL;

        ASSERT_OK(pki_key_params_check(KEY_TYPE_RSA, 0, &bits, NULL));
        ASSERT_EQ(bits, 2048);
        ASSERT_OK(pki_key_params_check(KEY_TYPE_RSA, 2048, &bits, NULL));
        ASSERT_OK(pki_key_params_check(KEY_TYPE_RSA, 3072, &bits, NULL));
        ASSERT_EQ(bits, 3072);
        ASSERT_OK(pki_key_params_check(KEY_TYPE_RSA, 8192, &bits, NULL));
        ASSERT_EQ(bits, 8192);
        bits = 7;
        ASSERT_ERROR(pki_key_params_check(KEY_TYPE_RSA, 1024, &bits, &err), EINVAL);
        ASSERT_EQ(bits, 7); /* untouched on failure */
        ASSERT_STREQ(err, "RSA key size 1024 is out of range: use 2048 to 8192 bits.");
        ASSERT_ERROR(pki_key_params_check(KEY_TYPE_RSA, 2047, NULL, NULL), EINVAL);
        ASSERT_ERROR(pki_key_params_check(KEY_TYPE_RSA, 8193, NULL, NULL), EINVAL);

        ASSERT_OK(pki_key_params_check(KEY_TYPE_EC, 0, &bits, NULL));
        ASSERT_EQ(bits, 256);
        ASSERT_OK(pki_key_params_check(KEY_TYPE_EC, 384, &bits, NULL));
        ASSERT_EQ(bits, 384);
        ASSERT_OK(pki_key_params_check(KEY_TYPE_EC, 521, &bits, NULL));
        ASSERT_EQ(bits, 521);
        ASSERT_ERROR(pki_key_params_check(KEY_TYPE_EC, 512, NULL, &err), EINVAL);
        ASSERT_TRUE(strstr(err, "512") && strstr(err, "521"));
        ASSERT_ERROR(pki_key_params_check(KEY_TYPE_EC, 255, NULL, NULL), EINVAL);

        ASSERT_OK(pki_key_params_check(KEY_TYPE_ED25519, 4096, &bits, NULL));
        ASSERT_EQ(bits, 0);
        ASSERT_ERROR(pki_key_params_check(_KEY_TYPE_MAX, 0, NULL, NULL), EINVAL);

        EVP_PKEY *k = NULL;
        ASSERT_ERROR(pki_key_generate(KEY_TYPE_RSA, 1024, &k), EINVAL);
        ASSERT_NULL(k);
}

static void check_key_roundtrip(KeyType t, unsigned bits, unsigned expect_bits) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL, *k2 = NULL, *k3 = NULL;
        _cleanup_free_ char *pem = NULL;
        size_t len = 0;
        KeyType got;
        unsigned gotbits = 99;

        ASSERT_OK(pki_key_generate(t, bits, &k));
        ASSERT_OK(pki_key_info(k, &got, &gotbits));
        ASSERT_EQ(got, t);
        ASSERT_EQ(gotbits, expect_bits);

        ASSERT_OK(pki_key_to_pem(k, &pem, &len));
        ASSERT_EQ(strlen(pem), len);
        ASSERT_TRUE(startswith(pem, "-----BEGIN PRIVATE KEY-----\n"));
        ASSERT_OK(pki_key_from_data(pem, len, &k2));
        ASSERT_EQ(EVP_PKEY_eq(k, k2), 1);

        /* DER (PKCS#8) */
        unsigned char *der = NULL;
        int n = i2d_PrivateKey(k, &der);
        ASSERT_TRUE(n > 0);
        ASSERT_OK(pki_key_from_data(der, (size_t) n, &k3));
        OPENSSL_free(der);
        ASSERT_EQ(EVP_PKEY_eq(k, k3), 1);

        /* digest choice */
        const EVP_MD *md = pki_key_digest(k);
        if (t == KEY_TYPE_ED25519)
                ASSERT_NULL(md);
        else if (t == KEY_TYPE_EC && bits == 521)
                ASSERT_EQ(EVP_MD_get_type(md), NID_sha512);
        else if (t == KEY_TYPE_EC && bits == 384)
                ASSERT_EQ(EVP_MD_get_type(md), NID_sha384);
        else
                ASSERT_EQ(EVP_MD_get_type(md), NID_sha256);
}

TEST(key_generate_every_type) {
        check_key_roundtrip(KEY_TYPE_RSA, 0, 2048);
        check_key_roundtrip(KEY_TYPE_EC, 0, 256);
        check_key_roundtrip(KEY_TYPE_EC, 384, 384);
        check_key_roundtrip(KEY_TYPE_EC, 521, 521);
        check_key_roundtrip(KEY_TYPE_ED25519, 0, 0);
}

TEST(key_from_data_formats) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ec = NULL, *rsa = NULL, *out = NULL, *out2 = NULL;
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem()), *b2 = BIO_new(BIO_s_mem());
        char *data = NULL;
        long len;

        ASSERT_OK(pki_key_generate(KEY_TYPE_EC, 256, &ec));
        ASSERT_OK(pki_key_generate(KEY_TYPE_RSA, 2048, &rsa));

        /* Traditional "EC PRIVATE KEY" with noise around it. */
        ASSERT_TRUE(BIO_puts(b, "some noise\n") > 0);
        ASSERT_TRUE(PEM_write_bio_PrivateKey_traditional(b, ec, NULL, NULL, 0, NULL, NULL));
        len = BIO_get_mem_data(b, &data);
        ASSERT_TRUE(strstr(data, "BEGIN EC PRIVATE KEY"));
        ASSERT_OK(pki_key_from_data(data, (size_t) len, &out));
        ASSERT_EQ(EVP_PKEY_eq(ec, out), 1);

        /* Traditional "RSA PRIVATE KEY" */
        ASSERT_TRUE(PEM_write_bio_PrivateKey_traditional(b2, rsa, NULL, NULL, 0, NULL, NULL));
        len = BIO_get_mem_data(b2, &data);
        ASSERT_TRUE(strstr(data, "BEGIN RSA PRIVATE KEY"));
        ASSERT_OK(pki_key_from_data(data, (size_t) len, &out2));
        ASSERT_EQ(EVP_PKEY_eq(rsa, out2), 1);

        /* A public key is not a private key. */
        _cleanup_(BIO_freep) BIO *pb = BIO_new(BIO_s_mem());
        ASSERT_TRUE(PEM_write_bio_PUBKEY(pb, ec));
        len = BIO_get_mem_data(pb, &data);
        EVP_PKEY *none = NULL;
        ASSERT_ERROR(pki_key_from_data(data, (size_t) len, &none), EBADMSG);
        ASSERT_NULL(none);

        ASSERT_ERROR(pki_key_from_data("garbage", 7, &none), EBADMSG);
        ASSERT_ERROR(pki_key_from_data("", 0, &none), EBADMSG);
        ASSERT_NULL(none);
        ASSERT_EQ(ERR_peek_error(), 0);
}

TEST(key_load_and_spki) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL, *k2 = NULL;
        _cleanup_free_ char *pem = NULL;
        char tmpl[] = "/tmp/test-pki-XXXXXX";
        size_t len;

        ASSERT_NOT_NULL(mkdtemp(tmpl));
        _cleanup_free_ char *path = strjoin(tmpl, "/key.pem");

        ASSERT_OK(pki_key_generate(KEY_TYPE_EC, 384, &k));
        ASSERT_OK(pki_key_to_pem(k, &pem, &len));
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, pem, len), (ssize_t) len);
        close(fd);

        ASSERT_OK(pki_key_load(path, &k2));
        ASSERT_EQ(EVP_PKEY_eq(k, k2), 1);

        /* SPKI SHA-256 against an independent computation over the PEM-decoded SPKI. */
        char spki[65];
        ASSERT_OK(pki_key_spki_sha256(k, spki));
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
        ASSERT_TRUE(i2d_PUBKEY_bio(b, k));
        char *der;
        long dl = BIO_get_mem_data(b, &der);
        unsigned char md[32];
        unsigned mdlen;
        ASSERT_TRUE(EVP_Digest(der, (size_t) dl, md, &mdlen, EVP_sha256(), NULL));
        char hex[65];
        for (unsigned i = 0; i < 32; i++)
                snprintf(hex + 2 * i, 3, "%02x", md[i]);
        ASSERT_STREQ(spki, hex);

        EVP_PKEY *none = NULL;
        _cleanup_free_ char *missing = strjoin(tmpl, "/missing.pem");
        ASSERT_ERROR(pki_key_load(missing, &none), ENOENT);

        ASSERT_OK(unlink(path));
        ASSERT_OK(rmdir(tmpl));
}

/* ---- names ---- */

static char *entry_text(X509_NAME *n, int i, int *ret_nid) {
        X509_NAME_ENTRY *e = X509_NAME_get_entry(n, i);
        ASSERT_NOT_NULL(e);
        *ret_nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
        unsigned char *u = NULL;
        int l = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(e));
        ASSERT_TRUE(l >= 0);
        char *s = strndup((char *) u, (size_t) l);
        OPENSSL_free(u);
        return s;
}

TEST(name_parse_order_and_roundtrip) {
        _cleanup_(X509_NAME_freep) X509_NAME *n = NULL, *n2 = NULL, *n3 = NULL;
        _cleanup_free_ char *f = NULL, *f2 = NULL, *f3 = NULL, *v0 = NULL, *v1 = NULL;
        int nid;

        ASSERT_OK(pki_name_parse("CN=web,O=Example", &n, NULL));
        ASSERT_EQ(X509_NAME_entry_count(n), 2);
        /* RFC 4514: the last RDN is first in the DER. */
        v0 = entry_text(n, 0, &nid);
        ASSERT_EQ(nid, NID_organizationName);
        ASSERT_STREQ(v0, "Example");
        v1 = entry_text(n, 1, &nid);
        ASSERT_EQ(nid, NID_commonName);
        ASSERT_STREQ(v1, "web");

        f = pki_name_format(n);
        ASSERT_STREQ(f, "CN=web,O=Example");

        /* Slash form is in DER order, as OpenSSL's -subj. */
        ASSERT_OK(pki_name_parse("/O=Example/CN=web", &n2, NULL));
        ASSERT_EQ(X509_NAME_cmp(n, n2), 0);
        f2 = pki_name_format(n2);
        ASSERT_STREQ(f2, "CN=web,O=Example");

        /* Spaces, case-insensitive names, UTF-8, escapes. */
        ASSERT_OK(pki_name_parse(" cn = Zoë\\, the \\2Bone , o=Ex\\\\ample,C=DE", &n3, NULL));
        f3 = pki_name_format(n3);
        ASSERT_STREQ(f3, "CN=Zoë\\, the \\+one,O=Ex\\\\ample,C=DE");
        {
                _cleanup_(X509_NAME_freep) X509_NAME *n4 = NULL;
                _cleanup_free_ char *f4 = NULL, *cn = NULL;
                ASSERT_OK(pki_name_parse(f3, &n4, NULL));
                ASSERT_EQ(X509_NAME_cmp(n3, n4), 0);
                f4 = pki_name_format(n4);
                ASSERT_STREQ(f4, f3);
                cn = entry_text(n4, 2, &nid);
                ASSERT_EQ(nid, NID_commonName);
                ASSERT_STREQ(cn, "Zoë, the +one");
        }

        /* Empty name */
        {
                _cleanup_(X509_NAME_freep) X509_NAME *e = NULL;
                _cleanup_free_ char *fe = NULL;
                ASSERT_OK(pki_name_parse("", &e, NULL));
                ASSERT_EQ(X509_NAME_entry_count(e), 0);
                fe = pki_name_format(e);
                ASSERT_STREQ(fe, "");
        }
}

TEST(name_parse_errors) {
        X509_NAME *n = NULL;
        _cleanup_free_ char *err = NULL;

        ASSERT_ERROR(pki_name_parse("CN=a,XYZZY=b", &n, &err), EINVAL);
        ASSERT_NULL(n);
        ASSERT_TRUE(strstr(err, "Unknown attribute 'XYZZY'"));

        ASSERT_ERROR(pki_name_parse("CN=a,O", &n, &err), EINVAL);
        ASSERT_TRUE(strstr(err, "has no '='"));

        ASSERT_ERROR(pki_name_parse("CN=", &n, &err), EINVAL);
        ASSERT_TRUE(strstr(err, "empty value"));

        ASSERT_ERROR(pki_name_parse("C=Germany", &n, &err), EINVAL);
        ASSERT_TRUE(strstr(err, "two-letter"));

        ASSERT_ERROR(pki_name_parse("CN=a\\", &n, &err), EINVAL);
        ASSERT_TRUE(strstr(err, "backslash"));
        ASSERT_ERROR(pki_name_parse("=x", &n, NULL), EINVAL);
        ASSERT_NULL(n);
}

TEST(key_usage_and_eku_names) {
        ASSERT_EQ(key_usage_from_string("digitalSignature"), KU_DIGITAL_SIGNATURE);
        ASSERT_EQ(key_usage_from_string("decipherOnly"), KU_DECIPHER_ONLY);
        ASSERT_EQ(key_usage_from_string("cRLSign"), KU_CRL_SIGN);
        ASSERT_EQ(key_usage_from_string("bogus"), 0);
        _cleanup_free_ char *s = key_usage_to_string(KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
        ASSERT_STREQ(s, "digitalSignature,keyEncipherment");
        _cleanup_free_ char *e = key_usage_to_string(0);
        ASSERT_STREQ(e, "");

        static const char *const cases[][2] = {
                { "id-kp-serverAuth", "id-kp-serverAuth" },
                { "serverAuth", "id-kp-serverAuth" },
                { "1.3.6.1.5.5.7.3.2", "id-kp-clientAuth" },
                { "codeSigning", "id-kp-codeSigning" },
                { "id-kp-emailProtection", "id-kp-emailProtection" },
                { "timeStamping", "id-kp-timeStamping" },
                { "OCSPSigning", "id-kp-OCSPSigning" },
                { "id-pkinit-KPClientAuth", "id-pkinit-KPClientAuth" },
                { "1.3.6.1.5.2.3.5", "id-pkinit-KPKdc" },
                { "id-ms-kp-sc-logon", "id-ms-kp-sc-logon" },
                { "1.3.6.1.4.1.311.20.2.2", "id-ms-kp-sc-logon" },
                { "1.2.3.4.5", "1.2.3.4.5" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *n = NULL;
                ASSERT_OK(eku_normalize(cases[i][0], &n));
                ASSERT_STREQ(n, cases[i][1]);
        }
        char *n = NULL;
        ASSERT_ERROR(eku_normalize("no-such-usage", &n), EINVAL);
        ASSERT_ERROR(eku_normalize("1..2", &n), EINVAL);
        ASSERT_NULL(n);
}

/* ---- CSR ---- */

static void template_full(CertTemplate *t) {
        *t = (CertTemplate) { .path_len = -1 };
        t->subject = strdup("CN=web.example.com,O=Example");
        ASSERT_OK(strv_extend(&t->dns, "web.example.com"));
        ASSERT_OK(strv_extend(&t->dns, "*.example.com"));
        ASSERT_OK(strv_extend(&t->ip, "192.0.2.1"));
        ASSERT_OK(strv_extend(&t->ip, "2001:db8::1"));
        ASSERT_OK(strv_extend(&t->email, "admin@example.com"));
        ASSERT_OK(strv_extend(&t->principal, "host/web.example.com@EXAMPLE.COM"));
        t->key_usage = KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT;
        ASSERT_OK(strv_extend(&t->eku, "id-kp-serverAuth"));
        ASSERT_OK(strv_extend(&t->eku, "clientAuth"));
        ASSERT_OK(strv_extend(&t->eku, "1.3.6.1.5.2.3.4"));
        t->profile = strdup("WebServer");
}

/* The expected DER of KRB5PrincipalName for host/web.example.com@EXAMPLE.COM, written out by hand
 * from RFC 4556 (explicit tags). */
static const unsigned char krb5_expected[] = {
        0x30, 0x33,                                                       /* SEQUENCE */
        0xa0, 0x0d, 0x1b, 0x0b, 'E', 'X', 'A', 'M', 'P', 'L', 'E', '.', 'C', 'O', 'M', /* [0] realm */
        0xa1, 0x22, 0x30, 0x20,                                           /* [1] PrincipalName */
        0xa0, 0x03, 0x02, 0x01, 0x01,                                     /* [0] name-type 1 */
        0xa1, 0x19, 0x30, 0x17,                                           /* [1] SEQUENCE OF */
        0x1b, 0x04, 'h', 'o', 's', 't',
        0x1b, 0x0f, 'w', 'e', 'b', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm',
};

TEST(krb5_principal_encoding) {
        _cleanup_free_ unsigned char *der = NULL;
        _cleanup_free_ char *back = NULL, *back2 = NULL;
        size_t len = 0;

        ASSERT_OK(pki_krb5_principal_to_der("host/web.example.com@EXAMPLE.COM", &der, &len));
        ASSERT_EQ(len, sizeof(krb5_expected));
        ASSERT_TRUE(memcmp(der, krb5_expected, len) == 0);
        ASSERT_OK(pki_krb5_principal_from_der(der, len, &back));
        ASSERT_STREQ(back, "host/web.example.com@EXAMPLE.COM");

        /* Escaped separators survive. */
        free(der);
        der = NULL;
        ASSERT_OK(pki_krb5_principal_to_der("we\\/ird\\@user@REALM", &der, &len));
        ASSERT_OK(pki_krb5_principal_from_der(der, len, &back2));
        ASSERT_STREQ(back2, "we\\/ird\\@user@REALM");

        unsigned char *none = NULL;
        ASSERT_ERROR(pki_krb5_principal_to_der("noreal", &none, &len), EINVAL);
        ASSERT_ERROR(pki_krb5_principal_to_der("user@", &none, &len), EINVAL);
        ASSERT_ERROR(pki_krb5_principal_to_der("@REALM", &none, &len), EINVAL);
        ASSERT_ERROR(pki_krb5_principal_to_der("a//b@REALM", &none, &len), EINVAL);
        char *s = NULL;
        ASSERT_ERROR(pki_krb5_principal_from_der(krb5_expected, sizeof(krb5_expected) - 3, &s), EBADMSG);
        ASSERT_NULL(s);
}

static X509_EXTENSION *req_ext(STACK_OF(X509_EXTENSION) *exts, const char *oid) {
        ASN1_OBJECT *o = OBJ_txt2obj(oid, 0);
        ASSERT_NOT_NULL(o);
        X509_EXTENSION *found = NULL;
        for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++)
                if (OBJ_cmp(X509_EXTENSION_get_object(sk_X509_EXTENSION_value(exts, i)), o) == 0)
                        found = sk_X509_EXTENSION_value(exts, i);
        ASN1_OBJECT_free(o);
        return found;
}

static void check_csr_contents(X509_REQ *req) {
        _cleanup_(exts_freep) STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
        ASSERT_NOT_NULL(exts);

        /* friendlyName */
        int idx = X509_REQ_get_attr_by_NID(req, NID_friendlyName, -1);
        ASSERT_TRUE(idx >= 0);

        /* SAN: walk every entry and check both principal encodings. */
        X509_EXTENSION *san = req_ext(exts, "subjectAltName");
        ASSERT_NOT_NULL(san);
        const ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(san);
        const unsigned char *p = ASN1_STRING_get0_data(os);
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *gens = d2i_GENERAL_NAMES(NULL, &p, ASN1_STRING_length(os));
        ASSERT_NOT_NULL(gens);
        unsigned ndns = 0, nip = 0, nemail = 0, nupn = 0, nkrb = 0;
        for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
                GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
                char oid[64];
                switch (g->type) {
                case GEN_DNS:
                        ndns++;
                        break;
                case GEN_IPADD:
                        nip++;
                        ASSERT_TRUE(ASN1_STRING_length(g->d.iPAddress) == 4 || ASN1_STRING_length(g->d.iPAddress) == 16);
                        break;
                case GEN_EMAIL:
                        nemail++;
                        ASSERT_STREQ((const char *) ASN1_STRING_get0_data(g->d.rfc822Name), "admin@example.com");
                        break;
                case GEN_OTHERNAME:
                        ASSERT_TRUE(OBJ_obj2txt(oid, sizeof(oid), g->d.otherName->type_id, 1) > 0);
                        if (streq(oid, "1.3.6.1.4.1.311.20.2.3")) {
                                nupn++;
                                ASSERT_EQ(g->d.otherName->value->type, V_ASN1_UTF8STRING);
                                ASSERT_STREQ((const char *) ASN1_STRING_get0_data(g->d.otherName->value->value.utf8string),
                                             "host/web.example.com@EXAMPLE.COM");
                        } else if (streq(oid, "1.3.6.1.5.2.2")) {
                                nkrb++;
                                ASSERT_EQ(g->d.otherName->value->type, V_ASN1_SEQUENCE);
                                const ASN1_STRING *seq = g->d.otherName->value->value.sequence;
                                ASSERT_EQ(ASN1_STRING_length(seq), (int) sizeof(krb5_expected));
                                ASSERT_TRUE(memcmp(ASN1_STRING_get0_data(seq), krb5_expected, sizeof(krb5_expected)) == 0);
                        } else
                                ASSERT_TRUE(false);
                        break;
                default:
                        ASSERT_TRUE(false);
                }
        }
        ASSERT_EQ(ndns, 2);
        ASSERT_EQ(nip, 2);
        ASSERT_EQ(nemail, 1);
        ASSERT_EQ(nupn, 1);
        ASSERT_EQ(nkrb, 1);

        ASSERT_NOT_NULL(req_ext(exts, "keyUsage"));
        ASSERT_NOT_NULL(req_ext(exts, "extendedKeyUsage"));
        X509_EXTENSION *bc = req_ext(exts, "basicConstraints");
        ASSERT_NOT_NULL(bc);
        ASSERT_EQ(X509_EXTENSION_get_critical(bc), 1);
        ASSERT_NOT_NULL(req_ext(exts, "subjectKeyIdentifier"));
        X509_EXTENSION *tmpl = req_ext(exts, "1.3.6.1.4.1.311.20.2");
        ASSERT_NOT_NULL(tmpl);
        /* BMPString "WebServer": tag 0x1e, length 18 */
        const ASN1_OCTET_STRING *tos = X509_EXTENSION_get_data(tmpl);
        ASSERT_EQ(ASN1_STRING_length(tos), 20);
        ASSERT_EQ(ASN1_STRING_get0_data(tos)[0], 0x1e);
        ASSERT_EQ(ASN1_STRING_get0_data(tos)[1], 18);
        ASSERT_EQ(ASN1_STRING_get0_data(tos)[3], 'W');
}

static void check_info_full(const CertInfo *i) {
        ASSERT_STREQ(i->subject, "CN=web.example.com,O=Example");
        ASSERT_EQ(strv_length(i->dns), 2);
        ASSERT_STREQ(i->dns[0], "web.example.com");
        ASSERT_STREQ(i->dns[1], "*.example.com");
        ASSERT_EQ(strv_length(i->ip), 2);
        ASSERT_STREQ(i->ip[0], "192.0.2.1");
        ASSERT_STREQ(i->ip[1], "2001:db8::1");
        ASSERT_EQ(strv_length(i->email), 1);
        ASSERT_STREQ(i->email[0], "admin@example.com");
        /* Two encodings, one principal. */
        ASSERT_EQ(strv_length(i->principal), 1);
        ASSERT_STREQ(i->principal[0], "host/web.example.com@EXAMPLE.COM");
        ASSERT_TRUE(i->has_key_usage);
        ASSERT_EQ(i->key_usage, KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
        ASSERT_EQ(strv_length(i->eku), 3);
        ASSERT_STREQ(i->eku[0], "id-kp-serverAuth");
        ASSERT_STREQ(i->eku[1], "id-kp-clientAuth");
        ASSERT_STREQ(i->eku[2], "id-pkinit-KPClientAuth");
        ASSERT_FALSE(i->is_ca);
        ASSERT_EQ(i->path_len, -1);
        ASSERT_STREQ(i->template_name, "WebServer");
        ASSERT_NOT_NULL(i->ski_hex);
        ASSERT_NOT_NULL(i->aki_hex);
        ASSERT_EQ(strlen(i->ski_hex), 59); /* 20 bytes as "AB:CD:.." */
}

static void check_csr_for_key(KeyType kt, unsigned bits) {
        _cleanup_(cert_template_done) CertTemplate t = {};
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL, *req2 = NULL;
        _cleanup_(X509_freep) X509 *self = NULL;
        _cleanup_free_ char *pem = NULL, *err = NULL;
        _cleanup_(cert_info_done) CertInfo info = {};

        template_full(&t);
        ASSERT_OK(pki_key_generate(kt, bits, &k));
        ASSERT_OK(pki_csr_build(k, &t, "my-nick", &req, &err));
        ASSERT_NULL(err);
        ASSERT_EQ(X509_REQ_verify(req, k), 1);

        ASSERT_OK(pki_csr_to_pem(req, &pem));
        ASSERT_TRUE(startswith(pem, "-----BEGIN CERTIFICATE REQUEST-----"));
        ASSERT_OK(pki_csr_from_pem(pem, &req2));
        ASSERT_EQ(X509_REQ_verify(req2, k), 1);
        check_csr_contents(req2);

        /* Self-signed from the CSR: everything comes back through pki_cert_info(). */
        ASSERT_OK(pki_sign_csr(req2, NULL, k, T0, T0 + 86400, &self, &err));
        ASSERT_OK(pki_cert_info(self, &info));
        check_info_full(&info);
        ASSERT_STREQ(info.issuer, info.subject);
        ASSERT_STREQ(info.aki_hex, info.ski_hex);
        ASSERT_EQ(info.not_before, T0);
        ASSERT_EQ(info.not_after, T0 + 86400);
        ASSERT_EQ(X509_verify(self, k), 1);
}

TEST(csr_every_san_and_key_type) {
        check_csr_for_key(KEY_TYPE_EC, 256);
        check_csr_for_key(KEY_TYPE_EC, 521);
        check_csr_for_key(KEY_TYPE_RSA, 2048);
        check_csr_for_key(KEY_TYPE_ED25519, 0);
}

TEST(csr_ca_and_errors) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_free_ char *err = NULL;
        X509_REQ *req = NULL;

        ASSERT_OK(pki_key_generate(KEY_TYPE_EC, 256, &k));

        {
                _cleanup_(cert_template_done) CertTemplate t = { .path_len = 2, .is_ca = true };
                _cleanup_(X509_REQ_freep) X509_REQ *r = NULL;
                _cleanup_(X509_freep) X509 *x = NULL;
                _cleanup_(cert_info_done) CertInfo i = {};
                t.subject = strdup("CN=sub CA");
                ASSERT_OK(pki_csr_build(k, &t, NULL, &r, NULL));
                ASSERT_TRUE(X509_REQ_get_attr_by_NID(r, NID_friendlyName, -1) < 0);
                ASSERT_OK(pki_sign_csr(r, NULL, k, T0, T0 + 1000, &x, NULL));
                ASSERT_OK(pki_cert_info(x, &i));
                ASSERT_TRUE(i.is_ca);
                ASSERT_EQ(i.path_len, 2);
                ASSERT_FALSE(i.has_key_usage);
                ASSERT_NULL(i.template_name);
                ASSERT_NULL(i.dns);
        }

        {
                _cleanup_(cert_template_done) CertTemplate t = { .path_len = -1 };
                ASSERT_OK(strv_extend(&t.ip, "300.1.2.3"));
                ASSERT_ERROR(pki_csr_build(k, &t, NULL, &req, &err), EINVAL);
                ASSERT_TRUE(strstr(err, "IP address '300.1.2.3'"));
        }
        {
                _cleanup_(cert_template_done) CertTemplate t = { .path_len = -1 };
                ASSERT_OK(strv_extend(&t.principal, "host/norealm"));
                ASSERT_ERROR(pki_csr_build(k, &t, NULL, &req, &err), EINVAL);
                ASSERT_TRUE(strstr(err, "Kerberos principal 'host/norealm'"));
        }
        {
                _cleanup_(cert_template_done) CertTemplate t = { .path_len = -1 };
                ASSERT_OK(strv_extend(&t.eku, "frobnicate"));
                ASSERT_ERROR(pki_csr_build(k, &t, NULL, &req, &err), EINVAL);
                ASSERT_TRUE(strstr(err, "frobnicate"));
        }
        {
                _cleanup_(cert_template_done) CertTemplate t = { .path_len = 1 };
                ASSERT_ERROR(pki_csr_build(k, &t, NULL, &req, &err), EINVAL);
                ASSERT_TRUE(strstr(err, "path length"));
        }
        {
                _cleanup_(cert_template_done) CertTemplate t = { .path_len = -1 };
                t.subject = strdup("CN=x,Bogus=y");
                ASSERT_ERROR(pki_csr_build(k, &t, NULL, &req, &err), EINVAL);
                ASSERT_TRUE(strstr(err, "Bogus"));
        }
        ASSERT_NULL(req);

        X509_REQ *none = NULL;
        ASSERT_ERROR(pki_csr_from_pem("not a csr", &none), EBADMSG);
}


/* A certificate whose SAN holds the principal in only one of the two forms still reports it. */
static void check_single_principal_form(bool krb5_form) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *gens = GENERAL_NAMES_new();
        _cleanup_(cert_info_done) CertInfo i = {};
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_TYPE *v = ASN1_TYPE_new();
        ASN1_STRING *s;

        ASSERT_NOT_NULL(gens);
        ASSERT_NOT_NULL(g);
        ASSERT_NOT_NULL(v);
        if (krb5_form) {
                _cleanup_free_ unsigned char *der = NULL;
                size_t len;
                ASSERT_OK(pki_krb5_principal_to_der("HTTP/svc.example.com@EXAMPLE.COM", &der, &len));
                s = ASN1_STRING_type_new(V_ASN1_SEQUENCE);
                ASSERT_TRUE(s && ASN1_STRING_set(s, der, (int) len));
                ASN1_TYPE_set(v, V_ASN1_SEQUENCE, s);
        } else {
                s = ASN1_UTF8STRING_new();
                ASSERT_TRUE(s && ASN1_STRING_set(s, "HTTP/svc.example.com@EXAMPLE.COM", -1));
                ASN1_TYPE_set(v, V_ASN1_UTF8STRING, s);
        }
        ASSERT_TRUE(GENERAL_NAME_set0_othername(g, OBJ_txt2obj(krb5_form ? PKI_OID_KRB5_PRINCIPAL_NAME : PKI_OID_MS_UPN, 1), v));
        ASSERT_TRUE(sk_GENERAL_NAME_push(gens, g) > 0);

        ASSERT_OK(pki_key_generate(KEY_TYPE_EC, 256, &k));
        ASSERT_OK(pki_make_ca_cert(k, "CN=x", NULL, NULL, -1, T0, T0 + 100, &x));
        ASSERT_EQ(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_REPLACE), 1);
        ASSERT_TRUE(X509_sign(x, k, EVP_sha256()) > 0);

        ASSERT_OK(pki_cert_info(x, &i));
        ASSERT_EQ(strv_length(i.principal), 1);
        ASSERT_STREQ(i.principal[0], "HTTP/svc.example.com@EXAMPLE.COM");
        ASSERT_TRUE(i.is_ca);
        ASSERT_EQ(i.path_len, -1);
}

TEST(spkac_signed_by_its_key) {
        static const KeyType types[] = { KEY_TYPE_EC, KEY_TYPE_RSA, KEY_TYPE_ED25519 };

        for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL, *other = NULL, *pub = NULL;
                _cleanup_free_ char *b64 = NULL;
                NETSCAPE_SPKI *spki;

                ASSERT_OK(pki_key_generate(types[i], 0, &k));
                ASSERT_OK(pki_key_generate(types[i], 0, &other));
                ASSERT_OK(pki_spkac_build(k, &b64));
                ASSERT_TRUE(!strchr(b64, '\n'));
                spki = NETSCAPE_SPKI_b64_decode(b64, -1);
                ASSERT_TRUE(spki);
                pub = NETSCAPE_SPKI_get_pubkey(spki);
                ASSERT_TRUE(pub && EVP_PKEY_eq(pub, k) == 1);
                ASSERT_TRUE(NETSCAPE_SPKI_verify(spki, k) == 1);
                ASSERT_TRUE(NETSCAPE_SPKI_verify(spki, other) != 1);
                NETSCAPE_SPKI_free(spki);
                ERR_clear_error();
        }
        ASSERT_ERROR(pki_spkac_build(NULL, &(char *) { NULL }), EINVAL);
}

TEST(pem_first_cert_sha256_matches_the_thumbprint) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_free_ char *pem = NULL, *two = NULL, *crlf = NULL;
        char fast[65], slow[65];
        size_t len = 0;

        ASSERT_OK(pki_key_generate(KEY_TYPE_EC, 256, &k));
        x = X509_new();
        ASSERT_TRUE(x && X509_set_pubkey(x, k) && X509_gmtime_adj(X509_getm_notBefore(x), 0) &&
                    X509_gmtime_adj(X509_getm_notAfter(x), 3600) && X509_sign(x, k, EVP_sha256()));
        ASSERT_OK(pki_cert_to_pem(x, &pem, &len));
        ASSERT_OK(pki_cert_thumbprint_sha256(x, slow));
        ASSERT_OK(pki_pem_first_cert_sha256(pem, len, fast));
        ASSERT_STREQ(fast, slow);
        /* The first of two blocks; CRLF line ends. */
        two = strjoin("noise\n", pem, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        ASSERT_NOT_NULL(two);
        ASSERT_OK(pki_pem_first_cert_sha256(two, strlen(two), fast));
        ASSERT_STREQ(fast, slow);
        crlf = malloc(2 * len + 1);
        ASSERT_NOT_NULL(crlf);
        size_t j = 0;
        for (size_t i = 0; i < len; i++) {
                if (pem[i] == '\n')
                        crlf[j++] = '\r';
                crlf[j++] = pem[i];
        }
        crlf[j] = '\0';
        ASSERT_OK(pki_pem_first_cert_sha256(crlf, strlen(crlf), fast));
        ASSERT_STREQ(fast, slow);
        /* Not a certificate block, or not base64. */
        ASSERT_ERROR(pki_pem_first_cert_sha256("hello", 5, fast), EBADMSG);
        ASSERT_ERROR(pki_pem_first_cert_sha256("-----BEGIN CERTIFICATE-----\nA*B=\n-----END CERTIFICATE-----", 57, fast),
                     EBADMSG);
        ASSERT_ERROR(pki_pem_first_cert_sha256("-----BEGIN CERTIFICATE-----\nABC\n", 32, fast), EBADMSG);
        ASSERT_ERROR(pki_pem_first_cert_sha256(pem, len / 2, fast), EBADMSG);
}

TEST(principal_from_either_form) {
        check_single_principal_form(true);
        check_single_principal_form(false);
}

/* ---- chains ---- */

typedef struct Chain {
        EVP_PKEY *root_key, *leaf_key;
        X509 *root, *leaf;
} Chain;

static void chain_done(Chain *c) {
        EVP_PKEY_free(c->root_key);
        EVP_PKEY_free(c->leaf_key);
        X509_free(c->root);
        X509_free(c->leaf);
}

static void make_chain(Chain *c) {
        _cleanup_(cert_template_done) CertTemplate t = {};
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;

        *c = (Chain) {};
        ASSERT_OK(pki_key_generate(KEY_TYPE_EC, 256, &c->root_key));
        ASSERT_OK(pki_key_generate(KEY_TYPE_EC, 256, &c->leaf_key));
        ASSERT_OK(pki_make_ca_cert(c->root_key, "CN=Test Root,O=Example", NULL, NULL, 1, T0, T0 + 10 * 86400, &c->root));
        template_full(&t);
        ASSERT_OK(pki_csr_build(c->leaf_key, &t, NULL, &req, NULL));
        ASSERT_OK(pki_sign_csr(req, c->root, c->root_key, T0, T0 + 86400, &c->leaf, NULL));
}

static char *pem_of(X509 *x) {
        char *s = NULL;
        size_t l;
        ASSERT_OK(pki_cert_to_pem(x, &s, &l));
        ASSERT_EQ(strlen(s), l);
        return s;
}

TEST(sign_and_ca_cert) {
        _cleanup_(chain_done) Chain c = {};
        _cleanup_(cert_info_done) CertInfo ri = {}, li = {};

        make_chain(&c);
        ASSERT_OK(pki_cert_info(c.root, &ri));
        ASSERT_STREQ(ri.subject, "CN=Test Root,O=Example");
        ASSERT_STREQ(ri.issuer, ri.subject);
        ASSERT_TRUE(ri.is_ca);
        ASSERT_EQ(ri.path_len, 1);
        ASSERT_EQ(ri.key_usage, KU_KEY_CERT_SIGN | KU_CRL_SIGN);

        ASSERT_OK(pki_cert_info(c.leaf, &li));
        check_info_full(&li);
        ASSERT_STREQ(li.issuer, "CN=Test Root,O=Example");
        ASSERT_STREQ(li.aki_hex, ri.ski_hex);
        ASSERT_EQ(X509_verify(c.leaf, c.root_key), 1);

        /* Serial: positive, 128 bits at most, uppercase, no leading zeros; same number as the cert's. */
        ASSERT_TRUE(strlen(li.serial_hex) >= 30 && strlen(li.serial_hex) <= 32);
        ASSERT_TRUE(li.serial_hex[0] != '0');
        for (const char *p = li.serial_hex; *p; p++)
                ASSERT_TRUE((*p >= '0' && *p <= '9') || (*p >= 'A' && *p <= 'F'));
        _cleanup_(BN_freep) BIGNUM *a = NULL;
        _cleanup_(BN_freep) BIGNUM *b = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c.leaf), NULL);
        ASSERT_TRUE(BN_hex2bn(&a, li.serial_hex) > 0);
        ASSERT_EQ(BN_cmp(a, b), 0);
        ASSERT_FALSE(BN_is_negative(b));
        ASSERT_TRUE(strcmp(li.serial_hex, ri.serial_hex) != 0);

        /* Validity capped at the issuer's notAfter. */
        {
                _cleanup_(cert_template_done) CertTemplate t = { .path_len = -1 };
                _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
                _cleanup_(X509_freep) X509 *x = NULL;
                _cleanup_(cert_info_done) CertInfo xi = {};
                t.subject = strdup("CN=long");
                ASSERT_OK(pki_csr_build(c.leaf_key, &t, NULL, &req, NULL));
                ASSERT_OK(pki_sign_csr(req, c.root, c.root_key, T0, T0 + 1000 * 86400, &x, NULL));
                ASSERT_OK(pki_cert_info(x, &xi));
                ASSERT_EQ(xi.not_after, ri.not_after);

                /* Wrong issuer key. */
                X509 *none = NULL;
                _cleanup_free_ char *err = NULL;
                ASSERT_ERROR(pki_sign_csr(req, c.root, c.leaf_key, T0, T0 + 10, &none, &err), EINVAL);
                ASSERT_NOT_NULL(err);
                /* Issuer already expired at notBefore. */
                ASSERT_ERROR(pki_sign_csr(req, c.root, c.root_key, T0 + 20 * 86400, T0 + 30 * 86400, &none, NULL),
                             EKEYEXPIRED);

                /* A tampered request does not verify. */
                _cleanup_(X509_NAME_freep) X509_NAME *other = NULL;
                ASSERT_OK(pki_name_parse("CN=evil", &other, NULL));
                ASSERT_TRUE(X509_REQ_set_subject_name(req, other));
                ASSERT_ERROR(pki_sign_csr(req, c.root, c.root_key, T0, T0 + 10, &none, &err), EBADMSG);
                ASSERT_NULL(none);
        }
}

static void check_parsed(X509 *leaf, STACK_OF(X509) *chain, X509 *exp_leaf, X509 *exp_root) {
        ASSERT_NOT_NULL(leaf);
        ASSERT_EQ(X509_cmp(leaf, exp_leaf), 0);
        ASSERT_NOT_NULL(chain);
        ASSERT_EQ(sk_X509_num(chain), 1);
        ASSERT_EQ(X509_cmp(sk_X509_value(chain, 0), exp_root), 0);
}

TEST(parse_pem_der_pkcs7) {
        _cleanup_(chain_done) Chain c = {};
        _cleanup_free_ char *lpem = NULL, *rpem = NULL, *mixed = NULL, *rfirst = NULL;

        make_chain(&c);
        lpem = pem_of(c.leaf);
        rpem = pem_of(c.root);

        /* PEM with noise before, between and after; a key blob in between is skipped. */
        mixed = strjoin("Subject: whatever\nnoise\n", lpem, "junk between\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                        rpem, "trailing noise\n");
        {
                _cleanup_(X509_freep) X509 *leaf = NULL;
                _cleanup_(pki_chain_freep) STACK_OF(X509) *chain = NULL;
                ASSERT_OK(pki_cert_parse(mixed, strlen(mixed), &leaf, &chain));
                check_parsed(leaf, chain, c.leaf, c.root);
        }
        /* Root first: the leaf is still found. */
        rfirst = strjoin(rpem, lpem);
        {
                _cleanup_(X509_freep) X509 *leaf = NULL;
                _cleanup_(pki_chain_freep) STACK_OF(X509) *chain = NULL;
                ASSERT_OK(pki_cert_parse(rfirst, strlen(rfirst), &leaf, &chain));
                check_parsed(leaf, chain, c.leaf, c.root);
        }
        /* No chain wanted. */
        {
                _cleanup_(X509_freep) X509 *leaf = NULL;
                ASSERT_OK(pki_cert_parse(mixed, strlen(mixed), &leaf, NULL));
                ASSERT_EQ(X509_cmp(leaf, c.leaf), 0);
        }
        /* DER */
        {
                _cleanup_(X509_freep) X509 *leaf = NULL;
                _cleanup_(pki_chain_freep) STACK_OF(X509) *chain = NULL;
                unsigned char *der = NULL;
                int n = i2d_X509(c.leaf, &der);
                ASSERT_TRUE(n > 0);
                ASSERT_OK(pki_cert_parse(der, (size_t) n, &leaf, &chain));
                ASSERT_EQ(X509_cmp(leaf, c.leaf), 0);
                ASSERT_EQ(sk_X509_num(chain), 0);

                /* truncated DER */
                X509 *none = NULL;
                ASSERT_ERROR(pki_cert_parse(der, (size_t) n - 10, &none, NULL), EBADMSG);
                ASSERT_NULL(none);
                OPENSSL_free(der);
        }
        /* PKCS#7 certs-only, built with the PKCS7 API, root first (a SET has no order). */
        {
                _cleanup_(PKCS7_freep) PKCS7 *p7 = PKCS7_new();
                ASSERT_NOT_NULL(p7);
                ASSERT_TRUE(PKCS7_set_type(p7, NID_pkcs7_signed));
                ASSERT_TRUE(PKCS7_content_new(p7, NID_pkcs7_data));
                ASSERT_TRUE(PKCS7_add_certificate(p7, c.root));
                ASSERT_TRUE(PKCS7_add_certificate(p7, c.leaf));

                unsigned char *der = NULL;
                int n = i2d_PKCS7(p7, &der);
                ASSERT_TRUE(n > 0);
                {
                        _cleanup_(X509_freep) X509 *leaf = NULL;
                        _cleanup_(pki_chain_freep) STACK_OF(X509) *chain = NULL;
                        ASSERT_OK(pki_cert_parse(der, (size_t) n, &leaf, &chain));
                        check_parsed(leaf, chain, c.leaf, c.root);
                }
                OPENSSL_free(der);

                _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
                ASSERT_TRUE(BIO_puts(b, "-- pkcs7 follows --\n") > 0);
                ASSERT_TRUE(PEM_write_bio_PKCS7(b, p7));
                char *pem;
                long pl = BIO_get_mem_data(b, &pem);
                ASSERT_TRUE(memmem(pem, (size_t) pl, "BEGIN PKCS7", 11));
                {
                        _cleanup_(X509_freep) X509 *leaf = NULL;
                        _cleanup_(pki_chain_freep) STACK_OF(X509) *chain = NULL;
                        ASSERT_OK(pki_cert_parse(pem, (size_t) pl, &leaf, &chain));
                        check_parsed(leaf, chain, c.leaf, c.root);
                }
        }
        /* Chain PEM writer round trip. */
        {
                _cleanup_(pki_chain_freep) STACK_OF(X509) *in = sk_X509_new_null();
                _cleanup_(X509_freep) X509 *leaf = NULL;
                _cleanup_(pki_chain_freep) STACK_OF(X509) *chain = NULL;
                _cleanup_free_ char *s = NULL;
                size_t l;
                ASSERT_TRUE(X509_up_ref(c.leaf) && sk_X509_push(in, c.leaf));
                ASSERT_TRUE(X509_up_ref(c.root) && sk_X509_push(in, c.root));
                ASSERT_OK(pki_chain_to_pem(in, &s, &l));
                ASSERT_OK(pki_cert_parse(s, l, &leaf, &chain));
                check_parsed(leaf, chain, c.leaf, c.root);
        }
}

TEST(parse_fixtures) {
        static const char *const files[] = { "pki-chain.p7b", "pki-chain.p7b.der" };
        _cleanup_(X509_freep) X509 *leaf = NULL, *root = NULL;
        _cleanup_free_ char *lpem = NULL, *rpem = NULL, *lder = NULL;
        size_t ll, rl, dl;

        lpem = read_data("pki-leaf.pem", &ll);
        rpem = read_data("pki-root.pem", &rl);
        lder = read_data("pki-leaf.der", &dl);
        ASSERT_OK(pki_cert_parse(lpem, ll, &leaf, NULL));
        ASSERT_OK(pki_cert_parse(rpem, rl, &root, NULL));
        {
                _cleanup_(X509_freep) X509 *d = NULL;
                ASSERT_OK(pki_cert_parse(lder, dl, &d, NULL));
                ASSERT_EQ(X509_cmp(d, leaf), 0);
        }

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                _cleanup_free_ char *data = NULL;
                _cleanup_(X509_freep) X509 *l = NULL;
                _cleanup_(pki_chain_freep) STACK_OF(X509) *chain = NULL;
                size_t len;

                data = read_data(files[i], &len);
                ASSERT_OK(pki_cert_parse(data, len, &l, &chain));
                check_parsed(l, chain, leaf, root);
        }

        _cleanup_(cert_info_done) CertInfo info = {};
        ASSERT_OK(pki_cert_info(leaf, &info));
        ASSERT_STREQ(info.subject, "CN=leaf.example.com,O=certkeeper fixtures");
        ASSERT_STREQ(info.issuer, "CN=fixture root CA,O=certkeeper fixtures");
        ASSERT_STREQ(info.dns[0], "leaf.example.com");
        ASSERT_STREQ(info.ip[0], "192.0.2.7");
        ASSERT_STREQ(info.eku[0], "id-kp-serverAuth");
        /* Written down from `openssl x509 -noout -serial -fingerprint -sha1`. */
        ASSERT_STREQ(info.serial_hex, "78E648CFCEDAC1EA0A16128FF53C24F59BD184DA");
        ASSERT_STREQ(info.sha1, "0d91549599f3d988942b03161d591ac1cd6f630f");

        /* The fixture key matches the fixture leaf. */
        _cleanup_free_ char *kpem = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        size_t kl;
        kpem = read_data("pki-leaf.key", &kl);
        ASSERT_OK(pki_key_from_data(kpem, kl, &k));
        ASSERT_EQ(pki_cert_key_match(leaf, k), 1);
        ASSERT_EQ(pki_cert_key_match(root, k), 0);
}

TEST(parse_garbage) {
        X509 *x = NULL;
        STACK_OF(X509) *chain = NULL;
        static const char broken_pem[] =
                "noise\n-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\nmore\n";
        static const unsigned char junk[] = { 0x30, 0x82, 0xff, 0xff, 0x01, 0x02 };

        ASSERT_ERROR(pki_cert_parse("hello world", 11, &x, &chain), EBADMSG);
        ASSERT_ERROR(pki_cert_parse("", 0, &x, &chain), EBADMSG);
        ASSERT_ERROR(pki_cert_parse(broken_pem, strlen(broken_pem), &x, &chain), EBADMSG);
        ASSERT_ERROR(pki_cert_parse(junk, sizeof(junk), &x, &chain), EBADMSG);
        ASSERT_ERROR(pki_cert_parse("-----BEGIN ", 11, &x, &chain), EBADMSG);
        ASSERT_NULL(x);
        ASSERT_NULL(chain);
        ASSERT_EQ(ERR_peek_error(), 0);
}

TEST(key_match) {
        _cleanup_(chain_done) Chain c = {};
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *other = NULL, *rsa = NULL;

        make_chain(&c);
        ASSERT_OK(pki_key_generate(KEY_TYPE_EC, 256, &other));
        ASSERT_OK(pki_key_generate(KEY_TYPE_RSA, 2048, &rsa));
        ASSERT_EQ(pki_cert_key_match(c.leaf, c.leaf_key), 1);
        ASSERT_EQ(pki_cert_key_match(c.root, c.root_key), 1);
        ASSERT_EQ(pki_cert_key_match(c.leaf, c.root_key), 0);
        ASSERT_EQ(pki_cert_key_match(c.leaf, other), 0);
        ASSERT_EQ(pki_cert_key_match(c.leaf, rsa), 0);
}

TEST(thumbprints) {
        _cleanup_(chain_done) Chain c = {};
        _cleanup_(cert_info_done) CertInfo i = {};
        unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
        unsigned mdlen;
        char hex[129], tp[65];

        make_chain(&c);
        ASSERT_OK(pki_cert_info(c.leaf, &i));

        int n = i2d_X509(c.leaf, &der);
        ASSERT_TRUE(n > 0);

        ASSERT_TRUE(EVP_Digest(der, (size_t) n, md, &mdlen, EVP_sha1(), NULL));
        for (unsigned k = 0; k < mdlen; k++)
                snprintf(hex + 2 * k, 3, "%02x", md[k]);
        ASSERT_STREQ(i.sha1, hex);

        ASSERT_TRUE(EVP_Digest(der, (size_t) n, md, &mdlen, EVP_sha256(), NULL));
        for (unsigned k = 0; k < mdlen; k++)
                snprintf(hex + 2 * k, 3, "%02x", md[k]);
        ASSERT_STREQ(i.sha256, hex);
        ASSERT_OK(pki_cert_thumbprint_sha256(c.leaf, tp));
        ASSERT_STREQ(tp, hex);
        OPENSSL_free(der);
}

/* ---- PKCS#12 ---- */

static int pbes2_cipher_nid(const X509_ALGOR *alg) {
        const ASN1_OBJECT *obj;
        const void *param;
        int ptype;
        PBE2PARAM *p;
        int nid;

        X509_ALGOR_get0(&obj, &ptype, &param, alg);
        if (OBJ_obj2nid(obj) != NID_pbes2 || ptype != V_ASN1_SEQUENCE)
                return NID_undef;
        p = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter);
        if (!p)
                return NID_undef;
        nid = OBJ_obj2nid(p->encryption->algorithm);
        PBE2PARAM_free(p);
        return nid;
}

/* The file holds the certificate (encrypted) and the key (shrouded), both with PBES2 and
 * AES-256-CBC, under a SHA-256 MAC: OpenSSL 3's defaults. */
static void check_p12_algorithms(PKCS12 *p12, const char *password) {
        const X509_ALGOR *macalg = NULL;
        const ASN1_OBJECT *macobj;
        STACK_OF(PKCS7) *safes = PKCS12_unpack_authsafes(p12);
        unsigned encrypted = 0, shrouded = 0;

        PKCS12_get0_mac(NULL, &macalg, NULL, NULL, p12);
        ASSERT_NOT_NULL(macalg);
        X509_ALGOR_get0(&macobj, NULL, NULL, macalg);
        ASSERT_EQ(OBJ_obj2nid(macobj), NID_sha256);
        ASSERT_NOT_NULL(safes);
        for (int i = 0; i < sk_PKCS7_num(safes); i++) {
                PKCS7 *p7 = sk_PKCS7_value(safes, i);
                STACK_OF(PKCS12_SAFEBAG) *bags;

                if (OBJ_obj2nid(p7->type) == NID_pkcs7_encrypted) {
                        ASSERT_EQ(pbes2_cipher_nid(p7->d.encrypted->enc_data->algorithm), NID_aes_256_cbc);
                        encrypted++;
                        continue;
                }
                bags = PKCS12_unpack_p7data(p7);
                ASSERT_NOT_NULL(bags);
                for (int j = 0; j < sk_PKCS12_SAFEBAG_num(bags); j++) {
                        const PKCS12_SAFEBAG *bag = sk_PKCS12_SAFEBAG_value(bags, j);
                        const X509_ALGOR *alg;

                        if (PKCS12_SAFEBAG_get_nid(bag) != NID_pkcs8ShroudedKeyBag)
                                continue;
                        X509_SIG_get0(PKCS12_SAFEBAG_get0_pkcs8(bag), &alg, NULL);
                        ASSERT_EQ(pbes2_cipher_nid(alg), NID_aes_256_cbc);
                        shrouded++;
                }
                sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
        }
        sk_PKCS7_pop_free(safes, PKCS7_free);
        ASSERT_EQ(encrypted, 1u);
        ASSERT_EQ(shrouded, 1u);
        ASSERT_EQ(PKCS12_verify_mac(p12, password, -1), 1);
}

DEFINE_TRIVIAL_CLEANUP_FUNC(PKCS12 *, PKCS12_free);

TEST(export_pkcs12) {
        static const char *const passwords[] = { "s3cret pass", NULL };
        _cleanup_(chain_done) Chain c = {};
        _cleanup_(pki_chain_freep) STACK_OF(X509) *chain = sk_X509_new_null();
        unsigned char *der = NULL;
        size_t len = 0;

        make_chain(&c);
        ASSERT_NOT_NULL(chain);
        ASSERT_TRUE(sk_X509_push(chain, X509_dup(c.root)) > 0);
        ASSERT_ERROR(pki_export_pkcs12(c.leaf, chain, c.leaf_key, "", "x", &der, &len), EINVAL);
        ASSERT_NULL(der);

        for (size_t i = 0; i < ELEMENTSOF(passwords); i++) {
                const char *pw = passwords[i] ?: "";
                _cleanup_(PKCS12_freep) PKCS12 *p12 = NULL;
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
                _cleanup_(X509_freep) X509 *cert = NULL;
                _cleanup_(pki_chain_freep) STACK_OF(X509) *ca = NULL;
                const unsigned char *q;

                ASSERT_OK(pki_export_pkcs12(c.leaf, chain, c.leaf_key, passwords[i], "x", &der, &len));
                q = der;
                p12 = d2i_PKCS12(NULL, &q, (long) len);
                OPENSSL_free(der);
                der = NULL;
                ASSERT_NOT_NULL(p12);
                check_p12_algorithms(p12, pw);
                ASSERT_EQ(PKCS12_verify_mac(p12, "wrong", -1), 0);
                ERR_clear_error();
                ASSERT_EQ(PKCS12_parse(p12, pw, &key, &cert, &ca), 1);
                ASSERT_EQ(X509_cmp(cert, c.leaf), 0);
                ASSERT_EQ(pki_cert_key_match(cert, key), 1);
                ASSERT_EQ(sk_X509_num(ca), 1);
                ASSERT_EQ(X509_cmp(sk_X509_value(ca, 0), c.root), 0);
        }
}

TEST_MAIN();
