/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fs-util.h"
#include "pki-key.h"

#define PKI_KEY_FILE_MAX (1024U * 1024U)

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_DECODER_CTX *, OSSL_DECODER_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_PUBKEY *, X509_PUBKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(PKCS8_PRIV_KEY_INFO *, PKCS8_PRIV_KEY_INFO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_clear_free);

static void openssl_freep(void *p) {
        OPENSSL_free(*(void **) p);
}

/* OpenSSL 3.0 builds an encoder or decoder context, a walk over every algorithm of every provider,
 * each time it converts between an EVP_PKEY and DER (X509_PUBKEY_set, PEM_write_bio_PrivateKey,
 * OSSL_DECODER_*), and fetches the algorithm again for each EVP_PKEY_Q_keygen. That costs far more
 * than the cryptography. The fast paths below cover EC keys on the named curves we generate (and
 * Ed25519 public keys) with plain ASN.1 and key parameters, produce the same bytes as the generic
 * paths, and fall back to those for anything else. Their cached contexts are per thread. */

static const struct {
        unsigned bits;
        int nid;
        const char *group; /* OSSL_PKEY_PARAM_GROUP_NAME */
} ec_curves[] = {
        { 256, NID_X9_62_prime256v1, "prime256v1" },
        { 384, NID_secp384r1, "secp384r1" },
        { 521, NID_secp521r1, "secp521r1" },
};

static int ec_curve_by_nid(int nid) {
        for (size_t i = 0; i < ELEMENTSOF(ec_curves); i++)
                if (ec_curves[i].nid == nid)
                        return (int) i;
        return -1;
}

/* The index into ec_curves[] of an EC key on one of our curves, or -1. */
static int ec_curve_of(EVP_PKEY *key) {
        char group[64];
        size_t len = 0;

        if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC)
                return -1;
        if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len)) {
                ERR_clear_error();
                return -1;
        }
        return ec_curve_by_nid(OBJ_txt2nid(group));
}

/* The subjectPublicKey BIT STRING content of an EC (named curve) or Ed25519 key, in *buf (at least
 * 160 bytes). Returns the length, 0 if the key is of another kind. */
static size_t raw_public_key(EVP_PKEY *key, int *ret_nid, int *ret_curve_nid, unsigned char *buf, size_t size) {
        size_t len = 0;
        int c = -1;

        switch (EVP_PKEY_get_base_id(key)) {
        case EVP_PKEY_EC:
                c = ec_curve_of(key);
                if (c < 0)
                        return 0;
                break;
        case EVP_PKEY_ED25519:
                break;
        default:
                return 0;
        }
        if (!EVP_PKEY_get_octet_string_param(key, c >= 0 ? OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY : OSSL_PKEY_PARAM_PUB_KEY,
                                             buf, size, &len) ||
            len == 0) {
                ERR_clear_error();
                return 0;
        }
        *ret_nid = c >= 0 ? NID_X9_62_id_ecPublicKey : NID_ED25519;
        *ret_curve_nid = c >= 0 ? ec_curves[c].nid : NID_undef;
        return len;
}

int pki_key_set_x509_pubkey(EVP_PKEY *key, X509_PUBKEY *spki) {
        unsigned char buf[256], *copy;
        int nid, curve_nid;
        size_t len;

        if (!key || !spki)
                return -EINVAL;

        len = raw_public_key(key, &nid, &curve_nid, buf, sizeof(buf));
        if (len == 0)
                return -EOPNOTSUPP;

        copy = OPENSSL_memdup(buf, len);
        if (!copy)
                return -ENOMEM;
        if (!X509_PUBKEY_set0_param(spki, OBJ_nid2obj(nid), curve_nid != NID_undef ? V_ASN1_OBJECT : V_ASN1_UNDEF,
                                    curve_nid != NID_undef ? OBJ_nid2obj(curve_nid) : NULL, copy, (int) len)) {
                OPENSSL_free(copy);
                ERR_clear_error();
                return -ENOMEM;
        }
        return 0;
}

