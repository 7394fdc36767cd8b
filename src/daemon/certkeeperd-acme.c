/* SPDX-License-Identifier: MIT */
/* ACME CAs on the daemon's side: their settings checked, the order job of a request built, and the
 * built-in http-01 and tls-alpn-01 responders started when an order needs one and stopped when no
 * order is in flight, and the renewal information job of a certificate built. The orders and the
 * renewal information requests themselves run in helper workers (certkeeperd-jobs-acme.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "certkeeperd-acme-alpn.h"
#include "certkeeperd-acme-responder.h"
#include "certkeeperd-dns01.h"
#include "certkeeperd-manager-private.h"
#include "fs-util.h"
#include "json-get.h"
#include "log.h"
#include "string-util.h"

#define DEFAULT_HTTP01_LISTEN ":80"
#define DEFAULT_TLS_ALPN01_LISTEN ":443"

static const char *const challenges[] = { "http-01", "dns-01", "tls-alpn-01" };

static const char *const string_keys[] = {
        "directory", "email", "eab_kid", "eab_hmac", "eab_alg", "ca_bundle", "profile", "challenge", "http01_listen",
        "webroot", "tls_alpn01_listen", "dns01_hook", "dns01_rfc2136", "tsig_key", "account_key_type",
        "preferred_chain", "order_rate", "dns01_zone", "dns01_resolver", "dns01_ns_port",
        "dns01_propagation_timeout",
};

/* The published limits on new orders of the CAs that have presets (an account's "new orders" limit;
 * order_rate overrides them, "none" lifts them). */
static const struct {
        const char *directory_prefix, *order_rate;
} published_limits[] = {
        { "https://acme-v02.api.letsencrypt.org/", "300/3h" },
        { "https://acme-staging-v02.api.letsencrypt.org/", "1500/3h" },
};

static bool is_loopback_url(const char *url) {
        return startswith(url, "http://127.0.0.1:") || startswith(url, "http://127.0.0.1/") ||
               startswith(url, "http://localhost:") || startswith(url, "http://localhost/") ||
               startswith(url, "http://[::1]");
}

/* The settings a certificate may give for itself (its template's "ca_options"), over the CA's: those
 * of its orders. The account's and the connection's (directory, terms, contact, EAB, account key,
 * CA bundle) stay the CA's. */
static const char *const per_cert_keys[] = {
        "profile", "challenge", "http01_listen", "webroot", "tls_alpn01_listen", "dns01_hook", "dns01_rfc2136",
        "tsig_key", "dns01_zone", "dns01_resolver", "dns01_ns_port", "dns01_propagation_timeout", "preferred_chain",
};

