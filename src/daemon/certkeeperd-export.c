/* SPDX-License-Identifier: MIT */
/* Export (event 1007): the certificate, its chain and optionally its key, as PEM or PKCS#12, handed
 * to the API's caller, who writes the file. The daemon never writes a path a caller chose: that
 * would let any API user overwrite any file as the daemon's user. */
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <string.h>

#include "certkeeperd-manager-private.h"
#include "fs-util.h"
#include "pki-cert.h"
#include "pki-export.h"
#include "pki-key.h"
#include "string-util.h"

#define CHAIN_FILE_MAX (1024U * 1024U)

static void openssl_freep(unsigned char **p) {
        OPENSSL_free(*p);
}

static int chain_load(const char *path, STACK_OF(X509) **ret, char **reterr) {
        _cleanup_(X509_freep) X509 *first = NULL;
        _cleanup_free_ char *data = NULL;
        STACK_OF(X509) *rest = NULL;
        size_t len;
        int r;

        r = fs_read_file(path, CHAIN_FILE_MAX, &data, &len);
        if (r < 0)
                return errorf(reterr, -EINVAL, "Cannot read the chain file '%s': %s.", path, strerror(-r));
        r = pki_cert_parse(data, len, &first, &rest);
        if (r < 0)
                return errorf(reterr, -EINVAL, "The chain file '%s' holds no certificate.", path);
        if (!rest) {
                rest = sk_X509_new_null();
                if (!rest)
                        return -ENOMEM;
        }
        /* The chain file's certificates in order: the first one too. */
        if (!sk_X509_insert(rest, first, 0)) {
                pki_chain_free(rest);
                return -ENOMEM;
        }
        TAKE_PTR(first);
        *ret = rest;
        return 0;
}

int manager_cert_export(Manager *m, int64_t id, const CertExport *e, json_t **ret, char **reterr) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_(pki_chain_freep) STACK_OF(X509) *chain = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_free_ char *data = NULL;
        _cleanup_(openssl_freep) unsigned char *der = NULL;
        json_auto_t *extra = NULL;
        char sha[65];
        size_t len = 0;
        bool pem;
        int k;

        if (!e || !e->format || !(streq(e->format, "pem") || streq(e->format, "pkcs12")))
                return errorf(reterr, -EINVAL, "Field 'format' is '%s'; use \"pem\" or \"pkcs12\".",
                              e && e->format ? e->format : "");
        pem = streq(e->format, "pem");
        if (!pem && isempty(e->password))
                return errorf(reterr, -EINVAL,
                              "A PKCS#12 file needs a password: give 'password' (certkeeper export --password-file).");
        if (isempty(e->path) || e->path[0] != '/')
                return errorf(reterr, -EINVAL, "Field 'path' must be the absolute path the file is written to.");

        k = store_cert_get(m->store, id, &r);
        if (k == -ENOENT)
                return errorf(reterr, k, "No request with id %" PRIi64 ".", id);
        if (k < 0)
                return k;
        if (!r->sha256 || !r->cert_path)
                return errorf(reterr, -ENODATA, "Request '%s' has no certificate yet; nothing to export.",
                              strna(r->nickname));

        k = pki_cert_load(r->cert_path, &cert);
        if (k < 0)
                return errorf(reterr, -EINVAL, "Cannot read the certificate file '%s': %s. Run 'certkeeper refresh -i %s'.",
                              r->cert_path, strerror(-k), strna(r->nickname));
        if (pki_cert_thumbprint_sha256(cert, sha) < 0)
                return -EIO;
        if (r->chain_path) {
                k = chain_load(r->chain_path, &chain, reterr);
                if (k < 0)
                        return k;
        }
        if (e->with_key) {
                if (!r->key_path)
                        return errorf(reterr, -EINVAL, "Request '%s' has no key file to export.", strna(r->nickname));
                k = pki_key_load(r->key_path, &key);
                if (k < 0)
                        return errorf(reterr, -EINVAL, "Cannot read the key file '%s': %s.", r->key_path,
                                      strerror(-k));
                if (pki_cert_key_match(cert, key) != 1)
                        return errorf(reterr, -EINVAL,
                                      "The key '%s' does not match the certificate '%s'; not exported. Run "
                                      "'certkeeper refresh -i %s'.", r->key_path, r->cert_path, strna(r->nickname));
        }

        if (pem)
                k = pki_export_pem(cert, chain, key, &data, &len);
        else {
                k = pki_export_pkcs12(cert, chain, key, e->password, r->nickname, &der, &len);
                if (k >= 0)
                        k = pki_base64_encode(der, len, &data);
        }
        if (k < 0)
                return errorf(reterr, k, "Failed to build the %s file: %s.", pem ? "PEM" : "PKCS#12", strerror(-k));

        extra = json_pack("{s:s, s:s, s:b}", "export_path", e->path, "export_format", e->format, "export_with_key",
                          e->with_key);
        k = manager_event(m, CERT_EVENT_EXPORTED, r, NULL, extra, "Certificate in file \"%s\" exported%s to '%s' (%s).",
                          r->cert_path, e->with_key ? " with its key" : "", e->path, pem ? "PEM" : "PKCS#12");
        if (k < 0)
                return k;

        *ret = json_pack("{s:I, s:s, s:s, s:s, s:s, s:b, s:s}", "cert_id", (json_int_t) r->id, "format", e->format,
                         "encoding", pem ? "pem" : "base64", "data", data, "sha256", sha, "with_key", e->with_key,
                         "path", e->path);
        if (data)
                explicit_bzero(data, strlen(data));
        return *ret ? 0 : -ENOMEM;
}
