/* SPDX-License-Identifier: MIT */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "api-client.h"
#include "dynbuf.h"
#include "fs-util.h"
#include "sse-parse.h"
#include "string-util.h"

#define API_JSON_MAX (64U * 1024U)
#define TOKEN_MAX 4096U
#define PROBLEM_PREFIX "urn:certkeeper:problem:"
/* The largest line or event of an event stream. */
#define STREAM_EVENT_MAX (1024U * 1024U)
/* An event stream with no byte for this long is taken as lost (the daemon's keep-alives come
 * every 25 s at most). */
#define STREAM_IDLE_SEC 90L

struct ApiClient {
        ApiEndpoint endpoint;
        char *run_dir;
        ApiTransport transport;
        ApiTransport sticky;   /* transport that worked, once known */
        char *token;           /* loaded lazily */
        CURL *curl;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all);

void api_endpoint_done(ApiEndpoint *e) {
        if (!e)
                return;
        free(e->version);
        free(e->socket_path);
        free(e->tcp);
        free(e->token_file);
        *e = (ApiEndpoint) {};
}

static int dup_json_string(json_t *o, const char *key, char **ret) {
        json_t *v = json_object_get(o, key);

        if (!v || json_is_null(v)) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v))
                return -EBADMSG;
        *ret = strdup(json_string_value(v));
        return *ret ? 0 : -ENOMEM;
}

int api_endpoint_load(const char *run_dir, ApiEndpoint *ret, char **reterr) {
        _cleanup_free_ char *path = NULL, *data = NULL;
        ApiEndpoint e = {};
        json_error_t jerr;
        json_t *pid;
        size_t len;
        int r;

        path = strjoin(run_dir, "/api.json");
        if (!path)
                return -ENOMEM;

        r = fs_read_file(path, API_JSON_MAX, &data, &len);
        if (r == -ENOENT) {
                if (reterr)
                        *reterr = strjoin("certkeeperd is not running: '", path,
                                          "' does not exist. Start it (systemctl start certkeeperd), "
                                          "or point to its runtime directory with --run-dir DIR or "
                                          "CERTKEEPER_RUN_DIR.");
                return r;
        }
        if (r == -EACCES) {
                if (reterr)
                        *reterr = strjoin("Cannot read '", path, "': permission denied. Run as root or as a "
                                          "member of the daemon's admin group.");
                return r;
        }
        if (r < 0) {
                if (reterr)
                        *reterr = strjoin("Cannot read '", path, "': ", strerror(-r), ".");
                return r;
        }

        json_auto_t *j = json_loadb(data, len, 0, &jerr);
        if (!j || !json_is_object(j)) {
                if (reterr)
                        *reterr = strjoin("'", path, "' is not valid JSON. Restart certkeeperd to rewrite it.");
                return -EBADMSG;
        }

        r = dup_json_string(j, "version", &e.version);
        if (r >= 0)
                r = dup_json_string(j, "socket", &e.socket_path);
        if (r >= 0)
                r = dup_json_string(j, "tcp", &e.tcp);
        if (r >= 0)
                r = dup_json_string(j, "token_file", &e.token_file);
        if (r < 0) {
                api_endpoint_done(&e);
                if (r == -EBADMSG && reterr)
                        *reterr = strjoin("'", path, "' has a field of the wrong type. Restart certkeeperd to "
                                          "rewrite it.");
                return r;
        }
        pid = json_object_get(j, "pid");
        if (json_is_integer(pid) && json_integer_value(pid) > 0)
                e.pid = json_integer_value(pid);

        if (!e.socket_path && !e.tcp) {
                api_endpoint_done(&e);
                if (reterr)
                        *reterr = strjoin("'", path, "' names neither a socket nor a TCP address. Restart "
                                          "certkeeperd to rewrite it.");
                return -EBADMSG;
        }

        *ret = e;
        return 0;
}

