/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <microhttpd.h>
#include <stdint.h>

#include "macro.h"
#include "store.h"
#include "time-util.h"

/* The live stream of lifecycle events, GET /api/v1/events/stream (Server-Sent Events, docs/API.md).
 * The events table is each follower's queue: a follower holds at most one batch of formatted
 * events (STREAM_BUFFER_MAX bytes), read from the table after its cursor once it has taken the
 * previous batch, so a slow or vanished client costs no more memory than a fast one. Between
 * events its connection is suspended; it is resumed when a commit adds events and at each
 * keep-alive. Only committed events are sent. */
typedef struct ApiStreams ApiStreams;

int api_streams_new(Store *store, usec_t keepalive, ApiStreams **ret) _warn_unused_result_;
/* Ends every stream (their connections are resumed to close); the structure itself goes once the
 * HTTP daemons are stopped: api_streams_free(). */
void api_streams_close_all(ApiStreams *s);
ApiStreams *api_streams_free(ApiStreams *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(ApiStreams *, api_streams_free);

unsigned api_streams_count(const ApiStreams *s);

/* Queues the answer that starts a stream on c: events of f (its since, event_id and cert_id) with
 * ids after cursor, then the live ones. cursor < 0: only events committed from now on. */
enum MHD_Result api_streams_open(ApiStreams *s, struct MHD_Connection *c, const EventFilter *f, int64_t cursor);

/* After a commit: the followers behind the newest event are resumed. Call api_process() after it. */
void api_streams_committed(ApiStreams *s);
/* Keep-alives and stalled followers; call before the HTTP daemons run. */
void api_streams_tick(ApiStreams *s, usec_t now);
/* Time until api_streams_tick() must run, USEC_INFINITY if no stream is open. */
usec_t api_streams_timeout(const ApiStreams *s, usec_t now);

/* An event as the API shows it: {"id", "at", "event_id", "event", "cert_id", "nickname", "payload"}. */
json_t *api_event_json(const EventRecord *e);
