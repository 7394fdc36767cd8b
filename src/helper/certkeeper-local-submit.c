/* SPDX-License-Identifier: MIT */
/* certkeeper-local-submit: certkeeper's local CA (src/ca/ca-local.c) as a CA helper speaking
 * certmonger's protocol, so that certmonger (`getcert add-ca -e`) and certkeeper's own EXTERNAL CAs
 * can use it. The operation comes in CERTMONGER_OPERATION, the answer goes to stdout, the outcome
 * is the exit status; man/certkeeper-local-submit.8 is the contract.
 *
 * The answer is built in memory and written only once complete, so stdout never holds half a
 * certificate. For exit statuses 2, 3 and 4 the reason is printed on stdout too, where certmonger
 * takes it as the request's ca-error, and on stderr (the log). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "ca-local.h"
#include "config.h"
#include "dynbuf.h"
#include "fs-util.h"
#include "log.h"
#include "parse-util.h"
#include "pki-cert.h"
#include "pki-csr.h"
#include "string-util.h"

/* certmonger's exit statuses (reference: certmonger doc/submit.txt). */
enum {
        EXIT_ISSUED = 0,
        EXIT_REJECTED = 2,
        EXIT_UNREACHABLE = 3,
        EXIT_UNCONFIGURED = 4,
        EXIT_UNSUPPORTED = 6,
};

/* The daemon's defaults (certkeeperd-config.c: [local] validity = 1y, root_lifetime = 10y,
 * issuing_lifetime = 2y, a year being 365 days there), so that a CA this program creates or renews
 * is the CA the daemon would have made. */
#define YEAR ((int64_t) 365 * 86400)
#define DEFAULT_VALIDITY (1 * YEAR)
#define DEFAULT_ROOT_LIFETIME (10 * YEAR)
#define DEFAULT_ISSUING_LIFETIME (2 * YEAR)
/* The same bounds as the daemon's [local] validity. */
#define VALIDITY_MIN ((int64_t) 60)
#define VALIDITY_MAX ((int64_t) 20 * 366 * 86400)
/* certmonger waits for a helper without limit: never wait for ever on a lock ourselves. */
#define DEFAULT_LOCK_TIMEOUT ((int64_t) 30)
#define LOCK_TIMEOUT_MAX ((int64_t) 3600)

#define CSR_MAX (256U * 1024U)        /* a PEM request; certmonger's are a few KiB */
#define OUTPUT_MAX (1024U * 1024U)    /* certificates on stdout */
#define NICKNAME_MAX 128

typedef enum Operation {
        OP_SUBMIT,
        OP_POLL,
        OP_IDENTIFY,
        OP_FETCH_ROOTS,
        OP_GET_NEW_REQUEST_REQUIREMENTS,
        OP_GET_RENEW_REQUEST_REQUIREMENTS,
        _OP_MAX,
        _OP_INVALID = -EINVAL,
} Operation;

static const char *const operation_table[_OP_MAX] = {
        [OP_SUBMIT] = "SUBMIT",
        [OP_POLL] = "POLL",
        [OP_IDENTIFY] = "IDENTIFY",
        [OP_FETCH_ROOTS] = "FETCH-ROOTS",
        [OP_GET_NEW_REQUEST_REQUIREMENTS] = "GET-NEW-REQUEST-REQUIREMENTS",
        [OP_GET_RENEW_REQUEST_REQUIREMENTS] = "GET-RENEW-REQUEST-REQUIREMENTS",
};

/* Case-insensitive, as certmonger's own helpers compare. Unset or empty means SUBMIT (certmonger's
 * advice to helper writers). Everything else, GET-SUPPORTED-TEMPLATES and GET-DEFAULT-TEMPLATE
 * included, is not ours: _OP_INVALID. */
static Operation operation_from_string(const char *s) {
        if (isempty(s))
                return OP_SUBMIT;
        for (size_t i = 0; i < ELEMENTSOF(operation_table); i++)
                if (strcasecmp(s, operation_table[i]) == 0)
                        return (Operation) i;
        return _OP_INVALID;
}

