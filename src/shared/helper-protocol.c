/* SPDX-License-Identifier: MIT */
/* certmonger's CA helper protocol, the pure parts: the environment of a helper run, and the meaning of
 * its exit status and output. Nothing here runs a process, touches a file or logs. */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dynbuf.h"
#include "helper-protocol.h"
#include "parse-util.h"
#include "pki-cert.h"
#include "pki-csr.h"
#include "pki-key.h"
#include "string-util.h"

/* The helper's own words quoted in a message: about this many bytes, cut at a character boundary. */
#define HELPER_TEXT_MAX 400
/* The program name in messages. */
#define HELPER_PROGRAM_MAX 128
/* A bad exit 5 delay quoted in a message. */
#define HELPER_DELAY_TEXT_MAX 40
/* Whole messages: a few short sentences around the two quoted, capped strings above. */
#define HELPER_MESSAGE_MAX 4096
/* FETCH-ROOTS: certificates taken from one run, and the length of a nickname. */
#define HELPER_ROOTS_MAX 256
#define HELPER_NICKNAME_MAX 256
/* GET-* names taken from one run. */
#define HELPER_NAMES_MAX 1024

#define HELPER_PATH "/usr/bin:/bin:/usr/sbin:/sbin"

DEFINE_TRIVIAL_CLEANUP_FUNC(GENERAL_NAMES *, GENERAL_NAMES_free);

static void extension_stack_free(STACK_OF(X509_EXTENSION) *s) {
        sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free);
}
DEFINE_TRIVIAL_CLEANUP_FUNC(STACK_OF(X509_EXTENSION) *, extension_stack_free);

static void openssl_freep(void *p) {
        OPENSSL_free(*(void **) p);
}

/* ---- operation and result names ---- */

static const char *const helper_op_table[_HELPER_OP_MAX] = {
        [HELPER_SUBMIT] = "SUBMIT",
        [HELPER_POLL] = "POLL",
        [HELPER_IDENTIFY] = "IDENTIFY",
        [HELPER_FETCH_ROOTS] = "FETCH-ROOTS",
        [HELPER_GET_NEW_REQUEST_REQUIREMENTS] = "GET-NEW-REQUEST-REQUIREMENTS",
        [HELPER_GET_RENEW_REQUEST_REQUIREMENTS] = "GET-RENEW-REQUEST-REQUIREMENTS",
        [HELPER_GET_SUPPORTED_TEMPLATES] = "GET-SUPPORTED-TEMPLATES",
        [HELPER_GET_DEFAULT_TEMPLATE] = "GET-DEFAULT-TEMPLATE",
};

const char *helper_op_to_string(HelperOp op) {
        if (op < 0 || op >= _HELPER_OP_MAX)
                return NULL;
        return helper_op_table[op];
}

HelperOp helper_op_from_string(const char *s) {
        if (!s)
                return _HELPER_OP_INVALID;
        for (HelperOp op = 0; op < _HELPER_OP_MAX; op++)
                if (streq(helper_op_table[op], s))
                        return op;
        return _HELPER_OP_INVALID;
}

static const char *const helper_result_table[_HELPER_RESULT_MAX] = {
        [HELPER_ISSUED] = "issued",
        [HELPER_WAIT] = "waiting",
        [HELPER_REJECTED] = "rejected",
        [HELPER_UNREACHABLE] = "unreachable",
        [HELPER_UNCONFIGURED] = "unconfigured",
        [HELPER_UNSUPPORTED] = "unsupported",
        [HELPER_NEED_REKEY] = "rekey",
        [HELPER_GUIDANCE] = "guidance",
};

const char *helper_result_to_string(HelperResult r) {
        if ((int) r < 0 || r >= _HELPER_RESULT_MAX)
                return NULL;
        return helper_result_table[r];
}

/* ---- printable text ---- */

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if there is none (overlong forms, surrogates
 * and code points above U+10FFFF are invalid). */
static size_t utf8_sequence_len(const unsigned char *p, size_t left) {
        unsigned char c = p[0];
        size_t n;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                n = 2;
        else if (c >= 0xe0 && c <= 0xef)
                n = 3;
        else if (c >= 0xf0 && c <= 0xf4)
                n = 4;
        else
                return 0;
        if (left < n)
                return 0;
        for (size_t i = 1; i < n; i++)
                if ((p[i] & 0xc0) != 0x80)
                        return 0;
        if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0) || (c == 0xf0 && p[1] < 0x90) ||
            (c == 0xf4 && p[1] >= 0x90))
                return 0;
        return n;
}

/* Characters that would break a one-line message or disguise it: C1 controls, the Unicode line and
 * paragraph separators, and the bidirectional overrides and isolates. */
static bool utf8_is_unwanted(const unsigned char *p, size_t n) {
        if (n == 2)
                return p[0] == 0xc2 && p[1] < 0xa0; /* U+0080-U+009F */
        if (n == 3 && p[0] == 0xe2 && p[1] == 0x80)
                return p[2] >= 0xa8 && p[2] <= 0xae; /* U+2028-U+202E */
        if (n == 3 && p[0] == 0xe2 && p[1] == 0x81)
                return p[2] >= 0xa6 && p[2] <= 0xa9; /* U+2066-U+2069 */
        return false;
}

/* Makes text fit for a one-line message: whitespace and control characters become single spaces,
 * invalid UTF-8 and unwanted characters become '?', leading and trailing spaces go, and the result is
 * cut at a character boundary to at most max bytes (*ret_cut says so). Returns NULL on OOM. */