const EVP_MD *pki_digest_sha1(void) {
        static _Thread_local EVP_MD *md = NULL;

        if (!md) {
                md = EVP_MD_fetch(NULL, "SHA1", NULL);
                if (!md) {
                        ERR_clear_error();
                        return EVP_sha1();
                }
        }
        return md;
}

const EVP_MD *pki_digest_sha256(void) {
        static _Thread_local EVP_MD *md = NULL;

        if (!md) {
                md = EVP_MD_fetch(NULL, "SHA256", NULL);
                if (!md) {
                        ERR_clear_error();
                        return EVP_sha256();
                }
        }
        return md;
}

/* A key from parameters, through a context made once per thread and key type. */
static int key_from_params(bool ec, int selection, OSSL_PARAM *params, EVP_PKEY **ret) {
        static _Thread_local EVP_PKEY_CTX *ctx_ec = NULL, *ctx_ed25519 = NULL;
        EVP_PKEY_CTX **c = ec ? &ctx_ec : &ctx_ed25519;
        EVP_PKEY *k = NULL;

        if (!*c) {
                *c = EVP_PKEY_CTX_new_from_name(NULL, ec ? "EC" : "ED25519", NULL);
                if (!*c || EVP_PKEY_fromdata_init(*c) <= 0) {
                        EVP_PKEY_CTX_free(*c);
                        *c = NULL;
                        ERR_clear_error();
                        return -ENOMEM;
                }
        }
        if (EVP_PKEY_fromdata(*c, &k, selection, params) <= 0 || !k) {
                EVP_PKEY_free(k);
                ERR_clear_error();
                return -EBADMSG;
        }
        *ret = k;
        return 0;
}

int pki_key_from_x509_pubkey(const X509_PUBKEY *spki, EVP_PKEY **ret) {
        ASN1_OBJECT *obj = NULL;
        const unsigned char *pk = NULL;
        X509_ALGOR *alg = NULL;
        const ASN1_OBJECT *pobj = NULL;
        const void *pval = NULL;
        int pklen = 0, ptype = V_ASN1_UNDEF, nid, c = -1;

        if (!spki || !ret)
                return -EINVAL;

        if (X509_PUBKEY_get0_param(&obj, &pk, &pklen, &alg, spki) <= 0 || !obj || !pk || pklen <= 0) {
                ERR_clear_error();
                return -EBADMSG;
        }
        X509_ALGOR_get0(&pobj, &ptype, &pval, alg);
        nid = OBJ_obj2nid(obj);
        if (nid == NID_X9_62_id_ecPublicKey && ptype == V_ASN1_OBJECT)
                c = ec_curve_by_nid(OBJ_obj2nid(pval));

        if (c >= 0 || (nid == NID_ED25519 && ptype == V_ASN1_UNDEF)) {
                OSSL_PARAM params[] = {
                        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *) pk, (size_t) pklen),
                        OSSL_PARAM_END,
                        OSSL_PARAM_END,
                };
                if (c >= 0)
                        params[1] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                                     (char *) ec_curves[c].group, 0);
                return key_from_params(c >= 0, EVP_PKEY_PUBLIC_KEY, params, ret);
        }

        /* Anything else through the decoder. */
        _cleanup_(openssl_freep) unsigned char *der = NULL;
        const unsigned char *q;
        EVP_PKEY *k;
        int n = i2d_X509_PUBKEY(spki, &der);

        if (n <= 0) {
                ERR_clear_error();
                return -EBADMSG;
        }
        q = der;
        k = d2i_PUBKEY(NULL, &q, n);
        if (!k) {
                ERR_clear_error();
                return -EBADMSG;
        }
        *ret = k;
        return 0;
}

/* ---- a minimal DER reader and writer for ECPrivateKey (RFC 5915) ---- */