static const char *arg_dir = NULL;
static int64_t arg_validity = DEFAULT_VALIDITY;
static int64_t arg_lock_timeout = DEFAULT_LOCK_TIMEOUT;
static const char *arg_csr_file = NULL;

static int write_all(int fd, const char *data, size_t len) {
        while (len > 0) {
                ssize_t n = write(fd, data, len);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                data += n;
                len -= (size_t) n;
        }
        return 0;
}

/* Logs the reason on stderr and prints it on stdout for certmonger's ca-error; returns status.
 * error (a negative errno or 0) is what %m prints. */
static int fail(int status, int error, const char *fmt, ...) _printf_(3, 4);
static int fail(int status, int error, const char *fmt, ...) {
        char buf[1024];
        va_list ap;
        int n;

        errno = abs(error);
        va_start(ap, fmt);
        n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return status;
        n = MIN(n, (int) sizeof(buf) - 2);

        log_error("%s", buf);
        buf[n] = '\n';
        (void) write_all(STDOUT_FILENO, buf, (size_t) n + 1);
        return status;
}

static void help(void) {
        printf("Usage: certkeeper-local-submit [-d DIR] [-V SECONDS] [-w SECONDS] [CSR-FILE]\n\n"
               "certkeeper's local CA as a CA helper in certmonger's protocol: the operation comes\n"
               "in $CERTMONGER_OPERATION (SUBMIT when unset), the request in $CERTMONGER_CSR or in\n"
               "CSR-FILE, the answer goes to stdout.\n\n"
               "  -d, --directory=DIR      the local CA's directory (default: %s/local-ca,\n"
               "                           or $CERTKEEPER_STATE_DIR/local-ca)\n"
               "  -V, --validity=SECONDS   lifetime of issued certificates (default 1 year; suffixes\n"
               "                           y M w d h m s accepted)\n"
               "  -w, --lock-timeout=SECONDS  wait at most this long for the CA's lock (default %" PRIi64 ")\n"
               "  -h, --help               this text\n\n"
               "Exit status: 0 done, 2 request rejected, 3 CA unreachable (try again later),\n"
               "4 not configured or bad request, 6 operation not supported.\n"
               "See certkeeper-local-submit(8).\n",
               DEFAULT_STATE_DIR, DEFAULT_LOCK_TIMEOUT);
}

/* 1: go on, 0: exit 0 (help was printed), -EINVAL: exit 4 (the reason was printed). */
static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                { "directory", required_argument, NULL, 'd' },
                { "validity", required_argument, NULL, 'V' },
                { "lock-timeout", required_argument, NULL, 'w' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        int c, r;

        opterr = 0;
        while ((c = getopt_long(argc, argv, ":d:V:w:h", options, NULL)) >= 0) {
                switch (c) {
                case 'd':
                        if (isempty(optarg)) {
                                (void) fail(EXIT_UNCONFIGURED, 0, "The CA directory given with -d is empty.");
                                return -EINVAL;
                        }
                        arg_dir = optarg;
                        break;
                case 'V':
                        r = parse_duration_sec(optarg, &arg_validity);
                        if (r < 0 || arg_validity < VALIDITY_MIN || arg_validity > VALIDITY_MAX) {
                                (void) fail(EXIT_UNCONFIGURED, 0,
                                            "Invalid validity '%s': give seconds (or 90d, 1y, ...) from %" PRIi64
                                            " s to 20 years.",
                                            optarg, VALIDITY_MIN);
                                return -EINVAL;
                        }
                        break;
                case 'w':
                        r = parse_duration_sec(optarg, &arg_lock_timeout);
                        if (r < 0 || arg_lock_timeout < 1 || arg_lock_timeout > LOCK_TIMEOUT_MAX) {
                                (void) fail(EXIT_UNCONFIGURED, 0,
                                            "Invalid lock timeout '%s': give seconds from 1 to %" PRIi64 ".", optarg,
                                            LOCK_TIMEOUT_MAX);
                                return -EINVAL;
                        }
                        break;
                case 'h':
                        help();
                        return 0;
                case ':':
                        (void) fail(EXIT_UNCONFIGURED, 0, "Option '%s' needs a value.", argv[optind - 1]);
                        return -EINVAL;
                default:
                        (void) fail(EXIT_UNCONFIGURED, 0, "Unknown option '%s' (see --help).", argv[optind - 1]);
                        return -EINVAL;
                }
        }

        if (optind < argc)
                arg_csr_file = argv[optind++];
        if (optind < argc) {
                (void) fail(EXIT_UNCONFIGURED, 0, "Unexpected argument '%s': only one request file can be given.",
                            argv[optind]);
                return -EINVAL;
        }
        return 1;
}

