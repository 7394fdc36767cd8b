/* SPDX-License-Identifier: MIT */
/* request, start-tracking (also "modify" with -i), resubmit, rekey. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "certkeeper-acme-opts.h"
#include "certkeeper-common.h"
#include "parse-util.h"
#include "pki-csr.h"
#include "pki-key.h"
#include "string-util.h"

enum {
        ARG_FOR_CA = _ARG_COMMON_MAX,
        ARG_NOT_FOR_CA,
        ARG_PATH_LENGTH,
        ARG_WAIT_TIMEOUT,
        ARG_VALIDITY,
        ARG_RENEW_BEFORE,
        ARG_NEW_ID,
};

typedef enum RequestVerb {
        REQUEST_NEW,
        REQUEST_TRACK,
        REQUEST_RESUBMIT,
        REQUEST_REKEY,
} RequestVerb;

typedef struct RequestOpts {
        CliSelector sel;          /* -i, -f, -k */
        const char *new_id;       /* -I */
        const char *ca;           /* -c */
        const char *subject;      /* -N */
        char **dns, **ip, **email, **principal, **ku, **eku;
        bool have_dns, have_ip, have_email, have_principal, have_ku, have_eku;
        const char *profile;      /* -T */
        const char *issuer;       /* -X */
        const char *key_type;     /* -G, canonical */
        unsigned key_bits;        /* -g, 0 = unset */
        int autorenew;            /* -1 unset */
        const char *pre_cmd, *post_cmd;
        char *ca_file;            /* -F, absolute */
        json_t *ca_options;       /* --challenge, --webroot, ...: this certificate's ACME order settings */
        const char *key_owner, *cert_owner;
        int key_mode, cert_mode;  /* -1 unset */
        int is_ca;                /* -1 unset */
        int path_len;             /* -2 unset */
        int64_t validity;         /* -1 unset */
        const char *renew_before;
        bool wait;
        usec_t wait_timeout;
} RequestOpts;

static void request_opts_done(RequestOpts *o) {
        cli_selector_done(&o->sel);
        strv_free(o->dns);
        strv_free(o->ip);
        strv_free(o->email);
        strv_free(o->principal);
        strv_free(o->ku);
        strv_free(o->eku);
        free(o->ca_file);
        json_decref(o->ca_options);
}

