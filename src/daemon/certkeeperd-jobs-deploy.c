/* SPDX-License-Identifier: MIT */
/* The deploy job (docs/BINDINGS.md): after a certificate was saved, each of its bindings is
 * tested, reloaded, and checked over TLS (the leaf served must be the new one); on a failure the
 * previous certificate and key (archived by the save) are put back and the services reloaded. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "certkeeperd-jobs-private.h"
#include "fs-util.h"
#include "pki-cert.h"
#include "string-util.h"
#include "time-util.h"

#define PEM_MAX (1024 * 1024)
#define TLS_IO_TIMEOUT_SEC 3
/* A reload is not instant: the endpoint is asked again this often until the timeout. */
#define VERIFY_RETRY_MSEC 100

DEFINE_TRIVIAL_CLEANUP_FUNC(SSL_CTX *, SSL_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(SSL *, SSL_free);

/* "HOST:PORT[/SNI]", HOST possibly "[v6]". */
static int endpoint_split(const char *endpoint, char **ret_host, char **ret_port, char **ret_sni) {
        _cleanup_free_ char *copy = strdup(endpoint), *host = NULL, *port = NULL, *sni = NULL;
        char *slash, *colon, *h;

        if (!copy)
                return -ENOMEM;
        slash = strchr(copy, '/');
        if (slash) {
                *slash = 0;
                sni = strdup(slash + 1);
                if (!sni)
                        return -ENOMEM;
        }
        colon = strrchr(copy, ':');
        if (!colon || colon == copy || isempty(colon + 1))
                return -EINVAL;
        *colon = 0;
        h = copy;
        if (h[0] == '[') {
                size_t l = strlen(h);
                if (l < 3 || h[l - 1] != ']')
                        return -EINVAL;
                h[l - 1] = 0;
                h++;
        }
        host = strdup(h);
        port = strdup(colon + 1);
        if (!host || !port)
                return -ENOMEM;
        *ret_host = TAKE_PTR(host);
        *ret_port = TAKE_PTR(port);
        *ret_sni = TAKE_PTR(sni);
        return 0;
}

static int connect_timeout(const char *host, const char *port, int timeout_ms) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
        struct timeval tv = { .tv_sec = TLS_IO_TIMEOUT_SEC };
        int fd = -1, r = -EHOSTUNREACH;

        if (getaddrinfo(host, port, &hints, &ai) != 0)
                return -EADDRNOTAVAIL;
        for (struct addrinfo *a = ai; a; a = a->ai_next) {
                struct pollfd p;
                int err = 0;
                socklen_t el = sizeof(err);

                fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
                if (fd < 0)
                        continue;
                if (connect(fd, a->ai_addr, a->ai_addrlen) < 0 && errno != EINPROGRESS) {
                        r = -errno;
                        fd = safe_close(fd);
                        continue;
                }
                p = (struct pollfd) { .fd = fd, .events = POLLOUT };
                if (poll(&p, 1, timeout_ms) <= 0) {
                        r = -ETIMEDOUT;
                        fd = safe_close(fd);
                        continue;
                }
                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 || err != 0) {
                        r = -(err ?: EIO);
                        fd = safe_close(fd);
                        continue;
                }
                break;
        }
        freeaddrinfo(ai);
        if (fd < 0)
                return r;
        /* Blocking from here on, with I/O timeouts for the handshake. */
        if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
                r = -errno;
                safe_close(fd);
                return r;
        }
        return fd;
}

/* One TLS handshake: the SHA-256 thumbprint of the leaf served. The chain is not verified: the
 * question is only whether the service serves the certificate we saved. */
