/* SPDX-License-Identifier: MIT */
/* GET /api/v1/events/stream: lifecycle events as Server-Sent Events (docs/API.md). Runs inside the
 * API's libmicrohttpd daemons, in the manager's loop: nothing here blocks, and a follower with
 * nothing to send is a suspended connection that costs nothing until it is resumed. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cert-event.h"
#include "certkeeperd-api-stream.h"
#include "dynbuf.h"
#include "log.h"

/* One batch of formatted events, read from the table once the previous one was taken. */
#define STREAM_BUFFER_MAX (256U * 1024U)
/* Events read from the table per batch. */
#define STREAM_BATCH 64U
/* libmicrohttpd's block size for the reader. */
#define STREAM_BLOCK 4096U
/* The kernel's send buffer of a follower's socket (it doubles it): what a client that does not
 * read holds in the kernel, instead of the megabytes TCP autotuning allows. */
#define STREAM_SNDBUF (16 * 1024)

typedef struct ApiStream ApiStream;

struct ApiStreams {
        Store *store;
        ApiStream *list;
        unsigned n;
        int64_t committed_last; /* the newest committed event, as of the last commit */
        usec_t keepalive;
        usec_t next_tick;       /* 0: no stream, no tick */
};

struct ApiStream {
        ApiStreams *hub;
        struct MHD_Connection *connection;
        EventFilter filter;      /* since, event_id, cert_id */
        int64_t cursor;          /* the last event read from the table */
        DynBuf out;              /* formatted, not yet taken by libmicrohttpd */
        size_t taken;            /* of out */
        uint64_t sent;           /* bytes taken since the start */
        uint64_t sent_at_tick;   /* at the last keep-alive, to see a follower that takes nothing */
        bool pending_at_tick;    /* bytes were waiting at the last keep-alive */
        bool suspended;
        bool keepalive_due;
        bool closing;            /* send what is in out, then end */
        ApiStream *prev, *next;
};

json_t *api_event_json(const EventRecord *e) {
        json_t *payload = e->payload_json ? json_loads(e->payload_json, 0, NULL) : NULL;

        return json_pack("{s:I, s:I, s:i, s:s?, s:I, s:s?, s:o?}", "id", (json_int_t) e->id, "at", (json_int_t) e->at,
                         "event_id", e->event_id, "event", cert_event_to_string((CertEventId) e->event_id), "cert_id",
                         (json_int_t) e->cert_id, "nickname", e->nickname, "payload", payload);
}

int api_streams_new(Store *store, usec_t keepalive, ApiStreams **ret) {
        ApiStreams *s;

        if (!store || keepalive == 0 || !ret)
                return -EINVAL;
        s = calloc(1, sizeof(ApiStreams));
        if (!s)
                return -ENOMEM;
        s->store = store;
        s->keepalive = keepalive;
        /* Until the first commit tells. */
        if (store_event_last_id(store, &s->committed_last) < 0)
                s->committed_last = 0;
        *ret = s;
        return 0;
}

static void stream_resume(ApiStream *st) {
        if (!st->suspended)
                return;
        st->suspended = false;
        MHD_resume_connection(st->connection);
}

void api_streams_close_all(ApiStreams *s) {
        if (!s)
                return;
        for (ApiStream *st = s->list; st; st = st->next) {
                st->closing = true;
                stream_resume(st);
        }
}

ApiStreams *api_streams_free(ApiStreams *s) {
        if (!s)
                return NULL;
        /* Streams still listed belong to connections libmicrohttpd has not closed: detach them. */
        for (ApiStream *st = s->list; st; st = st->next)
                st->hub = NULL;
        free(s);
        return NULL;
}

unsigned api_streams_count(const ApiStreams *s) {
        return s ? s->n : 0;
}

static void stream_free(void *cls) {
        ApiStream *st = cls;
        ApiStreams *s = st->hub;

        if (s) {
                if (st->prev)
                        st->prev->next = st->next;
                else
                        s->list = st->next;
                if (st->next)
                        st->next->prev = st->prev;
                s->n--;
                if (s->n == 0)
                        s->next_tick = 0;
        }
        dynbuf_done(&st->out);
        free(st);
}

typedef struct FillContext {
        ApiStream *stream;
        int64_t last_seen;
        unsigned rows;
} FillContext;

static int fill_one(const EventRecord *e, void *userdata) {
        FillContext *ctx = userdata;
        ApiStream *st = ctx->stream;
        _cleanup_free_ char *data = NULL;
        json_auto_t *o = NULL;
        const char *name;

        /* Written in the transaction under way: not committed yet. */
        if (e->id > st->hub->committed_last)
                return -ECANCELED;
        ctx->rows++;
        o = api_event_json(e);
        data = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (!data)
                return -ENOMEM;
        name = cert_event_to_string((CertEventId) e->event_id);
        /* The batch is full: the rest is read when this one was taken (one event always fits). */
        if (st->out.len > 0 && st->out.len + strlen(data) + 64 > STREAM_BUFFER_MAX)
                return -ENOBUFS;
        if (dynbuf_printf(&st->out, "id: %" PRIi64 "\nevent: %s\ndata: %s\n\n", e->id, name ?: "unknown", data) < 0) {
                if (st->out.len > 0)
                        return -ENOBUFS;
                log_warning("API: event %" PRIi64 " is too large for the event stream, skipped.", e->id);
        }
        ctx->last_seen = e->id;
        return 0;
}