static const char *verb_usage(RequestVerb v) {
        switch (v) {
        case REQUEST_NEW:
                return "Asks a CA for a new certificate, generating the key if it does not exist, and tracks it.\n\n"
                       "Storage:\n"
                       "  -f FILE            PEM file for the certificate\n"
                       "  -k FILE            PEM file for the private key (created 0600 if missing)\n"
                       "Request:\n"
                       "  -I NAME            nickname of the new request\n"
                       "  -c CA              CA to use instead of the default one\n"
                       "  -T PROFILE         profile or template the CA should use\n"
                       "  -X ISSUER          issuer (sub-CA) to ask the CA for (CERTMONGER_CA_ISSUER)\n"
                       "  -G TYPE, -g BITS   key type (RSA, EC, ED25519) and size (RSA 2048-8192, EC 256/384/521)\n"
                       "  -N DN              subject name (default CN=<hostname>)\n"
                       "  -D DNS, -A IP, -E EMAIL, -K PRINCIPAL   subject alternative names (repeatable)\n"
                       "  -u KEYUSAGE, -U EKU                     key usage and extended key usage (repeatable)\n"
                       "  --for-ca, --not-for-ca, --ca-path-length=N\n"
                       "  -r, -R             renew automatically (default) or not\n"
                       "  --validity=DURATION   requested lifetime (e.g. 90d)\n"
                       "  --renew-before=WHEN   renew this long before expiry (14d) or at a share of the lifetime (33%)\n"
                       "ACME CA settings of this certificate (over the CA's; -T is the order's profile):\n"
                       "  --challenge=TYPE, --http01-listen=ADDR:PORT, --webroot=DIR, --tls-alpn01-listen=ADDR:PORT,\n"
                       "  --dns01-hook=CMD, --dns01-rfc2136=SERVER:PORT, --tsig-key=FILE, --dns01-zone=ZONE,\n"
                       "  --dns01-resolver=ADDR:PORT, --dns01-ns-port=PORT, --dns01-propagation-timeout=SEC,\n"
                       "  --preferred-chain=CN\n"
                       "Other:\n"
                       "  -B CMD, -C CMD     command to run before / after saving the certificate\n"
                       "  -F FILE            file in which to store the CA's certificates\n"
                       "  -o OWNER[:GROUP], -m MODE   owner and mode of the key file\n"
                       "  -O OWNER[:GROUP], -M MODE   owner and mode of the certificate file\n"
                       "  -w, --wait-timeout=SECS     wait for the certificate to be issued\n"
                       "  -v                 print each state change and all details of errors\n"
                       "  --json             print the request as JSON\n";
        case REQUEST_TRACK:
                return "Tracks an existing certificate file, or modifies the request given with -i.\n\n"
                       "  -i NAME            nickname of an existing request to modify\n"
                       "  -f FILE, -k FILE   certificate and key files\n"
                       "  -I NAME            new nickname\n"
                       "  -c CA, -T PROFILE, -r, -R, -N, -D, -A, -E, -K, -u, -U   as for request\n"
                       "  -G TYPE, -g BITS, --validity, --renew-before            as for request\n"
                       "  -B CMD, -C CMD, -F FILE, -o, -m, -O, -M                 as for request\n"
                       "  --challenge, --webroot, --dns01-hook, ...               as for request\n"
                       "  -w, --wait-timeout=SECS, -v, --json\n";
        case REQUEST_RESUBMIT:
                return "Makes a new signing request with the same key and submits it again.\n\n"
                       "  -i NAME or -f FILE  the request\n"
                       "  -I NAME             new nickname\n"
                       "  -c CA, -T PROFILE, -N, -D, -A, -E, -K, -u, -U, --for-ca, --not-for-ca\n"
                       "  -B CMD, -C CMD, -F FILE, -o, -m, -O, -M, --validity, --renew-before\n"
                       "  --challenge, --webroot, --dns01-hook and the other ACME settings, as for request\n"
                       "  -w, --wait-timeout=SECS, -v, --json\n";
        case REQUEST_REKEY:
                return "Generates a new key pair and gets a new certificate for it.\n\n"
                       "  -i NAME or -f FILE  the request\n"
                       "  -G TYPE, -g BITS    new key type and size (default: as the current key)\n"
                       "  -I NAME, -c CA, -T PROFILE, -N, -D, -A, -E, -K, -u, -U, -B, -C, -F, -o, -m, -O, -M\n"
                       "  -w, --wait-timeout=SECS, -v, --json\n";
        }
        return "";
}

static int add_value(const CliContext *c, char ***l, bool *have, const char *value) {
        *have = true;
        if (isempty(value))  /* "-D ''" clears the list */
                return 0;
        if (strv_extend(l, value) < 0) {
                (void) cli_fail(c, "Out of memory.");
                return -ENOMEM;
        }
        return 0;
}

static int parse_mode_arg(const CliContext *c, const char *arg, const char *what, int *ret) {
        mode_t m;

        if (parse_mode(arg, &m) < 0)
                return cli_fail(c, "Invalid %s mode '%s': give an octal mode such as 0600.", what, arg), -EINVAL;
        *ret = (int) m;
        return 0;
}

static int parse_owner_arg(const CliContext *c, const char *arg, const char *what) {
        uid_t u;
        gid_t g;

        if (parse_owner(arg, &u, &g) < 0)
                return cli_fail(c, "Invalid %s owner '%s': give an existing USER or USER:GROUP.", what, arg), -EINVAL;
        return 0;
}

