/* SPDX-License-Identifier: MIT */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <dirent.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "ca-local.h"
#include "pki-cert.h"
#include "pki-csr.h"
#include "pki-key.h"
#include "string-util.h"
#include "tests.h"
#include "time-util.h"

#define DAY ((int64_t) 86400)
static const int64_t T0 = 1767225600; /* 2026-01-01 00:00:00 UTC */

DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE *, X509_STORE_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE_CTX *, X509_STORE_CTX_free);

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void rm_rf(const char *dir) {
        ASSERT_OK(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS));
}

static char *make_tmpdir(void) {
        char tmpl[] = "/tmp/test-ca-local-XXXXXX";
        ASSERT_NOT_NULL(mkdtemp(tmpl));
        char *d = strdup(tmpl);
        ASSERT_NOT_NULL(d);
        return d;
}

static char *path_in(const char *dir, const char *name) {
        char *p = strjoin(dir, "/", name);
        ASSERT_NOT_NULL(p);
        return p;
}

static X509_REQ *make_csr(const char *cn) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_free_ char *subject = strjoin("CN=", cn);
        CertTemplate t = { .subject = subject, .path_len = -1 };
        char *dns[] = { (char *) cn, NULL };
        X509_REQ *req = NULL;

        t.dns = dns;
        ASSERT_OK(pki_key_generate(KEY_TYPE_EC, 256, &k));
        ASSERT_OK(pki_csr_build(k, &t, NULL, &req, NULL));
        return req;
}

static int count_certs(const char *path) {
        _cleanup_free_ char *data = NULL;
        FILE *f = fopen(path, "re");
        ASSERT_NOT_NULL(f);
        data = calloc(1, 1 << 20);
        ASSERT_NOT_NULL(data);
        size_t n = fread(data, 1, (1 << 20) - 1, f);
        fclose(f);

        _cleanup_(X509_freep) X509 *first = NULL;
        _cleanup_(pki_chain_freep) STACK_OF(X509) *rest = NULL;
        ASSERT_OK(pki_cert_parse(data, n, &first, &rest));
        return 1 + sk_X509_num(rest);
}

/* 1 if cert verifies against roots_path at time t, with untrusted as intermediates. */
static int verify_at(X509 *cert, STACK_OF(X509) *untrusted, const char *roots_path, int64_t t) {
        _cleanup_(X509_STORE_freep) X509_STORE *store = X509_STORE_new();
        _cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = X509_STORE_CTX_new();

        ASSERT_NOT_NULL(store);
        ASSERT_NOT_NULL(ctx);
        ASSERT_EQ(X509_STORE_load_file(store, roots_path), 1);
        ASSERT_EQ(X509_STORE_CTX_init(ctx, store, cert, untrusted), 1);
        X509_STORE_CTX_set_time(ctx, 0, (time_t) t);
        int r = X509_verify_cert(ctx);
        ERR_clear_error();
        return r == 1;
}

/* Only the intermediate (first element) of a chain from local_ca_sign(), so the root must come
 * from roots.pem. */
static STACK_OF(X509) *intermediate_only(STACK_OF(X509) *chain) {
        STACK_OF(X509) *s = sk_X509_new_null();
        ASSERT_NOT_NULL(s);
        X509 *x = sk_X509_value(chain, 0);
        ASSERT_TRUE(X509_up_ref(x));
        ASSERT_TRUE(sk_X509_push(s, x) > 0);
        return s;
}

static mode_t file_mode(const char *path) {
        struct stat st;
        ASSERT_OK(stat(path, &st));
        return st.st_mode & 07777;
}

