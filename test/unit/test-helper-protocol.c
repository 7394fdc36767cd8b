/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "helper-protocol.h"
#include "pki-cert.h"
#include "pki-csr.h"
#include "pki-key.h"
#include "pki-sign.h"
#include "process-util.h"
#include "string-util.h"
#include "tests.h"

static const int64_t T0 = 1767225600; /* 2026-01-01 00:00:00 UTC */

DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAMES *, GENERAL_NAMES_free);

static const char *data_dir(void) {
        const char *d = getenv("TEST_DATA_DIR");
        return d ? d : "test/data";
}

static char *read_data(const char *name, size_t *ret_len) {
        _cleanup_free_ char *path = strjoin(data_dir(), "/", name);
        ASSERT_NOT_NULL(path);
        FILE *f = fopen(path, "re");
        ASSERT_NOT_NULL(f);
        char *buf = malloc(1 << 20);
        ASSERT_NOT_NULL(buf);
        size_t n = fread(buf, 1, (1 << 20) - 1, f);
        fclose(f);
        buf[n] = '\0';
        if (ret_len)
                *ret_len = n;
        return buf;
}

/* The value of NAME in an environment, or NULL. */
static const char *env_get(char **env, const char *name) {
        size_t n = strlen(name);

        STRV_FOREACH(e, env)
                if (strneq(*e, name, n) && (*e)[n] == '=')
                        return *e + n + 1;
        return NULL;
}

/* True if s is valid UTF-8 and has no control characters. */
static bool is_one_printable_line(const char *s) {
        const unsigned char *p = (const unsigned char *) s;

        for (size_t i = 0; p[i];) {
                if (p[i] < 0x20 || p[i] == 0x7f)
                        return false;
                if (p[i] < 0x80) {
                        i++;
                        continue;
                }
                size_t n = p[i] >= 0xf0 ? 4 : p[i] >= 0xe0 ? 3 : p[i] >= 0xc2 ? 2 : 0;
                if (n == 0)
                        return false;
                for (size_t k = 1; k < n; k++)
                        if ((p[i + k] & 0xc0) != 0x80)
                                return false;
                i += n;
        }
        return true;
}

/* ---- names ---- */

TEST(op_strings) {
        ASSERT_STREQ(helper_op_to_string(HELPER_SUBMIT), "SUBMIT");
        ASSERT_STREQ(helper_op_to_string(HELPER_POLL), "POLL");
        ASSERT_STREQ(helper_op_to_string(HELPER_IDENTIFY), "IDENTIFY");
        ASSERT_STREQ(helper_op_to_string(HELPER_FETCH_ROOTS), "FETCH-ROOTS");
        ASSERT_STREQ(helper_op_to_string(HELPER_GET_NEW_REQUEST_REQUIREMENTS), "GET-NEW-REQUEST-REQUIREMENTS");
        ASSERT_STREQ(helper_op_to_string(HELPER_GET_RENEW_REQUEST_REQUIREMENTS), "GET-RENEW-REQUEST-REQUIREMENTS");
        ASSERT_STREQ(helper_op_to_string(HELPER_GET_SUPPORTED_TEMPLATES), "GET-SUPPORTED-TEMPLATES");
        ASSERT_STREQ(helper_op_to_string(HELPER_GET_DEFAULT_TEMPLATE), "GET-DEFAULT-TEMPLATE");
        ASSERT_NULL(helper_op_to_string(_HELPER_OP_MAX));
        ASSERT_NULL(helper_op_to_string(_HELPER_OP_INVALID));

        for (HelperOp op = 0; op < _HELPER_OP_MAX; op++)
                ASSERT_EQ(helper_op_from_string(helper_op_to_string(op)), op);
        ASSERT_EQ(helper_op_from_string("submit"), _HELPER_OP_INVALID);
        ASSERT_EQ(helper_op_from_string("FETCH-SCEP-CA-CAPS"), _HELPER_OP_INVALID);
        ASSERT_EQ(helper_op_from_string(""), _HELPER_OP_INVALID);
        ASSERT_EQ(helper_op_from_string(NULL), _HELPER_OP_INVALID);
}

TEST(result_strings) {
        ASSERT_STREQ(helper_result_to_string(HELPER_ISSUED), "issued");
        ASSERT_STREQ(helper_result_to_string(HELPER_WAIT), "waiting");
        ASSERT_STREQ(helper_result_to_string(HELPER_REJECTED), "rejected");
        ASSERT_STREQ(helper_result_to_string(HELPER_UNREACHABLE), "unreachable");
        ASSERT_STREQ(helper_result_to_string(HELPER_UNCONFIGURED), "unconfigured");
        ASSERT_STREQ(helper_result_to_string(HELPER_UNSUPPORTED), "unsupported");
        ASSERT_STREQ(helper_result_to_string(HELPER_NEED_REKEY), "rekey");
        ASSERT_STREQ(helper_result_to_string(HELPER_GUIDANCE), "guidance");
        ASSERT_NULL(helper_result_to_string(_HELPER_RESULT_MAX));
}

/* ---- environment ---- */

static char *csr_for(KeyType kt, unsigned bits, const CertTemplate *t, EVP_PKEY **ret_key) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        char *pem = NULL;

        ASSERT_OK(pki_key_generate(kt, bits, &k));
        ASSERT_OK(pki_csr_build(k, t, NULL, &req, NULL));
        ASSERT_OK(pki_csr_to_pem(req, &pem));
        if (ret_key)
                *ret_key = TAKE_PTR(k);
        return pem;
}

static char *spki_base64(EVP_PKEY *k) {
        unsigned char *der = NULL;
        int n = i2d_PUBKEY(k, &der);
        char *b;

        ASSERT_TRUE(n > 0);
        b = malloc(4 * ((size_t) n / 3 + 1) + 1);
        ASSERT_NOT_NULL(b);
        ASSERT_TRUE(EVP_EncodeBlock((unsigned char *) b, der, n) > 0);
        OPENSSL_free(der);
        return b;
}