bool api_endpoint_pid_alive(const ApiEndpoint *e) {
        if (!e || e->pid <= 0 || e->pid > INT32_MAX)
                return false;
        if (kill((pid_t) e->pid, 0) == 0)
                return true;
        return errno == EPERM;
}

int api_client_new(const char *run_dir, ApiTransport transport, ApiClient **ret, char **reterr) {
        _cleanup_(api_client_freep) ApiClient *c = NULL;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->transport = transport;
        c->sticky = API_TRANSPORT_AUTO;
        c->run_dir = strdup(run_dir);
        if (!c->run_dir)
                return -ENOMEM;

        r = api_endpoint_load(run_dir, &c->endpoint, reterr);
        if (r < 0)
                return r;

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return -ENOMEM;
        c->curl = curl_easy_init();
        if (!c->curl) {
                curl_global_cleanup();
                return -ENOMEM;
        }

        *ret = TAKE_PTR(c);
        return 0;
}

ApiClient *api_client_free(ApiClient *c) {
        if (!c)
                return NULL;
        if (c->curl) {
                curl_easy_cleanup(c->curl);
                curl_global_cleanup();
        }
        api_endpoint_done(&c->endpoint);
        free(c->run_dir);
        if (c->token) {
                explicit_bzero(c->token, strlen(c->token));
                free(c->token);
        }
        free(c);
        return NULL;
}

const ApiEndpoint *api_client_endpoint(const ApiClient *c) {
        return c ? &c->endpoint : NULL;
}

void api_response_done(ApiResponse *r) {
        if (!r)
                return;
        json_decref(r->body);
        free(r->raw);
        free(r->problem_type);
        free(r->detail);
        *r = (ApiResponse) {};
}

int api_status_to_errno(long status) {
        if (status < 400)
                return 0;
        switch (status) {
        case 400:
                return -EINVAL;
        case 401:
        case 403:
                return -EACCES;
        case 404:
                return -ENOENT;
        case 409:
                return -EEXIST;
        case 413:
                return -E2BIG;
        default:
                return status < 500 ? -EINVAL : -EIO;
        }
}

int api_client_escape(const char *s, char **ret) {
        static const char hex[] = "0123456789ABCDEF";
        size_t n = strlen(s);
        char *o, *p;

        if (n > (SIZE_MAX - 1) / 3)
                return -ENOMEM;
        o = p = malloc(n * 3 + 1);
        if (!o)
                return -ENOMEM;
        for (const unsigned char *i = (const unsigned char *) s; *i; i++) {
                if ((*i >= 'A' && *i <= 'Z') || (*i >= 'a' && *i <= 'z') || (*i >= '0' && *i <= '9') ||
                    strchr("-._~", *i))
                        *p++ = (char) *i;
                else {
                        *p++ = '%';
                        *p++ = hex[*i >> 4];
                        *p++ = hex[*i & 15];
                }
        }
        *p = '\0';
        *ret = o;
        return 0;
}

