/* SPDX-License-Identifier: MIT */
#include "renew-policy.h"
#include "tests.h"

#define DAY 86400LL

TEST(default_rule) {
        int64_t t;

        /* 90 days: renew with 30 days (1/3) left; no jitter drawn. */
        ASSERT_OK(renew_time(0, 90 * DAY, NULL, 0.0, &t));
        ASSERT_EQ(t, 60 * DAY);
        /* Exactly 10 days is not "under 10 days". */
        ASSERT_OK(renew_time(0, 10 * DAY, NULL, 0.0, &t));
        ASSERT_EQ(t, 10 * DAY - 10 * DAY / 3);
        /* 6 days: half. */
        ASSERT_OK(renew_time(1000, 1000 + 6 * DAY, NULL, 0.0, &t));
        ASSERT_EQ(t, 1000 + 3 * DAY);
        /* One minute: half. */
        ASSERT_OK(renew_time(100, 160, "", 0.0, &t));
        ASSERT_EQ(t, 130);
}

TEST(jitter_is_bounded) {
        int64_t t0, t1;

        /* 2% of the lifetime, at most one hour. */
        ASSERT_OK(renew_time(0, 90 * DAY, NULL, 0.0, &t0));
        ASSERT_OK(renew_time(0, 90 * DAY, NULL, 0.999999, &t1));
        ASSERT_TRUE(t0 - t1 <= 3600);
        ASSERT_TRUE(t0 - t1 >= 3599);
        ASSERT_OK(renew_time(0, 1000, NULL, 0.999999, &t1));
        ASSERT_TRUE(500 - t1 <= 20);
        ASSERT_ERROR(renew_time(0, 1000, NULL, 1.0, &t1), EINVAL);
        ASSERT_ERROR(renew_time(0, 1000, NULL, -0.1, &t1), EINVAL);
}

TEST(overrides) {
        int64_t t;

        ASSERT_OK(renew_time(0, 90 * DAY, "14d", 0.0, &t));
        ASSERT_EQ(t, 76 * DAY);
        ASSERT_OK(renew_time(0, 100 * DAY, "25%", 0.0, &t));
        ASSERT_EQ(t, 75 * DAY);
        ASSERT_OK(renew_time(0, 90 * DAY, "12h", 0.0, &t));
        ASSERT_EQ(t, 90 * DAY - DAY / 2);
        /* Longer than the lifetime: never before notBefore. */
        ASSERT_OK(renew_time(500, 1000, "1d", 0.0, &t));
        ASSERT_EQ(t, 500);
        ASSERT_ERROR(renew_time(0, 0, NULL, 0.0, &t), EINVAL);
}

TEST(override_check) {
        char *err = NULL;

        ASSERT_OK(renew_before_check(NULL, NULL));
        ASSERT_OK(renew_before_check("30d", NULL));
        ASSERT_OK(renew_before_check("1%", NULL));
        ASSERT_OK(renew_before_check("99%", NULL));
        ASSERT_ERROR(renew_before_check("0%", NULL), EINVAL);
        ASSERT_ERROR(renew_before_check("100%", NULL), EINVAL);
        ASSERT_ERROR(renew_before_check("abc", NULL), EINVAL);
        ASSERT_ERROR(renew_before_check("-5d", &err), EINVAL);
        ASSERT_NOT_NULL(err);
        ASSERT_TRUE(strstr(err, "-5d") != NULL);
        free(err);
}

TEST(ari_draw_within_window) {
        const int64_t start = 1000 * DAY, end = start + 2 * DAY;
        int64_t t;

        /* Uniform over the window: the ends of the fraction land on its ends. */
        ASSERT_OK(ari_renew_time(start, end, 0, 0, 0, 0.0, &t));
        ASSERT_EQ(t, start);
        ASSERT_OK(ari_renew_time(start, end, 0, 0, 0, 0.5, &t));
        ASSERT_EQ(t, start + DAY);
        ASSERT_OK(ari_renew_time(start, end, 0, 0, 0, 0.9999999999, &t));
        ASSERT_EQ(t, end);
        /* A one-second window. */
        ASSERT_OK(ari_renew_time(start, start, 0, 0, 0, 0.7, &t));
        ASSERT_EQ(t, start);
        ASSERT_ERROR(ari_renew_time(start, start - 1, 0, 0, 0, 0.5, &t), EINVAL);
        ASSERT_ERROR(ari_renew_time(0, end, 0, 0, 0, 0.5, &t), EINVAL);
        ASSERT_ERROR(ari_renew_time(start, end, 0, 0, 0, 1.0, &t), EINVAL);
}