static int open_ca(const char *dir, LocalCA **ret) {
        _cleanup_free_ char *err = NULL;
        LocalCAConfig cfg = {
                .root_lifetime = DEFAULT_ROOT_LIFETIME,
                .issuing_lifetime = DEFAULT_ISSUING_LIFETIME,
                .lock_timeout = arg_lock_timeout,
        };
        int r;

        r = local_ca_open(dir, &cfg, (int64_t) time(NULL), ret, &err);
        if (r < 0)
                return fail(EXIT_UNREACHABLE, r, "The local CA in '%s' cannot be used now: %s", dir,
                            err ?: strerror(-r));
        if (r > 0)
                log_notice("Local CA created or renewed in '%s'; its roots for trust stores: '%s'.", dir,
                           local_ca_roots_path(*ret));
        return EXIT_ISSUED;
}

/* The request, from the file argument or else from CERTMONGER_CSR. */
static int read_request(X509_REQ **ret) {
        _cleanup_free_ char *data = NULL;
        const char *pem;
        size_t len = 0;
        int r;

        if (arg_csr_file) {
                r = fs_read_file(arg_csr_file, CSR_MAX, &data, &len);
                if (r < 0)
                        return fail(EXIT_UNCONFIGURED, r, "Unable to read the signing request from '%s': %m.",
                                    arg_csr_file);
                pem = data;
        } else {
                pem = getenv("CERTMONGER_CSR");
                if (isempty(pem))
                        return fail(EXIT_UNCONFIGURED, 0,
                                    "Unable to read the signing request: CERTMONGER_CSR is not set (or empty) and no request "
                                    "file was given.");
                len = strlen(pem);
                if (len > CSR_MAX)
                        return fail(EXIT_UNCONFIGURED, 0,
                                    "The signing request in CERTMONGER_CSR is larger than %u bytes.", CSR_MAX);
        }
        if (strlen(pem) != len)
                return fail(EXIT_UNCONFIGURED, 0, "The signing request contains a NUL byte.");

        r = pki_csr_from_pem(pem, ret);
        if (r < 0)
                return fail(EXIT_UNCONFIGURED, r,
                            "The signing request cannot be parsed: a PKCS#10 request in PEM "
                            "(BEGIN CERTIFICATE REQUEST) is expected.");
        return EXIT_ISSUED;
}

/* A request whose own signature does not verify was altered, or was not made with the key it
 * names: the CA refuses it (exit 2), while a request without a usable key is malformed (exit 4). */
static int check_request(X509_REQ *req) {
        EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
        int v;

        if (!pub) {
                ERR_clear_error();
                return fail(EXIT_UNCONFIGURED, 0, "The signing request has no public key this CA can use.");
        }
        v = X509_REQ_verify(req, pub);
        ERR_clear_error();
        if (v != 1)
                return fail(EXIT_REJECTED, 0,
                            "The signing request's signature does not verify: it was altered, or not signed with "
                            "its own key. Refused.");
        return EXIT_ISSUED;
}