static int tls_served_sha256(const char *endpoint, char ret[static 65], char **reterr) {
        _cleanup_free_ char *host = NULL, *port = NULL, *sni = NULL;
        _cleanup_(SSL_CTX_freep) SSL_CTX *ctx = NULL;
        _cleanup_(SSL_freep) SSL *ssl = NULL;
        _cleanup_(X509_freep) X509 *peer = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = endpoint_split(endpoint, &host, &port, &sni);
        if (r < 0)
                return asprintf(reterr, "endpoint '%s' is not HOST:PORT[/SNI]", endpoint) < 0 ? -ENOMEM : r;
        fd = connect_timeout(host, port, TLS_IO_TIMEOUT_SEC * 1000);
        if (fd < 0)
                return asprintf(reterr, "cannot connect to %s:%s: %s", host, port, strerror(-fd)) < 0 ? -ENOMEM : fd;

        ctx = SSL_CTX_new(TLS_client_method());
        if (!ctx)
                return -ENOMEM;
        SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
        ssl = SSL_new(ctx);
        if (!ssl)
                return -ENOMEM;
        if (!isempty(sni) && SSL_set_tlsext_host_name(ssl, sni) != 1)
                return -EINVAL;
        if (SSL_set_fd(ssl, fd) != 1)
                return -EIO;
        ERR_clear_error();
        if (SSL_connect(ssl) != 1) {
                unsigned long e = ERR_get_error();
                ERR_clear_error();
                return asprintf(reterr, "TLS handshake with %s failed: %s", endpoint,
                                e ? ERR_reason_error_string(e) ?: "unknown error" : "connection closed") < 0
                               ? -ENOMEM : -EPROTO;
        }
        peer = SSL_get1_peer_certificate(ssl);
        (void) SSL_shutdown(ssl);
        if (!peer)
                return asprintf(reterr, "%s served no certificate", endpoint) < 0 ? -ENOMEM : -ENOENT;
        return pki_cert_thumbprint_sha256(peer, ret);
}

/* Connects until the endpoint serves sha256 or the timeout passed. */
static int verify_endpoint(const char *endpoint, const char *sha256, int64_t timeout_sec, char **reterr) {
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + (usec_t) MAX(timeout_sec, (int64_t) 1) * USEC_PER_SEC;
        _cleanup_free_ char *last = NULL;

        for (;;) {
                char served[65] = {};
                _cleanup_free_ char *err = NULL;
                int r = tls_served_sha256(endpoint, served, &err);

                if (r >= 0 && strcasecmp(served, sha256) == 0)
                        return 0;
                free(last);
                if (r >= 0)
                        last = asprintf(&last, "%s still serves %s, not the new certificate %s", endpoint, served,
                                        sha256) < 0 ? NULL : last;
                else
                        last = err ? TAKE_PTR(err) : strdup(strerror(-r));
                if (now_usec(CLOCK_MONOTONIC) >= deadline)
                        break;
                (void) nanosleep(&(struct timespec) { .tv_nsec = VERIFY_RETRY_MSEC * 1000 * 1000 }, NULL);
        }
        return asprintf(reterr, "%s (after %" PRIi64 "s)", strna(last), timeout_sec) < 0 ? -ENOMEM : -ETIMEDOUT;
}

static bool hook_ok(json_t *h) {
        return h && streq_ptr(jstr(h, "result"), "ok");
}

/* One item of a deploy batch: a certificate and its bindings, and how its deploy went. */
typedef struct DeployItem {
        json_t *job;
        json_t *hooks;      /* the commands run for it (shared ones too) */
        json_t *results;    /* {id, result, stage?, error?} per binding with an outcome */
        const char *stage;  /* the first failure, or NULL */
        char *error;
        int64_t failed_id;
        bool restored;
        char *restore_error;
        json_t *facts;
} DeployItem;

static void deploy_item_done(DeployItem *d) {
        json_decref(d->hooks);
        json_decref(d->results);
        free(d->error);
        free(d->restore_error);
        json_decref(d->facts);
}

/* The service a binding of item `item` feeds: nginx, apache and haproxy bindings with the same
 * kind, configuration and commands are one service, tested and reloaded once per batch. The
 * commands of command and file bindings may act on their own certificate (CERTKEEPER_CERT_FILE):
 * they run for each certificate. NULL: nothing to run (a file without commands). */
static char *service_key(json_t *b, size_t item) {
        const char *kind = strempty(jstr(b, "kind"));
        char per_cert[32] = "";

        if (isempty(jstr(b, "test_cmd")) && isempty(jstr(b, "reload_cmd")))
                return NULL;
        if (!streq(kind, "nginx") && !streq(kind, "apache") && !streq(kind, "haproxy"))
                (void) snprintf(per_cert, sizeof(per_cert), "#%zu", item);
        return strjoin(kind, per_cert, "\n", strempty(jstr(b, "config")), "\n", strempty(jstr(b, "test_cmd")), "\n",
                       strempty(jstr(b, "reload_cmd")));
}

