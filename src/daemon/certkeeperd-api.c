/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>

#include "cert-event.h"
#include "cert-json.h"
#include "certkeeperd-api-stream.h"
#include "certkeeperd-api.h"
#include "certkeeperd-bindings.h"
#include "certkeeperd-metrics.h"
#include "config.h"
#include "dynbuf.h"
#include "fs-util.h"
#include "log.h"
#include "parse-util.h"
#include "prom-text.h"
#include "string-util.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

#define API_MAX_BODY_DEFAULT (64U * 1024U)
#define TOKEN_BYTES 32U
#define TOKEN_FILE_MAX 4096U
#define TCP_PORT_TRIES 100U
#define CONNECTION_TIMEOUT_SEC 30U
#define CONNECTION_LIMIT 256U
#define LIST_LIMIT_DEFAULT 1000U
#define LIST_LIMIT_MAX 10000U
#define HISTORY_LIMIT_DEFAULT 100U
#define HISTORY_LIMIT_MAX 10000U
#define EVENTS_LIMIT_DEFAULT 100U
#define EVENTS_LIMIT_MAX 10000U
/* Followers of the event stream at once: the other half of the connections stays for requests. */
#define STREAMS_MAX (CONNECTION_LIMIT / 2U)
#define STREAM_KEEPALIVE_DEFAULT (15U * USEC_PER_SEC)
#define RESPONSE_MAX (512U * 1024U * 1024U)
#define PEER_GROUPS_MAX 65536U

typedef struct ApiListener {
        Api *api;
        struct MHD_Daemon *daemon;
        bool is_unix;
} ApiListener;

struct Api {
        Manager *manager;
        struct Request *held; /* suspended connections waiting for the commit */
        struct Request *deferred; /* suspended connections waiting for a CA (api_operation_done()) */
        uint64_t last_ticket;
        ApiListener unix_listener;
        ApiListener tcp_listener;
        ApiStreams *streams; /* followers of GET /api/v1/events/stream */
        char *socket_path;
        char *token_path;
        char *token;
        size_t max_body;
        pid_t pid; /* the creator: only it removes the socket */
        int64_t started_at; /* unix seconds: certkeeper_start_time_seconds */
};

/* Credentials of a Unix socket peer, looked up once per connection. */
typedef struct PeerInfo {
        uid_t uid;
        pid_t pid;
        bool known;
        bool allowed;
} PeerInfo;

/* One request being received. */
typedef struct Request {
        DynBuf body;
        bool too_big;
        uint64_t declared_len; /* Content-Length, when it was too big */
        bool answered;
        /* A reply held back until the manager's transaction is committed (group commit): the
         * connection is suspended meanwhile. */
        struct MHD_Response *held;
        unsigned held_status;
        struct MHD_Connection *connection;
        struct Request *next_held;
        /* A request whose answer waits for a CA: its ticket, and its place in Api.deferred. */
        uint64_t ticket;
        struct Request *next_deferred;
        bool failed; /* no answer could be made: the connection is closed */
} Request;

/* Set while a state-changing request is routed: replies are held instead of queued. */
static Request *holding = NULL;

DEFINE_TRIVIAL_CLEANUP_FUNC(struct MHD_Response *, MHD_destroy_response);

/* ---- replies ---- */

static const struct {
        const char *suffix;
        const char *title;
} problem_titles[] = {
        { "malformed-json",     "Malformed JSON"        },
        { "invalid-field",      "Invalid field"         },
        { "unknown-field",      "Unknown field"         },
        { "missing-field",      "Missing field"         },
        { "unauthorized",       "Unauthorized"          },
        { "forbidden",          "Forbidden"             },
        { "not-found",          "Not found"             },
        { "method-not-allowed", "Method not allowed"    },
        { "duplicate-nickname", "Duplicate nickname"    },
        { "duplicate-location", "Duplicate location"    },
        { "duplicate-ca",       "Duplicate CA"          },
        { "ca-in-use",          "CA in use"             },
        { "not-acme",           "Not an ACME CA"        },
        { "no-certificate",     "No certificate"        },
        { "operation-in-progress", "Operation in progress" },
        { "operation-failed",   "Operation failed"      },
        { "ca-rejected",        "Refused by the CA"     },
        { "ca-unreachable",     "CA unreachable"        },
        { "busy",               "Busy"                  },
        { "body-too-large",     "Body too large"        },
        { "internal",           "Internal error"        },
};

/* Takes ownership of data (malloc'd). */
static enum MHD_Result reply_raw(struct MHD_Connection *c, unsigned status, char *data, size_t len,
                                 const char *content_type, const char *header, const char *header_value) {
        _cleanup_(MHD_destroy_responsep) struct MHD_Response *resp = NULL;

        resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
                free(data);
                return MHD_NO;
        }
        if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES)
                return MHD_NO;
        if (header && MHD_add_response_header(resp, header, header_value) != MHD_YES)
                return MHD_NO;
        if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES)
                return MHD_NO;

        if (holding && holding->connection == c && !holding->held) {
                holding->held = TAKE_PTR(resp);
                holding->held_status = status;
                return MHD_YES;
        }
        return MHD_queue_response(c, status, resp);
}

static enum MHD_Result reply_json_full(struct MHD_Connection *c, unsigned status, json_t *v, const char *content_type,
                                       const char *header, const char *header_value) {
        char *s;

        s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!s)
                return MHD_NO;
        return reply_raw(c, status, s, strlen(s), content_type, header, header_value);
}

static enum MHD_Result reply_json(struct MHD_Connection *c, unsigned status, json_t *v) {
        return reply_json_full(c, status, v, "application/json", NULL, NULL);
}

static enum MHD_Result reply_problem_full(struct MHD_Connection *c, unsigned status, const char *suffix,
                                          const char *detail, const char *header, const char *header_value) {
        _cleanup_free_ char *type = NULL;
        json_auto_t *o = NULL;
        const char *title = "Error";

        for (size_t i = 0; i < ELEMENTSOF(problem_titles); i++)
                if (streq(problem_titles[i].suffix, suffix))
                        title = problem_titles[i].title;

        type = strjoin("urn:certkeeper:problem:", suffix);
        if (!type)
                return MHD_NO;
        o = json_pack("{s:s, s:s, s:i, s:o}", "type", type, "title", title, "status", (int) status,
                      "detail", cert_json_text(detail ?: title));
        if (!o)
                return MHD_NO;

        return reply_json_full(c, status, o, "application/problem+json", header, header_value);
}

static enum MHD_Result reply_problem(struct MHD_Connection *c, unsigned status, const char *suffix, const char *detail) {
        return reply_problem_full(c, status, suffix, detail, NULL, NULL);
}

static enum MHD_Result reply_problemf(struct MHD_Connection *c, unsigned status, const char *suffix,
                                      const char *fmt, ...) _printf_(4, 5);
static enum MHD_Result reply_problemf(struct MHD_Connection *c, unsigned status, const char *suffix,
                                      const char *fmt, ...) {
        _cleanup_free_ char *detail = NULL;
        va_list ap;
        int k;

        va_start(ap, fmt);
        k = vasprintf(&detail, fmt, ap);
        va_end(ap);
        if (k < 0)
                return MHD_NO;

        return reply_problem(c, status, suffix, detail);
}

static enum MHD_Result reply_internal(struct MHD_Connection *c, int error, const char *words) {
        log_debug_errno(error, "API request failed: %m%s%s", words ? ": " : "", strempty(words));
        return reply_problemf(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal", "%s%s%s", strerror(-error),
                              words ? ": " : "", strempty(words));
}

static enum MHD_Result reply_method_not_allowed(struct MHD_Connection *c, const char *method, const char *url,
                                                const char *allow) {
        _cleanup_free_ char *detail = NULL;

        if (asprintf(&detail, "%s is not allowed on '%s'. Use %s.", method, url, allow) < 0)
                return MHD_NO;
        return reply_problem_full(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method-not-allowed", detail,
                                  MHD_HTTP_HEADER_ALLOW, allow);
}

/* Parses a request body. Returns false with the answer in *ret_reply when it is no JSON object. */
static bool body_parse(struct MHD_Connection *c, const char *body, size_t body_len, json_t **ret,
                       enum MHD_Result *ret_reply) {
        _cleanup_free_ char *err = NULL;
        int r;

        r = cert_json_parse_body(body, body_len, ret, &err);
        if (r == -EINVAL)
                *ret_reply = reply_problem(c, MHD_HTTP_BAD_REQUEST, "malformed-json", err);
        else if (r < 0)
                *ret_reply = reply_internal(c, r, err);
        return r >= 0;
}

/* Errors of the *_apply_json() functions. */
static enum MHD_Result reply_apply_error(struct MHD_Connection *c, int r, const char *words) {
        switch (r) {
        case -EINVAL:
                return reply_problem(c, MHD_HTTP_BAD_REQUEST, "invalid-field", words);
        case -ENOENT:
                return reply_problem(c, MHD_HTTP_BAD_REQUEST, "unknown-field", words);
        case -ENODATA:
                return reply_problem(c, MHD_HTTP_BAD_REQUEST, "missing-field", words);
        default:
                return reply_internal(c, r, words);
        }
}

/* Errors of the manager_* calls. */
static enum MHD_Result reply_manager_error(struct MHD_Connection *c, int r, const char *words, bool ca) {
        switch (r) {
        case -EINVAL:
                return reply_problem(c, MHD_HTTP_BAD_REQUEST, "invalid-field", words);
        case -EEXIST:
                if (ca)
                        return reply_problem(c, MHD_HTTP_CONFLICT, "duplicate-ca", words);
                /* getcert's words for a taken location also name the holder's nickname, so the
                 * location words are looked for first. */
                if (words && (strcasestr(words, "location") || strcasestr(words, "path")))
                        return reply_problem(c, MHD_HTTP_CONFLICT, "duplicate-location", words);
                return reply_problem(c, MHD_HTTP_CONFLICT, "duplicate-nickname", words);
        case -ENOENT:
                return reply_problem(c, MHD_HTTP_NOT_FOUND, "not-found", words);
        case -EBUSY:
                return reply_problem(c, MHD_HTTP_CONFLICT, "ca-in-use", words);
        case -EOPNOTSUPP:
                return reply_problem(c, MHD_HTTP_CONFLICT, "not-acme", words);
        case -ENODATA:
                return reply_problem(c, MHD_HTTP_CONFLICT, "no-certificate", words);
        case -EALREADY:
                return reply_problem(c, MHD_HTTP_CONFLICT, "operation-in-progress", words);
        case -EAGAIN:
                return reply_problem(c, MHD_HTTP_SERVICE_UNAVAILABLE, "busy", words);
        default:
                return reply_internal(c, r, words);
        }
}

static enum MHD_Result reply_cert_not_found(struct MHD_Connection *c, const char *id) {
        return reply_problemf(c, MHD_HTTP_NOT_FOUND, "not-found",
                              "No certificate with the id or nickname '%s'. List them with GET /api/v1/certificates (certkeeper list).",
                              id);
}

