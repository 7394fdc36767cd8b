/* SPDX-License-Identifier: MIT */
/* What the API asks of the manager: add, modify, remove and act on requests, and manage CAs.
 * Each call validates what the API could not (CA names, paths, duplicates), commits before it
 * returns (the client's answer means "durable"), and schedules the work. */
#include <inttypes.h>
#include <limits.h>
#include <jansson.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "ca-local.h"
#include "cert-json.h"
#include "certkeeperd-manager-private.h"
#include "fs-util.h"
#include "id-list.h"
#include "log.h"
#include "parse-util.h"
#include "pki-key.h"
#include "renew-policy.h"
#include "string-util.h"

static int64_t now_sec(void) {
        return (int64_t) time(NULL);
}

typedef struct DefaultCA {
        char *name;
} DefaultCA;

static int find_default_cb(const CARecord *ca, void *userdata) {
        DefaultCA *d = userdata;
        if (ca->is_default && !d->name) {
                d->name = strdup(ca->name);
                return d->name ? 0 : -ENOMEM;
        }
        return 0;
}

static int check_ca(Manager *m, CertRecord *r, char **reterr) {
        CARecord ca = {};
        int k;

        if (isempty(r->ca)) {
                DefaultCA d = {};
                k = store_ca_foreach(m->store, find_default_cb, &d);
                if (k < 0)
                        return k;
                free(r->ca);
                r->ca = d.name ? d.name : strdup("local");
                if (!r->ca)
                        return -ENOMEM;
        }
        k = store_ca_get(m->store, r->ca, &ca);
        if (k == -ENOENT)
                return errorf(reterr, -ENOENT, "No CA with name \"%s\" found.", r->ca);
        if (k >= 0)
                /* A request with a certificate already is checked at its renewal instead. */
                k = manager_ca_check_request(m, &ca, r, r->sha256 || fs_exists(r->cert_path), reterr);
        if (k >= 0)
                k = manager_ca_check_options(&ca, r, reterr);
        ca_record_done(&ca);
        return k;
}

static int check_path(const char *what, const char *path, char **reterr) {
        int k;

        if (isempty(path))
                return 0;
        if (path[0] != '/')
                return errorf(reterr, -EINVAL, "The %s path '%s' is not absolute; give a full path.", what, path);
        k = fs_check_writable(path);
        if (k < 0)
                return errorf(reterr, -EINVAL, "The %s file '%s' cannot be written (%s); create its directory or "
                            "fix its permissions, or choose another location.", what, path, strerror(-k));
        return 0;
}

static int check_record(Manager *m, CertRecord *r, char **reterr) {
        _cleanup_free_ char *err = NULL;
        unsigned bits;
        KeyType t;
        int k;

        k = check_ca(m, r, reterr);
        if (k < 0)
                return k;

        if (!r->key_type) {
                r->key_type = strdup(m->cfg.key_type);
                if (!r->key_type)
                        return -ENOMEM;
        }
        t = key_type_from_string(r->key_type);
        if (t < 0)
                return errorf(reterr, -EINVAL, "Unknown key type '%s': use RSA, EC or ED25519.", r->key_type);
        k = pki_key_params_check(t, (unsigned) MAX(r->key_bits, (int64_t) 0), &bits, &err);
        if (k < 0)
                return errorf(reterr, -EINVAL, "%s", strna(err));
        r->key_bits = bits;

        k = renew_before_check(r->renew_before, reterr);
        if (k < 0)
                return k;
        if (r->validity < 0)
                return errorf(reterr, -EINVAL, "validity must be a positive number of seconds.");

        k = check_path("certificate", r->cert_path, reterr);
        if (k >= 0)
                k = check_path("key", r->key_path, reterr);
        if (k >= 0)
                k = check_path("chain", r->chain_path, reterr);
        if (k >= 0)
                k = check_path("full chain", r->fullchain_path, reterr);
        if (k >= 0)
                k = check_path("CA roots", r->ca_file, reterr);
        return k;
}

