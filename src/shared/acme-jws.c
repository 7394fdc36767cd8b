/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>

#include "acme-jws.h"
#include "acme-parse.h"
#include "fs-util.h"
#include "pki-key.h"
#include "string-util.h"

#define EAB_KEY_MAX 512U

DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ECDSA_SIG *, ECDSA_SIG_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);

static void cleanse_freep(char **p) {
        if (*p) {
                OPENSSL_cleanse(*p, strlen(*p));
                free(*p);
        }
}

int acme_base64url_decode(const char *s, unsigned char **ret, size_t *ret_len) {
        _cleanup_free_ unsigned char *out = NULL;
        size_t n, o = 0;
        uint32_t acc = 0;
        unsigned bits = 0;

        if (!s || !ret)
                return -EINVAL;
        n = strlen(s);
        if (n % 4 == 1)
                return -EINVAL;
        out = malloc(n * 3 / 4 + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                unsigned v;

                if (c >= 'A' && c <= 'Z')
                        v = (unsigned) (c - 'A');
                else if (c >= 'a' && c <= 'z')
                        v = (unsigned) (c - 'a') + 26;
                else if (c >= '0' && c <= '9')
                        v = (unsigned) (c - '0') + 52;
                else if (c == '-')
                        v = 62;
                else if (c == '_')
                        v = 63;
                else
                        return -EINVAL;
                acc = (acc << 6) | v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[o++] = (unsigned char) (acc >> bits);
                        acc &= (1U << bits) - 1;
                }
        }
        /* The left-over bits must be zero in a canonical encoding. */
        if (acc != 0)
                return -EINVAL;
        out[o] = 0;
        *ret = TAKE_PTR(out);
        if (ret_len)
                *ret_len = o;
        return 0;
}

static bool key_usable(EVP_PKEY *key) {
        return acme_jws_alg(key) != NULL;
}

int acme_jws_key_load_or_create(const char *path, const char *type, EVP_PKEY **ret, bool *ret_created) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_(cleanse_freep) char *pem = NULL;
        KeyType t;
        size_t len = 0;
        int r;

        if (!path || !ret)
                return -EINVAL;

        r = pki_key_load(path, &k);
        if (r >= 0) {
                if (!key_usable(k))
                        return -EBADMSG;
                if (ret_created)
                        *ret_created = false;
                *ret = TAKE_PTR(k);
                return 0;
        }
        if (r != -ENOENT)
                return r;

        t = key_type_from_string(type ? type : "EC");
        if (t != KEY_TYPE_EC && t != KEY_TYPE_RSA)
                return -EINVAL;
        r = pki_key_generate(t, t == KEY_TYPE_EC ? 256 : 2048, &k);
        if (r < 0)
                return r;
        r = pki_key_to_pem(k, &pem, &len);
        if (r < 0)
                return r;
        /* O_EXCL: if another process created it meanwhile, use that one. */
        r = fs_create_exclusive(path, pem, len, &FILE_ATTRS(0600));
        if (r == -EEXIST) {
                EVP_PKEY_free(TAKE_PTR(k));
                r = pki_key_load(path, &k);
                if (r < 0)
                        return r;
                if (!key_usable(k))
                        return -EBADMSG;
                if (ret_created)
                        *ret_created = false;
                *ret = TAKE_PTR(k);
                return 0;
        }
        if (r < 0)
                return r;
        if (ret_created)
                *ret_created = true;
        *ret = TAKE_PTR(k);
        return 0;
}

const char *acme_jws_alg(EVP_PKEY *key) {
        if (!key)
                return NULL;
        switch (EVP_PKEY_get_base_id(key)) {
        case EVP_PKEY_EC:
                switch (EVP_PKEY_get_bits(key)) {
                case 256:
                        return "ES256";
                case 384:
                        return "ES384";
                default:
                        return NULL;
                }
        case EVP_PKEY_RSA:
                return EVP_PKEY_get_bits(key) >= 2048 ? "RS256" : NULL;
        default:
                return NULL;
        }
}

static int b64_bn(const BIGNUM *bn, size_t pad, char **ret) {
        _cleanup_free_ unsigned char *buf = NULL;
        size_t n = (size_t) BN_num_bytes(bn);

        if (pad > 0) {
                if (n > pad)
                        return -EINVAL;
                n = pad;
        }
        if (n == 0)
                return -EINVAL;
        buf = malloc(n);
        if (!buf)
                return -ENOMEM;
        if (BN_bn2binpad(bn, buf, (int) n) != (int) n)
                return -EIO;
        return base64url_encode(buf, n, ret);
}