TEST(create_and_reopen) {
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *cadir = path_in(dir, "ca"); /* does not exist yet */
        _cleanup_(local_ca_freep) LocalCA *ca = NULL, *ca2 = NULL;
        _cleanup_free_ char *err = NULL;
        _cleanup_(cert_info_done) CertInfo ri = {}, ii = {};
        LocalCAConfig cfg = { .subject_suffix = "O=Example Org" };

        ASSERT_EQ(local_ca_open(cadir, &cfg, T0, &ca, &err), 1);
        ASSERT_NULL(err);

        _cleanup_free_ char *rk = path_in(cadir, "root-key.pem"), *rc = path_in(cadir, "root-cert.pem"),
                            *ik = path_in(cadir, "issuing-key.pem"), *ic = path_in(cadir, "issuing-cert.pem"),
                            *roots = path_in(cadir, "roots.pem");
        ASSERT_EQ(file_mode(rk), 0600);
        ASSERT_EQ(file_mode(ik), 0600);
        ASSERT_EQ(file_mode(rc), 0644);
        ASSERT_EQ(file_mode(ic), 0644);
        ASSERT_STREQ(local_ca_roots_path(ca), roots);
        ASSERT_EQ(count_certs(roots), 1);

        _cleanup_(X509_freep) X509 *root = NULL, *issuing = NULL;
        ASSERT_OK(pki_cert_load(rc, &root));
        ASSERT_OK(pki_cert_load(ic, &issuing));
        ASSERT_OK(pki_cert_info(root, &ri));
        ASSERT_OK(pki_cert_info(issuing, &ii));
        ASSERT_TRUE(startswith(ri.subject, "CN=certkeeper local root CA "));
        ASSERT_TRUE(endswith(ri.subject, ",O=Example Org"));
        ASSERT_EQ(strlen(ri.subject), strlen("CN=certkeeper local root CA 01234567,O=Example Org"));
        ASSERT_STREQ(ri.issuer, ri.subject);
        ASSERT_TRUE(startswith(ii.subject, "CN=certkeeper local issuing CA "));
        ASSERT_STREQ(ii.issuer, ri.subject);
        ASSERT_TRUE(ri.is_ca && ii.is_ca);
        ASSERT_EQ(ii.path_len, 0);
        ASSERT_EQ(ii.not_after, T0 + 365 * DAY);
        ASSERT_EQ(ri.not_after, T0 + 3652 * DAY);
        ASSERT_EQ(local_ca_issuing_not_after(ca), ii.not_after);

        /* Root key is EC P-256 by default. */
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        KeyType kt;
        unsigned bits;
        ASSERT_OK(pki_key_load(rk, &k));
        ASSERT_OK(pki_key_info(k, &kt, &bits));
        ASSERT_EQ(kt, KEY_TYPE_EC);
        ASSERT_EQ(bits, 256);

        /* Reopening changes nothing. */
        ASSERT_EQ(local_ca_open(cadir, &cfg, T0 + 100 * DAY, &ca2, &err), 0);
        _cleanup_(X509_freep) X509 *root2 = NULL, *issuing2 = NULL;
        ASSERT_OK(pki_cert_load(rc, &root2));
        ASSERT_OK(pki_cert_load(ic, &issuing2));
        ASSERT_EQ(X509_cmp(root, root2), 0);
        ASSERT_EQ(X509_cmp(issuing, issuing2), 0);
        ASSERT_EQ(local_ca_issuing_not_after(ca2), ii.not_after);

        /* A bad suffix is refused in words. */
        LocalCA *none = NULL;
        LocalCAConfig bad = { .subject_suffix = "Nope=1" };
        ASSERT_ERROR(local_ca_open(cadir, &bad, T0, &none, &err), EINVAL);
        ASSERT_TRUE(strstr(err, "Nope"));
        ASSERT_NULL(none);

        rm_rf(dir);
}

