/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "dynbuf.h"
#include "tests.h"

TEST(append) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(1024);

        ASSERT_OK(dynbuf_append(&b, "abc", 3));
        ASSERT_OK(dynbuf_append(&b, "", 0));
        ASSERT_OK(dynbuf_append(&b, "def", 3));
        ASSERT_EQ(b.len, 6);
        ASSERT_STREQ(b.data, "abcdef");
        ASSERT_TRUE(b.allocated >= b.len + 1);
}

TEST(cap) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(10);

        ASSERT_OK(dynbuf_append(&b, "12345", 5));
        ASSERT_ERROR(dynbuf_append(&b, "678901", 6), E2BIG);
        /* Unchanged on failure. */
        ASSERT_EQ(b.len, 5);
        ASSERT_STREQ(b.data, "12345");
        ASSERT_OK(dynbuf_append(&b, "67890", 5));
        ASSERT_EQ(b.len, 10);
        ASSERT_STREQ(b.data, "1234567890");
        ASSERT_ERROR(dynbuf_append(&b, "x", 1), E2BIG);
        ASSERT_ERROR(dynbuf_printf(&b, "%d", 1), E2BIG);
        /* Never allocates more than the cap needs. */
        ASSERT_TRUE(b.allocated <= 11);
}

TEST(cap_zero) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(0);
        _cleanup_free_ char *s = NULL;

        ASSERT_ERROR(dynbuf_append(&b, "x", 1), E2BIG);
        ASSERT_OK(dynbuf_append(&b, "", 0));
        s = dynbuf_steal(&b, NULL);
        ASSERT_STREQ(s, "");
}

TEST(huge_append_overflow) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT((size_t) -1);

        ASSERT_OK(dynbuf_append(&b, "ab", 2));
        /* len + huge would wrap around: must be refused, not wrapped. */
        ASSERT_ERROR(dynbuf_append(&b, "x", (size_t) -1), E2BIG);
        ASSERT_EQ(b.len, 2);
}

TEST(printf) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(64);

        ASSERT_OK(dynbuf_printf(&b, "%s=%d", "n", 42));
        ASSERT_OK(dynbuf_printf(&b, ";%05.1f", 2.25));
        ASSERT_STREQ(b.data, "n=42;002.2");
        ASSERT_EQ(b.len, strlen("n=42;002.2"));
        ASSERT_ERROR(dynbuf_printf(&b, "%060d", 0), E2BIG);
        ASSERT_STREQ(b.data, "n=42;002.2");
}

TEST(grow) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(100000);
        char chunk[777];

        memset(chunk, 'x', sizeof(chunk));
        for (int i = 0; i < 100; i++)
                ASSERT_OK(dynbuf_append(&b, chunk, sizeof(chunk)));
        ASSERT_EQ(b.len, 77700);
        ASSERT_EQ(strlen(b.data), 77700);
}

TEST(steal) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(100);
        _cleanup_free_ char *s = NULL, *e = NULL;
        size_t n = 0;

        ASSERT_OK(dynbuf_append(&b, "hello", 5));
        s = dynbuf_steal(&b, &n);
        ASSERT_STREQ(s, "hello");
        ASSERT_EQ(n, 5);
        ASSERT_NULL(b.data);
        ASSERT_EQ(b.len, 0);

        /* Reusable after stealing, still with its cap. */
        ASSERT_OK(dynbuf_append(&b, "again", 5));
        ASSERT_STREQ(b.data, "again");
        dynbuf_done(&b);
        e = dynbuf_steal(&b, &n);
        ASSERT_STREQ(e, "");
        ASSERT_EQ(n, 0);
}

TEST_MAIN();