/* Reads one element with the given tag; only definite, minimal lengths up to 65535. */
static bool der_read(const unsigned char **p, const unsigned char *end, unsigned char tag,
                     const unsigned char **ret, size_t *ret_len) {
        const unsigned char *q = *p;
        size_t len;

        if (end - q < 2 || q[0] != tag)
                return false;
        q++;
        if (*q < 0x80)
                len = *q++;
        else if (*q == 0x81) {
                if (end - q < 2 || q[1] < 0x80)
                        return false;
                len = q[1];
                q += 2;
        } else if (*q == 0x82) {
                if (end - q < 3 || q[1] == 0)
                        return false;
                len = (size_t) q[1] << 8 | q[2];
                q += 3;
        } else
                return false;
        if ((size_t) (end - q) < len)
                return false;
        *ret = q;
        *ret_len = len;
        *p = q + len;
        return true;
}

static size_t der_header(unsigned char *out, unsigned char tag, size_t len) {
        out[0] = tag;
        if (len < 0x80) {
                out[1] = (unsigned char) len;
                return 2;
        }
        if (len < 0x100) {
                out[1] = 0x81;
                out[2] = (unsigned char) len;
                return 3;
        }
        out[1] = 0x82;
        out[2] = (unsigned char) (len >> 8);
        out[3] = (unsigned char) len;
        return 4;
}

static size_t der_header_len(size_t len) {
        return len < 0x80 ? 2 : len < 0x100 ? 3 : 4;
}

/* PKCS#8 of an EC key on one of our curves, as OpenSSL's encoder writes it: the curve in the
 * AlgorithmIdentifier, an ECPrivateKey with the scalar padded to the order's size and the public
 * key, without parameters. -EOPNOTSUPP for any other key. */
static int ec_key_to_pkcs8(EVP_PKEY *key, PKCS8_PRIV_KEY_INFO **ret) {
        _cleanup_(PKCS8_PRIV_KEY_INFO_freep) PKCS8_PRIV_KEY_INFO *p8 = NULL;
        _cleanup_(BN_clear_freep) BIGNUM *priv = NULL;
        unsigned char pub[160], *der, *w;
        size_t plen, flen, bitlen, ctxlen, octlen, seqlen, total;
        int nid, curve_nid, c;

        c = ec_curve_of(key);
        if (c < 0)
                return -EOPNOTSUPP;
        plen = raw_public_key(key, &nid, &curve_nid, pub, sizeof(pub));
        if (plen == 0)
                return -EOPNOTSUPP;
        if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &priv) || !priv) {
                ERR_clear_error();
                return -EOPNOTSUPP;
        }
        flen = (ec_curves[c].bits + 7) / 8;
        if ((size_t) BN_num_bytes(priv) > flen)
                return -EOPNOTSUPP;

        bitlen = der_header_len(plen + 1) + plen + 1;           /* BIT STRING */
        ctxlen = der_header_len(bitlen) + bitlen;               /* [1] */
        octlen = der_header_len(flen) + flen;                   /* OCTET STRING */
        seqlen = 3 + octlen + ctxlen;                           /* INTEGER 1, ... */
        total = der_header_len(seqlen) + seqlen;

        der = OPENSSL_malloc(total);
        if (!der)
                return -ENOMEM;
        w = der;
        w += der_header(w, 0x30, seqlen);
        *w++ = 0x02, *w++ = 0x01, *w++ = 0x01;
        w += der_header(w, 0x04, flen);
        if (BN_bn2binpad(priv, w, (int) flen) != (int) flen) {
                OPENSSL_clear_free(der, total);
                return -EOPNOTSUPP;
        }
        w += flen;
        w += der_header(w, 0xa1, bitlen);
        w += der_header(w, 0x03, plen + 1);
        *w++ = 0x00;
        memcpy(w, pub, plen);

        p8 = PKCS8_PRIV_KEY_INFO_new();
        if (!p8 || !PKCS8_pkey_set0(p8, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), 0, V_ASN1_OBJECT,
                                    OBJ_nid2obj(curve_nid), der, (int) total)) {
                OPENSSL_clear_free(der, total);
                ERR_clear_error();
                return -ENOMEM;
        }
        *ret = TAKE_PTR(p8);
        return 0;
}

