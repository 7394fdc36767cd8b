/* SPDX-License-Identifier: MIT */
/* Tests of the local HTTP API (certkeeperd-api.c) over its real transports: a Unix socket and a
 * loopback TCP port, driven by libcurl against an epoll loop in a thread. */
#include <curl/curl.h>
#include <grp.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <strings.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "certkeeperd-api.h"
#include "certkeeperd-bindings.h"
#include "config.h"
#include "dynbuf.h"
#include "fs-util.h"
#include "parse-util.h"
#include "string-util.h"
#include <stdlib.h>

#include "tests.h"

/* ---- A fake Manager ----
 *
 * A test double for the daemon's core: the certkeeperd-manager.h functions over a real Store on a
 * temporary file, with just enough defaults and state changes for the API to be exercised. It lives
 * only in this file; the real Manager (scheduler, workers, CAs) is tested by the integration
 * tests. */

struct Manager {
        Store *store;
        char *state_dir;
        uid_t uid;
        gid_t admin_gid;
        unsigned counter;
        /* An operation that waits for a CA: answered by the loop after the request was routed. */
        uint64_t op_ticket;
        json_t *op_result;
};

Store *manager_store(Manager *m) {
        return m->store;
}
const char *manager_state_dir(Manager *m) {
        return m->state_dir;
}
uid_t manager_uid(Manager *m) {
        return m->uid;
}
gid_t manager_admin_gid(Manager *m) {
        return m->admin_gid;
}
unsigned manager_workers_total(Manager *m) {
        return 4;
}
unsigned manager_workers_busy(Manager *m) {
        return 1;
}
int64_t manager_next_action_at(Manager *m) {
        return 1790000000;
}

static int fake_error(char **reterr, int r, const char *words) {
        if (reterr) {
                free(*reterr);
                *reterr = strdup(words);
        }
        return r;
}

int manager_cert_add(Manager *m, CertRecord *r, bool track_only, char **reterr) {
        char buf[4096];

        if (!r->nickname) {
                (void) snprintf(buf, sizeof(buf), "req-%u", ++m->counter);
                if (cert_record_set(&r->nickname, buf) < 0)
                        return -ENOMEM;
        }
        if (!r->ca && cert_record_set(&r->ca, "local") < 0)
                return -ENOMEM;
        if (!r->cert_path) {
                (void) snprintf(buf, sizeof(buf), "%s/certs/%s/cert.pem", m->state_dir, r->nickname);
                if (cert_record_set(&r->cert_path, buf) < 0)
                        return -ENOMEM;
        }
        if (!r->key_path && !track_only) {
                (void) snprintf(buf, sizeof(buf), "%s/certs/%s/key.pem", m->state_dir, r->nickname);
                if (cert_record_set(&r->key_path, buf) < 0)
                        return -ENOMEM;
        }
        if (!r->key_type && cert_record_set(&r->key_type, "EC") < 0)
                return -ENOMEM;
        if (streq(r->ca, "nope"))
                return fake_error(reterr, -EINVAL, "Field 'ca' names no CA. Use 'local'.");

        r->state = track_only && !r->key_path ? CERT_NEED_GUIDANCE : CERT_NEED_KEY_PAIR;
        r->created_at = r->updated_at = (int64_t) time(NULL);
        return store_cert_insert(m->store, r, reterr);
}

int manager_cert_modify(Manager *m, CertRecord *r, char **reterr) {
        r->updated_at = (int64_t) time(NULL);
        return store_cert_update(m->store, r, reterr);
}

int manager_cert_remove(Manager *m, int64_t id, char **reterr) {
        return store_cert_delete(m->store, id);
}

int manager_cert_action(Manager *m, int64_t id, ManagerAction action, char **reterr) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int k;

        k = store_cert_get(m->store, id, &r);
        if (k < 0)
                return k;
        switch (action) {
        case MANAGER_ACTION_RESUBMIT:
                r->state = CERT_NEED_CSR;
                break;
        case MANAGER_ACTION_REKEY:
                r->rekey_pending = true;
                r->state = CERT_NEED_KEY_PAIR;
                break;
        case MANAGER_ACTION_REFRESH:
                r->next_action_at = 1;
                break;
        }
        return store_cert_update(m->store, r, reterr);
}

int manager_cert_lookup(Manager *m, const char *id_or_nickname, CertRecord **ret) {
        int64_t id;

        if (safe_atoi64(id_or_nickname, &id) >= 0)
                return store_cert_get(m->store, id, ret);
        return store_cert_find_nickname(m->store, id_or_nickname, ret);
}

int manager_ca_add(Manager *m, CARecord *r, char **reterr) {
        return store_ca_insert(m->store, r, reterr);
}

int manager_ca_modify(Manager *m, CARecord *r, char **reterr) {
        return store_ca_update(m->store, r);
}

int manager_ca_remove(Manager *m, const char *name, char **reterr) {
        if (streq(name, "local") || streq(name, "SelfSign"))
                return fake_error(reterr, -EBUSY, "The built-in CA cannot be removed.");
        return store_ca_delete(m->store, name);
}

int manager_ca_refresh(Manager *m, const char *name, char **reterr) {
        CARecord ca = {};
        int r = store_ca_get(m->store, name, &ca);
        ca_record_done(&ca);
        return r == -ENOENT ? fake_error(reterr, r, "No CA with that name found.") : r;
}

/* Operations of the CA named "acme" succeed, except deactivate, which the "CA" refuses. */
static int fake_operation(Manager *m, uint64_t ticket, bool ok, const char *what) {
        m->op_ticket = ticket;
        m->op_result = json_pack("{s:b, s:s, s:s, s:s, s:i}", "ok", ok, "result", ok ? "ok" : "rejected", "message",
                                 ok ? "done" : "urn:ietf:params:acme:error:unauthorized: no", "action", what,
                                 "duration_ms", 5);
        return m->op_result ? 0 : -ENOMEM;
}

int manager_cert_revoke(Manager *m, int64_t id, const char *reason, uint64_t ticket, char **reterr) {
        if (reason && !streq(reason, "keyCompromise") && !streq(reason, "4"))
                return fake_error(reterr, -EINVAL, "The revocation reason is not a CRLReason.");
        return fake_operation(m, ticket, true, "revoke");
}

int manager_cert_export(Manager *m, int64_t id, const CertExport *e, json_t **ret, char **reterr) {
        return fake_error(reterr, -ENODATA, "No certificate to export.");
}

int manager_ca_account(Manager *m, const char *name, const char *action, const char *email, uint64_t ticket,
                       char **reterr) {
        if (!streq(name, "acme"))
                return streq(name, "local") ? fake_error(reterr, -EOPNOTSUPP, "The CA 'local' is not an ACME CA.")
                                            : fake_error(reterr, -ENOENT, "No CA named that.");
        if (!streq(action, "rollover") && !streq(action, "deactivate") && !streq(action, "update"))
                return fake_error(reterr, -EINVAL, "The account action is not rollover, deactivate or update.");
        return fake_operation(m, ticket, !streq(action, "deactivate"), action);
}