/* certmonger's default when nothing names the certificate: CN=<hostname> and that DNS name. */
static int default_template(CertRecord *r) {
        json_auto_t *t = NULL;
        char host[256] = "localhost";
        static const char *const naming[] = { "subject", "dns", "ip", "email", "principal" };

        t = r->template_json ? json_loads(r->template_json, 0, NULL) : json_object();
        if (!t)
                t = json_object();
        if (!t)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(naming); i++) {
                json_t *v = json_object_get(t, naming[i]);
                if ((json_is_string(v) && json_string_length(v) > 0) || (json_is_array(v) && json_array_size(v) > 0))
                        return 0;
        }
        (void) gethostname(host, sizeof(host) - 1);
        _cleanup_free_ char *cn = strjoin("CN=", host);
        if (!cn)
                return -ENOMEM;
        json_object_set_new(t, "subject", json_string(cn));
        if (dns_name_is_valid(host))
                json_object_set_new(t, "dns", json_pack("[s]", host));
        if (!json_object_get(t, "eku"))
                json_object_set_new(t, "eku", json_pack("[s]", "id-kp-serverAuth"));
        _cleanup_free_ char *partial = json_dumps(t, JSON_COMPACT);
        if (!partial)
                return -ENOMEM;
        free(r->template_json);
        r->template_json = NULL;
        return cert_template_normalize(partial, &r->template_json);
}

static int default_paths(Manager *m, CertRecord *r) {
        _cleanup_free_ char *dir = NULL;
        int k;

        if (r->cert_path && (r->key_path || r->track))
                return 0;
        dir = strjoin(m->certs_dir, "/", r->nickname);
        if (!dir)
                return -ENOMEM;
        k = fs_mkdir_p(dir, 0700);
        if (k < 0)
                return k;
        if (!r->cert_path) {
                r->cert_path = strjoin(dir, "/cert.pem");
                r->chain_path = r->chain_path ?: strjoin(dir, "/chain.pem");
                r->fullchain_path = r->fullchain_path ?: strjoin(dir, "/fullchain.pem");
        }
        if (!r->key_path)
                r->key_path = strjoin(dir, "/key.pem");
        return r->cert_path && r->key_path ? 0 : -ENOMEM;
}

static int make_nickname(Manager *m, CertRecord *r) {
        static int64_t last_ts = 0;
        static unsigned suffix = 0;
        int64_t now = now_sec();
        char buf[64];
        struct tm tm;
        time_t t = (time_t) now;

        if (r->nickname)
                return 0;
        /* certmonger's form: the creation time, with -N on collision. */
        gmtime_r(&t, &tm);
        strftime(buf, sizeof(buf), "%Y%m%d%H%M%S", &tm);
        if (now == last_ts) {
                size_t l = strlen(buf);
                snprintf(buf + l, sizeof(buf) - l, "-%u", ++suffix);
        } else
                suffix = 0;
        last_ts = now;

        for (unsigned tries = 0; tries < 1000; tries++) {
                _cleanup_(cert_record_freep) CertRecord *other = NULL;
                if (store_cert_find_nickname(m->store, buf, &other) == -ENOENT)
                        return cert_record_set(&r->nickname, buf);
                size_t l = strlen(buf);
                char *dash = strchr(buf, '-');
                if (dash)
                        l = (size_t) (dash - buf);
                snprintf(buf + l, sizeof(buf) - l, "-%u", ++suffix);
        }
        return -EEXIST;
}

/* The loop commits at the end of its iteration, and the API holds the answer until then. */
static int commit_and_schedule(Manager *m, const CertRecord *r) {
        return manager_schedule(m, r->id, r->next_action_at);
}