TEST(sign_and_verify) {
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_(local_ca_freep) LocalCA *ca = NULL;
        _cleanup_(X509_REQ_freep) X509_REQ *req = make_csr("host.example.com");
        _cleanup_(X509_freep) X509 *cert = NULL, *capped = NULL;
        _cleanup_(pki_chain_freep) STACK_OF(X509) *chain = NULL, *chain2 = NULL, *inter = NULL;
        _cleanup_(cert_info_done) CertInfo ci = {}, capi = {};

        ASSERT_EQ(local_ca_open(dir, NULL, T0, &ca, NULL), 1);
        ASSERT_OK(local_ca_sign(ca, req, T0 + 10, 90 * DAY, &cert, &chain, NULL));
        ASSERT_EQ(sk_X509_num(chain), 2);

        ASSERT_OK(pki_cert_info(cert, &ci));
        ASSERT_STREQ(ci.subject, "CN=host.example.com");
        ASSERT_STREQ(ci.dns[0], "host.example.com");
        ASSERT_EQ(ci.not_after, T0 + 10 + 90 * DAY);
        ASSERT_TRUE(ci.not_before <= T0 + 10);
        ASSERT_FALSE(ci.is_ca);

        inter = intermediate_only(chain);
        ASSERT_TRUE(verify_at(cert, inter, local_ca_roots_path(ca), T0 + DAY));
        /* The check can fail: after expiry, and without the intermediate. */
        ASSERT_FALSE(verify_at(cert, inter, local_ca_roots_path(ca), T0 + 91 * DAY));
        ASSERT_FALSE(verify_at(cert, NULL, local_ca_roots_path(ca), T0 + DAY));

        /* A lifetime past the issuing CA's end is capped there. */
        ASSERT_OK(local_ca_sign(ca, req, T0 + 10, 5 * 365 * DAY, &capped, &chain2, NULL));
        ASSERT_OK(pki_cert_info(capped, &capi));
        ASSERT_EQ(capi.not_after, local_ca_issuing_not_after(ca));
        ASSERT_TRUE(verify_at(capped, chain2, local_ca_roots_path(ca), T0 + 300 * DAY));

        X509 *none = NULL;
        _cleanup_free_ char *err = NULL;
        ASSERT_ERROR(local_ca_sign(ca, req, T0, 0, &none, NULL, &err), EINVAL);
        ASSERT_NOT_NULL(err);

        rm_rf(dir);
}

TEST(issuing_renewal) {
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_(local_ca_freep) LocalCA *ca = NULL, *ca2 = NULL;
        _cleanup_(X509_REQ_freep) X509_REQ *req = make_csr("a.example.com");
        _cleanup_(X509_freep) X509 *a = NULL, *b = NULL, *root1 = NULL, *root2 = NULL, *iss1 = NULL, *iss2 = NULL;
        _cleanup_(pki_chain_freep) STACK_OF(X509) *ca_chain = NULL, *cb_chain = NULL;
        _cleanup_free_ char *rc = path_in(dir, "root-cert.pem"), *ic = path_in(dir, "issuing-cert.pem"),
                            *archive = path_in(dir, "archive");

        ASSERT_EQ(local_ca_open(dir, NULL, T0, &ca, NULL), 1);
        ASSERT_OK(pki_cert_load(rc, &root1));
        ASSERT_OK(pki_cert_load(ic, &iss1));
        ASSERT_OK(local_ca_sign(ca, req, T0, 300 * DAY, &a, &ca_chain, NULL));

        /* Day 200: more than a third of the issuing CA's year is left: nothing happens. */
        {
                _cleanup_(local_ca_freep) LocalCA *c = NULL;
                ASSERT_EQ(local_ca_open(dir, NULL, T0 + 200 * DAY, &c, NULL), 0);
        }

        /* Day 250: less than a third left: a new issuing CA under the same root. */
        ASSERT_EQ(local_ca_open(dir, NULL, T0 + 250 * DAY, &ca2, NULL), 1);
        ASSERT_OK(pki_cert_load(rc, &root2));
        ASSERT_OK(pki_cert_load(ic, &iss2));
        ASSERT_EQ(X509_cmp(root1, root2), 0);
        ASSERT_TRUE(X509_cmp(iss1, iss2) != 0);
        ASSERT_EQ(local_ca_issuing_not_after(ca2), T0 + 250 * DAY + 365 * DAY);
        ASSERT_EQ(access(archive, F_OK), 0);

        ASSERT_OK(local_ca_sign(ca2, req, T0 + 250 * DAY, 90 * DAY, &b, &cb_chain, NULL));
        ASSERT_EQ(X509_cmp(sk_X509_value(cb_chain, 0), iss2), 0);

        /* Both the old and the new certificate verify. */
        ASSERT_TRUE(verify_at(a, ca_chain, local_ca_roots_path(ca2), T0 + 251 * DAY));
        ASSERT_TRUE(verify_at(b, cb_chain, local_ca_roots_path(ca2), T0 + 251 * DAY));

        /* The old handle renews on its own when asked to sign that late, picking up the new CA. */
        _cleanup_(X509_freep) X509 *c = NULL;
        _cleanup_(pki_chain_freep) STACK_OF(X509) *cc_chain = NULL;
        ASSERT_OK(local_ca_sign(ca, req, T0 + 251 * DAY, DAY, &c, &cc_chain, NULL));
        ASSERT_EQ(X509_cmp(sk_X509_value(cc_chain, 0), iss2), 0);

        rm_rf(dir);
}

