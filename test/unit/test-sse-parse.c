/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sse-parse.h"
#include "tests.h"

typedef struct Seen {
        char log[1024];
        unsigned n;
} Seen;

static int record(const char *id, const char *event, const char *data, void *userdata) {
        Seen *s = userdata;
        size_t len = strlen(s->log);

        (void) snprintf(s->log + len, sizeof(s->log) - len, "[%s|%s|%s]", id ?: "-", event, data);
        s->n++;
        return 0;
}

static int stop(const char *id, const char *event, const char *data, void *userdata) {
        return -ECANCELED;
}

static const char stream[] = "retry: 2000\n: certkeeper events\n\n"
                             "id: 1\nevent: installed\ndata: {\"id\":1}\n\n"
                             ": keep-alive\n\n"
                             "id: 2\r\nevent: replaced\r\ndata: a\r\ndata:b\r\n\r\n"
                             "data: no id line\n\n"
                             "id: 3\nevent: x\n\n"
                             "id: 4\ndata: half";

static const char expected[] = "[1|installed|{\"id\":1}][2|replaced|a\nb][2|message|no id line]";

TEST(whole) {
        SseParser p;
        Seen s = {};

        sse_parser_init(&p, 1024);
        ASSERT_OK(sse_parser_feed(&p, stream, strlen(stream), record, &s));
        /* The event without data is none; the last one has not ended. */
        ASSERT_EQ(s.n, 3);
        ASSERT_STREQ(s.log, expected);
        ASSERT_STREQ(p.id, "4");
        sse_parser_done(&p);
}

TEST(byte_by_byte) {
        SseParser p;
        Seen s = {};

        sse_parser_init(&p, 1024);
        for (size_t i = 0; i < strlen(stream); i++)
                ASSERT_OK(sse_parser_feed(&p, stream + i, 1, record, &s));
        ASSERT_STREQ(s.log, expected);
        sse_parser_done(&p);
}

TEST(caps) {
        SseParser p;
        Seen s = {};
        char line[64];

        sse_parser_init(&p, 16);
        memset(line, 'x', sizeof(line));
        ASSERT_ERROR(sse_parser_feed(&p, line, sizeof(line), record, &s), E2BIG);
        sse_parser_done(&p);

        /* Data lines that each fit but together do not. */
        sse_parser_init(&p, 16);
        ASSERT_ERROR(sse_parser_feed(&p, "data: 0123456789\ndata: 0123456789\n\n", 36, record, &s), E2BIG);
        ASSERT_EQ(s.n, 0);
        sse_parser_done(&p);
}

TEST(callback_stops) {
        SseParser p;

        sse_parser_init(&p, 1024);
        ASSERT_ERROR(sse_parser_feed(&p, "data: x\n\ndata: y\n\n", 18, stop, NULL), ECANCELED);
        sse_parser_done(&p);
}

TEST_MAIN();