static char *text_printable(const char *s, size_t len, size_t max, bool *ret_cut) {
        const unsigned char *p = (const unsigned char *) s;
        _cleanup_free_ char *out = NULL;
        size_t o = 0, i = 0;
        bool space = false, cut = false;

        out = malloc(max + 1);
        if (!out)
                return NULL;

        while (i < len) {
                size_t n = utf8_sequence_len(p + i, len - i);
                const char *add;
                size_t k;

                if (n == 1 && (p[i] < 0x20 || p[i] == 0x7f || p[i] == ' ')) {
                        space = o > 0;
                        i++;
                        continue;
                }

                if (n == 0) {
                        add = "?";
                        k = 1;
                        n = 1;
                } else if (utf8_is_unwanted(p + i, n)) {
                        add = "?";
                        k = 1;
                } else {
                        add = (const char *) p + i;
                        k = n;
                }

                if (o + (space ? 1 : 0) + k > max) {
                        cut = true;
                        break;
                }
                if (space) {
                        out[o++] = ' ';
                        space = false;
                }
                memcpy(out + o, add, k);
                o += k;
                i += n;
        }
        out[o] = '\0';

        if (ret_cut)
                *ret_cut = cut;
        return TAKE_PTR(out);
}

/* The program name, printable and short, for messages. */
static char *program_name(const HelperRun *run) {
        const char *p = isempty(run->program) ? "(unnamed)" : run->program;
        _cleanup_free_ char *s = NULL;
        bool cut = false;

        s = text_printable(p, strlen(p), HELPER_PROGRAM_MAX, &cut);
        if (!s)
                return NULL;
        if (cut)
                return strjoin(s, "...");
        return TAKE_PTR(s);
}

/* The helper's own words: stderr if it printed anything there, else stdout (when allowed), printable,
 * capped. *ret is NULL when there are none. */
static int helper_words(const HelperRun *run, bool use_stdout, char **ret) {
        struct {
                const char *s;
                size_t len;
                bool truncated;
        } sources[] = {
                { run->err, run->err ? run->err_len : 0, run->err_truncated },
                { use_stdout ? run->out : NULL, use_stdout && run->out ? run->out_len : 0, run->out_truncated },
        };

        for (size_t k = 0; k < ELEMENTSOF(sources); k++) {
                _cleanup_free_ char *t = NULL;
                bool cut = false;

                if (!sources[k].s || sources[k].len == 0)
                        continue;
                /* ca-error is shown to whoever may list certificates: a helper that prints a key
                 * (by mistake, or a debugging dump) must not have it copied there. */
                if (memmem(sources[k].s, sources[k].len, "PRIVATE KEY", strlen("PRIVATE KEY"))) {
                        *ret = strdup("(withheld: it holds a private key)\"");
                        return *ret ? 0 : -ENOMEM;
                }
                t = text_printable(sources[k].s, sources[k].len, HELPER_TEXT_MAX, &cut);
                if (!t)
                        return -ENOMEM;
                if (isempty(t))
                        continue;
                if (cut || sources[k].truncated) {
                        *ret = strjoin(t, "...\" (truncated)");
                } else
                        *ret = strjoin(t, "\"");
                return *ret ? 0 : -ENOMEM;
        }

        *ret = NULL;
        return 0;
}

/* ---- the environment ---- */

typedef struct CsrFacts {
        char *subject;
        char **dns;
        char **email;
        char **principal;
        char **ip;
        char *spki;           /* base64 DER SubjectPublicKeyInfo */
        const char *key_type; /* NULL if not one we know */
} CsrFacts;

static void csr_facts_done(CsrFacts *f) {
        free(f->subject);
        strv_free(f->dns);
        strv_free(f->email);
        strv_free(f->principal);
        strv_free(f->ip);
        free(f->spki);
        *f = (CsrFacts) {};
}

/* Adds a SAN value once. Values go into newline-separated variables, so one holding a control
 * character (or a NUL) would smuggle in a value the CSR does not have: refused. */
static int san_add(char ***l, const char *what, const void *data, size_t len, char **reterr) {
        _cleanup_free_ char *c = NULL;

        if (!data || len == 0)
                return 0;
        for (size_t i = 0; i < len; i++) {
                unsigned char b = ((const unsigned char *) data)[i];

                if (b < 0x20 || b == 0x7f)
                        return errorf(reterr, -EBADMSG, "The request's %s contains a control character.", what);
        }
        c = strndup(data, len);
        if (!c)
                return -ENOMEM;
        if (strv_contains(*l, c))
                return 0;
        return strv_consume(l, TAKE_PTR(c));
}

/* The subjectAltName of a CSR, sorted into the REQ_* lists. Principals come in both encodings
 * pki_csr_build() writes (MS UPN and KRB5PrincipalName); the same principal is listed once. */