/* Bindings: the routing is tested here; the checks are the daemon's (test-bind-nginx.sh). */
int manager_binding_add(Manager *m, int64_t cert_id, json_t *spec, int64_t *ret_id, char **reterr) {
        *ret_id = 1;
        return 0;
}

int manager_binding_remove(Manager *m, int64_t cert_id, int64_t id, char **reterr) {
        return 0;
}

int manager_bindings_json(Manager *m, int64_t cert_id, json_t **ret) {
        *ret = json_array();
        return *ret ? 0 : -ENOMEM;
}

int manager_deploy(Manager *m, int64_t cert_id, char **reterr) {
        return fake_error(reterr, -ENOENT, "The request has no bindings.");
}

int manager_subscription_add(Manager *m, SubscriptionRecord *r, char **reterr) {
        if (!r->name && !(r->name = strdup("command-1")))
                return -ENOMEM;
        if (streq(r->kind, "webhook") && !r->secret)
                return fake_error(reterr, -EINVAL, "A webhook needs a secret.");
        int k = store_subscription_add(m->store, r);
        return k == -EEXIST ? fake_error(reterr, k, "A subscription by that name exists already.") : k;
}

int manager_subscription_remove(Manager *m, const char *name, char **reterr) {
        int k = store_subscription_remove(m->store, name);
        return k == -ENOENT ? fake_error(reterr, k, "No subscription by that name.") : k;
}

bool manager_subscription_in_flight(Manager *m, const char *name) {
        return false;
}

const char *manager_ca_roots_path(Manager *m, const char *name) {
        return streq(name, "local") ? "/fake/roots.pem" : NULL;
}

/* ---- Test environment ---- */

typedef struct Env {
        char dir[64];
        char socket_path[128];
        char token_path[128];
        char json_path[128];
        char db_path[128];
        Manager manager;
        Api *api;
        pthread_t thread;
        int stop_fd;
        char tcp_url[64]; /* "http://127.0.0.1:PORT" */
        char *token;
} Env;

static void *loop_thread(void *userdata) {
        Env *e = userdata;
        _cleanup_close_ int ep = -EBADF;
        struct epoll_event ev = { .events = EPOLLIN };
        int fds[2];
        unsigned n;

        ep = epoll_create1(EPOLL_CLOEXEC);
        ASSERT_TRUE(ep >= 0);
        n = api_get_fds(e->api, fds);
        ASSERT_TRUE(n == 2);
        for (unsigned i = 0; i < n; i++) {
                ev.data.fd = fds[i];
                ASSERT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev));
        }
        ev.data.fd = e->stop_fd;
        ASSERT_OK(epoll_ctl(ep, EPOLL_CTL_ADD, e->stop_fd, &ev));

        for (;;) {
                struct epoll_event got[4];
                usec_t t = api_get_timeout(e->api);
                int timeout = t == USEC_INFINITY ? -1 : (int) MIN(t / USEC_PER_MSEC, (usec_t) 60000);
                int k;

                k = epoll_wait(ep, got, ELEMENTSOF(got), timeout);
                if (k < 0 && errno == EINTR)
                        continue;
                ASSERT_TRUE(k >= 0);
                for (int i = 0; i < k; i++)
                        if (got[i].data.fd == e->stop_fd)
                                return NULL;
                ASSERT_OK(api_process(e->api));
                if (e->manager.op_ticket) {
                        /* The CA answered (in the real manager: a helper worker's reply). */
                        api_operation_done(e->api, e->manager.op_ticket, e->manager.op_result);
                        json_decref(e->manager.op_result);
                        e->manager.op_result = NULL;
                        e->manager.op_ticket = 0;
                }
                /* The real manager commits, then releases the held answers (group commit). */
                while (api_has_held(e->api)) {
                        api_release_held(e->api, 0);
                        ASSERT_OK(api_process(e->api));
                }
        }
}

static void env_setup(Env *e, bool start) {
        _cleanup_free_ char *err = NULL;
        ApiConfig cfg = {};
        unsigned port;
        int r;

        *e = (Env) { .stop_fd = -EBADF };
        memcpy(e->dir, "/tmp/test-api-XXXXXX", sizeof("/tmp/test-api-XXXXXX"));
        ASSERT_NOT_NULL(mkdtemp(e->dir));
        (void) snprintf(e->socket_path, sizeof(e->socket_path), "%s/api.sock", e->dir);
        (void) snprintf(e->token_path, sizeof(e->token_path), "%s/api-token", e->dir);
        (void) snprintf(e->json_path, sizeof(e->json_path), "%s/api.json", e->dir);
        (void) snprintf(e->db_path, sizeof(e->db_path), "%s/db.sqlite", e->dir);

        r = store_open(e->db_path, true, &e->manager.store, &err);
        if (r < 0)
                fprintf(stderr, "store_open: %s\n", strna(err));
        ASSERT_OK(r);
        e->manager.state_dir = e->dir;
        e->manager.uid = getuid();
        e->manager.admin_gid = (gid_t) -1;

        ASSERT_TRUE(getrandom(&port, sizeof(port), 0) == sizeof(port));
        cfg = (ApiConfig) {
                .socket_path = e->socket_path,
                .tcp_address = "127.0.0.1",
                .tcp_port = (uint16_t) (20000 + port % 20000),
                .token_path = e->token_path,
                .api_json_path = e->json_path,
        };
        r = api_new(&e->manager, &cfg, &e->api, &err);
        if (r < 0)
                fprintf(stderr, "api_new: %s\n", strna(err));
        ASSERT_OK(r);

        /* The endpoint comes from api.json, as clients get it. */
        {
                json_auto_t *j = json_load_file(e->json_path, 0, NULL);
                const char *tcp;

                ASSERT_NOT_NULL(j);
                tcp = json_string_value(json_object_get(j, "tcp"));
                ASSERT_NOT_NULL(tcp);
                ASSERT_TRUE(startswith(tcp, "127.0.0.1:"));
                (void) snprintf(e->tcp_url, sizeof(e->tcp_url), "http://%s", tcp);
        }
        ASSERT_OK(fs_read_file(e->token_path, 4096, &e->token, NULL));

        e->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        ASSERT_TRUE(e->stop_fd >= 0);
        if (start)
                ASSERT_EQ(pthread_create(&e->thread, NULL, loop_thread, e), 0);
}

static void env_stop(Env *e) {
        uint64_t one = 1;

        ASSERT_TRUE(write(e->stop_fd, &one, sizeof(one)) == sizeof(one));
        ASSERT_EQ(pthread_join(e->thread, NULL), 0);
}

