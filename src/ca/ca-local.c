/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "ca-local.h"
#include "fs-util.h"
#include "pki-cert.h"
#include "pki-csr.h"
#include "pki-key.h"
#include "pki-sign.h"
#include "string-util.h"
#include "time-util.h"

/* Layout and policy are described in ca-local.h. Everything that reads or changes the files runs
 * under an exclusive flock() on dir/lock, so several processes can open the same CA at once: the
 * first creates (or renews), the others wait and then load what it wrote.
 *
 * Crash safety: every file is replaced atomically. A key is always written before its certificate,
 * and a key/certificate pair that does not match (a crash between the two writes) is treated as
 * missing and made anew, after archiving what was there. */

#define DEFAULT_ROOT_LIFETIME ((int64_t) 3652 * 24 * 3600)  /* 10 years */
#define DEFAULT_ISSUING_LIFETIME ((int64_t) 365 * 24 * 3600) /* 1 year */
#define BACKDATE ((int64_t) 300) /* notBefore this much in the past, for clocks a bit behind */
#define CA_FILE_MAX (4U * 1024U * 1024U)
#define LOCK_POLL_MIN_USEC (1 * USEC_PER_MSEC)
#define LOCK_POLL_MAX_USEC (100 * USEC_PER_MSEC)

struct LocalCA {
        char *dir;
        char *lock_path;
        char *archive_dir;
        char *root_key_path, *root_cert_path;
        char *issuing_key_path, *issuing_cert_path;
        char *roots_path;

        int64_t root_lifetime;
        int64_t issuing_lifetime;
        int64_t lock_timeout;
        char *subject_suffix;

        EVP_PKEY *root_key;
        X509 *root;
        EVP_PKEY *issuing_key;
        X509 *issuing;
        STACK_OF(X509) *roots; /* as written to roots.pem at the last open or renewal */
};

static void erase_and_freep(char **p) {
        if (*p) {
                OPENSSL_cleanse(*p, strlen(*p));
                free(*p);
        }
}

LocalCA *local_ca_free(LocalCA *ca) {
        if (!ca)
                return NULL;
        free(ca->dir);
        free(ca->lock_path);
        free(ca->archive_dir);
        free(ca->root_key_path);
        free(ca->root_cert_path);
        free(ca->issuing_key_path);
        free(ca->issuing_cert_path);
        free(ca->roots_path);
        free(ca->subject_suffix);
        EVP_PKEY_free(ca->root_key);
        X509_free(ca->root);
        EVP_PKEY_free(ca->issuing_key);
        X509_free(ca->issuing);
        pki_chain_free(ca->roots);
        free(ca);
        return NULL;
}

const char *local_ca_roots_path(LocalCA *ca) {
        return ca ? ca->roots_path : NULL;
}

static int cert_times(X509 *x, int64_t *ret_nb, int64_t *ret_na) {
        struct tm tm = {};

        if (ret_nb) {
                if (!ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm)) {
                        ERR_clear_error();
                        return -EBADMSG;
                }
                *ret_nb = (int64_t) timegm(&tm);
        }
        if (ret_na) {
                tm = (struct tm) {};
                if (!ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm)) {
                        ERR_clear_error();
                        return -EBADMSG;
                }
                *ret_na = (int64_t) timegm(&tm);
        }
        return 0;
}

int64_t local_ca_issuing_not_after(LocalCA *ca) {
        int64_t na = 0;

        if (!ca || !ca->issuing || cert_times(ca->issuing, NULL, &na) < 0)
                return 0;
        return na;
}

/* True when less than a third of the certificate's lifetime is left at now (or it is not valid yet
 * because the clock went back a long way, or it has expired). */
static bool cert_needs_renewal(X509 *x, int64_t now) {
        int64_t nb, na;

        if (cert_times(x, &nb, &na) < 0)
                return true;
        if (now >= na || na <= nb)
                return true;
        if (now + BACKDATE < nb)
                return true;
        return (na - now) * 3 < (na - nb);
}

/* Takes the exclusive lock on lock_path, waiting without limit (timeout 0) or for at most timeout
 * seconds (-ETIMEDOUT). A bounded wait polls: flock() has no timeout of its own, and a library must
 * not play with signals to get one. The lock is held briefly (load, or create a P-256 key), so short
 * polls that back off to 100 ms cost little. */
