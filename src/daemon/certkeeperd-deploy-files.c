/* SPDX-License-Identifier: MIT */
/* The files a binding writes at each deploy (docs/BINDINGS.md): haproxy's combined PEM, and the
 * file kind's layouts. They are made from the request's own files as they are now, so that after a
 * rollback the same call writes the previous pair again. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "certkeeperd-jobs-private.h"
#include "dynbuf.h"
#include "pki-cert.h"
#include "pki-export.h"
#include "pki-key.h"
#include "string-util.h"

#define PEM_MAX (1024 * 1024)

/* Appends a PEM file, with a new line after it if it lacks one. A missing optional file adds
 * nothing. */
static int append_pem(DynBuf *b, const char *what, const char *path, bool optional, char **reterr) {
        _cleanup_free_ char *data = NULL;
        size_t len = 0;
        int r;

        if (isempty(path)) {
                if (optional)
                        return 0;
                return asprintf(reterr, "the request has no %s file to write from", what) < 0 ? -ENOMEM : -ENOENT;
        }
        r = fs_read_file(path, PEM_MAX, &data, &len);
        if (r == -ENOENT && optional)
                return 0;
        if (r < 0)
                return asprintf(reterr, "cannot read the %s '%s': %s", what, path, strerror(-r)) < 0 ? -ENOMEM : r;
        r = dynbuf_append(b, data, len);
        if (r >= 0 && len > 0 && data[len - 1] != '\n')
                r = dynbuf_append(b, "\n", 1);
        explicit_bzero(data, len);
        return r;
}

/* Whether the layout holds the private key (its default mode is then 0600). */
static bool layout_has_key(const char *layout) {
        return streq_ptr(layout, "key") || streq_ptr(layout, "combined") || streq_ptr(layout, "pkcs12");
}

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);

static void x509_stack_freep(STACK_OF(X509) **s) {
        if (*s)
                sk_X509_pop_free(*s, X509_free);
}

/* The binding's password: the first line of its password file, read now, so that a file changed
 * since the binding was added is used. *ret stays NULL without a password file (the empty
 * password). */
static int pkcs12_password(json_t *binding, char **ret, char **reterr) {
        const char *path = jstr(binding, "password_file");
        int r;

        if (!path)
                return 0;
        r = fs_read_password_file(path, ret);
        if (r == -ENODATA)
                return asprintf(reterr, "the password file '%s' has an empty first line: write the password on it",
                                path) < 0 ? -ENOMEM : r;
        if (r < 0)
                return asprintf(reterr, "cannot read the password file '%s': %s", path, strerror(-r)) < 0 ? -ENOMEM
                                                                                                            : r;
        return 0;
}

/* PKCS#12: the key, the certificate and the chain file's certificates, protected by the binding's
 * password (or the empty password). */