TEST(env_submit_every_san) {
        _cleanup_(cert_template_done) CertTemplate t = { .path_len = -1 };
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_free_ char *csr = NULL, *spki = NULL, *leaf = NULL, *err = NULL;
        _cleanup_strv_free_ char **env = NULL;
        HelperRequest req;

        t.subject = strdup("CN=web.example.com,O=Example\\, Inc");
        ASSERT_OK(strv_extend(&t.dns, "web.example.com"));
        ASSERT_OK(strv_extend(&t.dns, "*.example.com"));
        ASSERT_OK(strv_extend(&t.ip, "192.0.2.1"));
        ASSERT_OK(strv_extend(&t.ip, "2001:db8::1"));
        ASSERT_OK(strv_extend(&t.email, "admin@example.com"));
        ASSERT_OK(strv_extend(&t.email, "ops@example.com"));
        ASSERT_OK(strv_extend(&t.principal, "host/web.example.com@EXAMPLE.COM"));
        ASSERT_OK(strv_extend(&t.principal, "HTTP/web.example.com@EXAMPLE.COM"));
        t.profile = strdup("WebServer");
        csr = csr_for(KEY_TYPE_EC, 256, &t, &k);
        spki = spki_base64(k);
        leaf = read_data("pki-leaf.pem", NULL);

        req = (HelperRequest) {
                .op = HELPER_SUBMIT,
                .ca_nickname = "IPA",
                .csr_pem = csr,
                .cert_pem = leaf,
                .profile = "caIPAserviceCert",
                .issuer = "ipa",
                .home = "/run/certkeeper",
        };
        ASSERT_OK(helper_env(&req, &env, &err));
        ASSERT_NULL(err);

        ASSERT_STREQ(env_get(env, "PATH"), "/usr/bin:/bin:/usr/sbin:/sbin");
        ASSERT_STREQ(env_get(env, "HOME"), "/run/certkeeper");
        ASSERT_STREQ(env_get(env, "TMPDIR"), "/run/certkeeper");
        ASSERT_STREQ(env_get(env, "SHELL"), "/bin/sh");
        ASSERT_STREQ(env_get(env, "TERM"), "dumb");
        ASSERT_STREQ(env_get(env, "LANG"), "C.UTF-8");
        ASSERT_STREQ(env_get(env, "CERTMONGER_OPERATION"), "SUBMIT");
        ASSERT_STREQ(env_get(env, "CERTMONGER_CA_NICKNAME"), "IPA");
        ASSERT_STREQ(env_get(env, "CERTMONGER_CSR"), csr);
        ASSERT_NULL(env_get(env, "CERTMONGER_CA_COOKIE"));
        ASSERT_STREQ(env_get(env, "CERTMONGER_CERTIFICATE"), leaf);
        ASSERT_STREQ(env_get(env, "CERTMONGER_REQ_SUBJECT"), "CN=web.example.com,O=Example\\, Inc");
        ASSERT_STREQ(env_get(env, "CERTMONGER_REQ_HOSTNAME"), "web.example.com\n*.example.com");
        ASSERT_STREQ(env_get(env, "CERTMONGER_REQ_EMAIL"), "admin@example.com\nops@example.com");
        /* Each principal is in the CSR twice (UPN and KRB5PrincipalName): listed once. */
        ASSERT_STREQ(env_get(env, "CERTMONGER_REQ_PRINCIPAL"),
                     "host/web.example.com@EXAMPLE.COM\nHTTP/web.example.com@EXAMPLE.COM");
        ASSERT_STREQ(env_get(env, "CERTMONGER_REQ_IP_ADDRESS"), "192.0.2.1\n2001:db8::1");
        ASSERT_STREQ(env_get(env, "CERTMONGER_CA_PROFILE"), "caIPAserviceCert");
        ASSERT_STREQ(env_get(env, "CERTMONGER_CA_ISSUER"), "ipa");
        ASSERT_STREQ(env_get(env, "CERTMONGER_SPKI"), spki);
        ASSERT_STREQ(env_get(env, "CERTMONGER_KEY_TYPE"), "EC");
        ASSERT_EQ(strv_length(env), 19);

        /* The CSR is passed in one variable only. */
        STRV_FOREACH(e, env)
                if (strstr(*e, "CERTIFICATE REQUEST"))
                        ASSERT_TRUE(startswith(*e, "CERTMONGER_CSR="));

        /* The same order as certmonger documents: the base first, then the operation. */
        ASSERT_TRUE(startswith(env[0], "PATH="));
        ASSERT_TRUE(startswith(env[6], "CERTMONGER_OPERATION="));
}

TEST(env_poll_and_key_types) {
        _cleanup_(cert_template_done) CertTemplate t = { .path_len = -1 };
        _cleanup_free_ char *rsa = NULL, *ed = NULL, *err = NULL;
        _cleanup_strv_free_ char **env = NULL, **env2 = NULL;

        t.subject = strdup("CN=only-subject");
        rsa = csr_for(KEY_TYPE_RSA, 2048, &t, NULL);
        ed = csr_for(KEY_TYPE_ED25519, 0, &t, NULL);

        ASSERT_OK(helper_env(&(HelperRequest) { .op = HELPER_POLL, .csr_pem = rsa, .cookie = "abc\ndef" }, &env,
                             NULL));
        ASSERT_STREQ(env_get(env, "CERTMONGER_OPERATION"), "POLL");
        ASSERT_STREQ(env_get(env, "CERTMONGER_CA_COOKIE"), "abc\ndef");
        ASSERT_STREQ(env_get(env, "CERTMONGER_KEY_TYPE"), "RSA");
        ASSERT_STREQ(env_get(env, "CERTMONGER_REQ_SUBJECT"), "CN=only-subject");
        ASSERT_STREQ(env_get(env, "HOME"), "/");
        ASSERT_STREQ(env_get(env, "TMPDIR"), "/");
        /* Nothing the request does not have. */
        ASSERT_NULL(env_get(env, "CERTMONGER_CA_NICKNAME"));
        ASSERT_NULL(env_get(env, "CERTMONGER_REQ_HOSTNAME"));
        ASSERT_NULL(env_get(env, "CERTMONGER_REQ_EMAIL"));
        ASSERT_NULL(env_get(env, "CERTMONGER_REQ_PRINCIPAL"));
        ASSERT_NULL(env_get(env, "CERTMONGER_REQ_IP_ADDRESS"));
        ASSERT_NULL(env_get(env, "CERTMONGER_CA_PROFILE"));
        ASSERT_NULL(env_get(env, "CERTMONGER_CA_ISSUER"));
        ASSERT_NULL(env_get(env, "CERTMONGER_CERTIFICATE"));
        ASSERT_NOT_NULL(env_get(env, "CERTMONGER_SPKI"));

        /* An empty cookie (exit 1 with no output) is still passed. */
        ASSERT_OK(helper_env(&(HelperRequest) { .op = HELPER_POLL, .csr_pem = ed, .cookie = "" }, &env2, NULL));
        ASSERT_STREQ(env_get(env2, "CERTMONGER_CA_COOKIE"), "");
        ASSERT_STREQ(env_get(env2, "CERTMONGER_KEY_TYPE"), "ED25519");

        ASSERT_ERROR(helper_env(&(HelperRequest) { .op = HELPER_POLL, .csr_pem = ed }, &env2, &err), EINVAL);
        ASSERT_TRUE(strstr(err, "cookie"));
        ASSERT_ERROR(helper_env(&(HelperRequest) { .op = HELPER_SUBMIT }, &env2, &err), EINVAL);
        ASSERT_TRUE(strstr(err, "signing request"));
        ASSERT_ERROR(helper_env(&(HelperRequest) { .op = _HELPER_OP_MAX }, &env2, NULL), EINVAL);
        /* Not written on failure. */
        ASSERT_STREQ(env_get(env2, "CERTMONGER_KEY_TYPE"), "ED25519");
}

TEST(env_data_ops) {
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *joined = NULL;

        /* A CA-data operation gets no request variables, even when given some. */
        ASSERT_OK(helper_env(&(HelperRequest) { .op = HELPER_FETCH_ROOTS, .ca_nickname = "Local", .csr_pem = "junk",
                                                .profile = "x", .home = "/run/x" },
                             &env, NULL));
        joined = strv_join(env, "|");
        ASSERT_STREQ(joined, "PATH=/usr/bin:/bin:/usr/sbin:/sbin|HOME=/run/x|TMPDIR=/run/x|SHELL=/bin/sh|TERM=dumb|"
                             "LANG=C.UTF-8|CERTMONGER_OPERATION=FETCH-ROOTS|CERTMONGER_CA_NICKNAME=Local");
}

TEST(env_bad_csr) {
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_free_ char *err = NULL;

        ASSERT_ERROR(helper_env(&(HelperRequest) { .op = HELPER_SUBMIT, .csr_pem = "not a CSR" }, &env, &err),
                     EBADMSG);
        ASSERT_STREQ(err, "The certificate signing request is not a PEM PKCS#10 request.");
        ASSERT_NULL(env);
        ASSERT_ERROR(helper_env(&(HelperRequest) { .op = HELPER_SUBMIT,
                                                   .csr_pem = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                                                              "-----END CERTIFICATE REQUEST-----\n" },
                                &env, NULL),
                     EBADMSG);
}