static int request_opts_parse_one(const CliContext *c, RequestVerb v, RequestOpts *o, int opt, const char *arg) {
        _cleanup_free_ char *norm = NULL;
        int r;

        r = cli_selector_option(c, &o->sel, opt, arg);
        if (r != 0)
                return r < 0 ? r : 0;

        switch (opt) {
        case 'I':
        case ARG_NEW_ID:
                if (isempty(arg))
                        return cli_fail(c, "The nickname given with -I is empty."), -EINVAL;
                o->new_id = arg;
                return 0;
        case 'c':
                o->ca = arg;
                return 0;
        case 'N':
                o->subject = arg;
                return 0;
        case 'T':
                o->profile = arg;
                return 0;
        case 'X':
                o->issuer = arg;
                return 0;
        case 'D':
                if (!isempty(arg) && !dns_name_is_valid(arg))
                        return cli_fail(c, "Invalid DNS name \"%s\": give a host name such as www.example.com "
                                        "(letters, digits, '-' and dots; a leading \"*.\" is allowed).", arg), -EINVAL;
                return add_value(c, &o->dns, &o->have_dns, arg);
        case 'A':
                if (isempty(arg))
                        return add_value(c, &o->ip, &o->have_ip, arg);
                if (ip_address_normalize(arg, &norm) < 0)
                        return cli_fail(c, "Invalid IP address \"%s\": give an IPv4 address such as 192.0.2.1 or an "
                                        "IPv6 address such as 2001:db8::1.", arg), -EINVAL;
                return add_value(c, &o->ip, &o->have_ip, norm);
        case 'E':
                if (!isempty(arg) && !email_is_valid(arg))
                        return cli_fail(c, "Invalid email address \"%s\": give an address such as "
                                        "admin@example.com.", arg), -EINVAL;
                return add_value(c, &o->email, &o->have_email, arg);
        case 'K':
                if (!isempty(arg) && (strpbrk(arg, " \t\r\n") || arg[0] == '@' || strchr(arg, '@') != strrchr(arg, '@')))
                        return cli_fail(c, "Error parsing Kerberos principal name \"%s\": give a principal such as "
                                        "host/www.example.com@EXAMPLE.COM.", arg), -EINVAL;
                return add_value(c, &o->principal, &o->have_principal, arg);
        case 'u':
                if (key_usage_from_string(arg) == 0)
                        return cli_fail(c, c->getcert ? "Unrecognized keyUsage \"%s\"."
                                                      : "Unrecognized keyUsage \"%s\". Known: digitalSignature, "
                                                        "nonRepudiation, keyEncipherment, dataEncipherment, "
                                                        "keyAgreement, keyCertSign, cRLSign, encipherOnly, "
                                                        "decipherOnly.", arg), -EINVAL;
                return add_value(c, &o->ku, &o->have_ku, arg);
        case 'U':
                if (eku_normalize(arg, &norm) < 0)
                        return cli_fail(c, c->getcert ? "Could not evaluate OID \"%s\"."
                                                      : "Could not evaluate OID \"%s\". Give a dotted OID or a name "
                                                        "such as id-kp-serverAuth or id-kp-clientAuth.", arg), -EINVAL;
                return add_value(c, &o->eku, &o->have_eku, norm);
        case 'G': {
                KeyType t = key_type_from_string(arg);

                if (t < 0)
                        return cli_fail(c, "No support for generating \"%s\" keys.\nKnown key types include: RSA EC "
                                        "ED25519", arg), -EINVAL;
                o->key_type = key_type_to_string(t);
                return 0;
        }
        case 'g':
                if (safe_atou(arg, &o->key_bits) < 0 || o->key_bits == 0)
                        return cli_fail(c, "Invalid key size '%s': give a number of bits, e.g. 2048 or 3072 for RSA, "
                                        "256, 384 or 521 for EC.", arg), -EINVAL;
                return 0;
        case 'r':
                o->autorenew = 1;
                return 0;
        case 'R':
                o->autorenew = 0;
                return 0;
        case 'B':
                o->pre_cmd = arg;
                return 0;
        case 'C':
                o->post_cmd = arg;
                return 0;
        case 'F':
                free(o->ca_file);
                o->ca_file = NULL;
                return cli_file_path(c, arg, &o->ca_file);
        case 'o':
                o->key_owner = arg;
                return parse_owner_arg(c, arg, "key");
        case 'O':
                o->cert_owner = arg;
                return parse_owner_arg(c, arg, "certificate");
        case 'm':
                return parse_mode_arg(c, arg, "key", &o->key_mode);
        case 'M':
                return parse_mode_arg(c, arg, "certificate", &o->cert_mode);
        case ARG_FOR_CA:
                o->is_ca = 1;
                return 0;
        case ARG_NOT_FOR_CA:
                o->is_ca = 0;
                return 0;
        case ARG_PATH_LENGTH: {
                int n;

                if (safe_atoi(arg, &n) < 0 || n < -1)
                        return cli_fail(c, "Invalid CA path length '%s': give 0 or more (or -1 for none).", arg), -EINVAL;
                o->path_len = n;
                return 0;
        }
        case 'w':
                o->wait = true;
                return 0;
        case ARG_WAIT_TIMEOUT:
                o->wait = true;
                return cli_parse_timeout(c, arg, &o->wait_timeout);
        case ARG_VALIDITY: {
                int64_t s;

                if (parse_duration_sec(arg, &s) < 0 || s <= 0)
                        return cli_fail(c, "Invalid validity '%s': give seconds or a duration such as 60s, 1h or "
                                        "90d.", arg), -EINVAL;
                o->validity = s;
                return 0;
        }
        case ARG_RENEW_BEFORE: {
                int64_t s;
                unsigned pct;

                if (endswith(arg, "%")) {
                        _cleanup_free_ char *num = strndup(arg, strlen(arg) - 1);

                        if (!num)
                                return -ENOMEM;
                        if (safe_atou(num, &pct) < 0 || pct == 0 || pct >= 100)
                                return cli_fail(c, "Invalid --renew-before '%s': a share of the lifetime must be "
                                                "between 1%% and 99%%, e.g. 33%%.", arg), -EINVAL;
                } else if (parse_duration_sec(arg, &s) < 0 || s <= 0)
                        return cli_fail(c, "Invalid --renew-before '%s': give a time before expiry such as 14d or "
                                        "12h, or a share of the lifetime such as 33%%.", arg), -EINVAL;
                o->renew_before = arg;
                return 0;
        }
        case 'p':
        case 'P':
                return cli_fail(c, "Encrypted keys (-p, -P) are not supported: certkeeper stores keys unencrypted "
                                "in files of mode 0600. Drop the option."), -EOPNOTSUPP;
        case 'a':
                return cli_refuse_nss(c), -EOPNOTSUPP;
        case 'l':
        case 'L':
                return cli_fail(c, "Challenge passwords (-l, -L) are not supported. Drop the option."), -EOPNOTSUPP;
        default:
                (void) v;
                return -EINVAL;
        }
}