TEST(root_renewal) {
        _cleanup_free_ char *dir = make_tmpdir();
        LocalCAConfig cfg = { .root_lifetime = 30 * DAY, .issuing_lifetime = 15 * DAY };
        _cleanup_(X509_REQ_freep) X509_REQ *req = make_csr("r.example.com");
        _cleanup_(X509_freep) X509 *a = NULL, *b = NULL, *root1 = NULL, *root2 = NULL;
        _cleanup_(pki_chain_freep) STACK_OF(X509) *a_chain = NULL, *b_chain = NULL, *a_inter = NULL, *b_inter = NULL;
        _cleanup_free_ char *rc = path_in(dir, "root-cert.pem"), *roots = path_in(dir, "roots.pem");

        {
                _cleanup_(local_ca_freep) LocalCA *ca = NULL;
                ASSERT_EQ(local_ca_open(dir, &cfg, T0, &ca, NULL), 1);
                ASSERT_OK(pki_cert_load(rc, &root1));
        }
        /* Day 11: issuing CA renewed (4 of 15 days left), root kept. Sign A there. */
        {
                _cleanup_(local_ca_freep) LocalCA *ca = NULL;
                ASSERT_EQ(local_ca_open(dir, &cfg, T0 + 11 * DAY, &ca, NULL), 1);
                ASSERT_OK(local_ca_sign(ca, req, T0 + 11 * DAY, 15 * DAY, &a, &a_chain, NULL));
                ASSERT_EQ(count_certs(roots), 1);
        }
        /* Day 21: 9 of 30 days left on the root: new root, both in roots.pem. */
        {
                _cleanup_(local_ca_freep) LocalCA *ca = NULL;
                ASSERT_EQ(local_ca_open(dir, &cfg, T0 + 21 * DAY, &ca, NULL), 1);
                ASSERT_OK(pki_cert_load(rc, &root2));
                ASSERT_TRUE(X509_cmp(root1, root2) != 0);
                ASSERT_EQ(count_certs(roots), 2);
                ASSERT_OK(local_ca_sign(ca, req, T0 + 21 * DAY, 5 * DAY, &b, &b_chain, NULL));
                ASSERT_EQ(X509_cmp(sk_X509_value(b_chain, 1), root2), 0);
        }

        /* A (under the old root) and B (under the new one) both verify against roots.pem alone. */
        a_inter = intermediate_only(a_chain);
        b_inter = intermediate_only(b_chain);
        ASSERT_EQ(X509_cmp(sk_X509_value(a_chain, 1), root1), 0);
        ASSERT_TRUE(verify_at(a, a_inter, roots, T0 + 22 * DAY));
        ASSERT_TRUE(verify_at(b, b_inter, roots, T0 + 22 * DAY));
        /* ... and A would not without the old root: cross-check with a roots file of the new root only. */
        {
                _cleanup_free_ char *pem = NULL, *only = path_in(dir, "only-new.pem");
                size_t l;
                ASSERT_OK(pki_cert_to_pem(root2, &pem, &l));
                FILE *f = fopen(only, "we");
                ASSERT_NOT_NULL(f);
                ASSERT_EQ(fwrite(pem, 1, l, f), l);
                fclose(f);
                ASSERT_FALSE(verify_at(a, a_inter, only, T0 + 22 * DAY));
                ASSERT_TRUE(verify_at(b, b_inter, only, T0 + 22 * DAY));
        }

        /* Day 31: the old root has expired and leaves roots.pem. */
        {
                _cleanup_(local_ca_freep) LocalCA *ca = NULL;
                ASSERT_OK(local_ca_open(dir, &cfg, T0 + 31 * DAY, &ca, NULL));
                ASSERT_EQ(count_certs(roots), 1);
                _cleanup_(X509_freep) X509 *r = NULL;
                ASSERT_OK(pki_cert_load(roots, &r));
                ASSERT_EQ(X509_cmp(r, root2), 0);
        }

        rm_rf(dir);
}