static int binding_result(DeployItem *d, json_t *b, const char *stage, const char *error) {
        json_t *o = json_pack("{s:I, s:s, s:s?, s:s?}", "id", (json_int_t) jint(b, "id"), "result",
                              stage ? "failed" : "ok", "stage", stage, "error", error);

        return json_array_append_new(d->results, o) < 0 ? -ENOMEM : 0;
}

/* The first failure of an item is its outcome; later ones are only the binding's result. */
static int item_fail(DeployItem *d, json_t *b, const char *stage, const char *error) {
        if (!d->stage) {
                d->stage = stage;
                d->failed_id = jint(b, "id");
                d->error = strdup(strna(error));
                if (!d->error)
                        return -ENOMEM;
        }
        return binding_result(d, b, stage, error);
}

/* Runs one command of a service for all the items that feed it; the hook is recorded in each. */
static json_t *run_shared(const char *hook, const char *cmd, DeployItem *items, const bool *member, size_t n) {
        json_t *h = NULL;

        for (size_t i = 0; i < n; i++)
                if (member[i]) {
                        if (!h) {
                                /* The environment of the first certificate of the service. */
                                h = run_save_hook(hook, cmd, items[i].job);
                                if (!h)
                                        return NULL;
                        }
                        json_array_append(items[i].hooks, h);
                }
        return h;
}

