/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"

#include "acme-jws.h"
#include "acme-parse.h"
#include "acme.h"
#include "dynbuf.h"
#include "parse-util.h"
#include "pki-csr.h"
#include "pki-cert.h"
#include "pki-key.h"
#include "string-util.h"
#include "time-util.h"

#define NONCE_POOL_MAX 8
#define BAD_NONCE_RETRIES 16 /* Pebble rejects half of them in the tests; a retry is one round trip */
#define HEADERS_MAX (64U * 1024U)      /* all header lines of one response */
#define MESSAGE_MAX 1024U
#define POLL_FIRST_USEC (50 * USEC_PER_MSEC)
#define POLL_MAX_USEC (2 * USEC_PER_SEC) /* backoff cap when the CA gives no Retry-After */
#define ALTERNATES_MAX 8U
#define TIMEOUT_DEFAULT_SEC 30

struct AcmeClient {
        char *directory_url;
        char *ca_bundle;
        char *account_key_path;
        char *account_key_type;
        char *email;
        bool agree_tos;
        char *eab_kid;
        char *eab_hmac_key;
        char *eab_alg;
        char *user_agent;
        int64_t timeout_sec;
        bool allow_http;

        CURL *curl;
        bool have_directory;
        AcmeDirectory dir;
        EVP_PKEY *key;
        char *thumbprint;
        char *account_url;
        char *nonces[NONCE_POOL_MAX];
        size_t n_nonces;
};

typedef struct Response {
        long status;
        DynBuf body;
        size_t header_bytes;
        bool too_big;
        char *location;
        char *content_type;
        int64_t retry_after;
        char **links_up;
        char **links_alternate;
        char **links_index;
        AcmeClient *client; /* for the nonce pool */
} Response;

static void response_done(Response *r) {
        dynbuf_done(&r->body);
        r->location = mfree(r->location);
        r->content_type = mfree(r->content_type);
        r->links_up = strv_free(r->links_up);
        r->links_alternate = strv_free(r->links_alternate);
        r->links_index = strv_free(r->links_index);
        r->status = 0;
        r->retry_after = 0;
        r->header_bytes = 0;
        r->too_big = false;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all);

static void openssl_freep(void *p) {
        OPENSSL_free(*(void **) p);
}

/* ---- errors ---- */

static const char *const outcome_table[_ACME_OUTCOME_MAX] = {
        [ACME_OK] = "ok",
        [ACME_WAIT] = "wait",
        [ACME_RATELIMITED] = "rate limited",
        [ACME_REJECTED] = "rejected",
        [ACME_UNREACHABLE] = "unreachable",
        [ACME_CONFIG] = "configuration",
};

void acme_error_done(AcmeError *e) {
        if (!e)
                return;
        e->type = mfree(e->type);
        e->message = mfree(e->message);
        e->outcome = ACME_OK;
        e->retry_after = 0;
}

const char *acme_outcome_to_string(AcmeOutcome o) {
        if (o < 0 || o >= _ACME_OUTCOME_MAX)
                return NULL;
        return outcome_table[o];
}

static int outcome_errno(AcmeOutcome o) {
        switch (o) {
        case ACME_WAIT:
                return -EAGAIN;
        case ACME_RATELIMITED:
                return -EBUSY;
        case ACME_REJECTED:
                return -EPERM;
        case ACME_UNREACHABLE:
                return -EHOSTUNREACH;
        case ACME_CONFIG:
        default:
                return -EINVAL;
        }
}

/* Fills err (replacing what it held) and returns r, or outcome_errno() when r is 0. */
_printf_(6, 7) static int acme_error_set(AcmeError *err, int r, AcmeOutcome outcome, const char *type,
                                         int64_t retry_after, const char *fmt, ...) {
        char buf[MESSAGE_MAX + 1];
        va_list ap;

        if (r == 0)
                r = outcome_errno(outcome);
        if (!err)
                return r;
        acme_error_done(err);
        va_start(ap, fmt);
        (void) vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        err->outcome = outcome;
        err->type = type ? acme_printable(type, 128) : NULL;
        err->message = acme_printable(buf, MESSAGE_MAX);
        err->retry_after = retry_after;
        return r;
}

static int oom(AcmeError *err) {
        return acme_error_set(err, -ENOMEM, ACME_UNREACHABLE, NULL, 0, "Out of memory.");
}

/* An ARI certificate id: base64url "." base64url. */
static bool cert_id_is_valid(const char *s) {
        _cleanup_free_ char *a = NULL;
        const char *dot;

        if (!s || strlen(s) > 512)
                return false;
        dot = strchr(s, '.');
        if (!dot)
                return false;
        a = strndup(s, (size_t) (dot - s));
        return a && base64url_is_valid(a) && base64url_is_valid(dot + 1);
}

/* ---- challenge types ---- */

static const char *const challenge_type_table[_ACME_CHALLENGE_TYPE_MAX] = {
        [ACME_CHALLENGE_HTTP01] = "http-01",
        [ACME_CHALLENGE_DNS01] = "dns-01",
        [ACME_CHALLENGE_TLSALPN01] = "tls-alpn-01",
};

const char *acme_challenge_type_to_string(AcmeChallengeType t) {
        if (t < 0 || t >= _ACME_CHALLENGE_TYPE_MAX)
                return NULL;
        return challenge_type_table[t];
}

int acme_challenge_type_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(challenge_type_table); i++)
                if (streq(challenge_type_table[i], s))
                        return (int) i;
        return -EINVAL;
}

void acme_order_result_done(AcmeOrderResult *r) {
        if (!r)
                return;
        r->order_url = mfree(r->order_url);
        r->cert_pem = mfree(r->cert_pem);
        r->chain_pem = mfree(r->chain_pem);
        r->cert_url = mfree(r->cert_url);
}

/* ---- client ---- */

/* http:// only for a server on this machine (tests). */
static bool url_is_loopback_http(const char *url) {
        static const char *const prefixes[] = { "http://127.0.0.1", "http://localhost", "http://[::1]" };

        for (size_t i = 0; i < ELEMENTSOF(prefixes); i++)
                if (startswith(url, prefixes[i]) && strchr(":/", url[strlen(prefixes[i])]))
                        return true;
        return false;
}