static void env_teardown(Env *e) {
        char cmd[128];

        e->api = api_free(e->api);
        /* The socket is removed with the API. */
        ASSERT_FALSE(fs_exists(e->socket_path));
        e->manager.store = store_free(e->manager.store);
        e->stop_fd = safe_close(e->stop_fd);
        e->token = mfree(e->token);
        (void) snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
        ASSERT_EQ(system(cmd), 0);
}

/* ---- HTTP client ---- */

typedef struct Reply {
        long status;
        json_t *json;
        char *content_type;
        char *www_authenticate;
        DynBuf raw;
} Reply;

static void reply_done(Reply *r) {
        json_decref(r->json);
        free(r->content_type);
        free(r->www_authenticate);
        dynbuf_done(&r->raw);
        *r = (Reply) {};
}

static size_t write_cb(char *p, size_t size, size_t n, void *userdata) {
        Reply *r = userdata;

        if (dynbuf_append(&r->raw, p, size * n) < 0)
                return 0;
        return size * n;
}

static size_t header_cb(char *p, size_t size, size_t n, void *userdata) {
        Reply *r = userdata;
        size_t len = size * n;
        char **dst = NULL;
        size_t skip = 0;

        if (len > 13 && strncasecmp(p, "Content-Type:", 13) == 0) {
                dst = &r->content_type;
                skip = 13;
        } else if (len > 17 && strncasecmp(p, "WWW-Authenticate:", 17) == 0) {
                dst = &r->www_authenticate;
                skip = 17;
        }
        if (dst) {
                free(*dst);
                *dst = strndup(p + skip, len - skip);
                ASSERT_NOT_NULL(*dst);
                strstrip(*dst);
        }
        return len;
}

/* Sends a request over the Unix socket (transport NULL) or TCP (transport = bearer token, "" for
 * none). */
static bool chunked = false; /* send bodies with Transfer-Encoding: chunked */
static double transfer_seconds = 0; /* wall time spent in curl_easy_perform(), summed */

static double now_seconds(void) {
        struct timespec ts;

        ASSERT_OK(clock_gettime(CLOCK_MONOTONIC, &ts));
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void request(Env *e, const char *method, const char *path, const char *body, size_t body_len,
                    const char *bearer, Reply *ret) {
        _cleanup_free_ char *url = NULL, *auth = NULL;
        struct curl_slist *headers = NULL;
        CURL *c;
        CURLcode cc;
        double t0;

        *ret = (Reply) { .raw = DYNBUF_INIT(64U * 1024U * 1024U) };

        c = curl_easy_init();
        ASSERT_NOT_NULL(c);
        if (bearer) {
                url = strjoin(e->tcp_url, path);
                if (!isempty(bearer)) {
                        auth = strjoin("Authorization: Bearer ", bearer);
                        headers = curl_slist_append(headers, auth);
                }
        } else {
                url = strjoin("http://localhost", path);
                ASSERT_EQ(curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, e->socket_path), CURLE_OK);
        }
        ASSERT_NOT_NULL(url);
        if (body) {
                headers = curl_slist_append(headers, "Content-Type: application/json");
                if (chunked)
                        headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
                ASSERT_EQ(curl_easy_setopt(c, CURLOPT_POSTFIELDS, body), CURLE_OK);
                ASSERT_EQ(curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_len), CURLE_OK);
        }
        ASSERT_EQ(curl_easy_setopt(c, CURLOPT_URL, url), CURLE_OK);
        ASSERT_EQ(curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method), CURLE_OK);
        ASSERT_EQ(curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers), CURLE_OK);
        ASSERT_EQ(curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb), CURLE_OK);
        ASSERT_EQ(curl_easy_setopt(c, CURLOPT_WRITEDATA, ret), CURLE_OK);
        ASSERT_EQ(curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb), CURLE_OK);
        ASSERT_EQ(curl_easy_setopt(c, CURLOPT_HEADERDATA, ret), CURLE_OK);
        ASSERT_EQ(curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L), CURLE_OK);
        ASSERT_EQ(curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L), CURLE_OK);

        t0 = now_seconds();
        cc = curl_easy_perform(c);
        transfer_seconds += now_seconds() - t0;
        if (cc != CURLE_OK)
                fprintf(stderr, "%s %s: %s\n", method, path, curl_easy_strerror(cc));
        ASSERT_EQ(cc, CURLE_OK);
        ASSERT_EQ(curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &ret->status), CURLE_OK);
        curl_slist_free_all(headers);
        curl_easy_cleanup(c);

        if (ret->raw.len > 0) {
                json_error_t error;

                ret->json = json_loadb(ret->raw.data, ret->raw.len, JSON_DECODE_ANY, &error);
                if (!ret->json)
                        fprintf(stderr, "%s %s: not JSON: %s\n", method, path, error.text);
                ASSERT_NOT_NULL(ret->json);
        }
}

static void req(Env *e, const char *method, const char *path, const char *body, Reply *ret) {
        request(e, method, path, body, body ? strlen(body) : 0, NULL, ret);
}

/* Checks status and, for errors, the problem+json shape and type suffix. */
static void expect(const Reply *r, long status, const char *problem) {
        if (r->status != status) {
                fprintf(stderr, "status %ld, expected %ld: %.*s\n", r->status, status, (int) MIN(r->raw.len, 2000U),
                        strempty(r->raw.data));
                abort();
        }
        if (problem) {
                _cleanup_free_ char *type = strjoin("urn:certkeeper:problem:", problem);

                ASSERT_STREQ(r->content_type, "application/problem+json");
                ASSERT_STREQ(json_string_value(json_object_get(r->json, "type")), type);
                ASSERT_EQ(json_integer_value(json_object_get(r->json, "status")), status);
                ASSERT_NOT_NULL(json_string_value(json_object_get(r->json, "title")));
                ASSERT_NOT_NULL(json_string_value(json_object_get(r->json, "detail")));
        } else
                ASSERT_STREQ(r->content_type, "application/json");
}

static const char *detail(const Reply *r) {
        return json_string_value(json_object_get(r->json, "detail"));
}

/* ---- Tests ---- */