/* An EC private key in a PKCS#8 PEM ("PRIVATE KEY", unencrypted) on one of our curves, with its
 * public key: read without the decoder. -EOPNOTSUPP for anything else, to be left to it. */
static int ec_key_from_pkcs8_pem(const void *data, size_t len, EVP_PKEY **ret) {
        static const char begin[] = "-----BEGIN ";
        _cleanup_(BIO_freep) BIO *b = NULL;
        _cleanup_(PKCS8_PRIV_KEY_INFO_freep) PKCS8_PRIV_KEY_INFO *p8 = NULL;
        _cleanup_(openssl_freep) char *name = NULL, *header = NULL;
        unsigned char *der = NULL;
        long derlen = 0;
        const unsigned char *q, *end, *seq, *ver, *priv, *ctx, *bits, *pk;
        const X509_ALGOR *alg = NULL;
        const ASN1_OBJECT *obj = NULL, *aobj = NULL;
        const void *pval = NULL;
        size_t seqlen, verlen, privlen, ctxlen, bitslen;
        int pklen = 0, ptype = V_ASN1_UNDEF, c, r = -EOPNOTSUPP;
        const char *first;

        if (len > INT_MAX)
                return -EOPNOTSUPP;
        first = memmem(data, len, begin, strlen(begin));
        if (!first || memmem(first + 1, len - (size_t) (first + 1 - (const char *) data), begin, strlen(begin)))
                return -EOPNOTSUPP;

        b = BIO_new_mem_buf(data, (int) len);
        if (!b)
                return -ENOMEM;
        if (!PEM_read_bio(b, &name, &header, &der, &derlen)) {
                ERR_clear_error();
                return -EOPNOTSUPP;
        }
        if (!streq(name, PEM_STRING_PKCS8INF) || !isempty(header) || derlen <= 0)
                goto finish;

        q = der;
        p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &q, derlen);
        if (!p8 || q != der + derlen) {
                ERR_clear_error();
                goto finish;
        }
        if (!PKCS8_pkey_get0(&aobj, &pk, &pklen, &alg, p8) || OBJ_obj2nid(aobj) != NID_X9_62_id_ecPublicKey ||
            pklen <= 0)
                goto finish;
        X509_ALGOR_get0(&obj, &ptype, &pval, alg);
        if (ptype != V_ASN1_OBJECT)
                goto finish;
        c = ec_curve_by_nid(OBJ_obj2nid(pval));
        if (c < 0)
                goto finish;

        /* ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, [0] params OPTIONAL,
         *                             [1] publicKey BIT STRING OPTIONAL } */
        q = pk;
        end = pk + pklen;
        if (!der_read(&q, end, 0x30, &seq, &seqlen) || q != end)
                goto finish;
        q = seq;
        end = seq + seqlen;
        if (!der_read(&q, end, 0x02, &ver, &verlen) || verlen != 1 || ver[0] != 1)
                goto finish;
        if (!der_read(&q, end, 0x04, &priv, &privlen) || privlen != (ec_curves[c].bits + 7) / 8)
                goto finish;
        if (!der_read(&q, end, 0xa1, &ctx, &ctxlen) || q != end)
                goto finish;
        q = ctx;
        if (!der_read(&q, ctx + ctxlen, 0x03, &bits, &bitslen) || q != ctx + ctxlen || bitslen < 2 ||
            bits[0] != 0)
                goto finish;

        {
                /* OSSL_PARAM integers are native-endian. */
                unsigned char le[80];
                OSSL_PARAM params[] = {
                        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *) ec_curves[c].group, 0),
                        OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, le, privlen),
                        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *) (bits + 1), bitslen - 1),
                        OSSL_PARAM_END,
                };
                const unsigned int one = 1;
                bool little = *(const unsigned char *) &one == 1;

                for (size_t i = 0; i < privlen; i++)
                        le[i] = little ? priv[privlen - 1 - i] : priv[i];
                r = key_from_params(true, EVP_PKEY_KEYPAIR, params, ret);
                OPENSSL_cleanse(le, sizeof(le));
                if (r == -EBADMSG)
                        r = -EOPNOTSUPP; /* let the decoder have its say */
        }