static int check_key(const CliContext *c, RequestOpts *o, const char *current_type) {
        _cleanup_free_ char *err = NULL;
        const char *tname = o->key_type ?: current_type ?: "RSA";
        KeyType t;
        unsigned eff;

        if (!o->key_type && o->key_bits == 0)
                return 0;

        t = key_type_from_string(tname);
        if (t < 0)
                return cli_fail(c, "No support for generating \"%s\" keys.", tname), -EINVAL;
        if (pki_key_params_check(t, o->key_bits, &eff, &err) < 0)
                return (err ? cli_fail(c, "%s", err)
                            : cli_fail(c, "Invalid key size %u for %s keys: RSA keys take 2048 to 8192 bits, EC keys "
                                       "256, 384 or 521.", o->key_bits, key_type_to_string(t))), -EINVAL;
        if (!o->key_type)
                o->key_type = key_type_to_string(t);
        if (o->key_bits > 0)
                o->key_bits = eff;
        return 0;
}

static int set_strv(json_t *body, const char *key, char **l) {
        json_t *a = json_array();

        if (!a)
                return -ENOMEM;
        for (char **i = l; i && *i; i++)
                if (json_array_append_new(a, json_string(*i)) < 0) {
                        json_decref(a);
                        return -ENOMEM;
                }
        return json_object_set_new(body, key, a) < 0 ? -ENOMEM : 0;
}

#define SET(key, value)                                                   \
        do {                                                              \
                json_t *_v_ = (value);                                    \
                if (!_v_ || json_object_set_new(body, (key), _v_) < 0)    \
                        return -ENOMEM;                                   \
        } while (0)