static int dup_opt(const char *s, char **ret) {
        if (!s) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static void cleanse_free(char *s) {
        if (s) {
                OPENSSL_cleanse(s, strlen(s));
                free(s);
        }
}

AcmeClient *acme_client_free(AcmeClient *c) {
        if (!c)
                return NULL;
        free(c->directory_url);
        free(c->ca_bundle);
        free(c->account_key_path);
        free(c->account_key_type);
        free(c->email);
        free(c->eab_kid);
        cleanse_free(c->eab_hmac_key);
        free(c->eab_alg);
        free(c->user_agent);
        if (c->curl)
                curl_easy_cleanup(c->curl);
        acme_directory_done(&c->dir);
        EVP_PKEY_free(c->key);
        free(c->thumbprint);
        free(c->account_url);
        for (size_t i = 0; i < c->n_nonces; i++)
                free(c->nonces[i]);
        free(c);
        curl_global_cleanup();
        return NULL;
}

int acme_client_new(const AcmeConfig *cfg, AcmeClient **ret) {
        _cleanup_(acme_client_freep) AcmeClient *c = NULL;

        if (!cfg || !ret || !cfg->directory_url || !cfg->account_key_path)
                return -EINVAL;
        if (!acme_url_is_valid(cfg->directory_url))
                return -EINVAL;
        if (!startswith(cfg->directory_url, "https://") && !url_is_loopback_http(cfg->directory_url))
                return -EINVAL;
        if (!cfg->eab_kid != !cfg->eab_hmac_key)
                return -EINVAL;
        if (cfg->eab_alg && !IN_SET(0, strcmp(cfg->eab_alg, "HS256"), strcmp(cfg->eab_alg, "HS384"),
                                    strcmp(cfg->eab_alg, "HS512")))
                return -EINVAL;
        if (cfg->account_key_type && key_type_from_string(cfg->account_key_type) != KEY_TYPE_EC &&
            key_type_from_string(cfg->account_key_type) != KEY_TYPE_RSA)
                return -EINVAL;
        if (cfg->email && !email_is_valid(cfg->email))
                return -EINVAL;
        if (cfg->timeout_sec < 0)
                return -EINVAL;

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -ENOMEM;
        c = calloc(1, sizeof(AcmeClient));
        if (!c) {
                curl_global_cleanup();
                return -ENOMEM;
        }
        if (dup_opt(cfg->directory_url, &c->directory_url) < 0 || dup_opt(cfg->ca_bundle, &c->ca_bundle) < 0 ||
            dup_opt(cfg->account_key_path, &c->account_key_path) < 0 ||
            dup_opt(cfg->account_key_type, &c->account_key_type) < 0 || dup_opt(cfg->email, &c->email) < 0 ||
            dup_opt(cfg->eab_kid, &c->eab_kid) < 0 || dup_opt(cfg->eab_hmac_key, &c->eab_hmac_key) < 0 ||
            dup_opt(cfg->eab_alg, &c->eab_alg) < 0 ||
            dup_opt(cfg->user_agent ? cfg->user_agent : "certkeeper/" PACKAGE_VERSION, &c->user_agent) < 0)
                return -ENOMEM;
        c->agree_tos = cfg->agree_tos;
        c->timeout_sec = cfg->timeout_sec > 0 ? cfg->timeout_sec : TIMEOUT_DEFAULT_SEC;
        c->allow_http = url_is_loopback_http(cfg->directory_url);

        c->curl = curl_easy_init();
        if (!c->curl)
                return -ENOMEM;
        *ret = TAKE_PTR(c);
        return 0;
}

/* ---- nonces ---- */

static void nonce_put(AcmeClient *c, char *nonce) {
        if (c->n_nonces == NONCE_POOL_MAX) {
                /* Drop the oldest: the newest is the most likely to be still valid. */
                free(c->nonces[0]);
                memmove(c->nonces, c->nonces + 1, sizeof(char *) * (NONCE_POOL_MAX - 1));
                c->n_nonces--;
        }
        c->nonces[c->n_nonces++] = nonce;
}

static char *nonce_take(AcmeClient *c) {
        if (c->n_nonces == 0)
                return NULL;
        c->n_nonces--;
        return TAKE_PTR(c->nonces[c->n_nonces]); /* TAKE_PTR evaluates its argument twice */
}

/* ---- HTTP ---- */

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
        Response *r = userdata;
        size_t n = size * nmemb;

        if (dynbuf_append(&r->body, ptr, n) < 0) {
                r->too_big = true;
                return 0;
        }
        return n;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
        _cleanup_free_ char *name = NULL, *value = NULL;
        Response *r = userdata;
        size_t n = size * nmemb;
        int k;

        /* A new status line (after "100 Continue"): forget what came before. */
        if (n >= 5 && strneq(ptr, "HTTP/", 5)) {
                r->location = mfree(r->location);
                r->content_type = mfree(r->content_type);
                r->links_up = strv_free(r->links_up);
                r->links_alternate = strv_free(r->links_alternate);
                r->links_index = strv_free(r->links_index);
                r->retry_after = 0;
        }
        r->header_bytes += n;
        if (r->header_bytes > HEADERS_MAX) {
                r->too_big = true;
                return 0;
        }
        k = acme_parse_header_line(ptr, n, &name, &value);
        if (k == -ENOMEM)
                return 0;
        if (k <= 0)
                return n; /* not a header, or an overlong one: ignored */

        if (streq(name, "replay-nonce")) {
                char *nonce = NULL;
                if (acme_parse_nonce(value, &nonce) >= 0)
                        nonce_put(r->client, nonce);
        } else if (streq(name, "location")) {
                free(r->location);
                r->location = NULL;
                if (acme_parse_location(value, &r->location) == -ENOMEM)
                        return 0;
        } else if (streq(name, "content-type")) {
                free(r->content_type);
                r->content_type = TAKE_PTR(value);
        } else if (streq(name, "retry-after")) {
                int64_t s;
                if (acme_parse_retry_after(value, (int64_t) time(NULL), &s) >= 0)
                        r->retry_after = s;
        } else if (streq(name, "link")) {
                if (acme_parse_link(value, "up", &r->links_up) == -ENOMEM ||
                    acme_parse_link(value, "alternate", &r->links_alternate) == -ENOMEM ||
                    acme_parse_link(value, "index", &r->links_index) == -ENOMEM)
                        return 0;
        }
        return n;
}

/* libcurl opens its sockets without close-on-exec: hooks run by the same process must not inherit
 * the connection to the CA. */
static curl_socket_t open_socket_cb(void *userdata, curlsocktype purpose, struct curl_sockaddr *addr) {
        return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

typedef enum HttpMethod {
        HTTP_GET,
        HTTP_HEAD,
        HTTP_POST,
} HttpMethod;

static int curl_to_errno(CURLcode cc) {
        switch (cc) {
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CACERT_BADFILE:
                return -EPROTO;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        default:
                return -EIO;
        }
}

/* One request. Fails only for what prevents an HTTP response (network, TLS, caps); any HTTP status
 * is returned in resp->status for the caller to judge. */
static int http_do(AcmeClient *c, HttpMethod method, const char *url, const char *body, const char *accept,
                   Response *resp, AcmeError *err) {
        _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
        char errbuf[CURL_ERROR_SIZE] = "";
        struct curl_slist *h;
        CURLcode cc;

        if (!acme_url_is_valid(url) || (!startswith(url, "https://") && !(c->allow_http && url_is_loopback_http(url))))
                return acme_error_set(err, -EBADMSG, ACME_REJECTED, NULL, 0,
                                      "The ACME server gave an URL we do not use: '%.200s'.", url);
        /* Every URL the server hands us must be on the directory's server: we never let it point our
         * requests elsewhere (the same reason redirects are not followed). */
        if (c->have_directory && !acme_url_same_origin(url, c->directory_url))
                return acme_error_set(err, -EBADMSG, ACME_REJECTED, NULL, 0,
                                      "The ACME server pointed to another server: '%.200s'.", url);

        response_done(resp);
        resp->body = DYNBUF_INIT(ACME_BODY_MAX);
        resp->client = c;

        h = curl_slist_append(NULL, accept ? accept : "Accept: application/json");
        if (!h)
                return oom(err);
        headers = h;
        if (method == HTTP_POST) {
                h = curl_slist_append(headers, "Content-Type: application/jose+json");
                if (!h)
                        return oom(err);
                headers = h;
        }
        /* No "Expect: 100-continue" round trip. */
        h = curl_slist_append(headers, "Expect:");
        if (!h)
                return oom(err);
        headers = h;

        curl_easy_reset(c->curl);
        if (curl_easy_setopt(c->curl, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, c->allow_http ? "http,https" : "https") != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_OPENSOCKETFUNCTION, open_socket_cb) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, (long) c->timeout_sec) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, (long) MIN(c->timeout_sec, (int64_t) 10)) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_USERAGENT, c->user_agent) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, resp) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, header_cb) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, resp) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) ACME_BODY_MAX) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYPEER, 1L) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_SSL_VERIFYHOST, 2L) != CURLE_OK)
                return oom(err);
        if (c->ca_bundle && curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->ca_bundle) != CURLE_OK)
                return oom(err);

        switch (method) {
        case HTTP_GET:
                cc = curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
                break;
        case HTTP_HEAD:
                cc = curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
                break;
        case HTTP_POST:
                cc = curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long) strlen(body));
                if (cc == CURLE_OK)
                        cc = curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
                break;
        default:
                return -EINVAL;
        }
        if (cc != CURLE_OK)
                return oom(err);

        cc = curl_easy_perform(c->curl);
        if (resp->too_big)
                return acme_error_set(err, -E2BIG, ACME_UNREACHABLE, NULL, 0,
                                      "The ACME server's response from '%.200s' is larger than our limit.", url);
        if (cc != CURLE_OK) {
                _cleanup_free_ char *detail = acme_printable(errbuf[0] ? errbuf : curl_easy_strerror(cc), 300);
                return acme_error_set(err, curl_to_errno(cc), ACME_UNREACHABLE, NULL, 0,
                                      "Could not reach the ACME server at '%.200s': %s.", url, strna(detail));
        }
        if (curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status) != CURLE_OK)
                resp->status = 0;
        return 0;
}

