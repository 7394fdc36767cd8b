/* SPDX-License-Identifier: MIT */
#include "rate-window.h"
#include "tests.h"

TEST(parse) {
        unsigned n;
        int64_t w;

        ASSERT_OK(rate_window_parse("300/3h", &n, &w));
        ASSERT_EQ(n, 300);
        ASSERT_EQ(w, 3 * 3600);
        ASSERT_OK(rate_window_parse("2/8s", &n, &w));
        ASSERT_EQ(n, 2);
        ASSERT_EQ(w, 8);
        ASSERT_ERROR(rate_window_parse("300", &n, &w), EINVAL);
        ASSERT_ERROR(rate_window_parse("/3h", &n, &w), EINVAL);
        ASSERT_ERROR(rate_window_parse("0/3h", &n, &w), EINVAL);
        ASSERT_ERROR(rate_window_parse("-1/3h", &n, &w), EINVAL);
        ASSERT_ERROR(rate_window_parse("300/", &n, &w), EINVAL);
        ASSERT_ERROR(rate_window_parse("300/0s", &n, &w), EINVAL);
        ASSERT_ERROR(rate_window_parse("300/30d", &n, &w), EINVAL);
        ASSERT_ERROR(rate_window_parse("300/soon", &n, &w), EINVAL);
        ASSERT_ERROR(rate_window_parse("1000000/1h", &n, &w), EINVAL);
        ASSERT_ERROR(rate_window_parse(NULL, &n, &w), EINVAL);
}

TEST(take_within_and_after_the_window) {
        RateWindow w = {};
        int64_t at = 0;

        /* No limit: everything fits. */
        for (int i = 0; i < 1000; i++)
                ASSERT_OK(rate_window_take(&w, 100, &at));

        ASSERT_OK(rate_window_set(&w, 3, 60));
        ASSERT_OK(rate_window_take(&w, 1000, &at));
        ASSERT_OK(rate_window_take(&w, 1010, &at));
        ASSERT_OK(rate_window_take(&w, 1020, &at));
        /* The fourth waits for the first to leave the window. */
        ASSERT_ERROR(rate_window_take(&w, 1030, &at), EAGAIN);
        ASSERT_EQ(at, 1060);
        ASSERT_ERROR(rate_window_take(&w, 1059, &at), EAGAIN);
        ASSERT_EQ(at, 1060);
        ASSERT_OK(rate_window_take(&w, 1060, &at));
        /* Then the second's turn. */
        ASSERT_ERROR(rate_window_take(&w, 1061, &at), EAGAIN);
        ASSERT_EQ(at, 1070);
        /* Long after: all fit again, and the ring keeps turning. */
        for (int64_t t = 5000; t < 5000 + 3 * 20; t += 20)
                ASSERT_OK(rate_window_take(&w, t, &at));
        ASSERT_ERROR(rate_window_take(&w, 5045, &at), EAGAIN);
        ASSERT_EQ(at, 5060);
        rate_window_done(&w);
}

TEST(set_keeps_the_newest_events) {
        RateWindow w = {};
        int64_t at = 0;

        ASSERT_OK(rate_window_set(&w, 4, 100));
        for (int64_t t = 0; t < 4; t++)
                ASSERT_OK(rate_window_take(&w, t * 10, &at));
        /* A lower limit keeps the two newest (20, 30). */
        ASSERT_OK(rate_window_set(&w, 2, 100));
        ASSERT_ERROR(rate_window_take(&w, 50, &at), EAGAIN);
        ASSERT_EQ(at, 120);
        /* A higher limit keeps them and makes room. */
        ASSERT_OK(rate_window_set(&w, 3, 100));
        ASSERT_OK(rate_window_take(&w, 50, &at));
        ASSERT_ERROR(rate_window_take(&w, 60, &at), EAGAIN);
        ASSERT_EQ(at, 120);
        /* No limit frees everything. */
        ASSERT_OK(rate_window_set(&w, 0, 0));
        ASSERT_OK(rate_window_take(&w, 60, &at));
        rate_window_done(&w);
}

TEST_MAIN();