static int csr_read_sans(X509_REQ *req, CsrFacts *f, char **reterr) {
        _cleanup_(extension_stack_freep) STACK_OF(X509_EXTENSION) *exts = NULL;
        _cleanup_(GENERAL_NAMES_freep) GENERAL_NAMES *gens = NULL;
        int crit = -1, r;

        exts = X509_REQ_get_extensions(req);
        ERR_clear_error();
        if (!exts)
                return 0;

        gens = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
        ERR_clear_error();
        if (!gens) {
                if (crit == -1)
                        return 0; /* no SAN */
                return errorf(reterr, -EBADMSG, "The request's subjectAltName extension cannot be parsed.");
        }

        for (int k = 0; k < sk_GENERAL_NAME_num(gens); k++) {
                const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, k);

                switch (g->type) {
                case GEN_DNS:
                        r = san_add(&f->dns, "DNS name", ASN1_STRING_get0_data(g->d.dNSName),
                                    (size_t) ASN1_STRING_length(g->d.dNSName), reterr);
                        break;
                case GEN_EMAIL:
                        r = san_add(&f->email, "email address", ASN1_STRING_get0_data(g->d.rfc822Name),
                                    (size_t) ASN1_STRING_length(g->d.rfc822Name), reterr);
                        break;
                case GEN_IPADD: {
                        char buf[INET6_ADDRSTRLEN];
                        int n = ASN1_STRING_length(g->d.iPAddress);
                        const unsigned char *d = ASN1_STRING_get0_data(g->d.iPAddress);

                        if (!d || (n != 4 && n != 16) || !inet_ntop(n == 4 ? AF_INET : AF_INET6, d, buf, sizeof(buf)))
                                return errorf(reterr, -EBADMSG, "The request holds an IP address of %i bytes.", n);
                        r = san_add(&f->ip, "IP address", buf, strlen(buf), reterr);
                        break;
                }
                case GEN_OTHERNAME: {
                        const OTHERNAME *on = g->d.otherName;
                        char oid[64];

                        r = 0;
                        if (!on || !on->type_id || !on->value)
                                break;
                        if (OBJ_obj2txt(oid, sizeof(oid), on->type_id, 1) <= 0) {
                                ERR_clear_error();
                                break;
                        }
                        if (streq(oid, PKI_OID_MS_UPN) && on->value->type == V_ASN1_UTF8STRING)
                                r = san_add(&f->principal, "Kerberos principal",
                                            ASN1_STRING_get0_data(on->value->value.utf8string),
                                            (size_t) ASN1_STRING_length(on->value->value.utf8string), reterr);
                        else if (streq(oid, PKI_OID_KRB5_PRINCIPAL_NAME) && on->value->type == V_ASN1_SEQUENCE) {
                                _cleanup_free_ char *p = NULL;
                                const ASN1_STRING *seq = on->value->value.sequence;

                                r = pki_krb5_principal_from_der(ASN1_STRING_get0_data(seq),
                                                                (size_t) ASN1_STRING_length(seq), &p);
                                if (r == -ENOMEM)
                                        return r;
                                if (r < 0)
                                        return errorf(reterr, -EBADMSG,
                                                      "The request holds a Kerberos principal name that cannot be parsed.");
                                r = san_add(&f->principal, "Kerberos principal", p, strlen(p), reterr);
                        }
                        /* Other otherNames have no variable. */
                        break;
                }
                default:
                        /* URIs, directory names, ...: no variable either. */
                        r = 0;
                }
                if (r < 0)
                        return r;
        }

        return 0;
}

static int csr_read_key(X509_REQ *req, CsrFacts *f, char **reterr) {
        _cleanup_(openssl_freep) unsigned char *der = NULL;
        X509_PUBKEY *pub = X509_REQ_get_X509_PUBKEY(req);
        ASN1_OBJECT *alg = NULL;
        KeyType t;
        int n;

        if (!pub || !X509_PUBKEY_get0_param(&alg, NULL, NULL, NULL, pub) || !alg) {
                ERR_clear_error();
                return errorf(reterr, -EBADMSG, "The request has no public key.");
        }

        switch (OBJ_obj2nid(alg)) {
        case NID_rsaEncryption:
                t = KEY_TYPE_RSA;
                break;
        case NID_X9_62_id_ecPublicKey:
                t = KEY_TYPE_EC;
                break;
        case NID_ED25519:
                t = KEY_TYPE_ED25519;
                break;
        default:
                t = _KEY_TYPE_INVALID;
        }
        f->key_type = t >= 0 ? key_type_to_string(t) : NULL;

        n = i2d_X509_PUBKEY(pub, &der);
        if (n <= 0) {
                ERR_clear_error();
                return errorf(reterr, -EBADMSG, "The request's public key cannot be encoded.");
        }

        f->spki = malloc(4 * (((size_t) n + 2) / 3) + 1);
        if (!f->spki)
                return -ENOMEM;
        (void) EVP_EncodeBlock((unsigned char *) f->spki, der, n);
        return 0;
}

static int csr_read(const char *csr_pem, CsrFacts *ret, char **reterr) {
        _cleanup_(csr_facts_done) CsrFacts f = {};
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        int r;

        r = pki_csr_from_pem(csr_pem, &req);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return errorf(reterr, -EBADMSG, "The certificate signing request is not a PEM PKCS#10 request.");

        f.subject = pki_name_format(X509_REQ_get_subject_name(req));
        ERR_clear_error();
        if (!f.subject)
                return -ENOMEM;

        r = csr_read_sans(req, &f, reterr);
        if (r < 0)
                return r;

        r = csr_read_key(req, &f, reterr);
        if (r < 0)
                return r;

        *ret = f;
        f = (CsrFacts) {};
        return 0;
}

static int env_add(char ***env, const char *name, const char *value) {
        char *e;

        e = strjoin(name, "=", value);
        if (!e)
                return -ENOMEM;
        return strv_consume(env, e);
}

/* A variable that is only set when it has a value. */
static int env_add_nonempty(char ***env, const char *name, const char *value) {
        if (isempty(value))
                return 0;
        return env_add(env, name, value);
}

static int env_add_list(char ***env, const char *name, char *const *values) {
        _cleanup_free_ char *joined = NULL;

        if (strv_length(values) == 0)
                return 0;
        joined = strv_join(values, "\n");
        if (!joined)
                return -ENOMEM;
        return env_add(env, name, joined);
}