finish:
        OPENSSL_clear_free(der, (size_t) MAX(derlen, 0L));
        return r;
}

static const char *const key_type_table[_KEY_TYPE_MAX] = {
        [KEY_TYPE_RSA] = "RSA",
        [KEY_TYPE_EC] = "EC",
        [KEY_TYPE_ED25519] = "ED25519",
};

const char *key_type_to_string(KeyType t) {
        if (t < 0 || t >= _KEY_TYPE_MAX)
                return NULL;
        return key_type_table[t];
}

KeyType key_type_from_string(const char *s) {
        if (!s)
                return _KEY_TYPE_INVALID;
        for (KeyType t = 0; t < _KEY_TYPE_MAX; t++)
                if (strcasecmp(s, key_type_table[t]) == 0)
                        return t;
        if (strcasecmp(s, "ECDSA") == 0)
                return KEY_TYPE_EC;
        return _KEY_TYPE_INVALID;
}

static int errorf(char **reterr, const char *fmt, ...) _printf_(2, 3);
static int errorf(char **reterr, const char *fmt, ...) {
        va_list ap;
        char *m = NULL;

        if (!reterr)
                return 0;
        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        free(*reterr);
        *reterr = m;
        return 0;
}

int pki_key_params_check(KeyType t, unsigned bits, unsigned *ret_bits, char **reterr) {
        switch (t) {
        case KEY_TYPE_RSA:
                if (bits == 0)
                        bits = 2048;
                if (bits < 2048 || bits > 8192) {
                        errorf(reterr, "RSA key size %u is out of range: use 2048 to 8192 bits.", bits);
                        return -EINVAL;
                }
                break;
        case KEY_TYPE_EC:
                if (bits == 0)
                        bits = 256;
                if (bits != 256 && bits != 384 && bits != 521) {
                        errorf(reterr, "EC key size %u is not supported: use 256, 384 or 521 (P-256, P-384, P-521).",
                               bits);
                        return -EINVAL;
                }
                break;
        case KEY_TYPE_ED25519:
                /* Fixed size; any given value is ignored. */
                bits = 0;
                break;
        default:
                errorf(reterr, "Unknown key type: use RSA, EC or ED25519.");
                return -EINVAL;
        }

        if (ret_bits)
                *ret_bits = bits;
        return 0;
}

/* One context per thread and key type: fetching the algorithm again for every key is slower than
 * making the key. */
static EVP_PKEY_CTX *keygen_ctx(KeyType t, unsigned bits) {
        static _Thread_local EVP_PKEY_CTX *ctx[ELEMENTSOF(ec_curves) + 1] = {};
        size_t i;

        if (t == KEY_TYPE_ED25519)
                i = ELEMENTSOF(ec_curves);
        else {
                for (i = 0; i < ELEMENTSOF(ec_curves); i++)
                        if (ec_curves[i].bits == bits)
                                break;
                if (i >= ELEMENTSOF(ec_curves))
                        return NULL;
        }
        if (ctx[i])
                return ctx[i];

        ctx[i] = EVP_PKEY_CTX_new_from_name(NULL, t == KEY_TYPE_ED25519 ? "ED25519" : "EC", NULL);
        if (!ctx[i] || EVP_PKEY_keygen_init(ctx[i]) <= 0 ||
            (t == KEY_TYPE_EC && EVP_PKEY_CTX_set_group_name(ctx[i], ec_curves[i].group) <= 0)) {
                EVP_PKEY_CTX_free(ctx[i]);
                ctx[i] = NULL;
                ERR_clear_error();
        }
        return ctx[i];
}

