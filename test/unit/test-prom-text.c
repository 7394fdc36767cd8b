/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "prom-text.h"
#include "tests.h"

TEST(family) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(1024);

        ASSERT_OK(prom_text_family(&b, "certkeeper_workers", "gauge", "Helper workers, \\ and\nmore \"x\"."));
        ASSERT_STREQ(b.data, "# HELP certkeeper_workers Helper workers, \\\\ and\\nmore \"x\".\n"
                             "# TYPE certkeeper_workers gauge\n");
        ASSERT_ERROR(prom_text_family(&b, "x", NULL, "help"), EINVAL);
}

TEST(sample_without_labels) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(1024);

        ASSERT_OK(prom_text_sample(&b, "certkeeper_workers", NULL, 4));
        ASSERT_OK(prom_text_sample(&b, "certkeeper_workers_busy", (const char *const[]) { NULL }, -1));
        ASSERT_OK(prom_text_sample(&b, "big", NULL, INT64_MAX));
        ASSERT_STREQ(b.data, "certkeeper_workers 4\ncertkeeper_workers_busy -1\nbig 9223372036854775807\n");
}

TEST(sample_labels_escaped) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(1024);

        ASSERT_OK(prom_text_sample(&b, "m", (const char *const[]) { "id", "7", "nickname", "a\"b\\c\nd", "ca", NULL, NULL },
                                   1790000060));
        ASSERT_STREQ(b.data, "m{id=\"7\",nickname=\"a\\\"b\\\\c\\nd\",ca=\"\"} 1790000060\n");
}

TEST(sample_plain_and_only_specials) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(1024);

        ASSERT_OK(prom_text_sample(&b, "m", (const char *const[]) { "a", "\\\"\n", "b", "été", NULL }, 0));
        ASSERT_STREQ(b.data, "m{a=\"\\\\\\\"\\n\",b=\"été\"} 0\n");
}

/* A full buffer is an error, and the caller's buffer never holds more than its cap. */
TEST(cap) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(16);

        ASSERT_ERROR(prom_text_sample(&b, "certkeeper_workers", NULL, 1), E2BIG);
        ASSERT_TRUE(b.len <= 16);
        ASSERT_ERROR(prom_text_sample(&b, "m", (const char *const[]) { "nickname", "0123456789abcdef", NULL }, 1),
                     E2BIG);
}

TEST_MAIN()