int helper_env(const HelperRequest *req, char ***ret_envp, char **reterr) {
        _cleanup_(csr_facts_done) CsrFacts f = {};
        _cleanup_strv_free_ char **env = NULL;
        const char *home;
        bool request;
        int r;

        if (!req || !ret_envp)
                return -EINVAL;
        if (!helper_op_to_string(req->op))
                return errorf(reterr, -EINVAL, "Unknown helper operation %i.", (int) req->op);

        request = IN_SET(req->op, HELPER_SUBMIT, HELPER_POLL);
        if (request && isempty(req->csr_pem))
                return errorf(reterr, -EINVAL, "%s needs a certificate signing request.", helper_op_to_string(req->op));
        if (req->op == HELPER_POLL && !req->cookie)
                return errorf(reterr, -EINVAL, "POLL needs the cookie of an earlier SUBMIT.");

        if (request) {
                r = csr_read(req->csr_pem, &f, reterr);
                if (r < 0)
                        return r;
        }

        env = calloc(1, sizeof(char *));
        if (!env)
                return -ENOMEM;

        home = isempty(req->home) ? "/" : req->home;
        r = env_add(&env, "PATH", HELPER_PATH);
        if (r >= 0)
                r = env_add(&env, "HOME", home);
        if (r >= 0)
                r = env_add(&env, "TMPDIR", home);
        if (r >= 0)
                r = env_add(&env, "SHELL", "/bin/sh");
        if (r >= 0)
                r = env_add(&env, "TERM", "dumb");
        if (r >= 0)
                r = env_add(&env, "LANG", "C.UTF-8");
        if (r >= 0)
                r = env_add(&env, "CERTMONGER_OPERATION", helper_op_to_string(req->op));
        if (r >= 0)
                r = env_add_nonempty(&env, "CERTMONGER_CA_NICKNAME", req->ca_nickname);
        if (r < 0)
                return r;

        if (request) {
                r = env_add(&env, "CERTMONGER_CSR", req->csr_pem);
                if (r >= 0 && req->op == HELPER_POLL)
                        /* An exit 1 may have given an empty cookie: still set, as it was given. */
                        r = env_add(&env, "CERTMONGER_CA_COOKIE", req->cookie);
                if (r >= 0)
                        r = env_add_nonempty(&env, "CERTMONGER_CERTIFICATE", req->cert_pem);
                if (r >= 0)
                        r = env_add_nonempty(&env, "CERTMONGER_REQ_SUBJECT", f.subject);
                if (r >= 0)
                        r = env_add_list(&env, "CERTMONGER_REQ_HOSTNAME", f.dns);
                if (r >= 0)
                        r = env_add_list(&env, "CERTMONGER_REQ_EMAIL", f.email);
                if (r >= 0)
                        r = env_add_list(&env, "CERTMONGER_REQ_PRINCIPAL", f.principal);
                if (r >= 0)
                        r = env_add_list(&env, "CERTMONGER_REQ_IP_ADDRESS", f.ip);
                if (r >= 0)
                        r = env_add_nonempty(&env, "CERTMONGER_CA_PROFILE", req->profile);
                if (r >= 0)
                        r = env_add_nonempty(&env, "CERTMONGER_CA_ISSUER", req->issuer);
                if (r >= 0)
                        r = env_add_nonempty(&env, "CERTMONGER_SPKAC", req->spkac);
                if (r >= 0)
                        r = env_add_nonempty(&env, "CERTMONGER_SPKI", f.spki);
                if (r >= 0)
                        r = env_add_nonempty(&env, "CERTMONGER_KEY_TYPE", f.key_type);
                if (r < 0)
                        return r;
        }

        *ret_envp = TAKE_PTR(env);
        return 0;
}

/* ---- what a run means ---- */

void helper_run_from_spawn(int spawn_r, const SpawnResult *res, const char *program, int64_t timeout_sec,
                           HelperRun *ret) {
        if (!ret)
                return;

        *ret = (HelperRun) {
                .program = program,
                .timeout_sec = timeout_sec,
                .out = "",
        };
        if (spawn_r < 0 || !res) {
                ret->exec_error = spawn_r < 0 ? spawn_r : -EINVAL;
                return;
        }
        ret->exit_status = res->exit_status;
        ret->term_signal = res->term_signal;
        ret->signaled = res->signaled;
        ret->timed_out = res->timed_out;
        ret->out = res->output ? res->output : "";
        ret->out_len = res->output ? res->output_len : 0;
        ret->out_truncated = res->output_truncated;
        ret->err = res->err_output;
        ret->err_len = res->err_output ? res->err_output_len : 0;
        ret->err_truncated = res->err_output_truncated;
}

void helper_outcome_done(HelperOutcome *o) {
        if (!o)
                return;
        free(o->cert_pem);
        free(o->cookie);
        free(o->message);
        *o = (HelperOutcome) { .delay = -1 };
}

/* certmonger's exit statuses, with what they mean to a request and what the user can do. */
typedef struct ExitMeaning {
        int status;
        HelperResult result;
        const char *label; /* "exited with status N (label)" */
        const char *what;  /* what happened, for a SUBMIT or POLL */
        const char *todo;  /* what to do about it */
} ExitMeaning;

static const ExitMeaning exit_meanings[] = {
        { 1, HELPER_WAIT, "waiting", "the CA has not issued the certificate yet",
          "nothing to do, the CA will be asked again later" },
        { 2, HELPER_REJECTED, "rejected", "the CA refused the request",
          "correct the request or the CA's policy, then resubmit" },
        { 3, HELPER_UNREACHABLE, "CA unreachable", "the helper could not reach the CA",
          "check the network and the CA; it will be tried again" },
        { 4, HELPER_UNCONFIGURED, "under-configured", "the helper lacks configuration or credentials",
          "fix the helper's configuration, then resubmit" },
        { 5, HELPER_WAIT, "waiting", "the CA has not issued the certificate yet",
          "nothing to do, the CA will be asked again later" },
        { 6, HELPER_UNSUPPORTED, "operation not supported", "the helper cannot do this operation",
          "use a helper that can issue certificates for this CA" },
        { 16, HELPER_GUIDANCE, "needs SCEP data", "the helper asked for SCEP messages, which are not supported",
          "use a helper that talks SCEP by itself" },
        { 17, HELPER_NEED_REKEY, "needs a new key", "the CA wants the request made with a new key pair",
          "a new key pair is needed (getcert rekey)" },
};

static const ExitMeaning *exit_meaning(int status) {
        for (size_t i = 0; i < ELEMENTSOF(exit_meanings); i++)
                if (exit_meanings[i].status == status)
                        return exit_meanings + i;
        return NULL;
}

/* Builds "CA helper 'PROG'[ (OP)] <event>[: <rest>]. [Helper output: "<words>"]". The event and the
 * rest are our own words; only the program name and the helper's words are outside input, and both
 * are made printable and capped first. */