static enum MHD_Result reply_ca_not_found(struct MHD_Connection *c, const char *name) {
        return reply_problemf(c, MHD_HTTP_NOT_FOUND, "not-found",
                              "No CA named '%s'. List them with GET /api/v1/cas (certkeeper list-cas).", name);
}

/* ---- query arguments ---- */

typedef struct QueryCheck {
        const char *const *known;
        const char *unknown;
} QueryCheck;

static enum MHD_Result query_check_one(void *userdata, enum MHD_ValueKind kind, const char *key, const char *value) {
        QueryCheck *q = userdata;

        for (const char *const *k = q->known; *k; k++)
                if (streq(*k, key))
                        return MHD_YES;
        q->unknown = key;
        return MHD_NO;
}

/* Refuses query arguments other than those in known (NULL-terminated). Returns false with the
 * answer in *ret_reply, which names the argument and ends with use, the arguments taken. */
static bool query_known(struct MHD_Connection *c, const char *const *known, const char *use,
                        enum MHD_Result *ret_reply) {
        QueryCheck q = { .known = known };

        (void) MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_check_one, &q);
        if (q.unknown)
                *ret_reply = reply_problemf(c, MHD_HTTP_BAD_REQUEST, "unknown-field",
                                            "Unknown query argument '%s'. %s", q.unknown, use);
        return !q.unknown;
}

static const char *query_get(struct MHD_Connection *c, const char *key) {
        const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
        return isempty(v) ? NULL : v;
}

/* The page size: def without a limit argument. Returns false with the answer in *ret_reply when
 * it is not a number from 1 to max. */
static bool query_limit(struct MHD_Connection *c, unsigned def, unsigned max, unsigned *ret,
                        enum MHD_Result *ret_reply) {
        const char *v = query_get(c, "limit");
        unsigned u;

        if (!v) {
                *ret = def;
                return true;
        }
        if (safe_atou(v, &u) < 0 || u == 0 || u > max) {
                *ret_reply = reply_problemf(c, MHD_HTTP_BAD_REQUEST, "invalid-field",
                                            "Query argument 'limit' is '%s'; give a number from 1 to %u.", v, max);
                return false;
        }
        *ret = u;
        return true;
}

static enum MHD_Result reply_items(struct MHD_Connection *c, json_t *items) {
        json_auto_t *o = json_pack("{s:O}", "items", items);

        return o ? reply_json(c, MHD_HTTP_OK, o) : MHD_NO;
}

static enum MHD_Result reply_removed(struct MHD_Connection *c, const char *name) {
        json_auto_t *o = json_pack("{s:o}", "removed", cert_json_text(name));

        return o ? reply_json(c, MHD_HTTP_OK, o) : MHD_NO;
}

/* ---- system ---- */

static enum MHD_Result handle_appversion(Api *a, struct MHD_Connection *c) {
        json_auto_t *v = json_string(PACKAGE_VERSION);

        return v ? reply_json(c, MHD_HTTP_OK, v) : MHD_NO;
}

static enum MHD_Result handle_version(Api *a, struct MHD_Connection *c) {
        json_auto_t *v = json_pack("{s:s}", "version", PACKAGE_VERSION);

        return v ? reply_json(c, MHD_HTTP_OK, v) : MHD_NO;
}

static enum MHD_Result handle_health(Api *a, struct MHD_Connection *c) {
        _cleanup_free_ char *db = NULL;
        json_auto_t *v = NULL;
        int64_t n = 0;
        int r;

        r = store_cert_count(manager_store(a->manager), &n);
        if (r < 0 && asprintf(&db, "error: %s", strerror(-r)) < 0)
                return MHD_NO;

        v = json_pack("{s:s, s:I, s:s, s:I, s:I, s:I}",
                      "status", r < 0 ? "degraded" : "ok",
                      "certificates", (json_int_t) n,
                      "database", db ?: "ok",
                      "workers", (json_int_t) manager_workers_total(a->manager),
                      "busy_workers", (json_int_t) manager_workers_busy(a->manager),
                      "next_action_at", (json_int_t) manager_next_action_at(a->manager));
        return v ? reply_json(c, MHD_HTTP_OK, v) : MHD_NO;
}

static enum MHD_Result handle_metrics(Api *a, struct MHD_Connection *c) {
        _cleanup_(dynbuf_done) DynBuf out = DYNBUF_INIT(RESPONSE_MAX);
        MetricsDaemon d = {
                .workers = manager_workers_total(a->manager),
                .workers_busy = manager_workers_busy(a->manager),
                .start_time = a->started_at,
        };
        size_t len;
        char *data;
        int r;

        r = metrics_render(manager_store(a->manager), &d, &out);
        if (r < 0)
                return reply_problemf(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
                                      "Could not read the metrics from the database: %s.", strerror(-r));
        data = dynbuf_steal(&out, &len);
        if (!data)
                return MHD_NO;
        return reply_raw(c, MHD_HTTP_OK, data, len, PROM_TEXT_CONTENT_TYPE, NULL, NULL);
}

/* ---- certificates ---- */

typedef struct ListContext {
        DynBuf *out;
        unsigned count;
        unsigned limit;
        int64_t last_id;
        bool more;
} ListContext;

/* Each item is written as JSON text straight into the reply: a page of 10000 certificates must not
 * cost 10000 json_t trees. */
static int list_one(const CertRecord *rec, void *userdata) {
        ListContext *ctx = userdata;
        int r;

        if (ctx->count >= ctx->limit) {
                ctx->more = true;
                return 0;
        }

        if (ctx->count > 0) {
                r = dynbuf_append(ctx->out, ",", 1);
                if (r < 0)
                        return r;
        }
        r = cert_record_append_json(rec, ctx->out);
        if (r < 0)
                return r;

        ctx->count++;
        ctx->last_id = rec->id;
        return 0;
}

static int count_one(const CertRecord *rec, void *userdata) {
        (*(int64_t *) userdata)++;
        return 0;
}

static enum MHD_Result handle_cert_list(Api *a, struct MHD_Connection *c) {
        static const char *const known[] = { "limit", "after", "ca", "state", "tracking", NULL };
        _cleanup_(dynbuf_done) DynBuf out = DYNBUF_INIT(RESPONSE_MAX);
        Store *s = manager_store(a->manager);
        CertFilter filter = {};
        ListContext ctx = { .out = &out };
        enum MHD_Result m;
        int64_t total = 0;
        const char *v;
        char *data;
        size_t len;
        int r;

        if (!query_known(c, known, "Use limit, after, ca, state or tracking.", &m) ||
            !query_limit(c, LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, &ctx.limit, &m))
                return m;

        v = query_get(c, "after");
        if (v && (safe_atoi64(v, &filter.after_id) < 0 || filter.after_id < 0))
                return reply_problemf(c, MHD_HTTP_BAD_REQUEST, "invalid-field",
                                      "Query argument 'after' is '%s'; give the id of the last item of the previous page (next_after).",
                                      v);

        filter.ca = query_get(c, "ca");

        v = query_get(c, "state");
        if (v) {
                CertState st = cert_state_from_string(v);

                if (st < 0)
                        return reply_problemf(c, MHD_HTTP_BAD_REQUEST, "invalid-field",
                                              "Query argument 'state' is '%s', which is no state. Use a state name such as MONITORING or NEED_GUIDANCE.",
                                              v);
                filter.state = cert_state_to_string(st);
        }

        v = query_get(c, "tracking");
        if (v) {
                if (streq(v, "monitoring"))
                        filter.tracking_only = 1;
                else if (streq(v, "requests"))
                        filter.tracking_only = 2;
                else
                        return reply_problemf(c, MHD_HTTP_BAD_REQUEST, "invalid-field",
                                              "Query argument 'tracking' is '%s'; use \"monitoring\" or \"requests\".", v);
        }

        /* The total of the matching records. Without a filter the store counts; with one we have
         * to walk the matches. */
        if (!filter.ca && !filter.state && filter.tracking_only == 0)
                r = store_cert_count(s, &total);
        else {
                CertFilter all = filter;

                all.after_id = 0;
                all.limit = 0;
                r = store_cert_foreach(s, &all, count_one, &total);
        }
        if (r < 0)
                return reply_internal(c, r, "Failed to count the certificates");

        r = dynbuf_append(&out, "{\"items\":[", strlen("{\"items\":["));
        if (r < 0)
                return MHD_NO;

        /* One more than asked, to know whether there is a next page. */
        filter.limit = ctx.limit + 1;
        r = store_cert_foreach(s, &filter, list_one, &ctx);
        if (r < 0)
                return reply_internal(c, r, "Failed to list the certificates");

        if (ctx.more)
                r = dynbuf_printf(&out, "],\"total\":%" PRIi64 ",\"next_after\":%" PRIi64 "}", total, ctx.last_id);
        else
                r = dynbuf_printf(&out, "],\"total\":%" PRIi64 ",\"next_after\":null}", total);
        if (r < 0)
                return reply_internal(c, r, "The list is too large; ask for fewer items with limit=N");

        data = dynbuf_steal(&out, &len);
        if (!data)
                return MHD_NO;
        return reply_raw(c, MHD_HTTP_OK, data, len, "application/json", NULL, NULL);
}

static int cert_lookup_id(Api *a, int64_t id, CertRecord **ret) {
        char buf[32];

        (void) snprintf(buf, sizeof(buf), "%" PRIi64, id);
        return manager_cert_lookup(a->manager, buf, ret);
}

/* Looks up a certificate by id or nickname. Returns false with the answer in *ret_reply when there
 * is none or it cannot be read. */
static bool cert_find(Api *a, struct MHD_Connection *c, const char *id, CertRecord **ret,
                      enum MHD_Result *ret_reply) {
        int r;

        r = manager_cert_lookup(a->manager, id, ret);
        if (r == -ENOENT)
                *ret_reply = reply_cert_not_found(c, id);
        else if (r < 0)
                *ret_reply = reply_internal(c, r, NULL);
        return r >= 0;
}

/* Replies with the current object of certificate id, or with rec if it cannot be read back. */
static enum MHD_Result reply_cert(Api *a, struct MHD_Connection *c, unsigned status, int64_t id, const CertRecord *rec) {
        _cleanup_(cert_record_freep) CertRecord *cur = NULL;
        json_auto_t *j = NULL;
        int r;

        if (cert_lookup_id(a, id, &cur) >= 0)
                rec = cur;
        if (!rec)
                return reply_internal(c, -ENOENT, "The certificate vanished");

        r = cert_record_to_json(rec, &j);
        if (r < 0)
                return reply_internal(c, r, NULL);
        return reply_json(c, status, j);
}

