/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests.h"
#include "time-util.h"

TEST(now) {
        usec_t a, b;
        struct timespec ts = { .tv_nsec = 20 * 1000 * 1000 };

        a = now_usec(CLOCK_MONOTONIC);
        nanosleep(&ts, NULL);
        b = now_usec(CLOCK_MONOTONIC);
        ASSERT_TRUE(b >= a + 20 * USEC_PER_MSEC);
        ASSERT_TRUE(b < a + 5 * USEC_PER_SEC);

        /* Realtime agrees with time(). */
        ASSERT_TRUE(llabs((long long) (now_usec(CLOCK_REALTIME) / USEC_PER_SEC) - (long long) time(NULL)) <= 1);
}

TEST(format_getcert) {
        char buf[64];

        ASSERT_OK(format_timestamp_getcert(1795341600, true, buf, sizeof(buf)));
        ASSERT_STREQ(buf, "2026-11-22 10:00:00 UTC");
        ASSERT_OK(format_timestamp_getcert(0, true, buf, sizeof(buf)));
        ASSERT_STREQ(buf, "1970-01-01 00:00:00 UTC");

        /* Local time follows TZ. */
        ASSERT_TRUE(setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1) == 0);
        ASSERT_OK(format_timestamp_getcert(1795341600, false, buf, sizeof(buf)));
        ASSERT_STREQ(buf, "2026-11-22 11:00:00 CET");
        ASSERT_OK(format_timestamp_getcert(1784714400, false, buf, sizeof(buf))); /* 2026-07-22 10:00 UTC */
        ASSERT_STREQ(buf, "2026-07-22 12:00:00 CEST");
        ASSERT_TRUE(setenv("TZ", "UTC0", 1) == 0);
        ASSERT_OK(format_timestamp_getcert(1795341600, false, buf, sizeof(buf)));
        ASSERT_STREQ(buf, "2026-11-22 10:00:00 UTC");
        ASSERT_TRUE(unsetenv("TZ") == 0);

        ASSERT_ERROR(format_timestamp_getcert(0, true, buf, 10), ENOBUFS);
}

TEST(format_rfc3339) {
        char buf[32];

        ASSERT_OK(format_timestamp_rfc3339(1795341600, buf, sizeof(buf)));
        ASSERT_STREQ(buf, "2026-11-22T10:00:00Z");
        ASSERT_OK(format_timestamp_rfc3339(951782400, buf, sizeof(buf)));
        ASSERT_STREQ(buf, "2000-02-29T00:00:00Z");
        ASSERT_ERROR(format_timestamp_rfc3339(0, buf, 20), ENOBUFS);
        ASSERT_ERROR(format_timestamp_rfc3339(INT64_C(400000000000), buf, sizeof(buf)), ERANGE);
}

static int64_t parse(const char *s) {
        int64_t t = -1;

        ASSERT_OK(parse_timestamp_rfc3339(s, &t));
        return t;
}

TEST(parse_rfc3339) {
        int64_t t = 5;

        ASSERT_EQ(parse("2026-11-22T10:00:00Z"), 1795341600);
        ASSERT_EQ(parse("2026-11-22t10:00:00z"), 1795341600);
        ASSERT_EQ(parse("2026-11-22 10:00:00Z"), 1795341600);
        ASSERT_EQ(parse("2026-11-22T10:00:00.123456789Z"), 1795341600);
        ASSERT_EQ(parse("2026-11-22T12:30:00+02:30"), 1795341600);
        ASSERT_EQ(parse("2026-11-22T05:00:00-05:00"), 1795341600);
        ASSERT_EQ(parse("2026-11-22T10:00:00.5+00:00"), 1795341600);
        ASSERT_EQ(parse("1970-01-01T00:00:00Z"), 0);
        ASSERT_EQ(parse("1969-12-31T23:59:59Z"), -1);
        ASSERT_EQ(parse("2000-02-29T00:00:00Z"), 951782400);
        ASSERT_EQ(parse("2016-12-31T23:59:60Z"), 1483228800);

        /* Round trip over a range of times. */
        for (int64_t x = -86400 * 400; x < INT64_C(4102444800); x += 86400 * 37 + 3601) {
                char buf[32];

                ASSERT_OK(format_timestamp_rfc3339(x, buf, sizeof(buf)));
                ASSERT_EQ(parse(buf), x);
        }

        ASSERT_ERROR(parse_timestamp_rfc3339("", &t), EINVAL);
        ASSERT_ERROR(parse_timestamp_rfc3339("2026-11-22", &t), EINVAL);
        ASSERT_ERROR(parse_timestamp_rfc3339("2026-11-22T10:00:00", &t), EINVAL);
        ASSERT_ERROR(parse_timestamp_rfc3339("2026-11-22T10:00Z", &t), EINVAL);
        ASSERT_ERROR(parse_timestamp_rfc3339("2026-13-22T10:00:00Z", &t), EINVAL);
        ASSERT_ERROR(parse_timestamp_rfc3339("2026-02-29T10:00:00Z", &t), EINVAL);
        ASSERT_ERROR(parse_timestamp_rfc3339("2026-11-22T24:00:00Z", &t), EINVAL);
        ASSERT_ERROR(parse_timestamp_rfc3339("2026-11-22T10:00:00.Z", &t), EINVAL);
        ASSERT_ERROR(parse_timestamp_rfc3339("2026-11-22T10:00:00+0200", &t), EINVAL);
        ASSERT_ERROR(parse_timestamp_rfc3339("2026-11-22T10:00:00Zjunk", &t), EINVAL);
        ASSERT_ERROR(parse_timestamp_rfc3339(" 2026-11-22T10:00:00Z", &t), EINVAL);
        ASSERT_ERROR(parse_timestamp_rfc3339("2026-1-22T10:00:00Z", &t), EINVAL);
        ASSERT_EQ(t, 5);
}

TEST_MAIN();
