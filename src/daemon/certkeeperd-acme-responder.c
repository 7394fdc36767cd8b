/* SPDX-License-Identifier: MIT */
/* The built-in http-01 responder (see the header). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "certkeeperd-acme-responder.h"
#include "fs-util.h"
#include "parse-util.h"
#include "string-util.h"

#define CHALLENGE_PREFIX "/.well-known/acme-challenge/"
#define TOKEN_MAX 256
#define KEY_AUTHORIZATION_MAX 1024

struct AcmeResponder {
        struct MHD_Daemon *daemon;
        int fd;
        char *dir;
};

/* Splits "ADDR:PORT", "[ADDR]:PORT" or ":PORT" into an address (NULL: any) and a port. */
static int listen_parse(const char *address, struct sockaddr_storage *ret, socklen_t *ret_len, char **reterr) {
        _cleanup_free_ char *host = NULL;
        const char *colon, *port_s;
        struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                                  .ai_socktype = SOCK_STREAM };
        struct addrinfo *ai = NULL;
        unsigned port;

        if (isempty(address))
                return errorf(reterr, -EINVAL, "The listen address is empty: give ADDR:PORT, e.g. 0.0.0.0:80 or "
                              "[::]:443.");
        colon = strrchr(address, ':');
        if (!colon)
                return errorf(reterr, -EINVAL, "The listen address '%s' has no port: give ADDR:PORT, e.g. "
                              "0.0.0.0:80 or [::]:443.", address);
        port_s = colon + 1;
        if (safe_atou(port_s, &port) < 0 || port == 0 || port > 65535)
                return errorf(reterr, -EINVAL, "The port of '%s' is not a number from 1 to 65535.", address);
        if (colon > address) {
                const char *b = address, *e = colon;
                if (*b == '[' && e[-1] == ']') {
                        b++;
                        e--;
                }
                host = strndup(b, (size_t) (e - b));
                if (!host)
                        return -ENOMEM;
        }
        if (getaddrinfo(host, port_s, &hints, &ai) != 0 || !ai)
                return errorf(reterr, -EINVAL, "The address of '%s' is not an IP address: give e.g. 127.0.0.1:80, "
                              "[::1]:443 or :443.", address);
        memcpy(ret, ai->ai_addr, ai->ai_addrlen);
        *ret_len = ai->ai_addrlen;
        freeaddrinfo(ai);
        return 0;
}

int acme_listen_check(const char *address, char **reterr) {
        struct sockaddr_storage sa = {};
        socklen_t len = 0;
        return listen_parse(address, &sa, &len, reterr);
}

int acme_listen_open(const char *address, int *ret_fd, char **reterr) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_storage sa = {};
        socklen_t len = 0;
        int k, one = 1;

        k = listen_parse(address, &sa, &len, reterr);
        if (k < 0)
                return k;
        fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return errorf(reterr, -errno, "Cannot create a socket for %s: %s.", address, strerror(errno));
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *) &sa, len) < 0 || listen(fd, 64) < 0)
                return errorf(reterr, -errno, "Cannot listen on %s: %s.", address, strerror(errno));
        *ret_fd = TAKE_FD(fd);
        return 0;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body) {
        struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *) body, MHD_RESPMEM_MUST_COPY);
        enum MHD_Result ret;

        if (!r)
                return MHD_NO;
        (void) MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
        ret = MHD_queue_response(c, status, r);
        MHD_destroy_response(r);
        return ret;
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls) {
        AcmeResponder *r = cls;
        _cleanup_free_ char *path = NULL, *content = NULL;
        const char *token;
        size_t len = 0;

        (void) version;
        (void) upload_data;
        (void) upload_data_size;
        (void) con_cls;

        if (!streq(method, MHD_HTTP_METHOD_GET) && !streq(method, MHD_HTTP_METHOD_HEAD))
                return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "");
        if (!startswith(url, CHALLENGE_PREFIX))
                return reply(c, MHD_HTTP_NOT_FOUND, "");
        token = url + strlen(CHALLENGE_PREFIX);
        /* base64url only: nothing else ever reaches a path. */
        if (strlen(token) > TOKEN_MAX || !base64url_is_valid(token))
                return reply(c, MHD_HTTP_NOT_FOUND, "");
        path = strjoin(r->dir, "/", token);
        if (!path)
                return MHD_NO;
        if (fs_read_file(path, KEY_AUTHORIZATION_MAX, &content, &len) < 0)
                return reply(c, MHD_HTTP_NOT_FOUND, "");
        return reply(c, MHD_HTTP_OK, content);
}

int acme_responder_start(const char *address, const char *dir, AcmeResponder **ret, char **reterr) {
        _cleanup_(acme_responder_stopp) AcmeResponder *r = NULL;
        _cleanup_free_ char *why = NULL;
        int k;

        r = calloc(1, sizeof(AcmeResponder));
        if (!r)
                return -ENOMEM;
        r->fd = -EBADF;
        r->dir = strdup(dir);
        if (!r->dir)
                return -ENOMEM;

        k = acme_listen_open(address, &r->fd, &why);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                return errorf(reterr, k, "The http-01 responder: %s Free the port, or give another with "
                              "--http01-listen (the CA must reach it on port 80), or use --webroot.", strna(why));

        r->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, access_cb, r,
                                     MHD_OPTION_LISTEN_SOCKET, (MHD_socket) r->fd,
                                     MHD_OPTION_CONNECTION_TIMEOUT, 10U,
                                     MHD_OPTION_CONNECTION_LIMIT, 64U,
                                     MHD_OPTION_END);
        if (!r->daemon)
                return errorf(reterr, -EIO, "Failed to start the http-01 responder on %s.", address);
        *ret = TAKE_PTR(r);
        return 0;
}

AcmeResponder *acme_responder_stop(AcmeResponder *r) {
        if (!r)
                return NULL;
        if (r->daemon)
                MHD_stop_daemon(r->daemon);
        safe_close(r->fd);
        free(r->dir);
        free(r);
        return NULL;
}