static enum MHD_Result handle_cert_add(Api *a, struct MHD_Connection *c, const char *body, size_t body_len,
                                       bool track) {
        _cleanup_(cert_record_done) CertRecord rec = {};
        _cleanup_free_ char *err = NULL;
        json_auto_t *j = NULL;
        enum MHD_Result m;
        int r;

        if (!body_parse(c, body, body_len, &j, &m))
                return m;

        rec.state = CERT_NEWLY_ADDED;
        rec.autorenew = true;
        rec.track = true;

        r = cert_record_apply_json(&rec, j, &err);
        if (r < 0)
                return reply_apply_error(c, r, err);

        if (track && !rec.cert_path)
                return reply_problem(c, MHD_HTTP_BAD_REQUEST, "missing-field",
                                     "Field 'cert_path' is missing. Tracking needs the path of the certificate file, e.g. {\"cert_path\": \"/etc/ssl/web.pem\"}.");

        r = manager_cert_add(a->manager, &rec, track, &err);
        if (r < 0)
                return reply_manager_error(c, r, err, false);

        return reply_cert(a, c, MHD_HTTP_CREATED, rec.id, &rec);
}

static enum MHD_Result handle_cert_get(Api *a, struct MHD_Connection *c, const char *id) {
        _cleanup_(cert_record_freep) CertRecord *rec = NULL;
        json_auto_t *j = NULL;
        enum MHD_Result m;
        int r;

        if (!cert_find(a, c, id, &rec, &m))
                return m;

        r = cert_record_to_json(rec, &j);
        if (r < 0)
                return reply_internal(c, r, NULL);
        return reply_json(c, MHD_HTTP_OK, j);
}

/* Merges body into rec and stores it. Returns MHD_YES with *replied = false if nothing was replied. */
static enum MHD_Result cert_modify(Api *a, struct MHD_Connection *c, CertRecord *rec, json_t *body, bool *replied) {
        _cleanup_free_ char *err = NULL;
        int r;

        *replied = true;
        r = cert_record_apply_json(rec, body, &err);
        if (r < 0)
                return reply_apply_error(c, r, err);

        r = manager_cert_modify(a->manager, rec, &err);
        if (r < 0)
                return reply_manager_error(c, r, err, false);

        *replied = false;
        return MHD_YES;
}

static enum MHD_Result handle_cert_patch(Api *a, struct MHD_Connection *c, const char *id, const char *body,
                                         size_t body_len) {
        _cleanup_(cert_record_freep) CertRecord *rec = NULL;
        json_auto_t *j = NULL;
        enum MHD_Result m;
        bool replied;

        if (!body_parse(c, body, body_len, &j, &m))
                return m;

        if (!cert_find(a, c, id, &rec, &m))
                return m;

        m = cert_modify(a, c, rec, j, &replied);
        if (replied)
                return m;

        return reply_cert(a, c, MHD_HTTP_OK, rec->id, rec);
}

static enum MHD_Result handle_cert_delete(Api *a, struct MHD_Connection *c, const char *id) {
        _cleanup_(cert_record_freep) CertRecord *rec = NULL;
        _cleanup_free_ char *err = NULL;
        enum MHD_Result m;
        int r;

        if (!cert_find(a, c, id, &rec, &m))
                return m;

        r = manager_cert_remove(a->manager, rec->id, &err);
        if (r < 0)
                return reply_manager_error(c, r, err, false);

        return reply_removed(c, rec->nickname);
}

static enum MHD_Result handle_cert_action(Api *a, struct MHD_Connection *c, const char *id, ManagerAction action,
                                          const char *body, size_t body_len) {
        _cleanup_(cert_record_freep) CertRecord *rec = NULL;
        _cleanup_free_ char *err = NULL;
        json_auto_t *j = NULL;
        enum MHD_Result m;
        int r;

        if (!body_parse(c, body, body_len, &j, &m))
                return m;

        if (action == MANAGER_ACTION_REKEY || action == MANAGER_ACTION_REFRESH) {
                const char *key;
                json_t *v;

                json_object_foreach(j, key, v)
                        if (action == MANAGER_ACTION_REFRESH ||
                            !(streq(key, "key_type") || streq(key, "key_bits")))
                                return reply_problemf(c, MHD_HTTP_BAD_REQUEST, "unknown-field",
                                                      "Field '%s' is not taken here. %s", key,
                                                      action == MANAGER_ACTION_REFRESH
                                                      ? "refresh takes no body."
                                                      : "rekey takes only key_type and key_bits; change other fields with PATCH first.");
        }

        if (!cert_find(a, c, id, &rec, &m))
                return m;

        if (json_object_size(j) > 0) {
                bool replied;

                m = cert_modify(a, c, rec, j, &replied);
                if (replied)
                        return m;
        }

        r = manager_cert_action(a->manager, rec->id, action, &err);
        if (r < 0)
                return reply_manager_error(c, r, err, false);

        return reply_cert(a, c, MHD_HTTP_OK, rec->id, rec);
}

static int history_one(const HistoryRecord *h, void *userdata) {
        json_t *items = userdata;
        json_t *o;

        o = json_pack("{s:I, s:I, s:o, s:o, s:o, s:I}",
                      "id", (json_int_t) h->id,
                      "at", (json_int_t) h->at,
                      "stage", cert_json_text(h->stage),
                      "result", cert_json_text(h->result),
                      "message", cert_json_text(h->message),
                      "duration_ms", (json_int_t) h->duration_ms);
        if (!o)
                return -ENOMEM;
        if (json_array_append_new(items, o) < 0)
                return -ENOMEM;
        return 0;
}

static enum MHD_Result handle_cert_history(Api *a, struct MHD_Connection *c, const char *id) {
        static const char *const known[] = { "limit", NULL };
        _cleanup_(cert_record_freep) CertRecord *rec = NULL;
        json_auto_t *items = NULL;
        enum MHD_Result m;
        unsigned limit;
        int r;

        if (!query_known(c, known, "Only limit is taken here.", &m) ||
            !query_limit(c, HISTORY_LIMIT_DEFAULT, HISTORY_LIMIT_MAX, &limit, &m))
                return m;

        if (!cert_find(a, c, id, &rec, &m))
                return m;

        items = json_array();
        if (!items)
                return MHD_NO;
        r = store_history_foreach(manager_store(a->manager), rec->id, limit, history_one, items);
        if (r < 0)
                return reply_internal(c, r, "Failed to read the history");

        return reply_items(c, items);
}

/* ---- operations that wait for a CA ---- */

/* Called by a handler whose manager call took the ticket: the request is answered by
 * api_operation_done(), not now. */
static enum MHD_Result defer(uint64_t ticket) {
        if (!holding)
                return MHD_NO;
        holding->ticket = ticket;
        return MHD_YES;
}

/* Refuses fields other than those in known (NULL-terminated), naming the route's fields. */
static bool body_unknown_field(struct MHD_Connection *c, json_t *j, const char *const *known, const char *takes,
                               enum MHD_Result *ret) {
        const char *key;
        json_t *v;

        json_object_foreach(j, key, v) {
                bool ok = false;
                for (const char *const *k = known; *k; k++)
                        ok = ok || streq(key, *k);
                if (!ok) {
                        *ret = reply_problemf(c, MHD_HTTP_BAD_REQUEST, "unknown-field",
                                              "Field '%s' is not taken here; %s.", key, takes);
                        return true;
                }
        }
        return false;
}

/* The file itself is written by the caller: the daemon never writes where an API caller says. */
static enum MHD_Result handle_cert_export(Api *a, struct MHD_Connection *c, const char *id, const char *body,
                                          size_t body_len) {
        static const char *const known[] = { "format", "with_key", "password", "path", NULL };
        _cleanup_(cert_record_freep) CertRecord *rec = NULL;
        _cleanup_free_ char *err = NULL;
        json_auto_t *j = NULL, *o = NULL;
        CertExport e = { .format = "pem" };
        enum MHD_Result m;
        json_t *v;
        int r;

        if (!body_parse(c, body, body_len, &j, &m))
                return m;
        if (body_unknown_field(c, j, known, "export takes format, with_key, password and path", &m))
                return m;
        v = json_object_get(j, "format");
        if (v && !json_is_string(v))
                return reply_problem(c, MHD_HTTP_BAD_REQUEST, "invalid-field", "Field 'format' must be \"pem\" or \"pkcs12\".");
        if (v)
                e.format = json_string_value(v);
        v = json_object_get(j, "with_key");
        if (v && !json_is_boolean(v))
                return reply_problem(c, MHD_HTTP_BAD_REQUEST, "invalid-field", "Field 'with_key' must be true or false.");
        e.with_key = json_is_true(v);
        v = json_object_get(j, "password");
        if (v && !json_is_null(v) && !json_is_string(v))
                return reply_problem(c, MHD_HTTP_BAD_REQUEST, "invalid-field", "Field 'password' must be a string.");
        e.password = json_string_value(v);
        v = json_object_get(j, "path");
        if (!json_is_string(v))
                return reply_problem(c, MHD_HTTP_BAD_REQUEST, "missing-field",
                                     "Field 'path' (a string): the absolute path the file is written to, for the record.");
        e.path = json_string_value(v);

        if (!cert_find(a, c, id, &rec, &m))
                return m;
        r = manager_cert_export(a->manager, rec->id, &e, &o, &err);
        if (r < 0)
                return reply_manager_error(c, r, err, false);
        return reply_json(c, MHD_HTTP_OK, o);
}

static enum MHD_Result handle_cert_revoke(Api *a, struct MHD_Connection *c, const char *id, const char *body,
                                          size_t body_len) {
        static const char *const known[] = { "reason", NULL };
        _cleanup_(cert_record_freep) CertRecord *rec = NULL;
        _cleanup_free_ char *err = NULL, *number = NULL;
        json_auto_t *j = NULL;
        const char *reason = NULL;
        enum MHD_Result m;
        json_t *v;
        int r;

        if (!body_parse(c, body, body_len, &j, &m))
                return m;
        if (body_unknown_field(c, j, known, "revoke takes only reason", &m))
                return m;
        v = json_object_get(j, "reason");
        if (json_is_integer(v)) {
                if (asprintf(&number, "%" JSON_INTEGER_FORMAT, json_integer_value(v)) < 0)
                        return MHD_NO;
                reason = number;
        } else if (json_is_string(v))
                reason = json_string_value(v);
        else if (v && !json_is_null(v))
                return reply_problem(c, MHD_HTTP_BAD_REQUEST, "invalid-field",
                                     "Field 'reason' must be a CRLReason name such as \"keyCompromise\", or its number.");

        if (!cert_find(a, c, id, &rec, &m))
                return m;

        r = manager_cert_revoke(a->manager, rec->id, reason, ++a->last_ticket, &err);
        if (r < 0)
                return reply_manager_error(c, r, err, false);
        return defer(a->last_ticket);
}

static enum MHD_Result handle_ca_account(Api *a, struct MHD_Connection *c, const char *name, const char *body,
                                         size_t body_len) {
        static const char *const known[] = { "action", "email", NULL };
        _cleanup_free_ char *err = NULL;
        json_auto_t *j = NULL;
        enum MHD_Result m;
        json_t *action, *email;
        int r;

        if (!body_parse(c, body, body_len, &j, &m))
                return m;
        if (body_unknown_field(c, j, known, "the account takes action and email", &m))
                return m;
        action = json_object_get(j, "action");
        email = json_object_get(j, "email");
        if (!action)
                return reply_problem(c, MHD_HTTP_BAD_REQUEST, "missing-field",
                                     "Field 'action' is missing: give \"rollover\", \"deactivate\" or \"update\".");
        if (!json_is_string(action) || (email && !json_is_string(email)))
                return reply_problem(c, MHD_HTTP_BAD_REQUEST, "invalid-field",
                                     "Fields 'action' and 'email' must be strings.");

        r = manager_ca_account(a->manager, name, json_string_value(action), json_string_value(email),
                               ++a->last_ticket, &err);
        if (r == -ENOENT)
                return reply_ca_not_found(c, name);
        if (r < 0)
                return reply_manager_error(c, r, err, true);
        return defer(a->last_ticket);
}