static int set_string(json_t *o, const char *key, const char *value) {
        if (json_object_set_new(o, key, json_string(value)) < 0)
                return -ENOMEM;
        return 0;
}

int acme_jws_jwk(EVP_PKEY *key, json_t **ret) {
        json_auto_t *j = NULL;
        int r;

        if (!key || !ret)
                return -EINVAL;
        j = json_object();
        if (!j)
                return -ENOMEM;

        switch (EVP_PKEY_get_base_id(key)) {
        case EVP_PKEY_EC: {
                _cleanup_(BN_freep) BIGNUM *x = NULL, *y = NULL;
                _cleanup_free_ char *xs = NULL, *ys = NULL;
                int bits = EVP_PKEY_get_bits(key);
                size_t n = bits == 256 ? 32 : bits == 384 ? 48 : 0;

                if (n == 0)
                        return -EOPNOTSUPP;
                if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
                    !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y)) {
                        ERR_clear_error();
                        return -EIO;
                }
                r = b64_bn(x, n, &xs);
                if (r < 0)
                        return r;
                r = b64_bn(y, n, &ys);
                if (r < 0)
                        return r;
                if (set_string(j, "crv", bits == 256 ? "P-256" : "P-384") < 0 || set_string(j, "kty", "EC") < 0 ||
                    set_string(j, "x", xs) < 0 || set_string(j, "y", ys) < 0)
                        return -ENOMEM;
                break;
        }
        case EVP_PKEY_RSA: {
                _cleanup_(BN_freep) BIGNUM *n = NULL, *e = NULL;
                _cleanup_free_ char *ns = NULL, *es = NULL;

                if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) ||
                    !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e)) {
                        ERR_clear_error();
                        return -EIO;
                }
                r = b64_bn(e, 0, &es);
                if (r < 0)
                        return r;
                r = b64_bn(n, 0, &ns);
                if (r < 0)
                        return r;
                if (set_string(j, "e", es) < 0 || set_string(j, "kty", "RSA") < 0 || set_string(j, "n", ns) < 0)
                        return -ENOMEM;
                break;
        }
        default:
                return -EOPNOTSUPP;
        }
        *ret = TAKE_PTR(j);
        return 0;
}

int acme_jws_jwk_thumbprint(const json_t *jwk, char **ret) {
        static const char *const ec_members[] = { "crv", "kty", "x", "y" };
        static const char *const rsa_members[] = { "e", "kty", "n" };
        _cleanup_free_ char *text = NULL;
        json_auto_t *canon = NULL;
        const char *const *members;
        const char *kty;
        size_t n_members;
        unsigned char md[32];
        unsigned mdlen = 0;

        if (!jwk || !ret)
                return -EINVAL;
        kty = json_string_value(json_object_get(jwk, "kty"));
        if (!kty)
                return -EINVAL;
        if (streq(kty, "EC")) {
                members = ec_members;
                n_members = ELEMENTSOF(ec_members);
        } else if (streq(kty, "RSA")) {
                members = rsa_members;
                n_members = ELEMENTSOF(rsa_members);
        } else
                return -EOPNOTSUPP;

        canon = json_object();
        if (!canon)
                return -ENOMEM;
        for (size_t i = 0; i < n_members; i++) {
                json_t *v = json_object_get(jwk, members[i]);
                if (!json_is_string(v))
                        return -EINVAL;
                if (json_object_set(canon, members[i], v) < 0)
                        return -ENOMEM;
        }
        /* RFC 7638: members in lexicographic order, no whitespace; the values are base64url and names,
         * so no escaping differences can arise. */
        text = json_dumps(canon, JSON_COMPACT | JSON_SORT_KEYS);
        if (!text)
                return -ENOMEM;
        if (EVP_Digest(text, strlen(text), md, &mdlen, pki_digest_sha256(), NULL) <= 0 || mdlen != 32) {
                ERR_clear_error();
                return -EIO;
        }
        return base64url_encode(md, mdlen, ret);
}

int acme_jws_thumbprint(EVP_PKEY *key, char **ret) {
        json_auto_t *jwk = NULL;
        int r;

        r = acme_jws_jwk(key, &jwk);
        if (r < 0)
                return r;
        return acme_jws_jwk_thumbprint(jwk, ret);
}