static int lock_dir(const char *lock_path, int64_t timeout, int *ret_fd) {
        _cleanup_close_ int fd = -EBADF;
        usec_t deadline, wait = LOCK_POLL_MIN_USEC;

        fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
        if (fd < 0)
                return negative_errno();

        if (timeout <= 0) {
                while (flock(fd, LOCK_EX) < 0)
                        if (errno != EINTR)
                                return negative_errno();
                *ret_fd = TAKE_FD(fd);
                return 0;
        }

        deadline = now_usec(CLOCK_MONOTONIC) + (usec_t) timeout * USEC_PER_SEC;
        for (;;) {
                usec_t n;

                if (flock(fd, LOCK_EX | LOCK_NB) >= 0)
                        break;
                if (errno != EWOULDBLOCK && errno != EINTR)
                        return negative_errno();

                n = now_usec(CLOCK_MONOTONIC);
                if (n >= deadline)
                        return -ETIMEDOUT;
                wait = MIN(wait, deadline - n);
                (void) usleep((useconds_t) wait);
                wait = MIN(wait * 2, LOCK_POLL_MAX_USEC);
        }

        *ret_fd = TAKE_FD(fd);
        return 0;
}

/* Loads a key and its certificate. -ENOENT if either is missing, -EBADMSG if damaged or they don't
 * belong together; other errors (e.g. -EACCES) as they come. */
static int load_pair(const char *key_path, const char *cert_path, EVP_PKEY **ret_key, X509 **ret_cert) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        int r;

        r = pki_key_load(key_path, &k);
        if (r < 0)
                return r;
        r = pki_cert_load(cert_path, &x);
        if (r < 0)
                return r;
        r = pki_cert_key_match(x, k);
        if (r < 0)
                return r;
        if (r == 0)
                return -EBADMSG;

        *ret_key = TAKE_PTR(k);
        *ret_cert = TAKE_PTR(x);
        return 0;
}

/* Missing, damaged or mismatched files are made anew; anything else (e.g. -EACCES) is an error. */
static bool error_means_missing(int r) {
        return r == -ENOENT || r == -EBADMSG;
}

static int random_id(char ret[static 9]) {
        unsigned char b[4];

        if (RAND_bytes(b, sizeof(b)) <= 0) {
                ERR_clear_error();
                return -EIO;
        }
        snprintf(ret, 9, "%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
        return 0;
}

static char *ca_subject(LocalCA *ca, const char *what, const char *id) {
        _cleanup_free_ char *cn = strjoin("CN=certkeeper local ", what, " CA ", id);

        if (!cn)
                return NULL;
        if (isempty(ca->subject_suffix))
                return TAKE_PTR(cn);
        return strjoin(cn, ",", ca->subject_suffix);
}

static int write_pair(LocalCA *ca, const char *prefix, const char *key_path, const char *cert_path, EVP_PKEY *key,
                      X509 *cert) {
        _cleanup_(erase_and_freep) char *kpem = NULL;
        _cleanup_free_ char *cpem = NULL;
        size_t klen = 0, clen = 0;
        int r;

        r = pki_key_to_pem(key, &kpem, &klen);
        if (r < 0)
                return r;
        r = pki_cert_to_pem(cert, &cpem, &clen);
        if (r < 0)
                return r;

        /* Keep what was there. */
        r = fs_archive(key_path, ca->archive_dir, prefix, NULL);
        if (r < 0)
                return r;
        r = fs_archive(cert_path, ca->archive_dir, prefix, NULL);
        if (r < 0)
                return r;

        /* The temporary file gets mode 0600 before any byte of the key is written. */
        r = fs_write_atomic(key_path, kpem, klen, &FILE_ATTRS(0600));
        if (r < 0)
                return r;
        return fs_write_atomic(cert_path, cpem, clen, &FILE_ATTRS(0644));
}

static int make_ca(LocalCA *ca, const char *what, X509 *issuer, EVP_PKEY *issuer_key, int path_len, int64_t now,
                   int64_t lifetime, EVP_PKEY **ret_key, X509 **ret_cert, char **reterr) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_free_ char *subject = NULL;
        char id[9];
        int r;

        r = pki_key_generate(KEY_TYPE_EC, 256, &k);
        if (r < 0)
                return errorf(reterr, r, "Could not generate a key for the local %s CA.", what);

        r = random_id(id);
        if (r < 0)
                return r;
        subject = ca_subject(ca, what, id);
        if (!subject)
                return -ENOMEM;

        r = pki_make_ca_cert(k, subject, issuer, issuer_key, path_len, now - BACKDATE, now + lifetime, &x);
        if (r < 0)
                return errorf(reterr, r, "Could not make the local %s CA certificate '%s'.", what, subject);

        *ret_key = TAKE_PTR(k);
        *ret_cert = TAKE_PTR(x);
        return 0;
}