static int message_build(const HelperRun *run, const char *op, const char *event, const char *rest,
                         bool words_from_stdout, char **ret) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(HELPER_MESSAGE_MAX);
        _cleanup_free_ char *prog = NULL, *words = NULL;
        int r;

        prog = program_name(run);
        if (!prog)
                return -ENOMEM;
        r = helper_words(run, words_from_stdout, &words);
        if (r < 0)
                return r;

        r = dynbuf_printf(&b, "CA helper '%s'%s%s%s %s%s%s.", prog, op ? " (" : "", strempty(op), op ? ")" : "",
                          event, isempty(rest) ? "" : ": ", strempty(rest));
        if (r >= 0 && words)
                r = dynbuf_printf(&b, " Helper output: \"%s", words);
        if (r < 0)
                return r == -E2BIG ? -EINVAL : r; /* our own words are far below the cap */

        *ret = dynbuf_steal(&b, NULL);
        return *ret ? 0 : -ENOMEM;
}

/* The message for a run that did not simply exit: it could not be started, timed out or was killed
 * by a signal. 0 if the run did simply exit, 1 with *ret set otherwise. */
static int abnormal_end_message(const HelperRun *run, const char *op, char **ret) {
        char event[256];
        const char *rest;
        int r;

        if (run->exec_error != 0) {
                /* The error text already follows a colon: the advice goes after a semicolon. */
                (void) snprintf(event, sizeof(event), "cannot be run: %s; check the CA's helper command (modify-ca -e)",
                                strerror(-run->exec_error));
                rest = NULL;
        } else if (run->timed_out) {
                if (run->signaled && run->timeout_sec > 0)
                        (void) snprintf(event, sizeof(event), "did not finish within %" PRIi64 " s and was killed",
                                        run->timeout_sec);
                else if (run->signaled)
                        (void) snprintf(event, sizeof(event), "did not finish in time and was killed");
                else if (run->timeout_sec > 0)
                        /* It exited, but left something behind holding its output open. */
                        (void) snprintf(event, sizeof(event),
                                        "exited, but what it started kept its output open for more than %" PRIi64
                                        " s and was killed",
                                        run->timeout_sec);
                else
                        (void) snprintf(event, sizeof(event),
                                        "exited, but what it started kept its output open too long and was killed");
                rest = "the CA may be slow or unreachable; it will be tried again";
        } else if (run->signaled) {
                const char *name = sigabbrev_np(run->term_signal);

                if (name)
                        (void) snprintf(event, sizeof(event), "was killed by signal SIG%s", name);
                else
                        (void) snprintf(event, sizeof(event), "was killed by signal %i", run->term_signal);
                rest = "the helper crashed or was stopped; check it";
        } else
                return 0;

        r = message_build(run, op, event, rest, true, ret);
        return r < 0 ? r : 1;
}

/* exit 5: "SECONDS\nCOOKIE". 0 and the delay, or -EBADMSG with the offending first line in
 * *ret_bad (printable, capped). */
static int parse_delay(const char *out, size_t len, int64_t *ret_delay, const char **ret_cookie,
                       size_t *ret_cookie_len, char **ret_bad) {
        const char *nl = memchr(out, '\n', len);
        size_t line_len = nl ? (size_t) (nl - out) : len;
        _cleanup_free_ char *line = NULL;
        uint64_t v = 0;
        int r;

        line = strndup(out, line_len);
        if (!line)
                return -ENOMEM;
        if (strlen(line) != line_len)
                r = -EBADMSG; /* a NUL in it */
        else {
                /* Digits only: safe_atou64() takes no sign and no whitespace inside. */
                r = safe_atou64(strstrip(line), &v);
                if (r >= 0 && (v == 0 || v > INT64_MAX))
                        r = -ERANGE;
        }
        if (r < 0) {
                *ret_bad = text_printable(out, line_len, HELPER_DELAY_TEXT_MAX, NULL);
                return *ret_bad ? -EBADMSG : -ENOMEM;
        }

        *ret_delay = (int64_t) v;
        *ret_cookie = nl ? nl + 1 : out + len;
        *ret_cookie_len = nl ? len - line_len - 1 : 0;
        return 0;
}

/* A cookie: the text trimmed; NULL (and 0) if it holds a NUL and cannot be one. */
static int cookie_from(const char *s, size_t len, char **ret) {
        _cleanup_free_ char *c = NULL;

        c = strndup(s, len);
        if (!c)
                return -ENOMEM;
        if (strlen(c) != len) {
                *ret = NULL;
                return 0;
        }
        strstrip(c);
        *ret = TAKE_PTR(c);
        return 0;
}

static int outcome_issued(const HelperRun *run, const char *out, size_t out_len, HelperOutcome *o) {
        _cleanup_(X509_freep) X509 *leaf = NULL;
        _cleanup_(pki_chain_freep) STACK_OF(X509) *chain = NULL;
        _cleanup_free_ char *leaf_pem = NULL, *chain_pem = NULL;
        int r;

        r = pki_cert_parse(out, out_len, &leaf, &chain);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                char rest[256];

                o->result = HELPER_GUIDANCE;
                (void) snprintf(rest, sizeof(rest),
                                "%scheck that the helper prints the certificate (PEM, DER or PKCS#7) on standard output",
                                run->out_truncated ? "its output was cut off at the size limit; " : "");
                return message_build(run, NULL, "exited 0 but printed no certificate", rest, true, &o->message);
        }

        r = pki_cert_to_pem(leaf, &leaf_pem, NULL);
        if (r < 0)
                return r == -ENOMEM ? r : -EBADMSG;
        r = pki_chain_to_pem(chain, &chain_pem, NULL);
        if (r < 0)
                return r == -ENOMEM ? r : -EBADMSG;
        o->cert_pem = strjoin(leaf_pem, chain_pem);
        if (!o->cert_pem)
                return -ENOMEM;

        o->result = HELPER_ISSUED;
        return message_build(run, NULL, "issued the certificate", NULL, false, &o->message);
}