/* The error of a response with a status >= 400 (or an unexpected one). */
static int response_error(const Response *resp, const char *what, AcmeError *err) {
        _cleanup_(acme_problem_done) AcmeProblem p = {};
        _cleanup_free_ char *summary = NULL;
        AcmeContentType ct = acme_parse_content_type(resp->content_type);
        AcmeProblemClass pc;
        AcmeOutcome o;

        if ((ct == ACME_CONTENT_PROBLEM || ct == ACME_CONTENT_JSON) &&
            acme_parse_problem(resp->body.data, resp->body.len, &p, NULL) >= 0 && !streq(p.type, "about:blank")) {
                pc = acme_problem_classify(p.type, resp->status);
                summary = acme_problem_summary(&p);
        } else {
                pc = acme_problem_classify(NULL, resp->status);
                if (resp->status >= 200 && resp->status < 300)
                        pc = ACME_PROBLEM_UNREACHABLE; /* a 2xx we did not expect: the server misbehaves */
        }

        switch (pc) {
        case ACME_PROBLEM_RATELIMITED:
                o = ACME_RATELIMITED;
                break;
        case ACME_PROBLEM_REJECTED:
                o = ACME_REJECTED;
                break;
        case ACME_PROBLEM_CONFIG:
                o = ACME_CONFIG;
                break;
        case ACME_PROBLEM_BAD_NONCE: /* only left here when retries ran out */
        case ACME_PROBLEM_UNREACHABLE:
        default:
                o = ACME_UNREACHABLE;
                break;
        }
        if (summary)
                return acme_error_set(err, 0, o, p.type, resp->retry_after, "%s: the CA answered HTTP %ld: %s", what,
                                      resp->status, summary);
        return acme_error_set(err, 0, o, NULL, resp->retry_after, "%s: the CA answered HTTP %ld.", what,
                              resp->status);
}

static bool response_is_json(const Response *resp) {
        return acme_parse_content_type(resp->content_type) == ACME_CONTENT_JSON;
}

/* Expects one of two 2xx statuses and a JSON body. */
static int response_check(const Response *resp, long s1, long s2, bool json, const char *what, AcmeError *err) {
        if (resp->status != s1 && resp->status != s2)
                return response_error(resp, what, err);
        if (json && !response_is_json(resp))
                return acme_error_set(err, -EBADMSG, ACME_UNREACHABLE, NULL, 0,
                                      "%s: the CA's response is not application/json.", what);
        return 0;
}

static int ensure_directory(AcmeClient *c, AcmeError *err) {
        _cleanup_(response_done) Response resp = {};
        _cleanup_free_ char *words = NULL;
        int r;

        if (c->have_directory)
                return 0;
        r = http_do(c, HTTP_GET, c->directory_url, NULL, NULL, &resp, err);
        if (r < 0)
                return r;
        if (resp.status >= 500 || resp.status == 429)
                return response_error(&resp, "Fetching the ACME directory", err);
        if (resp.status != 200)
                return acme_error_set(err, -EINVAL, ACME_CONFIG, NULL, 0,
                                      "The ACME directory URL '%.200s' answered HTTP %ld: check the URL.",
                                      c->directory_url, resp.status);
        r = acme_parse_directory(resp.body.data, resp.body.len, &c->dir, &words);
        if (r == -ENOMEM)
                return oom(err);
        if (r < 0)
                return acme_error_set(err, r, ACME_CONFIG, NULL, 0,
                                      "'%.200s' is not an ACME directory: %s Check the URL.", c->directory_url,
                                      strna(words));
        c->have_directory = true;
        return 0;
}

static int ensure_key(AcmeClient *c, AcmeError *err) {
        int r;

        if (c->key)
                return 0;
        r = acme_jws_key_load_or_create(c->account_key_path, c->account_key_type, &c->key, NULL);
        if (r < 0)
                return acme_error_set(err, r, ACME_CONFIG, NULL, 0, "Cannot load or create the account key '%s': %s.",
                                      c->account_key_path, strerror(-r));
        r = acme_jws_thumbprint(c->key, &c->thumbprint);
        if (r < 0)
                return acme_error_set(err, r, ACME_CONFIG, NULL, 0, "Cannot use the account key '%s': %s.",
                                      c->account_key_path, strerror(-r));
        return 0;
}

static int new_nonce(AcmeClient *c, AcmeError *err) {
        _cleanup_(response_done) Response resp = {};
        int r;

        r = http_do(c, HTTP_HEAD, c->dir.new_nonce, NULL, NULL, &resp, err);
        if (r < 0)
                return r;
        if (resp.status != 200 && resp.status != 204)
                return response_error(&resp, "Getting a nonce", err);
        if (c->n_nonces == 0)
                return acme_error_set(err, -EBADMSG, ACME_UNREACHABLE, NULL, 0,
                                      "The ACME server gave no valid Replay-Nonce.");
        return 0;
}

/* Hands the error src over to *dst (when the caller wants one), else drops it. */
static void error_pass(AcmeError *dst, AcmeError *src) {
        if (dst) {
                acme_error_done(dst);
                *dst = *src;
        } else
                acme_error_done(src);
        *src = (AcmeError) {};
}

/* A JWS POST (payload NULL: POST-as-GET), signed with kid (the account URL) unless use_jwk,
 * retried with a fresh nonce on badNonce. On an HTTP error status err is filled from the problem
 * document and a negative errno returned; otherwise the caller checks the 2xx status. */
static int signed_post(AcmeClient *c, const char *url, const char *payload, bool use_jwk, const char *accept,
                       const char *what, Response *resp, AcmeError *err) {
        bool registered_again = false;
        int r;

        for (unsigned attempt = 0;; attempt++) {
                _cleanup_free_ char *nonce = NULL, *jws = NULL;

                nonce = nonce_take(c);
                if (!nonce) {
                        r = new_nonce(c, err);
                        if (r < 0)
                                return r;
                        nonce = nonce_take(c);
                        if (!nonce)
                                return oom(err);
                }
                r = acme_jws_sign(c->key, use_jwk ? NULL : c->account_url, nonce, url, payload, &jws);
                if (r < 0)
                        return acme_error_set(err, r, ACME_CONFIG, NULL, 0, "Cannot sign with the account key: %s.",
                                              strerror(-r));
                r = http_do(c, HTTP_POST, url, jws, accept, resp, err);
                if (r < 0)
                        return r;
                if (resp->status < 400)
                        return 0;

                {
                        AcmeError e = {};

                        r = response_error(resp, what, &e);
                        if (streq_ptr(e.type, "badNonce") && attempt < BAD_NONCE_RETRIES) {
                                /* The error response carried a fresh nonce (RFC 8555 6.5); if it did
                                 * not, new_nonce() gets one. */
                                acme_error_done(&e);
                                continue;
                        }
                        /* The cached account is gone (a CA that lost its state, or a deactivated
                         * account): look it up, or create it again with the same key, once, and
                         * send the request again under its new URL. A deactivated account stays
                         * refused by the CA. */
                        if (!use_jwk && streq_ptr(e.type, "accountDoesNotExist")) {
                                c->account_url = mfree(c->account_url);
                                if (!registered_again) {
                                        registered_again = true;
                                        response_done(resp);
                                        r = acme_account_ensure(c, NULL, err);
                                        if (r >= 0) {
                                                acme_error_done(&e);
                                                continue;
                                        }
                                        acme_error_done(&e);
                                        return r;
                                }
                        }
                        error_pass(err, &e);
                        return r;
                }
        }
}

/* ---- account ---- */