/* A CSR with exactly the given SAN, made by hand (pki_csr_build() refuses the odd ones). */
static char *csr_with_san(GENERAL_NAMES *gens) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        STACK_OF(X509_EXTENSION) *exts = NULL;
        X509_EXTENSION *ext;
        char *pem = NULL;

        ASSERT_OK(pki_key_generate(KEY_TYPE_EC, 256, &k));
        req = X509_REQ_new();
        ASSERT_NOT_NULL(req);
        ASSERT_TRUE(X509_REQ_set_version(req, 0));
        ASSERT_TRUE(X509_REQ_set_pubkey(req, k));
        ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens);
        ASSERT_NOT_NULL(ext);
        exts = sk_X509_EXTENSION_new_null();
        ASSERT_NOT_NULL(exts);
        ASSERT_TRUE(sk_X509_EXTENSION_push(exts, ext) > 0);
        ASSERT_TRUE(X509_REQ_add_extensions(req, exts));
        sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
        ASSERT_TRUE(X509_REQ_sign(req, k, EVP_sha256()) > 0);
        ASSERT_OK(pki_csr_to_pem(req, &pem));
        return pem;
}

static void gens_add_ia5(GENERAL_NAMES *gens, int type, const char *s, size_t len) {
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_IA5STRING *v = ASN1_IA5STRING_new();

        ASSERT_TRUE(g && v && ASN1_STRING_set(v, s, (int) len));
        GENERAL_NAME_set0_value(g, type, v);
        ASSERT_TRUE(sk_GENERAL_NAME_push(gens, g) > 0);
}

static void gens_add_othername(GENERAL_NAMES *gens, const char *oid, int type, const void *data, size_t len) {
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_TYPE *value = ASN1_TYPE_new();
        ASN1_STRING *s = ASN1_STRING_type_new(type);
        ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);

        ASSERT_TRUE(g && value && s && o && ASN1_STRING_set(s, data, (int) len));
        ASN1_TYPE_set(value, type, s);
        ASSERT_TRUE(GENERAL_NAME_set0_othername(g, o, value));
        ASSERT_TRUE(sk_GENERAL_NAME_push(gens, g) > 0);
}

TEST(env_principal_encodings) {
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *upn_only = GENERAL_NAMES_new(), *krb5_only = GENERAL_NAMES_new();
        _cleanup_free_ char *csr1 = NULL, *csr2 = NULL;
        _cleanup_free_ unsigned char *der = NULL;
        _cleanup_strv_free_ char **env1 = NULL, **env2 = NULL;
        size_t derlen = 0;

        /* Microsoft's UPN (UTF8String) alone. */
        gens_add_othername(upn_only, PKI_OID_MS_UPN, V_ASN1_UTF8STRING, "alice@EXAMPLE.COM", 17);
        gens_add_ia5(upn_only, GEN_EMAIL, "alice@example.com", 17);
        csr1 = csr_with_san(upn_only);
        ASSERT_OK(helper_env(&(HelperRequest) { .op = HELPER_SUBMIT, .csr_pem = csr1 }, &env1, NULL));
        ASSERT_STREQ(env_get(env1, "CERTMONGER_REQ_PRINCIPAL"), "alice@EXAMPLE.COM");
        ASSERT_STREQ(env_get(env1, "CERTMONGER_REQ_EMAIL"), "alice@example.com");
        /* No subject: unset. */
        ASSERT_NULL(env_get(env1, "CERTMONGER_REQ_SUBJECT"));

        /* RFC 4556 KRB5PrincipalName alone, with an escaped '/' in a component. */
        ASSERT_OK(pki_krb5_principal_to_der("HTTP/a\\/b.example.com@EXAMPLE.COM", &der, &derlen));
        gens_add_othername(krb5_only, PKI_OID_KRB5_PRINCIPAL_NAME, V_ASN1_SEQUENCE, der, derlen);
        csr2 = csr_with_san(krb5_only);
        ASSERT_OK(helper_env(&(HelperRequest) { .op = HELPER_SUBMIT, .csr_pem = csr2 }, &env2, NULL));
        ASSERT_STREQ(env_get(env2, "CERTMONGER_REQ_PRINCIPAL"), "HTTP/a\\/b.example.com@EXAMPLE.COM");
}

TEST(env_refuses_forged_lines) {
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *gens = GENERAL_NAMES_new(), *gens2 = GENERAL_NAMES_new();
        _cleanup_free_ char *csr = NULL, *csr2 = NULL, *err = NULL;
        _cleanup_strv_free_ char **env = NULL;

        /* A DNS name with a newline would add a name the CSR does not have to the list. */
        gens_add_ia5(gens, GEN_DNS, "good.example.com\nevil.example.com", 33);
        csr = csr_with_san(gens);
        ASSERT_ERROR(helper_env(&(HelperRequest) { .op = HELPER_SUBMIT, .csr_pem = csr }, &env, &err), EBADMSG);
        ASSERT_STREQ(err, "The request's DNS name contains a control character.");

        gens_add_ia5(gens2, GEN_DNS, "a\0b", 3);
        csr2 = csr_with_san(gens2);
        ASSERT_ERROR(helper_env(&(HelperRequest) { .op = HELPER_SUBMIT, .csr_pem = csr2 }, &env, NULL), EBADMSG);
        ASSERT_NULL(env);
}

/* ---- SUBMIT / POLL outcomes ---- */

static HelperRun run_exit(int status, const char *out, const char *err) {
        return (HelperRun) {
                .program = "test-helper",
                .exit_status = status,
                .out = out,
                .out_len = out ? strlen(out) : 0,
                .err = err,
                .err_len = err ? strlen(err) : 0,
                .timeout_sec = 30,
        };
}

static void outcome(const HelperRun *run, HelperOutcome *o) {
        ASSERT_OK(helper_submit_outcome(run, o));
        ASSERT_NOT_NULL(o->message);
        ASSERT_TRUE(is_one_printable_line(o->message));
        ASSERT_TRUE(startswith(o->message, "CA helper '"));
}

TEST(issued_pem_with_noise) {
        _cleanup_free_ char *leaf = read_data("pki-leaf.pem", NULL), *out = NULL;
        _cleanup_(helper_outcome_done) HelperOutcome o = {};
        HelperRun run;

        out = strjoin("Submitting to https://ca.example.com/ ...\nRequest 42 approved.\n\n", leaf,
                      "\nDone; see you next year.\n");
        run = run_exit(0, out, "some warning on stderr\n");
        outcome(&run, &o);
        ASSERT_EQ(o.result, HELPER_ISSUED);
        ASSERT_STREQ(o.cert_pem, leaf);
        ASSERT_NULL(o.cookie);
        /* stderr is quoted (for the history), never stdout, which held the certificate. */
        ASSERT_STREQ(o.message, "CA helper 'test-helper' issued the certificate. Helper output: \"some warning on "
                                "stderr\"");
}

TEST(issued_der) {
        size_t len = 0;
        _cleanup_free_ char *der = read_data("pki-leaf.der", &len), *leaf = read_data("pki-leaf.pem", NULL);
        _cleanup_(helper_outcome_done) HelperOutcome o = {};
        HelperRun run = run_exit(0, NULL, NULL);

        run.out = der;
        run.out_len = len;
        outcome(&run, &o);
        ASSERT_EQ(o.result, HELPER_ISSUED);
        ASSERT_STREQ(o.cert_pem, leaf);
}