int acme_jws_key_authorization(const char *token, const char *thumbprint, char **ret) {
        char *s;

        if (!acme_token_is_valid(token) || !base64url_is_valid(thumbprint) || !ret)
                return -EINVAL;
        s = strjoin(token, ".", thumbprint);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int acme_jws_dns01_value(const char *key_authorization, char **ret) {
        unsigned char md[32];
        unsigned mdlen = 0;

        if (!key_authorization || !ret)
                return -EINVAL;
        if (EVP_Digest(key_authorization, strlen(key_authorization), md, &mdlen, pki_digest_sha256(), NULL) <= 0 ||
            mdlen != 32) {
                ERR_clear_error();
                return -EIO;
        }
        return base64url_encode(md, mdlen, ret);
}

int acme_jws_ecdsa_der_to_raw(const unsigned char *der, size_t der_len, size_t n, unsigned char *ret) {
        _cleanup_(ECDSA_SIG_freep) ECDSA_SIG *sig = NULL;
        const unsigned char *p = der;
        const BIGNUM *r = NULL, *s = NULL;

        if (!der || !ret || n == 0 || der_len > 1024)
                return -EINVAL;
        sig = d2i_ECDSA_SIG(NULL, &p, (long) der_len);
        if (!sig || p != der + der_len) {
                ERR_clear_error();
                return -EBADMSG;
        }
        ECDSA_SIG_get0(sig, &r, &s);
        if (BN_num_bytes(r) > (int) n || BN_num_bytes(s) > (int) n)
                return -EBADMSG;
        if (BN_bn2binpad(r, ret, (int) n) != (int) n || BN_bn2binpad(s, ret + n, (int) n) != (int) n)
                return -EBADMSG;
        return 0;
}

/* Signs "protected.payload" with the key; the signature in JWS form, base64url. */
static int sign_input(EVP_PKEY *key, const char *input, char **ret) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = NULL;
        _cleanup_free_ unsigned char *sig = NULL;
        const EVP_MD *md;
        size_t siglen = 0;
        bool ec;

        ec = EVP_PKEY_get_base_id(key) == EVP_PKEY_EC;
        md = ec && EVP_PKEY_get_bits(key) == 384 ? EVP_sha384() : pki_digest_sha256();
        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (EVP_DigestSignInit(ctx, NULL, md, NULL, key) <= 0 ||
            EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *) input, strlen(input)) <= 0) {
                ERR_clear_error();
                return -EIO;
        }
        sig = malloc(siglen);
        if (!sig)
                return -ENOMEM;
        if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *) input, strlen(input)) <= 0) {
                ERR_clear_error();
                return -EIO;
        }
        if (ec) {
                size_t n = EVP_PKEY_get_bits(key) == 384 ? 48 : 32;
                unsigned char raw[96];
                int r = acme_jws_ecdsa_der_to_raw(sig, siglen, n, raw);
                if (r < 0)
                        return r;
                return base64url_encode(raw, 2 * n, ret);
        }
        return base64url_encode(sig, siglen, ret);
}

