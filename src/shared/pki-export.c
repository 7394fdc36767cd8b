/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <stdlib.h>
#include <string.h>

#include "pki-cert.h"
#include "pki-export.h"
#include "pki-key.h"
#include "string-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(PKCS12 *, PKCS12_free);

int pki_export_pem(X509 *cert, STACK_OF(X509) *chain, EVP_PKEY *key, char **ret, size_t *ret_len) {
        _cleanup_free_ char *c = NULL, *ch = NULL, *k = NULL;
        size_t cl = 0, chl = 0, kl = 0;
        char *out;
        int r;

        if (!cert || !ret)
                return -EINVAL;
        r = pki_cert_to_pem(cert, &c, &cl);
        if (r >= 0 && chain && sk_X509_num(chain) > 0)
                r = pki_chain_to_pem(chain, &ch, &chl);
        if (r >= 0 && key)
                r = pki_key_to_pem(key, &k, &kl);
        if (r < 0)
                return r;

        out = malloc(cl + chl + kl + 1);
        if (!out) {
                if (k)
                        explicit_bzero(k, kl);
                return -ENOMEM;
        }
        memcpy(out, c, cl);
        if (ch)
                memcpy(out + cl, ch, chl);
        if (k) {
                memcpy(out + cl + chl, k, kl);
                explicit_bzero(k, kl);
        }
        out[cl + chl + kl] = '\0';
        *ret = out;
        if (ret_len)
                *ret_len = cl + chl + kl;
        return 0;
}

int pki_export_pkcs12(X509 *cert, STACK_OF(X509) *chain, EVP_PKEY *key, const char *password, const char *name,
                      unsigned char **ret, size_t *ret_len) {
        _cleanup_(PKCS12_freep) PKCS12 *p12 = NULL;
        unsigned char *der = NULL;
        int n;

        if (!cert || !ret || !ret_len || (password && isempty(password)))
                return -EINVAL;
        /* 0 for the algorithms, iterations and MAC: OpenSSL's defaults (AES-256-CBC, PBKDF2,
         * SHA-256 MAC in OpenSSL 3). No password: the same, with the empty password. */
        p12 = PKCS12_create(password ?: "", name, key, cert, chain, 0, 0, 0, 0, 0);
        if (!p12)
                return -EIO;
        n = i2d_PKCS12(p12, &der);
        if (n <= 0)
                return -EIO;
        *ret = der; /* OPENSSL_malloc'd: free with OPENSSL_free() */
        *ret_len = (size_t) n;
        return 0;
}

int pki_base64_encode(const void *data, size_t len, char **ret) {
        size_t n = 4 * ((len + 2) / 3);
        char *s;

        if (len > (size_t) INT32_MAX / 2)
                return -E2BIG;
        s = malloc(n + 1);
        if (!s)
                return -ENOMEM;
        if (EVP_EncodeBlock((unsigned char *) s, data, (int) len) != (int) n) {
                free(s);
                return -EIO;
        }
        s[n] = '\0';
        *ret = s;
        return 0;
}

int pki_base64_decode(const char *s, unsigned char **ret, size_t *ret_len) {
        size_t len = s ? strlen(s) : 0, pad = 0;
        unsigned char *out;
        int n;

        if (!s || len % 4 != 0 || len > (size_t) INT32_MAX)
                return -EBADMSG;
        out = malloc(len / 4 * 3 + 1);
        if (!out)
                return -ENOMEM;
        n = EVP_DecodeBlock(out, (const unsigned char *) s, (int) len);
        if (n < 0) {
                free(out);
                return -EBADMSG;
        }
        /* EVP_DecodeBlock() counts the padding as zero bytes. */
        while (pad < 2 && len > pad && s[len - 1 - pad] == '=')
                pad++;
        *ret = out;
        *ret_len = (size_t) n - pad;
        return 0;
}
