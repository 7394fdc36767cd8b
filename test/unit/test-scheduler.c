/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "certkeeperd-scheduler.h"
#include "tests.h"

TEST(order_and_update) {
        Scheduler *s = scheduler_new();
        int64_t id;

        ASSERT_NOT_NULL(s);
        ASSERT_EQ(scheduler_peek(s, NULL), 0);
        ASSERT_OK(scheduler_set(s, 3, 300));
        ASSERT_OK(scheduler_set(s, 1, 100));
        ASSERT_OK(scheduler_set(s, 2, 200));
        ASSERT_EQ(scheduler_size(s), 3);
        ASSERT_EQ(scheduler_peek(s, &id), 100);
        ASSERT_EQ(id, 1);

        /* Move 3 to the front, 1 to the back. */
        ASSERT_OK(scheduler_set(s, 3, 50));
        ASSERT_OK(scheduler_set(s, 1, 500));
        ASSERT_EQ(scheduler_size(s), 3);
        ASSERT_EQ(scheduler_pop_due(s, 49), 0);
        ASSERT_EQ(scheduler_pop_due(s, 1000), 3);
        ASSERT_EQ(scheduler_pop_due(s, 1000), 2);
        ASSERT_EQ(scheduler_pop_due(s, 1000), 1);
        ASSERT_EQ(scheduler_pop_due(s, 1000), 0);

        /* Removal, and at <= 0 meaning removal. */
        ASSERT_OK(scheduler_set(s, 7, 70));
        ASSERT_OK(scheduler_set(s, 8, 80));
        ASSERT_OK(scheduler_set(s, 7, 0));
        scheduler_remove(s, 99); /* unknown: no-op */
        ASSERT_EQ(scheduler_size(s), 1);
        ASSERT_EQ(scheduler_peek(s, &id), 80);
        ASSERT_EQ(id, 8);
        ASSERT_ERROR(scheduler_set(s, 0, 10), ERANGE);
        scheduler_free(s);
}

TEST(random_against_reference) {
        enum { N = 5000 };
        static int64_t ref[N + 1];
        Scheduler *s = scheduler_new();

        srand(42);
        for (int round = 0; round < 50000; round++) {
                int64_t id = 1 + rand() % N, at = rand() % 3 == 0 ? 0 : 1 + rand() % 100000;
                ASSERT_OK(scheduler_set(s, id, at));
                ref[id] = at;
                if (round % 7 == 0) {
                        scheduler_remove(s, id);
                        ref[id] = 0;
                }
        }
        /* Popping yields the reference's entries in time order. */
        int64_t last = 0;
        size_t n = 0;
        for (int64_t id; (id = scheduler_pop_due(s, INT64_MAX)) > 0; n++) {
                ASSERT_TRUE(ref[id] > 0);
                ASSERT_TRUE(ref[id] >= last);
                last = ref[id];
                ref[id] = -1;
        }
        for (int i = 1; i <= N; i++)
                ASSERT_TRUE(ref[i] <= 0);
        scheduler_free(s);
}

TEST_MAIN();