static int account_payload_new(AcmeClient *c, char **ret, AcmeError *err) {
        json_auto_t *p = json_object();
        char *text;
        int r;

        if (!p)
                return oom(err);
        if (c->dir.terms_of_service || c->agree_tos) {
                if (!c->agree_tos)
                        return acme_error_set(err, -EACCES, ACME_CONFIG, "userActionRequired", 0,
                                              "The CA's terms of service at '%s' must be agreed to before an "
                                              "account is created: review them and set agree_tos.",
                                              c->dir.terms_of_service);
                if (json_object_set_new(p, "termsOfServiceAgreed", json_true()) < 0)
                        return oom(err);
        }
        if (c->email) {
                _cleanup_free_ char *mailto = strjoin("mailto:", c->email);
                json_t *a = json_array();
                if (!mailto || !a || json_object_set_new(p, "contact", a) < 0 ||
                    json_array_append_new(a, json_string(mailto)) < 0)
                        return oom(err);
        }
        if (c->eab_kid) {
                json_t *eab = NULL;
                r = acme_jws_eab(c->eab_alg, c->eab_kid, c->eab_hmac_key, c->key, c->dir.new_account, &eab);
                if (r == -ENOMEM)
                        return oom(err);
                if (r < 0)
                        return acme_error_set(err, r, ACME_CONFIG, NULL, 0,
                                              "Cannot make the external account binding: the EAB HMAC key must "
                                              "be base64url and the algorithm HS256, HS384 or HS512.");
                if (json_object_set_new(p, "externalAccountBinding", eab) < 0)
                        return oom(err);
        } else if (c->dir.external_account_required)
                return acme_error_set(err, -EACCES, ACME_CONFIG, "externalAccountRequired", 0,
                                      "The CA requires an external account binding: set the EAB key id and "
                                      "HMAC key given by the CA.");
        text = json_dumps(p, JSON_COMPACT);
        if (!text)
                return oom(err);
        *ret = text;
        return 0;
}

int acme_account_ensure(AcmeClient *c, const char **ret_url, AcmeError *err) {
        _cleanup_(response_done) Response resp = {};
        _cleanup_free_ char *payload = NULL;
        AcmeError lookup_err = {};
        int r;

        if (!c)
                return -EINVAL;
        if (c->account_url)
                goto done;

        r = ensure_directory(c, err);
        if (r < 0)
                return r;
        r = ensure_key(c, err);
        if (r < 0)
                return r;

        r = signed_post(c, c->dir.new_account, "{\"onlyReturnExisting\":true}", true, NULL,
                        "Looking up the ACME account", &resp, &lookup_err);
        if (r >= 0) {
                r = response_check(&resp, 200, 200, false, "Looking up the ACME account", err);
                if (r < 0) {
                        acme_error_done(&lookup_err);
                        return r;
                }
        } else if (!streq_ptr(lookup_err.type, "accountDoesNotExist")) {
                error_pass(err, &lookup_err);
                return r;
        } else {
                acme_error_done(&lookup_err);
                r = account_payload_new(c, &payload, err);
                if (r < 0)
                        return r;
                r = signed_post(c, c->dir.new_account, payload, true, NULL, "Creating the ACME account", &resp, err);
                if (r < 0) {
                        /* A CA refusing the account is about our credentials (EAB, contact): no
                         * retry can fix that, a person must. */
                        if (err && err->outcome == ACME_REJECTED) {
                                err->outcome = ACME_CONFIG;
                                r = -EACCES;
                        }
                        return r;
                }
                r = response_check(&resp, 201, 200, false, "Creating the ACME account", err);
                if (r < 0)
                        return r;
        }
        if (!resp.location)
                return acme_error_set(err, -EBADMSG, ACME_UNREACHABLE, NULL, 0,
                                      "The ACME server gave no account URL (Location).");
        c->account_url = TAKE_PTR(resp.location);

done:
        if (ret_url)
                *ret_url = c->account_url;
        return 0;
}

/* ---- polling ---- */

typedef struct Poll {
        usec_t deadline;   /* CLOCK_MONOTONIC */
        usec_t interval;
} Poll;