/* ---- bindings (docs/BINDINGS.md) ---- */

static bool method_is(const char *method, const char *want);

static enum MHD_Result handle_bindings(Api *a, struct MHD_Connection *c, const char *method, const char *id,
                                       const char *bid, const char *body, size_t body_len) {
        _cleanup_(cert_record_freep) CertRecord *rec = NULL;
        _cleanup_free_ char *err = NULL;
        json_auto_t *j = NULL, *o = NULL;
        int64_t cert_id = 0, b = 0;
        enum MHD_Result m;
        int r;

        if (id) {
                if (!cert_find(a, c, id, &rec, &m))
                        return m;
                cert_id = rec->id;
        }
        if (bid && (safe_atoi64(bid, &b) < 0 || b <= 0))
                return reply_problemf(c, MHD_HTTP_NOT_FOUND, "not-found", "There is no binding '%s'.", bid);

        if (method_is(method, MHD_HTTP_METHOD_GET) && !bid) {
                r = manager_bindings_json(a->manager, cert_id, &j);
                if (r < 0)
                        return reply_internal(c, r, "Failed to read the bindings");
                return reply_items(c, j);
        }
        if (streq(method, MHD_HTTP_METHOD_POST) && id && !bid) {
                if (!body_parse(c, body, body_len, &j, &m))
                        return m;
                r = manager_binding_add(a->manager, cert_id, j, &b, &err);
                if (r < 0)
                        return reply_manager_error(c, r, err, false);
                o = json_pack("{s:I, s:I}", "id", (json_int_t) b, "cert_id", (json_int_t) cert_id);
                return o ? reply_json(c, MHD_HTTP_CREATED, o) : MHD_NO;
        }
        if (streq(method, MHD_HTTP_METHOD_DELETE) && id) {
                r = manager_binding_remove(a->manager, cert_id, b, &err);
                if (r < 0)
                        return reply_manager_error(c, r, err, false);
                o = json_pack("{s:I}", "cert_id", (json_int_t) cert_id);
                return o ? reply_json(c, MHD_HTTP_OK, o) : MHD_NO;
        }
        return reply_problemf(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method-not-allowed",
                              "Method %s is not allowed here: bindings take GET, POST and DELETE.", method);
}

static enum MHD_Result handle_deploy(Api *a, struct MHD_Connection *c, const char *id) {
        _cleanup_(cert_record_freep) CertRecord *rec = NULL;
        _cleanup_free_ char *err = NULL;
        json_auto_t *o = NULL;
        enum MHD_Result m;
        int r;

        if (!cert_find(a, c, id, &rec, &m))
                return m;
        r = manager_deploy(a->manager, rec->id, &err);
        if (r < 0)
                return reply_manager_error(c, r, err, false);
        o = json_pack("{s:I, s:s}", "cert_id", (json_int_t) rec->id, "deploy", r > 0 ? "waiting" : "running");
        return o ? reply_json(c, MHD_HTTP_ACCEPTED, o) : MHD_NO;
}

/* ---- events ---- */

typedef struct EventListContext {
        json_t *items;
        unsigned limit;
        int64_t last_id;
        bool more;
} EventListContext;

static int event_one(const EventRecord *e, void *userdata) {
        EventListContext *ctx = userdata;
        json_t *o;

        if (json_array_size(ctx->items) >= ctx->limit) {
                ctx->more = true;
                return 0;
        }
        o = api_event_json(e);
        if (!o || json_array_append_new(ctx->items, o) < 0)
                return -ENOMEM;
        ctx->last_id = e->id;
        return 0;
}

/* The filters the event list and the stream share: since, id, cert and after. Returns false with
 * the answer in *ret_reply when one is not usable. */
static bool event_filter_parse(Api *a, struct MHD_Connection *c, EventFilter *f, enum MHD_Result *ret_reply) {
        const char *v;
        int r;

        v = query_get(c, "since");
        if (v && parse_time_spec(v, (int64_t) time(NULL), &f->since) < 0) {
                *ret_reply = reply_problemf(c, MHD_HTTP_BAD_REQUEST, "invalid-field",
                                            "Query argument 'since' is '%s'; give unix seconds, a date such as "
                                            "2026-01-31 or 2026-01-31T12:00:00Z, or a time ago such as 1h or 2d.", v);
                return false;
        }
        v = query_get(c, "id");
        if (v) {
                CertEventId id = cert_event_from_string(v);
                if (id < 0) {
                        *ret_reply = reply_problemf(c, MHD_HTTP_BAD_REQUEST, "invalid-field",
                                                    "Query argument 'id' is '%s', which is no event. Use a number "
                                                    "such as 1001 or a name such as replaced (docs/EVENTS.md).", v);
                        return false;
                }
                f->event_id = (int) id;
        }
        v = query_get(c, "cert");
        if (v) {
                _cleanup_(cert_record_freep) CertRecord *rec = NULL;

                /* A removed certificate's events stay, under its id. */
                r = manager_cert_lookup(a->manager, v, &rec);
                if (r == -ENOENT && (safe_atoi64(v, &f->cert_id) < 0 || f->cert_id <= 0)) {
                        *ret_reply = reply_cert_not_found(c, v);
                        return false;
                }
                if (r < 0 && r != -ENOENT) {
                        *ret_reply = reply_internal(c, r, NULL);
                        return false;
                }
                if (r >= 0)
                        f->cert_id = rec->id;
        }
        v = query_get(c, "after");
        if (v && (safe_atoi64(v, &f->after_id) < 0 || f->after_id < 0)) {
                *ret_reply = reply_problemf(c, MHD_HTTP_BAD_REQUEST, "invalid-field",
                                            "Query argument 'after' is '%s'; give the next_after of the previous page, "
                                            "or an event's id.", v);
                return false;
        }
        return true;
}

/* Newest first; "after" is the next_after of the previous page. Read only: events are raised by
 * the daemon, never created through the API. */
static enum MHD_Result handle_event_list(Api *a, struct MHD_Connection *c) {
        static const char *const known[] = { "since", "id", "cert", "after", "limit", NULL };
        EventListContext ctx = {};
        EventFilter f = {};
        json_auto_t *items = NULL, *o = NULL;
        enum MHD_Result m;
        int r;

        if (!query_known(c, known, "Use since, id, cert, after or limit.", &m) ||
            !query_limit(c, EVENTS_LIMIT_DEFAULT, EVENTS_LIMIT_MAX, &ctx.limit, &m))
                return m;
        if (!event_filter_parse(a, c, &f, &m))
                return m;

        items = json_array();
        if (!items)
                return MHD_NO;
        ctx.items = items;
        /* One more than asked, to know whether there is a next page. */
        f.limit = ctx.limit + 1;
        r = store_event_foreach(manager_store(a->manager), &f, event_one, &ctx);
        if (r < 0)
                return reply_internal(c, r, "Failed to read the events");

        o = ctx.more ? json_pack("{s:O, s:I}", "items", items, "next_after", (json_int_t) ctx.last_id)
                     : json_pack("{s:O, s:n}", "items", items, "next_after");
        return o ? reply_json(c, MHD_HTTP_OK, o) : MHD_NO;
}

/* Server-Sent Events: the events after Last-Event-ID (or ?after=ID, or since ?since=T) first, then
 * each one as it is committed (certkeeperd-api-stream.c). Read only, like the list. */
static enum MHD_Result handle_event_stream(Api *a, struct MHD_Connection *c) {
        static const char *const known[] = { "since", "id", "cert", "after", NULL };
        EventFilter f = {};
        enum MHD_Result m;
        const char *last;
        int64_t cursor = -1;

        if (!query_known(c, known, "Use since, id, cert or after.", &m))
                return m;
        if (!event_filter_parse(a, c, &f, &m))
                return m;

        last = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
        if (last && (safe_atoi64(last, &cursor) < 0 || cursor < 0))
                return reply_problemf(c, MHD_HTTP_BAD_REQUEST, "invalid-field",
                                      "The Last-Event-ID header is '%s'; give the id of the last event received.",
                                      last);
        if (!last && query_get(c, "after"))
                cursor = f.after_id;
        else if (!last && f.since > 0)
                cursor = 0; /* every kept event since then */

        if (api_streams_count(a->streams) >= STREAMS_MAX)
                return reply_problemf(c, MHD_HTTP_SERVICE_UNAVAILABLE, "busy",
                                      "%u clients already follow the event stream. Close one, or subscribe "
                                      "(certkeeper subscribe) instead.", STREAMS_MAX);
        return api_streams_open(a->streams, c, &f, cursor);
}

/* ---- subscriptions ---- */

/* For the foreach callbacks that build the items of a list. */
typedef struct ItemsContext {
        Api *api;
        json_t *items;
} ItemsContext;

static json_t *subscription_json(Api *a, const SubscriptionRecord *r) {
        _cleanup_strv_free_ char **ids = NULL;
        json_t *o, *events = json_null();

        if (r->events && strv_split(r->events, ",", &ids) >= 0) {
                events = json_array();
                STRV_FOREACH(id, ids) {
                        int64_t v;
                        if (safe_atoi64(*id, &v) >= 0)
                                (void) json_array_append_new(events, json_integer(v));
                }
        }
        o = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:s?, s:b}", "name", r->name, "kind",
                      r->kind, streq(r->kind, "webhook") ? "url" : "command", r->target, "events", events, "cert_id",
                      (json_int_t) r->cert_id, "created_at", (json_int_t) r->created_at, "cursor",
                      (json_int_t) r->cursor, "delivered", (json_int_t) r->delivered, "attempts",
                      (json_int_t) r->attempts, "next_attempt_at", (json_int_t) r->next_attempt_at,
                      "last_attempt_at", (json_int_t) r->last_attempt_at, "last_delivered_at",
                      (json_int_t) r->last_delivered_at, "last_error", r->last_error, "in_flight",
                      manager_subscription_in_flight(a->manager, r->name));
        return o;
}

static int subscription_one(const SubscriptionRecord *r, void *userdata) {
        ItemsContext *ctx = userdata;

        return json_array_append_new(ctx->items, subscription_json(ctx->api, r)) < 0 ? -ENOMEM : 0;
}

static enum MHD_Result handle_subscription_list(Api *a, struct MHD_Connection *c) {
        json_auto_t *items = json_array();
        ItemsContext ctx = { a, items };
        int r;

        if (!items)
                return MHD_NO;
        r = store_subscription_foreach(manager_store(a->manager), subscription_one, &ctx);
        if (r < 0)
                return reply_internal(c, r, "Failed to list the subscriptions");
        return reply_items(c, items);
}