TEST(issued_pkcs7) {
        size_t len = 0;
        _cleanup_free_ char *p7 = read_data("pki-chain.p7b", NULL), *p7der = read_data("pki-chain.p7b.der", &len),
                            *leaf = read_data("pki-leaf.pem", NULL), *root = read_data("pki-root.pem", NULL),
                            *both = NULL, *noisy = NULL;
        _cleanup_(helper_outcome_done) HelperOutcome o = {}, o2 = {};
        HelperRun run;

        /* The leaf first, though the PKCS#7 set holds the root first. */
        both = strjoin(leaf, root);
        noisy = strjoin("certificate follows\r\n", p7, "\r\n");
        run = run_exit(0, noisy, NULL);
        outcome(&run, &o);
        ASSERT_EQ(o.result, HELPER_ISSUED);
        ASSERT_STREQ(o.cert_pem, both);

        run = run_exit(0, NULL, NULL);
        run.out = p7der;
        run.out_len = len;
        outcome(&run, &o2);
        ASSERT_EQ(o2.result, HELPER_ISSUED);
        ASSERT_STREQ(o2.cert_pem, both);
}

TEST(exit_zero_without_certificate) {
        _cleanup_(helper_outcome_done) HelperOutcome o = {}, o2 = {}, o3 = {};
        _cleanup_free_ char *key = read_data("pki-leaf.key", NULL);
        HelperRun run;

        run = run_exit(0, "Thank you for your order.\n", NULL);
        outcome(&run, &o);
        ASSERT_EQ(o.result, HELPER_GUIDANCE);
        ASSERT_NULL(o.cert_pem);
        ASSERT_STREQ(o.message, "CA helper 'test-helper' exited 0 but printed no certificate: check that the helper "
                                "prints the certificate (PEM, DER or PKCS#7) on standard output. Helper output: "
                                "\"Thank you for your order.\"");

        run = run_exit(0, "", "");
        outcome(&run, &o2);
        ASSERT_EQ(o2.result, HELPER_GUIDANCE);
        ASSERT_FALSE(strstr(o2.message, "Helper output"));

        /* A PEM block that is not a certificate, with the output cut at the cap. */
        run = run_exit(0, key, NULL);
        run.out_truncated = true;
        outcome(&run, &o3);
        ASSERT_EQ(o3.result, HELPER_GUIDANCE);
        ASSERT_TRUE(strstr(o3.message, "exited 0 but printed no certificate: its output was cut off"));
        /* Never a private key in a message. */
        ASSERT_TRUE(endswith(o3.message, "Helper output: \"(withheld: it holds a private key)\""));
        ASSERT_FALSE(strstr(o3.message, "MIG"));
}

TEST(exit_zero_garbage) {
        static const char garbage[] = "\x30\x82\xff\xff\x01\x02garbage\x00\xfe\xff";
        _cleanup_(helper_outcome_done) HelperOutcome o = {};
        HelperRun run = run_exit(0, NULL, NULL);

        run.out = garbage;
        run.out_len = sizeof(garbage) - 1;
        outcome(&run, &o);
        ASSERT_EQ(o.result, HELPER_GUIDANCE);
        ASSERT_TRUE(strstr(o.message, "exited 0 but printed no certificate"));
        /* Binary made printable: invalid bytes as '?', the control bytes as spaces. */
        ASSERT_TRUE(strstr(o.message, "Helper output: \"0??? garbage ??\""));
}

TEST(exit_1_wait) {
        _cleanup_(helper_outcome_done) HelperOutcome o = {}, o2 = {};
        HelperRun run;

        run = run_exit(1, "  request-4711\r\n", NULL);
        outcome(&run, &o);
        ASSERT_EQ(o.result, HELPER_WAIT);
        ASSERT_STREQ(o.cookie, "request-4711");
        ASSERT_EQ(o.delay, -1);
        ASSERT_STREQ(o.message, "CA helper 'test-helper' exited with status 1 (waiting): the CA has not issued the "
                                "certificate yet; nothing to do, the CA will be asked again later.");

        /* No cookie at all, and words on stderr. */
        run = run_exit(1, "", "pending approval\n");
        outcome(&run, &o2);
        ASSERT_EQ(o2.result, HELPER_WAIT);
        ASSERT_STREQ(o2.cookie, "");
        ASSERT_TRUE(endswith(o2.message, "Helper output: \"pending approval\""));
}

TEST(exit_1_nul_cookie) {
        _cleanup_(helper_outcome_done) HelperOutcome o = {};
        HelperRun run = run_exit(1, NULL, NULL);

        run.out = "ab\0cd";
        run.out_len = 5;
        outcome(&run, &o);
        ASSERT_EQ(o.result, HELPER_GUIDANCE);
        ASSERT_NULL(o.cookie);
        ASSERT_TRUE(strstr(o.message, "NUL"));
}

TEST(exit_5_wait_with_delay) {
        _cleanup_(helper_outcome_done) HelperOutcome o = {}, o2 = {}, o3 = {};
        HelperRun run;

        run = run_exit(5, "3600\nticket 99\n", NULL);
        outcome(&run, &o);
        ASSERT_EQ(o.result, HELPER_WAIT);
        ASSERT_EQ(o.delay, 3600);
        ASSERT_STREQ(o.cookie, "ticket 99");
        ASSERT_STREQ(o.message, "CA helper 'test-helper' exited with status 5 (waiting): the CA asked to be asked "
                                "again in 3600 s; nothing to do.");

        run = run_exit(5, " 60 \r\nmulti\r\nline cookie\r\n", NULL);
        outcome(&run, &o2);
        ASSERT_EQ(o2.result, HELPER_WAIT);
        ASSERT_EQ(o2.delay, 60);
        ASSERT_STREQ(o2.cookie, "multi\r\nline cookie");

        /* The largest delay that fits; what to do with it is the caller's business. */
        {
                _cleanup_(helper_outcome_done) HelperOutcome big = {};

                run = run_exit(5, "9223372036854775807\nc", NULL);
                outcome(&run, &big);
                ASSERT_EQ(big.result, HELPER_WAIT);
                ASSERT_TRUE(big.delay == INT64_MAX);
        }

        /* No cookie line. */
        run = run_exit(5, "1", NULL);
        outcome(&run, &o3);
        ASSERT_EQ(o3.result, HELPER_WAIT);
        ASSERT_EQ(o3.delay, 1);
        ASSERT_STREQ(o3.cookie, "");
}

TEST(exit_5_bad_delays) {
        static const struct {
                const char *out;
                const char *quoted;
        } bad[] = {
                { "abc\ncookie", "'abc'" },
                { "", "''" },
                { "\ncookie", "''" },
                { "-5\ncookie", "'-5'" },
                { "+5\ncookie", "'+5'" },
                { "0\ncookie", "'0'" },
                { "5s\ncookie", "'5s'" },
                { "1.5\ncookie", "'1.5'" },
                { "99999999999999999999\ncookie", "'99999999999999999999'" },
                { "9223372036854775808\ncookie", "'9223372036854775808'" },
                { "1 2\ncookie", "'1 2'" },
                { "0x10\ncookie", "'0x10'" },
                { "\x1b[31m5\ncookie", "'[31m5'" },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(helper_outcome_done) HelperOutcome o = {};
                _cleanup_free_ char *expect = NULL;
                HelperRun run = run_exit(5, bad[i].out, NULL);

                outcome(&run, &o);
                ASSERT_EQ(o.result, HELPER_GUIDANCE);
                ASSERT_NULL(o.cookie);
                expect = strjoin("CA helper 'test-helper' exited with status 5 (waiting): its first line ",
                                 bad[i].quoted,
                                 " is not a positive number of seconds; fix the helper to print SECONDS, a newline "
                                 "and the cookie.");
                ASSERT_STREQ(o.message, expect);
        }
}

