/* SPDX-License-Identifier: MIT */
/* The built-in tls-alpn-01 responder (see the header). One thread polls the listening socket, a stop
 * pipe and up to CONNECTIONS_MAX non-blocking handshakes, each with a deadline, so that a client that
 * sends nothing holds up neither the CA's connections nor the daemon. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "acme-alpn-cert.h"
#include "certkeeperd-acme-alpn.h"
#include "certkeeperd-acme-responder.h"
#include "fs-util.h"
#include "log.h"
#include "pki-cert.h"
#include "pki-key.h"
#include "string-util.h"
#include "time-util.h"

#define CONNECTIONS_MAX 64
#define HANDSHAKE_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define CERT_FILE_MAX (64 * 1024)
#define ACCEPT_PAUSE_USEC (100 * USEC_PER_MSEC)

typedef struct Connection {
        int fd;
        SSL *ssl;
        usec_t deadline;
        short events;
} Connection;

struct AcmeAlpnResponder {
        SSL_CTX *ctx;
        int fd;
        int stop[2];
        bool running;
        pthread_t thread;
        char *dir;
        Connection conns[CONNECTIONS_MAX];
        size_t n_conns;
        usec_t accept_after; /* out of file descriptors or memory: a pause rather than a busy loop */
};

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(SSL *, SSL_free);

/* Refuses a ClientHello without the ALPN extension: without it the ALPN callback never runs. */
static int client_hello_cb(SSL *s, int *al, void *arg) {
        const unsigned char *ext = NULL;
        size_t len = 0;

        (void) arg;
        if (SSL_client_hello_get0_ext(s, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext, &len) != 1) {
                *al = SSL_AD_NO_APPLICATION_PROTOCOL;
                return SSL_CLIENT_HELLO_ERROR;
        }
        return SSL_CLIENT_HELLO_SUCCESS;
}