/* Fills the request fields of docs/API.md from the options given (only those given). */
static int request_opts_to_json(const RequestOpts *o, bool with_key, bool with_paths, json_t *body) {
        if (o->new_id)
                SET("nickname", json_string(o->new_id));
        if (o->ca)
                SET("ca", json_string(o->ca));
        if (with_paths && o->sel.certfile)
                SET("cert_path", json_string(o->sel.certfile));
        if (with_paths && o->sel.keyfile)
                SET("key_path", json_string(o->sel.keyfile));
        if (o->subject)
                SET("subject", json_string(o->subject));
        if ((o->have_dns && set_strv(body, "dns", o->dns) < 0) ||
            (o->have_ip && set_strv(body, "ip", o->ip) < 0) ||
            (o->have_email && set_strv(body, "email", o->email) < 0) ||
            (o->have_principal && set_strv(body, "principal", o->principal) < 0) ||
            (o->have_ku && set_strv(body, "key_usage", o->ku) < 0) ||
            (o->have_eku && set_strv(body, "eku", o->eku) < 0))
                return -ENOMEM;
        if (o->is_ca >= 0)
                SET("is_ca", json_boolean(o->is_ca));
        if (o->path_len >= -1)
                SET("path_len", json_integer(o->path_len));
        if (o->profile)
                SET("profile", json_string(o->profile));
        if (o->issuer)
                SET("ca_issuer", json_string(o->issuer));
        if (with_key && o->key_type)
                SET("key_type", json_string(o->key_type));
        if (with_key && o->key_bits > 0)
                SET("key_bits", json_integer(o->key_bits));
        if (o->autorenew >= 0)
                SET("autorenew", json_boolean(o->autorenew));
        if (o->pre_cmd)
                SET("pre_save_cmd", json_string(o->pre_cmd));
        if (o->post_cmd)
                SET("post_save_cmd", json_string(o->post_cmd));
        if (o->ca_file)
                SET("ca_file", json_string(o->ca_file));
        if (o->ca_options)
                SET("ca_options", json_incref(o->ca_options));
        if (o->key_owner)
                SET("key_owner", json_string(o->key_owner));
        if (o->cert_owner)
                SET("cert_owner", json_string(o->cert_owner));
        if (o->key_mode >= 0)
                SET("key_mode", json_integer(o->key_mode));
        if (o->cert_mode >= 0)
                SET("cert_mode", json_integer(o->cert_mode));
        if (o->validity >= 0)
                SET("validity", json_integer(o->validity));
        if (o->renew_before)
                SET("renew_before", json_string(o->renew_before));
        return 0;
}

