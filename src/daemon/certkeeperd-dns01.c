/* SPDX-License-Identifier: MIT */
/* The dns-01 settings of an ACME CA and the RFC 2136 / propagation steps of its order jobs. */
#include <errno.h>
#include <string.h>

#include "acme-jws.h"
#include "certkeeperd-dns01.h"
#include "json-get.h"
#include "parse-util.h"
#include "pki-key.h"
#include "string-util.h"

int dns01_settings(json_t *cfg, AcmeDns01Config *ret, char **reterr) {
        AcmeDns01Config c = {
                .rfc2136_server = jstr(cfg, "dns01_rfc2136"),
                .tsig_key_path = jstr(cfg, "tsig_key"),
                .zone = jstr(cfg, "dns01_zone"),
                .resolver = jstr(cfg, "dns01_resolver"),
                .propagation_timeout_sec = -1,
        };
        const char *v;
        unsigned u;

        v = jstr(cfg, "dns01_ns_port");
        if (v) {
                if (safe_atou(v, &u) < 0 || u == 0 || u > 65535)
                        return errorf(reterr, -EINVAL, "The dns-01 name server port '%s' is not a port number.", v);
                c.ns_port = (uint16_t) u;
        }
        v = jstr(cfg, "dns01_propagation_timeout");
        if (v) {
                if (safe_atou(v, &u) < 0 || u > 3600)
                        return errorf(reterr, -EINVAL, "The dns-01 propagation timeout '%s' is not a number of seconds "
                                      "from 0 (no wait) to 3600.", v);
                c.propagation_timeout_sec = u;
        }
        *ret = c;
        return 0;
}

int dns01_settings_check(json_t *cfg, char **reterr) {
        AcmeDns01Config c;
        bool dns01 = streq_ptr(jstr(cfg, "challenge"), "dns-01");
        int r;

        /* Other challenges leave the dns-01 settings alone (kept for a switch back). */
        if (!dns01)
                return 0;
        if (!jstr(cfg, "dns01_hook") && !jstr(cfg, "dns01_rfc2136"))
                return errorf(reterr, -EINVAL, "dns-01 needs --dns01-rfc2136 SERVER:PORT (with --tsig-key FILE) or "
                              "--dns01-hook CMD.");
        if (jstr(cfg, "dns01_hook") && jstr(cfg, "dns01_rfc2136"))
                return errorf(reterr, -EINVAL, "dns-01 is answered either by --dns01-hook or by --dns01-rfc2136, not "
                              "both.");
        if ((jstr(cfg, "tsig_key") || jstr(cfg, "dns01_zone")) && !jstr(cfg, "dns01_rfc2136"))
                return errorf(reterr, -EINVAL, "--tsig-key and --dns01-zone go with --dns01-rfc2136 SERVER:PORT.");
        r = dns01_settings(cfg, &c, reterr);
        if (r < 0)
                return r;
        return acme_dns01_config_check(&c, reterr);
}

static int job_settings(json_t *job, AcmeDns01Config *ret, char **reterr) {
        int r = dns01_settings(json_object_get(job, "config"), ret, reterr);
        int64_t t = json_integer_value(json_object_get(job, "timeout"));

        if (r >= 0 && t > 0)
                ret->query_timeout_sec = MIN(t, (int64_t) 10);
        return r;
}

int dns01_txt_name(json_t *job, const char *identifier, bool hook, char **ret, char **reterr) {
        AcmeDns01Config c;
        int r;

        r = job_settings(job, &c, reterr);
        if (r < 0)
                return r;
        if (hook)
                c.rfc2136_server = NULL;
        return acme_dns01_txt_target(&c, identifier, ret, reterr);
}

int dns01_present(json_t *job, const char *txt_name, const char *value, char **reterr) {
        AcmeDns01Config c;
        int r;

        r = job_settings(job, &c, reterr);
        if (r < 0)
                return r;
        if (c.rfc2136_server) {
                r = acme_dns01_update(&c, txt_name, value, true, reterr);
                if (r < 0)
                        return r;
        }
        return acme_dns01_wait(&c, txt_name, value, reterr);
}

int dns01_wait(json_t *job, const char *txt_name, const char *value, char **reterr) {
        AcmeDns01Config c;
        int r;

        r = job_settings(job, &c, reterr);
        if (r < 0)
                return r;
        c.rfc2136_server = NULL;
        return acme_dns01_wait(&c, txt_name, value, reterr);
}

void dns01_cleanup(json_t *job, const char *identifier, const char *token) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_free_ char *thumb = NULL, *keyauth = NULL, *value = NULL, *txt_name = NULL, *err = NULL;
        AcmeDns01Config c;

        if (job_settings(job, &c, &err) < 0 || !c.rfc2136_server)
                return;
        /* Best effort, as the hook's "done": the CA has decided, and a record left behind is
         * harmless but for its clutter. */
        if (pki_key_load(json_string_value(json_object_get(job, "account_key")), &key) < 0 ||
            acme_jws_thumbprint(key, &thumb) < 0 || acme_jws_key_authorization(token, thumb, &keyauth) < 0 ||
            acme_jws_dns01_value(keyauth, &value) < 0)
                return;
        if (acme_dns01_txt_target(&c, identifier, &txt_name, &err) < 0)
                return;
        if (acme_dns01_update(&c, txt_name, value, false, &err) < 0)
                return;
}