TEST(system_and_api_json) {
        _cleanup_(reply_done) Reply r = {};
        json_auto_t *j = NULL;
        struct stat st;
        Env e;

        env_setup(&e, true);

        j = json_load_file(e.json_path, 0, NULL);
        ASSERT_NOT_NULL(j);
        ASSERT_STREQ(json_string_value(json_object_get(j, "version")), PACKAGE_VERSION);
        ASSERT_EQ(json_integer_value(json_object_get(j, "pid")), getpid());
        ASSERT_STREQ(json_string_value(json_object_get(j, "socket")), e.socket_path);
        ASSERT_STREQ(json_string_value(json_object_get(j, "token_file")), e.token_path);

        /* Socket 0666, token 0600 with 32 random bytes in hex. */
        ASSERT_OK(stat(e.socket_path, &st));
        ASSERT_TRUE(S_ISSOCK(st.st_mode));
        ASSERT_EQ(st.st_mode & 07777, 0666);
        ASSERT_OK(stat(e.token_path, &st));
        ASSERT_EQ(st.st_mode & 07777, 0600);
        ASSERT_EQ(strlen(e.token), 64);
        ASSERT_EQ(strspn(e.token, "0123456789abcdef"), 64);

        req(&e, "GET", "/api/system/appversion", NULL, &r);
        expect(&r, 200, NULL);
        ASSERT_STREQ(json_string_value(r.json), PACKAGE_VERSION);
        reply_done(&r);

        req(&e, "GET", "/api/v1/system/version", NULL, &r);
        expect(&r, 200, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "version")), PACKAGE_VERSION);
        reply_done(&r);

        req(&e, "GET", "/api/v1/system/health", NULL, &r);
        expect(&r, 200, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "status")), "ok");
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "database")), "ok");
        ASSERT_EQ(json_integer_value(json_object_get(r.json, "certificates")), 0);
        ASSERT_EQ(json_integer_value(json_object_get(r.json, "workers")), 4);
        ASSERT_EQ(json_integer_value(json_object_get(r.json, "busy_workers")), 1);
        ASSERT_EQ(json_integer_value(json_object_get(r.json, "next_action_at")), 1790000000);
        reply_done(&r);

        req(&e, "POST", "/api/v1/system/version", "{}", &r);
        expect(&r, 405, "method-not-allowed");
        reply_done(&r);

        req(&e, "GET", "/api/v2/nothing", NULL, &r);
        expect(&r, 404, "not-found");
        reply_done(&r);

        req(&e, "GET", "/", NULL, &r);
        expect(&r, 404, "not-found");
        reply_done(&r);

        env_stop(&e);

        /* Idle: once the closed connections are processed, there is no timer left. */
        {
                int fds[2];
                unsigned n = api_get_fds(e.api, fds);
                struct pollfd p[2];

                for (unsigned i = 0; i < n; i++)
                        p[i] = (struct pollfd) { .fd = fds[i], .events = POLLIN };
                for (unsigned i = 0; i < 100 && api_get_timeout(e.api) != USEC_INFINITY; i++) {
                        (void) poll(p, n, 100);
                        ASSERT_OK(api_process(e.api));
                        while (api_has_held(e.api)) {
                                api_release_held(e.api, 0);
                                ASSERT_OK(api_process(e.api));
                        }
                }
        }
        ASSERT_TRUE(api_get_timeout(e.api) == USEC_INFINITY);
        env_teardown(&e);
}

TEST(tcp_bearer) {
        _cleanup_(reply_done) Reply r = {};
        _cleanup_free_ char *wrong = NULL;
        Env e;

        env_setup(&e, true);

        request(&e, "GET", "/api/v1/system/version", NULL, 0, "", &r);
        expect(&r, 401, "unauthorized");
        ASSERT_NOT_NULL(r.www_authenticate);
        ASSERT_TRUE(startswith(r.www_authenticate, "Bearer"));
        ASSERT_TRUE(strstr(detail(&r), e.token_path) != NULL);
        reply_done(&r);

        wrong = strdup(e.token);
        ASSERT_NOT_NULL(wrong);
        wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
        request(&e, "GET", "/api/v1/system/version", NULL, 0, wrong, &r);
        expect(&r, 401, "unauthorized");
        reply_done(&r);

        request(&e, "GET", "/api/v1/system/version", NULL, 0, "short", &r);
        expect(&r, 401, "unauthorized");
        reply_done(&r);

        request(&e, "GET", "/api/v1/system/version", NULL, 0, e.token, &r);
        expect(&r, 200, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "version")), PACKAGE_VERSION);
        reply_done(&r);

        /* A body sent without a token is refused before it is read. */
        request(&e, "POST", "/api/v1/certificates", "{\"nickname\":\"x\"}", 16, "", &r);
        expect(&r, 401, "unauthorized");
        reply_done(&r);

        request(&e, "POST", "/api/v1/certificates", "{\"nickname\":\"x\"}", 16, e.token, &r);
        expect(&r, 201, NULL);
        reply_done(&r);

        env_stop(&e);
        env_teardown(&e);
}

TEST(token_is_kept_and_port_moves_on) {
        _cleanup_free_ char *err = NULL, *again = NULL;
        _cleanup_(api_freep) Api *a = NULL;
        json_auto_t *j = NULL;
        char sock2[160];
        ApiConfig cfg;
        unsigned p1, p2;
        Api *b = NULL;
        Env e;

        env_setup(&e, false);
        ASSERT_OK(safe_atou(strrchr(e.tcp_url, ':') + 1, &p1));

        /* A second API with the same token file and the port the first one holds: the token is
         * kept, the next free port is taken. */
        (void) snprintf(sock2, sizeof(sock2), "%s/api2.sock", e.dir);
        cfg = (ApiConfig) {
                .socket_path = sock2,
                .tcp_address = "127.0.0.1",
                .tcp_port = (uint16_t) p1,
                .token_path = e.token_path,
                .api_json_path = e.json_path,
        };
        ASSERT_OK(api_new(&e.manager, &cfg, &a, &err));
        ASSERT_OK(fs_read_file(e.token_path, 4096, &again, NULL));
        ASSERT_STREQ(again, e.token);

        j = json_load_file(e.json_path, 0, NULL);
        ASSERT_NOT_NULL(j);
        ASSERT_STREQ(json_string_value(json_object_get(j, "socket")), sock2);
        ASSERT_OK(safe_atou(strrchr(json_string_value(json_object_get(j, "tcp")), ':') + 1, &p2));
        ASSERT_TRUE(p2 > p1 && p2 < p1 + 100);

        /* A live socket is not taken over. */
        cfg.socket_path = e.socket_path;
        ASSERT_ERROR(api_new(&e.manager, &cfg, &b, &err), EADDRINUSE);
        ASSERT_TRUE(strstr(err, e.socket_path) != NULL);
        ASSERT_TRUE(fs_exists(e.socket_path));

        /* Not loopback: refused. */
        cfg.socket_path = sock2;
        cfg.tcp_address = "0.0.0.0";
        ASSERT_ERROR(api_new(&e.manager, &cfg, &b, &err), EINVAL);
        ASSERT_TRUE(strstr(err, "loopback") != NULL);

        a = api_free(a);
        env_teardown(&e);
}