TEST(damaged_issuing_is_replaced) {
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *ic = path_in(dir, "issuing-cert.pem"), *rc = path_in(dir, "root-cert.pem");
        _cleanup_(X509_freep) X509 *root1 = NULL, *root2 = NULL;

        {
                _cleanup_(local_ca_freep) LocalCA *ca = NULL;
                ASSERT_EQ(local_ca_open(dir, NULL, T0, &ca, NULL), 1);
                ASSERT_OK(pki_cert_load(rc, &root1));
        }
        FILE *f = fopen(ic, "we");
        ASSERT_NOT_NULL(f);
        fputs("garbage\n", f);
        fclose(f);
        {
                _cleanup_(local_ca_freep) LocalCA *ca = NULL;
                ASSERT_EQ(local_ca_open(dir, NULL, T0 + 1, &ca, NULL), 1);
                ASSERT_OK(pki_cert_load(rc, &root2));
                ASSERT_EQ(X509_cmp(root1, root2), 0);
                _cleanup_(X509_freep) X509 *iss = NULL;
                ASSERT_OK(pki_cert_load(ic, &iss));
        }
        rm_rf(dir);
}

static int concurrent_child(const char *cadir, int gate_fd, int results_fd) {
        _cleanup_(local_ca_freep) LocalCA *ca = NULL;
        _cleanup_free_ char *rc = path_in(cadir, "root-cert.pem"), *ic = path_in(cadir, "issuing-cert.pem");
        _cleanup_(X509_freep) X509 *root = NULL, *iss = NULL;
        char c, line[256], rt[65], it[65];

        if (read(gate_fd, &c, 1) < 0) /* all start together: the parent closes the gate */
                return 4;
        int r = local_ca_open(cadir, NULL, T0, &ca, NULL);
        if (r < 0 || pki_cert_load(rc, &root) < 0 || pki_cert_load(ic, &iss) < 0 ||
            pki_cert_thumbprint_sha256(root, rt) < 0 || pki_cert_thumbprint_sha256(iss, it) < 0)
                return 2;
        int n = snprintf(line, sizeof(line), "%d %s %s\n", r, rt, it);
        if (write(results_fd, line, (size_t) n) != n)
                return 3;
        return 0;
}