static int stack_add_unique(STACK_OF(X509) *sk, X509 *x) {
        for (int i = 0; i < sk_X509_num(sk); i++)
                if (X509_cmp(sk_X509_value(sk, i), x) == 0)
                        return 0;
        if (!X509_up_ref(x))
                return -ENOMEM;
        if (!sk_X509_push(sk, x)) {
                X509_free(x);
                return -ENOMEM;
        }
        return 0;
}

/* Rewrites roots.pem as: the current root, then every other root from the old roots.pem (and
 * old_root, if given) that has not expired at now. Only writes when the content changes. */
static int update_roots(LocalCA *ca, X509 *old_root, int64_t now) {
        _cleanup_(pki_chain_freep) STACK_OF(X509) *want = NULL, *have_chain = NULL;
        _cleanup_(X509_freep) X509 *have_first = NULL;
        _cleanup_free_ char *data = NULL, *pem = NULL;
        size_t len = 0, plen = 0;
        int r;

        want = sk_X509_new_null();
        if (!want)
                return -ENOMEM;
        r = stack_add_unique(want, ca->root);
        if (r < 0)
                return r;

        r = fs_read_file(ca->roots_path, CA_FILE_MAX, &data, &len);
        if (r < 0 && r != -ENOENT)
                return r;
        if (r >= 0 && pki_cert_parse(data, len, &have_first, &have_chain) >= 0) {
                /* pki_cert_parse() moves the first non-CA certificate to the front; all are CAs
                 * here, so this is the file's order. */
                for (int i = -1; i < sk_X509_num(have_chain); i++) {
                        X509 *x = i < 0 ? have_first : sk_X509_value(have_chain, i);
                        int64_t na;

                        if (cert_times(x, NULL, &na) < 0 || na <= now)
                                continue;
                        r = stack_add_unique(want, x);
                        if (r < 0)
                                return r;
                }
        }

        if (old_root) {
                int64_t na;
                if (cert_times(old_root, NULL, &na) >= 0 && na > now) {
                        r = stack_add_unique(want, old_root);
                        if (r < 0)
                                return r;
                }
        }

        r = pki_chain_to_pem(want, &pem, &plen);
        if (r < 0)
                return r;

        if (!data || plen != len || memcmp(pem, data, len) != 0) {
                r = fs_write_atomic(ca->roots_path, pem, plen, &FILE_ATTRS(0644));
                if (r < 0)
                        return r;
                r = 1;
        } else
                r = 0;

        pki_chain_free(ca->roots);
        ca->roots = TAKE_PTR(want);
        return r;
}

/* Under the lock: loads the CA from disk, creating or renewing whatever needs it. 1 if something
 * was written. */