static int config_check(json_t *cfg, char **reterr) {
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

        dir = jstr(cfg, "directory");
        if (isempty(dir))
                return errorf(reterr, -EINVAL, "An ACME CA needs its directory URL: give --acme URL.");
        if (!startswith(dir, "https://") && !is_loopback_url(dir))
                return errorf(reterr, -EINVAL, "The ACME directory '%s' is not an https:// URL. Plain http is only "
                              "accepted on 127.0.0.1, for tests.", dir);
        if (!json_is_true(json_object_get(cfg, "agree_tos")))
                return errorf(reterr, -EINVAL, "Using an ACME CA means accepting its terms of service. Read them (the "
                              "directory's meta.termsOfService), then add --agree-tos.");
        if (!jstr(cfg, "eab_kid") != !jstr(cfg, "eab_hmac"))
                return errorf(reterr, -EINVAL, "External account binding needs both --eab-kid and --eab-hmac.");
        v = jstr(cfg, "eab_alg");
        if (v && !streq(v, "HS256") && !streq(v, "HS384") && !streq(v, "HS512"))
                return errorf(reterr, -EINVAL, "The EAB algorithm '%s' is not HS256, HS384 or HS512.", v);
        v = jstr(cfg, "eab_hmac");
        if (v && !base64url_is_valid(v))
                return errorf(reterr, -EINVAL, "The EAB HMAC key is not base64url text; paste it as the CA gave it.");
        v = jstr(cfg, "account_key_type");
        if (v && !streq(v, "EC") && !streq(v, "RSA"))
                return errorf(reterr, -EINVAL, "The account key type '%s' is not EC (ES256) or RSA (RS256).", v);
        v = jstr(cfg, "order_rate");
        if (v && !streq(v, "none")) {
                unsigned limit;
                int64_t window;

                if (rate_window_parse(v, &limit, &window) < 0)
                        return errorf(reterr, -EINVAL, "Invalid --order-rate '%s': give new orders per time, such as "
                                      "300/3h (1 to 100000 per 1s to 7d), or none.", v);
        }

        ch = jstr(cfg, "challenge") ?: "http-01";
        bool known = false;
        for (size_t i = 0; i < ELEMENTSOF(challenges); i++)
                known = known || streq(ch, challenges[i]);
        if (!known)
                return errorf(reterr, -EINVAL, "The challenge type '%s' is not http-01, dns-01 or tls-alpn-01.", ch);

        for (size_t i = 0; i < 4; i++) {
                static const char *const paths[] = { "webroot", "ca_bundle", "dns01_hook", "tsig_key" };
                v = jstr(cfg, paths[i]);
                if (v && v[0] != '/')
                        return errorf(reterr, -EINVAL, "The ACME setting '%s' must be an absolute path, not '%s'.",
                                      paths[i], v);
        }
        k = dns01_settings_check(cfg, reterr);
        if (k < 0)
                return k;
        v = jstr(cfg, "ca_bundle");
        if (v && access(v, R_OK) < 0)
                return errorf(reterr, -EINVAL, "The CA bundle '%s' cannot be read: %s.", v, strerror(errno));
        v = jstr(cfg, "webroot");
        if (v) {
                struct stat st;
                if (stat(v, &st) < 0 || !S_ISDIR(st.st_mode))
                        return errorf(reterr, -EINVAL, "The webroot '%s' is not a directory.", v);
        }
        v = jstr(cfg, "tls_alpn01_listen");
        if (v) {
                _cleanup_free_ char *why = NULL;
                if (acme_listen_check(v, &why) < 0)
                        return errorf(reterr, -EINVAL, "Invalid --tls-alpn01-listen '%s': %s The CA connects to port "
                                      "443 of the names (default :443).", v, strna(why));
        }
        v = jstr(cfg, "http01_listen");
        if (v)
                return acme_listen_check(v, reterr);
        return 0;
}

int manager_acme_config_check(const CARecord *ca, char **reterr) {
        json_auto_t *cfg = ca->config_json ? json_loads(ca->config_json, 0, NULL) : NULL;

        return config_check(cfg, reterr);
}

int manager_acme_cert_config(const CARecord *ca, const CertRecord *r, json_t **ret, char **reterr) {
        json_auto_t *cfg = ca->config_json ? json_loads(ca->config_json, 0, NULL) : NULL;
        json_auto_t *tmpl = r->template_json ? json_loads(r->template_json, 0, NULL) : NULL;
        const char *key;
        json_t *value;
        int k;

        k = config_check(cfg, reterr);
        if (k < 0)
                return k;
        json_object_foreach(json_object_get(tmpl, "ca_options"), key, value) {
                bool allowed = false;

                for (size_t i = 0; i < ELEMENTSOF(per_cert_keys) && !allowed; i++)
                        allowed = streq(key, per_cert_keys[i]);
                if (!allowed)
                        return errorf(reterr, -EINVAL, "'%s' is a setting of the ACME CA '%s' itself (its account or "
                                      "connection), not of one certificate: change it with certkeeper modify-ca -c %s.",
                                      key, ca->name, ca->name);
                if (json_object_set(cfg, key, value) < 0)
                        return -ENOMEM;
        }
        k = config_check(cfg, reterr);
        if (k < 0)
                return k;
        *ret = TAKE_PTR(cfg);
        return 0;
}

int manager_ca_check_options(const CARecord *ca, const CertRecord *r, char **reterr) {
        json_auto_t *tmpl = r->template_json ? json_loads(r->template_json, 0, NULL) : NULL;
        json_auto_t *cfg = NULL;
        json_t *opts = json_object_get(tmpl, "ca_options");

        if (json_object_size(opts) == 0)
                return 0;
        if (!streq_ptr(ca->type, "ACME"))
                return errorf(reterr, -EINVAL, "Per-certificate CA settings (such as --challenge) apply to ACME CAs, and "
                              "'%s' is a %s CA. Drop them, or choose an ACME CA with -c.", ca->name, strna(ca->type));
        return manager_acme_cert_config(ca, r, &cfg, reterr);
}