int manager_cert_add(Manager *m, CertRecord *r, bool track_only, char **reterr) {
        int64_t now = now_sec();
        int k;

        if (track_only && isempty(r->cert_path))
                return errorf(reterr, -EINVAL,
                            "start-tracking needs the location of the certificate: give cert_path (-f FILE).");
        if (!track_only) {
                k = default_template(r);
                if (k < 0)
                        return k;
        }

        k = manager_tx_begin(m);
        if (k < 0)
                return k;
        k = make_nickname(m, r);
        if (k < 0)
                return errorf(reterr, k, "Cannot choose a nickname: give one with -I NAME.");
        k = check_record(m, r, reterr);
        if (k < 0)
                return k;
        if (!track_only) {
                k = default_paths(m, r);
                if (k < 0)
                        return errorf(reterr, k, "Cannot create the certificate's directory under '%s': %s",
                                    m->certs_dir, strerror(-k));
        }

        /* A new request whose certificate does not exist yet needs nothing read: straight to a new
         * key, or to a CSR with the key that is there (the issue job reads it, and says so if it
         * cannot). */
        if (track_only || fs_exists(r->cert_path))
                r->state = CERT_NEWLY_ADDED;
        else
                r->state = fs_exists(r->key_path) ? CERT_NEED_CSR : CERT_NEED_KEY_PAIR;
        r->next_action_at = now;
        r->created_at = r->updated_at = now;
        r->renew_at = 0;
        r->backoff_step = 0;
        k = store_cert_insert(m->store, r, reterr);
        if (k < 0)
                return k;
        log_info("%s request '%s' added for '%s'.", track_only ? "Tracking" : "Signing", r->nickname, r->cert_path);
        manager_watch_cert(m, r);
        return commit_and_schedule(m, r);
}

int manager_cert_modify(Manager *m, CertRecord *r, char **reterr) {
        int64_t now = now_sec();
        int k;

        k = manager_tx_begin(m);
        if (k < 0)
                return k;
        k = check_record(m, r, reterr);
        if (k < 0)
                return k;
        /* Look at the files again, as certmonger does on modify; a running job's outcome is then
         * dropped (its state no longer matches). Stuck requests get another chance. */
        r->state = CERT_NEWLY_ADDED;
        r->next_action_at = now;
        r->updated_at = now;
        k = store_cert_update(m->store, r, reterr);
        if (k < 0)
                return k;
        /* Its files may be elsewhere now: watched at once; the old ones go at the next full sync. */
        manager_watch_cert(m, r);
        m->watch_dirty = true;
        return commit_and_schedule(m, r);
}

int manager_cert_remove(Manager *m, int64_t id, char **reterr) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int k;

        k = manager_tx_begin(m);
        if (k < 0)
                return k;
        k = store_cert_get(m->store, id, &r);
        if (k >= 0)
                k = store_cert_delete(m->store, id);
        if (k == -ENOENT)
                return errorf(reterr, k, "No request found that matched arguments.");
        if (k < 0)
                return k;
        scheduler_remove(m->scheduler, id);
        m->watch_dirty = true;
        (void) manager_event(m, CERT_EVENT_DELETED, r, NULL, NULL,
                             "Request '%s' removed; no longer tracking the certificate in file \"%s\" (the files "
                             "are kept).", strna(r->nickname), strna(r->cert_path));
        return 0;
}

