/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "pki-cert.h"
#include "pki-csr.h"
#include "pki-key.h"
#include "pki-sign.h"
#include "string-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_INTEGER *, ASN1_INTEGER_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OBJECT *, ASN1_OBJECT_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(AUTHORITY_KEYID *, AUTHORITY_KEYID_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_EXTENSION *, X509_EXTENSION_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OCTET_STRING *, ASN1_OCTET_STRING_free);

static void extension_stack_free(STACK_OF(X509_EXTENSION) *s) {
        sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(STACK_OF(X509_EXTENSION) *, extension_stack_free);

static int add_ext(X509 *x, X509_EXTENSION *ext_owned) {
        _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = ext_owned;

        if (!ext || !X509_add_ext(x, ext, -1)) {
                ERR_clear_error();
                return -ENOMEM;
        }
        return 0;
}

static int not_after_of(X509 *x, int64_t *ret) {
        struct tm tm = {};

        if (!ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm)) {
                ERR_clear_error();
                return -EBADMSG;
        }
        *ret = (int64_t) timegm(&tm);
        return 0;
}

static int random_serial(X509 *x) {
        _cleanup_(BN_freep) BIGNUM *bn = NULL;
        _cleanup_(ASN1_INTEGER_freep) ASN1_INTEGER *serial = NULL;
        unsigned char b[16];

        if (RAND_bytes(b, sizeof(b)) <= 0) {
                ERR_clear_error();
                return -EIO;
        }
        b[0] &= 0x7f; /* positive */
        if (b[0] == 0)
                b[0] = 0x40; /* and exactly 16 bytes long */

        bn = BN_bin2bn(b, sizeof(b), NULL);
        if (!bn)
                return -ENOMEM;
        serial = BN_to_ASN1_INTEGER(bn, NULL);
        if (!serial || !X509_set_serialNumber(x, serial)) {
                ERR_clear_error();
                return -ENOMEM;
        }
        return 0;
}

static int set_time(ASN1_TIME *t, int64_t v) {
        if (v < 0 || (int64_t) (time_t) v != v || !ASN1_TIME_set(t, (time_t) v)) {
                ERR_clear_error();
                return -ERANGE;
        }
        return 0;
}

/* Copies a SubjectPublicKeyInfo field by field: no EVP_PKEY, so no encoder or decoder. */
static int spki_copy(const X509_PUBKEY *from, X509_PUBKEY *to) {
        ASN1_OBJECT *obj = NULL;
        const unsigned char *pk = NULL;
        X509_ALGOR *salg = NULL, *dalg = NULL;
        unsigned char *copy;
        int pklen = 0;

        if (!X509_PUBKEY_get0_param(&obj, &pk, &pklen, &salg, from) || !obj || !salg || !pk || pklen <= 0 ||
            !X509_PUBKEY_get0_param(NULL, NULL, NULL, &dalg, to) || !dalg) {
                ERR_clear_error();
                return -EBADMSG;
        }
        copy = OPENSSL_memdup(pk, (size_t) pklen);
        if (!copy)
                return -ENOMEM;
        if (!X509_PUBKEY_set0_param(to, OBJ_dup(obj), V_ASN1_UNDEF, NULL, copy, pklen)) {
                OPENSSL_free(copy);
                ERR_clear_error();
                return -ENOMEM;
        }
        if (!X509_ALGOR_copy(dalg, salg)) {
                ERR_clear_error();
                return -ENOMEM;
        }
        return 0;
}

int pki_sign_cert_new(const X509_NAME *subject, const X509_NAME *issuer_name, EVP_PKEY *pub, const X509_PUBKEY *spki,
                      int64_t not_before, int64_t not_after, X509 **ret) {
        _cleanup_(X509_freep) X509 *x = NULL;
        int r;

        x = X509_new();
        if (!x)
                return -ENOMEM;

        if (!X509_set_version(x, 2) || !X509_set_subject_name(x, subject) || !X509_set_issuer_name(x, issuer_name) ||
            (pub && !X509_set_pubkey(x, pub))) {
                ERR_clear_error();
                return -ENOMEM;
        }
        if (!pub) {
                r = spki_copy(spki, X509_get_X509_PUBKEY(x));
                if (r < 0)
                        return r;
        }

        r = random_serial(x);
        if (r < 0)
                return r;
        r = set_time(X509_getm_notBefore(x), not_before);
        if (r < 0)
                return r;
        r = set_time(X509_getm_notAfter(x), not_after);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(x);
        return 0;
}