static int parse_args(CliContext *c, RequestVerb v, int argc, char *argv[], RequestOpts *o) {
        static const struct option options[] = {
                CLI_COMMON_LONG_OPTIONS,
                CLI_SELECTOR_LONG_OPTIONS,
                { "pinfile", required_argument, NULL, 'p' },
                { "pin", required_argument, NULL, 'P' },
                { "new-id", required_argument, NULL, ARG_NEW_ID },
                { "key-type", required_argument, NULL, 'G' },
                { "key-size", required_argument, NULL, 'g' },
                { "renew", no_argument, NULL, 'r' },
                { "no-renew", no_argument, NULL, 'R' },
                { "ca", required_argument, NULL, 'c' },
                { "profile", required_argument, NULL, 'T' },
                { "issuer", required_argument, NULL, 'X' },
                { "subject-name", required_argument, NULL, 'N' },
                { "key-usage", required_argument, NULL, 'u' },
                { "extended-key-usage", required_argument, NULL, 'U' },
                { "principal", required_argument, NULL, 'K' },
                { "email", required_argument, NULL, 'E' },
                { "dns", required_argument, NULL, 'D' },
                { "ip-address", required_argument, NULL, 'A' },
                { "before-command", required_argument, NULL, 'B' },
                { "after-command", required_argument, NULL, 'C' },
                { "ca-dbdir", required_argument, NULL, 'a' },
                { "ca-file", required_argument, NULL, 'F' },
                { "for-ca", no_argument, NULL, ARG_FOR_CA },
                { "not-for-ca", no_argument, NULL, ARG_NOT_FOR_CA },
                { "ca-path-length", required_argument, NULL, ARG_PATH_LENGTH },
                { "wait", no_argument, NULL, 'w' },
                { "wait-timeout", required_argument, NULL, ARG_WAIT_TIMEOUT },
                { "key-owner", required_argument, NULL, 'o' },
                { "key-perms", required_argument, NULL, 'm' },
                { "cert-owner", required_argument, NULL, 'O' },
                { "cert-perms", required_argument, NULL, 'M' },
                { "verbose", no_argument, NULL, 'v' },
                { "validity", required_argument, NULL, ARG_VALIDITY },
                { "renew-before", required_argument, NULL, ARG_RENEW_BEFORE },
                /* The ACME CA settings a certificate can give for itself. --email and --profile are
                 * -E and -T here (-T is also the ACME order's profile). */
                { "challenge", required_argument, NULL, ARG_ACME_CHALLENGE },
                { "http01-listen", required_argument, NULL, ARG_ACME_HTTP01_LISTEN },
                { "webroot", required_argument, NULL, ARG_ACME_WEBROOT },
                { "tls-alpn01-listen", required_argument, NULL, ARG_ACME_TLS_ALPN01_LISTEN },
                { "dns01-hook", required_argument, NULL, ARG_ACME_DNS01_HOOK },
                { "dns01-rfc2136", required_argument, NULL, ARG_ACME_DNS01_RFC2136 },
                { "tsig-key", required_argument, NULL, ARG_ACME_TSIG_KEY },
                { "dns01-zone", required_argument, NULL, ARG_ACME_DNS01_ZONE },
                { "dns01-resolver", required_argument, NULL, ARG_ACME_DNS01_RESOLVER },
                { "dns01-ns-port", required_argument, NULL, ARG_ACME_DNS01_NS_PORT },
                { "dns01-propagation-timeout", required_argument, NULL, ARG_ACME_DNS01_PROPAGATION_TIMEOUT },
                { "preferred-chain", required_argument, NULL, ARG_ACME_PREFERRED_CHAIN },
                /* The account's and the connection's: refused with words. */
                { "acme", required_argument, NULL, ARG_ACME },
                { "agree-tos", no_argument, NULL, ARG_ACME_AGREE_TOS },
                { "eab-kid", required_argument, NULL, ARG_ACME_EAB_KID },
                { "eab-hmac", required_argument, NULL, ARG_ACME_EAB_HMAC },
                { "ca-bundle", required_argument, NULL, ARG_ACME_CA_BUNDLE },
                { "account-key-type", required_argument, NULL, ARG_ACME_ACCOUNT_KEY_TYPE },
                { "order-rate", required_argument, NULL, ARG_ACME_ORDER_RATE },
                {}
        };
        /* request has no -i; its -I is "--id" (certmonger's help says --new-id, both work). */
        const char *shortopts = v == REQUEST_NEW ? ":hd:n:t:f:k:p:P:I:G:g:rRc:T:X:N:u:U:K:E:D:A:B:C:a:F:wo:m:O:M:vl:L:"
                                                 : ":hd:n:t:f:k:p:P:i:I:G:g:rRc:T:X:N:u:U:K:E:D:A:B:C:a:F:wo:m:O:M:vl:L:";
        int opt, r, idx = 0;

        *o = (RequestOpts) { .autorenew = -1, .key_mode = -1, .cert_mode = -1, .is_ca = -1, .path_len = -2,
                             .validity = -1 };

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, shortopts, options, &idx)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                switch (opt) {
                case 'h':
                        printf("Usage: %s %s [options]\n", c->getcert ? "getcert" : "certkeeper", c->verb);
                        fputs(verb_usage(v), stdout);
                        return 0;
                case 'v':
                        c->verbose++;
                        continue;
                case '?':
                case ':':
                        return cli_bad_option(c, opt, argv), -EINVAL;
                default:
                        break;
                }
                if (IN_SET(opt, ARG_ACME, ARG_ACME_AGREE_TOS, ARG_ACME_EAB_KID, ARG_ACME_EAB_HMAC, ARG_ACME_CA_BUNDLE,
                           ARG_ACME_ACCOUNT_KEY_TYPE, ARG_ACME_ORDER_RATE))
                        return cli_fail(c, "--%s is a setting of an ACME CA's account or connection, not of one "
                                        "certificate: give it to certkeeper add-ca or modify-ca.", options[idx].name),
                               -EINVAL;
                r = cli_acme_option(c, opt, optarg, &o->ca_options);
                if (r < 0)
                        return r;
                if (r > 0)
                        continue;
                /* "request --id" is the new request's nickname. */
                if (v == REQUEST_NEW && opt == 'i')
                        opt = 'I';
                r = request_opts_parse_one(c, v, o, opt, optarg);
                if (r < 0)
                        return r;
        }
        if (cli_extra_args(c, argc, argv) != 0)
                return -EINVAL;
        return 1;
}

/* Checks the key and the CA options, then builds the body: with the key and the file paths only
 * when full. Prints why and returns CLI_EXIT_FAILURE when one is not usable. */
static int request_body(CliContext *c, RequestOpts *o, const char *current_type, bool full, json_t **ret) {
        json_auto_t *body = NULL;

        if (check_key(c, o, current_type) < 0)
                return CLI_EXIT_FAILURE;
        if (o->ca && cli_check_ca(c, o->ca) < 0)
                return CLI_EXIT_FAILURE;

        body = json_object();
        if (!body || request_opts_to_json(o, full, full, body) < 0)
                return cli_fail(c, "Out of memory.");
        *ret = TAKE_PTR(body);
        return CLI_EXIT_OK;
}

