/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "fs-util.h"
#include "pki-cert.h"
#include "pki-csr.h"
#include "pki-key.h"
#include "string-util.h"

#define PKI_CERT_FILE_MAX (16U * 1024U * 1024U)
/* Upper bound on certificates taken from one input: bundles are small, fuzzers are not. */
#define PKI_CERTS_MAX 1024

/* OpenSSL's X509_get_key_usage() bits (its KU_* macros are dropped by pki-csr.h). */
static const unsigned openssl_ku_bits[] = {
        0x0080, /* digitalSignature */
        0x0040, /* nonRepudiation */
        0x0020, /* keyEncipherment */
        0x0010, /* dataEncipherment */
        0x0008, /* keyAgreement */
        0x0004, /* keyCertSign */
        0x0002, /* cRLSign */
        0x0001, /* encipherOnly */
        0x8000, /* decipherOnly */
};

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(PKCS7 *, PKCS7_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OBJECT *, ASN1_OBJECT_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_STRING *, ASN1_STRING_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAMES *, GENERAL_NAMES_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EXTENDED_KEY_USAGE *, EXTENDED_KEY_USAGE_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BASIC_CONSTRAINTS *, BASIC_CONSTRAINTS_free);

static void openssl_freep(void *p) {
        OPENSSL_free(*(void **) p);
}

void pki_chain_free(STACK_OF(X509) *chain) {
        sk_X509_pop_free(chain, X509_free);
}

void cert_info_done(CertInfo *i) {
        if (!i)
                return;
        free(i->subject);
        free(i->issuer);
        free(i->serial_hex);
        strv_free(i->dns);
        strv_free(i->ip);
        strv_free(i->email);
        strv_free(i->principal);
        strv_free(i->eku);
        free(i->template_name);
        free(i->aki_hex);
        free(i->ski_hex);
        *i = (CertInfo) { .path_len = -1 };
}

/* ---- parsing ---- */

static int certs_push(STACK_OF(X509) *certs, X509 *x) {
        if (sk_X509_num(certs) >= PKI_CERTS_MAX) {
                X509_free(x);
                return -E2BIG;
        }
        if (!sk_X509_push(certs, x)) {
                X509_free(x);
                return -ENOMEM;
        }
        return 0;
}

static int pkcs7_take_certs(PKCS7 *p7, STACK_OF(X509) *certs) {
        STACK_OF(X509) *in = NULL;
        int r;

        if (!p7)
                return -EBADMSG;

        if (PKCS7_type_is_signed(p7)) {
                if (p7->d.sign)
                        in = p7->d.sign->cert;
        } else if (PKCS7_type_is_signedAndEnveloped(p7)) {
                if (p7->d.signed_and_enveloped)
                        in = p7->d.signed_and_enveloped->cert;
        } else
                return -EBADMSG;

        for (int i = 0; i < sk_X509_num(in); i++) {
                X509 *x = sk_X509_value(in, i);
                if (!x || !X509_up_ref(x))
                        return -ENOMEM;
                r = certs_push(certs, x);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ---- a cache of parsed CA certificates ---- */

/* OpenSSL 3.0 decodes the public key of every certificate it parses through a decoder context,
 * which costs several times the rest of the parse. The CA certificates of a chain come back
 * again and again: a long-lived caller keeps them parsed here, by their DER. */
#define PKI_CERT_CACHE_SIZE 8

struct PkiCertCache {
        struct {
                unsigned char *der;
                size_t len;
                X509 *cert;
        } e[PKI_CERT_CACHE_SIZE];
        size_t next; /* the slot to replace next, round robin */
};

PkiCertCache *pki_cert_cache_new(void) {
        return calloc(1, sizeof(PkiCertCache));
}

PkiCertCache *pki_cert_cache_free(PkiCertCache *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < PKI_CERT_CACHE_SIZE; i++) {
                free(c->e[i].der);
                X509_free(c->e[i].cert);
        }
        free(c);
        return NULL;
}

static X509 *cache_get(PkiCertCache *c, const unsigned char *der, size_t len) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < PKI_CERT_CACHE_SIZE; i++)
                if (c->e[i].cert && c->e[i].len == len && memcmp(c->e[i].der, der, len) == 0)
                        return X509_up_ref(c->e[i].cert) ? c->e[i].cert : NULL;
        return NULL;
}

