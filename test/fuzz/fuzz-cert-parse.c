/* SPDX-License-Identifier: MIT */
/* Feeds arbitrary bytes to pki_pem_first_cert_sha256() and pki_cert_parse() and, on success, pki_cert_info() on the leaf and on every
 * chain certificate, then the PEM writers. Nothing may crash, leak or read out of bounds. */
#include <stddef.h>
#include <stdint.h>

#include <openssl/err.h>

#include "pki-cert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(X509_freep) X509 *leaf = NULL;
        _cleanup_(pki_chain_freep) STACK_OF(X509) *chain = NULL;

        if (size > 1024 * 1024)
                return 0;

        /* The file watch's cheap check on the same bytes: no crash, no read out of bounds. */
        char fast[65];
        (void) pki_pem_first_cert_sha256((const char *) data, size, fast);

        if (pki_cert_parse(data, size, &leaf, &chain) < 0)
                return 0;

        CertInfo info = {};
        if (pki_cert_info(leaf, &info) >= 0)
                cert_info_done(&info);

        for (int i = 0; i < sk_X509_num(chain); i++) {
                CertInfo ci = {};
                if (pki_cert_info(sk_X509_value(chain, i), &ci) >= 0)
                        cert_info_done(&ci);
        }

        char *pem = NULL;
        size_t len = 0;
        if (pki_cert_to_pem(leaf, &pem, &len) >= 0)
                free(pem);
        pem = NULL;
        if (pki_chain_to_pem(chain, &pem, &len) >= 0)
                free(pem);

        ERR_clear_error();
        return 0;
}