/* Exit 1 (the whole stdout is the cookie) and exit 5 (a delay line, then the cookie). */
static int outcome_wait(const HelperRun *run, const ExitMeaning *m, const char *event, const char *out,
                        size_t out_len, HelperOutcome *o) {
        _cleanup_free_ char *bad = NULL, *rest = NULL;
        const char *cookie = out;
        size_t cookie_len = out_len;
        int64_t delay = -1;
        int r;

        /* Here stdout is the delay and the cookie, not words for people: only stderr is quoted. */
        if (m->status == 5) {
                r = parse_delay(out, out_len, &delay, &cookie, &cookie_len, &bad);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        rest = strjoin("its first line '", strempty(bad),
                                       "' is not a positive number of seconds; fix the helper to print SECONDS, a "
                                       "newline and the cookie");
                        if (!rest)
                                return -ENOMEM;
                        return message_build(run, NULL, event, rest, false, &o->message);
                }
        }

        r = cookie_from(cookie, cookie_len, &o->cookie);
        if (r < 0)
                return r;
        if (!o->cookie)
                return message_build(run, NULL, event,
                                     "its cookie holds a NUL byte; fix the helper to print a text cookie", false,
                                     &o->message);

        if (delay > 0) {
                char when[64];

                (void) snprintf(when, sizeof(when), "the CA asked to be asked again in %" PRIi64 " s", delay);
                rest = strjoin(when, "; nothing to do");
        } else
                rest = strjoin(m->what, "; ", m->todo);
        if (!rest)
                return -ENOMEM;

        o->result = HELPER_WAIT;
        o->delay = delay;
        return message_build(run, NULL, event, rest, false, &o->message);
}

int helper_submit_outcome(const HelperRun *run, HelperOutcome *ret) {
        _cleanup_(helper_outcome_done) HelperOutcome o = { .result = HELPER_GUIDANCE, .delay = -1 };
        const char *out;
        size_t out_len;
        const ExitMeaning *m;
        char event[256];
        int r;

        if (!run || !ret)
                return -EINVAL;

        out = run->out ? run->out : "";
        out_len = run->out ? run->out_len : 0;

        r = abnormal_end_message(run, NULL, &o.message);
        if (r > 0) {
                /* A timeout is the one abnormal end that is worth retrying. */
                if (run->timed_out && run->exec_error == 0)
                        o.result = HELPER_UNREACHABLE;
        } else if (r == 0 && run->exit_status == 0)
                r = outcome_issued(run, out, out_len, &o);
        else if (r == 0) {
                m = exit_meaning(run->exit_status);
                if (!m) {
                        (void) snprintf(event, sizeof(event), "exited with status %i", run->exit_status);
                        r = message_build(run, NULL, event,
                                          "the helper protocol does not define this status; check the helper", true,
                                          &o.message);
                } else {
                        (void) snprintf(event, sizeof(event), "exited with status %i (%s)", m->status, m->label);
                        if (IN_SET(m->status, 1, 5))
                                r = outcome_wait(run, m, event, out, out_len, &o);
                        else {
                                _cleanup_free_ char *rest = strjoin(m->what, "; ", m->todo);

                                if (!rest)
                                        return -ENOMEM;
                                o.result = m->result;
                                r = message_build(run, NULL, event, rest, true, &o.message);
                        }
                }
        }
        if (r < 0)
                return r;

        *ret = o;
        o = (HelperOutcome) {};
        return 0;
}

int helper_data_error(HelperOp op, const HelperRun *run, char **ret_message) {
        const char *opname = helper_op_to_string(op);
        const ExitMeaning *m;
        char event[256];
        const char *rest;
        int r;

        if (!opname || !run || !ret_message)
                return -EINVAL;

        r = abnormal_end_message(run, opname, ret_message);
        if (r != 0)
                return r < 0 ? r : 0;

        if (run->exit_status == 0)
                return -EINVAL; /* nothing failed */
        if (run->exit_status == 6)
                return -EOPNOTSUPP;

        m = exit_meaning(run->exit_status);
        if (!m) {
                (void) snprintf(event, sizeof(event), "exited with status %i", run->exit_status);
                rest = "the helper protocol does not define this status; check the helper";
        } else {
                (void) snprintf(event, sizeof(event), "exited with status %i (%s)", m->status, m->label);
                switch (m->status) {
                case 1:
                case 5:
                        rest = "the CA's data is not available yet; it will be asked again later";
                        break;
                case 3:
                        rest = m->todo;
                        break;
                default:
                        rest = "check the helper and its configuration";
                }
        }

        return message_build(run, opname, event, rest, !IN_SET(run->exit_status, 1, 5), ret_message);
}

/* ---- FETCH-ROOTS ---- */

static void helper_certs_free(HelperCert *c, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(c[i].nickname);
                free(c[i].pem);
        }
        free(c);
}

void helper_roots_done(HelperRoots *r) {
        if (!r)
                return;
        helper_certs_free(r->roots, r->n_roots);
        helper_certs_free(r->other_roots, r->n_other_roots);
        helper_certs_free(r->others, r->n_others);
        *r = (HelperRoots) {};
}

/* The subject's CN, else the whole subject, for a certificate that came without a nickname. */
static char *cert_default_nickname(X509 *x) {
        const X509_NAME *name = X509_get_subject_name(x);
        _cleanup_(openssl_freep) unsigned char *u = NULL;
        _cleanup_free_ char *s = NULL;
        int idx, n = -1;

        idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
        if (idx >= 0)
                n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
        ERR_clear_error();
        if (n > 0 && u)
                return text_printable((const char *) u, (size_t) n, HELPER_NICKNAME_MAX, NULL);

        s = pki_name_format(name);
        ERR_clear_error();
        if (!s)
                return NULL;
        if (isempty(s))
                return strdup("unnamed certificate");
        return text_printable(s, strlen(s), HELPER_NICKNAME_MAX, NULL);
}