static void cache_put(PkiCertCache *c, const unsigned char *der, size_t len, X509 *x) {
        unsigned char *copy;
        size_t i;

        /* Only CA certificates: leaves come once each. Only those with a decoded key, as a fresh
         * parse would give. */
        if (!c || len == 0 || !(X509_get_extension_flags(x) & EXFLAG_CA) || !X509_get0_pubkey(x)) {
                ERR_clear_error();
                return;
        }
        copy = malloc(len);
        if (!copy || !X509_up_ref(x)) {
                free(copy);
                return;
        }
        memcpy(copy, der, len);
        i = c->next;
        c->next = (c->next + 1) % PKI_CERT_CACHE_SIZE;
        free(c->e[i].der);
        X509_free(c->e[i].cert);
        c->e[i].der = copy;
        c->e[i].len = len;
        c->e[i].cert = x;
}

static bool cert_is_ca(X509 *x);

/* A library context without any algorithm (OpenSSL's "null" provider), made once per thread. A
 * certificate parsed in it skips the key decode (see cache_put()): there is no decoder to find,
 * so the parse costs about a tenth. Its X509_get0_pubkey() is NULL; pki_cert_key_match() builds
 * the key from the SPKI instead, and the digests are fetched from the default context. */
static OSSL_LIB_CTX *lean_libctx(void) {
        static _Thread_local OSSL_LIB_CTX *ctx = NULL;

        if (!ctx) {
                ctx = OSSL_LIB_CTX_new();
                if (ctx && !OSSL_PROVIDER_load(ctx, "null"))
                        ctx = (OSSL_LIB_CTX_free(ctx), NULL);
                ERR_clear_error();
        }
        return ctx;
}

/* A leaf for a long-lived caller: parsed without its key, unless it is a CA certificate, which
 * is parsed in full as before (it is cached, and it may verify others). NULL: parse it in full. */
static X509 *parse_leaf_lean(const unsigned char *der, long derlen, const unsigned char **ret_end) {
        OSSL_LIB_CTX *ctx = lean_libctx();
        const unsigned char *p = der;
        X509 *x;

        if (!ctx)
                return NULL;
        x = X509_new_ex(ctx, NULL);
        if (!x || !d2i_X509(&x, &p, derlen)) {
                /* d2i_X509() frees a reused object on failure. */
                ERR_clear_error();
                return NULL;
        }
        if (cert_is_ca(x)) {
                X509_free(x);
                ERR_clear_error();
                return NULL;
        }
        *ret_end = p;
        return x;
}

static int parse_pem(const void *data, size_t len, PkiCertCache *cache, STACK_OF(X509) *certs) {
        _cleanup_(BIO_freep) BIO *b = NULL;
        int r;

        if (len > INT_MAX)
                return -EFBIG;

        b = BIO_new_mem_buf(data, (int) len);
        if (!b)
                return -ENOMEM;

        for (;;) {
                _cleanup_(openssl_freep) char *name = NULL, *header = NULL;
                _cleanup_(openssl_freep) unsigned char *der = NULL;
                long derlen = 0;

                if (!PEM_read_bio(b, &name, &header, &der, &derlen)) {
                        /* End of input, or a damaged blob: stop, keeping what we have. */
                        ERR_clear_error();
                        break;
                }
                const unsigned char *p = der;

                if (streq(name, PEM_STRING_X509) || streq(name, PEM_STRING_X509_OLD)) {
                        X509 *x = cache_get(cache, der, (size_t) derlen);
                        if (!x && cache)
                                x = parse_leaf_lean(der, derlen, &p);
                        if (!x) {
                                x = d2i_X509(NULL, &p, derlen);
                                if (!x) {
                                        ERR_clear_error();
                                        continue;
                                }
                                /* Only a certificate that is all of the PEM block, to be found again by it. */
                                if (p == der + derlen)
                                        cache_put(cache, der, (size_t) derlen, x);
                        }
                        r = certs_push(certs, x);
                        if (r < 0)
                                return r;
                } else if (streq(name, PEM_STRING_X509_TRUSTED)) {
                        X509 *x = d2i_X509_AUX(NULL, &p, derlen);
                        if (!x) {
                                ERR_clear_error();
                                continue;
                        }
                        r = certs_push(certs, x);
                        if (r < 0)
                                return r;
                } else if (streq(name, PEM_STRING_PKCS7) || streq(name, PEM_STRING_PKCS7_SIGNED)) {
                        _cleanup_(PKCS7_freep) PKCS7 *p7 = d2i_PKCS7(NULL, &p, derlen);
                        if (!p7) {
                                ERR_clear_error();
                                continue;
                        }
                        r = pkcs7_take_certs(p7, certs);
                        if (r < 0 && r != -EBADMSG)
                                return r;
                }
                /* Anything else (keys, CSRs, ...) is skipped. */
        }

        return 0;
}