/* The directory of an (absolute) file must exist and be writable. */
static int check_writable(const CliContext *c, const char *path) {
        _cleanup_free_ char *p = NULL;

        if (!path)
                return 0;
        return cli_file_path(c, path, &p);
}

static int print_result(const CliContext *c, json_t *obj, const char *fmt, ...) _printf_(3, 4);

static int print_result(const CliContext *c, json_t *obj, const char *fmt, ...) {
        va_list ap;

        if (c->json)
                return cli_print_json(obj);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        fflush(stdout);
        return CLI_EXIT_OK;
}

static const char *obj_str(json_t *o, const char *key) {
        return strempty(json_string_value(json_object_get(o, key)));
}

static int wait_for(CliContext *c, json_t *obj, const RequestOpts *o) {
        char id[32];

        (void) snprintf(id, sizeof(id), "%" PRIi64, (int64_t) json_integer_value(json_object_get(obj, "id")));
        /* certmonger prints the states only with -v; certkeeper shows its stages as they happen. */
        return cli_wait(c, id, o->wait_timeout, c->verbose > 0 || (!c->getcert && !c->json));
}

int verb_request(CliContext *c, int argc, char *argv[]) {
        _cleanup_(request_opts_done) RequestOpts o = {};
        _cleanup_(api_response_done) ApiResponse a = {};
        json_auto_t *body = NULL;
        int r;

        r = parse_args(c, REQUEST_NEW, argc, argv, &o);
        if (r <= 0)
                return r < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;

        if (check_writable(c, o.sel.certfile) < 0 || check_writable(c, o.sel.keyfile) < 0)
                return CLI_EXIT_FAILURE;
        if (o.sel.keyfile && !o.sel.certfile)
                return cli_fail(c, "The key file (-k) is only valid together with a certificate file (-f). Give "
                                "-f FILE too.");

        /* certmonger makes RSA 2048 keys unless told otherwise, and getcert keeps that; certkeeper
         * leaves the choice to the daemon's key_type setting (EC P-256 by default). */
        if (c->getcert && !o.key_type)
                o.key_type = "RSA";
        if (request_body(c, &o, NULL, true, &body) != CLI_EXIT_OK)
                return CLI_EXIT_FAILURE;

        if (cli_call_checked(c, "POST", "/api/v1/certificates", body, &a) != CLI_EXIT_OK)
                return CLI_EXIT_FAILURE;

        r = print_result(c, a.body, "New signing request \"%s\" added.\n", obj_str(a.body, "nickname"));
        if (r != 0 || !o.wait)
                return r;
        return wait_for(c, a.body, &o);
}

int verb_start_tracking(CliContext *c, int argc, char *argv[]) {
        _cleanup_(request_opts_done) RequestOpts o = {};
        _cleanup_(api_response_done) ApiResponse a = {};
        json_auto_t *body = NULL, *existing = NULL;
        int r;

        r = parse_args(c, REQUEST_TRACK, argc, argv, &o);
        if (r <= 0)
                return r < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;

        if (!o.sel.id && !o.sel.certfile)
                return cli_fail(c, "Give -i NAME to modify an existing request, or -f FILE for the certificate to "
                                "track, see --help.");
        if (check_writable(c, o.sel.certfile) < 0 || check_writable(c, o.sel.keyfile) < 0)
                return CLI_EXIT_FAILURE;

        /* Existing entry: by -i, else by location. */
        if (o.sel.id)
                r = cli_find_request(c, o.sel.id, NULL, NULL, &existing);
        else
                r = -ENOENT;
        if (r == -ENOENT && o.sel.certfile)
                r = cli_find_request(c, NULL, o.sel.certfile, NULL, &existing);
        if (r < 0 && r != -ENOENT)
                return CLI_EXIT_FAILURE;

        if (request_body(c, &o, existing ? json_string_value(json_object_get(existing, "key_type")) : NULL, true,
                         &body) != CLI_EXIT_OK)
                return CLI_EXIT_FAILURE;

        if (existing) {
                _cleanup_free_ char *path = NULL;
                char id[32];

                (void) snprintf(id, sizeof(id), "%" PRIi64,
                                (int64_t) json_integer_value(json_object_get(existing, "id")));
                if (api_client_cert_path(id, NULL, &path) < 0)
                        return cli_fail(c, "Out of memory.");
                if (cli_call_checked(c, "PATCH", path, body, &a) != CLI_EXIT_OK)
                        return CLI_EXIT_FAILURE;
                r = print_result(c, a.body, "Request \"%s\" modified.\n", obj_str(a.body, "nickname"));
        } else {
                if (!o.sel.certfile)
                        return cli_fail(c, c->getcert ? "No request found that matched arguments."
                                                      : "No request found that matched arguments. Give -f FILE to "
                                                        "start tracking a new certificate.");
                if (!o.new_id && o.sel.id && json_object_set_new(body, "nickname", json_string(o.sel.id)) < 0)
                        return cli_fail(c, "Out of memory.");
                if (cli_call_checked(c, "POST", "/api/v1/certificates/track", body, &a) != CLI_EXIT_OK)
                        return CLI_EXIT_FAILURE;
                r = print_result(c, a.body, "New tracking request \"%s\" added.\n", obj_str(a.body, "nickname"));
        }
        if (r != 0 || !o.wait)
                return r;
        return wait_for(c, a.body, &o);
}