TEST(exit_codes) {
        static const struct {
                int status;
                HelperResult result;
                const char *event;
        } table[] = {
                { 2, HELPER_REJECTED, "exited with status 2 (rejected): the CA refused the request" },
                { 3, HELPER_UNREACHABLE, "exited with status 3 (CA unreachable): the helper could not reach the CA" },
                { 4, HELPER_UNCONFIGURED, "exited with status 4 (under-configured)" },
                { 6, HELPER_UNSUPPORTED, "exited with status 6 (operation not supported)" },
                { 16, HELPER_GUIDANCE, "exited with status 16 (needs SCEP data)" },
                { 17, HELPER_NEED_REKEY, "exited with status 17 (needs a new key)" },
                { 7, HELPER_GUIDANCE, "exited with status 7: the helper protocol does not define this status" },
                { 127, HELPER_GUIDANCE, "exited with status 127:" },
                { 255, HELPER_GUIDANCE, "exited with status 255:" },
        };

        for (size_t i = 0; i < ELEMENTSOF(table); i++) {
                _cleanup_(helper_outcome_done) HelperOutcome o = {};
                HelperRun run = run_exit(table[i].status, "stdout words\n", NULL);

                outcome(&run, &o);
                ASSERT_EQ(o.result, table[i].result);
                ASSERT_TRUE(strstr(o.message, table[i].event));
                /* Without stderr, stdout is quoted. */
                ASSERT_TRUE(endswith(o.message, " Helper output: \"stdout words\""));
                ASSERT_NULL(o.cert_pem);
                ASSERT_NULL(o.cookie);
        }
}

TEST(exit_2_full_message) {
        _cleanup_(helper_outcome_done) HelperOutcome o = {};
        HelperRun run = run_exit(2, "ignored stdout", "Error 403:\n\tRequest denied by policy 'servers'.\n");

        run.program = "/usr/libexec/certmonger/ipa-submit";
        outcome(&run, &o);
        ASSERT_EQ(o.result, HELPER_REJECTED);
        ASSERT_STREQ(o.message, "CA helper '/usr/libexec/certmonger/ipa-submit' exited with status 2 (rejected): the CA "
                                "refused the request; correct the request or the CA's policy, then resubmit. Helper "
                                "output: \"Error 403: Request denied by policy 'servers'.\"");
}

TEST(signal_timeout_exec_errors) {
        _cleanup_(helper_outcome_done) HelperOutcome a = {}, b = {}, c = {}, d = {}, e = {}, f = {};
        HelperRun run;

        run = run_exit(0, "", "");
        run.signaled = true;
        run.term_signal = SIGSEGV;
        outcome(&run, &a);
        ASSERT_EQ(a.result, HELPER_GUIDANCE);
        ASSERT_STREQ(a.message, "CA helper 'test-helper' was killed by signal SIGSEGV: the helper crashed or was "
                                "stopped; check it.");

        run = run_exit(0, "partial output", NULL);
        run.signaled = true;
        run.term_signal = SIGTERM;
        run.timed_out = true;
        outcome(&run, &b);
        ASSERT_EQ(b.result, HELPER_UNREACHABLE);
        ASSERT_STREQ(b.message, "CA helper 'test-helper' did not finish within 30 s and was killed: the CA may be slow "
                                "or unreachable; it will be tried again. Helper output: \"partial output\"");

        /* It exited 0 in time, but left a process holding its output: still a timeout. */
        run = run_exit(0, "", NULL);
        run.timed_out = true;
        outcome(&run, &c);
        ASSERT_EQ(c.result, HELPER_UNREACHABLE);
        ASSERT_TRUE(strstr(c.message, "kept its output open for more than 30 s"));

        run = (HelperRun) { .program = "/opt/ca/missing", .exec_error = -ENOENT };
        outcome(&run, &d);
        ASSERT_EQ(d.result, HELPER_GUIDANCE);
        ASSERT_STREQ(d.message, "CA helper '/opt/ca/missing' cannot be run: No such file or directory; check the CA's "
                                "helper command (modify-ca -e).");

        run = (HelperRun) { .program = "/opt/ca/noexec", .exec_error = -EACCES };
        outcome(&run, &e);
        ASSERT_EQ(e.result, HELPER_GUIDANCE);
        ASSERT_TRUE(strstr(e.message, "cannot be run: Permission denied"));

        run = run_exit(0, "", NULL);
        run.signaled = true;
        run.term_signal = 77; /* no name */
        outcome(&run, &f);
        ASSERT_TRUE(strstr(f.message, "was killed by signal 77"));
}

TEST(message_hygiene) {
        _cleanup_(helper_outcome_done) HelperOutcome a = {}, b = {}, c = {}, d = {};
        _cleanup_free_ char *big = NULL, *accents = NULL;
        const char *q;
        HelperRun run;

        /* Control characters, escapes, CR, bidi overrides, line separators and bad UTF-8 never reach the
         * message; whitespace runs collapse to one space. */
        run = run_exit(2, NULL, "line one\r\nline\ttwo\x1b[2J\x07 \xe2\x80\xae" "reversed \xe2\x80\xa8 \xc3\x28 ok\n");
        run.program = "evil\nname";
        outcome(&run, &a);
        ASSERT_TRUE(strstr(a.message, "CA helper 'evil name' "));
        ASSERT_TRUE(endswith(a.message, "Helper output: \"line one line two [2J ?reversed ? ?( ok\""));

        /* Long text: about 400 bytes kept, the cut noted. */
        big = malloc(5001);
        ASSERT_NOT_NULL(big);
        memset(big, 'x', 5000);
        big[5000] = '\0';
        run = run_exit(3, NULL, big);
        outcome(&run, &b);
        q = strstr(b.message, "Helper output: \"");
        ASSERT_NOT_NULL(q);
        ASSERT_TRUE(endswith(b.message, "...\" (truncated)"));
        ASSERT_EQ(strspn(q + 16, "x"), 400);
        ASSERT_TRUE(strlen(b.message) < 700);

        /* Multi-byte characters are not cut in the middle. */
        accents = malloc(2 * 300 + 1);
        ASSERT_NOT_NULL(accents);
        for (size_t i = 0; i < 300; i++)
                memcpy(accents + 2 * i, "\xc3\xa9", 2);
        accents[600] = '\0';
        run = run_exit(4, NULL, accents);
        outcome(&run, &c);
        q = strstr(c.message, "Helper output: \"");
        ASSERT_NOT_NULL(q);
        ASSERT_TRUE(startswith(strchr(q + 16, '.'), "...\" (truncated)"));
        ASSERT_EQ((size_t) (strchr(q + 16, '.') - (q + 16)), 400);

        /* Short text whose source was cut by the output cap: noted too. stderr that is only whitespace
         * gives way to stdout. */
        run = run_exit(2, "short", " \n\t ");
        run.out_truncated = true;
        outcome(&run, &d);
        ASSERT_TRUE(endswith(d.message, "Helper output: \"short...\" (truncated)"));
}