/* Presents dir/<name>.pem for the SNI name, or fails the handshake. */
static int servername_cb(SSL *s, int *al, void *arg) {
        AcmeAlpnResponder *r = arg;
        _cleanup_free_ char *name = NULL, *path = NULL, *pem = NULL;
        _cleanup_(BIO_freep) BIO *bio = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        const char *sni = SSL_get_servername(s, TLSEXT_NAMETYPE_host_name);
        size_t len = 0;

        *al = SSL_AD_UNRECOGNIZED_NAME;
        if (acme_alpn_name_normalize(sni, &name) < 0)
                return SSL_TLSEXT_ERR_ALERT_FATAL;
        path = strjoin(r->dir, "/", name, ".pem");
        if (!path)
                return SSL_TLSEXT_ERR_ALERT_FATAL;
        if (fs_read_file(path, CERT_FILE_MAX, &pem, &len) < 0 || len > INT_MAX) {
                log_debug("tls-alpn-01: no challenge certificate for '%s', refusing the handshake.", name);
                return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
        bio = BIO_new_mem_buf(pem, (int) len);
        if (bio)
                cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (cert)
                key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        if (!key || SSL_use_certificate(s, cert) != 1 || SSL_use_PrivateKey(s, key) != 1) {
                ERR_clear_error();
                *al = SSL_AD_INTERNAL_ERROR;
                return SSL_TLSEXT_ERR_ALERT_FATAL;
        }
        log_debug("tls-alpn-01: presenting the challenge certificate for '%s'.", name);
        return SSL_TLSEXT_ERR_OK;
}

/* "acme-tls/1" or nothing: the handshake fails with no_application_protocol. */
static int alpn_cb(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in, unsigned inlen,
                   void *arg) {
        unsigned char *selected = NULL;
        unsigned char selected_len = 0;

        (void) s;
        (void) arg;
        if (SSL_select_next_proto(&selected, &selected_len, (const unsigned char *) ACME_ALPN_PROTOCOL_WIRE,
                                  sizeof(ACME_ALPN_PROTOCOL_WIRE) - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
                return SSL_TLSEXT_ERR_ALERT_FATAL;
        *out = selected;
        *outlen = selected_len;
        return SSL_TLSEXT_ERR_OK;
}

static void connection_close(AcmeAlpnResponder *r, size_t i) {
        Connection *c = &r->conns[i];

        SSL_free(c->ssl);
        safe_close(c->fd);
        ERR_clear_error();
        r->conns[i] = r->conns[--r->n_conns];
}

/* Moves a handshake on; closes the connection once it is done (after close_notify) or failed. */
static void connection_step(AcmeAlpnResponder *r, size_t i) {
        Connection *c = &r->conns[i];
        int k;

        k = SSL_do_handshake(c->ssl);
        if (k == 1) {
                (void) SSL_shutdown(c->ssl);
                connection_close(r, i);
                return;
        }
        switch (SSL_get_error(c->ssl, k)) {
        case SSL_ERROR_WANT_READ:
                c->events = POLLIN;
                return;
        case SSL_ERROR_WANT_WRITE:
                c->events = POLLOUT;
                return;
        default:
                connection_close(r, i);
        }
}

static void accept_all(AcmeAlpnResponder *r) {
        while (r->n_conns < CONNECTIONS_MAX) {
                _cleanup_(SSL_freep) SSL *ssl = NULL;
                _cleanup_close_ int fd = -EBADF;

                fd = accept4(r->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0) {
                        if (IN_SET(errno, EMFILE, ENFILE, ENOBUFS, ENOMEM))
                                r->accept_after = now_usec(CLOCK_MONOTONIC) + ACCEPT_PAUSE_USEC;
                        return;
                }
                ssl = SSL_new(r->ctx);
                if (!ssl || SSL_set_fd(ssl, fd) != 1) {
                        ERR_clear_error();
                        return;
                }
                SSL_set_accept_state(ssl);
                r->conns[r->n_conns++] = (Connection) {
                        .fd = TAKE_FD(fd),
                        .ssl = TAKE_PTR(ssl),
                        .deadline = now_usec(CLOCK_MONOTONIC) + HANDSHAKE_TIMEOUT_USEC,
                        .events = POLLIN,
                };
                connection_step(r, r->n_conns - 1);
        }
}

static void *serve(void *userdata) {
        AcmeAlpnResponder *r = userdata;

        for (;;) {
                struct pollfd p[2 + CONNECTIONS_MAX];
                usec_t now = now_usec(CLOCK_MONOTONIC), next = USEC_INFINITY;
                bool accepting = r->n_conns < CONNECTIONS_MAX && now >= r->accept_after;
                int timeout = -1;

                p[0] = (struct pollfd) { .fd = r->stop[0], .events = POLLIN };
                /* A full table leaves new connections in the kernel's backlog. */
                p[1] = (struct pollfd) { .fd = r->fd, .events = accepting ? POLLIN : 0 };
                if (now < r->accept_after)
                        next = r->accept_after;
                for (size_t i = 0; i < r->n_conns; i++) {
                        p[2 + i] = (struct pollfd) { .fd = r->conns[i].fd, .events = r->conns[i].events };
                        next = MIN(next, r->conns[i].deadline);
                }
                if (next != USEC_INFINITY)
                        timeout = next <= now ? 0 : (int) ((next - now + USEC_PER_MSEC - 1) / USEC_PER_MSEC);

                if (poll(p, 2 + r->n_conns, timeout) < 0) {
                        if (errno == EINTR)
                                continue;
                        log_error("tls-alpn-01 responder: poll() failed: %s; it stops answering.", strerror(errno));
                        break;
                }
                if (p[0].revents)
                        break;

                now = now_usec(CLOCK_MONOTONIC);
                /* Backwards: closing moves the last connection into the slot, which has been seen. */
                for (size_t i = r->n_conns; i-- > 0;) {
                        if (r->conns[i].deadline <= now)
                                connection_close(r, i);
                        else if (p[2 + i].revents)
                                connection_step(r, i);
                }
                if (p[1].revents & POLLIN)
                        accept_all(r);
        }
        while (r->n_conns > 0)
                connection_close(r, r->n_conns - 1);
        OPENSSL_thread_stop();
        return NULL;
}

static int context_new(AcmeAlpnResponder *r) {
        r->ctx = SSL_CTX_new(TLS_server_method());
        if (!r->ctx) {
                ERR_clear_error();
                return -ENOMEM;
        }
        /* RFC 8737 section 4: TLS 1.2 or later. No tickets or sessions: every handshake is full. */
        if (SSL_CTX_set_min_proto_version(r->ctx, TLS1_2_VERSION) != 1 || SSL_CTX_set_num_tickets(r->ctx, 0) != 1) {
                ERR_clear_error();
                return -EIO;
        }
        SSL_CTX_set_options(r->ctx, SSL_OP_NO_TICKET);
        SSL_CTX_set_session_cache_mode(r->ctx, SSL_SESS_CACHE_OFF);
        SSL_CTX_set_client_hello_cb(r->ctx, client_hello_cb, r);
        SSL_CTX_set_tlsext_servername_callback(r->ctx, servername_cb);
        SSL_CTX_set_tlsext_servername_arg(r->ctx, r);
        SSL_CTX_set_alpn_select_cb(r->ctx, alpn_cb, r);
        return 0;
}

int acme_alpn_responder_start(const char *address, const char *dir, AcmeAlpnResponder **ret, char **reterr) {
        _cleanup_(acme_alpn_responder_stopp) AcmeAlpnResponder *r = NULL;
        _cleanup_free_ char *why = NULL;
        int k;

        r = calloc(1, sizeof(AcmeAlpnResponder));
        if (!r)
                return -ENOMEM;
        r->fd = r->stop[0] = r->stop[1] = -EBADF;
        r->dir = strdup(dir);
        if (!r->dir)
                return -ENOMEM;
        k = context_new(r);
        if (k < 0)
                return errorf(reterr, k, "Failed to set up TLS for the tls-alpn-01 responder.");

        k = acme_listen_open(address, &r->fd, &why);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                return errorf(reterr, k, "The tls-alpn-01 responder: %s Free the port, or give another with "
                              "--tls-alpn01-listen (the CA must reach it on port 443).", strna(why));
        if (pipe2(r->stop, O_CLOEXEC | O_NONBLOCK) < 0)
                return errorf(reterr, -errno, "Failed to start the tls-alpn-01 responder: %s", strerror(errno));
        k = pthread_create(&r->thread, NULL, serve, r);
        if (k != 0)
                return errorf(reterr, -k, "Failed to start the tls-alpn-01 responder's thread: %s", strerror(k));
        r->running = true;
        *ret = TAKE_PTR(r);
        return 0;
}

AcmeAlpnResponder *acme_alpn_responder_stop(AcmeAlpnResponder *r) {
        if (!r)
                return NULL;
        if (r->running) {
                if (write(r->stop[1], "x", 1) < 0)
                        log_debug("tls-alpn-01 responder: cannot wake the thread: %s", strerror(errno));
                (void) pthread_join(r->thread, NULL);
        }
        safe_close(r->stop[0]);
        safe_close(r->stop[1]);
        safe_close(r->fd);
        SSL_CTX_free(r->ctx);
        free(r->dir);
        free(r);
        return NULL;
}
