/* SPDX-License-Identifier: MIT */
/* The ACME options of add-ca and modify-ca. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "certkeeper-acme-opts.h"
#include "string-util.h"

static const struct {
        const char *name, *url;
} presets[] = {
        { "letsencrypt", "https://acme-v02.api.letsencrypt.org/directory" },
        { "letsencrypt-staging", "https://acme-staging-v02.api.letsencrypt.org/directory" },
        { "zerossl", "https://acme.zerossl.com/v2/DV90" },
        { "google", "https://dv.acme-v02.api.pki.goog/directory" },
        { "google-staging", "https://dv.acme-v02.test-api.pki.goog/directory" },
};

/* Option → config key; the options not listed here are handled in cli_acme_option(). */
static const struct {
        int opt;
        const char *key;
} string_options[] = {
        { ARG_ACME_EMAIL, "email" },
        { ARG_ACME_EAB_KID, "eab_kid" },
        { ARG_ACME_EAB_HMAC, "eab_hmac" },
        { ARG_ACME_CA_BUNDLE, "ca_bundle" },
        { ARG_ACME_PROFILE, "profile" },
        { ARG_ACME_CHALLENGE, "challenge" },
        { ARG_ACME_HTTP01_LISTEN, "http01_listen" },
        { ARG_ACME_WEBROOT, "webroot" },
        { ARG_ACME_TLS_ALPN01_LISTEN, "tls_alpn01_listen" },
        { ARG_ACME_DNS01_HOOK, "dns01_hook" },
        { ARG_ACME_DNS01_RFC2136, "dns01_rfc2136" },
        { ARG_ACME_TSIG_KEY, "tsig_key" },
        { ARG_ACME_DNS01_ZONE, "dns01_zone" },
        { ARG_ACME_DNS01_RESOLVER, "dns01_resolver" },
        { ARG_ACME_DNS01_NS_PORT, "dns01_ns_port" },
        { ARG_ACME_DNS01_PROPAGATION_TIMEOUT, "dns01_propagation_timeout" },
        { ARG_ACME_ACCOUNT_KEY_TYPE, "account_key_type" },
        { ARG_ACME_PREFERRED_CHAIN, "preferred_chain" },
        { ARG_ACME_ORDER_RATE, "order_rate" },
};

const char cli_acme_help[] =
        "  --acme=URL|PRESET  an ACME CA: its directory URL, or letsencrypt, letsencrypt-staging,\n"
        "                     zerossl, google, google-staging\n"
        "  --email=ADDR       account contact        --agree-tos   accept the CA's terms of service\n"
        "  --eab-kid=ID --eab-hmac=KEY               external account binding\n"
        "  --ca-bundle=FILE   CAs trusted for the ACME server's TLS\n"
        "  --profile=NAME     certificate profile, when the CA lists it\n"
        "  --challenge=TYPE   http-01 (default), dns-01 or tls-alpn-01\n"
        "  --http01-listen=ADDR:PORT  the built-in http-01 responder (default :80)\n"
        "  --webroot=DIR      answer http-01 by writing into DIR/.well-known/acme-challenge/\n"
        "  --tls-alpn01-listen=ADDR:PORT  the built-in tls-alpn-01 responder (default :443)\n"
        "  --dns01-hook=CMD   answer dns-01 with a hook program (docs/ACME.md)\n"
        "  --dns01-rfc2136=SERVER:PORT --tsig-key=FILE  answer dns-01 over RFC 2136\n"
        "  --dns01-zone=ZONE  the zone to update (default: found by SOA queries)\n"
        "  --dns01-resolver=ADDR:PORT  follows the CNAME of _acme-challenge.NAME and resolves the\n"
        "                     zone's name servers (default: resolv.conf)\n"
        "  --dns01-propagation-timeout=SEC  wait for the TXT record on them (default 120, 0: no wait)\n"
        "  --dns01-ns-port=PORT  the port they answer on (default 53)\n"
        "  --account-key-type=EC|RSA  --preferred-chain=ISSUER-CN\n"
        "  --order-rate=N/TIME  at most N new orders per TIME (300/3h), or none; default: the CA's\n"
        "                     published limit where known (Let's Encrypt)\n";

static int set(json_t **config, const char *key, json_t *v) {
        if (!v)
                return -ENOMEM;
        if (!*config) {
                *config = json_object();
                if (!*config) {
                        json_decref(v);
                        return -ENOMEM;
                }
        }
        return json_object_set_new(*config, key, v) < 0 ? -ENOMEM : 0;
}

/* A TSIG key lets whoever reads it change the zone: say so when others can read it (the daemon
 * checks the key itself). */
static void tsig_key_mode_check(const CliContext *c, const char *path) {
        struct stat st;

        if (stat(path, &st) >= 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
                cli_warn(c, "The TSIG key file '%s' can be read by others (mode %04o); anyone who can read it can "
                         "change the zone. chmod 0600 it.", path, (unsigned) (st.st_mode & 07777));
}

int cli_acme_option(const CliContext *c, int opt, const char *arg, json_t **config) {
        if (opt < ARG_ACME || opt >= _ARG_ACME_MAX)
                return 0;

        if (opt == ARG_ACME) {
                const char *url = arg;

                for (size_t i = 0; i < ELEMENTSOF(presets); i++)
                        if (streq(arg, presets[i].name))
                                url = presets[i].url;
                if (!startswith(url, "https://") && !startswith(url, "http://"))
                        return cli_fail(c, "Invalid --acme \"%s\": give the CA's directory URL (https://...) or one "
                                        "of letsencrypt, letsencrypt-staging, zerossl, google, google-staging.", arg),
                               -EINVAL;
                return set(config, "directory", json_string(url)) < 0 ? (cli_fail(c, "Out of memory."), -ENOMEM) : 1;
        }
        if (opt == ARG_ACME_AGREE_TOS)
                return set(config, "agree_tos", json_true()) < 0 ? (cli_fail(c, "Out of memory."), -ENOMEM) : 1;

        for (size_t i = 0; i < ELEMENTSOF(string_options); i++)
                if (string_options[i].opt == opt) {
                        if (isempty(arg))
                                return cli_fail(c, "The option for '%s' needs a value.", string_options[i].key),
                                       -EINVAL;
                        if (opt == ARG_ACME_TSIG_KEY)
                                tsig_key_mode_check(c, arg);
                        return set(config, string_options[i].key, json_string(arg)) < 0
                                       ? (cli_fail(c, "Out of memory."), -ENOMEM)
                                       : 1;
                }
        return 0;
}