int manager_cert_action(Manager *m, int64_t id, ManagerAction action, char **reterr) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t now = now_sec();
        int k;

        k = store_cert_get(m->store, id, &r);
        if (k == -ENOENT)
                return errorf(reterr, k, "No request found that matched arguments.");
        if (k < 0)
                return k;

        switch (action) {
        case MANAGER_ACTION_RESUBMIT:
                if (!r->key_path)
                        return errorf(reterr, -EINVAL, "Request '%s' has no key location, so a new certificate "
                                    "cannot be requested for it. Give one with start-tracking -i %s -k FILE.",
                                    r->nickname, r->nickname);
                r->state = CERT_NEED_CSR;
                r->rekey_pending = false;
                break;
        case MANAGER_ACTION_REKEY:
                if (!r->key_path)
                        return errorf(reterr, -EINVAL, "Request '%s' has no key location; give one with "
                                    "start-tracking -i %s -k FILE.", r->nickname, r->nickname);
                r->state = CERT_NEED_KEY_PAIR;
                break;
        case MANAGER_ACTION_REFRESH:
                if (r->state != CERT_CA_WORKING && r->state != CERT_CA_UNREACHABLE &&
                    r->state != CERT_NEED_TO_SUBMIT && r->state != CERT_NEED_TO_SAVE_CERT &&
                    !cert_state_is_transient(r->state))
                        r->state = CERT_NEWLY_ADDED;
                break;
        default:
                return -EINVAL;
        }
        if (action != MANAGER_ACTION_REFRESH) {
                /* A new CSR is a new submission: no cookie of the old one, no count of new keys. */
                r->csr_pem = mfree(r->csr_pem);
                r->spkac = mfree(r->spkac);
                r->ca_cookie = mfree(r->ca_cookie);
                r->rekey_count = 0;
        }
        (void) cert_record_set(&r->ca_error, NULL);
        r->backoff_step = 0;
        r->next_action_at = now;
        r->updated_at = now;

        k = manager_tx_begin(m);
        if (k < 0)
                return k;
        k = store_cert_update(m->store, r, reterr);
        if (k < 0)
                return k;
        return commit_and_schedule(m, r);
}

int manager_cert_lookup(Manager *m, const char *id_or_nickname, CertRecord **ret) {
        int64_t id;

        if (safe_atoi64(id_or_nickname, &id) >= 0 && id > 0) {
                int k = store_cert_get(m->store, id, ret);
                if (k != -ENOENT)
                        return k;
        }
        return store_cert_find_nickname(m->store, id_or_nickname, ret);
}

static bool ca_is_builtin(const char *name) {
        return streq(name, "SelfSign") || streq(name, "local");
}

/* The helper is run without a shell, from PATH=/usr/bin:/bin:/usr/sbin:/sbin when it has no '/'. */
static int check_helper(const CARecord *r, char **reterr) {
        static const char *const path[] = { "/usr/bin", "/bin", "/usr/sbin", "/sbin" };
        _cleanup_strv_free_ char **argv = NULL;
        _cleanup_free_ char *found = NULL;
        int k;

        if (isempty(r->helper))
                return errorf(reterr, -EINVAL, "An EXTERNAL CA needs its helper's command line: give -e COMMAND, "
                            "e.g. -e '/usr/lib/certmonger/local-submit -d /var/lib/certmonger/local'.");
        k = strv_split_shell(r->helper, &argv);
        if (k < 0 || strv_length(argv) == 0)
                return errorf(reterr, -EINVAL, "The helper command line \"%s\" is %s. Quote it as a shell would: "
                            "words separated by blanks, 'single' or \"double\" quotes around words with blanks.",
                            r->helper, k < 0 ? "not properly quoted (an unterminated quote or a trailing "
                            "backslash)" : "empty");
        if (strchr(argv[0], '/')) {
                if (argv[0][0] != '/')
                        return errorf(reterr, -EINVAL, "The helper program \"%s\" must be given as an absolute path: "
                                    "the helper runs in '/'.", argv[0]);
                if (access(argv[0], X_OK) < 0)
                        return errorf(reterr, -EINVAL, "The helper program \"%s\" cannot be run: %s. Install it, or "
                                    "give the right path with -e.", argv[0], strerror(errno));
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(path); i++) {
                found = strjoin(path[i], "/", argv[0]);
                if (!found)
                        return -ENOMEM;
                if (access(found, X_OK) >= 0)
                        return 0;
                found = mfree(found);
        }
        return errorf(reterr, -EINVAL, "The helper program \"%s\" is not in /usr/bin, /bin, /usr/sbin or /sbin, "
                    "where helpers are looked up. Give its absolute path with -e.", argv[0]);
}