static void sleep_usec(usec_t u) {
        struct timespec ts = { .tv_sec = (time_t) (u / USEC_PER_SEC), .tv_nsec = (long) (u % USEC_PER_SEC) * 1000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

/* Waits before the next poll: retry_after (seconds, from the CA) if given, else the backoff. Returns
 * -EAGAIN with ACME_WAIT in err when that would pass the deadline. */
static int poll_wait(Poll *p, int64_t retry_after, const char *what, AcmeError *err) {
        usec_t now = now_usec(CLOCK_MONOTONIC), delay;

        if (retry_after > 0)
                delay = (usec_t) retry_after * USEC_PER_SEC;
        else {
                delay = p->interval;
                p->interval = MIN(p->interval * 2, POLL_MAX_USEC);
        }
        if (now + delay > p->deadline)
                return acme_error_set(err, -EAGAIN, ACME_WAIT, NULL,
                                      MAX(retry_after, (int64_t) ((delay + USEC_PER_SEC - 1) / USEC_PER_SEC)),
                                      "%s: the CA is still working on it; ask again later.", what);
        sleep_usec(delay);
        return 0;
}

/* ---- orders ---- */

static int fetch_json(AcmeClient *c, const char *url, const char *what, Response *resp, AcmeError *err) {
        int r;

        r = signed_post(c, url, NULL, false, NULL, what, resp, err);
        if (r < 0)
                return r;
        return response_check(resp, 200, 200, true, what, err);
}

static int fetch_order(AcmeClient *c, const char *url, AcmeOrder *ret, int64_t *ret_retry_after, AcmeError *err) {
        _cleanup_(response_done) Response resp = {};
        _cleanup_free_ char *words = NULL;
        AcmeOrder o = {};
        int r;

        r = fetch_json(c, url, "Fetching the order", &resp, err);
        if (r < 0)
                return r;
        r = acme_parse_order(resp.body.data, resp.body.len, &o, &words);
        if (r == -ENOMEM)
                return oom(err);
        if (r < 0)
                return acme_error_set(err, r, ACME_UNREACHABLE, NULL, 0, "The CA sent a bad order: %s", strna(words));
        acme_order_done(ret);
        *ret = o;
        if (ret_retry_after)
                *ret_retry_after = resp.retry_after;
        return 0;
}

static int order_payload(AcmeClient *c, const AcmeOrderRequest *req, char **ret, AcmeError *err) {
        json_auto_t *p = json_object();
        json_t *ids = json_array();
        char buf[64], *text;

        if (!p || !ids || json_object_set_new(p, "identifiers", ids) < 0)
                return oom(err);
        STRV_FOREACH(d, req->dns) {
                if (!dns_name_is_valid(*d))
                        return acme_error_set(err, -EINVAL, ACME_CONFIG, NULL, 0, "Invalid DNS name '%.255s'.", *d);
                if (json_array_append_new(ids, json_pack("{s:s,s:s}", "type", "dns", "value", *d)) < 0)
                        return oom(err);
        }
        STRV_FOREACH(i, req->ip) {
                _cleanup_free_ char *norm = NULL;
                if (ip_address_normalize(*i, &norm) < 0)
                        return acme_error_set(err, -EINVAL, ACME_CONFIG, NULL, 0, "Invalid IP address '%.64s'.", *i);
                if (json_array_append_new(ids, json_pack("{s:s,s:s}", "type", "ip", "value", norm)) < 0)
                        return oom(err);
        }
        if (json_array_size(ids) == 0 || json_array_size(ids) > ACME_LIST_MAX)
                return acme_error_set(err, -EINVAL, ACME_CONFIG, NULL, 0,
                                      "An order needs between 1 and %u identifiers.", ACME_LIST_MAX);
        /* A profile only when the CA lists it: an unknown one would fail the order. */
        if (req->profile && strv_contains(c->dir.profiles, req->profile) &&
            json_object_set_new(p, "profile", json_string(req->profile)) < 0)
                return oom(err);
        if (req->not_before > 0) {
                if (format_timestamp_rfc3339(req->not_before, buf, sizeof(buf)) < 0 ||
                    json_object_set_new(p, "notBefore", json_string(buf)) < 0)
                        return oom(err);
        }
        if (req->not_after > 0) {
                if (format_timestamp_rfc3339(req->not_after, buf, sizeof(buf)) < 0 ||
                    json_object_set_new(p, "notAfter", json_string(buf)) < 0)
                        return oom(err);
        }
        /* replaces is part of ARI: only to CAs that offer it. */
        if (req->replaces && c->dir.renewal_info) {
                if (!cert_id_is_valid(req->replaces))
                        return acme_error_set(err, -EINVAL, ACME_CONFIG, NULL, 0, "Invalid ARI certificate id.");
                if (json_object_set_new(p, "replaces", json_string(req->replaces)) < 0)
                        return oom(err);
        }
        text = json_dumps(p, JSON_COMPACT);
        if (!text)
                return oom(err);
        *ret = text;
        return 0;
}

typedef struct Presented {
        char *identifier;
        char *token;
        char *authz_url;
} Presented;

typedef struct PresentedSet {
        const AcmeChallengeHandler *handler;
        Presented *items;
        size_t n;
        bool keep; /* ACME_WAIT while the CA validates: the answers stay in place */
} PresentedSet;

static void presented_set_done(PresentedSet *s) {
        for (size_t i = 0; i < s->n; i++) {
                if (!s->keep && s->handler->cleanup)
                        s->handler->cleanup(s->handler->userdata, s->items[i].identifier, s->items[i].token);
                free(s->items[i].identifier);
                free(s->items[i].token);
                free(s->items[i].authz_url);
        }
        s->items = mfree(s->items);
        s->n = 0;
}

static int fetch_authz(AcmeClient *c, const char *url, AcmeAuthorization *ret, int64_t *ret_retry_after,
                       AcmeError *err) {
        _cleanup_(response_done) Response resp = {};
        _cleanup_free_ char *words = NULL;
        AcmeAuthorization a = {};
        int r;

        r = fetch_json(c, url, "Fetching an authorization", &resp, err);
        if (r < 0)
                return r;
        r = acme_parse_authorization(resp.body.data, resp.body.len, &a, &words);
        if (r == -ENOMEM)
                return oom(err);
        if (r < 0)
                return acme_error_set(err, r, ACME_UNREACHABLE, NULL, 0, "The CA sent a bad authorization: %s",
                                      strna(words));
        acme_authorization_done(ret);
        *ret = a;
        if (ret_retry_after)
                *ret_retry_after = resp.retry_after;
        return 0;
}

static const AcmeChallenge *authz_find_challenge(const AcmeAuthorization *a, const char *type) {
        for (size_t i = 0; i < a->n_challenges; i++)
                if (streq(a->challenges[i].type, type))
                        return &a->challenges[i];
        return NULL;
}

/* The error of a failed authorization: from its invalid challenge if it has one. */
static int authz_failed(const AcmeAuthorization *a, AcmeError *err) {
        for (size_t i = 0; i < a->n_challenges; i++) {
                const AcmeProblem *p = a->challenges[i].error;
                if (p) {
                        _cleanup_free_ char *summary = acme_problem_summary(p);
                        AcmeProblemClass pc = acme_problem_classify(p->type, p->status);
                        AcmeOutcome o = pc == ACME_PROBLEM_CONFIG        ? ACME_CONFIG :
                                        pc == ACME_PROBLEM_UNREACHABLE   ? ACME_UNREACHABLE :
                                        pc == ACME_PROBLEM_RATELIMITED   ? ACME_RATELIMITED :
                                                                           ACME_REJECTED;
                        return acme_error_set(err, 0, o, p->type, 0, "The CA did not validate %s '%s' (%s): %s",
                                              a->identifier.type, a->identifier.value, a->challenges[i].type,
                                              strna(summary));
                }
        }
        return acme_error_set(err, 0, ACME_REJECTED, NULL, 0, "The authorization for %s '%s' is %s.",
                              a->identifier.type, a->identifier.value, strna(acme_status_to_string(a->status)));
}

/* After a resume: the answer an earlier call left in place (it returned ACME_WAIT) for an
 * authorization the CA has decided on is removed now. */
static void cleanup_decided(const AcmeAuthorization *a, const AcmeChallengeHandler *handler) {
        const AcmeChallenge *ch = authz_find_challenge(a, acme_challenge_type_to_string(handler->type));

        if (handler->cleanup && ch && ch->token && IN_SET(ch->status, ACME_STATUS_VALID, ACME_STATUS_INVALID))
                handler->cleanup(handler->userdata, a->identifier.value, ch->token);
}

static void cleanup_resumed_order(AcmeClient *c, const AcmeOrder *o, const AcmeChallengeHandler *handler) {
        STRV_FOREACH(u, o->authorizations) {
                _cleanup_(acme_authorization_done) AcmeAuthorization a = {};
                _cleanup_(acme_error_done) AcmeError ignored = {};

                if (fetch_authz(c, *u, &a, NULL, &ignored) >= 0)
                        cleanup_decided(&a, handler);
        }
}

/* A DNS server (or the network) that did not answer, or a secondary still behind after the
 * propagation wait, is tried again with the backoff; anything else (a key refused, a hook that
 * failed, a file that cannot be written) needs the settings fixed. */
static AcmeOutcome present_error_outcome(int r) {
        switch (r) {
        case -ETIMEDOUT:
        case -ECONNREFUSED:
        case -ECONNRESET:
        case -EHOSTUNREACH:
        case -ENETUNREACH:
        case -ENETDOWN:
        case -EAGAIN:
                return ACME_UNREACHABLE;
        default:
                return ACME_CONFIG;
        }
}

static int answer_authz(AcmeClient *c, const char *url, const AcmeChallengeHandler *handler, bool resumed,
                        PresentedSet *set, AcmeError *err) {
        _cleanup_(acme_authorization_done) AcmeAuthorization a = {};
        _cleanup_free_ char *keyauth = NULL, *txt = NULL, *words = NULL;
        const char *type = acme_challenge_type_to_string(handler->type);
        const AcmeChallenge *ch;
        Presented *items;
        int r;

        r = fetch_authz(c, url, &a, NULL, err);
        if (r < 0)
                return r;
        if (a.status != ACME_STATUS_PENDING && resumed)
                cleanup_decided(&a, handler);
        if (a.status == ACME_STATUS_VALID)
                return 0;
        if (a.status != ACME_STATUS_PENDING)
                return authz_failed(&a, err);

        ch = authz_find_challenge(&a, type);
        if (!ch)
                return acme_error_set(err, -EOPNOTSUPP, ACME_REJECTED, NULL, 0,
                                      "The CA offers no %s challenge for %s%s '%s'%s.", type,
                                      a.wildcard ? "the wildcard " : "", a.identifier.type, a.identifier.value,
                                      a.wildcard ? " (wildcards need dns-01)" : "");
        if (!ch->token)
                return acme_error_set(err, -EBADMSG, ACME_UNREACHABLE, NULL, 0,
                                      "The CA's %s challenge for '%s' has no valid token.", type, a.identifier.value);
        if (ch->status == ACME_STATUS_INVALID)
                return authz_failed(&a, err);

        r = acme_jws_key_authorization(ch->token, c->thumbprint, &keyauth);
        if (r >= 0)
                r = acme_jws_dns01_value(keyauth, &txt);
        if (r < 0)
                return oom(err);

        items = realloc(set->items, sizeof(Presented) * (set->n + 1));
        if (!items)
                return oom(err);
        set->items = items;
        set->items[set->n] = (Presented) {
                .identifier = strdup(a.identifier.value),
                .token = strdup(ch->token),
                .authz_url = strdup(url),
        };
        if (!set->items[set->n].identifier || !set->items[set->n].token || !set->items[set->n].authz_url) {
                free(set->items[set->n].identifier);
                free(set->items[set->n].token);
                free(set->items[set->n].authz_url);
                return oom(err);
        }

        r = handler->present(handler->userdata, a.identifier.value, ch->token, keyauth, txt, &words);
        /* Counted even when present() failed: cleanup() undoes whatever part was done. */
        set->n++;
        if (r < 0)
                return acme_error_set(err, r, present_error_outcome(r), NULL, 0,
                                      "Could not put the %s answer for '%s' in place: %s", type, a.identifier.value,
                                      words ? words : strerror(-r));

        /* Tell the CA to validate, unless an earlier call did: a resumed order was handed back only
         * after all its challenges had been answered, and some CAs (Pebble) keep a challenge
         * "pending" while its validation is queued; a second answer would queue a second
         * validation, which could find the answer already removed. */
        if (ch->status == ACME_STATUS_PENDING && !resumed) {
                _cleanup_(response_done) Response resp = {};
                r = signed_post(c, ch->url, "{}", false, NULL, "Answering a challenge", &resp, err);
                if (r < 0)
                        return r;
                r = response_check(&resp, 200, 200, false, "Answering a challenge", err);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int do_authorizations(AcmeClient *c, const AcmeOrder *o, const AcmeChallengeHandler *handler, bool resumed,
                             Poll *poll, AcmeError *err) {
        _cleanup_(presented_set_done) PresentedSet set = { .handler = handler };
        int r;

        /* All answers first, so the CA validates them in parallel. */
        STRV_FOREACH(u, o->authorizations) {
                r = answer_authz(c, *u, handler, resumed, &set, err);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < set.n; i++)
                for (;;) {
                        _cleanup_(acme_authorization_done) AcmeAuthorization a = {};
                        int64_t retry_after = 0;

                        r = fetch_authz(c, set.items[i].authz_url, &a, &retry_after, err);
                        if (r < 0)
                                return r;
                        if (a.status == ACME_STATUS_VALID)
                                break;
                        if (a.status != ACME_STATUS_PENDING)
                                return authz_failed(&a, err);
                        r = poll_wait(poll, retry_after, "Validating the challenges", err);
                        if (r < 0) {
                                set.keep = true;
                                return r;
                        }
                }
        return 0;
}

/* The issuer CN of the top certificate of a chain (the last one), or NULL. */
static char *chain_top_issuer_cn(X509 *leaf, STACK_OF(X509) *chain) {
        X509 *top = sk_X509_num(chain) > 0 ? sk_X509_value(chain, sk_X509_num(chain) - 1) : leaf;
        const X509_NAME *n = X509_get_issuer_name(top);
        unsigned char *utf8 = NULL;
        char *s;
        int idx, len;

        idx = X509_NAME_get_index_by_NID(n, NID_commonName, -1);
        if (idx < 0)
                return NULL;
        len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(n, idx)));
        if (len < 0) {
                ERR_clear_error();
                return NULL;
        }
        s = strndup((char *) utf8, (size_t) len);
        OPENSSL_free(utf8);
        return s;
}

static int download_chain(AcmeClient *c, const char *url, Response *resp, AcmeError *err) {
        int r;

        r = signed_post(c, url, NULL, false, "Accept: application/pem-certificate-chain", "Downloading the certificate",
                        resp, err);
        if (r < 0)
                return r;
        r = response_check(resp, 200, 200, false, "Downloading the certificate", err);
        if (r < 0)
                return r;
        if (acme_parse_content_type(resp->content_type) != ACME_CONTENT_PEM_CHAIN)
                return acme_error_set(err, -EBADMSG, ACME_UNREACHABLE, NULL, 0,
                                      "The certificate from the CA is not application/pem-certificate-chain.");
        return 0;
}

static int csr_public_key(const char *csr_b64url, EVP_PKEY **ret) {
        _cleanup_free_ unsigned char *der = NULL;
        _cleanup_(X509_REQ_freep) X509_REQ *req = NULL;
        const unsigned char *p;
        size_t len = 0;
        EVP_PKEY *k;
        int r;

        r = acme_base64url_decode(csr_b64url, &der, &len);
        if (r < 0)
                return r;
        p = der;
        req = d2i_X509_REQ(NULL, &p, (long) len);
        if (!req || p != der + len) {
                ERR_clear_error();
                return -EBADMSG;
        }
        k = X509_REQ_get_pubkey(req);
        if (!k) {
                ERR_clear_error();
                return -EBADMSG;
        }
        *ret = k;
        return 0;
}

static int get_certificate(AcmeClient *c, const char *cert_url, const AcmeOrderRequest *req, AcmeOrderResult *ret,
                           AcmeError *err) {
        _cleanup_(response_done) Response resp = {};
        _cleanup_(X509_freep) X509 *leaf = NULL;
        _cleanup_(pki_chain_freep) STACK_OF(X509) *chain = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *csr_key = NULL;
        _cleanup_free_ char *cert_pem = NULL, *chain_pem = NULL, *top = NULL;
        _cleanup_strv_free_ char **alternates = NULL, **up = NULL;
        size_t len = 0;
        int r;

        r = download_chain(c, cert_url, &resp, err);
        if (r < 0)
                return r;
        r = pki_cert_parse(resp.body.data, resp.body.len, &leaf, &chain);
        if (r < 0)
                return acme_error_set(err, r, ACME_UNREACHABLE, NULL, 0, "The CA sent no readable certificate.");

        alternates = TAKE_PTR(resp.links_alternate);
        up = TAKE_PTR(resp.links_up);
        top = chain_top_issuer_cn(leaf, chain);
        if (req->preferred_chain && !streq_ptr(top, req->preferred_chain)) {
                size_t n = 0;
                STRV_FOREACH(alt, alternates) {
                        _cleanup_(X509_freep) X509 *l2 = NULL;
                        _cleanup_(pki_chain_freep) STACK_OF(X509) *ch2 = NULL;
                        _cleanup_free_ char *top2 = NULL;

                        if (n++ >= ALTERNATES_MAX)
                                break;
                        r = download_chain(c, *alt, &resp, err);
                        if (r < 0)
                                return r;
                        if (pki_cert_parse(resp.body.data, resp.body.len, &l2, &ch2) < 0)
                                continue;
                        top2 = chain_top_issuer_cn(l2, ch2);
                        if (streq_ptr(top2, req->preferred_chain) && X509_cmp(l2, leaf) == 0) {
                                X509_free(leaf);
                                leaf = TAKE_PTR(l2);
                                pki_chain_free(chain);
                                chain = TAKE_PTR(ch2);
                                strv_free(up);
                                up = TAKE_PTR(resp.links_up);
                                break;
                        }
                }
                /* No match: the default chain, as other clients do. */
        }

        /* A CA that sends the leaf alone links its issuer with rel="up": follow a few levels. */
        if (sk_X509_num(chain) == 0) {
                if (up && !chain) {
                        chain = sk_X509_new_null();
                        if (!chain)
                                return oom(err);
                }
                for (unsigned level = 0; up && level < 4; level++) {
                        _cleanup_(X509_freep) X509 *issuer = NULL;
                        char *next = up[0];

                        r = signed_post(c, next, NULL, false,
                                        "Accept: application/pem-certificate-chain, application/pkix-cert",
                                        "Downloading the issuer certificate", &resp, err);
                        if (r < 0)
                                return r;
                        r = response_check(&resp, 200, 200, false, "Downloading the issuer certificate", err);
                        if (r < 0)
                                return r;
                        if (pki_cert_parse(resp.body.data, resp.body.len, &issuer, NULL) < 0)
                                break;
                        if (!sk_X509_push(chain, issuer))
                                return oom(err);
                        issuer = NULL;
                        strv_free(up);
                        up = TAKE_PTR(resp.links_up);
                }
        }

        r = csr_public_key(req->csr_der_b64url, &csr_key);
        if (r < 0)
                return acme_error_set(err, r, ACME_CONFIG, NULL, 0, "The CSR is not valid base64url DER.");
        if (EVP_PKEY_eq(X509_get0_pubkey(leaf), csr_key) != 1) {
                ERR_clear_error();
                return acme_error_set(err, -EBADMSG, ACME_REJECTED, NULL, 0,
                                      "The certificate from the CA is not for the public key of the CSR.");
        }

        r = pki_cert_to_pem(leaf, &cert_pem, &len);
        if (r >= 0 && sk_X509_num(chain) > 0)
                r = pki_chain_to_pem(chain, &chain_pem, &len);
        if (r < 0)
                return oom(err);

        free(ret->cert_pem);
        ret->cert_pem = TAKE_PTR(cert_pem);
        free(ret->chain_pem);
        ret->chain_pem = TAKE_PTR(chain_pem);
        free(ret->cert_url);
        ret->cert_url = strdup(cert_url);
        if (!ret->cert_url)
                return oom(err);
        return 0;
}

int acme_order(AcmeClient *c, const AcmeOrderRequest *req, const AcmeChallengeHandler *handler,
               AcmeOrderResult *ret, AcmeError *err) {
        _cleanup_(acme_order_done) AcmeOrder o = {};
        _cleanup_free_ char *order_url = NULL;
        Poll poll;
        int64_t retry_after = 0;
        bool resumed = false;
        int r;

        if (!c || !req || !ret || !handler || !handler->present || !req->csr_der_b64url ||
            acme_challenge_type_to_string(handler->type) == NULL)
                return acme_error_set(err, -EINVAL, ACME_CONFIG, NULL, 0, "Invalid order request.");
        if (!base64url_is_valid(req->csr_der_b64url))
                return acme_error_set(err, -EINVAL, ACME_CONFIG, NULL, 0, "The CSR is not valid base64url.");

        poll = (Poll) {
                .deadline = now_usec(CLOCK_MONOTONIC) + (usec_t) MAX(req->poll_budget_ms, (int64_t) 0) * USEC_PER_MSEC,
                .interval = POLL_FIRST_USEC,
        };

        r = acme_account_ensure(c, NULL, err);
        if (r < 0)
                return r;

        if (req->order_url) {
                AcmeError ferr = {};

                order_url = strdup(req->order_url);
                if (!order_url)
                        return oom(err);
                r = fetch_order(c, order_url, &o, &retry_after, &ferr);
                if (r < 0 && ferr.outcome != ACME_REJECTED) {
                        error_pass(err, &ferr);
                        return r;
                }
                if (r < 0) {
                        /* The CA no longer knows the order (it lost its state, or the order is
                         * gone): a new one. Nothing was answered for an order it does not know. */
                        acme_error_done(&ferr);
                        order_url = mfree(order_url);
                } else {
                        resumed = true;
                        if (o.status != ACME_STATUS_PENDING) {
                                cleanup_resumed_order(c, &o, handler);
                                resumed = false;
                        }
                }
        }
        if (!order_url) {
                _cleanup_(response_done) Response resp = {};
                _cleanup_free_ char *payload = NULL, *words = NULL;

                r = order_payload(c, req, &payload, err);
                if (r < 0)
                        return r;
                r = signed_post(c, c->dir.new_order, payload, false, NULL, "Creating the order", &resp, err);
                if (r < 0)
                        return r;
                r = response_check(&resp, 201, 201, true, "Creating the order", err);
                if (r < 0)
                        return r;
                if (!resp.location)
                        return acme_error_set(err, -EBADMSG, ACME_UNREACHABLE, NULL, 0,
                                              "The ACME server gave no order URL (Location).");
                order_url = TAKE_PTR(resp.location);
                r = acme_parse_order(resp.body.data, resp.body.len, &o, &words);
                if (r == -ENOMEM)
                        return oom(err);
                if (r < 0)
                        return acme_error_set(err, r, ACME_UNREACHABLE, NULL, 0, "The CA sent a bad order: %s",
                                              strna(words));
        }
        free(ret->order_url);
        ret->order_url = strdup(order_url);
        if (!ret->order_url)
                return oom(err);

        for (;;) {
                switch (o.status) {
                case ACME_STATUS_PENDING:
                        r = do_authorizations(c, &o, handler, resumed, &poll, err);
                        resumed = false;
                        if (r < 0)
                                return r;
                        r = fetch_order(c, order_url, &o, &retry_after, err);
                        if (r < 0)
                                return r;
                        if (o.status == ACME_STATUS_PENDING) {
                                /* The order catches up with its authorizations. */
                                r = poll_wait(&poll, retry_after, "Waiting for the order", err);
                                if (r < 0)
                                        return r;
                                r = fetch_order(c, order_url, &o, &retry_after, err);
                                if (r < 0)
                                        return r;
                        }
                        break;

                case ACME_STATUS_READY: {
                        _cleanup_(response_done) Response resp = {};
                        _cleanup_free_ char *payload = NULL, *words = NULL;
                        AcmeOrder o2 = {};

                        payload = strjoin("{\"csr\":\"", req->csr_der_b64url, "\"}");
                        if (!payload)
                                return oom(err);
                        r = signed_post(c, o.finalize, payload, false, NULL, "Finalizing the order", &resp, err);
                        if (r < 0)
                                return r;
                        r = response_check(&resp, 200, 200, true, "Finalizing the order", err);
                        if (r < 0)
                                return r;
                        r = acme_parse_order(resp.body.data, resp.body.len, &o2, &words);
                        if (r == -ENOMEM)
                                return oom(err);
                        if (r < 0)
                                return acme_error_set(err, r, ACME_UNREACHABLE, NULL, 0, "The CA sent a bad order: %s",
                                                      strna(words));
                        acme_order_done(&o);
                        o = o2;
                        retry_after = resp.retry_after;
                        if (o.status == ACME_STATUS_READY)
                                return acme_error_set(err, -EPROTO, ACME_UNREACHABLE, NULL, 0,
                                                      "The CA left the order ready after finalization.");
                        break;
                }

                case ACME_STATUS_PROCESSING:
                        r = poll_wait(&poll, retry_after, "Waiting for the certificate", err);
                        if (r < 0)
                                return r;
                        r = fetch_order(c, order_url, &o, &retry_after, err);
                        if (r < 0)
                                return r;
                        break;

                case ACME_STATUS_VALID:
                        if (!o.certificate)
                                return acme_error_set(err, -EBADMSG, ACME_UNREACHABLE, NULL, 0,
                                                      "The CA's valid order has no certificate URL.");
                        return get_certificate(c, o.certificate, req, ret, err);

                default: {
                        _cleanup_free_ char *summary = o.error ? acme_problem_summary(o.error) : NULL;
                        if (o.error) {
                                AcmeProblemClass pc = acme_problem_classify(o.error->type, o.error->status);
                                return acme_error_set(err, 0,
                                                      pc == ACME_PROBLEM_CONFIG        ? ACME_CONFIG :
                                                      pc == ACME_PROBLEM_RATELIMITED   ? ACME_RATELIMITED :
                                                      pc == ACME_PROBLEM_UNREACHABLE   ? ACME_UNREACHABLE :
                                                                                         ACME_REJECTED,
                                                      o.error->type, 0, "The order is %s: %s",
                                                      strna(acme_status_to_string(o.status)), strna(summary));
                        }
                        return acme_error_set(err, 0, ACME_REJECTED, NULL, 0, "The order is %s.",
                                              strna(acme_status_to_string(o.status)));
                }
                }
        }
}

/* ---- revocation, account management ---- */

static int simple_post(AcmeClient *c, const char *url, const char *payload, const char *what, AcmeError *err) {
        _cleanup_(response_done) Response resp = {};
        int r;

        r = signed_post(c, url, payload, false, NULL, what, &resp, err);
        if (r < 0)
                return r;
        return response_check(&resp, 200, 200, false, what, err);
}

static const char *const revocation_reasons[] = {
        [0] = "unspecified",          [1] = "keyCompromise",      [2] = "cACompromise",
        [3] = "affiliationChanged",   [4] = "superseded",         [5] = "cessationOfOperation",
        [6] = "certificateHold",      [8] = "removeFromCRL",      [9] = "privilegeWithdrawn",
        [10] = "aACompromise",
};

int acme_revocation_reason_from_string(const char *s) {
        unsigned n;

        if (!s)
                return -EINVAL;
        if (safe_atou(s, &n) >= 0)
                return acme_revocation_reason_to_string((int) MIN(n, (unsigned) INT_MAX)) ? (int) n : -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(revocation_reasons); i++)
                if (revocation_reasons[i] && strcasecmp(s, revocation_reasons[i]) == 0)
                        return (int) i;
        return -EINVAL;
}

const char *acme_revocation_reason_to_string(int reason) {
        if (reason < 0 || (size_t) reason >= ELEMENTSOF(revocation_reasons))
                return NULL;
        return revocation_reasons[reason];
}

int acme_revoke(AcmeClient *c, const char *cert_pem, int reason, AcmeError *err) {
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_free_ char *b64 = NULL, *payload = NULL;
        _cleanup_free_ unsigned char *der = NULL;
        json_auto_t *p = NULL;
        int n, r;

        if (!c || !cert_pem || reason < -1 || reason > 10 || reason == 7)
                return acme_error_set(err, -EINVAL, ACME_CONFIG, NULL, 0, "Invalid revocation request.");
        r = pki_cert_parse(cert_pem, strlen(cert_pem), &x, NULL);
        if (r < 0)
                return acme_error_set(err, r, ACME_CONFIG, NULL, 0, "The certificate to revoke cannot be read.");
        r = acme_account_ensure(c, NULL, err);
        if (r < 0)
                return r;
        if (!c->dir.revoke_cert)
                return acme_error_set(err, -EOPNOTSUPP, ACME_CONFIG, NULL, 0, "The CA does not offer revocation.");

        n = i2d_X509(x, NULL);
        if (n <= 0)
                return oom(err);
        der = malloc((size_t) n);
        if (!der)
                return oom(err);
        {
                unsigned char *q = der;
                if (i2d_X509(x, &q) != n)
                        return oom(err);
        }
        r = base64url_encode(der, (size_t) n, &b64);
        if (r < 0)
                return oom(err);
        p = json_pack("{s:s}", "certificate", b64);
        if (!p || (reason >= 0 && json_object_set_new(p, "reason", json_integer(reason)) < 0))
                return oom(err);
        payload = json_dumps(p, JSON_COMPACT);
        if (!payload)
                return oom(err);
        return simple_post(c, c->dir.revoke_cert, payload, "Revoking the certificate", err);
}

int acme_key_change(AcmeClient *c, const char *new_key_path, AcmeError *err) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *new_key = NULL;
        _cleanup_free_ char *payload = NULL, *thumb = NULL;
        json_auto_t *inner = NULL;
        int r;

        if (!c || !new_key_path)
                return acme_error_set(err, -EINVAL, ACME_CONFIG, NULL, 0, "Invalid key change request.");
        r = acme_account_ensure(c, NULL, err);
        if (r < 0)
                return r;
        if (!c->dir.key_change)
                return acme_error_set(err, -EOPNOTSUPP, ACME_CONFIG, NULL, 0, "The CA does not offer key changes.");
        r = pki_key_load(new_key_path, &new_key);
        if (r >= 0 && !acme_jws_alg(new_key))
                r = -EBADMSG;
        if (r < 0)
                return acme_error_set(err, r, ACME_CONFIG, NULL, 0, "Cannot use the new account key '%s': %s.",
                                      new_key_path, strerror(-r));
        r = acme_jws_thumbprint(new_key, &thumb);
        if (r >= 0)
                r = acme_jws_key_change(new_key, c->key, c->account_url, c->dir.key_change, &inner);
        if (r < 0)
                return acme_error_set(err, r, ACME_CONFIG, NULL, 0, "Cannot sign with the new account key: %s.",
                                      strerror(-r));
        payload = json_dumps(inner, JSON_COMPACT);
        if (!payload)
                return oom(err);
        r = simple_post(c, c->dir.key_change, payload, "Changing the account key", err);
        if (r < 0)
                return r;

        EVP_PKEY_free(c->key);
        c->key = TAKE_PTR(new_key);
        free(c->thumbprint);
        c->thumbprint = TAKE_PTR(thumb);
        return 0;
}