static int roots_add(HelperRoots *roots, unsigned section, char *nickname, char *pem) {
        HelperCert **a;
        size_t *n;
        HelperCert *c;

        if (roots->n_roots + roots->n_other_roots + roots->n_others >= HELPER_ROOTS_MAX) {
                free(nickname);
                free(pem);
                return -E2BIG;
        }

        a = section == 0 ? &roots->roots : section == 1 ? &roots->other_roots : &roots->others;
        n = section == 0 ? &roots->n_roots : section == 1 ? &roots->n_other_roots : &roots->n_others;

        c = reallocarray(*a, *n + 1, sizeof(HelperCert));
        if (!c) {
                free(nickname);
                free(pem);
                return -ENOMEM;
        }
        c[*n] = (HelperCert) { .nickname = nickname, .pem = pem };
        *a = c;
        (*n)++;
        return 0;
}

/* Adds every certificate of one PEM block (one, or several for PKCS#7) to a section; the nickname
 * goes to the first. */
static int roots_add_block(HelperRoots *roots, unsigned section, const char *block, size_t len,
                           const char *nickname, unsigned line, char **reterr) {
        _cleanup_(X509_freep) X509 *leaf = NULL;
        _cleanup_(pki_chain_freep) STACK_OF(X509) *chain = NULL;
        int r;

        r = pki_cert_parse(block, len, &leaf, &chain);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return errorf(reterr, -EBADMSG, "The PEM block ending on line %u is not a certificate.", line);

        for (int i = -1; i < sk_X509_num(chain); i++) {
                X509 *x = i < 0 ? leaf : sk_X509_value(chain, i);
                char *nick = NULL, *pem = NULL;

                r = pki_cert_to_pem(x, &pem, NULL);
                if (r < 0)
                        return r == -ENOMEM ? r
                                            : errorf(reterr, -EBADMSG,
                                                     "The certificate ending on line %u cannot be encoded.", line);
                nick = i < 0 && nickname ? strdup(nickname) : cert_default_nickname(x);
                if (!nick) {
                        free(pem);
                        return -ENOMEM;
                }
                r = roots_add(roots, section, nick, pem);
                if (r == -E2BIG)
                        return errorf(reterr, r, "More than %u certificates.", HELPER_ROOTS_MAX);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Whitespace within a line (strchr() would also match the NUL byte). */
static bool is_blank_char(char c) {
        return IN_SET(c, ' ', '\t', '\r', '\f', '\v');
}

static bool line_is_blank(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!is_blank_char(s[i]))
                        return false;
        return true;
}

int helper_parse_roots(const char *out, size_t len, HelperRoots *ret, char **reterr) {
        _cleanup_(helper_roots_done) HelperRoots roots = {};
        _cleanup_(dynbuf_done) DynBuf block = DYNBUF_INIT(len + 1);
        _cleanup_free_ char *nickname = NULL;
        unsigned section = 0, line = 0, pem_start = 0;
        bool in_pem = false;
        size_t pos = 0;
        int r;

        if ((!out && len > 0) || !ret)
                return -EINVAL;

        while (pos < len) {
                const char *s = out + pos, *nl = memchr(s, '\n', len - pos);
                size_t n = nl ? (size_t) (nl - s) : len - pos;
                const char *t = s;
                size_t tn = n;

                pos += n + (nl ? 1 : 0);
                line++;

                /* CRLF, and spaces around a line, do not matter. */
                while (tn > 0 && is_blank_char(t[tn - 1]))
                        tn--;
                while (tn > 0 && is_blank_char(t[0])) {
                        t++;
                        tn--;
                }

                if (in_pem) {
                        r = dynbuf_append(&block, t, tn);
                        if (r >= 0)
                                r = dynbuf_append(&block, "\n", 1);
                        if (r < 0)
                                return r;
                        if (tn >= 8 && strneq(t, "-----END", 8)) {
                                r = roots_add_block(&roots, section, block.data, block.len, nickname, line, reterr);
                                if (r < 0)
                                        return r;
                                nickname = mfree(nickname);
                                in_pem = false;
                        }
                        continue;
                }

                if (tn >= 10 && strneq(t, "-----BEGIN", 10)) {
                        block.len = 0;
                        r = dynbuf_append(&block, t, tn);
                        if (r >= 0)
                                r = dynbuf_append(&block, "\n", 1);
                        if (r < 0)
                                return r;
                        in_pem = true;
                        pem_start = line;
                        continue;
                }

                if (line_is_blank(t, tn)) {
                        /* A blank line ends a section; blank lines before the first certificate and
                         * between a nickname and its certificate do not count. */
                        if (!nickname && roots.n_roots + roots.n_other_roots + roots.n_others > 0 && section < 2)
                                section++;
                        continue;
                }

                /* Anything else is a nickname, and a certificate must follow it. */
                if (nickname)
                        return errorf(reterr, -EBADMSG,
                                      "Line %u: expected the certificate of '%s', found more text.", line,
                                      nickname);
                if (tn > HELPER_NICKNAME_MAX)
                        return errorf(reterr, -EBADMSG, "Line %u: the nickname is longer than %u bytes.", line,
                                      HELPER_NICKNAME_MAX);
                for (size_t i = 0; i < tn; i++) {
                        unsigned char c = (unsigned char) t[i];

                        if ((c < 0x20 && c != '\t') || c == 0x7f)
                                return errorf(reterr, -EBADMSG, "Line %u: the nickname holds control characters.",
                                              line);
                }
                nickname = text_printable(t, tn, HELPER_NICKNAME_MAX, NULL);
                if (!nickname)
                        return -ENOMEM;
        }

        if (in_pem)
                return errorf(reterr, -EBADMSG, "The PEM block starting on line %u has no END line.", pem_start);
        if (nickname)
                return errorf(reterr, -EBADMSG, "'%s' is not followed by a certificate.", nickname);
        if (roots.n_roots + roots.n_other_roots == 0)
                return errorf(reterr, -EBADMSG, "No root certificate found.");

        *ret = roots;
        roots = (HelperRoots) {};
        return 0;
}

/* Whether pem is one of the first n certificates of l. */
static bool cert_listed(const HelperCert *l, size_t n, const char *pem) {
        for (size_t i = 0; i < n; i++)
                if (streq(l[i].pem, pem))
                        return true;
        return false;
}

int helper_roots_pem(const HelperRoots *r, char **ret) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(SIZE_MAX);
        int k;

        if (!r || !ret)
                return -EINVAL;

        /* Each certificate once: helpers may list the current root among the other roots too
         * (certmonger's reader needs a non-empty section there). */
        for (size_t i = 0; i < r->n_roots + r->n_other_roots; i++) {
                const char *pem = i < r->n_roots ? r->roots[i].pem : r->other_roots[i - r->n_roots].pem;

                if (i < r->n_roots ? cert_listed(r->roots, i, pem)
                                   : cert_listed(r->roots, r->n_roots, pem) ||
                                     cert_listed(r->other_roots, i - r->n_roots, pem))
                        continue;
                k = dynbuf_append(&b, pem, strlen(pem));
                if (k < 0)
                        return k;
        }

        *ret = dynbuf_steal(&b, NULL);
        return *ret ? 0 : -ENOMEM;
}