TEST(outcome_arguments) {
        HelperOutcome o = {};
        HelperRun run = run_exit(0, "", NULL);

        ASSERT_ERROR(helper_submit_outcome(NULL, &o), EINVAL);
        ASSERT_ERROR(helper_submit_outcome(&run, NULL), EINVAL);
        /* out may be NULL. */
        run.out = NULL;
        ASSERT_OK(helper_submit_outcome(&run, &o));
        ASSERT_EQ(o.result, HELPER_GUIDANCE);
        helper_outcome_done(&o);
        ASSERT_NULL(o.message);
        helper_outcome_done(NULL);
}

/* ---- CA-data operations ---- */

TEST(data_error) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;
        char *none = NULL;
        HelperRun run;

        run = run_exit(6, "", NULL);
        ASSERT_ERROR(helper_data_error(HELPER_GET_SUPPORTED_TEMPLATES, &run, &none), EOPNOTSUPP);
        ASSERT_NULL(none);
        run = run_exit(0, "fine", NULL);
        ASSERT_ERROR(helper_data_error(HELPER_IDENTIFY, &run, &none), EINVAL);
        ASSERT_NULL(none);
        ASSERT_ERROR(helper_data_error(_HELPER_OP_MAX, &run, &none), EINVAL);

        run = run_exit(3, "", "connect: Connection refused\n");
        ASSERT_OK(helper_data_error(HELPER_FETCH_ROOTS, &run, &a));
        ASSERT_STREQ(a, "CA helper 'test-helper' (FETCH-ROOTS) exited with status 3 (CA unreachable): check the "
                        "network and the CA; it will be tried again. Helper output: \"connect: Connection refused\"");
        ASSERT_TRUE(is_one_printable_line(a));

        run = run_exit(1, "cookie", NULL);
        ASSERT_OK(helper_data_error(HELPER_IDENTIFY, &run, &b));
        ASSERT_TRUE(strstr(b, "(IDENTIFY) exited with status 1 (waiting)"));
        ASSERT_FALSE(strstr(b, "cookie"));

        run = run_exit(0, "", NULL);
        run.timed_out = true;
        run.signaled = true;
        run.term_signal = SIGKILL;
        ASSERT_OK(helper_data_error(HELPER_GET_DEFAULT_TEMPLATE, &run, &c));
        ASSERT_TRUE(strstr(c, "(GET-DEFAULT-TEMPLATE) did not finish within 30 s and was killed"));

        run = (HelperRun) { .program = "nope", .exec_error = -ENOENT };
        ASSERT_OK(helper_data_error(HELPER_GET_NEW_REQUEST_REQUIREMENTS, &run, &d));
        ASSERT_STREQ(d, "CA helper 'nope' (GET-NEW-REQUEST-REQUIREMENTS) cannot be run: No such file or directory; "
                        "check the CA's helper command (modify-ca -e).");

        run = run_exit(42, "what?", NULL);
        ASSERT_OK(helper_data_error(HELPER_FETCH_ROOTS, &run, &e));
        ASSERT_TRUE(strstr(e, "exited with status 42: the helper protocol does not define this status"));
        ASSERT_TRUE(endswith(e, "Helper output: \"what?\""));
}

/* ---- FETCH-ROOTS ---- */

typedef struct Fixtures {
        char *root;  /* PEM as in test/data, which is what re-encoding gives */
        char *leaf;
        char *other; /* a CA made here, for the middle section */
} Fixtures;

static void fixtures_done(Fixtures *f) {
        free(f->root);
        free(f->leaf);
        free(f->other);
}

static void fixtures_load(Fixtures *f) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
        _cleanup_(X509_freep) X509 *x = NULL;

        f->root = read_data("pki-root.pem", NULL);
        f->leaf = read_data("pki-leaf.pem", NULL);
        ASSERT_OK(pki_key_generate(KEY_TYPE_EC, 256, &k));
        ASSERT_OK(pki_make_ca_cert(k, "CN=Other Root,O=Example", NULL, NULL, -1, T0, T0 + 86400, &x));
        ASSERT_OK(pki_cert_to_pem(x, &f->other, NULL));
}

/* Replaces every "\n" by "\r\n". */
static char *crlf(const char *s) {
        size_t n = 0;
        char *r, *o;

        for (const char *p = s; *p; p++)
                n += *p == '\n' ? 2 : 1;
        r = o = malloc(n + 1);
        ASSERT_NOT_NULL(r);
        for (const char *p = s; *p; p++) {
                if (*p == '\n')
                        *o++ = '\r';
                *o++ = *p;
        }
        *o = '\0';
        return r;
}

TEST(roots_one_section) {
        _cleanup_(fixtures_done) Fixtures f = {};
        _cleanup_(helper_roots_done) HelperRoots r = {};
        _cleanup_free_ char *out = NULL, *pem = NULL;

        fixtures_load(&f);
        out = strjoin("Local Signing Authority\n", f.root);
        ASSERT_OK(helper_parse_roots(out, strlen(out), &r, NULL));
        ASSERT_EQ(r.n_roots, 1);
        ASSERT_EQ(r.n_other_roots, 0);
        ASSERT_EQ(r.n_others, 0);
        ASSERT_STREQ(r.roots[0].nickname, "Local Signing Authority");
        ASSERT_STREQ(r.roots[0].pem, f.root);

        ASSERT_OK(helper_roots_pem(&r, &pem));
        ASSERT_STREQ(pem, f.root);
}

TEST(roots_two_and_three_sections) {
        _cleanup_(fixtures_done) Fixtures f = {};
        _cleanup_(helper_roots_done) HelperRoots two = {}, three = {}, three_crlf = {}, skipped = {};
        _cleanup_free_ char *out2 = NULL, *out3 = NULL, *out3_crlf = NULL, *out_skip = NULL, *pem = NULL,
                            *expect = NULL;

        fixtures_load(&f);

        out2 = strjoin("IPA CA\n", f.root, "\n", "Other\n", f.other);
        ASSERT_OK(helper_parse_roots(out2, strlen(out2), &two, NULL));
        ASSERT_EQ(two.n_roots, 1);
        ASSERT_EQ(two.n_other_roots, 1);
        ASSERT_EQ(two.n_others, 0);
        ASSERT_STREQ(two.roots[0].nickname, "IPA CA");
        ASSERT_STREQ(two.other_roots[0].nickname, "Other");
        ASSERT_STREQ(two.other_roots[0].pem, f.other);
        ASSERT_OK(helper_roots_pem(&two, &pem));
        expect = strjoin(f.root, f.other);
        ASSERT_STREQ(pem, expect);

        /* Three sections, two certificates in the last, trailing blank lines. */
        out3 = strjoin("IPA CA\n", f.root, "\n", "Other\n", f.other, "\n", "Leaf A\n", f.leaf, "Leaf B\n", f.root,
                       "\n\n\n");
        ASSERT_OK(helper_parse_roots(out3, strlen(out3), &three, NULL));
        ASSERT_EQ(three.n_roots, 1);
        ASSERT_EQ(three.n_other_roots, 1);
        ASSERT_EQ(three.n_others, 2);
        ASSERT_STREQ(three.others[0].nickname, "Leaf A");
        ASSERT_STREQ(three.others[0].pem, f.leaf);
        ASSERT_STREQ(three.others[1].nickname, "Leaf B");
        ASSERT_STREQ(three.others[1].pem, f.root);

        /* The same with CRLF line ends: PEM comes back with LF. */
        out3_crlf = crlf(out3);
        ASSERT_OK(helper_parse_roots(out3_crlf, strlen(out3_crlf), &three_crlf, NULL));
        ASSERT_EQ(three_crlf.n_roots, 1);
        ASSERT_EQ(three_crlf.n_other_roots, 1);
        ASSERT_EQ(three_crlf.n_others, 2);
        ASSERT_STREQ(three_crlf.roots[0].nickname, "IPA CA");
        ASSERT_STREQ(three_crlf.roots[0].pem, f.root);
        ASSERT_STREQ(three_crlf.others[1].nickname, "Leaf B");

        /* Two blank lines: no other roots, straight to the chain. */
        out_skip = strjoin("IPA CA\n", f.root, "\n\n", "Chain\n", f.leaf);
        ASSERT_OK(helper_parse_roots(out_skip, strlen(out_skip), &skipped, NULL));
        ASSERT_EQ(skipped.n_roots, 1);
        ASSERT_EQ(skipped.n_other_roots, 0);
        ASSERT_EQ(skipped.n_others, 1);
        ASSERT_STREQ(skipped.others[0].nickname, "Chain");
}

