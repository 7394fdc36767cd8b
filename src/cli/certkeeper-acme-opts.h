/* SPDX-License-Identifier: MIT */
#pragma once

/* The ACME settings of add-ca and modify-ca as command-line options. Their names are stable:
 * scripts outside this repository use them. Each one sets a key of the CA's "config" object
 * (docs/API.md). */

#include <getopt.h>
#include <jansson.h>

#include "certkeeper-common.h"

enum {
        ARG_ACME = 0x200,
        ARG_ACME_EMAIL,
        ARG_ACME_AGREE_TOS,
        ARG_ACME_EAB_KID,
        ARG_ACME_EAB_HMAC,
        ARG_ACME_CA_BUNDLE,
        ARG_ACME_PROFILE,
        ARG_ACME_CHALLENGE,
        ARG_ACME_HTTP01_LISTEN,
        ARG_ACME_WEBROOT,
        ARG_ACME_TLS_ALPN01_LISTEN,
        ARG_ACME_DNS01_HOOK,
        ARG_ACME_DNS01_RFC2136,
        ARG_ACME_TSIG_KEY,
        ARG_ACME_DNS01_ZONE,
        ARG_ACME_DNS01_RESOLVER,
        ARG_ACME_DNS01_NS_PORT,
        ARG_ACME_DNS01_PROPAGATION_TIMEOUT,
        ARG_ACME_ACCOUNT_KEY_TYPE,
        ARG_ACME_PREFERRED_CHAIN,
        ARG_ACME_ORDER_RATE,
        _ARG_ACME_MAX,
};

#define CLI_ACME_LONG_OPTIONS                                                              \
        { "acme", required_argument, NULL, ARG_ACME },                                     \
        { "email", required_argument, NULL, ARG_ACME_EMAIL },                              \
        { "agree-tos", no_argument, NULL, ARG_ACME_AGREE_TOS },                            \
        { "eab-kid", required_argument, NULL, ARG_ACME_EAB_KID },                          \
        { "eab-hmac", required_argument, NULL, ARG_ACME_EAB_HMAC },                        \
        { "ca-bundle", required_argument, NULL, ARG_ACME_CA_BUNDLE },                      \
        { "profile", required_argument, NULL, ARG_ACME_PROFILE },                          \
        { "challenge", required_argument, NULL, ARG_ACME_CHALLENGE },                      \
        { "http01-listen", required_argument, NULL, ARG_ACME_HTTP01_LISTEN },              \
        { "webroot", required_argument, NULL, ARG_ACME_WEBROOT },                          \
        { "tls-alpn01-listen", required_argument, NULL, ARG_ACME_TLS_ALPN01_LISTEN },      \
        { "dns01-hook", required_argument, NULL, ARG_ACME_DNS01_HOOK },                    \
        { "dns01-rfc2136", required_argument, NULL, ARG_ACME_DNS01_RFC2136 },              \
        { "tsig-key", required_argument, NULL, ARG_ACME_TSIG_KEY },                        \
        { "dns01-zone", required_argument, NULL, ARG_ACME_DNS01_ZONE },                    \
        { "dns01-resolver", required_argument, NULL, ARG_ACME_DNS01_RESOLVER },            \
        { "dns01-ns-port", required_argument, NULL, ARG_ACME_DNS01_NS_PORT },              \
        { "dns01-propagation-timeout", required_argument, NULL,                            \
          ARG_ACME_DNS01_PROPAGATION_TIMEOUT },                                            \
        { "account-key-type", required_argument, NULL, ARG_ACME_ACCOUNT_KEY_TYPE },        \
        { "preferred-chain", required_argument, NULL, ARG_ACME_PREFERRED_CHAIN },          \
        { "order-rate", required_argument, NULL, ARG_ACME_ORDER_RATE }

/* Applies one option to *config (created on first use). 1 if opt is an ACME option, 0 if it is not
 * one, -EINVAL after printing why a value is bad. --acme takes a directory URL or a preset name:
 * letsencrypt, letsencrypt-staging, zerossl, google, google-staging. */
int cli_acme_option(const CliContext *c, int opt, const char *arg, json_t **config);

/* The help lines of these options. */
extern const char cli_acme_help[];