/* ---- names ---- */

int helper_parse_names(const char *out, size_t len, char ***ret) {
        _cleanup_strv_free_ char **split = NULL, **l = NULL;
        _cleanup_free_ char *copy = NULL;
        const unsigned char *p = (const unsigned char *) out;
        size_t n = 0;
        int r;

        if ((!out && len > 0) || !ret)
                return -EINVAL;

        for (size_t i = 0; i < len;) {
                size_t k = utf8_sequence_len(p + i, len - i);

                if (k == 0 || (k == 1 && ((p[i] < 0x20 && !IN_SET(p[i], '\t', '\r', '\n')) || p[i] == 0x7f)) ||
                    utf8_is_unwanted(p + i, k))
                        return -EBADMSG; /* includes NUL */
                i += k;
        }

        copy = strndup(out ? out : "", len);
        if (!copy)
                return -ENOMEM;
        r = strv_split(copy, ",\r\n", &split);
        if (r < 0)
                return r;

        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;
        STRV_FOREACH(s, split) {
                if (strv_contains(l, *s))
                        continue;
                if (n >= HELPER_NAMES_MAX)
                        return -E2BIG;
                r = strv_extend(&l, *s);
                if (r < 0)
                        return r;
                n++;
        }

        *ret = TAKE_PTR(l);
        return 0;
}

/* ---- requirements ---- */

typedef struct Requirement {
        const char *variable;
        const char *what;
        const char *flag;
        size_t offset; /* of the template field that satisfies it */
        bool is_list;  /* char ** rather than char * */
} Requirement;

static const Requirement requirements[] = {
        { "CERTMONGER_REQ_SUBJECT", "a subject name", "-N", offsetof(CertTemplate, subject), false },
        { "CERTMONGER_REQ_HOSTNAME", "a DNS name", "-D", offsetof(CertTemplate, dns), true },
        { "CERTMONGER_REQ_EMAIL", "an email address", "-E", offsetof(CertTemplate, email), true },
        { "CERTMONGER_REQ_PRINCIPAL", "a Kerberos principal", "-K", offsetof(CertTemplate, principal), true },
        { "CERTMONGER_REQ_IP_ADDRESS", "an IP address", "-A", offsetof(CertTemplate, ip), true },
        { "CERTMONGER_CA_PROFILE", "a profile", "-T", offsetof(CertTemplate, profile), false },
};

static bool requirement_met(const Requirement *req, const CertTemplate *t) {
        const char *base = (const char *) t;

        if (!t)
                return false;
        if (req->is_list)
                return strv_length(*(char **const *) (base + req->offset)) > 0;
        return !isempty(*(const char *const *) (base + req->offset));
}

int helper_requirements_check(char *const *required, const CertTemplate *t, const char *ca_name, char **reterr) {
        bool missing[ELEMENTSOF(requirements)] = {};
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(HELPER_MESSAGE_MAX);
        _cleanup_free_ char *ca = NULL;
        size_t n_missing = 0, k = 0;
        int r;

        STRV_FOREACH(name, required)
                for (size_t i = 0; i < ELEMENTSOF(requirements); i++)
                        /* certmonger matches these names without regard to case. */
                        if (strcasecmp(*name, requirements[i].variable) == 0 && !missing[i] &&
                            !requirement_met(requirements + i, t)) {
                                missing[i] = true;
                                n_missing++;
                        }

        if (n_missing == 0)
                return 0;
        if (!reterr)
                return -EINVAL;

        ca = text_printable(strempty(ca_name), strlen(strempty(ca_name)), HELPER_PROGRAM_MAX, NULL);
        if (!ca)
                return -ENOMEM;

        r = isempty(ca) ? dynbuf_printf(&b, "The CA requires ") : dynbuf_printf(&b, "CA '%s' requires ", ca);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(requirements); i++) {
                if (!missing[i])
                        continue;
                k++;
                r = dynbuf_printf(&b, "%s%s (%s)", k == 1 ? "" : k == n_missing ? " and " : ", ",
                                  requirements[i].what, requirements[i].flag);
        }
        if (r >= 0)
                r = dynbuf_printf(&b, ", which the request does not have.");
        if (r < 0)
                return r == -E2BIG ? -EINVAL : r;

        free(*reterr);
        *reterr = dynbuf_steal(&b, NULL);
        return *reterr ? -EINVAL : -ENOMEM;
}