TEST(roots_missing_nicknames) {
        _cleanup_(fixtures_done) Fixtures f = {};
        _cleanup_(helper_roots_done) HelperRoots r = {};
        _cleanup_free_ char *out = NULL;
        _cleanup_free_ char *p7 = read_data("pki-chain.p7b", NULL);

        fixtures_load(&f);
        /* Leading blank lines, no nicknames, a blank line between a nickname and its certificate, and
         * a PKCS#7 block that adds two certificates. */
        out = strjoin("\n\n", f.root, f.other, "\n", "Bundle\n\n", p7);
        ASSERT_OK(helper_parse_roots(out, strlen(out), &r, NULL));
        ASSERT_EQ(r.n_roots, 2);
        ASSERT_STREQ(r.roots[0].nickname, "fixture root CA");
        ASSERT_STREQ(r.roots[1].nickname, "Other Root");
        ASSERT_EQ(r.n_other_roots, 2);
        ASSERT_STREQ(r.other_roots[0].nickname, "Bundle");
        ASSERT_STREQ(r.other_roots[0].pem, f.leaf);
        ASSERT_STREQ(r.other_roots[1].nickname, "fixture root CA");
        ASSERT_STREQ(r.other_roots[1].pem, f.root);
}

TEST(roots_errors) {
        _cleanup_(fixtures_done) Fixtures f = {};
        _cleanup_free_ char *key = read_data("pki-leaf.key", NULL), *a = NULL, *b = NULL, *c = NULL, *d = NULL,
                            *e = NULL, *err = NULL;
        HelperRoots r = { .n_roots = 12345 };

        fixtures_load(&f);

        a = strjoin("Root\nthis is not a certificate\n", f.root);
        ASSERT_ERROR(helper_parse_roots(a, strlen(a), &r, &err), EBADMSG);
        ASSERT_STREQ(err, "Line 2: expected the certificate of 'Root', found more text.");

        b = strjoin("Root\n", key);
        ASSERT_ERROR(helper_parse_roots(b, strlen(b), &r, &err), EBADMSG);
        ASSERT_STREQ(err, "The PEM block ending on line 6 is not a certificate.");

        c = strjoin("Root\n", f.root, "Dangling nickname\n");
        ASSERT_ERROR(helper_parse_roots(c, strlen(c), &r, &err), EBADMSG);
        ASSERT_STREQ(err, "'Dangling nickname' is not followed by a certificate.");

        d = strndup(f.root, strlen(f.root) - 30);
        ASSERT_ERROR(helper_parse_roots(d, strlen(d), &r, &err), EBADMSG);
        ASSERT_STREQ(err, "The PEM block starting on line 1 has no END line.");

        ASSERT_ERROR(helper_parse_roots("", 0, &r, &err), EBADMSG);
        ASSERT_STREQ(err, "No root certificate found.");
        ASSERT_ERROR(helper_parse_roots("\n\n\r\n", 4, &r, NULL), EBADMSG);

        e = strjoin("Root\x01\n", f.root);
        ASSERT_ERROR(helper_parse_roots(e, strlen(e), &r, &err), EBADMSG);
        ASSERT_STREQ(err, "Line 1: the nickname holds control characters.");

        ASSERT_ERROR(helper_parse_roots(NULL, 5, &r, NULL), EINVAL);
        /* Not written on failure. */
        ASSERT_EQ(r.n_roots, 12345);
}

TEST(roots_too_many) {
        _cleanup_(fixtures_done) Fixtures f = {};
        _cleanup_free_ char *err = NULL;
        _cleanup_free_ char *out = NULL;
        HelperRoots r = {};
        size_t n, len;

        fixtures_load(&f);
        len = strlen(f.root);
        n = 257;
        out = malloc(n * len + 1);
        ASSERT_NOT_NULL(out);
        for (size_t i = 0; i < n; i++)
                memcpy(out + i * len, f.root, len);
        out[n * len] = '\0';
        ASSERT_ERROR(helper_parse_roots(out, n * len, &r, &err), E2BIG);
        ASSERT_STREQ(err, "More than 256 certificates.");
}

/* ---- names ---- */

TEST(parse_names) {
        _cleanup_strv_free_ char **a = NULL, **b = NULL, **c = NULL, **d = NULL;
        _cleanup_free_ char *joined = NULL;
        char **none = NULL;

        ASSERT_OK(helper_parse_names("CERTMONGER_REQ_PRINCIPAL,CERTMONGER_REQ_SUBJECT\n", 48, &a));
        ASSERT_EQ(strv_length(a), 2);
        ASSERT_STREQ(a[0], "CERTMONGER_REQ_PRINCIPAL");
        ASSERT_STREQ(a[1], "CERTMONGER_REQ_SUBJECT");

        static const char mixed[] = " caIPAserviceCert , IECUserRoles\r\n\r\n,,\tKDCs_PKINIT_Certs\ncaIPAserviceCert\n"
                                    "Mod\xc3\xa8le serveur\n";
        ASSERT_OK(helper_parse_names(mixed, sizeof(mixed) - 1, &b));
        joined = strv_join(b, "|");
        ASSERT_STREQ(joined, "caIPAserviceCert|IECUserRoles|KDCs_PKINIT_Certs|Mod\xc3\xa8le serveur");

        ASSERT_OK(helper_parse_names("", 0, &c));
        ASSERT_NOT_NULL(c);
        ASSERT_EQ(strv_length(c), 0);
        ASSERT_OK(helper_parse_names(" \n,\r\n", 5, &d));
        ASSERT_EQ(strv_length(d), 0);

        ASSERT_ERROR(helper_parse_names("a\0b", 3, &none), EBADMSG);
        ASSERT_ERROR(helper_parse_names("a\x1b[0mb", 6, &none), EBADMSG);
        ASSERT_ERROR(helper_parse_names("caf\xe9", 4, &none), EBADMSG);
        ASSERT_ERROR(helper_parse_names("a\x7f", 2, &none), EBADMSG);
        ASSERT_ERROR(helper_parse_names(NULL, 1, &none), EINVAL);
        ASSERT_NULL(none);
}