/* SKI from the certificate's own public key, AKI from the issuer's SKI (or its key), or our own for
 * self-signed. */
static int add_key_ids(X509 *x, X509 *issuer) {
        _cleanup_(AUTHORITY_KEYID_freep) AUTHORITY_KEYID *akid = NULL;
        _cleanup_(ASN1_OCTET_STRING_freep) ASN1_OCTET_STRING *os = NULL;
        const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(x);
        unsigned char ski[20], id[20];
        int r;

        if (!bits || ASN1_STRING_length(bits) <= 0)
                return -EBADMSG;
        r = pki_key_id_from_bits(ASN1_STRING_get0_data(bits), (size_t) ASN1_STRING_length(bits), ski);
        if (r < 0)
                return r;
        os = ASN1_OCTET_STRING_new();
        if (!os || !ASN1_OCTET_STRING_set(os, ski, sizeof(ski)))
                return -ENOMEM;
        r = add_ext(x, X509V3_EXT_i2d(NID_subject_key_identifier, 0, os));
        if (r < 0)
                return r;

        akid = AUTHORITY_KEYID_new();
        if (!akid)
                return -ENOMEM;
        akid->keyid = ASN1_OCTET_STRING_new();
        if (!akid->keyid)
                return -ENOMEM;

        const ASN1_OCTET_STRING *iski = issuer ? X509_get0_subject_key_id(issuer) : NULL;
        if (iski && ASN1_STRING_length(iski) > 0) {
                if (!ASN1_OCTET_STRING_set(akid->keyid, ASN1_STRING_get0_data(iski), ASN1_STRING_length(iski)))
                        return -ENOMEM;
        } else if (issuer) {
                EVP_PKEY *ikey = X509_get0_pubkey(issuer);
                if (!ikey)
                        return -EBADMSG;
                r = pki_key_id(ikey, id);
                if (r < 0)
                        return r;
                if (!ASN1_OCTET_STRING_set(akid->keyid, id, sizeof(id)))
                        return -ENOMEM;
        } else if (!ASN1_OCTET_STRING_set(akid->keyid, ski, sizeof(ski)))
                return -ENOMEM;

        return add_ext(x, X509V3_EXT_i2d(NID_authority_key_identifier, 0, akid));
}

/* Checks issuer/issuer_key and computes the effective notAfter. */
static int check_issuer(EVP_PKEY *subject_key, X509 *issuer, EVP_PKEY *issuer_key, int64_t not_before,
                        int64_t *not_after, char **reterr) {
        int r;

        if (!issuer_key)
                return errorf(reterr, -EINVAL, "No signing key was given.");

        if (issuer) {
                EVP_PKEY *ipub = X509_get0_pubkey(issuer);
                if (!ipub || EVP_PKEY_eq(ipub, issuer_key) != 1) {
                        ERR_clear_error();
                        return errorf(reterr, -EINVAL, "The issuer's key does not belong to the issuer's certificate.");
                }

                int64_t ina;
                r = not_after_of(issuer, &ina);
                if (r < 0)
                        return errorf(reterr, r, "The issuer's certificate has an unreadable expiry time.");
                if (*not_after > ina)
                        *not_after = ina;
        } else if (EVP_PKEY_eq(subject_key, issuer_key) != 1) {
                ERR_clear_error();
                return errorf(reterr, -EINVAL, "A self-signed certificate must be signed with its own key.");
        }

        if (*not_after <= not_before)
                return errorf(reterr, -EKEYEXPIRED,
                              "The validity period is empty: the issuer expires before the certificate would start.");
        return 0;
}

static bool ext_is_copied(X509_EXTENSION *ext, const ASN1_OBJECT *template_obj) {
        const ASN1_OBJECT *obj = X509_EXTENSION_get_object(ext);

        switch (OBJ_obj2nid(obj)) {
        case NID_subject_alt_name:
        case NID_key_usage:
        case NID_ext_key_usage:
        case NID_basic_constraints:
                return true;
        default:
                return OBJ_cmp(obj, template_obj) == 0;
        }
}

static int sign_cert(X509 *x, EVP_PKEY *key, char **reterr) {
        if (X509_sign(x, key, pki_key_digest(key)) <= 0) {
                ERR_clear_error();
                return errorf(reterr, -EIO, "Signing the certificate failed.");
        }
        return 0;
}

int pki_sign_csr(X509_REQ *csr, X509 *issuer, EVP_PKEY *issuer_key, int64_t not_before, int64_t not_after,
                 X509 **ret, char **reterr) {
        return pki_sign_csr_full(csr, issuer, issuer_key, not_before, not_after, 0, ret, reterr);
}