static int parse_der(const void *data, size_t len, STACK_OF(X509) *certs) {
        const unsigned char *p;
        int r;

        if (len > LONG_MAX)
                return -EFBIG;

        p = data;
        X509 *x = d2i_X509(NULL, &p, (long) len);
        if (x)
                return certs_push(certs, x);
        ERR_clear_error();

        p = data;
        _cleanup_(PKCS7_freep) PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long) len);
        if (!p7) {
                ERR_clear_error();
                return 0;
        }
        r = pkcs7_take_certs(p7, certs);
        if (r < 0 && r != -EBADMSG)
                return r;
        return 0;
}

static bool looks_like_pem(const void *data, size_t len) {
        static const char marker[] = "-----BEGIN ";
        return memmem(data, len, marker, strlen(marker)) != NULL;
}

static bool cert_is_ca(X509 *x) {
        /* Only an explicit basicConstraints CA:TRUE counts: a self-signed v1 leaf is a leaf. */
        return (X509_get_extension_flags(x) & EXFLAG_CA) != 0;
}

int pki_cert_parse(const void *data, size_t len, X509 **ret, STACK_OF(X509) **ret_chain) {
        return pki_cert_parse_cached(data, len, NULL, ret, ret_chain);
}

int pki_cert_parse_cached(const void *data, size_t len, PkiCertCache *cache, X509 **ret,
                          STACK_OF(X509) **ret_chain) {
        _cleanup_(pki_chain_freep) STACK_OF(X509) *certs = NULL;
        int leaf = 0, r;

        if (!ret || (!data && len > 0))
                return -EINVAL;
        if (len == 0)
                return -EBADMSG;

        certs = sk_X509_new_null();
        if (!certs)
                return -ENOMEM;

        if (looks_like_pem(data, len))
                r = parse_pem(data, len, cache, certs);
        else
                r = parse_der(data, len, certs);
        ERR_clear_error();
        if (r < 0)
                return r;
        if (sk_X509_num(certs) == 0)
                return -EBADMSG;

        /* The first certificate that is not a CA is the leaf (PKCS#7 sets are unordered); if all are
         * CAs, the first one. */
        for (int i = 0; i < sk_X509_num(certs); i++)
                if (!cert_is_ca(sk_X509_value(certs, i))) {
                        leaf = i;
                        break;
                }
        ERR_clear_error();

        X509 *x = sk_X509_delete(certs, leaf);

        if (ret_chain)
                *ret_chain = TAKE_PTR(certs);
        *ret = x;
        return 0;
}

int pki_cert_load(const char *path, X509 **ret) {
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r;

        if (!path || !ret)
                return -EINVAL;

        r = fs_read_file(path, PKI_CERT_FILE_MAX, &data, &len);
        if (r < 0)
                return r;

        return pki_cert_parse(data, len, ret, NULL);
}

/* ---- info ---- */

static int hex_colon(const unsigned char *d, size_t n, char **ret) {
        char *s;

        if (n == 0 || n > 4096)
                return -EBADMSG;
        s = malloc(n * 3);
        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                snprintf(s + 3 * i, 4, "%02X%s", d[i], i + 1 < n ? ":" : "");
        *ret = s;
        return 0;
}