TEST(ari_drawn_once_per_window) {
        const int64_t start = 1000 * DAY, end = start + 2 * DAY;
        int64_t t, t2;

        /* First answer: drawn (the lifetime rule's time is replaced). */
        ASSERT_TRUE(ari_window_changed(start, end, 0, 0));
        ASSERT_OK(ari_renew_time(start, end, 0, 0, 900 * DAY, 0.25, &t));
        ASSERT_EQ(t, start + DAY / 2);
        /* The same window again, whatever the new draw would be: kept. */
        ASSERT_FALSE(ari_window_changed(start, end, start, end));
        ASSERT_OK(ari_renew_time(start, end, start, end, t, 0.9, &t2));
        ASSERT_EQ(t2, t);
        /* A changed window (the CA moved it, e.g. before a revocation): drawn again inside it. */
        ASSERT_TRUE(ari_window_changed(start - 10 * DAY, start - 9 * DAY, start, end));
        ASSERT_OK(ari_renew_time(start - 10 * DAY, start - 9 * DAY, start, end, t, 0.5, &t2));
        ASSERT_EQ(t2, start - 10 * DAY + DAY / 2);
        /* The same window but a time outside it (set by something else): drawn again. */
        ASSERT_OK(ari_renew_time(start, end, start, end, end + 5, 0.0, &t2));
        ASSERT_EQ(t2, start);
}

TEST(ari_window_in_the_past_is_due_now) {
        const int64_t now = 2000 * DAY;
        int64_t t;

        /* Whatever is drawn lies before now, so the certificate is due at once. */
        ASSERT_OK(ari_renew_time(now - 3 * DAY, now - 2 * DAY, 0, 0, 0, 0.9999, &t));
        ASSERT_TRUE(t <= now);
}

TEST(ari_next_check) {
        const int64_t now = 5000;

        /* Twice a day without Retry-After; an hour after a failure. */
        ASSERT_EQ(ari_next_check(now, 0, ARI_CHECK_INTERVAL), now + 12 * 3600);
        ASSERT_EQ(ari_next_check(now, 0, ARI_RETRY_INTERVAL), now + 3600);
        /* Retry-After sooner: honoured; later than 12 h: capped; tiny: raised to a minute. */
        ASSERT_EQ(ari_next_check(now, 600, ARI_CHECK_INTERVAL), now + 600);
        ASSERT_EQ(ari_next_check(now, 7 * 86400, ARI_CHECK_INTERVAL), now + 12 * 3600);
        ASSERT_EQ(ari_next_check(now, 1, ARI_CHECK_INTERVAL), now + 60);
        ASSERT_EQ(ari_next_check(now, -5, ARI_CHECK_INTERVAL), now + 12 * 3600);
}

TEST(backoff) {
        ASSERT_EQ(retry_delay(1, RETRY_DELAY_DEFAULT), 60);
        ASSERT_EQ(retry_delay(2, RETRY_DELAY_DEFAULT), 600);
        ASSERT_EQ(retry_delay(3, RETRY_DELAY_DEFAULT), 6000);
        ASSERT_EQ(retry_delay(4, RETRY_DELAY_DEFAULT), 86400);
        ASSERT_EQ(retry_delay(40, RETRY_DELAY_DEFAULT), 86400);
        ASSERT_EQ(retry_delay(0, RETRY_DELAY_DEFAULT), 60);
        ASSERT_EQ(retry_delay(1, 2), 2);
        ASSERT_EQ(retry_delay(2, 2), 20);
        ASSERT_EQ(retry_delay(3, 2), 200);
        ASSERT_EQ(retry_delay(4, 2), 86400);
        ASSERT_EQ(retry_delay(3, 3600), 86400);
}

TEST(notices) {
        const int64_t ttls[] = { 28 * DAY, 7 * DAY, 1 * DAY };
        int64_t na = 100 * DAY;

        /* Never notified: the first threshold. */
        ASSERT_EQ(notice_next(na, 0, ttls, 3), na - 28 * DAY);
        /* Notified at the 28-day mark: next is 7 days. */
        ASSERT_EQ(notice_next(na, na - 28 * DAY, ttls, 3), na - 7 * DAY);
        ASSERT_EQ(notice_next(na, na - 2 * DAY, ttls, 3), na - 1 * DAY);
        /* After the last threshold: the expiry itself. */
        ASSERT_EQ(notice_next(na, na - DAY, ttls, 3), na);
        /* After expiry: nothing more. */
        ASSERT_EQ(notice_next(na, na, ttls, 3), 0);
        /* No thresholds: only the expiry. */
        ASSERT_EQ(notice_next(na, 0, NULL, 0), na);
}

TEST_MAIN();