int pki_key_generate(KeyType t, unsigned bits, EVP_PKEY **ret) {
        EVP_PKEY *k = NULL;
        EVP_PKEY_CTX *ctx;
        int r;

        if (!ret)
                return -EINVAL;

        r = pki_key_params_check(t, bits, &bits, NULL);
        if (r < 0)
                return r;

        switch (t) {
        case KEY_TYPE_RSA:
                k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) bits);
                break;
        case KEY_TYPE_EC:
        case KEY_TYPE_ED25519:
                ctx = keygen_ctx(t, bits);
                if (!ctx)
                        return -ENOMEM;
                if (EVP_PKEY_generate(ctx, &k) <= 0) {
                        EVP_PKEY_free(k);
                        k = NULL;
                }
                break;
        default:
                return -EINVAL;
        }
        if (!k) {
                ERR_clear_error();
                return -EIO;
        }

        *ret = k;
        return 0;
}

/* Copies a memory BIO's content into a NUL-terminated malloc'd string. */
static int bio_to_string(BIO *b, char **ret, size_t *ret_len) {
        char *data = NULL;
        long n;

        n = BIO_get_mem_data(b, &data);
        if (n < 0 || !data)
                return -EIO;

        char *s = malloc((size_t) n + 1);
        if (!s)
                return -ENOMEM;
        memcpy(s, data, (size_t) n);
        s[n] = '\0';

        *ret = s;
        if (ret_len)
                *ret_len = (size_t) n;
        return 0;
}

int pki_key_to_pem(EVP_PKEY *key, char **ret, size_t *ret_len) {
        _cleanup_(BIO_freep) BIO *b = NULL;

        if (!key || !ret)
                return -EINVAL;

        /* Secure memory BIO: the buffer holding the private key is cleared when freed. */
        b = BIO_new(BIO_s_secmem());
        if (!b)
                return -ENOMEM;

        _cleanup_(PKCS8_PRIV_KEY_INFO_freep) PKCS8_PRIV_KEY_INFO *p8 = NULL;
        int r = ec_key_to_pkcs8(key, &p8);
        if (r == -ENOMEM)
                return r;
        if (r >= 0) {
                if (PEM_write_bio_PKCS8_PRIV_KEY_INFO(b, p8) <= 0) {
                        ERR_clear_error();
                        return -EIO;
                }
        } else if (PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) <= 0) {
                ERR_clear_error();
                return -EIO;
        }

        return bio_to_string(b, ret, ret_len);
}

int pki_key_from_data(const void *data, size_t len, EVP_PKEY **ret) {
        _cleanup_(OSSL_DECODER_CTX_freep) OSSL_DECODER_CTX *dctx = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        const unsigned char *p = data;
        size_t left = len;

        if (!data || !ret)
                return -EINVAL;
        if (len == 0)
                return -EBADMSG;

        int r = ec_key_from_pkcs8_pem(data, len, ret);
        if (r != -EOPNOTSUPP)
                return r;

        /* Input type NULL: PEM (PKCS#8 or traditional) and DER alike. Private keys only. */
        dctx = OSSL_DECODER_CTX_new_for_pkey(&k, NULL, NULL, NULL, OSSL_KEYMGMT_SELECT_PRIVATE_KEY, NULL, NULL);
        if (!dctx)
                return -ENOMEM;

        if (OSSL_DECODER_from_data(dctx, &p, &left) <= 0 || !k) {
                ERR_clear_error();
                return -EBADMSG;
        }

        /* Only the key types we support. */
        int id = EVP_PKEY_get_base_id(k);
        if (id != EVP_PKEY_RSA && id != EVP_PKEY_EC && id != EVP_PKEY_ED25519)
                return -EBADMSG;

        ERR_clear_error();
        *ret = TAKE_PTR(k);
        return 0;
}

int pki_key_load(const char *path, EVP_PKEY **ret) {
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r;

        if (!path || !ret)
                return -EINVAL;

        r = fs_read_file(path, PKI_KEY_FILE_MAX, &data, &len);
        if (r < 0)
                return r;

        r = pki_key_from_data(data, len, ret);
        OPENSSL_cleanse(data, len);
        return r;
}