TEST(concurrent_open) {
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *cadir = path_in(dir, "ca");
        int results[2], gate[2];
        pid_t pids[4];

        ASSERT_OK(pipe2(results, O_CLOEXEC));
        ASSERT_OK(pipe2(gate, O_CLOEXEC));

        for (size_t i = 0; i < ELEMENTSOF(pids); i++) {
                pids[i] = fork();
                ASSERT_TRUE(pids[i] >= 0);
                if (pids[i] == 0) {
                        close(gate[1]);
                        close(results[0]);
                        int code = concurrent_child(cadir, gate[0], results[1]);
                        free(cadir);
                        free(dir);
                        _exit(code);
                }
        }
        close(gate[0]);
        close(results[1]);
        close(gate[1]); /* go */

        for (size_t i = 0; i < ELEMENTSOF(pids); i++) {
                int status;
                ASSERT_EQ(waitpid(pids[i], &status, 0), pids[i]);
                ASSERT_TRUE(WIFEXITED(status));
                ASSERT_EQ(WEXITSTATUS(status), 0);
        }

        char buf[4096] = {};
        size_t got = 0;
        for (;;) {
                ssize_t n = read(results[0], buf + got, sizeof(buf) - 1 - got);
                ASSERT_TRUE(n >= 0);
                if (n == 0)
                        break;
                got += (size_t) n;
        }
        close(results[0]);

        _cleanup_strv_free_ char **lines = NULL;
        ASSERT_OK(strv_split(buf, "\n", &lines));
        ASSERT_EQ(strv_length(lines), 4);
        unsigned created = 0;
        for (size_t i = 0; i < 4; i++) {
                ASSERT_EQ(strlen(lines[i]), 2 + 64 + 1 + 64);
                if (lines[i][0] == '1')
                        created++;
                else
                        ASSERT_EQ(lines[i][0], '0');
                ASSERT_STREQ(lines[i] + 2, lines[0] + 2); /* same root and issuing CA everywhere */
        }
        ASSERT_EQ(created, 1);

        /* Nothing was made twice: no archived predecessors. */
        _cleanup_free_ char *archive = path_in(cadir, "archive");
        ASSERT_TRUE(access(archive, F_OK) < 0);

        rm_rf(dir);
}

/* Hex of a certificate's serial number; the caller frees. */
static char *serial_hex(X509 *x) {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        ASSERT_NOT_NULL(bn);
        char *h = BN_bn2hex(bn);
        ASSERT_NOT_NULL(h);
        BN_free(bn);
        char *copy = strdup(h);
        OPENSSL_free(h);
        ASSERT_NOT_NULL(copy);
        return copy;
}

#define SIGNS_PER_CHILD 10

/* Signs SIGNS_PER_CHILD requests at "now", after the gate opens, with a CA opened before; writes
 * "<serial> <issuing CA thumbprint>" per certificate. Exit status 0 when every certificate verified. */
static int signing_child(const char *cadir, int64_t now, int gate_fd, int results_fd) {
        _cleanup_(local_ca_freep) LocalCA *ca = NULL;
        X509_REQ *reqs[SIGNS_PER_CHILD];
        char c;

        if (local_ca_open(cadir, NULL, T0, &ca, NULL) != 0)
                return 2;
        for (size_t i = 0; i < ELEMENTSOF(reqs); i++)
                reqs[i] = make_csr("concurrent.example.com");
        if (read(gate_fd, &c, 1) < 0)
                return 4;

        for (size_t i = 0; i < ELEMENTSOF(reqs); i++) {
                _cleanup_(X509_freep) X509 *x = NULL;
                _cleanup_(pki_chain_freep) STACK_OF(X509) *chain = NULL, *inter = NULL;
                _cleanup_free_ char *serial = NULL;
                char line[256], it[65];

                if (local_ca_sign(ca, reqs[i], now, 30 * DAY, &x, &chain, NULL) < 0)
                        return 5;
                X509_REQ_free(reqs[i]);
                inter = intermediate_only(chain);
                if (!verify_at(x, inter, local_ca_roots_path(ca), now + DAY))
                        return 6;
                serial = serial_hex(x);
                if (pki_cert_thumbprint_sha256(sk_X509_value(chain, 0), it) < 0)
                        return 7;
                int n = snprintf(line, sizeof(line), "%s %s\n", serial, it);
                if (write(results_fd, line, (size_t) n) != n) /* one line < PIPE_BUF: never interleaved */
                        return 3;
        }
        return 0;
}