int api_client_cert_path(const char *id_or_nickname, const char *suffix, char **ret) {
        _cleanup_free_ char *e = NULL;
        char *p;
        int r;

        r = api_client_escape(id_or_nickname, &e);
        if (r < 0)
                return r;
        p = strjoin("/api/v1/certificates/", e, suffix ? "/" : "", strempty(suffix));
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

int api_client_ca_path(const char *name, char **ret) {
        _cleanup_free_ char *e = NULL;
        char *p;
        int r;

        r = api_client_escape(name, &e);
        if (r < 0)
                return r;
        p = strjoin("/api/v1/cas/", e);
        if (!p)
                return -ENOMEM;
        *ret = p;
        return 0;
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
        DynBuf *b = userdata;
        size_t n = size * nmemb;

        if (dynbuf_append(b, ptr, n) < 0)
                return 0; /* makes curl fail with CURLE_WRITE_ERROR */
        return n;
}

static int load_token(ApiClient *c, char **reterr) {
        _cleanup_free_ char *data = NULL;
        size_t len;
        int r;

        if (c->token)
                return 0;
        if (!c->endpoint.token_file) {
                if (reterr)
                        *reterr = strdup("The daemon's api.json names no token file for TCP access. Use the "
                                         "Unix socket, or restart certkeeperd.");
                return -ENOENT;
        }
        r = fs_read_file(c->endpoint.token_file, TOKEN_MAX, &data, &len);
        if (r < 0) {
                if (reterr)
                        *reterr = strjoin("Cannot read the API token '", c->endpoint.token_file, "': ",
                                          strerror(-r), ". Run as root, or use the Unix socket as a member "
                                          "of the admin group.");
                return r;
        }
        strstrip(data);
        if (isempty(data)) {
                if (reterr)
                        *reterr = strjoin("The API token file '", c->endpoint.token_file,
                                          "' is empty. Restart certkeeperd to create a new token.");
                return -EBADMSG;
        }
        c->token = TAKE_PTR(data);
        return 0;
}

static int parse_answer(long status, DynBuf *b, bool raw, ApiResponse *ret) {
        ApiResponse a = { .status = status };
        json_error_t jerr;

        if (raw && status < 400) {
                a.raw = dynbuf_steal(b, &a.raw_len);
                if (!a.raw)
                        return -ENOMEM;
                *ret = a;
                return 0;
        }

        if (b->len > 0) {
                a.body = json_loadb(b->data, b->len, JSON_DECODE_ANY, &jerr);
                /* a non-JSON body stays NULL */
        }

        if (status >= 400) {
                const char *type = NULL, *detail = NULL, *title = NULL;

                if (json_is_object(a.body)) {
                        type = json_string_value(json_object_get(a.body, "type"));
                        detail = json_string_value(json_object_get(a.body, "detail"));
                        title = json_string_value(json_object_get(a.body, "title"));
                }
                if (type) {
                        a.problem_type = strdup(startswith(type, PROBLEM_PREFIX) ? type + strlen(PROBLEM_PREFIX)
                                                                                 : type);
                        if (!a.problem_type)
                                goto oom;
                }
                if (!isempty(detail))
                        a.detail = strdup(detail);
                else if (!isempty(title))
                        a.detail = strdup(title);
                else {
                        char buf[64];
                        (void) snprintf(buf, sizeof(buf), "The daemon answered with HTTP status %ld.", status);
                        a.detail = strdup(buf);
                }
                if (!a.detail)
                        goto oom;
        }

        *ret = a;
        return 0;
oom:
        api_response_done(&a);
        return -ENOMEM;
}

/* Bytes of an event stream: events go to the handler; an error answer is kept for parse_answer(). */
typedef struct StreamState {
        const ApiStreamHandler *handler;
        CURL *curl;
        DynBuf *error_body;
        SseParser *parser;
        int error;
} StreamState;

static size_t stream_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata) {
        StreamState *s = userdata;
        size_t n = size * nmemb;
        long status = 0;
        int r;

        (void) curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 400)
                return write_cb(ptr, size, nmemb, s->error_body);
        r = sse_parser_feed(s->parser, ptr, n, s->handler->on_event, s->handler->userdata);
        if (r < 0) {
                s->error = r;
                return 0; /* makes curl stop with CURLE_WRITE_ERROR */
        }
        return n;
}