/* Each binding of item i that feeds the service key: cb for it. */
static int foreach_member_binding(DeployItem *items, size_t i, const char *key,
                                  int (*cb)(DeployItem *d, json_t *b, const char *stage, const char *err),
                                  const char *stage, const char *err) {
        json_t *b;
        size_t j;

        json_array_foreach(json_object_get(items[i].job, "bindings"), j, b) {
                _cleanup_free_ char *k = service_key(b, i);
                int r;

                if (!k || !streq(k, key))
                        continue;
                r = cb(items + i, b, stage, err);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Test and reload one service for the items that feed it and have not failed. A service whose
 * reload ran is added to *reloaded: a rollback reloads it again (and only those). */
static int deploy_service(DeployItem *items, size_t n, size_t first_item, json_t *first, char ***reloaded) {
        _cleanup_free_ char *key = service_key(first, first_item), *err = NULL;
        _cleanup_free_ bool *member = calloc(MAX(n, (size_t) 1), sizeof(bool));
        const char *stage = NULL, *cmd;
        json_auto_t *h = NULL;
        bool any = false;
        int r;

        if (!member)
                return -ENOMEM;
        if (!key)
                return 0;
        for (size_t i = 0; i < n; i++) {
                json_t *b;
                size_t j;

                if (items[i].stage)
                        continue;
                json_array_foreach(json_object_get(items[i].job, "bindings"), j, b) {
                        _cleanup_free_ char *k = service_key(b, i);
                        if (k && streq(k, key))
                                member[i] = any = true;
                }
        }
        if (!any)
                return 0;

        cmd = jstr(first, "test_cmd");
        if (!isempty(cmd)) {
                h = run_shared("deploy-test", cmd, items, member, n);
                if (!h)
                        return -ENOMEM;
                if (!hook_ok(h))
                        stage = "test";
        }
        if (!stage && !isempty(jstr(first, "reload_cmd"))) {
                cmd = jstr(first, "reload_cmd");
                if (strv_extend(reloaded, key) < 0)
                        return -ENOMEM;
                json_decref(h);
                h = run_shared("deploy-reload", cmd, items, member, n);
                if (!h)
                        return -ENOMEM;
                if (!hook_ok(h))
                        stage = "reload";
        }
        if (!stage)
                return 0;
        if (asprintf(&err, "'%s' failed: %s", cmd, strna(jstr(h, "message"))) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (member[i]) {
                        r = foreach_member_binding(items, i, key, item_fail, stage, err);
                        if (r < 0)
                                return r;
                }
        return 0;
}

/* Whether the binding is the first of its service in the batch (so the service runs once). */
static bool first_of_service(DeployItem *items, size_t i, size_t j) {
        _cleanup_free_ char *key = service_key(json_array_get(json_object_get(items[i].job, "bindings"), j), i);

        if (!key)
                return false;
        for (size_t a = 0; a <= i; a++) {
                json_t *b;
                size_t c;

                json_array_foreach(json_object_get(items[a].job, "bindings"), c, b) {
                        _cleanup_free_ char *k = NULL;

                        if (a == i && c >= j)
                                break;
                        k = service_key(b, a);
                        if (k && streq(k, key))
                                return false;
                }
        }
        return true;
}

/* Puts the archived certificate and key back. Returns the facts of the restored certificate. */
static int restore_previous(json_t *job, json_t **ret_facts, char **reterr) {
        const char *cert_path = jstr(job, "cert_path"), *key_path = jstr(job, "key_path");
        const char *old_cert = jstr(job, "archived_cert"), *old_key = jstr(job, "archived_key");
        const char *chain_path = jstr(job, "chain_path"), *full_path = jstr(job, "fullchain_path");
        _cleanup_free_ char *pem = NULL, *key = NULL, *chain = NULL, *full = NULL, *err = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        FileAttrs cert_attrs, key_attrs;
        size_t len, klen, clen = 0;
        int r;

        r = attrs_from_job(job, "cert_owner", "cert_mode", 0644, &cert_attrs, &err);
        if (r >= 0)
                r = attrs_from_job(job, "key_owner", "key_mode", 0600, &key_attrs, &err);
        if (r < 0)
                return asprintf(reterr, "%s", strna(err)) < 0 ? -ENOMEM : r;
        r = fs_read_file(old_cert, PEM_MAX, &pem, &len);
        if (r >= 0)
                r = pki_cert_parse(pem, len, &cert, NULL);
        if (r < 0)
                return asprintf(reterr, "cannot read the archived certificate '%s': %s", old_cert, strerror(-r)) < 0
                               ? -ENOMEM : r;
        if (!isempty(old_key)) {
                r = fs_read_file(old_key, PEM_MAX, &key, &klen);
                if (r >= 0)
                        r = fs_write_atomic(key_path, key, klen, &key_attrs);
                if (r < 0)
                        return asprintf(reterr, "cannot restore the key '%s' from '%s': %s", key_path, old_key,
                                        strerror(-r)) < 0 ? -ENOMEM : r;
        }
        r = fs_write_atomic(cert_path, pem, len, &cert_attrs);
        if (r < 0)
                return asprintf(reterr, "cannot restore '%s' from '%s': %s", cert_path, old_cert, strerror(-r)) < 0
                               ? -ENOMEM : r;
        /* The full chain: the previous certificate and the chain file as it is (the CA rarely
         * changes between two renewals; the chain is not archived). */
        if (!isempty(full_path)) {
                if (!isempty(chain_path) && fs_read_file(chain_path, PEM_MAX, &chain, &clen) < 0)
                        clen = 0;
                full = strjoin(pem, clen > 0 ? chain : "");
                if (!full)
                        return -ENOMEM;
                r = fs_write_atomic(full_path, full, strlen(full), &cert_attrs);
                if (r < 0)
                        return asprintf(reterr, "cannot restore '%s': %s", full_path, strerror(-r)) < 0 ? -ENOMEM : r;
        }
        *ret_facts = cert_facts(cert);
        return *ret_facts ? 0 : -ENOMEM;
}

/* Rolls back a failed item whose save archived the previous pair: the request's files, then the
 * files its bindings write, made again from them. */
static int item_restore(DeployItem *d) {
        json_t *b;
        size_t j;
        int r;

        if (!d->stage || isempty(jstr(d->job, "archived_cert")))
                return 0;
        r = restore_previous(d->job, &d->facts, &d->restore_error);
        if (r == -ENOMEM)
                return r;
        d->restored = r >= 0;
        if (!d->restored)
                return 0;
        json_array_foreach(json_object_get(d->job, "bindings"), j, b) {
                _cleanup_free_ char *err = NULL;

                r = deploy_file_write(d->job, b, &err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 && !d->restore_error)
                        d->restore_error = TAKE_PTR(err);
        }
        return 0;
}

/* After the rollbacks: each service that a restored item feeds is reloaded once, if it was
 * reloaded onto the new files (one whose test failed never took them). */
static int reload_restored(DeployItem *items, size_t n, char **reloaded) {
        _cleanup_strv_free_ char **done = NULL;

        for (size_t i = 0; i < n; i++) {
                json_t *b;
                size_t j;

                if (!items[i].restored)
                        continue;
                json_array_foreach(json_object_get(items[i].job, "bindings"), j, b) {
                        _cleanup_free_ char *key = service_key(b, i);
                        json_t *h;

                        if (!key || !strv_contains(reloaded, key) || strv_contains(done, key))
                                continue;
                        h = run_save_hook("rollback-reload", jstr(b, "reload_cmd"), items[i].job);
                        if (!h)
                                return -ENOMEM;
                        for (size_t a = 0; a < n; a++)
                                if (items[a].restored)
                                        json_array_append(items[a].hooks, h);
                        json_decref(h);
                        if (strv_consume(&done, TAKE_PTR(key)) < 0)
                                return -ENOMEM;
                }
        }
        return 0;
}

static json_t *item_reply(DeployItem *d) {
        return json_pack("{s:b, s:b, s:s?, s:s?, s:s?, s:I, s:b, s:s?, s:O, s:O, s:O?}", "ok", 1, "rebound",
                         d->stage == NULL, "sha256", jstr(d->job, "sha256"), "stage", d->stage, "error", d->error,
                         "failed_binding", (json_int_t) d->failed_id, "restored", d->restored, "restore_error",
                         d->restore_error, "bindings", d->results, "hooks", d->hooks, "restored_facts", d->facts);
}

/* A batch of certificates (docs/BINDINGS.md, "Batches"): their files written, each service they
 * feed tested and reloaded once, each endpoint verified; the certificates that failed are put back
 * and the services they feed reloaded once more. */
int job_deploy(json_t *job, json_t **ret) {
        json_t *in = json_object_get(job, "items"), *b;
        json_auto_t *out = json_array();
        size_t n = json_array_size(in), i, j;
        _cleanup_strv_free_ char **reloaded = NULL;
        _cleanup_free_ DeployItem *items = calloc(MAX(n, (size_t) 1), sizeof(DeployItem));
        int r = 0;

        if (!out || !items)
                return -ENOMEM;
        for (i = 0; i < n; i++) {
                items[i].job = json_array_get(in, i);
                items[i].hooks = json_array();
                items[i].results = json_array();
                if (!items[i].hooks || !items[i].results) {
                        r = -ENOMEM;
                        goto finish;
                }
        }

        /* 1. write: the files the bindings make (haproxy's combined PEM, file bindings). */
        for (i = 0; i < n; i++)
                json_array_foreach(json_object_get(items[i].job, "bindings"), j, b) {
                        _cleanup_free_ char *err = NULL;

                        if (items[i].stage)
                                break;
                        r = deploy_file_write(items[i].job, b, &err);
                        if (r == -ENOMEM)
                                goto finish;
                        if (r < 0 && (r = item_fail(items + i, b, "write", err)) < 0)
                                goto finish;
                        r = 0;
                }

        /* 2. test and reload: once per service. */
        for (i = 0; i < n; i++)
                json_array_foreach(json_object_get(items[i].job, "bindings"), j, b)
                        if (first_of_service(items, i, j) && (r = deploy_service(items, n, i, b, &reloaded)) < 0)
                                goto finish;

        /* 3. verify: each endpoint of each certificate still standing. */
        for (i = 0; i < n; i++)
                json_array_foreach(json_object_get(items[i].job, "bindings"), j, b) {
                        _cleanup_free_ char *err = NULL;
                        const char *endpoint = jstr(b, "endpoint"), *sha = jstr(items[i].job, "sha256");

                        if (items[i].stage)
                                break;
                        if (!isempty(endpoint) && !isempty(sha) &&
                            verify_endpoint(endpoint, sha, jint(items[i].job, "verify_timeout"), &err) < 0)
                                r = item_fail(items + i, b, "verify", err);
                        else
                                r = binding_result(items + i, b, NULL, NULL);
                        if (r < 0)
                                goto finish;
                }

        /* 4. roll back what failed, then reload what it feeds. */
        for (i = 0; i < n; i++)
                if ((r = item_restore(items + i)) < 0)
                        goto finish;
        r = reload_restored(items, n, reloaded);
        if (r < 0)
                goto finish;

        for (i = 0; i < n; i++)
                if (json_array_append_new(out, item_reply(items + i)) < 0) {
                        r = -ENOMEM;
                        goto finish;
                }
        *ret = json_pack("{s:b, s:O}", "ok", 1, "items", out);
        r = *ret ? 0 : -ENOMEM;
finish:
        for (i = 0; i < n; i++)
                deploy_item_done(items + i);
        return r;
}
