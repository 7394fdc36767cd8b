/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "dynbuf.h"
#include "macro.h"

/* An incremental parser of a Server-Sent Events stream (the WHATWG "event stream" format): bytes
 * go in as they arrive, in pieces of any size; each event comes out once its blank line is seen.
 * Fields other than id, event and data are ignored, as are comments (": ..."). Lines and events
 * are capped: a longer one is an error (-E2BIG), not unbounded memory. */
typedef struct SseParser {
        DynBuf line;
        DynBuf data;
        char *id;         /* the last id seen (it carries over to later events, as the format says) */
        char *event;      /* of the event being read; NULL: "message" */
        bool has_data;
} SseParser;

/* cap: the largest line and the largest event's data, in bytes. */
void sse_parser_init(SseParser *p, size_t cap);
void sse_parser_done(SseParser *p);

/* Called for each event: id may be NULL, event is "message" unless named, data is the data lines
 * joined with '\n'. A negative return stops sse_parser_feed() with it. */
typedef int (*SseEventFunc)(const char *id, const char *event, const char *data, void *userdata);

/* Feeds bytes; calls f for each event they complete. -E2BIG for an over-long line or event, or what f
 * returned. */
int sse_parser_feed(SseParser *p, const char *buf, size_t len, SseEventFunc f, void *userdata) _warn_unused_result_;