/* One attempt over one transport. Returns 0 with an answer, -ECONNREFUSED/-ENOENT/... otherwise. */
static int call_once(ApiClient *c, ApiTransport t, const char *method, const char *path, const char *body,
                     bool raw, const ApiStreamHandler *stream, ApiResponse *ret, char **reterr) {
        _cleanup_(curl_slist_free_allp) struct curl_slist *headers = NULL;
        _cleanup_free_ char *url = NULL, *auth = NULL, *last_id = NULL;
        _cleanup_(dynbuf_done) DynBuf buf = DYNBUF_INIT(API_CLIENT_MAX_RESPONSE);
        char errbuf[CURL_ERROR_SIZE] = "";
        struct curl_slist *l;
        _cleanup_(sse_parser_done) SseParser parser = {};
        StreamState st = { .handler = stream, .curl = c->curl, .error_body = &buf, .parser = &parser };
        CURLcode cc;
        long status = 0;
        int r;

        curl_easy_reset(c->curl);
        sse_parser_init(&parser, STREAM_EVENT_MAX);

        if (t == API_TRANSPORT_UNIX) {
                if (!c->endpoint.socket_path)
                        return -ENOENT;
                url = strjoin("http://localhost", path);
                if (!url)
                        return -ENOMEM;
                if (curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->endpoint.socket_path) != CURLE_OK)
                        return -EIO;
        } else {
                if (!c->endpoint.tcp)
                        return -ENOENT;
                r = load_token(c, reterr);
                if (r < 0)
                        return r;
                url = strjoin("http://", c->endpoint.tcp, path);
                auth = strjoin("Authorization: Bearer ", c->token);
                if (!url || !auth)
                        return -ENOMEM;
                l = curl_slist_append(headers, auth);
                if (!l)
                        return -ENOMEM;
                headers = l;
                explicit_bzero(auth, strlen(auth));
        }

        l = curl_slist_append(headers, stream ? "Accept: text/event-stream" : "Accept: application/json");
        if (!l)
                return -ENOMEM;
        headers = l;
        if (stream && stream->last_event_id) {
                last_id = strjoin("Last-Event-ID: ", stream->last_event_id);
                l = last_id ? curl_slist_append(headers, last_id) : NULL;
                if (!l)
                        return -ENOMEM;
                headers = l;
        }
        if (body) {
                l = curl_slist_append(headers, "Content-Type: application/json");
                if (!l)
                        return -ENOMEM;
                headers = l;
        }
        /* libcurl sends "Expect: 100-continue" for larger bodies; the daemon does not need it. */
        l = curl_slist_append(headers, "Expect:");
        if (!l)
                return -ENOMEM;
        headers = l;

        if (curl_easy_setopt(c->curl, CURLOPT_URL, url) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, write_cb) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &buf) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 5L) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 120L) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http") != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_NOPROXY, "*") != CURLE_OK ||
            curl_easy_setopt(c->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) API_CLIENT_MAX_RESPONSE) != CURLE_OK)
                return -EIO;
        /* A stream has no end and no size: it is lost when nothing, not even a keep-alive, comes. */
        if (stream && (curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 0L) != CURLE_OK ||
                       curl_easy_setopt(c->curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) 0) != CURLE_OK ||
                       curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_LIMIT, 1L) != CURLE_OK ||
                       curl_easy_setopt(c->curl, CURLOPT_LOW_SPEED_TIME, STREAM_IDLE_SEC) != CURLE_OK ||
                       curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, stream_write_cb) != CURLE_OK ||
                       curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &st) != CURLE_OK))
                return -EIO;
        if (body) {
                if (curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body) != CURLE_OK ||
                    curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(body)) != CURLE_OK)
                        return -EIO;
        } else if (streq(method, "HEAD") || streq(method, "GET"))
                (void) curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);

        cc = curl_easy_perform(c->curl);
        /* Don't keep a pointer to our stack buffer inside the handle. */
        (void) curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, NULL);
        (void) curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
        if (cc != CURLE_OK) {
                const char *what = errbuf[0] ? errbuf : curl_easy_strerror(cc);
                const char *where = t == API_TRANSPORT_UNIX ? c->endpoint.socket_path : c->endpoint.tcp;

                switch (cc) {
                case CURLE_COULDNT_CONNECT:
                        r = -ECONNREFUSED;
                        break;
                case CURLE_OPERATION_TIMEDOUT:
                        r = -ETIMEDOUT;
                        break;
                case CURLE_WRITE_ERROR:
                        if (st.error < 0) {
                                if (reterr && st.error == -E2BIG)
                                        *reterr = strdup("The daemon's event stream has an event larger than "
                                                         "the client accepts.");
                                return st.error;
                        }
                        _fallthrough_;
                case CURLE_FILESIZE_EXCEEDED:
                        if (reterr)
                                *reterr = strdup("The daemon's answer is larger than the client accepts. Use "
                                                 "filters or --limit to ask for less.");
                        return -EFBIG;
                default:
                        r = -EIO;
                }
                if (reterr) {
                        free(*reterr);
                        *reterr = strjoin("Cannot talk to certkeeperd at '", strempty(where), "': ", what,
                                          ". Is it running? 'certkeeper doctor' explains what is wrong.");
                }
                return r;
        }

        (void) curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
        return parse_answer(status, &buf, raw, ret);
}