/* Reads the next batch of events after the cursor into the (empty) buffer. */
static int stream_fill(ApiStream *st) {
        FillContext ctx = { .stream = st, .last_seen = st->cursor };
        EventFilter f = st->filter;
        int r;

        if (st->cursor >= st->hub->committed_last)
                return 0;
        f.after_id = st->cursor;
        f.oldest_first = true;
        f.limit = STREAM_BATCH;
        r = store_event_foreach(st->hub->store, &f, fill_one, &ctx);
        if (r < 0 && r != -ECANCELED && r != -ENOBUFS)
                return r;
        if (r == 0 && ctx.rows < STREAM_BATCH)
                /* Every event up to the last commit was looked at: those left do not match. */
                st->cursor = st->hub->committed_last;
        else
                st->cursor = ctx.last_seen;
        return 0;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
        ApiStream *st = cls;
        size_t n;
        int r;

        if (st->taken >= st->out.len) {
                st->out.len = st->taken = 0;
                if (st->closing || !st->hub)
                        return MHD_CONTENT_READER_END_OF_STREAM;
                r = stream_fill(st);
                if (r < 0) {
                        log_warning_errno(r, "Failed to read events for a stream follower, closing it: %m");
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                }
                if (st->out.len == 0 && st->keepalive_due &&
                    dynbuf_printf(&st->out, ": keep-alive\n\n") < 0)
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                st->keepalive_due = false;
                if (st->out.len == 0) {
                        /* Nothing to send: resumed by the next commit or keep-alive. */
                        st->suspended = true;
                        MHD_suspend_connection(st->connection);
                        return 0;
                }
        }

        n = MIN(max, st->out.len - st->taken);
        memcpy(buf, st->out.data + st->taken, n);
        st->taken += n;
        st->sent += n;
        return (ssize_t) n;
}

enum MHD_Result api_streams_open(ApiStreams *s, struct MHD_Connection *c, const EventFilter *f, int64_t cursor) {
        const union MHD_ConnectionInfo *ci;
        struct MHD_Response *resp;
        enum MHD_Result m;
        ApiStream *st;

        st = calloc(1, sizeof(ApiStream));
        if (!st)
                return MHD_NO;
        *st = (ApiStream) {
                .hub = s,
                .connection = c,
                .filter = { .since = f->since, .event_id = f->event_id, .cert_id = f->cert_id },
                .cursor = cursor < 0 ? s->committed_last : cursor,
                .out = DYNBUF_INIT(STREAM_BUFFER_MAX),
        };
        /* How long a client waits before it reconnects, and a first line that shows the stream is on. */
        if (dynbuf_printf(&st->out, "retry: 2000\n: certkeeper events\n\n") < 0) {
                free(st);
                return MHD_NO;
        }

        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_read, st, stream_free);
        if (!resp) {
                dynbuf_done(&st->out);
                free(st);
                return MHD_NO;
        }
        st->next = s->list;
        if (s->list)
                s->list->prev = st;
        s->list = st;
        s->n++;
        if (s->next_tick == 0)
                s->next_tick = now_usec(CLOCK_MONOTONIC) + s->keepalive;

        if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream") != MHD_YES ||
            MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES) {
                MHD_destroy_response(resp);
                return MHD_NO;
        }
        ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci)
                (void) setsockopt(ci->connect_fd, SOL_SOCKET, SO_SNDBUF, &(int) { STREAM_SNDBUF }, sizeof(int));
        m = MHD_queue_response(c, MHD_HTTP_OK, resp);
        MHD_destroy_response(resp); /* the connection holds it; stream_free() runs when it is done */
        return m;
}

void api_streams_committed(ApiStreams *s) {
        int64_t last;

        if (!s || store_event_last_id(s->store, &last) < 0)
                return;
        s->committed_last = last;
        for (ApiStream *st = s->list; st; st = st->next)
                if (st->cursor < last)
                        stream_resume(st);
}

void api_streams_tick(ApiStreams *s, usec_t now) {
        if (!s || s->next_tick == 0 || now < s->next_tick)
                return;
        s->next_tick = now + s->keepalive;

        for (ApiStream *st = s->list; st; st = st->next) {
                bool pending = st->taken < st->out.len;

                if (st->closing)
                        continue;
                if (pending && st->pending_at_tick && st->sent == st->sent_at_tick) {
                        /* It took nothing for a whole keep-alive period: it does not read. Drop
                         * it with a last word; its connection's timeout closes it if it never reads. */
                        st->out.len = st->taken = 0;
                        if (dynbuf_printf(&st->out, ": closing: the client does not keep up; reconnect with "
                                                    "Last-Event-ID\n\n") < 0)
                                st->out.len = 0;
                        st->closing = true;
                        log_info("API: closing an event stream whose client does not read.");
                        continue;
                }
                st->pending_at_tick = pending;
                st->sent_at_tick = st->sent;
                st->keepalive_due = true;
                stream_resume(st);
        }
}

usec_t api_streams_timeout(const ApiStreams *s, usec_t now) {
        if (!s || s->next_tick == 0)
                return USEC_INFINITY;
        return s->next_tick > now ? s->next_tick - now : 0;
}