static int resubmit_or_rekey(CliContext *c, RequestVerb v, int argc, char *argv[]) {
        _cleanup_(request_opts_done) RequestOpts o = {};
        _cleanup_(api_response_done) ApiResponse a = {};
        _cleanup_free_ char *path = NULL;
        json_auto_t *body = NULL, *existing = NULL;
        char id[32];
        int r;

        r = parse_args(c, v, argc, argv, &o);
        if (r <= 0)
                return r < 0 ? CLI_EXIT_FAILURE : CLI_EXIT_OK;
        if (!cli_selector_is_set(&o.sel))
                return cli_fail(c, "Give -i NAME or -f FILE to say which request, see --help.");
        if (v == REQUEST_RESUBMIT && (o.key_type || o.key_bits > 0))
                return cli_fail(c, "resubmit keeps the key: use 'rekey -G TYPE -g BITS' for a new key.");

        r = cli_selector_find(c, &o.sel, &existing);
        if (r < 0)
                return CLI_EXIT_FAILURE;
        if (request_body(c, &o, json_string_value(json_object_get(existing, "key_type")), false, &body) !=
            CLI_EXIT_OK)
                return CLI_EXIT_FAILURE;

        (void) snprintf(id, sizeof(id), "%" PRIi64, (int64_t) json_integer_value(json_object_get(existing, "id")));

        if (v == REQUEST_REKEY) {
                /* rekey takes only the key; other changes go in first. */
                if (json_object_size(body) > 0) {
                        _cleanup_(api_response_done) ApiResponse p = {};
                        _cleanup_free_ char *ppath = NULL;

                        if (api_client_cert_path(id, NULL, &ppath) < 0)
                                return cli_fail(c, "Out of memory.");
                        if (cli_call_checked(c, "PATCH", ppath, body, &p) != CLI_EXIT_OK)
                                return CLI_EXIT_FAILURE;
                }
                json_object_clear(body);
                if (o.key_type && json_object_set_new(body, "key_type", json_string(o.key_type)) < 0)
                        return cli_fail(c, "Out of memory.");
                if (o.key_bits > 0 && json_object_set_new(body, "key_bits", json_integer(o.key_bits)) < 0)
                        return cli_fail(c, "Out of memory.");
        }

        if (api_client_cert_path(id, v == REQUEST_REKEY ? "rekey" : "resubmit", &path) < 0)
                return cli_fail(c, "Out of memory.");
        if (cli_call_checked(c, "POST", path, json_object_size(body) > 0 ? body : NULL, &a) != CLI_EXIT_OK)
                return CLI_EXIT_FAILURE;

        r = print_result(c, a.body, "Resubmitting \"%s\" to \"%s\".\n", obj_str(a.body, "nickname"),
                         obj_str(a.body, "ca"));
        if (r != 0 || !o.wait)
                return r;
        return wait_for(c, a.body, &o);
}

int verb_resubmit(CliContext *c, int argc, char *argv[]) {
        return resubmit_or_rekey(c, REQUEST_RESUBMIT, argc, argv);
}

int verb_rekey(CliContext *c, int argc, char *argv[]) {
        return resubmit_or_rekey(c, REQUEST_REKEY, argc, argv);
}