static unsigned count_archived(const char *archive, const char *suffix) {
        DIR *d = opendir(archive);
        unsigned n = 0;

        if (!d)
                return 0;
        for (struct dirent *de = readdir(d); de; de = readdir(d))
                if (startswith(de->d_name, "issuing-") && endswith(de->d_name, suffix))
                        n++;
        closedir(d);
        return n;
}

/* Two processes hold the CA and sign at once, at a time when the issuing CA is due for renewal:
 * exactly one renews it, both then sign with the new one, and the serial numbers (random, from a
 * CSPRNG state the children inherited from the same parent) never repeat. */
TEST(concurrent_sign) {
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *ic = path_in(dir, "issuing-cert.pem"), *archive = path_in(dir, "archive");
        _cleanup_(X509_freep) X509 *iss_before = NULL, *iss_after = NULL;
        const int64_t later = T0 + 250 * DAY; /* a third of the issuing CA's year is left */
        int results[2], gate[2];
        pid_t pids[2];

        {
                _cleanup_(local_ca_freep) LocalCA *ca = NULL;
                ASSERT_EQ(local_ca_open(dir, NULL, T0, &ca, NULL), 1);
                ASSERT_OK(pki_cert_load(ic, &iss_before));
        }

        ASSERT_OK(pipe2(results, O_CLOEXEC));
        ASSERT_OK(pipe2(gate, O_CLOEXEC));
        for (size_t i = 0; i < ELEMENTSOF(pids); i++) {
                pids[i] = fork();
                ASSERT_TRUE(pids[i] >= 0);
                if (pids[i] == 0) {
                        close(gate[1]);
                        close(results[0]);
                        int code = signing_child(dir, later, gate[0], results[1]);
                        /* _exit() runs no cleanup: free what this frame owns, for leak checkers. */
                        X509_free(iss_before);
                        free(archive);
                        free(ic);
                        free(dir);
                        _exit(code);
                }
        }
        close(gate[0]);
        close(results[1]);
        usleep(100 * 1000); /* let both finish their key generation and block on the gate */
        close(gate[1]);     /* go */

        for (size_t i = 0; i < ELEMENTSOF(pids); i++) {
                int status;
                ASSERT_EQ(waitpid(pids[i], &status, 0), pids[i]);
                ASSERT_TRUE(WIFEXITED(status));
                ASSERT_EQ(WEXITSTATUS(status), 0);
        }

        char buf[8192] = {};
        size_t got = 0;
        for (;;) {
                ssize_t n = read(results[0], buf + got, sizeof(buf) - 1 - got);
                ASSERT_TRUE(n >= 0);
                if (n == 0)
                        break;
                got += (size_t) n;
        }
        close(results[0]);

        char it_after[65];
        ASSERT_OK(pki_cert_load(ic, &iss_after));
        ASSERT_TRUE(X509_cmp(iss_before, iss_after) != 0);
        ASSERT_OK(pki_cert_thumbprint_sha256(iss_after, it_after));

        _cleanup_strv_free_ char **lines = NULL;
        ASSERT_OK(strv_split(buf, "\n", &lines));
        ASSERT_EQ(strv_length(lines), ELEMENTSOF(pids) * SIGNS_PER_CHILD);
        for (size_t i = 0; lines[i]; i++) {
                char *sp = strchr(lines[i], ' ');
                ASSERT_NOT_NULL(sp);
                ASSERT_STREQ(sp + 1, it_after); /* everyone signed with the one new issuing CA */
                for (size_t j = 0; j < i; j++)
                        ASSERT_FALSE(strneq(lines[i], lines[j], (size_t) (sp - lines[i]) + 1));
        }

        /* Renewed once: one predecessor archived. */
        ASSERT_EQ(count_archived(archive, "issuing-cert.pem"), 1);

        rm_rf(dir);
}

