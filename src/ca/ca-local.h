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
        int64_t lock_timeout;     /* seconds to wait for dir/lock while another process holds it;
                                   * 0: wait as long as it takes */
} LocalCAConfig;

typedef struct LocalCA LocalCA;

/* Opens (creating or renewing as needed) the CA in dir. Safe against concurrent openers in
 * several processes (flock on dir/lock): creation and renewal happen once, the others load what
 * was written. Returns 1 if something was created or renewed, else 0. -ETIMEDOUT (with words) when
 * cfg->lock_timeout passed while another process held the lock. */
int local_ca_open(const char *dir, const LocalCAConfig *cfg, int64_t now, LocalCA **ret, char **reterr)
        _warn_unused_result_;
LocalCA *local_ca_free(LocalCA *ca);
DEFINE_TRIVIAL_CLEANUP_FUNC(LocalCA *, local_ca_free);

/* Signs csr for lifetime seconds from now (capped at the issuing CA's notAfter). ret_chain gets
 * the issuing CA certificate followed by the root. Serial numbers are 128 random bits from the
 * CSPRNG (pki_sign_csr()), so processes signing with the same CA at once need no shared counter and
 * no lock; only a renewal due at now takes the lock, as local_ca_open() does. */
int local_ca_sign(LocalCA *ca, X509_REQ *csr, int64_t now, int64_t lifetime, X509 **ret,
                  STACK_OF(X509) **ret_chain, char **reterr) _warn_unused_result_;
/* The same with pki_sign_csr_full()'s flags (PKI_SIGN_CSR_TRUSTED for a CSR the caller just made). */
int local_ca_sign_full(LocalCA *ca, X509_REQ *csr, PkiSignFlags flags, int64_t now, int64_t lifetime, X509 **ret,
                       STACK_OF(X509) **ret_chain, char **reterr) _warn_unused_result_;

/* Path of roots.pem. */
const char *local_ca_roots_path(LocalCA *ca);
int64_t local_ca_issuing_not_after(LocalCA *ca);

/* The roots trusted as of the last open or renewal (what roots.pem then held): the current root
 * first, then earlier roots that have not expired. The caller owns the stack (pki_chain_free()). */
int local_ca_roots(LocalCA *ca, STACK_OF(X509) **ret) _warn_unused_result_;
/* The current issuing CA certificate and root, owned by ca (valid until the next sign or free). */
X509 *local_ca_get0_issuing(LocalCA *ca);
X509 *local_ca_get0_root(LocalCA *ca);