/* The event filter: numbers or names, as a comma-separated list of numbers. */
static int subscription_events(json_t *v, char **ret, char **reterr) {
        _cleanup_free_ char *list = NULL;
        size_t i;
        json_t *e;

        if (!v || json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0)) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_array(v))
                return errorf(reterr, -EINVAL, "Field 'events' must be a list of event ids or names.");
        json_array_foreach(v, i, e) {
                _cleanup_free_ char *s = NULL;
                CertEventId id;
                char *n;

                if (json_is_integer(e) && asprintf(&s, "%" JSON_INTEGER_FORMAT, json_integer_value(e)) < 0)
                        return -ENOMEM;
                id = cert_event_from_string(s ?: json_string_value(e) ?: "");
                if (id < 0)
                        return errorf(reterr, -EINVAL, "'%s' in 'events' is no event. Use a number such as 1001 "
                                      "or a name such as replaced (docs/EVENTS.md).", s ?: strna(json_string_value(e)));
                if (asprintf(&n, "%s%s%d", strempty(list), list ? "," : "", (int) id) < 0)
                        return -ENOMEM;
                free(list);
                list = n;
        }
        *ret = TAKE_PTR(list);
        return 0;
}

/* Creating a subscription makes the daemon run a command or POST to a URL: only the API's users
 * (root, the admin group, the bearer token) get here. Events themselves are never created here. */
static enum MHD_Result handle_subscription_add(Api *a, struct MHD_Connection *c, const char *body, size_t body_len) {
        static const char *const known[] = { "name", "command", "url", "secret", "events", "cert", NULL };
        _cleanup_(subscription_record_done) SubscriptionRecord rec = {};
        _cleanup_(subscription_record_done) SubscriptionRecord got = {};
        _cleanup_free_ char *err = NULL;
        json_auto_t *j = NULL, *o = NULL;
        const char *command, *url, *name, *secret, *cert;
        enum MHD_Result m;
        int r;

        if (!body_parse(c, body, body_len, &j, &m))
                return m;
        if (body_unknown_field(c, j, known, "a subscription takes name, command or url, secret, events and cert", &m))
                return m;
        command = json_string_value(json_object_get(j, "command"));
        url = json_string_value(json_object_get(j, "url"));
        name = json_string_value(json_object_get(j, "name"));
        secret = json_string_value(json_object_get(j, "secret"));
        cert = json_string_value(json_object_get(j, "cert"));
        if (!command == !url)
                return reply_problem(c, MHD_HTTP_BAD_REQUEST, "missing-field",
                                     "Give either 'command' (a command line) or 'url' (a webhook) as a string.");
        if ((json_object_get(j, "name") && !name) || (json_object_get(j, "secret") && !secret) ||
            (json_object_get(j, "cert") && !cert))
                return reply_problem(c, MHD_HTTP_BAD_REQUEST, "invalid-field",
                                     "Fields 'name', 'secret' and 'cert' must be strings.");

        r = subscription_events(json_object_get(j, "events"), &rec.events, &err);
        if (r < 0)
                return reply_manager_error(c, r, err, false);
        if (cert) {
                _cleanup_(cert_record_freep) CertRecord *cr = NULL;

                if (!cert_find(a, c, cert, &cr, &m))
                        return m;
                rec.cert_id = cr->id;
        }
        rec.kind = strdup(command ? "command" : "webhook");
        rec.target = strdup(command ?: url);
        rec.name = name ? strdup(name) : NULL;
        rec.secret = secret ? strdup(secret) : NULL;
        if (!rec.kind || !rec.target || (name && !rec.name) || (secret && !rec.secret))
                return MHD_NO;

        r = manager_subscription_add(a->manager, &rec, &err);
        if (r == -EEXIST)
                return reply_problem(c, MHD_HTTP_CONFLICT, "duplicate-subscription", err);
        if (r < 0)
                return reply_manager_error(c, r, err, false);

        r = store_subscription_get(manager_store(a->manager), rec.name, &got);
        if (r < 0)
                return reply_internal(c, r, NULL);
        o = subscription_json(a, &got);
        return o ? reply_json(c, MHD_HTTP_CREATED, o) : MHD_NO;
}

static enum MHD_Result handle_subscription_delete(Api *a, struct MHD_Connection *c, const char *name) {
        _cleanup_free_ char *err = NULL;
        int r;

        r = manager_subscription_remove(a->manager, name, &err);
        if (r < 0)
                return reply_manager_error(c, r, err, false);
        return reply_removed(c, name);
}

/* ---- CAs ---- */

static int ca_one(const CARecord *rec, void *userdata) {
        ItemsContext *ctx = userdata;
        json_t *o;
        int r;

        r = ca_record_to_json(rec, manager_ca_roots_path(ctx->api->manager, rec->name), &o);
        if (r < 0)
                return r;
        if (json_array_append_new(ctx->items, o) < 0)
                return -ENOMEM;
        return 0;
}

static enum MHD_Result handle_ca_list(Api *a, struct MHD_Connection *c) {
        json_auto_t *items = json_array();
        ItemsContext ctx = { a, items };
        int r;

        if (!items)
                return MHD_NO;
        r = store_ca_foreach(manager_store(a->manager), ca_one, &ctx);
        if (r < 0)
                return reply_internal(c, r, "Failed to list the CAs");

        return reply_items(c, items);
}

static enum MHD_Result reply_ca(Api *a, struct MHD_Connection *c, unsigned status, const char *name) {
        _cleanup_(ca_record_done) CARecord rec = {};
        json_auto_t *j = NULL;
        int r;

        r = store_ca_get(manager_store(a->manager), name, &rec);
        if (r == -ENOENT)
                return reply_ca_not_found(c, name);
        if (r < 0)
                return reply_internal(c, r, NULL);

        r = ca_record_to_json(&rec, manager_ca_roots_path(a->manager, rec.name), &j);
        if (r < 0)
                return reply_internal(c, r, NULL);
        return reply_json(c, status, j);
}

static enum MHD_Result handle_ca_add(Api *a, struct MHD_Connection *c, const char *body, size_t body_len) {
        _cleanup_(ca_record_done) CARecord rec = {};
        _cleanup_free_ char *err = NULL;
        json_auto_t *j = NULL;
        enum MHD_Result m;
        int r;

        if (!body_parse(c, body, body_len, &j, &m))
                return m;

        r = ca_record_apply_json(&rec, j, true, &err);
        if (r < 0)
                return reply_apply_error(c, r, err);

        r = manager_ca_add(a->manager, &rec, &err);
        if (r < 0)
                return reply_manager_error(c, r, err, true);

        return reply_ca(a, c, MHD_HTTP_CREATED, rec.name);
}

static enum MHD_Result handle_ca_patch(Api *a, struct MHD_Connection *c, const char *name, const char *body,
                                       size_t body_len) {
        _cleanup_(ca_record_done) CARecord rec = {};
        _cleanup_free_ char *err = NULL;
        json_auto_t *j = NULL;
        enum MHD_Result m;
        int r;

        if (!body_parse(c, body, body_len, &j, &m))
                return m;

        r = store_ca_get(manager_store(a->manager), name, &rec);
        if (r == -ENOENT)
                return reply_ca_not_found(c, name);
        if (r < 0)
                return reply_internal(c, r, NULL);

        r = ca_record_apply_json(&rec, j, false, &err);
        if (r < 0)
                return reply_apply_error(c, r, err);

        r = manager_ca_modify(a->manager, &rec, &err);
        if (r < 0)
                return reply_manager_error(c, r, err, true);

        return reply_ca(a, c, MHD_HTTP_OK, rec.name);
}

static enum MHD_Result handle_ca_delete(Api *a, struct MHD_Connection *c, const char *name) {
        _cleanup_free_ char *err = NULL;
        int r;

        r = manager_ca_remove(a->manager, name, &err);
        if (r == -ENOENT && !err)
                return reply_ca_not_found(c, name);
        if (r < 0)
                return reply_manager_error(c, r, err, true);

        return reply_removed(c, name);
}

static enum MHD_Result handle_ca_refresh(Api *a, struct MHD_Connection *c, const char *name) {
        _cleanup_free_ char *err = NULL;
        int r;

        r = manager_ca_refresh(a->manager, name, &err);
        if (r == -ENOENT)
                return reply_ca_not_found(c, name);
        if (r < 0)
                return reply_manager_error(c, r, err, true);
        /* Accepted: the helper runs in the background; GET the CA for its data. */
        return reply_ca(a, c, MHD_HTTP_ACCEPTED, name);
}

/* ---- routing ---- */

static bool method_is(const char *method, const char *want) {
        if (streq(method, want))
                return true;
        /* HEAD is answered like GET; libmicrohttpd drops the body. */
        return streq(want, MHD_HTTP_METHOD_GET) && streq(method, MHD_HTTP_METHOD_HEAD);
}

static enum MHD_Result api_route(Api *a, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *body, size_t body_len) {
        _cleanup_strv_free_ char **seg = NULL;
        size_t n;
        int r;

        r = strv_split(url, "/", &seg);
        if (r < 0)
                return MHD_NO;
        n = strv_length(seg);

        if (n == 3 && streq(seg[0], "api") && streq(seg[1], "system") && streq(seg[2], "appversion")) {
                if (!method_is(method, MHD_HTTP_METHOD_GET))
                        return reply_method_not_allowed(c, method, url, "GET");
                return handle_appversion(a, c);
        }

        /* Where Prometheus looks by default, and beside the other routes. */
        if ((n == 1 && streq(seg[0], "metrics")) ||
            (n == 3 && streq(seg[0], "api") && streq(seg[1], "v1") && streq(seg[2], "metrics"))) {
                if (!method_is(method, MHD_HTTP_METHOD_GET))
                        return reply_method_not_allowed(c, method, url, "GET");
                return handle_metrics(a, c);
        }

        if (n < 3 || !streq(seg[0], "api") || !streq(seg[1], "v1"))
                goto not_found;

        if (streq(seg[2], "system") && n == 4 && (streq(seg[3], "version") || streq(seg[3], "health"))) {
                if (!method_is(method, MHD_HTTP_METHOD_GET))
                        return reply_method_not_allowed(c, method, url, "GET");
                return streq(seg[3], "version") ? handle_version(a, c) : handle_health(a, c);
        }