/* A lock held elsewhere: a bounded wait ends in -ETIMEDOUT with words; no limit (0) waits. */
TEST(lock_timeout) {
        _cleanup_free_ char *dir = make_tmpdir();
        _cleanup_free_ char *lock = path_in(dir, "lock");
        _cleanup_free_ char *err = NULL;
        LocalCAConfig cfg = { .lock_timeout = 1 };

        {
                _cleanup_(local_ca_freep) LocalCA *ca = NULL;
                ASSERT_EQ(local_ca_open(dir, &cfg, T0, &ca, NULL), 1);
        }

        /* Another open file description conflicts even within this process. */
        int fd = open(lock, O_RDWR | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_OK(flock(fd, LOCK_EX));

        LocalCA *none = NULL;
        usec_t t = now_usec(CLOCK_MONOTONIC);
        ASSERT_ERROR(local_ca_open(dir, &cfg, T0, &none, &err), ETIMEDOUT);
        t = now_usec(CLOCK_MONOTONIC) - t;
        ASSERT_TRUE(t >= USEC_PER_SEC && t < 5 * USEC_PER_SEC);
        ASSERT_NULL(none);
        ASSERT_NOT_NULL(err);
        ASSERT_TRUE(strstr(err, lock));

        LocalCAConfig bad = { .lock_timeout = -1 };
        ASSERT_ERROR(local_ca_open(dir, &bad, T0, &none, NULL), EINVAL);

        ASSERT_OK(flock(fd, LOCK_UN));
        close(fd);
        {
                _cleanup_(local_ca_freep) LocalCA *ca = NULL;
                ASSERT_EQ(local_ca_open(dir, &cfg, T0, &ca, NULL), 0);
        }

        rm_rf(dir);
}

/* local_ca_roots() and the get0 accessors follow renewals, current root first. */
TEST(roots_and_accessors) {
        _cleanup_free_ char *dir = make_tmpdir();
        LocalCAConfig cfg = { .root_lifetime = 30 * DAY, .issuing_lifetime = 15 * DAY };
        _cleanup_(local_ca_freep) LocalCA *ca = NULL, *ca2 = NULL;
        _cleanup_(pki_chain_freep) STACK_OF(X509) *r1 = NULL, *r2 = NULL;
        _cleanup_free_ char *rc = path_in(dir, "root-cert.pem"), *ic = path_in(dir, "issuing-cert.pem");
        _cleanup_(X509_freep) X509 *root = NULL, *iss = NULL;

        ASSERT_NULL(local_ca_get0_root(NULL));
        ASSERT_NULL(local_ca_get0_issuing(NULL));
        ASSERT_ERROR(local_ca_roots(NULL, &r1), EINVAL);

        ASSERT_EQ(local_ca_open(dir, &cfg, T0, &ca, NULL), 1);
        ASSERT_OK(pki_cert_load(rc, &root));
        ASSERT_OK(pki_cert_load(ic, &iss));
        ASSERT_EQ(X509_cmp(local_ca_get0_root(ca), root), 0);
        ASSERT_EQ(X509_cmp(local_ca_get0_issuing(ca), iss), 0);
        ASSERT_OK(local_ca_roots(ca, &r1));
        ASSERT_EQ(sk_X509_num(r1), 1);
        ASSERT_EQ(X509_cmp(sk_X509_value(r1, 0), root), 0);

        /* Day 21: a new root; the old one is still trusted, listed second. */
        ASSERT_EQ(local_ca_open(dir, &cfg, T0 + 21 * DAY, &ca2, NULL), 1);
        ASSERT_OK(local_ca_roots(ca2, &r2));
        ASSERT_EQ(sk_X509_num(r2), 2);
        ASSERT_EQ(X509_cmp(sk_X509_value(r2, 0), local_ca_get0_root(ca2)), 0);
        ASSERT_EQ(X509_cmp(sk_X509_value(r2, 1), root), 0);
        ASSERT_TRUE(X509_cmp(local_ca_get0_root(ca2), root) != 0);
        ASSERT_EQ(count_certs(local_ca_roots_path(ca2)), 2);

        rm_rf(dir);
}

TEST_MAIN();