/* Starts the responder of a challenge type (http-01 or tls-alpn-01) on address, unless it runs. */
/* The order limit of a CA: its order_rate, else the published one of a known directory. */
static int order_limit(json_t *cfg, unsigned *ret_limit, int64_t *ret_window) {
        const char *rate = jstr(cfg, "order_rate"), *dir = jstr(cfg, "directory");

        for (size_t i = 0; !rate && dir && i < ELEMENTSOF(published_limits); i++)
                if (startswith(dir, published_limits[i].directory_prefix))
                        rate = published_limits[i].order_rate;
        if (!rate || streq(rate, "none")) {
                *ret_limit = 0;
                *ret_window = 0;
                return 0;
        }
        return rate_window_parse(rate, ret_limit, ret_window);
}

int manager_acme_pace(Manager *m, const CARecord *ca, int64_t now, int64_t *ret_at) {
        json_auto_t *cfg = ca->config_json ? json_loads(ca->config_json, 0, NULL) : NULL;
        struct AcmePace *p = NULL;
        unsigned limit;
        int64_t window;
        int k;

        if (order_limit(cfg, &limit, &window) < 0)
                return 0; /* the order itself will say what is wrong with the settings */
        for (size_t i = 0; i < m->n_acme_paces && !p; i++)
                if (streq(m->acme_paces[i].ca, ca->name))
                        p = &m->acme_paces[i];
        if (!p) {
                struct AcmePace *a;

                if (limit == 0)
                        return 0;
                a = reallocarray(m->acme_paces, m->n_acme_paces + 1, sizeof(*a));
                if (!a)
                        return -ENOMEM;
                m->acme_paces = a;
                p = &a[m->n_acme_paces];
                *p = (struct AcmePace) { .ca = strdup(ca->name) };
                if (!p->ca)
                        return -ENOMEM;
                m->n_acme_paces++;
        }
        k = rate_window_set(&p->orders, limit, window);
        if (k < 0)
                return k;
        k = rate_window_take(&p->orders, now, ret_at);
        if (k == -EAGAIN)
                log_debug("ACME CA '%s': %u new orders in %" PRIi64 " s, its limit; the next waits until %" PRIi64 ".",
                          ca->name, limit, window, *ret_at);
        return k;
}

void manager_acme_paces_free(Manager *m) {
        for (size_t i = 0; i < m->n_acme_paces; i++) {
                free(m->acme_paces[i].ca);
                rate_window_done(&m->acme_paces[i].orders);
        }
        m->acme_paces = mfree(m->acme_paces);
        m->n_acme_paces = 0;
}

static int responder_ensure(Manager *m, bool tls_alpn, const char *address, const char *dir, char **reterr) {
        const char *what = tls_alpn ? "tls-alpn-01" : "http-01";
        struct AcmeResponderSlot *free_slot = NULL;
        int k;

        for (size_t i = 0; i < ELEMENTSOF(m->acme_responders); i++) {
                struct AcmeResponderSlot *s = &m->acme_responders[i];
                if (streq_ptr(s->address, address) && !!s->alpn_responder == tls_alpn)
                        return 0;
                if (!s->address && !free_slot)
                        free_slot = s;
        }
        if (!free_slot)
                return errorf(reterr, -EBUSY, "Too many %s listen addresses in use at once; ACME CAs should share "
                              "one.", what);
        free_slot->address = strdup(address);
        if (!free_slot->address)
                return -ENOMEM;
        if (tls_alpn)
                k = acme_alpn_responder_start(address, dir, &free_slot->alpn_responder, reterr);
        else
                k = acme_responder_start(address, dir, &free_slot->responder, reterr);
        if (k < 0) {
                free_slot->address = mfree(free_slot->address);
                return k;
        }
        log_info("%s responder listening on %s.", what, address);
        return 0;
}

