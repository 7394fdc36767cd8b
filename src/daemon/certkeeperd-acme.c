/* SPDX-License-Identifier: MIT */
/* ACME CAs on the daemon's side: their settings checked, the order job of a request built, and the
 * built-in http-01 responders started when an order needs one and stopped when no order is in
 * flight, and the renewal information job of a certificate built. The orders and the renewal
 * information requests themselves run in helper workers (certkeeperd-jobs-acme.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "certkeeperd-acme-responder.h"
#include "certkeeperd-dns01.h"
#include "certkeeperd-manager-private.h"
#include "fs-util.h"
#include "log.h"
#include "string-util.h"

#define DEFAULT_HTTP01_LISTEN ":80"

static const char *const challenges[] = { "http-01", "dns-01", "tls-alpn-01" };

static const char *const string_keys[] = {
        "directory", "email", "eab_kid", "eab_hmac", "eab_alg", "ca_bundle", "profile", "challenge", "http01_listen",
        "webroot", "tls_alpn01_listen", "dns01_hook", "dns01_rfc2136", "tsig_key", "account_key_type",
        "preferred_chain", "dns01_zone", "dns01_resolver", "dns01_ns_port", "dns01_propagation_timeout",
};

static const char *cfg_str(json_t *cfg, const char *key) {
        return json_string_value(json_object_get(cfg, key));
}

static bool is_loopback_url(const char *url) {
        return startswith(url, "http://127.0.0.1:") || startswith(url, "http://127.0.0.1/") ||
               startswith(url, "http://localhost:") || startswith(url, "http://localhost/") ||
               startswith(url, "http://[::1]");
}

int manager_acme_config_check(const CARecord *ca, char **reterr) {
        json_auto_t *cfg = ca->config_json ? json_loads(ca->config_json, 0, NULL) : NULL;
        const char *dir, *ch, *key, *v;
        json_t *value;
        int k;

        if (!json_is_object(cfg))
                return errorf(reterr, -EINVAL, "An ACME CA needs its directory URL: give --acme URL (or a preset such "
                              "as letsencrypt) and --agree-tos.");
        json_object_foreach(cfg, key, value) {
                bool known = streq(key, "agree_tos");
                for (size_t i = 0; i < ELEMENTSOF(string_keys) && !known; i++)
                        known = streq(key, string_keys[i]);
                if (!known)
                        return errorf(reterr, -EINVAL, "Unknown ACME setting '%s'. The settings are those of the add-ca "
                                      "options, see certkeeper add-ca --help.", key);
                if (!streq(key, "agree_tos") && !json_is_string(value))
                        return errorf(reterr, -EINVAL, "The ACME setting '%s' must be a string.", key);
        }

        dir = cfg_str(cfg, "directory");
        if (isempty(dir))
                return errorf(reterr, -EINVAL, "An ACME CA needs its directory URL: give --acme URL.");
        if (!startswith(dir, "https://") && !is_loopback_url(dir))
                return errorf(reterr, -EINVAL, "The ACME directory '%s' is not an https:// URL. Plain http is only "
                              "accepted on 127.0.0.1, for tests.", dir);
        if (!json_is_true(json_object_get(cfg, "agree_tos")))
                return errorf(reterr, -EINVAL, "Using an ACME CA means accepting its terms of service. Read them (the "
                              "directory's meta.termsOfService), then add --agree-tos.");
        if (!cfg_str(cfg, "eab_kid") != !cfg_str(cfg, "eab_hmac"))
                return errorf(reterr, -EINVAL, "External account binding needs both --eab-kid and --eab-hmac.");
        v = cfg_str(cfg, "eab_alg");
        if (v && !streq(v, "HS256") && !streq(v, "HS384") && !streq(v, "HS512"))
                return errorf(reterr, -EINVAL, "The EAB algorithm '%s' is not HS256, HS384 or HS512.", v);
        v = cfg_str(cfg, "eab_hmac");
        if (v && !base64url_is_valid(v))
                return errorf(reterr, -EINVAL, "The EAB HMAC key is not base64url text; paste it as the CA gave it.");
        v = cfg_str(cfg, "account_key_type");
        if (v && !streq(v, "EC") && !streq(v, "RSA"))
                return errorf(reterr, -EINVAL, "The account key type '%s' is not EC (ES256) or RSA (RS256).", v);

        ch = cfg_str(cfg, "challenge") ?: "http-01";
        bool known = false;
        for (size_t i = 0; i < ELEMENTSOF(challenges); i++)
                known = known || streq(ch, challenges[i]);
        if (!known)
                return errorf(reterr, -EINVAL, "The challenge type '%s' is not http-01, dns-01 or tls-alpn-01.", ch);
        if (streq(ch, "tls-alpn-01"))
                return errorf(reterr, -EINVAL, "tls-alpn-01 is not available in this version; use http-01 or dns-01.");

        for (size_t i = 0; i < 4; i++) {
                static const char *const paths[] = { "webroot", "ca_bundle", "dns01_hook", "tsig_key" };
                v = cfg_str(cfg, paths[i]);
                if (v && v[0] != '/')
                        return errorf(reterr, -EINVAL, "The ACME setting '%s' must be an absolute path, not '%s'.",
                                      paths[i], v);
        }
        k = dns01_settings_check(cfg, reterr);
        if (k < 0)
                return k;
        v = cfg_str(cfg, "ca_bundle");
        if (v && access(v, R_OK) < 0)
                return errorf(reterr, -EINVAL, "The CA bundle '%s' cannot be read: %s.", v, strerror(errno));
        v = cfg_str(cfg, "webroot");
        if (v) {
                struct stat st;
                if (stat(v, &st) < 0 || !S_ISDIR(st.st_mode))
                        return errorf(reterr, -EINVAL, "The webroot '%s' is not a directory.", v);
        }
        v = cfg_str(cfg, "http01_listen");
        if (v)
                return acme_listen_check(v, reterr);
        return 0;
}

static int responder_ensure(Manager *m, const char *address, const char *dir, char **reterr) {
        struct AcmeResponderSlot *free_slot = NULL;
        int k;

        for (size_t i = 0; i < ELEMENTSOF(m->acme_responders); i++) {
                if (streq_ptr(m->acme_responders[i].address, address))
                        return 0;
                if (!m->acme_responders[i].address && !free_slot)
                        free_slot = &m->acme_responders[i];
        }
        if (!free_slot)
                return errorf(reterr, -EBUSY, "Too many http-01 listen addresses in use at once; ACME CAs should "
                              "share one.");
        free_slot->address = strdup(address);
        if (!free_slot->address)
                return -ENOMEM;
        k = acme_responder_start(address, dir, &free_slot->responder, reterr);
        if (k < 0) {
                free_slot->address = mfree(free_slot->address);
                return k;
        }
        log_info("http-01 responder listening on %s.", address);
        return 0;
}

void manager_acme_stop_responders(Manager *m) {
        for (size_t i = 0; i < ELEMENTSOF(m->acme_responders); i++) {
                if (!m->acme_responders[i].address)
                        continue;
                log_info("http-01 responder on %s stopped: no ACME order in flight.", m->acme_responders[i].address);
                m->acme_responders[i].responder = acme_responder_stop(m->acme_responders[i].responder);
                m->acme_responders[i].address = mfree(m->acme_responders[i].address);
        }
}

void manager_acme_job_done(Manager *m, int64_t id, json_t *reply) {
        if (json_is_true(json_object_get(reply, "acme")) &&
            streq_ptr(json_string_value(json_object_get(reply, "result")), "waiting"))
                return;
        for (size_t i = 0; i < m->acme_in_flight.n; i++)
                if (m->acme_in_flight.ids[i] == id) {
                        m->acme_in_flight.ids[i] = m->acme_in_flight.ids[--m->acme_in_flight.n];
                        break;
                }
        if (m->acme_in_flight.n == 0)
                manager_acme_stop_responders(m);
}

int manager_acme_base_job(Manager *m, const CARecord *ca, const char *op, json_t **ret, char **reterr) {
        json_auto_t *cfg = ca->config_json ? json_loads(ca->config_json, 0, NULL) : NULL;
        _cleanup_free_ char *account_dir = NULL, *account_key = NULL;
        int k;

        k = manager_acme_config_check(ca, reterr);
        if (k < 0)
                return k;
        account_dir = strjoin(m->cfg.state_dir, "/acme/", ca->name);
        account_key = strjoin(m->cfg.state_dir, "/acme/", ca->name, "/account.key");
        if (!account_dir || !account_key)
                return -ENOMEM;
        k = fs_mkdir_p(account_dir, 0700);
        if (k < 0)
                return errorf(reterr, k, "Cannot create the ACME account directory '%s': %s", account_dir, strerror(-k));

        *ret = json_pack("{s:s, s:s, s:O, s:s, s:s, s:I, s:I}", "op", op, "ca", ca->name, "config", cfg,
                         "account_key", account_key, "user_agent", "certkeeper/" PACKAGE_VERSION, "timeout",
                         (json_int_t) m->cfg.helper_timeout, "output_max", (json_int_t) m->cfg.helper_output_max);
        return *ret ? 0 : -ENOMEM;
}

int manager_acme_job(Manager *m, const CARecord *ca, const CertRecord *r, json_t **ret, char **reterr) {
        json_auto_t *tmpl = r->template_json ? json_loads(r->template_json, 0, NULL) : NULL;
        json_auto_t *job = NULL, *extra = NULL;
        _cleanup_free_ char *challenge_dir = NULL;
        json_t *cfg;
        const char *challenge;
        int k;

        k = manager_acme_base_job(m, ca, "acme-order", &job, reterr);
        if (k < 0)
                return k;
        cfg = json_object_get(job, "config");
        challenge = cfg_str(cfg, "challenge") ?: "http-01";

        challenge_dir = strjoin(m->cfg.run_dir, "/acme-challenge");
        if (!challenge_dir)
                return -ENOMEM;
        if (streq(challenge, "http-01") && !cfg_str(cfg, "webroot")) {
                k = fs_mkdir_p(challenge_dir, 0755);
                if (k < 0)
                        return errorf(reterr, k, "Cannot create '%s': %s", challenge_dir, strerror(-k));
                k = responder_ensure(m, cfg_str(cfg, "http01_listen") ?: DEFAULT_HTTP01_LISTEN, challenge_dir, reterr);
                if (k < 0)
                        return k;
        }

        extra = json_pack("{s:s, s:s, s:s?, s:s?, s:O?, s:O?, s:s?}", "challenge_dir", challenge_dir, "csr_pem",
                          r->csr_pem, "order_url", r->ca_cookie, "cert_path", r->sha256 ? r->cert_path : NULL, "dns",
                          json_object_get(tmpl, "dns"), "ip", json_object_get(tmpl, "ip"), "profile",
                          cfg_str(cfg, "profile"));
        if (!extra || json_object_update(job, extra) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < m->acme_in_flight.n; i++)
                if (m->acme_in_flight.ids[i] == r->id) {
                        *ret = TAKE_PTR(job);
                        return 0;
                }
        k = id_list_push(&m->acme_in_flight, r->id);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(job);
        return 0;
}

int manager_acme_ari_job(Manager *m, const CARecord *ca, const CertRecord *r, json_t **ret, char **reterr) {
        json_auto_t *cfg = ca->config_json ? json_loads(ca->config_json, 0, NULL) : NULL;
        _cleanup_free_ char *account_key = NULL;
        json_t *job;
        int k;

        k = manager_acme_config_check(ca, reterr);
        if (k < 0)
                return k;
        if (!r->cert_path)
                return errorf(reterr, -EINVAL, "The request has no certificate file.");
        /* The same account key path as the orders: the worker's cached client for the CA is reused. */
        account_key = strjoin(m->cfg.state_dir, "/acme/", ca->name, "/account.key");
        if (!account_key)
                return -ENOMEM;
        job = json_pack("{s:s, s:s, s:O, s:s, s:s, s:s, s:I}", "op", "acme-ari", "ca", ca->name, "config", cfg,
                        "account_key", account_key, "cert_path", r->cert_path, "user_agent",
                        "certkeeper/" PACKAGE_VERSION, "timeout", (json_int_t) m->cfg.helper_timeout);
        if (!job)
                return -ENOMEM;
        *ret = job;
        return 0;
}
