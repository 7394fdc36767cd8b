/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "fs-util.h"
#include "pki-key.h"

#define PKI_KEY_FILE_MAX (1024U * 1024U)

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(OSSL_DECODER_CTX *, OSSL_DECODER_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_PUBKEY *, X509_PUBKEY_free);

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

int pki_key_generate(KeyType t, unsigned bits, EVP_PKEY **ret) {
        EVP_PKEY *k;
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
                k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", bits == 256 ? "P-256" : bits == 384 ? "P-384" : "P-521");
                break;
        case KEY_TYPE_ED25519:
                k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
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

        if (PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) <= 0) {
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
        unsigned mdlen = 0;
        int pklen = 0;

        if (!key)
                return -EINVAL;

        if (X509_PUBKEY_set(&xpk, key) <= 0 || X509_PUBKEY_get0_param(NULL, &pk, &pklen, NULL, xpk) <= 0 ||
            !pk || pklen <= 0) {
                ERR_clear_error();
                return -EINVAL;
        }

        if (EVP_Digest(pk, (size_t) pklen, ret, &mdlen, EVP_sha1(), NULL) <= 0 || mdlen != 20) {
                ERR_clear_error();
                return -EIO;
        }
        return 0;
}