        if (streq(seg[2], "certificates")) {
                if (n == 3) {
                        if (method_is(method, MHD_HTTP_METHOD_GET))
                                return handle_cert_list(a, c);
                        if (streq(method, MHD_HTTP_METHOD_POST))
                                return handle_cert_add(a, c, body, body_len, false);
                        return reply_method_not_allowed(c, method, url, "GET, POST");
                }
                if ((n == 5 || n == 6) && streq(seg[4], "bindings"))
                        return handle_bindings(a, c, method, seg[3], n == 6 ? seg[5] : NULL, body, body_len);
                if (n == 5 && streq(seg[4], "deploy")) {
                        if (!streq(method, MHD_HTTP_METHOD_POST))
                                return reply_method_not_allowed(c, method, url, "POST");
                        return handle_deploy(a, c, seg[3]);
                }
                if (n == 4 && streq(seg[3], "track") && streq(method, MHD_HTTP_METHOD_POST))
                        return handle_cert_add(a, c, body, body_len, true);
                if (n == 4) {
                        if (method_is(method, MHD_HTTP_METHOD_GET))
                                return handle_cert_get(a, c, seg[3]);
                        if (streq(method, MHD_HTTP_METHOD_PATCH))
                                return handle_cert_patch(a, c, seg[3], body, body_len);
                        if (streq(method, MHD_HTTP_METHOD_DELETE))
                                return handle_cert_delete(a, c, seg[3]);
                        return reply_method_not_allowed(c, method, url, "GET, PATCH, DELETE");
                }
                if (n == 5) {
                        static const struct {
                                const char *name;
                                ManagerAction action;
                        } actions[] = {
                                { "resubmit", MANAGER_ACTION_RESUBMIT },
                                { "rekey",    MANAGER_ACTION_REKEY    },
                                { "refresh",  MANAGER_ACTION_REFRESH  },
                        };

                        if (streq(seg[4], "history")) {
                                if (!method_is(method, MHD_HTTP_METHOD_GET))
                                        return reply_method_not_allowed(c, method, url, "GET");
                                return handle_cert_history(a, c, seg[3]);
                        }
                        if (streq(seg[4], "export")) {
                                if (!streq(method, MHD_HTTP_METHOD_POST))
                                        return reply_method_not_allowed(c, method, url, "POST");
                                return handle_cert_export(a, c, seg[3], body, body_len);
                        }
                        if (streq(seg[4], "revoke")) {
                                if (!streq(method, MHD_HTTP_METHOD_POST))
                                        return reply_method_not_allowed(c, method, url, "POST");
                                return handle_cert_revoke(a, c, seg[3], body, body_len);
                        }
                        for (size_t i = 0; i < ELEMENTSOF(actions); i++)
                                if (streq(seg[4], actions[i].name)) {
                                        if (!streq(method, MHD_HTTP_METHOD_POST))
                                                return reply_method_not_allowed(c, method, url, "POST");
                                        return handle_cert_action(a, c, seg[3], actions[i].action, body, body_len);
                                }
                }
                goto not_found;
        }

        if (streq(seg[2], "bindings") && n == 3) {
                if (!method_is(method, MHD_HTTP_METHOD_GET))
                        return reply_method_not_allowed(c, method, url, "GET");
                return handle_bindings(a, c, method, NULL, NULL, NULL, 0);
        }

        if (streq(seg[2], "events") && n == 3) {
                if (!method_is(method, MHD_HTTP_METHOD_GET))
                        return reply_method_not_allowed(c, method, url, "GET");
                return handle_event_list(a, c);
        }
        if (streq(seg[2], "events") && n == 4 && streq(seg[3], "stream")) {
                if (!streq(method, MHD_HTTP_METHOD_GET))
                        return reply_method_not_allowed(c, method, url, "GET");
                return handle_event_stream(a, c);
        }

        if (streq(seg[2], "subscriptions")) {
                if (n == 3) {
                        if (method_is(method, MHD_HTTP_METHOD_GET))
                                return handle_subscription_list(a, c);
                        if (streq(method, MHD_HTTP_METHOD_POST))
                                return handle_subscription_add(a, c, body, body_len);
                        return reply_method_not_allowed(c, method, url, "GET, POST");
                }
                if (n == 4) {
                        if (streq(method, MHD_HTTP_METHOD_DELETE))
                                return handle_subscription_delete(a, c, seg[3]);
                        return reply_method_not_allowed(c, method, url, "DELETE");
                }
                goto not_found;
        }

        if (streq(seg[2], "cas")) {
                if (n == 3) {
                        if (method_is(method, MHD_HTTP_METHOD_GET))
                                return handle_ca_list(a, c);
                        if (streq(method, MHD_HTTP_METHOD_POST))
                                return handle_ca_add(a, c, body, body_len);
                        return reply_method_not_allowed(c, method, url, "GET, POST");
                }
                if (n == 4) {
                        if (method_is(method, MHD_HTTP_METHOD_GET))
                                return reply_ca(a, c, MHD_HTTP_OK, seg[3]);
                        if (streq(method, MHD_HTTP_METHOD_PATCH))
                                return handle_ca_patch(a, c, seg[3], body, body_len);
                        if (streq(method, MHD_HTTP_METHOD_DELETE))
                                return handle_ca_delete(a, c, seg[3]);
                        return reply_method_not_allowed(c, method, url, "GET, PATCH, DELETE");
                }
                if (n == 5 && streq(seg[4], "refresh")) {
                        if (!streq(method, MHD_HTTP_METHOD_POST))
                                return reply_method_not_allowed(c, method, url, "POST");
                        return handle_ca_refresh(a, c, seg[3]);
                }
                if (n == 5 && streq(seg[4], "account")) {
                        if (!streq(method, MHD_HTTP_METHOD_POST))
                                return reply_method_not_allowed(c, method, url, "POST");
                        return handle_ca_account(a, c, seg[3], body, body_len);
                }
        }

not_found:
        return reply_problemf(c, MHD_HTTP_NOT_FOUND, "not-found",
                              "There is no API route '%s'. See docs/API.md for the routes (they start with /api/v1/).",
                              url);
}

/* ---- authentication ---- */

static bool gid_in(gid_t gid, const gid_t *l, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (l[i] == gid)
                        return true;
        return false;
}

/* Is the peer a member of gid? Asks the kernel for the peer's groups at connect time
 * (SO_PEERGROUPS); falls back to the group database. */
static bool peer_in_group(int fd, const struct ucred *uc, gid_t gid) {
        _cleanup_free_ gid_t *groups = NULL;
        _cleanup_free_ char *buf = NULL;
        socklen_t len = 64 * sizeof(gid_t);
        struct passwd pw, *pwp = NULL;
        int ngroups;

        if (uc->gid == gid)
                return true;

        for (;;) {
                gid_t *p = realloc(groups, len);

                if (!p)
                        return false;
                groups = p;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) >= 0)
                        return gid_in(gid, groups, len / sizeof(gid_t));
                if (errno != ERANGE || len > PEER_GROUPS_MAX * sizeof(gid_t))
                        break;
        }

        /* Old kernel: the user's groups from the database. */
        buf = malloc(16384);
        if (!buf)
                return false;
        if (getpwuid_r(uc->uid, &pw, buf, 16384, &pwp) != 0 || !pwp)
                return false;

        ngroups = 64;
        for (unsigned tries = 0; tries < 8; tries++) {
                gid_t *p = realloc(groups, sizeof(gid_t) * (size_t) ngroups);
                int k = ngroups;

                if (!p)
                        return false;
                groups = p;
                if (getgrouplist(pwp->pw_name, pwp->pw_gid, groups, &k) >= 0)
                        return gid_in(gid, groups, (size_t) k);
                if (k <= ngroups || k > (int) PEER_GROUPS_MAX)
                        return false;
                ngroups = k;
        }
        return false;
}

static void peer_lookup(Api *a, int fd, PeerInfo *ret) {
        struct ucred uc = {};
        socklen_t len = sizeof(uc);
        gid_t admin;

        *ret = (PeerInfo) { .uid = (uid_t) -1 };
        if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0 || len != sizeof(uc))
                return;

        ret->known = true;
        ret->uid = uc.uid;
        ret->pid = uc.pid;
        if (uc.uid == 0 || uc.uid == manager_uid(a->manager)) {
                ret->allowed = true;
                return;
        }
        admin = manager_admin_gid(a->manager);
        ret->allowed = admin != (gid_t) -1 && peer_in_group(fd, &uc, admin);
}

static int connection_fd(struct MHD_Connection *c) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        return ci ? ci->connect_fd : -EBADF;
}

static void api_notify_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                                  enum MHD_ConnectionNotificationCode toe) {
        ApiListener *l = cls;
        PeerInfo *p;

        if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
                *socket_context = mfree(*socket_context);
                return;
        }
        if (toe != MHD_CONNECTION_NOTIFY_STARTED || !l->is_unix)
                return;

        p = malloc(sizeof(PeerInfo));
        if (!p)
                return; /* looked up per request then */
        peer_lookup(l->api, connection_fd(c), p);
        *socket_context = p;
}

/* Returns true if the peer may call; otherwise queues 403 and returns false with the result in
 * *ret_reply. */
static bool check_unix_peer(Api *a, struct MHD_Connection *c, enum MHD_Result *ret_reply) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        _cleanup_free_ char *group = NULL;
        PeerInfo local;
        const PeerInfo *p = ci ? ci->socket_context : NULL;
        gid_t admin;

        if (!p) {
                peer_lookup(a, connection_fd(c), &local);
                p = &local;
        }
        if (p->allowed)
                return true;

        if (!p->known) {
                *ret_reply = reply_problemf(c, MHD_HTTP_FORBIDDEN, "forbidden",
                                            "The caller's credentials could not be read from the socket '%s'. Use sudo.",
                                            a->socket_path);
                return false;
        }

        log_debug("API: refusing uid %u (pid %i) on '%s'.", (unsigned) p->uid, (int) p->pid, a->socket_path);

        admin = manager_admin_gid(a->manager);
        if (admin != (gid_t) -1) {
                struct group gr, *grp = NULL;
                char buf[4096];

                if (getgrgid_r(admin, &gr, buf, sizeof(buf), &grp) == 0 && grp)
                        group = strdup(grp->gr_name);
                else if (asprintf(&group, "%u", (unsigned) admin) < 0)
                        group = NULL;
                *ret_reply = reply_problemf(
                        c, MHD_HTTP_FORBIDDEN, "forbidden",
                        "User ID %u (pid %i) may not use the certkeeper API socket '%s'. Join the admin group '%s' (usermod -aG %s USER, then log in again) or run the command with sudo.",
                        (unsigned) p->uid, (int) p->pid, a->socket_path, strna(group), strna(group));
                return false;
        }

        *ret_reply = reply_problemf(
                c, MHD_HTTP_FORBIDDEN, "forbidden",
                "User ID %u (pid %i) may not use the certkeeper API socket '%s'. Run the command with sudo, or set admin_group in certkeeper.conf and join that group.",
                (unsigned) p->uid, (int) p->pid, a->socket_path);
        return false;
}

/* Returns true if the request carries the bearer token; otherwise queues 401. */
static bool check_bearer(Api *a, struct MHD_Connection *c, enum MHD_Result *ret_reply) {
        const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
        _cleanup_free_ char *detail = NULL;
        const char *why = "The request has no Authorization header.";

        if (h) {
                size_t n, want = strlen(a->token);

                if (strncasecmp(h, "Bearer ", 7) == 0) {
                        h += 7;
                        h += strspn(h, " ");
                        n = strlen(h);
                        while (n > 0 && h[n - 1] == ' ')
                                n--;
                        if (n == want && CRYPTO_memcmp(h, a->token, want) == 0)
                                return true;
                        why = "The bearer token is wrong.";
                } else
                        why = "The Authorization header is not of the form 'Bearer TOKEN'.";
        }

        if (asprintf(&detail,
                     "%s Send 'Authorization: Bearer TOKEN', where TOKEN is the content of '%s' (readable by root and the daemon's user), or use the Unix socket.",
                     why, a->token_path) < 0) {
                *ret_reply = MHD_NO;
                return false;
        }
        *ret_reply = reply_problem_full(c, MHD_HTTP_UNAUTHORIZED, "unauthorized", detail,
                                        MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"certkeeper\"");
        return false;
}