static int load_or_renew(LocalCA *ca, int64_t now, char **reterr) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *root_key = NULL, *issuing_key = NULL;
        _cleanup_(X509_freep) X509 *root = NULL, *issuing = NULL, *old_root = NULL;
        bool changed = false;
        int r;

        r = load_pair(ca->root_key_path, ca->root_cert_path, &root_key, &root);
        if (r < 0 && !error_means_missing(r))
                return errorf(reterr, r, "Could not read the local root CA from '%s': %s.", ca->dir, strerror(-r));

        if (r >= 0 && cert_needs_renewal(root, now)) {
                /* Renew: the old root stays trusted in roots.pem until it expires. */
                old_root = TAKE_PTR(root);
                EVP_PKEY_free(TAKE_PTR(root_key));
        }

        if (!root) {
                r = make_ca(ca, "root", NULL, NULL, 1, now, ca->root_lifetime, &root_key, &root, reterr);
                if (r < 0)
                        return r;
                r = write_pair(ca, "root", ca->root_key_path, ca->root_cert_path, root_key, root);
                if (r < 0)
                        return errorf(reterr, r, "Could not write the local root CA into '%s': %s.", ca->dir, strerror(-r));
                changed = true;
        }

        X509_free(ca->root);
        ca->root = TAKE_PTR(root);
        EVP_PKEY_free(ca->root_key);
        ca->root_key = TAKE_PTR(root_key);

        r = update_roots(ca, old_root, now);
        if (r < 0)
                return errorf(reterr, r, "Could not write '%s': %s.", ca->roots_path, strerror(-r));
        if (r > 0)
                changed = true;

        r = load_pair(ca->issuing_key_path, ca->issuing_cert_path, &issuing_key, &issuing);
        if (r < 0 && !error_means_missing(r))
                return errorf(reterr, r, "Could not read the local issuing CA from '%s': %s.", ca->dir, strerror(-r));
        if (r >= 0) {
                EVP_PKEY *rpub = X509_get0_pubkey(ca->root);
                bool ours = rpub && X509_check_issued(ca->root, issuing) == X509_V_OK && X509_verify(issuing, rpub) == 1;
                ERR_clear_error();

                if (!ours || cert_needs_renewal(issuing, now)) {
                        X509_free(TAKE_PTR(issuing));
                        EVP_PKEY_free(TAKE_PTR(issuing_key));
                }
        }

        if (!issuing) {
                r = make_ca(ca, "issuing", ca->root, ca->root_key, 0, now, ca->issuing_lifetime, &issuing_key, &issuing,
                            reterr);
                if (r < 0)
                        return r;
                r = write_pair(ca, "issuing", ca->issuing_key_path, ca->issuing_cert_path, issuing_key, issuing);
                if (r < 0)
                        return errorf(reterr, r, "Could not write the local issuing CA into '%s': %s.", ca->dir,
                                      strerror(-r));
                changed = true;
        }

        X509_free(ca->issuing);
        ca->issuing = TAKE_PTR(issuing);
        EVP_PKEY_free(ca->issuing_key);
        ca->issuing_key = TAKE_PTR(issuing_key);

        return changed;
}

static int refresh_locked(LocalCA *ca, int64_t now, char **reterr) {
        _cleanup_close_ int lock_fd = -EBADF;
        int r;

        r = fs_mkdir_p(ca->dir, 0700);
        if (r < 0)
                return errorf(reterr, r, "Could not create the local CA directory '%s': %s.", ca->dir, strerror(-r));

        r = lock_dir(ca->lock_path, ca->lock_timeout, &lock_fd);
        if (r == -ETIMEDOUT)
                return errorf(reterr, r, "Another process has held the lock '%s' for more than %" PRIi64 " s.",
                              ca->lock_path, ca->lock_timeout);
        if (r < 0)
                return errorf(reterr, r, "Could not lock '%s': %s.", ca->lock_path, strerror(-r));

        return load_or_renew(ca, now, reterr);
}

