/* SPDX-License-Identifier: MIT */
/* The file watch of certkeeperd-watch.c (FileWatch): renames, writes in place, deletions and
 * directories that go away, matched by name; the settle delay; the busy flag; a report forgotten. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certkeeperd-manager-private.h"
#include "certkeeperd-watch.h"
#include "string-util.h"
#include "tests.h"

/* The manager's side of certkeeperd-watch.c is not run here. */
bool manager_in_flight(Manager *m, int64_t id) {
        return false;
}
int manager_tx_begin(Manager *m) {
        return 0;
}
int manager_schedule(Manager *m, int64_t id, int64_t at) {
        return 0;
}

#define SETTLE (100U * USEC_PER_MSEC)

static char dir[] = "/tmp/test-watch-XXXXXX";

static char *path(const char *name) {
        char *p = strjoin(dir, "/", name);
        ASSERT_NOT_NULL(p);
        return p;
}

static void write_file(const char *name, const char *text) {
        _cleanup_free_ char *p = path(name);
        FILE *f = fopen(p, "w");

        ASSERT_NOT_NULL(f);
        ASSERT_TRUE(fputs(text, f) >= 0);
        ASSERT_TRUE(fclose(f) == 0);
}

static bool busy_two(int64_t owner, void *userdata) {
        return owner == 2;
}

/* Reads the notifications, then returns the owners due once the settle delay passed, or'ed into
 * a mask (1 << owner), and their flags in *ret_flags (or'ed). */
static unsigned settle(FileWatch *w, unsigned *ret_flags) {
        _cleanup_free_ FileWatchDue *due = NULL;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        unsigned mask = 0, flags = 0;
        size_t n = 0;

        ASSERT_OK(file_watch_process(w, now, busy_two, NULL));
        /* Not before the delay. */
        ASSERT_OK(file_watch_take_due(w, now, &due, &n));
        ASSERT_EQ(n, 0);
        ASSERT_OK(file_watch_take_due(w, now + SETTLE, &due, &n));
        for (size_t i = 0; i < n; i++) {
                mask |= 1U << due[i].owner;
                flags |= due[i].flags;
        }
        ASSERT_EQ(file_watch_timeout(w, now + SETTLE), USEC_INFINITY);
        if (ret_flags)
                *ret_flags = flags;
        return mask;
}

TEST(changes) {
        _cleanup_(file_watch_freep) FileWatch *w = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL, *tmp = NULL, *sub = NULL, *c = NULL;
        unsigned flags;

        ASSERT_NOT_NULL(mkdtemp(dir));
        a = path("a.pem");
        b = path("b.key");
        tmp = path(".a.new");
        sub = path("sub");
        c = path("sub/c.pem");
        ASSERT_TRUE(mkdir(sub, 0755) == 0);

        ASSERT_OK(file_watch_new(SETTLE, &w));
        file_watch_begin(w);
        ASSERT_OK(file_watch_add(w, 1, 0x1, a));
        ASSERT_OK(file_watch_add(w, 2, 0x2, b));
        ASSERT_OK(file_watch_add(w, 3, 0x1, c));
        ASSERT_ERROR(file_watch_add(w, 4, 0x1, "relative.pem"), EINVAL);
        ASSERT_OK(file_watch_end(w));

        /* Nothing happened. */
        ASSERT_EQ(settle(w, NULL), 0);

        /* Written in place (closed), and an unrelated file. */
        write_file("a.pem", "one");
        write_file("other.pem", "x");
        ASSERT_EQ(settle(w, &flags), 1U << 1);
        ASSERT_EQ(flags, 0x1);

        /* Replaced by a rename: only the target's name counts; a burst is one report. */
        write_file(".a.new", "two");
        ASSERT_TRUE(rename(tmp, a) == 0);
        write_file(".a.new", "three");
        ASSERT_TRUE(rename(tmp, a) == 0);
        ASSERT_EQ(settle(w, NULL), 1U << 1);

        /* Owner 2 is busy: its change carries the flag. */
        write_file("b.key", "key");
        ASSERT_EQ(settle(w, &flags), 1U << 2);
        ASSERT_EQ(flags, 0x2 | FILE_WATCH_BUSY);

        /* Deleted. */
        ASSERT_TRUE(unlink(a) == 0);
        ASSERT_EQ(settle(w, NULL), 1U << 1);

        /* A delay makes it due again, with more flags. */
        ASSERT_OK(file_watch_delay(w, 1, 0x8, now_usec(CLOCK_MONOTONIC)));
        ASSERT_TRUE(file_watch_timeout(w, now_usec(CLOCK_MONOTONIC)) <= SETTLE);
        ASSERT_EQ(settle(w, &flags), 1U << 1);
        ASSERT_EQ(flags, 0x8);

        /* Forgotten (a read job of ours starts): only the other owner is reported. */
        write_file("a.pem", "four");
        write_file("b.key", "key2");
        ASSERT_OK(file_watch_process(w, now_usec(CLOCK_MONOTONIC), NULL, NULL));
        file_watch_forget(w, 1);
        file_watch_forget(w, 7); /* none pending: nothing */
        ASSERT_EQ(settle(w, NULL), 1U << 2);

        /* A directory that goes away: its files are due, and it is reported lost. */
        write_file("sub/c.pem", "c");
        ASSERT_EQ(settle(w, NULL), 1U << 3);
        ASSERT_FALSE(file_watch_take_lost(w));
        ASSERT_TRUE(unlink(c) == 0);
        ASSERT_TRUE(rmdir(sub) == 0);
        ASSERT_EQ(settle(w, NULL), 1U << 3);
        ASSERT_TRUE(file_watch_take_lost(w));
        ASSERT_FALSE(file_watch_take_lost(w));

        /* Back, after a sync: watched again. */
        ASSERT_TRUE(mkdir(sub, 0755) == 0);
        file_watch_begin(w);
        ASSERT_OK(file_watch_add(w, 3, 0x1, c));
        ASSERT_OK(file_watch_end(w));
        write_file("sub/c.pem", "c2");
        ASSERT_EQ(settle(w, NULL), 1U << 3);
        /* a.pem is no longer in the set. */
        write_file("a.pem", "four");
        ASSERT_EQ(settle(w, NULL), 0);

        (void) unlink(c);
        (void) rmdir(sub);
        (void) unlink(a);
        (void) unlink(b);
        {
                _cleanup_free_ char *o = path("other.pem");
                ASSERT_TRUE(unlink(o) == 0);
        }
        ASSERT_TRUE(rmdir(dir) == 0);
}

TEST(many) {
        _cleanup_(file_watch_freep) FileWatch *w = NULL;
        char name[64];

        /* Enough files for the tables to grow several times. */
        ASSERT_OK(file_watch_new(SETTLE, &w));
        file_watch_begin(w);
        for (int i = 0; i < 5000; i++) {
                (void) snprintf(name, sizeof(name), "/tmp/f%d.pem", i);
                ASSERT_OK(file_watch_add(w, i, 0x1, name));
        }
        ASSERT_OK(file_watch_end(w));
        file_watch_begin(w);
        ASSERT_OK(file_watch_end(w));
}

TEST_MAIN();
