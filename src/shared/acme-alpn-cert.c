/* SPDX-License-Identifier: MIT */
/* The tls-alpn-01 challenge certificate (see the header). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "acme-alpn-cert.h"
#include "pki-cert.h"
#include "pki-key.h"
#include "pki-sign.h"
#include "string-util.h"

#define DNS_NAME_MAX 253
#define DNS_LABEL_MAX 63
#define VALIDITY_SEC (7 * 24 * 3600)
#define BACKDATE_SEC 3600

DEFINE_TRIVIAL_CLEANUP_FUNC(X509_NAME *, X509_NAME_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OBJECT *, ASN1_OBJECT_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OCTET_STRING *, ASN1_OCTET_STRING_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_EXTENSION *, X509_EXTENSION_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAMES *, GENERAL_NAMES_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAME *, GENERAL_NAME_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_STRING *, ASN1_STRING_free);

bool acme_alpn_name_is_valid(const char *name) {
        size_t len, label = 0;

        if (!name)
                return false;
        len = strlen(name);
        if (len == 0 || len > DNS_NAME_MAX)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = name[i];
                if (c == '.') {
                        if (label == 0)
                                return false;
                        label = 0;
                        continue;
                }
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
                        return false;
                if (++label > DNS_LABEL_MAX)
                        return false;
        }
        return label > 0;
}

static int reverse_name(int family, const unsigned char *a, char **ret) {
        char buf[sizeof("f.") * 32 + sizeof("ip6.arpa")];
        size_t n = 0;

        if (family == AF_INET)
                n = (size_t) snprintf(buf, sizeof(buf), "%u.%u.%u.%u.in-addr.arpa", a[3], a[2], a[1], a[0]);
        else {
                static const char hex[] = "0123456789abcdef";
                for (int i = 15; i >= 0; i--) {
                        buf[n++] = hex[a[i] & 0xf];
                        buf[n++] = '.';
                        buf[n++] = hex[a[i] >> 4];
                        buf[n++] = '.';
                }
                memcpy(buf + n, "ip6.arpa", sizeof("ip6.arpa"));
        }
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

int acme_alpn_name_normalize(const char *name, char **ret) {
        char *copy;

        if (!acme_alpn_name_is_valid(name))
                return -EINVAL;
        copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        for (char *p = copy; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                        *p = (char) (*p - 'A' + 'a');
        *ret = copy;
        return 0;
}

int acme_alpn_sni_name(const char *identifier, char **ret) {
        unsigned char a[16];

        if (!identifier)
                return -EINVAL;
        if (inet_pton(AF_INET, identifier, a) == 1)
                return reverse_name(AF_INET, a, ret);
        if (inet_pton(AF_INET6, identifier, a) == 1)
                return reverse_name(AF_INET6, a, ret);
        return acme_alpn_name_normalize(identifier, ret);
}

/* The subjectAltName: the one identifier, critical since the subject is empty (RFC 5280 4.2.1.6). */
static int add_san(X509 *x, const char *identifier) {
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *gens = GENERAL_NAMES_new();
        _cleanup_(GENERAL_NAME_freep) GENERAL_NAME *gen = GENERAL_NAME_new();
        _cleanup_(ASN1_STRING_freep) ASN1_STRING *value = NULL;
        int type = GEN_IPADD;

        if (!gens || !gen)
                return -ENOMEM;
        value = a2i_IPADDRESS(identifier);
        if (!value) {
                ERR_clear_error();
                type = GEN_DNS;
                value = ASN1_IA5STRING_new();
                if (!value || !ASN1_STRING_set(value, identifier, -1))
                        return -ENOMEM;
        }
        GENERAL_NAME_set0_value(gen, type, TAKE_PTR(value));
        if (!sk_GENERAL_NAME_push(gens, gen))
                return -ENOMEM;
        TAKE_PTR(gen);
        if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 1, X509V3_ADD_DEFAULT) != 1) {
                ERR_clear_error();
                return -ENOMEM;
        }
        return 0;
}

/* acmeIdentifier: critical, its extnValue the DER of an OCTET STRING holding the SHA-256 of the key
 * authorization (RFC 8737 section 3). */
static int add_acme_identifier(X509 *x, const char *key_authorization) {
        _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *obj = NULL;
        _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *value = NULL;
        _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = NULL;
        unsigned char der[2 + 32] = { V_ASN1_OCTET_STRING, 32 };
        unsigned len = 0;

        if (EVP_Digest(key_authorization, strlen(key_authorization), der + 2, &len, pki_digest_sha256(), NULL) != 1 ||
            len != 32) {
                ERR_clear_error();
                return -EIO;
        }
        obj = OBJ_txt2obj(ACME_ALPN_OID_ACME_IDENTIFIER, 1);
        value = ASN1_OCTET_STRING_new();
        if (!obj || !value || !ASN1_OCTET_STRING_set(value, der, sizeof(der))) {
                ERR_clear_error();
                return -ENOMEM;
        }
        ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, value);
        if (!ext || !X509_add_ext(x, ext, -1)) {
                ERR_clear_error();
                return -ENOMEM;
        }
        return 0;
}

int acme_alpn_cert_new(const char *identifier, const char *key_authorization, char **ret_pem, size_t *ret_len) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_NAME_freep) X509_NAME *empty = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_free_ char *san = NULL, *cert_pem = NULL, *key_pem = NULL;
        unsigned char a[16];
        size_t cert_len = 0, key_len = 0;
        int64_t now = (int64_t) time(NULL);
        char *pem;
        int r;

        if (!identifier || !key_authorization)
                return -EINVAL;
        /* The SAN holds the address itself; a DNS name in lower case, as the CA's SNI. */
        if (inet_pton(AF_INET, identifier, a) == 1 || inet_pton(AF_INET6, identifier, a) == 1)
                san = strdup(identifier);
        else {
                r = acme_alpn_sni_name(identifier, &san);
                if (r < 0)
                        return r;
        }
        if (!san)
                return -ENOMEM;

        r = pki_key_generate(KEY_TYPE_EC, 256, &key);
        if (r < 0)
                return r;
        empty = X509_NAME_new();
        if (!empty)
                return -ENOMEM;
        r = pki_sign_cert_new(empty, empty, key, NULL, now - BACKDATE_SEC, now + VALIDITY_SEC, &x);
        if (r < 0)
                return r;
        r = add_san(x, san);
        if (r < 0)
                return r;
        r = add_acme_identifier(x, key_authorization);
        if (r < 0)
                return r;
        if (X509_sign(x, key, pki_digest_sha256()) <= 0) {
                ERR_clear_error();
                return -EIO;
        }

        r = pki_cert_to_pem(x, &cert_pem, &cert_len);
        if (r < 0)
                return r;
        r = pki_key_to_pem(key, &key_pem, &key_len);
        if (r < 0)
                return r;
        pem = strjoin(cert_pem, key_pem);
        if (!pem)
                return -ENOMEM;
        *ret_pem = pem;
        if (ret_len)
                *ret_len = cert_len + key_len;
        return 0;
}