TEST(parse_names_cap) {
        _cleanup_free_ char *out = NULL;
        _cleanup_strv_free_ char **l = NULL;
        char **none = NULL;
        size_t o = 0;

        out = malloc(1100 * 8);
        ASSERT_NOT_NULL(out);
        for (unsigned i = 0; i < 1025; i++)
                o += (size_t) snprintf(out + o, 1100 * 8 - o, "n%u,", i);
        ASSERT_ERROR(helper_parse_names(out, o, &none), E2BIG);
        /* Duplicates do not count. */
        o = 0;
        for (unsigned i = 0; i < 1100; i++)
                o += (size_t) snprintf(out + o, 1100 * 8 - o, "n%u,", i % 3);
        ASSERT_OK(helper_parse_names(out, o, &l));
        ASSERT_EQ(strv_length(l), 3);
}

/* ---- requirements ---- */

TEST(requirements_check) {
        _cleanup_(cert_template_done) CertTemplate t = { .path_len = -1 };
        _cleanup_free_ char *err = NULL;
        char *const ipa[] = { "CERTMONGER_REQ_PRINCIPAL", "certmonger_req_subject", "CERTMONGER_UNKNOWN",
                              "CERTMONGER_REQ_PRINCIPAL", NULL };
        char *const all[] = { "CERTMONGER_CA_PROFILE", "CERTMONGER_REQ_IP_ADDRESS", "CERTMONGER_REQ_EMAIL",
                              "CERTMONGER_REQ_HOSTNAME", "CERTMONGER_REQ_PRINCIPAL", "CERTMONGER_REQ_SUBJECT", NULL };
        char *const unknown[] = { "CERTMONGER_SPKAC", NULL };

        ASSERT_ERROR(helper_requirements_check(ipa, &t, "IPA", &err), EINVAL);
        ASSERT_STREQ(err, "CA 'IPA' requires a subject name (-N) and a Kerberos principal (-K), which the request "
                          "does not have.");

        ASSERT_ERROR(helper_requirements_check(all, NULL, NULL, &err), EINVAL);
        ASSERT_STREQ(err, "The CA requires a subject name (-N), a DNS name (-D), an email address (-E), a Kerberos "
                          "principal (-K), an IP address (-A) and a profile (-T), which the request does not have.");

        t.subject = strdup("CN=host.example.com");
        ASSERT_ERROR(helper_requirements_check(ipa, &t, "IPA", &err), EINVAL);
        ASSERT_STREQ(err, "CA 'IPA' requires a Kerberos principal (-K), which the request does not have.");

        ASSERT_OK(strv_extend(&t.principal, "host/host.example.com@EXAMPLE.COM"));
        free(err);
        err = NULL;
        ASSERT_OK(helper_requirements_check(ipa, &t, "IPA", &err));
        ASSERT_NULL(err);

        ASSERT_OK(strv_extend(&t.dns, "host.example.com"));
        ASSERT_OK(strv_extend(&t.email, "a@example.com"));
        ASSERT_OK(strv_extend(&t.ip, "192.0.2.7"));
        ASSERT_ERROR(helper_requirements_check(all, &t, "x\ny", &err), EINVAL);
        ASSERT_STREQ(err, "CA 'x y' requires a profile (-T), which the request does not have.");
        t.profile = strdup("srv");
        ASSERT_OK(helper_requirements_check(all, &t, "x", NULL));

        ASSERT_OK(helper_requirements_check(unknown, NULL, "x", NULL));
        ASSERT_OK(helper_requirements_check(NULL, NULL, "x", NULL));
}

/* ---- with real processes ---- */

TEST(run_from_spawn) {
        SpawnResult res = {
                .exit_status = 5,
                .output = (char *) "60\nc",
                .output_len = 4,
                .output_truncated = true,
                .err_output = (char *) "e",
                .err_output_len = 1,
        };
        HelperRun run;

        helper_run_from_spawn(0, &res, "prog", 30, &run);
        ASSERT_EQ(run.exit_status, 5);
        ASSERT_EQ(run.exec_error, 0);
        ASSERT_STREQ(run.out, "60\nc");
        ASSERT_EQ(run.out_len, 4);
        ASSERT_TRUE(run.out_truncated);
        ASSERT_STREQ(run.err, "e");
        ASSERT_EQ(run.timeout_sec, 30);
        ASSERT_STREQ(run.program, "prog");

        helper_run_from_spawn(-EACCES, NULL, "prog", 30, &run);
        ASSERT_EQ(run.exec_error, -EACCES);
        ASSERT_STREQ(run.out, "");
        ASSERT_NULL(run.err);
}

TEST(end_to_end) {
        _cleanup_(cert_template_done) CertTemplate t = { .path_len = -1 };
        _cleanup_free_ char *csr = NULL, *leaf_path = strjoin(data_dir(), "/pki-leaf.pem"), *leaf = NULL,
                            *script = NULL;
        _cleanup_strv_free_ char **env = NULL;
        _cleanup_(spawn_result_done) SpawnResult res = {}, res2 = {}, res3 = {};
        _cleanup_(helper_outcome_done) HelperOutcome o = {}, o2 = {}, o3 = {};
        HelperRun run;

        t.subject = strdup("CN=e2e");
        ASSERT_OK(strv_extend(&t.dns, "a.example.com"));
        ASSERT_OK(strv_extend(&t.dns, "b.example.com"));
        csr = csr_for(KEY_TYPE_EC, 256, &t, NULL);
        leaf = read_data("pki-leaf.pem", NULL);
        ASSERT_OK(helper_env(&(HelperRequest) { .op = HELPER_SUBMIT, .ca_nickname = "E2E", .csr_pem = csr }, &env,
                             NULL));

        /* A helper that talks on stderr and prints the certificate with noise around it. */
        script = strjoin("echo \"submitting for $CERTMONGER_CA_NICKNAME\" >&2; echo noise; cat '", leaf_path,
                         "'; echo trailer");
        {
                char *const argv[] = { "sh", "-c", script, NULL };
                SpawnOptions so = { .timeout = 10 * USEC_PER_SEC, .output_cap = 1 << 20, .separate_stderr = true };

                ASSERT_OK(spawn_run_full(argv, env, &so, &res));
        }
        helper_run_from_spawn(0, &res, "sh", 10, &run);
        outcome(&run, &o);
        ASSERT_EQ(o.result, HELPER_ISSUED);
        ASSERT_STREQ(o.cert_pem, leaf);

        /* The environment reaches the helper: the hostnames come back as the cookie. */
        {
                char *const argv[] = { "sh", "-c", "printf '%s\\n' \"$CERTMONGER_REQ_HOSTNAME\"; exit 1", NULL };
                SpawnOptions so = { .timeout = 10 * USEC_PER_SEC, .output_cap = 4096, .separate_stderr = true };

                ASSERT_OK(spawn_run_full(argv, env, &so, &res2));
        }
        helper_run_from_spawn(0, &res2, "sh", 10, &run);
        outcome(&run, &o2);
        ASSERT_EQ(o2.result, HELPER_WAIT);
        ASSERT_STREQ(o2.cookie, "a.example.com\nb.example.com");

        /* A helper that floods stderr: the message stays short. */
        {
                char *const argv[] = { "sh", "-c", "head -c 10000000 /dev/zero | tr '\\000' y >&2; exit 2", NULL };
                SpawnOptions so = { .timeout = 30 * USEC_PER_SEC, .output_cap = 65536, .separate_stderr = true };

                ASSERT_OK(spawn_run_full(argv, env, &so, &res3));
        }
        helper_run_from_spawn(0, &res3, "flood", 30, &run);
        outcome(&run, &o3);
        ASSERT_EQ(o3.result, HELPER_REJECTED);
        ASSERT_TRUE(endswith(o3.message, "...\" (truncated)"));
        ASSERT_TRUE(strlen(o3.message) < 700);
}

TEST_MAIN();