static int check_ca_type(const CARecord *r, char **reterr) {
        if (streq_ptr(r->type, "INTERNAL:SELF") || streq_ptr(r->type, "INTERNAL:LOCAL"))
                return 0;
        if (streq_ptr(r->type, "EXTERNAL"))
                return check_helper(r, reterr);
        if (streq_ptr(r->type, "ACME"))
                return manager_acme_config_check(r, reterr);
        return errorf(reterr, -EINVAL, "Unknown CA type '%s': use EXTERNAL (a helper program), INTERNAL:SELF or "
                    "INTERNAL:LOCAL.", strna(r->type));
}

int manager_ca_add(Manager *m, CARecord *r, char **reterr) {
        int k;

        k = check_ca_type(r, reterr);
        if (k < 0)
                return k;
        r->created_at = now_sec();
        r->data_json = mfree(r->data_json);
        k = manager_tx_begin(m);
        if (k < 0)
                return k;
        k = store_ca_insert(m->store, r, reterr);
        if (k < 0)
                return k;
        /* As certmonger does: ask the new CA's helper for its data at once. */
        return manager_ca_refresh_start(m, r->name);
}

int manager_ca_modify(Manager *m, CARecord *r, char **reterr) {
        int k;

        k = check_ca_type(r, reterr);
        if (k < 0)
                return k;
        k = manager_tx_begin(m);
        if (k < 0)
                return k;
        k = store_ca_update(m->store, r);
        if (k < 0)
                return k;
        return manager_ca_refresh_start(m, r->name);
}

int manager_ca_refresh(Manager *m, const char *name, char **reterr) {
        CARecord ca = {};
        bool external;
        int k;

        k = store_ca_get(m->store, name, &ca);
        external = streq_ptr(ca.type, "EXTERNAL");
        ca_record_done(&ca);
        if (k == -ENOENT)
                return errorf(reterr, k, "No CA with name \"%s\" found.", name);
        if (k < 0)
                return k;
        if (!external)
                return 0; /* the built-in CAs have nothing to fetch */
        return manager_ca_refresh_start(m, name);
}

static int collect_cb(const CertRecord *r, void *userdata) {
        return id_list_push(userdata, r->id);
}

int manager_ca_remove(Manager *m, const char *name, char **reterr) {
        IdList c = {};
        CertFilter f = { .ca = name };
        int k;

        if (ca_is_builtin(name))
                return errorf(reterr, -EBUSY, "The built-in CA '%s' cannot be removed.", name);
        k = manager_tx_begin(m);
        if (k < 0)
                return k;
        k = store_ca_delete(m->store, name);
        if (k == -ENOENT)
                return errorf(reterr, k, "No CA with name \"%s\" found.", name);
        if (k < 0)
                return k;

        /* Requests that used it wait for a CA, with words. */
        k = store_cert_foreach(m->store, &f, collect_cb, &c);
        for (size_t i = 0; i < c.n && k >= 0; i++) {
                _cleanup_(cert_record_freep) CertRecord *r = NULL;
                k = store_cert_get(m->store, c.ids[i], &r);
                if (k < 0)
                        break;
                k = cert_record_set(&r->ca_error, "Its CA was removed; choose another with start-tracking -i NAME -c CA.");
                if (r->state != CERT_MONITORING && r->state != CERT_NEED_CA) {
                        r->state = CERT_NEED_CA;
                        r->next_action_at = 0;
                        scheduler_remove(m->scheduler, r->id);
                        (void) manager_event(m, CERT_EVENT_STUCK, r, NULL, NULL, "Request '%s' needs a CA: %s",
                                             strna(r->nickname), strna(r->ca_error));
                }
                if (k >= 0)
                        k = store_cert_update(m->store, r, NULL);
        }
        id_list_done(&c);
        return k;
}

const char *manager_ca_roots_path(Manager *m, const char *name) {
        static char path[PATH_MAX];
        CARecord ca = {};
        bool local;

        if (store_ca_get(m->store, name, &ca) < 0)
                return NULL;
        local = streq_ptr(ca.type, "INTERNAL:LOCAL");
        ca_record_done(&ca);
        if (!local)
                return NULL;
        snprintf(path, sizeof(path), "%s/roots.pem", m->local_ca_dir);
        return path;
}
