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
                (void) nanosleep(&(struct timespec) { .tv_nsec = 250 * 1000 * 1000 }, NULL);
        }
        return asprintf(reterr, "%s (after %" PRIi64 "s)", strna(last), timeout_sec) < 0 ? -ENOMEM : -ETIMEDOUT;
}

static bool hook_ok(json_t *h) {
        return h && streq_ptr(jstr(h, "result"), "ok");
}

/* One command of a binding; on a failure *ret_stage is stage and *reterr says why. */
static int run_stage(json_t *job, json_t *hooks, const char *hook, const char *stage, const char *cmd,
                     const char **ret_stage, char **reterr) {
        json_t *h;

        if (isempty(cmd))
                return 0;
        h = run_save_hook(hook, cmd, job);
        if (!h)
                return -ENOMEM;
        json_array_append_new(hooks, h);
        if (hook_ok(h))
                return 0;
        *ret_stage = stage;
        return asprintf(reterr, "'%s' failed: %s", cmd, strna(jstr(h, "message"))) < 0 ? -ENOMEM : -EINVAL;
}

/* Test, reload, verify one binding. On a failure *ret_stage and *reterr say where and why. */
static int deploy_one(json_t *job, json_t *b, json_t *hooks, const char **ret_stage, char **reterr) {
        const char *endpoint = jstr(b, "endpoint");
        int r;

        r = run_stage(job, hooks, "deploy-test", "test", jstr(b, "test_cmd"), ret_stage, reterr);
        if (r >= 0)
                r = run_stage(job, hooks, "deploy-reload", "reload", jstr(b, "reload_cmd"), ret_stage, reterr);
        if (r >= 0 && !isempty(endpoint) && !isempty(jstr(job, "sha256"))) {
                r = verify_endpoint(endpoint, jstr(job, "sha256"), jint(job, "verify_timeout"), reterr);
                if (r < 0)
                        *ret_stage = "verify";
        }
        return r;
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

int job_deploy(json_t *job, json_t **ret) {
        json_t *bindings = json_object_get(job, "bindings"), *b;
        json_auto_t *results = json_array(), *hooks = json_array(), *facts = NULL;
        _cleanup_free_ char *error = NULL, *restore_err = NULL;
        const char *stage = NULL;
        int64_t failed_id = 0;
        bool restored = false;
        size_t i;
        int r;

        if (!results || !hooks)
                return -ENOMEM;

        json_array_foreach(bindings, i, b) {
                _cleanup_free_ char *err = NULL;
                const char *st = NULL;

                r = deploy_one(job, b, hooks, &st, &err);
                if (r == -ENOMEM)
                        return r;
                if (json_array_append_new(results, json_pack("{s:I, s:s, s:s?, s:s?}", "id",
                                                             (json_int_t) jint(b, "id"), "result",
                                                             r < 0 ? "failed" : "ok", "stage", st, "error", err)) < 0)
                        return -ENOMEM;
                if (r < 0) {
                        stage = st;
                        failed_id = jint(b, "id");
                        error = TAKE_PTR(err);
                        break;
                }
        }

        if (stage && !isempty(jstr(job, "archived_cert"))) {
                /* Roll back: the previous pair, then every binding reloaded onto it. */
                r = restore_previous(job, &facts, &restore_err);
                if (r == -ENOMEM)
                        return r;
                restored = r >= 0;
                if (restored)
                        json_array_foreach(bindings, i, b)
                                if (!isempty(jstr(b, "reload_cmd"))) {
                                        json_t *h = run_save_hook("rollback-reload", jstr(b, "reload_cmd"), job);
                                        if (!h)
                                                return -ENOMEM;
                                        json_array_append_new(hooks, h);
                                }
        }

        *ret = json_pack("{s:b, s:b, s:s?, s:s?, s:s?, s:I, s:b, s:s?, s:O, s:O, s:O?}", "ok", 1, "rebound",
                         stage == NULL, "sha256", jstr(job, "sha256"),
                         "stage", stage, "error", error, "failed_binding", (json_int_t) failed_id, "restored",
                         restored, "restore_error", restore_err, "bindings", results, "hooks", hooks,
                         "restored_facts", facts);
        return *ret ? 0 : -ENOMEM;
}