int pki_key_info(EVP_PKEY *key, KeyType *ret_type, unsigned *ret_bits) {
        KeyType t;
        unsigned bits;

        if (!key)
                return -EINVAL;

        switch (EVP_PKEY_get_base_id(key)) {
        case EVP_PKEY_RSA:
                t = KEY_TYPE_RSA;
                bits = (unsigned) EVP_PKEY_get_bits(key);
                break;
        case EVP_PKEY_EC:
                t = KEY_TYPE_EC;
                bits = (unsigned) EVP_PKEY_get_bits(key);
                break;
        case EVP_PKEY_ED25519:
                t = KEY_TYPE_ED25519;
                bits = 0; /* as pki_key_params_check() reports it */
                break;
        default:
                return -EOPNOTSUPP;
        }

        if (ret_type)
                *ret_type = t;
        if (ret_bits)
                *ret_bits = bits;
        return 0;
}

int pki_key_spki_sha256(EVP_PKEY *key, char ret[static 65]) {
        _cleanup_free_ unsigned char *der = NULL;
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned mdlen = 0;
        int n;

        if (!key)
                return -EINVAL;

        n = i2d_PUBKEY(key, NULL);
        if (n <= 0) {
                ERR_clear_error();
                return -EINVAL;
        }
        der = malloc((size_t) n);
        if (!der)
                return -ENOMEM;
        unsigned char *p = der;
        if (i2d_PUBKEY(key, &p) != n)
                return -EIO;

        if (EVP_Digest(der, (size_t) n, md, &mdlen, EVP_sha256(), NULL) <= 0 || mdlen != 32) {
                ERR_clear_error();
                return -EIO;
        }

        for (unsigned i = 0; i < mdlen; i++)
                snprintf(ret + 2 * i, 3, "%02x", md[i]);
        return 0;
}

const EVP_MD *pki_key_digest(EVP_PKEY *key) {
        if (!key)
                return NULL;

        switch (EVP_PKEY_get_base_id(key)) {
        case EVP_PKEY_ED25519:
        case EVP_PKEY_ED448:
                return NULL;
        case EVP_PKEY_EC: {
                int bits = EVP_PKEY_get_bits(key);
                if (bits > 384)
                        return EVP_sha512();
                if (bits > 256)
                        return EVP_sha384();
                return EVP_sha256();
        }
        default:
                return EVP_sha256();
        }
}

int pki_key_id(EVP_PKEY *key, unsigned char ret[static 20]) {
        _cleanup_(X509_PUBKEY_freep) X509_PUBKEY *xpk = NULL;
        const unsigned char *pk = NULL;
        unsigned char raw[256];
        unsigned mdlen = 0;
        int pklen = 0, nid, curve_nid;
        size_t rawlen;

        if (!key)
                return -EINVAL;

        rawlen = raw_public_key(key, &nid, &curve_nid, raw, sizeof(raw));
        if (rawlen > 0)
                return pki_key_id_from_bits(raw, rawlen, ret);

        if (X509_PUBKEY_set(&xpk, key) <= 0 || X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, xpk) <= 0 ||
            !pk || pklen <= 0) {
                ERR_clear_error();
                return -EINVAL;
        }

        if (EVP_Digest(pk, (size_t) pklen, ret, &mdlen, pki_digest_sha1(), NULL) <= 0 || mdlen != 20) {
                ERR_clear_error();
                return -EIO;
        }
        return 0;
}

int pki_key_id_from_bits(const unsigned char *bits, size_t len, unsigned char ret[static 20]) {
        unsigned mdlen = 0;

        if (!bits || len == 0)
                return -EINVAL;
        if (EVP_Digest(bits, len, ret, &mdlen, pki_digest_sha1(), NULL) <= 0 || mdlen != 20) {
                ERR_clear_error();
                return -EIO;
        }
        return 0;
}