TEST(certificates) {
        _cleanup_(reply_done) Reply r = {};
        char path[256];
        int64_t id;
        Env e;

        env_setup(&e, true);

        req(&e, "POST", "/api/v1/certificates",
            "{\"nickname\":\"web\",\"dns\":[\"web.example\"],\"subject\":\"CN=web\",\"key_type\":\"EC\",\"key_bits\":384,"
            "\"renew_before\":\"14d\",\"cert_path\":\"/srv/web.pem\"}",
            &r);
        expect(&r, 201, NULL);
        id = json_integer_value(json_object_get(r.json, "id"));
        ASSERT_TRUE(id > 0);
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "nickname")), "web");
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "ca")), "local");
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "state")), "NEED_KEY_PAIR");
        ASSERT_TRUE(json_is_false(json_object_get(r.json, "stuck")));
        ASSERT_TRUE(json_is_true(json_object_get(r.json, "autorenew")));
        ASSERT_EQ(json_integer_value(json_object_get(r.json, "key_bits")), 384);
        ASSERT_STREQ(json_string_value(json_array_get(json_object_get(json_object_get(r.json, "template"), "dns"), 0)),
                     "web.example");
        ASSERT_TRUE(json_is_null(json_object_get(r.json, "cert")));
        ASSERT_NULL(json_object_get(r.json, "csr_pem"));
        reply_done(&r);

        /* Duplicates in getcert's words. */
        req(&e, "POST", "/api/v1/certificates", "{\"nickname\":\"web\"}", &r);
        expect(&r, 409, "duplicate-nickname");
        ASSERT_TRUE(strstr(detail(&r), "web") != NULL);
        reply_done(&r);
        req(&e, "POST", "/api/v1/certificates", "{\"nickname\":\"web2\",\"cert_path\":\"/srv/web.pem\"}", &r);
        expect(&r, 409, "duplicate-location");
        reply_done(&r);

        /* Bad bodies. */
        req(&e, "POST", "/api/v1/certificates", "{\"nickname\": \"x\",", &r);
        expect(&r, 400, "malformed-json");
        ASSERT_TRUE(strstr(detail(&r), "line 1") && strstr(detail(&r), "column"));
        reply_done(&r);
        req(&e, "POST", "/api/v1/certificates", "{\"nickname\":\"x\",\"nickanme\":\"y\"}", &r);
        expect(&r, 400, "unknown-field");
        ASSERT_TRUE(strstr(detail(&r), "nickanme") != NULL);
        reply_done(&r);
        req(&e, "POST", "/api/v1/certificates", "{\"dns\":[\"bad..name\"]}", &r);
        expect(&r, 400, "invalid-field");
        ASSERT_TRUE(strstr(detail(&r), "bad..name") != NULL);
        reply_done(&r);
        req(&e, "POST", "/api/v1/certificates", "{\"ca\":\"nope\"}", &r);
        expect(&r, 400, "invalid-field");
        reply_done(&r);
        req(&e, "POST", "/api/v1/certificates/track", "{\"nickname\":\"t\"}", &r);
        expect(&r, 400, "missing-field");
        ASSERT_TRUE(strstr(detail(&r), "cert_path") != NULL);
        reply_done(&r);

        /* Track without a key path: needs guidance. */
        req(&e, "POST", "/api/v1/certificates/track", "{\"nickname\":\"t\",\"cert_path\":\"/srv/t.pem\"}", &r);
        expect(&r, 201, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "state")), "NEED_GUIDANCE");
        ASSERT_TRUE(json_is_true(json_object_get(r.json, "stuck")));
        reply_done(&r);

        /* Get by id and by nickname. */
        (void) snprintf(path, sizeof(path), "/api/v1/certificates/%" PRIi64, id);
        req(&e, "GET", path, NULL, &r);
        expect(&r, 200, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "nickname")), "web");
        reply_done(&r);
        req(&e, "GET", "/api/v1/certificates/web", NULL, &r);
        expect(&r, 200, NULL);
        ASSERT_EQ(json_integer_value(json_object_get(r.json, "id")), id);
        reply_done(&r);
        req(&e, "GET", "/api/v1/certificates/9999", NULL, &r);
        expect(&r, 404, "not-found");
        ASSERT_TRUE(strstr(detail(&r), "9999") != NULL);
        reply_done(&r);
        req(&e, "PUT", "/api/v1/certificates/web", "{}", &r);
        expect(&r, 405, "method-not-allowed");
        reply_done(&r);

        /* PATCH changes only what is given. */
        req(&e, "PATCH", "/api/v1/certificates/web", "{\"dns\":[\"www.example\",\"web.example\"],\"autorenew\":false}", &r);
        expect(&r, 200, NULL);
        ASSERT_TRUE(json_is_false(json_object_get(r.json, "autorenew")));
        ASSERT_EQ(json_array_size(json_object_get(json_object_get(r.json, "template"), "dns")), 2);
        ASSERT_STREQ(json_string_value(json_object_get(json_object_get(r.json, "template"), "subject")), "CN=web");
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "renew_before")), "14d");
        reply_done(&r);
        req(&e, "PATCH", "/api/v1/certificates/web", "{\"key_mode\":\"0600\"}", &r);
        expect(&r, 400, "invalid-field");
        reply_done(&r);
        req(&e, "PATCH", "/api/v1/certificates/nosuch", "{}", &r);
        expect(&r, 404, "not-found");
        reply_done(&r);
        req(&e, "GET", "/api/v1/certificates/web", NULL, &r);
        ASSERT_TRUE(json_is_false(json_object_get(r.json, "autorenew")));
        reply_done(&r);

        /* Actions. */
        req(&e, "POST", "/api/v1/certificates/web/rekey", "{\"key_type\":\"RSA\",\"key_bits\":3072}", &r);
        expect(&r, 200, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "key_type")), "RSA");
        ASSERT_EQ(json_integer_value(json_object_get(r.json, "key_bits")), 3072);
        ASSERT_TRUE(json_is_true(json_object_get(r.json, "rekey_pending")));
        reply_done(&r);
        req(&e, "POST", "/api/v1/certificates/web/rekey", "{\"nickname\":\"z\"}", &r);
        expect(&r, 400, "unknown-field");
        reply_done(&r);
        req(&e, "POST", "/api/v1/certificates/web/resubmit", NULL, &r);
        expect(&r, 200, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "state")), "NEED_CSR");
        reply_done(&r);
        req(&e, "POST", "/api/v1/certificates/web/refresh", "", &r);
        expect(&r, 200, NULL);
        reply_done(&r);
        req(&e, "GET", "/api/v1/certificates/web/refresh", NULL, &r);
        expect(&r, 405, "method-not-allowed");
        reply_done(&r);
        req(&e, "POST", "/api/v1/certificates/web/explode", NULL, &r);
        expect(&r, 404, "not-found");
        reply_done(&r);

        /* History. (The store is used from this thread while the loop thread sits idle in
         * epoll_wait(): the requests above have all been answered.) */
        {
                HistoryRecord h = { .cert_id = id, .at = 100, .stage = (char *) "submit", .result = (char *) "ok",
                                    .message = (char *) "issued \xff", .duration_ms = 12 };

                ASSERT_OK(store_history_add(e.manager.store, &h));
                h.at = 200;
                h.result = (char *) "failed";
                ASSERT_OK(store_history_add(e.manager.store, &h));
        }
        req(&e, "GET", "/api/v1/certificates/web/history?limit=10", NULL, &r);
        expect(&r, 200, NULL);
        ASSERT_EQ(json_array_size(json_object_get(r.json, "items")), 2);
        ASSERT_EQ(json_integer_value(json_object_get(json_array_get(json_object_get(r.json, "items"), 0), "at")), 200);
        ASSERT_STREQ(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "items"), 0), "message")),
                     "issued ?");
        reply_done(&r);
        req(&e, "GET", "/api/v1/certificates/web/history?limit=zero", NULL, &r);
        expect(&r, 400, "invalid-field");
        reply_done(&r);

        /* List with filters. */
        req(&e, "GET", "/api/v1/certificates", NULL, &r);
        expect(&r, 200, NULL);
        ASSERT_EQ(json_array_size(json_object_get(r.json, "items")), 2);
        ASSERT_EQ(json_integer_value(json_object_get(r.json, "total")), 2);
        ASSERT_TRUE(json_is_null(json_object_get(r.json, "next_after")));
        reply_done(&r);
        req(&e, "GET", "/api/v1/certificates?state=NEED_GUIDANCE", NULL, &r);
        expect(&r, 200, NULL);
        ASSERT_EQ(json_array_size(json_object_get(r.json, "items")), 1);
        ASSERT_EQ(json_integer_value(json_object_get(r.json, "total")), 1);
        ASSERT_STREQ(json_string_value(json_object_get(json_array_get(json_object_get(r.json, "items"), 0), "nickname")), "t");
        reply_done(&r);
        req(&e, "GET", "/api/v1/certificates?tracking=monitoring", NULL, &r);
        expect(&r, 200, NULL);
        ASSERT_EQ(json_array_size(json_object_get(r.json, "items")), 0);
        reply_done(&r);
        req(&e, "GET", "/api/v1/certificates?limit=1", NULL, &r);
        expect(&r, 200, NULL);
        ASSERT_EQ(json_array_size(json_object_get(r.json, "items")), 1);
        ASSERT_EQ(json_integer_value(json_object_get(r.json, "next_after")), id);
        reply_done(&r);
        req(&e, "GET", "/api/v1/certificates?limit=0", NULL, &r);
        expect(&r, 400, "invalid-field");
        reply_done(&r);
        req(&e, "GET", "/api/v1/certificates?limit=10001", NULL, &r);
        expect(&r, 400, "invalid-field");
        reply_done(&r);
        req(&e, "GET", "/api/v1/certificates?state=BORED", NULL, &r);
        expect(&r, 400, "invalid-field");
        reply_done(&r);
        req(&e, "GET", "/api/v1/certificates?tracking=all", NULL, &r);
        expect(&r, 400, "invalid-field");
        reply_done(&r);
        req(&e, "GET", "/api/v1/certificates?limt=5", NULL, &r);
        expect(&r, 400, "unknown-field");
        reply_done(&r);

        /* Body caps: Content-Length over 64 KiB, and a chunked body that grows past it. */
        {
                size_t n = 64 * 1024 + 1;
                _cleanup_free_ char *big = malloc(n + 1);

                ASSERT_NOT_NULL(big);
                memset(big, ' ', n);
                big[0] = '{';
                big[n - 1] = '}';
                big[n] = '\0';
                request(&e, "POST", "/api/v1/certificates", big, n, NULL, &r);
                expect(&r, 413, "body-too-large");
                reply_done(&r);

                chunked = true;
                request(&e, "POST", "/api/v1/certificates", big, n, NULL, &r);
                chunked = false;
                expect(&r, 413, "body-too-large");
                reply_done(&r);

                /* Exactly at the cap is fine (and parses: an object with blanks). */
                big[n - 2] = '}';
                request(&e, "PATCH", "/api/v1/certificates/web", big, n - 1, NULL, &r);
                expect(&r, 200, NULL);
                reply_done(&r);
        }

        /* No GET changed anything: the object is what the last PATCH left. */
        req(&e, "GET", "/api/v1/system/health", NULL, &r);
        ASSERT_EQ(json_integer_value(json_object_get(r.json, "certificates")), 2);
        reply_done(&r);

        /* Delete. */
        req(&e, "DELETE", "/api/v1/certificates/web", NULL, &r);
        expect(&r, 200, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "removed")), "web");
        reply_done(&r);
        req(&e, "DELETE", "/api/v1/certificates/web", NULL, &r);
        expect(&r, 404, "not-found");
        reply_done(&r);
        req(&e, "GET", path, NULL, &r);
        expect(&r, 404, "not-found");
        reply_done(&r);

        env_stop(&e);
        env_teardown(&e);
}