static int jws_object(const char *protected_b64, const char *payload_b64, const char *sig_b64, json_t **ret) {
        json_auto_t *o = json_object();

        if (!o)
                return -ENOMEM;
        if (set_string(o, "protected", protected_b64) < 0 || set_string(o, "payload", payload_b64) < 0 ||
            set_string(o, "signature", sig_b64) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

static int encode_json(json_t *j, char **ret) {
        _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT);

        if (!text)
                return -ENOMEM;
        return base64url_encode(text, strlen(text), ret);
}

int acme_jws_sign_object(EVP_PKEY *key, const char *kid, const char *nonce, const char *url, const char *payload,
                         json_t **ret) {
        _cleanup_free_ char *prot64 = NULL, *pay64 = NULL, *input = NULL, *sig64 = NULL;
        json_auto_t *prot = NULL;
        const char *alg;
        int r;

        if (!key || !url || !ret)
                return -EINVAL;
        alg = acme_jws_alg(key);
        if (!alg)
                return -EOPNOTSUPP;

        prot = json_object();
        if (!prot)
                return -ENOMEM;
        if (set_string(prot, "alg", alg) < 0)
                return -ENOMEM;
        if (kid) {
                if (set_string(prot, "kid", kid) < 0)
                        return -ENOMEM;
        } else {
                json_t *jwk = NULL;
                r = acme_jws_jwk(key, &jwk);
                if (r < 0)
                        return r;
                if (json_object_set_new(prot, "jwk", jwk) < 0)
                        return -ENOMEM;
        }
        if (nonce && set_string(prot, "nonce", nonce) < 0)
                return -ENOMEM;
        if (set_string(prot, "url", url) < 0)
                return -ENOMEM;

        r = encode_json(prot, &prot64);
        if (r < 0)
                return r;
        if (payload) {
                r = base64url_encode(payload, strlen(payload), &pay64);
                if (r < 0)
                        return r;
        } else {
                pay64 = strdup("");
                if (!pay64)
                        return -ENOMEM;
        }
        input = strjoin(prot64, ".", pay64);
        if (!input)
                return -ENOMEM;
        r = sign_input(key, input, &sig64);
        if (r < 0)
                return r;
        return jws_object(prot64, pay64, sig64, ret);
}

int acme_jws_sign(EVP_PKEY *key, const char *kid, const char *nonce, const char *url, const char *payload,
                  char **ret) {
        json_auto_t *o = NULL;
        char *text;
        int r;

        if (!ret)
                return -EINVAL;
        r = acme_jws_sign_object(key, kid, nonce, url, payload, &o);
        if (r < 0)
                return r;
        text = json_dumps(o, JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        *ret = text;
        return 0;
}

int acme_jws_eab(const char *alg, const char *kid, const char *hmac_key_b64url, EVP_PKEY *account_key,
                 const char *url, json_t **ret) {
        _cleanup_free_ char *prot64 = NULL, *pay64 = NULL, *input = NULL, *sig64 = NULL;
        _cleanup_free_ unsigned char *mac_key = NULL;
        json_auto_t *prot = NULL, *jwk = NULL;
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned maclen = 0;
        size_t keylen = 0;
        const EVP_MD *md;
        int r;

        if (!kid || !hmac_key_b64url || !account_key || !url || !ret)
                return -EINVAL;
        if (!alg || strcasecmp(alg, "HS256") == 0)
                alg = "HS256", md = EVP_sha256();
        else if (strcasecmp(alg, "HS384") == 0)
                alg = "HS384", md = EVP_sha384();
        else if (strcasecmp(alg, "HS512") == 0)
                alg = "HS512", md = EVP_sha512();
        else
                return -EINVAL;
        if (isempty(kid) || strlen(kid) > 1024 || strlen(hmac_key_b64url) > EAB_KEY_MAX)
                return -EINVAL;
        r = acme_base64url_decode(hmac_key_b64url, &mac_key, &keylen);
        if (r < 0)
                return r;
        if (keylen == 0) {
                OPENSSL_cleanse(mac_key, keylen);
                return -EINVAL;
        }

        prot = json_object();
        if (!prot)
                r = -ENOMEM;
        else if (set_string(prot, "alg", alg) < 0 || set_string(prot, "kid", kid) < 0 ||
                 set_string(prot, "url", url) < 0)
                r = -ENOMEM;
        if (r >= 0)
                r = encode_json(prot, &prot64);
        if (r >= 0)
                r = acme_jws_jwk(account_key, &jwk);
        if (r >= 0)
                r = encode_json(jwk, &pay64);
        if (r >= 0) {
                input = strjoin(prot64, ".", pay64);
                if (!input)
                        r = -ENOMEM;
        }
        if (r >= 0 && !HMAC(md, mac_key, (int) keylen, (const unsigned char *) input, strlen(input), mac, &maclen)) {
                ERR_clear_error();
                r = -EIO;
        }
        OPENSSL_cleanse(mac_key, keylen);
        if (r < 0)
                return r;
        r = base64url_encode(mac, maclen, &sig64);
        OPENSSL_cleanse(mac, sizeof(mac));
        if (r < 0)
                return r;
        return jws_object(prot64, pay64, sig64, ret);
}

int acme_jws_key_change(EVP_PKEY *new_key, EVP_PKEY *old_key, const char *account_url, const char *url,
                        json_t **ret) {
        _cleanup_free_ char *payload = NULL;
        json_auto_t *p = NULL;
        json_t *old_jwk = NULL;
        int r;

        if (!new_key || !old_key || !account_url || !url || !ret)
                return -EINVAL;
        p = json_object();
        if (!p)
                return -ENOMEM;
        if (set_string(p, "account", account_url) < 0)
                return -ENOMEM;
        r = acme_jws_jwk(old_key, &old_jwk);
        if (r < 0)
                return r;
        if (json_object_set_new(p, "oldKey", old_jwk) < 0)
                return -ENOMEM;
        payload = json_dumps(p, JSON_COMPACT);
        if (!payload)
                return -ENOMEM;
        return acme_jws_sign_object(new_key, NULL, NULL, url, payload, ret);
}