int pki_sign_csr_full(X509_REQ *csr, X509 *issuer, EVP_PKEY *issuer_key, int64_t not_before, int64_t not_after,
                      PkiSignFlags flags, X509 **ret, char **reterr) {
        _cleanup_(extension_stack_freep) STACK_OF(X509_EXTENSION) *exts = NULL;
        _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *template_obj = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *made = NULL;
        bool trusted = flags & PKI_SIGN_CSR_TRUSTED;
        const X509_PUBKEY *spki;
        EVP_PKEY *cached, *pub;
        int r;

        if (!csr || !ret)
                return -EINVAL;

        /* A request made by pki_csr_build() may hold no cached EVP_PKEY: then the key is made from
         * its SubjectPublicKeyInfo, and only when needed (to verify, or to compare for self-signing). */
        spki = X509_REQ_get_X509_PUBKEY(csr);
        cached = X509_REQ_get0_pubkey(csr);
        ERR_clear_error();
        pub = cached;
        if (!pub && (!trusted || !issuer)) {
                r = spki ? pki_key_from_x509_pubkey(spki, &made) : -EBADMSG;
                if (r == -ENOMEM)
                        return r;
                pub = made;
        }
        if (!pub && (!trusted || !issuer || !spki))
                return errorf(reterr, -EBADMSG, "The request has no usable public key.");
        if (!trusted && X509_REQ_verify(csr, pub) <= 0) {
                ERR_clear_error();
                return errorf(reterr, -EBADMSG,
                              "The request's signature does not verify: it was altered, or not signed with its own key.");
        }

        r = check_issuer(pub, issuer, issuer_key, not_before, &not_after, reterr);
        if (r < 0)
                return r;

        const X509_NAME *subject = X509_REQ_get_subject_name(csr);
        /* Trusted: the key is copied as it is in the request, and the certificate then holds no
         * cached EVP_PKEY unless the request did. Otherwise as always, through the EVP_PKEY. */
        r = pki_sign_cert_new(subject, issuer ? X509_get_subject_name(issuer) : subject, trusted ? cached : pub,
                              spki, not_before, not_after, &x);
        if (r < 0)
                return errorf(reterr, r, "Could not set up the certificate (validity out of range?).");

        template_obj = OBJ_txt2obj(PKI_OID_MS_TEMPLATE_NAME, 1);
        if (!template_obj)
                return -ENOMEM;

        exts = X509_REQ_get_extensions(csr);
        ERR_clear_error();
        for (int i = 0; i < sk_X509_EXTENSION_num(exts); i++) {
                X509_EXTENSION *ext = sk_X509_EXTENSION_value(exts, i);

                if (!ext_is_copied(ext, template_obj))
                        continue;
                if (X509_get_ext_by_OBJ(x, X509_EXTENSION_get_object(ext), -1) >= 0)
                        continue; /* requested twice: the first one wins */
                if (!X509_add_ext(x, ext, -1)) {
                        ERR_clear_error();
                        return -ENOMEM;
                }
        }

        r = add_key_ids(x, issuer);
        if (r < 0)
                return r;

        r = sign_cert(x, issuer_key, reterr);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(x);
        return 0;
}

int pki_make_ca_cert(EVP_PKEY *key, const char *subject, X509 *issuer, EVP_PKEY *issuer_key, int path_len,
                     int64_t not_before, int64_t not_after, X509 **ret) {
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        X509_EXTENSION *ext;
        int r;

        if (!key || !subject || !ret)
                return -EINVAL;
        if (!issuer && !issuer_key)
                issuer_key = key;

        r = pki_name_parse(subject, &name, NULL);
        if (r < 0)
                return r;

        r = check_issuer(key, issuer, issuer_key, not_before, &not_after, NULL);
        if (r < 0)
                return r;

        r = pki_sign_cert_new(name, issuer ? X509_get_subject_name(issuer) : name, key, NULL, not_before, not_after,
                              &x);
        if (r < 0)
                return r;

        r = pki_ext_basic_constraints(true, path_len, &ext);
        if (r < 0)
                return r;
        r = add_ext(x, ext);
        if (r < 0)
                return r;

        r = pki_ext_key_usage(KU_KEY_CERT_SIGN | KU_CRL_SIGN, &ext);
        if (r < 0)
                return r;
        r = add_ext(x, ext);
        if (r < 0)
                return r;

        r = add_key_ids(x, issuer);
        if (r < 0)
                return r;

        r = sign_cert(x, issuer_key, NULL);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(x);
        return 0;
}