int acme_account_deactivate(AcmeClient *c, AcmeError *err) {
        int r;

        if (!c)
                return -EINVAL;
        r = acme_account_ensure(c, NULL, err);
        if (r < 0)
                return r;
        r = simple_post(c, c->account_url, "{\"status\":\"deactivated\"}", "Deactivating the account", err);
        if (r < 0)
                return r;
        c->account_url = mfree(c->account_url);
        return 0;
}

int acme_account_update(AcmeClient *c, const char *email, AcmeError *err) {
        _cleanup_free_ char *payload = NULL, *copy = NULL;
        json_auto_t *p = NULL;
        json_t *a;
        int r;

        if (!c || (email && !email_is_valid(email)))
                return acme_error_set(err, -EINVAL, ACME_CONFIG, NULL, 0, "Invalid contact address.");
        r = acme_account_ensure(c, NULL, err);
        if (r < 0)
                return r;
        p = json_object();
        a = json_array();
        if (!p || !a || json_object_set_new(p, "contact", a) < 0)
                return oom(err);
        if (email) {
                _cleanup_free_ char *mailto = strjoin("mailto:", email);
                if (!mailto || json_array_append_new(a, json_string(mailto)) < 0)
                        return oom(err);
        }
        payload = json_dumps(p, JSON_COMPACT);
        if (!payload)
                return oom(err);
        if (email) {
                copy = strdup(email);
                if (!copy)
                        return oom(err);
        }
        r = simple_post(c, c->account_url, payload, "Updating the account contact", err);
        if (r < 0)
                return r;
        free(c->email);
        c->email = TAKE_PTR(copy);
        return 0;
}