int local_ca_open(const char *dir, const LocalCAConfig *cfg, int64_t now, LocalCA **ret, char **reterr) {
        _cleanup_(local_ca_freep) LocalCA *ca = NULL;
        int r;

        if (isempty(dir) || !ret)
                return -EINVAL;
        if (cfg && (cfg->root_lifetime < 0 || cfg->issuing_lifetime < 0))
                return errorf(reterr, -EINVAL, "The local CA lifetimes must be positive.");
        if (cfg && cfg->lock_timeout < 0)
                return errorf(reterr, -EINVAL, "The local CA's lock timeout must not be negative.");

        ca = calloc(1, sizeof(LocalCA));
        if (!ca)
                return -ENOMEM;

        ca->root_lifetime = cfg && cfg->root_lifetime > 0 ? cfg->root_lifetime : DEFAULT_ROOT_LIFETIME;
        ca->issuing_lifetime = cfg && cfg->issuing_lifetime > 0 ? cfg->issuing_lifetime : DEFAULT_ISSUING_LIFETIME;
        ca->lock_timeout = cfg ? cfg->lock_timeout : 0;

        if (cfg && !isempty(cfg->subject_suffix)) {
                _cleanup_(X509_NAME_freep) X509_NAME *n = NULL;

                r = pki_name_parse(cfg->subject_suffix, &n, reterr);
                if (r < 0)
                        return r;
                ca->subject_suffix = strdup(cfg->subject_suffix);
                if (!ca->subject_suffix)
                        return -ENOMEM;
        }

        ca->dir = strdup(dir);
        ca->lock_path = strjoin(dir, "/lock");
        ca->archive_dir = strjoin(dir, "/archive");
        ca->root_key_path = strjoin(dir, "/root-key.pem");
        ca->root_cert_path = strjoin(dir, "/root-cert.pem");
        ca->issuing_key_path = strjoin(dir, "/issuing-key.pem");
        ca->issuing_cert_path = strjoin(dir, "/issuing-cert.pem");
        ca->roots_path = strjoin(dir, "/roots.pem");
        if (!ca->dir || !ca->lock_path || !ca->archive_dir || !ca->root_key_path || !ca->root_cert_path ||
            !ca->issuing_key_path || !ca->issuing_cert_path || !ca->roots_path)
                return -ENOMEM;

        r = refresh_locked(ca, now, reterr);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(ca);
        return r;
}

int local_ca_sign(LocalCA *ca, X509_REQ *csr, int64_t now, int64_t lifetime, X509 **ret, STACK_OF(X509) **ret_chain,
                  char **reterr) {
        return local_ca_sign_full(ca, csr, 0, now, lifetime, ret, ret_chain, reterr);
}

int local_ca_sign_full(LocalCA *ca, X509_REQ *csr, PkiSignFlags flags, int64_t now, int64_t lifetime, X509 **ret,
                       STACK_OF(X509) **ret_chain, char **reterr) {
        _cleanup_(pki_chain_freep) STACK_OF(X509) *chain = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;
        int r;

        if (!ca || !csr || !ret)
                return -EINVAL;
        if (lifetime <= 0)
                return errorf(reterr, -EINVAL, "The certificate lifetime must be positive.");

        /* A long-lived process holding the CA: renew (or pick up another process' renewal) first. */
        if (cert_needs_renewal(ca->issuing, now) || cert_needs_renewal(ca->root, now)) {
                r = refresh_locked(ca, now, reterr);
                if (r < 0)
                        return r;
        }

        /* Backdated for clock skew, but by no more than a tenth of a short lifetime. */
        r = pki_sign_csr_full(csr, ca->issuing, ca->issuing_key, now - MIN((int64_t) BACKDATE, lifetime / 10),
                              now + lifetime, flags, &x, reterr);
        if (r < 0)
                return r;

        if (ret_chain) {
                chain = sk_X509_new_null();
                if (!chain)
                        return -ENOMEM;
                r = stack_add_unique(chain, ca->issuing);
                if (r < 0)
                        return r;
                r = stack_add_unique(chain, ca->root);
                if (r < 0)
                        return r;
                *ret_chain = TAKE_PTR(chain);
        }

        *ret = TAKE_PTR(x);
        return 0;
}

int local_ca_roots(LocalCA *ca, STACK_OF(X509) **ret) {
        _cleanup_(pki_chain_freep) STACK_OF(X509) *s = NULL;
        int r;

        if (!ca || !ca->roots || !ret)
                return -EINVAL;

        s = sk_X509_new_null();
        if (!s)
                return -ENOMEM;
        for (int i = 0; i < sk_X509_num(ca->roots); i++) {
                r = stack_add_unique(s, sk_X509_value(ca->roots, i));
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(s);
        return 0;
}

X509 *local_ca_get0_issuing(LocalCA *ca) {
        return ca ? ca->issuing : NULL;
}

X509 *local_ca_get0_root(LocalCA *ca) {
        return ca ? ca->root : NULL;
}