TEST(cas) {
        _cleanup_(reply_done) Reply r = {};
        Env e;

        env_setup(&e, true);

        req(&e, "POST", "/api/v1/cas", "{\"name\":\"local\",\"type\":\"INTERNAL:LOCAL\",\"is_default\":true}", &r);
        expect(&r, 201, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "roots_path")), "/fake/roots.pem");
        reply_done(&r);
        req(&e, "POST", "/api/v1/cas", "{\"name\":\"local\",\"type\":\"INTERNAL:LOCAL\"}", &r);
        expect(&r, 409, "duplicate-ca");
        reply_done(&r);
        req(&e, "POST", "/api/v1/cas", "{\"type\":\"INTERNAL:LOCAL\"}", &r);
        expect(&r, 400, "missing-field");
        reply_done(&r);
        req(&e, "POST", "/api/v1/cas", "{\"name\":\"corp\",\"type\":\"EXTERNAL\",\"helper\":\"/usr/bin/submit 'a\"}", &r);
        expect(&r, 400, "invalid-field");
        reply_done(&r);
        req(&e, "POST", "/api/v1/cas",
            "{\"name\":\"corp\",\"type\":\"EXTERNAL\",\"helper\":\"/usr/bin/submit -k X\",\"config\":{\"t\":1}}", &r);
        expect(&r, 201, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "helper")), "/usr/bin/submit -k X");
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(r.json, "config"), "t")), 1);
        reply_done(&r);

        req(&e, "GET", "/api/v1/cas", NULL, &r);
        expect(&r, 200, NULL);
        ASSERT_EQ(json_array_size(json_object_get(r.json, "items")), 2);
        reply_done(&r);

        req(&e, "PATCH", "/api/v1/cas/corp", "{\"helper\":\"/usr/bin/other\"}", &r);
        expect(&r, 200, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "helper")), "/usr/bin/other");
        reply_done(&r);
        req(&e, "PATCH", "/api/v1/cas/corp", "{\"type\":\"INTERNAL:SELF\"}", &r);
        expect(&r, 400, "invalid-field");
        reply_done(&r);
        req(&e, "PATCH", "/api/v1/cas/corp", "{\"colour\":\"red\"}", &r);
        expect(&r, 400, "unknown-field");
        reply_done(&r);
        req(&e, "GET", "/api/v1/cas/nosuch", NULL, &r);
        expect(&r, 404, "not-found");
        reply_done(&r);
        req(&e, "PATCH", "/api/v1/cas/nosuch", "{}", &r);
        expect(&r, 404, "not-found");
        reply_done(&r);

        req(&e, "DELETE", "/api/v1/cas/local", NULL, &r);
        expect(&r, 409, "ca-in-use");
        reply_done(&r);
        req(&e, "DELETE", "/api/v1/cas/corp", NULL, &r);
        expect(&r, 200, NULL);
        reply_done(&r);
        req(&e, "DELETE", "/api/v1/cas/corp", NULL, &r);
        expect(&r, 404, "not-found");
        reply_done(&r);
        req(&e, "GET", "/api/v1/cas/corp", NULL, &r);
        expect(&r, 404, "not-found");
        reply_done(&r);

        env_stop(&e);
        env_teardown(&e);
}