/* ---- ARI ---- */

int acme_ari_cert_id(const char *cert_pem, char **ret) {
        _cleanup_(X509_freep) X509 *x = NULL;
        _cleanup_free_ char *aki64 = NULL, *serial64 = NULL;
        _cleanup_(openssl_freep) unsigned char *der = NULL;
        const ASN1_OCTET_STRING *aki;
        const ASN1_INTEGER *serial;
        size_t hdr;
        char *s;
        int n, r;

        if (!cert_pem || !ret)
                return -EINVAL;
        r = pki_cert_parse(cert_pem, strlen(cert_pem), &x, NULL);
        if (r < 0)
                return r;
        aki = X509_get0_authority_key_id(x);
        if (!aki || ASN1_STRING_length(aki) <= 0)
                return -ENODATA;
        r = base64url_encode(ASN1_STRING_get0_data(aki), (size_t) ASN1_STRING_length(aki), &aki64);
        if (r < 0)
                return r;

        /* The serial's DER INTEGER content octets, with a leading zero if the high bit is set. */
        serial = X509_get0_serialNumber(x);
        n = i2d_ASN1_INTEGER(serial, &der);
        if (n < 3 || !der) {
                ERR_clear_error();
                return -EBADMSG;
        }
        if (der[1] < 0x80)
                hdr = 2;
        else
                hdr = 2 + (size_t) (der[1] & 0x7f);
        if ((size_t) n <= hdr)
                return -EBADMSG;
        r = base64url_encode(der + hdr, (size_t) n - hdr, &serial64);
        if (r < 0)
                return r;
        s = strjoin(aki64, ".", serial64);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int acme_ari_get(AcmeClient *c, const char *cert_id, int64_t *ret_start, int64_t *ret_end, char **ret_explanation_url,
                 int64_t *ret_retry_after, AcmeError *err) {
        _cleanup_(response_done) Response resp = {};
        _cleanup_(acme_renewal_info_done) AcmeRenewalInfo ri = {};
        _cleanup_free_ char *url = NULL, *words = NULL;
        int r;

        if (!c || !cert_id || !cert_id_is_valid(cert_id))
                return acme_error_set(err, -EINVAL, ACME_CONFIG, NULL, 0, "Invalid ARI certificate id.");
        r = ensure_directory(c, err);
        if (r < 0)
                return r;
        if (!c->dir.renewal_info)
                return acme_error_set(err, -EOPNOTSUPP, ACME_OK, NULL, 0,
                                      "The CA does not offer renewal information (ARI).");

        url = strjoin(c->dir.renewal_info, endswith(c->dir.renewal_info, "/") ? "" : "/", cert_id);
        if (!url)
                return oom(err);
        r = http_do(c, HTTP_GET, url, NULL, NULL, &resp, err);
        if (r < 0)
                return r;
        r = response_check(&resp, 200, 200, true, "Fetching renewal information", err);
        if (r < 0)
                return r;
        r = acme_parse_renewal_info(resp.body.data, resp.body.len, &ri, &words);
        if (r == -ENOMEM)
                return oom(err);
        if (r < 0)
                return acme_error_set(err, r, ACME_UNREACHABLE, NULL, 0, "The CA sent bad renewal information: %s",
                                      strna(words));
        if (ret_start)
                *ret_start = ri.start;
        if (ret_end)
                *ret_end = ri.end;
        if (ret_explanation_url)
                *ret_explanation_url = TAKE_PTR(ri.explanation_url);
        if (ret_retry_after)
                *ret_retry_after = resp.retry_after;
        return 0;
}
