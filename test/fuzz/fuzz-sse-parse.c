/* SPDX-License-Identifier: MIT */
/* libFuzzer entry point for the Server-Sent Events parser (sse-parse.c), which reads the daemon's
 * event stream in 'certkeeper events --follow'. The first byte chooses how the rest is cut into
 * pieces, since bytes arrive in pieces of any size. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sse-parse.h"

#define CAP 4096U

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_event(const char *id, const char *event, const char *d, void *userdata) {
        size_t *n = userdata;

        if (!event || !d || strlen(d) > CAP || (id && strlen(id) > CAP))
                abort();
        (*n)++;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        SseParser p;
        size_t piece, events = 0;
        int r = 0;

        if (size < 1 || size > 256 * 1024)
                return 0;
        piece = (size_t) data[0] + 1;
        data++;
        size--;

        sse_parser_init(&p, CAP);
        while (size > 0 && r >= 0) {
                size_t n = piece < size ? piece : size;
                r = sse_parser_feed(&p, (const char *) data, n, on_event, &events);
                data += n;
                size -= n;
        }
        if (r < 0 && r != -E2BIG && r != -ENOMEM)
                abort();
        sse_parser_done(&p);
        return 0;
}