void manager_acme_stop_responders(Manager *m) {
        for (size_t i = 0; i < ELEMENTSOF(m->acme_responders); i++) {
                struct AcmeResponderSlot *s = &m->acme_responders[i];
                if (!s->address)
                        continue;
                log_info("%s responder on %s stopped: no ACME order in flight.",
                         s->alpn_responder ? "tls-alpn-01" : "http-01", s->address);
                s->responder = acme_responder_stop(s->responder);
                s->alpn_responder = acme_alpn_responder_stop(s->alpn_responder);
                s->address = mfree(s->address);
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

/* cfg: the settings checked, the CA's or a certificate's (manager_acme_cert_config()). */
static int base_job(Manager *m, const CARecord *ca, json_t *cfg, const char *op, json_t **ret, char **reterr) {
        _cleanup_free_ char *account_dir = NULL, *account_key = NULL;
        int k;

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

int manager_acme_base_job(Manager *m, const CARecord *ca, const char *op, json_t **ret, char **reterr) {
        json_auto_t *cfg = ca->config_json ? json_loads(ca->config_json, 0, NULL) : NULL;
        int k;

        k = config_check(cfg, reterr);
        if (k < 0)
                return k;
        return base_job(m, ca, cfg, op, ret, reterr);
}

int manager_acme_job(Manager *m, const CARecord *ca, const CertRecord *r, json_t **ret, char **reterr) {
        json_auto_t *tmpl = r->template_json ? json_loads(r->template_json, 0, NULL) : NULL;
        json_auto_t *job = NULL, *extra = NULL, *cert_cfg = NULL;
        _cleanup_free_ char *challenge_dir = NULL, *alpn_dir = NULL;
        json_t *cfg;
        const char *challenge;
        int k;

        k = manager_acme_cert_config(ca, r, &cert_cfg, reterr);
        if (k < 0)
                return k;
        k = base_job(m, ca, cert_cfg, "acme-order", &job, reterr);
        if (k < 0)
                return k;
        cfg = json_object_get(job, "config");
        challenge = jstr(cfg, "challenge") ?: "http-01";

        challenge_dir = strjoin(m->cfg.run_dir, "/acme-challenge");
        /* The tls-alpn-01 certificates come with their (throwaway) keys: a directory of its own, 0700. */
        alpn_dir = strjoin(m->cfg.run_dir, "/acme-tls-alpn");
        if (!challenge_dir || !alpn_dir)
                return -ENOMEM;
        if (streq(challenge, "http-01") && !jstr(cfg, "webroot")) {
                k = fs_mkdir_p(challenge_dir, 0755);
                if (k < 0)
                        return errorf(reterr, k, "Cannot create '%s': %s", challenge_dir, strerror(-k));
                k = responder_ensure(m, false, jstr(cfg, "http01_listen") ?: DEFAULT_HTTP01_LISTEN, challenge_dir,
                                     reterr);
                if (k < 0)
                        return k;
        }
        if (streq(challenge, "tls-alpn-01")) {
                k = fs_mkdir_p(alpn_dir, 0700);
                if (k < 0)
                        return errorf(reterr, k, "Cannot create '%s': %s", alpn_dir, strerror(-k));
                k = responder_ensure(m, true, jstr(cfg, "tls_alpn01_listen") ?: DEFAULT_TLS_ALPN01_LISTEN, alpn_dir,
                                     reterr);
                if (k < 0)
                        return k;
        }

        /* --validity asks the CA for a notAfter (some CAs, Let's Encrypt among them, refuse it). */
        extra = json_pack("{s:s, s:s, s:s, s:s?, s:s?, s:O?, s:O?, s:s?, s:I}", "challenge_dir", challenge_dir,
                          "alpn_dir", alpn_dir, "csr_pem", r->csr_pem, "order_url", r->ca_cookie, "cert_path",
                          r->sha256 ? r->cert_path : NULL, "dns", json_object_get(tmpl, "dns"), "ip",
                          json_object_get(tmpl, "ip"), "profile",
                          json_string_value(json_object_get(tmpl, "profile")) ?: jstr(cfg, "profile"), "not_after",
                          (json_int_t) (r->validity > 0 ? (int64_t) time(NULL) + r->validity : 0));
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