static int render_pkcs12(json_t *job, json_t *binding, DynBuf *b, char **reterr) {
        const char *key_path = jstr(job, "key_path"), *cert_path = jstr(job, "cert_path");
        const char *chain_path = jstr(job, "chain_path");
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_(x509_stack_freep) STACK_OF(X509) *chain = sk_X509_new_null();
        _cleanup_free_ char *pem = NULL, *chain_pem = NULL;
        _cleanup_(erase_freep) char *password = NULL;
        unsigned char *der = NULL;
        size_t len = 0, clen = 0, der_len = 0;
        int r;

        if (!chain)
                return -ENOMEM;
        if (isempty(key_path) || isempty(cert_path))
                return asprintf(reterr, "the request has no key or certificate file to write from") < 0 ? -ENOMEM
                                                                                                          : -ENOENT;
        r = pkcs12_password(binding, &password, reterr);
        if (r < 0)
                return r;
        r = pki_key_load(key_path, &key);
        if (r < 0)
                return asprintf(reterr, "cannot read the key '%s': %s", key_path, strerror(-r)) < 0 ? -ENOMEM : r;
        r = fs_read_file(cert_path, PEM_MAX, &pem, &len);
        if (r >= 0)
                r = pki_cert_parse(pem, len, &cert, NULL);
        if (r < 0)
                return asprintf(reterr, "cannot read the certificate '%s': %s", cert_path, strerror(-r)) < 0
                               ? -ENOMEM : r;
        if (!isempty(chain_path) && fs_read_file(chain_path, PEM_MAX, &chain_pem, &clen) >= 0) {
                _cleanup_(BIO_freep) BIO *bio = BIO_new_mem_buf(chain_pem, (int) clen);
                X509 *x;

                if (!bio)
                        return -ENOMEM;
                while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
                        if (!sk_X509_push(chain, x)) {
                                X509_free(x);
                                return -ENOMEM;
                        }
                ERR_clear_error();
        }
        r = pki_export_pkcs12(cert, chain, key, password, strempty(jstr(job, "nickname")), &der, &der_len);
        ERR_clear_error();
        if (r < 0)
                return asprintf(reterr, "cannot make the PKCS#12 file of '%s'", cert_path) < 0 ? -ENOMEM : r;
        r = dynbuf_append(b, der, der_len);
        OPENSSL_clear_free(der, der_len);
        return r;
}

static int render(json_t *job, json_t *binding, const char *layout, DynBuf *b, char **reterr) {
        const char *cert = jstr(job, "cert_path"), *key = jstr(job, "key_path"), *chain = jstr(job, "chain_path");
        int r = 0;

        if (streq(layout, "pkcs12"))
                return render_pkcs12(job, binding, b, reterr);
        if (layout_has_key(layout))
                r = append_pem(b, "key", key, false, reterr);
        if (r >= 0 && !streq(layout, "key") && !streq(layout, "chain"))
                r = append_pem(b, "certificate", cert, false, reterr);
        if (r >= 0 && (streq(layout, "chain") || streq(layout, "fullchain") || streq(layout, "combined")))
                r = append_pem(b, "chain", chain, true, reterr);
        return r;
}

int deploy_file_write(json_t *job, json_t *binding, char **reterr) {
        const char *path = jstr(binding, "path"), *layout = jstr(binding, "layout") ?: "fullchain";
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(4 * PEM_MAX);
        _cleanup_free_ char *old = NULL, *prev = NULL, *err = NULL;
        size_t old_len = 0;
        FileAttrs attrs;
        int r;

        if (isempty(path))
                return 0;
        r = attrs_from_job(binding, "owner", "mode", layout_has_key(layout) ? 0600 : 0644, &attrs, &err);
        if (r < 0)
                return asprintf(reterr, "%s", strna(err)) < 0 ? -ENOMEM : r;
        r = render(job, binding, layout, &b, reterr);
        if (r < 0)
                return r;

        /* The version replaced is kept as PATH.prev (same owner and mode); a file that already
         * holds what would be written (a deploy run again) is left alone, and so is its .prev. */
        r = fs_read_file(path, PEM_MAX, &old, &old_len);
        if (r < 0 && r != -ENOENT)
                return asprintf(reterr, "cannot read '%s': %s", path, strerror(-r)) < 0 ? -ENOMEM : r;
        if (r >= 0 && old_len == b.len && memcmp(old, b.data, old_len) == 0) {
                explicit_bzero(old, old_len);
                return 0;
        }
        if (r >= 0) {
                prev = strjoin(path, ".prev");
                if (!prev)
                        return -ENOMEM;
                r = fs_write_atomic(prev, old, old_len, &attrs);
                explicit_bzero(old, old_len);
                if (r < 0)
                        return asprintf(reterr, "cannot keep the previous '%s' as '%s': %s", path, prev,
                                        strerror(-r)) < 0 ? -ENOMEM : r;
        }
        r = fs_write_atomic(path, b.data, b.len, &attrs);
        if (r < 0)
                return asprintf(reterr, "cannot write '%s': %s", path, strerror(-r)) < 0 ? -ENOMEM : r;
        return 0;
}