TEST(subscriptions) {
        _cleanup_(reply_done) Reply r = {};
        json_t *events;
        Env e;

        env_setup(&e, true);

        req(&e, "POST", "/api/v1/subscriptions", "{\"command\":\"/bin/true\",\"events\":[\"replaced\",1006]}", &r);
        expect(&r, 201, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "name")), "command-1");
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "command")), "/bin/true");
        events = json_object_get(r.json, "events");
        ASSERT_EQ(json_array_size(events), 2);
        ASSERT_EQ(json_integer_value(json_array_get(events, 0)), 1001);
        ASSERT_EQ(json_integer_value(json_array_get(events, 1)), 1006);
        reply_done(&r);
        req(&e, "POST", "/api/v1/subscriptions", "{\"command\":\"/bin/true\"}", &r);
        expect(&r, 409, "duplicate-subscription");
        reply_done(&r);
        req(&e, "POST", "/api/v1/subscriptions", "{\"url\":\"http://127.0.0.1:1/\",\"secret\":\"k\",\"name\":\"h\"}", &r);
        expect(&r, 201, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "url")), "http://127.0.0.1:1/");
        ASSERT_NULL(json_object_get(r.json, "secret"));
        ASSERT_TRUE(json_is_null(json_object_get(r.json, "events")));
        reply_done(&r);
        req(&e, "POST", "/api/v1/subscriptions", "{\"command\":\"x\",\"url\":\"http://a/\"}", &r);
        expect(&r, 400, "missing-field");
        reply_done(&r);
        req(&e, "POST", "/api/v1/subscriptions", "{\"command\":\"x\",\"events\":[\"nosuch\"]}", &r);
        expect(&r, 400, "invalid-field");
        reply_done(&r);
        req(&e, "POST", "/api/v1/subscriptions", "{\"command\":\"x\",\"colour\":1}", &r);
        expect(&r, 400, "unknown-field");
        reply_done(&r);
        req(&e, "POST", "/api/v1/subscriptions", "{\"command\":\"x\",\"cert\":\"nosuch\"}", &r);
        expect(&r, 404, "not-found");
        reply_done(&r);

        req(&e, "GET", "/api/v1/subscriptions", NULL, &r);
        expect(&r, 200, NULL);
        ASSERT_EQ(json_array_size(json_object_get(r.json, "items")), 2);
        reply_done(&r);
        req(&e, "PATCH", "/api/v1/subscriptions/h", "{}", &r);
        expect(&r, 405, "method-not-allowed");
        reply_done(&r);
        req(&e, "DELETE", "/api/v1/subscriptions/h", NULL, &r);
        expect(&r, 200, NULL);
        reply_done(&r);
        req(&e, "DELETE", "/api/v1/subscriptions/h", NULL, &r);
        expect(&r, 404, "not-found");
        reply_done(&r);
        req(&e, "POST", "/api/v1/events", "{\"event_id\":1001}", &r);
        expect(&r, 405, "method-not-allowed");
        reply_done(&r);

        env_stop(&e);
        env_teardown(&e);
}

TEST(operations_that_wait_for_a_ca) {
        _cleanup_(reply_done) Reply r = {};
        Env e;

        env_setup(&e, true);

        req(&e, "POST", "/api/v1/cas/acme/account", "{\"action\":\"rollover\"}", &r);
        expect(&r, 200, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "action")), "rollover");
        ASSERT_NULL(json_object_get(r.json, "ok"));
        reply_done(&r);
        req(&e, "POST", "/api/v1/cas/acme/account", "{\"action\":\"update\",\"email\":\"a@example.test\"}", &r);
        expect(&r, 200, NULL);
        reply_done(&r);
        req(&e, "POST", "/api/v1/cas/acme/account", "{\"action\":\"deactivate\"}", &r);
        expect(&r, 502, "ca-rejected");
        ASSERT_NOT_NULL(strstr(detail(&r), "unauthorized"));
        reply_done(&r);
        req(&e, "POST", "/api/v1/cas/acme/account", "{\"action\":\"explode\"}", &r);
        expect(&r, 400, "invalid-field");
        reply_done(&r);
        req(&e, "POST", "/api/v1/cas/acme/account", "{}", &r);
        expect(&r, 400, "missing-field");
        reply_done(&r);
        req(&e, "POST", "/api/v1/cas/acme/account", "{\"action\":\"update\",\"colour\":\"red\"}", &r);
        expect(&r, 400, "unknown-field");
        reply_done(&r);
        req(&e, "POST", "/api/v1/cas/acme/account", "{\"action\":1}", &r);
        expect(&r, 400, "invalid-field");
        reply_done(&r);
        req(&e, "POST", "/api/v1/cas/local/account", "{\"action\":\"rollover\"}", &r);
        expect(&r, 409, "not-acme");
        reply_done(&r);
        req(&e, "POST", "/api/v1/cas/nosuch/account", "{\"action\":\"rollover\"}", &r);
        expect(&r, 404, "not-found");
        reply_done(&r);
        req(&e, "GET", "/api/v1/cas/acme/account", NULL, &r);
        expect(&r, 405, "method-not-allowed");
        reply_done(&r);

        req(&e, "POST", "/api/v1/certificates", "{\"nickname\":\"web\",\"dns\":[\"web.example\"]}", &r);
        expect(&r, 201, NULL);
        reply_done(&r);
        req(&e, "POST", "/api/v1/certificates/web/revoke", "{\"reason\":\"keyCompromise\"}", &r);
        expect(&r, 200, NULL);
        ASSERT_STREQ(json_string_value(json_object_get(r.json, "result")), "ok");
        reply_done(&r);
        req(&e, "POST", "/api/v1/certificates/web/revoke", "{\"reason\":4}", &r);
        expect(&r, 200, NULL);
        reply_done(&r);
        req(&e, "POST", "/api/v1/certificates/web/revoke", NULL, &r);
        expect(&r, 200, NULL);
        reply_done(&r);
        req(&e, "POST", "/api/v1/certificates/web/revoke", "{\"reason\":\"stolen\"}", &r);
        expect(&r, 400, "invalid-field");
        reply_done(&r);
        req(&e, "POST", "/api/v1/certificates/web/revoke", "{\"reason\":true}", &r);
        expect(&r, 400, "invalid-field");
        reply_done(&r);
        req(&e, "POST", "/api/v1/certificates/web/revoke", "{\"why\":1}", &r);
        expect(&r, 400, "unknown-field");
        reply_done(&r);
        req(&e, "POST", "/api/v1/certificates/nosuch/revoke", "{}", &r);
        expect(&r, 404, "not-found");
        reply_done(&r);

        env_stop(&e);
        env_teardown(&e);
}