static enum MHD_Result api_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **req_cls) {
        ApiListener *l = cls;
        Api *a = l->api;
        Request *req = *req_cls;

        if (!req) {
                const char *cl;
                enum MHD_Result m;
                uint64_t len;

                req = calloc(1, sizeof(Request));
                if (!req)
                        return MHD_NO;
                req->body = DYNBUF_INIT(a->max_body);
                *req_cls = req;

                /* Who is asking is settled before any body is read. */
                if (!(l->is_unix ? check_unix_peer(a, c, &m) : check_bearer(a, c, &m))) {
                        req->answered = true;
                        return m;
                }

                cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
                if (cl && safe_atou64(cl, &len) >= 0 && len > a->max_body) {
                        /* Nothing of it is kept, but it is read to its end before the 413, so that
                         * the client, still sending, sees the answer instead of a broken pipe. */
                        req->too_big = true;
                        req->declared_len = len;
                        dynbuf_done(&req->body);
                }
                return MHD_YES;
        }

        if (req->held) {
                /* Resumed after the commit: now the answer may go out. */
                enum MHD_Result m = MHD_queue_response(c, req->held_status, req->held);
                MHD_destroy_response(req->held);
                req->held = NULL;
                return m;
        }

        if (req->failed)
                return MHD_NO;

        if (req->answered) {
                *upload_data_size = 0;
                return MHD_YES;
        }

        if (*upload_data_size > 0) {
                if (!req->too_big) {
                        int r = dynbuf_append(&req->body, upload_data, *upload_data_size);

                        if (r == -E2BIG) {
                                req->too_big = true;
                                dynbuf_done(&req->body);
                        } else if (r < 0)
                                return MHD_NO;
                }
                *upload_data_size = 0;
                return MHD_YES;
        }

        req->answered = true;
        if (req->too_big && req->declared_len > 0)
                return reply_problemf(c, MHD_HTTP_CONTENT_TOO_LARGE, "body-too-large",
                                      "The body is %" PRIu64 " bytes; at most %zu are accepted.", req->declared_len,
                                      a->max_body);
        if (req->too_big)
                return reply_problemf(c, MHD_HTTP_CONTENT_TOO_LARGE, "body-too-large",
                                      "The body is larger than %zu bytes, the most that is accepted.", a->max_body);

        if (strcmp(method, MHD_HTTP_METHOD_GET) == 0 || strcmp(method, MHD_HTTP_METHOD_HEAD) == 0)
                return api_route(a, c, url, method, req->body.data, req->body.len);

        /* A change is answered only once it is durable: hold the reply, suspend the connection,
         * and let api_release_held() send it after the commit at the end of this loop iteration,
         * which many requests share. */
        req->connection = c;
        holding = req;
        enum MHD_Result m = api_route(a, c, url, method, req->body.data, req->body.len);
        holding = NULL;
        if (m == MHD_YES && !req->held && req->ticket) {
                /* Waits for a CA: api_operation_done() answers. */
                req->next_deferred = a->deferred;
                a->deferred = req;
                MHD_suspend_connection(c);
                return MHD_YES;
        }
        if (m != MHD_YES || !req->held)
                return m;
        req->next_held = a->held;
        a->held = req;
        MHD_suspend_connection(c);
        return MHD_YES;
}

bool api_has_held(Api *a) {
        return a->held != NULL;
}

void api_release_held(Api *a, int commit_result) {
        Request *req;

        while ((req = a->held)) {
                a->held = req->next_held;
                req->next_held = NULL;
                if (commit_result < 0) {
                        /* Not durable: say so instead of the success that was prepared. */
                        _cleanup_free_ char *body = NULL;
                        int n = asprintf(&body,
                                         "{\"type\":\"urn:certkeeper:problem:internal\",\"title\":\"Internal error\","
                                         "\"status\":500,\"detail\":\"The change could not be committed to the database: "
                                         "%s. Nothing was changed; try again, and see the daemon's log.\"}",
                                         strerror(-commit_result));
                        struct MHD_Response *resp = n < 0 ? NULL :
                                MHD_create_response_from_buffer((size_t) n, TAKE_PTR(body), MHD_RESPMEM_MUST_FREE);
                        if (resp) {
                                (void) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                                               "application/problem+json");
                                MHD_destroy_response(req->held);
                                req->held = resp;
                                req->held_status = MHD_HTTP_INTERNAL_SERVER_ERROR;
                        }
                }
                MHD_resume_connection(req->connection);
        }
        /* Followers get what this commit added. */
        if (commit_result >= 0)
                api_streams_committed(a->streams);
}

void api_operation_done(Api *a, uint64_t ticket, json_t *result) {
        Request **p, *req;
        const char *outcome;

        for (p = &a->deferred; *p && (*p)->ticket != ticket; p = &(*p)->next_deferred)
                ;
        req = *p;
        if (!req)
                return; /* gone */
        *p = req->next_deferred;
        req->next_deferred = NULL;

        holding = req;
        outcome = json_string_value(json_object_get(result, "result"));
        if (!result)
                (void) reply_internal(req->connection, -ENOMEM, "the operation's answer could not be made");
        else if (json_is_true(json_object_get(result, "ok"))) {
                json_auto_t *o = json_deep_copy(result);
                if (o && json_object_del(o, "ok") >= 0)
                        (void) reply_json(req->connection, MHD_HTTP_OK, o);
        } else {
                const char *words = json_string_value(json_object_get(result, "message"));
                if (streq_ptr(outcome, "rejected"))
                        (void) reply_problem(req->connection, MHD_HTTP_BAD_GATEWAY, "ca-rejected", words);
                else if (streq_ptr(outcome, "unreachable"))
                        (void) reply_problem(req->connection, MHD_HTTP_BAD_GATEWAY, "ca-unreachable", words);
                else if (streq_ptr(outcome, "guidance"))
                        (void) reply_problem(req->connection, MHD_HTTP_CONFLICT, "operation-failed", words);
                else
                        (void) reply_internal(req->connection, -EIO, words);
        }
        holding = NULL;

        if (!req->held) {
                req->failed = true;
                MHD_resume_connection(req->connection);
                return;
        }
        req->next_held = a->held;
        a->held = req;
}

static void api_request_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                                  enum MHD_RequestTerminationCode toe) {
        Request *req = *req_cls;

        if (!req)
                return;
        if (req->held)
                MHD_destroy_response(req->held);
        dynbuf_done(&req->body);
        free(req);
        *req_cls = NULL;
}

_printf_(2, 0) static void api_mhd_log(void *cls, const char *fmt, va_list ap) {
        _cleanup_free_ char *s = NULL;

        if (log_get_max_level() < LOG_DEBUG)
                return;
        if (vasprintf(&s, fmt, ap) < 0)
                return;
        log_debug("libmicrohttpd: %s", strstrip(s));
}

/* ---- setup ---- */

static int unix_listen(const char *path, int *ret_fd, char **reterr) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        struct stat st;

        if (strlen(path) >= sizeof(sa.sun_path))
                return errorf(reterr, -ENAMETOOLONG,
                            "The API socket path '%s' is longer than %zu bytes. Choose a shorter run directory.",
                            path, sizeof(sa.sun_path) - 1);
        memcpy(sa.sun_path, path, strlen(path) + 1);

        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return errorf(reterr, negative_errno(), "Failed to create the API socket: %m");

        if (lstat(path, &st) >= 0) {
                _cleanup_close_ int probe = -EBADF;

                if (!S_ISSOCK(st.st_mode))
                        return errorf(reterr, -EEXIST,
                                    "'%s' exists and is not a socket. Remove it or choose another run directory.", path);

                /* A socket someone still answers on belongs to a running daemon. */
                probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (probe >= 0 && connect(probe, (struct sockaddr *) &sa, sizeof(sa)) >= 0)
                        return errorf(reterr, -EADDRINUSE,
                                    "Another daemon is listening on '%s'. Stop it first (systemctl stop certkeeperd).",
                                    path);
                if (unlink(path) < 0 && errno != ENOENT)
                        return errorf(reterr, negative_errno(), "Failed to remove the stale socket '%s': %m", path);
        }

        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return errorf(reterr, negative_errno(), "Failed to bind the API socket '%s': %m", path);
        if (chmod(path, 0666) < 0)
                return errorf(reterr, negative_errno(), "Failed to make the API socket '%s' mode 0666: %m", path);
        if (listen(fd, SOMAXCONN) < 0)
                return errorf(reterr, negative_errno(), "Failed to listen on the API socket '%s': %m", path);

        *ret_fd = TAKE_FD(fd);
        return 0;
}

typedef union SockaddrIn {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
} SockaddrIn;

/* Only loopback addresses: the API speaks plain HTTP and is for local clients. */
static int tcp_address_parse(const char *address, SockaddrIn *ret, socklen_t *ret_len, char **reterr) {
        SockaddrIn sa = {};

        if (inet_pton(AF_INET, address, &sa.in.sin_addr) == 1) {
                if ((ntohl(sa.in.sin_addr.s_addr) >> 24) != 127)
                        return errorf(reterr, -EINVAL,
                                    "The API TCP address '%s' is not a loopback address. Use 127.0.0.1: the API is for local clients only.",
                                    address);
                sa.in.sin_family = AF_INET;
                *ret_len = sizeof(sa.in);
        } else if (inet_pton(AF_INET6, address, &sa.in6.sin6_addr) == 1) {
                if (!IN6_IS_ADDR_LOOPBACK(&sa.in6.sin6_addr))
                        return errorf(reterr, -EINVAL,
                                    "The API TCP address '%s' is not a loopback address. Use 127.0.0.1 or ::1: the API is for local clients only.",
                                    address);
                sa.in6.sin6_family = AF_INET6;
                *ret_len = sizeof(sa.in6);
        } else
                return errorf(reterr, -EINVAL, "The API TCP address '%s' is not an IP address. Use 127.0.0.1.", address);

        *ret = sa;
        return 0;
}