static int do_submit(const char *dir, DynBuf *out) {
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        _cleanup_(local_ca_freep) LocalCA *ca = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_free_ char *err = NULL, *pem = NULL;
        size_t len = 0;
        int r, status;

        status = read_request(&req);
        if (status != EXIT_ISSUED)
                return status;
        status = check_request(req);
        if (status != EXIT_ISSUED)
                return status;
        status = open_ca(dir, &ca);
        if (status != EXIT_ISSUED)
                return status;

        /* check_request() verified the request's signature: not again (a second ECDSA verify). */
        r = local_ca_sign_full(ca, req, PKI_SIGN_CSR_TRUSTED, (int64_t) time(NULL), arg_validity, &cert, NULL, &err);
        if (IN_SET(r, -ENOMEM, -EIO, -ETIMEDOUT, -EACCES, -EROFS, -ENOSPC))
                /* Out of resources, or a renewal due now could not be written: not the request's fault. */
                return fail(EXIT_UNREACHABLE, r, "The local CA in '%s' cannot sign now: %s", dir,
                            err ?: strerror(-r));
        if (r < 0)
                return fail(EXIT_REJECTED, r, "The local CA refuses the request: %s", err ?: strerror(-r));

        r = pki_cert_to_pem(cert, &pem, &len);
        if (r >= 0)
                r = dynbuf_append(out, pem, len);
        if (r < 0)
                return fail(EXIT_UNREACHABLE, r, "Cannot encode the certificate: %m.");
        return EXIT_ISSUED;
}

/* The certificate's subject CN (else its whole subject), made fit for certmonger's one-line
 * nickname: printable ASCII, not empty, not starting like a PEM boundary. */
static char *nickname_of(X509 *x) {
        _cleanup_(cert_info_done) CertInfo info = {};
        X509_NAME *name = X509_get_subject_name(x);
        unsigned char *utf8 = NULL;
        char *nick = NULL;
        int i, n;

        i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
        if (i >= 0) {
                n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i)));
                if (n > 0)
                        nick = strndup((const char *) utf8, MIN((size_t) n, (size_t) NICKNAME_MAX));
                OPENSSL_free(utf8);
        }
        ERR_clear_error();
        if (!nick && pki_cert_info(x, &info) >= 0 && !isempty(info.subject))
                nick = strndup(info.subject, NICKNAME_MAX);
        if (!nick)
                nick = strdup("certkeeper local CA");
        if (!nick)
                return NULL;

        for (char *p = nick; *p; p++)
                if (*p < 0x20 || *p > 0x7e)
                        *p = '_';
        if (startswith(nick, "-"))
                nick[0] = '_';
        return nick;
}

static int append_nickcert(DynBuf *out, X509 *x) {
        _cleanup_free_ char *nick = NULL, *pem = NULL;
        size_t len = 0;
        int r;

        nick = nickname_of(x);
        if (!nick)
                return -ENOMEM;
        r = pki_cert_to_pem(x, &pem, &len);
        if (r < 0)
                return r;
        r = dynbuf_printf(out, "%s\n", nick);
        if (r < 0)
                return r;
        return dynbuf_append(out, pem, len);
}

/* certmonger's FETCH-ROOTS answer: "nickname\nPEM" entries in three sections (the root; other
 * trusted roots; other certificates) separated by blank lines. Here: the current root; the earlier
 * roots still trusted (roots.pem after a root renewal); the issuing CA.
 *
 * certmonger's reader skips every blank line after a section, so an empty middle section cannot be
 * written: "root, two blank lines, issuing CA" would make the issuing CA an "other root", i.e.
 * trusted. When no earlier root is trusted, the current root is therefore repeated as the other
 * root: true, and harmless to a trust store. */