static int call(ApiClient *c, const char *method, const char *path, json_t *body, bool raw,
                const ApiStreamHandler *stream, ApiResponse *ret, char **reterr) {
        _cleanup_free_ char *text = NULL, *err_unix = NULL;
        ApiResponse a = {};
        ApiTransport t;
        struct stat st;
        int r;

        if (!c || !method || !path || !ret)
                return -EINVAL;

        if (body) {
                text = json_dumps(body, JSON_COMPACT);
                if (!text)
                        return -ENOMEM;
        }

        t = c->sticky != API_TRANSPORT_AUTO ? c->sticky : c->transport;
        if (t != API_TRANSPORT_AUTO)
                return call_once(c, t, method, path, text, raw, stream, ret, reterr);

        /* Automatic: the socket first, unless it is not there. */
        if (c->endpoint.socket_path && stat(c->endpoint.socket_path, &st) >= 0 && S_ISSOCK(st.st_mode)) {
                r = call_once(c, API_TRANSPORT_UNIX, method, path, text, raw, stream, &a, &err_unix);
                if (r >= 0 && a.status != 403) {
                        c->sticky = API_TRANSPORT_UNIX;
                        *ret = a;
                        return 0;
                }
                if (!c->endpoint.tcp) {
                        if (r >= 0) {
                                *ret = a;
                                return 0;
                        }
                        if (reterr)
                                *reterr = TAKE_PTR(err_unix);
                        return r;
                }
                /* Socket refused us (403) or is dead: try TCP with the token, which works for root. */
                if (r >= 0 && a.status == 403) {
                        _cleanup_free_ char *e2 = NULL;
                        ApiResponse b = {};

                        r = call_once(c, API_TRANSPORT_TCP, method, path, text, raw, stream, &b, &e2);
                        if (r >= 0) {
                                api_response_done(&a);
                                c->sticky = API_TRANSPORT_TCP;
                                *ret = b;
                                return 0;
                        }
                        /* TCP did not work either: report the socket's refusal, which is the real cause. */
                        *ret = a;
                        return 0;
                }
        }

        r = call_once(c, API_TRANSPORT_TCP, method, path, text, raw, stream, ret, reterr);
        if (r >= 0)
                c->sticky = API_TRANSPORT_TCP;
        else if (err_unix && reterr && !*reterr)
                *reterr = TAKE_PTR(err_unix);
        return r;
}

int api_client_call(ApiClient *c, const char *method, const char *path, json_t *body, ApiResponse *ret,
                    char **reterr) {
        return call(c, method, path, body, false, NULL, ret, reterr);
}

int api_client_call_raw(ApiClient *c, const char *method, const char *path, json_t *body, ApiResponse *ret,
                        char **reterr) {
        return call(c, method, path, body, true, NULL, ret, reterr);
}

int api_client_stream(ApiClient *c, const char *path, const ApiStreamHandler *h, ApiResponse *ret, char **reterr) {
        if (!h || !h->on_event)
                return -EINVAL;
        return call(c, "GET", path, NULL, false, h, ret, reterr);
}