static int tcp_listen(const char *address, uint16_t first_port, int *ret_fd, uint16_t *ret_port, char **reterr) {
        unsigned tries = first_port == 0 ? 1 : TCP_PORT_TRIES;
        socklen_t salen;
        SockaddrIn sa;
        int family, r;

        r = tcp_address_parse(address, &sa, &salen, reterr);
        if (r < 0)
                return r;
        family = sa.sa.sa_family;

        for (unsigned i = 0; i < tries; i++) {
                _cleanup_close_ int fd = -EBADF;
                unsigned port = (unsigned) first_port + i;
                int one = 1;

                if (port > UINT16_MAX)
                        break;

                fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0)
                        return errorf(reterr, negative_errno(), "Failed to create the API TCP socket: %m");
                (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
                if (family == AF_INET6)
                        (void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));

                if (family == AF_INET)
                        sa.in.sin_port = htons((uint16_t) port);
                else
                        sa.in6.sin6_port = htons((uint16_t) port);

                if (bind(fd, &sa.sa, salen) < 0) {
                        if (errno == EADDRINUSE)
                                continue;
                        return errorf(reterr, negative_errno(), "Failed to bind the API to %s port %u: %m", address, port);
                }
                if (listen(fd, SOMAXCONN) < 0)
                        return errorf(reterr, negative_errno(), "Failed to listen on %s port %u: %m", address, port);

                salen = sizeof(sa);
                if (getsockname(fd, &sa.sa, &salen) < 0)
                        return errorf(reterr, negative_errno(), "Failed to read the API's TCP port: %m");

                *ret_port = ntohs(family == AF_INET ? sa.in.sin_port : sa.in6.sin6_port);
                *ret_fd = TAKE_FD(fd);
                return 0;
        }

        return errorf(reterr, -EADDRINUSE,
                    "Ports %u to %u on %s are all in use. Set another api_port in certkeeper.conf.",
                    (unsigned) first_port, MIN((unsigned) first_port + tries - 1, (unsigned) UINT16_MAX), address);
}

static int token_load(const char *path, char **ret, char **reterr) {
        _cleanup_free_ char *data = NULL;
        int r;

        for (unsigned attempt = 0; attempt < 2; attempt++) {
                uint8_t raw[TOKEN_BYTES];
                FileAttrs attrs = FILE_ATTRS(0600);

                r = fs_read_file(path, TOKEN_FILE_MAX, &data, NULL);
                if (r >= 0) {
                        strstrip(data);
                        if (isempty(data))
                                return errorf(reterr, -EBADMSG,
                                            "The API token file '%s' is empty. Remove it; a new token is made at the next start.",
                                            path);
                        *ret = TAKE_PTR(data);
                        return 0;
                }
                if (r != -ENOENT)
                        return errorf(reterr, r, "Failed to read the API token file '%s': %s", path, strerror(-r));

                if (getrandom(raw, sizeof(raw), 0) != (ssize_t) sizeof(raw))
                        return errorf(reterr, -EIO, "Failed to get random bytes for the API token.");
                r = hex_encode(raw, sizeof(raw), false, &data);
                explicit_bzero(raw, sizeof(raw));
                if (r < 0)
                        return r;

                r = fs_create_exclusive(path, data, strlen(data), &attrs);
                if (r >= 0) {
                        *ret = TAKE_PTR(data);
                        return 0;
                }
                explicit_bzero(data, strlen(data));
                data = mfree(data);
                if (r != -EEXIST)
                        return errorf(reterr, r, "Failed to create the API token file '%s': %s", path, strerror(-r));
                /* Someone else just created it: read theirs. */
        }

        return errorf(reterr, -EEXIST, "The API token file '%s' could not be read or created.", path);
}

static int api_json_write(Api *a, const ApiConfig *cfg, uint16_t port, char **reterr) {
        _cleanup_free_ char *tcp = NULL, *data = NULL, *text = NULL;
        json_auto_t *o = NULL;
        FileAttrs attrs = FILE_ATTRS(0644);
        int r;

        if (a->tcp_listener.daemon &&
            asprintf(&tcp, strchr(cfg->tcp_address, ':') ? "[%s]:%u" : "%s:%u", cfg->tcp_address, (unsigned) port) < 0)
                return -ENOMEM;

        o = json_pack("{s:s, s:I, s:o, s:o, s:o}",
                      "version", PACKAGE_VERSION,
                      "pid", (json_int_t) getpid(),
                      "socket", cert_json_text(a->socket_path),
                      "tcp", cert_json_text(tcp),
                      "token_file", cert_json_text(a->tcp_listener.daemon ? a->token_path : NULL));
        if (!o)
                return -ENOMEM;
        data = json_dumps(o, JSON_INDENT(2));
        if (!data)
                return -ENOMEM;
        text = strjoin(data, "\n");
        if (!text)
                return -ENOMEM;

        r = fs_write_atomic(cfg->api_json_path, text, strlen(text), &attrs);
        if (r < 0)
                return errorf(reterr, r, "Failed to write '%s': %s", cfg->api_json_path, strerror(-r));
        return 0;
}

static int listener_start(ApiListener *l, int fd, char **reterr) {
        unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;

        l->daemon = MHD_start_daemon(flags, 0, NULL, NULL, api_access, l,
                                     /* first, so that every message goes through it */
                                     MHD_OPTION_EXTERNAL_LOGGER, api_mhd_log, NULL,
                                     MHD_OPTION_LISTEN_SOCKET, (MHD_socket) fd,
                                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) CONNECTION_TIMEOUT_SEC,
                                     MHD_OPTION_CONNECTION_LIMIT, (unsigned) CONNECTION_LIMIT,
                                     MHD_OPTION_NOTIFY_COMPLETED, api_request_completed, NULL,
                                     MHD_OPTION_NOTIFY_CONNECTION, api_notify_connection, l,
                                     MHD_OPTION_END);
        if (!l->daemon)
                return errorf(reterr, -EIO, "Failed to start the HTTP server (libmicrohttpd) on the %s listener.",
                            l->is_unix ? "Unix socket" : "TCP");
        return 0;
}

int api_new(Manager *m, const ApiConfig *cfg, Api **ret, char **reterr) {
        _cleanup_(api_freep) Api *a = NULL;
        _cleanup_close_ int ufd = -EBADF, tfd = -EBADF;
        uint16_t port = 0;
        int r;

        if (!m || !cfg || !ret || isempty(cfg->socket_path) || isempty(cfg->api_json_path))
                return -EINVAL;
        if (cfg->tcp_address) {
                SockaddrIn sa;
                socklen_t salen;

                if (isempty(cfg->token_path))
                        return errorf(reterr, -EINVAL, "The API over TCP needs a token file path.");
                /* Configuration errors first, before anything is created. */
                r = tcp_address_parse(cfg->tcp_address, &sa, &salen, reterr);
                if (r < 0)
                        return r;
        }

        a = calloc(1, sizeof(Api));
        if (!a)
                return -ENOMEM;
        a->manager = m;
        a->pid = getpid();
        a->started_at = (int64_t) time(NULL);
        a->max_body = cfg->max_body > 0 ? cfg->max_body : API_MAX_BODY_DEFAULT;
        a->unix_listener = (ApiListener) { .api = a, .is_unix = true };
        a->tcp_listener = (ApiListener) { .api = a, .is_unix = false };
        r = api_streams_new(manager_store(m), cfg->stream_keepalive > 0 ? cfg->stream_keepalive : STREAM_KEEPALIVE_DEFAULT,
                            &a->streams);
        if (r < 0)
                return r;

        r = unix_listen(cfg->socket_path, &ufd, reterr);
        if (r < 0)
                return r;
        a->socket_path = strdup(cfg->socket_path);
        if (!a->socket_path) {
                (void) unlink(cfg->socket_path);
                return -ENOMEM;
        }

        if (cfg->tcp_address) {
                a->token_path = strdup(cfg->token_path);
                if (!a->token_path)
                        return -ENOMEM;
                r = token_load(cfg->token_path, &a->token, reterr);
                if (r < 0)
                        return r;
                r = tcp_listen(cfg->tcp_address, cfg->tcp_port, &tfd, &port, reterr);
                if (r < 0)
                        return r;
        }

        /* libmicrohttpd owns the listening sockets from here on. */
        r = listener_start(&a->unix_listener, ufd, reterr);
        if (r < 0)
                return r;
        TAKE_FD(ufd);

        if (tfd >= 0) {
                r = listener_start(&a->tcp_listener, tfd, reterr);
                if (r < 0)
                        return r;
                TAKE_FD(tfd);
        }

        r = api_json_write(a, cfg, port, reterr);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(a);
        return 0;
}

Api *api_free(Api *a) {
        if (!a)
                return NULL;

        /* Requests still waiting for a CA are closed unanswered. */
        while (a->deferred) {
                Request *req = a->deferred;
                a->deferred = req->next_deferred;
                req->failed = true;
                MHD_resume_connection(req->connection);
        }
        api_streams_close_all(a->streams);
        if (a->tcp_listener.daemon)
                MHD_stop_daemon(a->tcp_listener.daemon);
        if (a->unix_listener.daemon)
                MHD_stop_daemon(a->unix_listener.daemon);
        api_streams_free(a->streams);
        if (a->socket_path && a->pid == getpid())
                (void) unlink(a->socket_path);

        if (a->token) {
                explicit_bzero(a->token, strlen(a->token));
                free(a->token);
        }
        free(a->token_path);
        free(a->socket_path);
        free(a);
        return NULL;
}

unsigned api_get_fds(Api *a, int fds[static 2]) {
        const ApiListener *ls[] = { &a->unix_listener, &a->tcp_listener };
        unsigned n = 0;

        for (size_t i = 0; i < ELEMENTSOF(ls); i++) {
                const union MHD_DaemonInfo *info;

                if (!ls[i]->daemon)
                        continue;
                info = MHD_get_daemon_info(ls[i]->daemon, MHD_DAEMON_INFO_EPOLL_FD);
                if (info && info->epoll_fd >= 0)
                        fds[n++] = info->epoll_fd;
        }
        return n;
}

int api_process(Api *a) {
        const ApiListener *ls[] = { &a->unix_listener, &a->tcp_listener };
        int r = 0;

        /* Keep-alives resume their followers first, so that this run sends them. */
        api_streams_tick(a->streams, now_usec(CLOCK_MONOTONIC));
        for (size_t i = 0; i < ELEMENTSOF(ls); i++)
                if (ls[i]->daemon && MHD_run(ls[i]->daemon) != MHD_YES)
                        r = -EIO;
        return r;
}

usec_t api_get_timeout(Api *a) {
        const ApiListener *ls[] = { &a->unix_listener, &a->tcp_listener };
        usec_t t = api_streams_timeout(a->streams, now_usec(CLOCK_MONOTONIC));

        for (size_t i = 0; i < ELEMENTSOF(ls); i++) {
#if MHD_VERSION >= 0x00097701
                uint64_t ms;

                /* No timeout means no connection: nothing needs to wake us. */
                if (!ls[i]->daemon || MHD_get_timeout64(ls[i]->daemon, &ms) != MHD_YES)
                        continue;
#else
                MHD_UNSIGNED_LONG_LONG ms;

                /* No timeout means no connection: nothing needs to wake us. (libmicrohttpd before
                 * 0.9.77 has no MHD_get_timeout64().) */
                if (!ls[i]->daemon || MHD_get_timeout(ls[i]->daemon, &ms) != MHD_YES)
                        continue;
#endif
                if (ms >= (USEC_INFINITY - 1) / USEC_PER_MSEC)
                        continue;
                t = MIN(t, (usec_t) ms * USEC_PER_MSEC);
        }
        return t;
}
