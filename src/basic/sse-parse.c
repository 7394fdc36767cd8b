/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sse-parse.h"

void sse_parser_init(SseParser *p, size_t cap) {
        *p = (SseParser) { .line = DYNBUF_INIT(cap), .data = DYNBUF_INIT(cap) };
}

void sse_parser_done(SseParser *p) {
        dynbuf_done(&p->line);
        dynbuf_done(&p->data);
        p->id = mfree(p->id);
        p->event = mfree(p->event);
        p->has_data = false;
}

static int dispatch(SseParser *p, SseEventFunc f, void *userdata) {
        int r = 0;

        if (p->has_data)
                r = f(p->id, p->event ?: "message", p->data.data ?: "", userdata);
        p->data.len = 0;
        if (p->data.data)
                p->data.data[0] = '\0';
        p->has_data = false;
        p->event = mfree(p->event);
        return r;
}

/* One line, without its end. */
static int line_process(SseParser *p, char *line, size_t len, SseEventFunc f, void *userdata) {
        const char *value = "";
        char *colon;
        int r;

        if (len == 0)
                return dispatch(p, f, userdata);
        if (line[0] == ':')
                return 0; /* a comment */

        colon = memchr(line, ':', len);
        if (colon) {
                *colon = '\0';
                value = colon + 1;
                if (*value == ' ')
                        value++;
        }
        if (strlen(line) != (colon ? (size_t) (colon - line) : len))
                return 0; /* a NUL in the field name: not a field we know */

        if (strcmp(line, "data") == 0) {
                if (p->has_data) {
                        r = dynbuf_append(&p->data, "\n", 1);
                        if (r < 0)
                                return r;
                }
                r = dynbuf_append(&p->data, value, strlen(value));
                if (r < 0)
                        return r;
                p->has_data = true;
        } else if (strcmp(line, "event") == 0) {
                char *s = strdup(value);
                if (!s)
                        return -ENOMEM;
                free(p->event);
                p->event = s;
        } else if (strcmp(line, "id") == 0) {
                char *s = strdup(value);
                if (!s)
                        return -ENOMEM;
                free(p->id);
                p->id = s;
        }
        return 0;
}

int sse_parser_feed(SseParser *p, const char *buf, size_t len, SseEventFunc f, void *userdata) {
        while (len > 0) {
                const char *nl = memchr(buf, '\n', len);
                size_t n = nl ? (size_t) (nl - buf) : len;
                int r;

                r = dynbuf_append(&p->line, buf, n);
                if (r < 0)
                        return r;
                buf += n;
                len -= n;
                if (!nl)
                        break;
                buf++;
                len--;

                n = p->line.len;
                if (n > 0 && p->line.data[n - 1] == '\r')
                        n--;
                if (p->line.data)
                        p->line.data[n] = '\0';
                r = line_process(p, p->line.data ?: (char[]) { "" }, n, f, userdata);
                p->line.len = 0;
                if (r < 0)
                        return r;
        }
        return 0;
}