static void hex_lower(const unsigned char *d, size_t n, char *out) {
        for (size_t i = 0; i < n; i++)
                snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static int asn1_time_to_unix(const ASN1_TIME *t, int64_t *ret) {
        struct tm tm = {};

        if (!t || !ASN1_TIME_to_tm(t, &tm)) {
                ERR_clear_error();
                return -EBADMSG;
        }
        *ret = (int64_t) timegm(&tm);
        return 0;
}

static int strv_add_unique(char ***l, const char *s, size_t len) {
        _cleanup_free_ char *c = NULL;

        if (!s || len == 0 || memchr(s, '\0', len))
                return 0; /* empty or embedded NUL: not representable, ignore */
        c = strndup(s, len);
        if (!c)
                return -ENOMEM;
        if (strv_contains(*l, c))
                return 0;
        return strv_consume(l, TAKE_PTR(c));
}

static int info_sans(X509 *cert, CertInfo *i) {
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *gens = NULL;
        _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *upn = NULL, *krb5 = NULL;
        int r;

        gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
        ERR_clear_error();
        if (!gens)
                return 0;

        upn = OBJ_txt2obj(PKI_OID_MS_UPN, 1);
        krb5 = OBJ_txt2obj(PKI_OID_KRB5_PRINCIPAL_NAME, 1);
        if (!upn || !krb5)
                return -ENOMEM;

        for (int k = 0; k < sk_GENERAL_NAME_num(gens); k++) {
                const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, k);

                switch (g->type) {
                case GEN_DNS:
                        r = strv_add_unique(&i->dns, (const char *) ASN1_STRING_get0_data(g->d.dNSName),
                                            (size_t) ASN1_STRING_length(g->d.dNSName));
                        break;
                case GEN_EMAIL:
                        r = strv_add_unique(&i->email, (const char *) ASN1_STRING_get0_data(g->d.rfc822Name),
                                            (size_t) ASN1_STRING_length(g->d.rfc822Name));
                        break;
                case GEN_IPADD: {
                        char buf[INET6_ADDRSTRLEN];
                        int n = ASN1_STRING_length(g->d.iPAddress);
                        const unsigned char *d = ASN1_STRING_get0_data(g->d.iPAddress);

                        if (!d || (n != 4 && n != 16) || !inet_ntop(n == 4 ? AF_INET : AF_INET6, d, buf, sizeof(buf))) {
                                r = 0;
                                break;
                        }
                        r = strv_add_unique(&i->ip, buf, strlen(buf));
                        break;
                }
                case GEN_OTHERNAME: {
                        const OTHERNAME *on = g->d.otherName;

                        r = 0;
                        if (!on || !on->type_id || !on->value)
                                break;
                        if (OBJ_cmp(on->type_id, upn) == 0 && on->value->type == V_ASN1_UTF8STRING)
                                r = strv_add_unique(&i->principal,
                                                    (const char *) ASN1_STRING_get0_data(on->value->value.utf8string),
                                                    (size_t) ASN1_STRING_length(on->value->value.utf8string));
                        else if (OBJ_cmp(on->type_id, krb5) == 0 && on->value->type == V_ASN1_SEQUENCE) {
                                _cleanup_free_ char *p = NULL;
                                const ASN1_STRING *seq = on->value->value.sequence;

                                if (pki_krb5_principal_from_der(ASN1_STRING_get0_data(seq),
                                                                (size_t) ASN1_STRING_length(seq), &p) >= 0)
                                        r = strv_add_unique(&i->principal, p, strlen(p));
                        }
                        break;
                }
                default:
                        r = 0;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

static int info_eku(X509 *cert, CertInfo *i) {
        _cleanup_(EXTENDED_KEY_USAGE_freep) EXTENDED_KEY_USAGE *eku = NULL;
        int r;

        eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
        ERR_clear_error();
        if (!eku)
                return 0;

        for (int k = 0; k < sk_ASN1_OBJECT_num(eku); k++) {
                char buf[128];
                _cleanup_free_ char *n = NULL;
                int l = OBJ_obj2txt(buf, sizeof(buf), sk_ASN1_OBJECT_value(eku, k), 1);

                if (l <= 0 || (size_t) l >= sizeof(buf)) {
                        ERR_clear_error();
                        continue;
                }
                r = eku_normalize(buf, &n);
                if (r == -EINVAL)
                        continue;
                if (r < 0)
                        return r;
                r = strv_add_unique(&i->eku, n, strlen(n));
                if (r < 0)
                        return r;
        }
        return 0;
}

static int info_template(X509 *cert, CertInfo *i) {
        _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *obj = NULL;
        _cleanup_(ASN1_STRING_freep) ASN1_STRING *s = NULL;
        _cleanup_(openssl_freep) unsigned char *u = NULL;
        const ASN1_OCTET_STRING *os;
        const unsigned char *p;
        int idx, n;

        obj = OBJ_txt2obj(PKI_OID_MS_TEMPLATE_NAME, 1);
        if (!obj)
                return -ENOMEM;

        idx = X509_get_ext_by_OBJ(cert, obj, -1);
        if (idx < 0)
                return 0;
        os = X509_EXTENSION_get_data(X509_get_ext(cert, idx));
        if (!os)
                return 0;

        p = ASN1_STRING_get0_data(os);
        s = d2i_DIRECTORYSTRING(NULL, &p, ASN1_STRING_length(os));
        if (!s) {
                ERR_clear_error();
                return 0;
        }

        n = ASN1_STRING_to_UTF8(&u, s);
        if (n <= 0 || !u) {
                ERR_clear_error();
                return 0;
        }
        if (memchr(u, '\0', (size_t) n))
                return 0;

        i->template_name = strndup((const char *) u, (size_t) n);
        return i->template_name ? 0 : -ENOMEM;
}

static int info_serial(X509 *cert, CertInfo *i) {
        _cleanup_(BN_freep) BIGNUM *bn = NULL;
        _cleanup_(openssl_freep) char *hex = NULL;
        const char *p;
        bool neg;

        bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
        if (!bn) {
                ERR_clear_error();
                return -EBADMSG;
        }
        hex = BN_bn2hex(bn);
        if (!hex)
                return -ENOMEM;

        p = hex;
        neg = *p == '-';
        if (neg)
                p++;
        while (p[0] == '0' && p[1] != '\0')
                p++;

        i->serial_hex = neg ? strjoin("-", p) : strdup(p);
        return i->serial_hex ? 0 : -ENOMEM;
}

int pki_cert_info(X509 *cert, CertInfo *ret) {
        _cleanup_(cert_info_done) CertInfo i = { .path_len = -1 };
        const ASN1_OCTET_STRING *kid;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        int r;

        if (!cert || !ret)
                return -EINVAL;

        /* Computes the cached extension flags; on a malformed extension EXFLAG_INVALID is set. */
        (void) X509_get_extension_flags(cert);
        ERR_clear_error();

        i.subject = pki_name_format(X509_get_subject_name(cert));
        i.issuer = pki_name_format(X509_get_issuer_name(cert));
        if (!i.subject || !i.issuer)
                return -ENOMEM;

        r = info_serial(cert, &i);
        if (r < 0)
                return r;

        r = asn1_time_to_unix(X509_get0_notBefore(cert), &i.not_before);
        if (r < 0)
                return r;
        r = asn1_time_to_unix(X509_get0_notAfter(cert), &i.not_after);
        if (r < 0)
                return r;

        r = info_sans(cert, &i);
        if (r < 0)
                return r;

        if (X509_get_extension_flags(cert) & EXFLAG_KUSAGE) {
                uint32_t ku = X509_get_key_usage(cert);

                i.has_key_usage = true;
                for (unsigned k = 0; k < ELEMENTSOF(openssl_ku_bits); k++)
                        if (ku & openssl_ku_bits[k])
                                i.key_usage |= 1U << k;
        }

        r = info_eku(cert, &i);
        if (r < 0)
                return r;

        {
                _cleanup_(BASIC_CONSTRAINTS_freep) BASIC_CONSTRAINTS *bc =
                        X509_get_ext_d2i(cert, NID_basic_constraints, NULL, NULL);
                ERR_clear_error();
                if (bc) {
                        i.is_ca = bc->ca != 0;
                        if (bc->pathlen) {
                                int64_t v;
                                if (ASN1_INTEGER_get_int64(&v, bc->pathlen) > 0 && v >= 0 && v <= INT_MAX)
                                        i.path_len = (int) v;
                                ERR_clear_error();
                        }
                }
        }

        r = info_template(cert, &i);
        if (r < 0)
                return r;

        kid = X509_get0_authority_key_id(cert);
        if (kid && ASN1_STRING_length(kid) > 0) {
                r = hex_colon(ASN1_STRING_get0_data(kid), (size_t) ASN1_STRING_length(kid), &i.aki_hex);
                if (r == -ENOMEM)
                        return r;
        }
        kid = X509_get0_subject_key_id(cert);
        if (kid && ASN1_STRING_length(kid) > 0) {
                r = hex_colon(ASN1_STRING_get0_data(kid), (size_t) ASN1_STRING_length(kid), &i.ski_hex);
                if (r == -ENOMEM)
                        return r;
        }

        if (!X509_digest(cert, pki_digest_sha1(), md, &mdlen) || mdlen != 20) {
                ERR_clear_error();
                return -EBADMSG;
        }
        hex_lower(md, mdlen, i.sha1);

        r = pki_cert_thumbprint_sha256(cert, i.sha256);
        if (r < 0)
                return r;

        ERR_clear_error();
        *ret = i;
        i = (CertInfo) {};
        return 0;
}

int pki_cert_key_match(X509 *cert, EVP_PKEY *key) {
        EVP_PKEY *pub;
        int r;

        if (!cert || !key)
                return -EINVAL;

        _cleanup_(EVP_PKEY_freep) EVP_PKEY *made = NULL;
        pub = X509_get0_pubkey(cert);
        if (!pub) {
                /* No cached key (e.g. made by pki_sign_csr_full(PKI_SIGN_CSR_TRUSTED)): from the SPKI. */
                ERR_clear_error();
                r = pki_key_from_x509_pubkey(X509_get_X509_PUBKEY(cert), &made);
                if (r < 0)
                        return r == -ENOMEM ? r : -EBADMSG;
                pub = made;
        }

        r = EVP_PKEY_eq(pub, key);
        ERR_clear_error();
        if (r == 1)
                return 1;
        if (r == 0 || r == -1) /* different key, or different key type */
                return 0;
        return -EOPNOTSUPP;
}

static int bio_take_string(BIO *b, char **ret, size_t *ret_len) {
        char *data = NULL;
        long len = BIO_get_mem_data(b, &data);

        if (len < 0 || (len > 0 && !data))
                return -EIO;
        char *s = malloc((size_t) len + 1);
        if (!s)
                return -ENOMEM;
        if (len > 0)
                memcpy(s, data, (size_t) len);
        s[len] = '\0';

        *ret = s;
        if (ret_len)
                *ret_len = (size_t) len;
        return 0;
}

int pki_cert_to_pem(X509 *cert, char **ret, size_t *ret_len) {
        _cleanup_(BIO_freep) BIO *b = NULL;

        if (!cert || !ret)
                return -EINVAL;

        b = BIO_new(BIO_s_mem());
        if (!b)
                return -ENOMEM;
        if (!PEM_write_bio_X509(b, cert)) {
                ERR_clear_error();
                return -EIO;
        }
        return bio_take_string(b, ret, ret_len);
}

int pki_chain_to_pem(STACK_OF(X509) *chain, char **ret, size_t *ret_len) {
        _cleanup_(BIO_freep) BIO *b = NULL;

        if (!ret)
                return -EINVAL;

        b = BIO_new(BIO_s_mem());
        if (!b)
                return -ENOMEM;
        for (int k = 0; k < sk_X509_num(chain); k++)
                if (!PEM_write_bio_X509(b, sk_X509_value(chain, k))) {
                        ERR_clear_error();
                        return -EIO;
                }
        return bio_take_string(b, ret, ret_len);
}

int pki_cert_thumbprint_sha256(X509 *cert, char ret[static 65]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;

        if (!cert)
                return -EINVAL;

        if (!X509_digest(cert, pki_digest_sha256(), md, &mdlen) || mdlen != 32) {
                ERR_clear_error();
                return -EBADMSG;
        }
        hex_lower(md, mdlen, ret);
        return 0;
}

int pki_pem_first_cert_sha256(const char *pem, size_t len, char ret[static 65]) {
        static const char begin[] = "-----BEGIN CERTIFICATE-----", end[] = "-----END CERTIFICATE-----";
        _cleanup_free_ unsigned char *b64 = NULL, *der = NULL;
        unsigned char md[32];
        const char *p, *q;
        size_t n = 0, pad = 0;
        int dlen;

        if (!pem)
                return -EINVAL;
        p = memmem(pem, len, begin, sizeof(begin) - 1);
        if (!p)
                return -EBADMSG;
        p += sizeof(begin) - 1;
        q = memmem(p, len - (size_t) (p - pem), end, sizeof(end) - 1);
        if (!q || q - p > 1024 * 1024)
                return -EBADMSG;
        b64 = malloc((size_t) (q - p) + 1);
        der = malloc((size_t) (q - p) + 1);
        if (!b64 || !der)
                return -ENOMEM;
        for (const char *c = p; c < q; c++) {
                if (*c == ' ' || *c == '\t' || *c == '\r' || *c == '\n')
                        continue;
                if (*c == ':' || *c == '-') /* headers (Proc-Type, ...): not a plain certificate block */
                        return -EBADMSG;
                b64[n++] = (unsigned char) *c;
        }
        if (n == 0 || n % 4 != 0)
                return -EBADMSG;
        pad = (b64[n - 1] == '=') + (b64[n - 2] == '=');
        dlen = EVP_DecodeBlock(der, b64, (int) n);
        if (dlen < 0 || (size_t) dlen < pad) {
                ERR_clear_error();
                return -EBADMSG;
        }
        if (!EVP_Digest(der, (size_t) dlen - pad, md, NULL, pki_digest_sha256(), NULL)) {
                ERR_clear_error();
                return -EIO;
        }
        hex_lower(md, sizeof(md), ret);
        return 0;
}