/* Runs one request as another user in a child process; returns the HTTP status. */
static long status_as(Env *e, uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups) {
        pid_t pid;
        int st;

        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                _cleanup_(reply_done) Reply r = {};

                if (setgroups(n_groups, groups) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                        _exit(100);
                req(e, "GET", "/api/v1/system/version", NULL, &r);
                if (r.status == 403 && !strstr(detail(&r), "sudo"))
                        _exit(101);
                _exit(r.status == 200 ? 0 : r.status == 403 ? 3 : 102);
        }
        ASSERT_EQ(waitpid(pid, &st, 0), pid);
        ASSERT_TRUE(WIFEXITED(st));
        switch (WEXITSTATUS(st)) {
        case 0:
                return 200;
        case 3:
                return 403;
        default:
                fprintf(stderr, "child failed with %i\n", WEXITSTATUS(st));
                abort();
        }
}

TEST(unix_peer_credentials) {
        _cleanup_(reply_done) Reply r = {};
        Env e;

        env_setup(&e, false);

        if (geteuid() != 0) {
                /* Not root: make ourselves a stranger to the daemon. */
                e.manager.uid = getuid() + 1;
                ASSERT_EQ(pthread_create(&e.thread, NULL, loop_thread, &e), 0);
                req(&e, "GET", "/api/v1/system/version", NULL, &r);
                expect(&r, 403, "forbidden");
                ASSERT_TRUE(strstr(detail(&r), "sudo") != NULL);
        } else {
                const gid_t admin = 4242, other = 4343;

                /* nobody must reach the socket in our directory. */
                ASSERT_OK(chmod(e.dir, 0755));
                e.manager.admin_gid = admin;
                ASSERT_EQ(pthread_create(&e.thread, NULL, loop_thread, &e), 0);

                ASSERT_EQ(status_as(&e, 65534, 65534, &other, 1), 403);
                ASSERT_EQ(status_as(&e, 65534, 65534, &admin, 1), 200);   /* supplementary group */
                ASSERT_EQ(status_as(&e, 65534, admin, &other, 1), 200);    /* primary group */
                e.manager.uid = 65534;                                     /* the daemon's own user */
                ASSERT_EQ(status_as(&e, 65534, 65534, &other, 1), 200);
                e.manager.uid = 0;

                req(&e, "GET", "/api/v1/system/version", NULL, &r);      /* root */
                expect(&r, 200, NULL);
        }

        env_stop(&e);
        env_teardown(&e);
}

static int fill_store(Store *s, unsigned n) {
        char nick[32], path[64];

        ASSERT_OK(store_begin(s));
        for (unsigned i = 0; i < n; i++) {
                _cleanup_(cert_record_done) CertRecord rec = {
                        .state = CERT_MONITORING, .autorenew = true, .track = true, .key_bits = 256,
                        .not_after = 1790000000 + i,
                };

                (void) snprintf(nick, sizeof(nick), "cert-%u", i);
                (void) snprintf(path, sizeof(path), "/srv/certs/%u/cert.pem", i);
                ASSERT_OK(cert_record_set(&rec.nickname, nick));
                ASSERT_OK(cert_record_set(&rec.cert_path, path));
                ASSERT_OK(cert_record_set(&rec.ca, i % 2 ? "local" : "corp"));
                ASSERT_OK(cert_record_set(&rec.key_type, "EC"));
                ASSERT_OK(cert_record_set(&rec.template_json, "{\"subject\":\"CN=x\",\"dns\":[\"x.example\"]}"));
                ASSERT_OK(store_cert_insert(s, &rec, NULL));
        }
        ASSERT_OK(store_commit(s));
        return 0;
}

TEST(list_paging_100k) {
        /* Smaller under valgrind (CERTKEEPER_TEST_QUICK), where the full size takes minutes. */
        const unsigned n = getenv("CERTKEEPER_TEST_QUICK") ? 2000 : 100000;
        int64_t after = 0, seen = 0, last = 0;
        unsigned pages = 0;
        Env e;

        env_setup(&e, false);
        ASSERT_OK(fill_store(e.manager.store, n));
        ASSERT_EQ(pthread_create(&e.thread, NULL, loop_thread, &e), 0);

        transfer_seconds = 0;
        for (;;) {
                _cleanup_(reply_done) Reply r = {};
                char path[128];
                size_t idx;
                json_t *item, *next;

                (void) snprintf(path, sizeof(path), "/api/v1/certificates?limit=10000&after=%" PRIi64, after);
                req(&e, "GET", path, NULL, &r);
                expect(&r, 200, NULL);
                ASSERT_EQ(json_integer_value(json_object_get(r.json, "total")), n);
                json_array_foreach(json_object_get(r.json, "items"), idx, item) {
                        int64_t id = json_integer_value(json_object_get(item, "id"));

                        ASSERT_TRUE(id > last); /* in id order, none twice */
                        last = id;
                        seen++;
                }
                pages++;
                next = json_object_get(r.json, "next_after");
                if (json_is_null(next))
                        break;
                after = json_integer_value(next);
                ASSERT_EQ(after, last);
        }
        /* The time to serve and transfer the pages, without our own parsing of the replies. */
        fprintf(stderr, "served %" PRIi64 " certificates in %u pages in %.3f s\n", seen, pages, transfer_seconds);
        ASSERT_EQ(seen, n);
        ASSERT_EQ(pages, (n + 9999) / 10000);

        /* A filtered page counts only the matches. */
        {
                _cleanup_(reply_done) Reply r = {};

                req(&e, "GET", "/api/v1/certificates?ca=corp&limit=5", NULL, &r);
                expect(&r, 200, NULL);
                ASSERT_EQ(json_integer_value(json_object_get(r.json, "total")), n / 2);
                ASSERT_EQ(json_array_size(json_object_get(r.json, "items")), 5);
        }

        /* Its speed is measured by bench/large-store.sh (bench/RESULTS.md), not asserted here: a
         * loaded machine would fail a timed test. */

        env_stop(&e);
        env_teardown(&e);
}

TEST_MAIN()