static int do_fetch_roots(const char *dir, DynBuf *out) {
        _cleanup_(local_ca_freep) LocalCA *ca = NULL;
        _cleanup_(pki_chain_freep) STACK_OF(X509) *roots = NULL;
        int r, status;

        status = open_ca(dir, &ca);
        if (status != EXIT_ISSUED)
                return status;

        r = local_ca_roots(ca, &roots);
        if (r >= 0 && sk_X509_num(roots) < 1)
                r = -ENOENT;
        if (r >= 0)
                r = append_nickcert(out, sk_X509_value(roots, 0));
        if (r >= 0)
                r = dynbuf_append(out, "\n", 1);
        for (int i = 1; r >= 0 && i < sk_X509_num(roots); i++)
                r = append_nickcert(out, sk_X509_value(roots, i));
        if (r >= 0 && sk_X509_num(roots) == 1)
                r = append_nickcert(out, sk_X509_value(roots, 0));
        if (r >= 0)
                r = dynbuf_append(out, "\n", 1);
        if (r >= 0)
                r = append_nickcert(out, local_ca_get0_issuing(ca));
        if (r < 0)
                return fail(EXIT_UNREACHABLE, r, "Cannot list the local CA's certificates from '%s': %m.", dir);
        return EXIT_ISSUED;
}

int main(int argc, char *argv[]) {
        _cleanup_free_ char *default_dir = NULL;
        _cleanup_(dynbuf_done) DynBuf out = DYNBUF_INIT(OUTPUT_MAX);
        const char *op_name;
        Operation op;
        int r, status;

        log_open("certkeeper-local-submit", LOG_TARGET_STDERR, true);
        /* A short-lived process: no OpenSSL clean-up at exit (freeing every provider, algorithm and
         * error string costs a few percent of a run); the kernel takes the memory back anyway. */
        (void) OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);

        r = parse_argv(argc, argv);
        if (r < 0)
                return EXIT_UNCONFIGURED;
        if (r == 0)
                return EXIT_SUCCESS;

        op_name = getenv("CERTMONGER_OPERATION");
        op = operation_from_string(op_name);
        if (op < 0) {
                log_debug("Operation '%s' is not supported.", op_name);
                return EXIT_UNSUPPORTED;
        }

        if (!arg_dir) {
                /* The daemon keeps its local CA in STATE_DIR/local-ca; the CLI's
                 * CERTKEEPER_STATE_DIR names another state directory. certmonger's own
                 * CERTMONGER_LOCAL_CA_DIR is certmonger's CA, never ours. */
                const char *state = getenv("CERTKEEPER_STATE_DIR");
                default_dir = strjoin(isempty(state) ? DEFAULT_STATE_DIR : state, "/local-ca");
                if (!default_dir)
                        return fail(EXIT_UNREACHABLE, -ENOMEM, "Out of memory.");
                arg_dir = default_dir;
        }

        switch (op) {
        case OP_SUBMIT:
        case OP_POLL: /* nothing is ever deferred, so a poll is a new submission */
                status = do_submit(arg_dir, &out);
                break;
        case OP_IDENTIFY:
                status = dynbuf_printf(&out, "certkeeper local CA (certkeeper %s)\n", PACKAGE_VERSION) < 0
                                 ? fail(EXIT_UNREACHABLE, -ENOMEM, "Out of memory.")
                                 : EXIT_ISSUED;
                break;
        case OP_FETCH_ROOTS:
                status = do_fetch_roots(arg_dir, &out);
                break;
        case OP_GET_NEW_REQUEST_REQUIREMENTS:
        case OP_GET_RENEW_REQUEST_REQUIREMENTS:
                /* Nothing is required: any subject, any names. */
                status = EXIT_ISSUED;
                break;
        default:
                return EXIT_UNSUPPORTED;
        }
        if (status != EXIT_ISSUED)
                return status;

        r = write_all(STDOUT_FILENO, out.data ?: "", out.len);
        if (r < 0) {
                log_error_errno(r, "Failed to write the answer to stdout: %m");
                return EXIT_UNREACHABLE;
        }
        return EXIT_ISSUED;
}
