/* SPDX-License-Identifier: MIT */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>

#include "macro.h"
#include "pki-sign.h"

/* certkeeper's local CA (INTERNAL:LOCAL): a persistent root and an issuing (intermediate) CA under
 * one directory:
 *   root-key.pem (0600)  root-cert.pem   issuing-key.pem (0600)  issuing-cert.pem
 *   roots.pem            every root still trusted (current, and the previous until it expires):
 *                        the file to hand to trust stores
 *   archive/             previous versions
 * The issuing CA is renewed (new key, signed by the root) when less than 1/3 of its lifetime is left.
 * The root is renewed when less than 1/3 of its lifetime is left: the new root is added to
 * roots.pem beside the old one, so certificates issued under the old root keep verifying until they
 * expire. Certificates issued never outlive the issuing CA. */

typedef struct LocalCAConfig {
        int64_t root_lifetime;    /* seconds; default 10 years */
        int64_t issuing_lifetime; /* seconds; default 1 year */
        const char *subject_suffix; /* appended to the CA subjects, e.g. "O=certkeeper,CN=<hostname>" */
} LocalCAConfig;

typedef struct LocalCA LocalCA;

/* Opens (creating or renewing as needed) the CA in dir. Safe against concurrent openers in
 * several processes (flock on dir/lock). Returns 1 if something was created or renewed, else 0. */
int local_ca_open(const char *dir, const LocalCAConfig *cfg, int64_t now, LocalCA **ret, char **reterr)
        _warn_unused_result_;
LocalCA *local_ca_free(LocalCA *ca);
DEFINE_TRIVIAL_CLEANUP_FUNC(LocalCA *, local_ca_free);

/* Signs csr for lifetime seconds from now (capped at the issuing CA's notAfter). ret_chain gets
 * the issuing CA certificate followed by the root. */
int local_ca_sign(LocalCA *ca, X509_REQ *csr, int64_t now, int64_t lifetime, X509 **ret,
                  STACK_OF(X509) **ret_chain, char **reterr) _warn_unused_result_;
/* The same with pki_sign_csr_full()'s flags (PKI_SIGN_CSR_TRUSTED for a CSR the caller just made). */
int local_ca_sign_full(LocalCA *ca, X509_REQ *csr, PkiSignFlags flags, int64_t now, int64_t lifetime, X509 **ret,
                       STACK_OF(X509) **ret_chain, char **reterr) _warn_unused_result_;

/* Path of roots.pem. */
const char *local_ca_roots_path(LocalCA *ca);
int64_t local_ca_issuing_not_after(LocalCA *ca);
