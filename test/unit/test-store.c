/* SPDX-License-Identifier: MIT */

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include <stdlib.h>

#include "tests.h"

/* ---- temporary directory ---------------------------------------------------------------------- */

typedef struct TmpDir {
        char path[64];
} TmpDir;

static void tmpdir_make(TmpDir *t) {
        (void) snprintf(t->path, sizeof(t->path), "/tmp/test-store-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(t->path));
}

static void tmpdir_remove(TmpDir *t) {
        DIR *d = opendir(t->path);
        struct dirent *de;

        ASSERT_NOT_NULL(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        ASSERT_OK(unlinkat(dirfd(d), de->d_name, 0));
        closedir(d);
        ASSERT_OK(rmdir(t->path));
}

static char *tmp_file(const TmpDir *t, const char *name) {
        char *p = NULL;

        ASSERT_TRUE(asprintf(&p, "%s/%s", t->path, name) >= 0);
        return p;
}

static char *mfree_test(char *p) {
        free(p);
        return NULL;
}

static bool file_exists(const char *p) {
        return access(p, F_OK) == 0;
}

static double now_ms(void) {
        struct timespec ts;

        ASSERT_OK(clock_gettime(CLOCK_MONOTONIC, &ts));
        return (double) ts.tv_sec * 1000.0 + (double) ts.tv_nsec / 1e6;
}

/* ---- records filled from the X-macro ---------------------------------------------------------- */

static void fill_TEXT(char **f, unsigned seed, unsigned i, const char *name) {
        free(*f);
        ASSERT_TRUE(asprintf(f, "%s-%u-%u", name, seed, i) >= 0);
}

static void fill_INT(int64_t *f, unsigned seed, unsigned i, const char *name) {
        /* Beyond 32 bits, and different for every column and seed. */
        *f = ((int64_t) 1 << 40) + (int64_t) seed * 1000003 + (int64_t) i * 7919 + 1;
}

static void fill_BOOL(bool *f, unsigned seed, unsigned i, const char *name) {
        *f = (seed + i) % 2 == 1;
}

static void fill_STATE(CertState *f, unsigned seed, unsigned i, const char *name) {
        *f = (CertState) ((seed + i) % _CERT_STATE_MAX);
}

static void fill_record(CertRecord *r, unsigned seed) {
        unsigned i = 0;

#define X(type, name) fill_##type(&r->name, seed, i++, #name);
        CERT_RECORD_COLUMNS(X)
#undef X
}

static void check_TEXT(char *const *a, char *const *b, const char *name) {
        if (!*a || !*b) {
                if (*a != *b)
                        fprintf(stderr, "column %s differs: %s vs %s\n", name, *a ? *a : "NULL", *b ? *b : "NULL");
                ASSERT_TRUE(*a == *b);
                return;
        }
        if (strcmp(*a, *b) != 0)
                fprintf(stderr, "column %s differs\n", name);
        ASSERT_STREQ(*a, *b);
}

static void check_INT(const int64_t *a, const int64_t *b, const char *name) {
        if (*a != *b)
                fprintf(stderr, "column %s differs\n", name);
        ASSERT_EQ(*a, *b);
}

static void check_BOOL(const bool *a, const bool *b, const char *name) {
        if (*a != *b)
                fprintf(stderr, "column %s differs\n", name);
        ASSERT_EQ(*a, *b);
}

static void check_STATE(const CertState *a, const CertState *b, const char *name) {
        if (*a != *b)
                fprintf(stderr, "column %s differs\n", name);
        ASSERT_EQ(*a, *b);
}

static void check_record(const CertRecord *a, const CertRecord *b) {
#define X(type, name) check_##type(&a->name, &b->name, #name);
        CERT_RECORD_COLUMNS(X)
#undef X
}

/* A small record for bulk tests. */
static void make_simple(CertRecord *r, unsigned n) {
        char buf[128];

        cert_record_done(r);
        (void) snprintf(buf, sizeof(buf), "cert-%06u", n);
        ASSERT_OK(cert_record_set(&r->nickname, buf));
        (void) snprintf(buf, sizeof(buf), "/etc/pki/cert-%06u.pem", n);
        ASSERT_OK(cert_record_set(&r->cert_path, buf));
        ASSERT_OK(cert_record_set(&r->ca, n % 3 == 0 ? "ca-a" : n % 3 == 1 ? "ca-b" : "ca-c"));
        r->state = n % 4 == 0 ? CERT_MONITORING : n % 4 == 1 ? CERT_CA_UNREACHABLE : n % 4 == 2 ? CERT_NEED_CSR : CERT_MONITORING;
        r->next_action_at = n % 5 == 0 ? 0 : 1700000000 + (int64_t) ((n * 7919u) % 100003u);
        r->autorenew = true;
        r->track = true;
}

static Store *open_new(const char *path) {
        Store *s = NULL;
        _cleanup_free_ char *err = NULL;
        int r;

        r = store_open(path, true, &s, &err);
        if (r < 0)
                fprintf(stderr, "store_open: %s\n", err ? err : "(no message)");
        ASSERT_OK(r);
        ASSERT_NULL(err);
        return s;
}

/* ---- opening --------------------------------------------------------------------------------- */

TEST(open_missing_does_not_create) {
        TmpDir t;
        _cleanup_free_ char *p = NULL, *err = NULL;
        Store *s = NULL;

        tmpdir_make(&t);
        p = tmp_file(&t, "missing.db");

        ASSERT_ERROR(store_open(p, false, &s, &err), ENOENT);
        ASSERT_NULL(s);
        ASSERT_NOT_NULL(err);
        ASSERT_NOT_NULL(strstr(err, p));
        ASSERT_FALSE(file_exists(p));
        err = mfree_test(err);

        ASSERT_ERROR(store_file_check(p, &err), ENOENT);
        ASSERT_FALSE(file_exists(p));

        tmpdir_remove(&t);
}

TEST(migrations_idempotent) {
        TmpDir t;
        _cleanup_free_ char *p = NULL;
        int64_t n = -1;
        int version;
        struct stat st;

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");

        {
                _cleanup_(store_freep) Store *s = open_new(p);
                _cleanup_(cert_record_done) CertRecord r = {};

                version = store_schema_version(s);
                ASSERT_TRUE(version >= 1);
                make_simple(&r, 1);
                ASSERT_OK(store_cert_insert(s, &r, NULL));
                ASSERT_OK(store_check(s, NULL));
        }
        ASSERT_OK(stat(p, &st));
        ASSERT_EQ(st.st_mode & 0777, 0600);

        for (unsigned i = 0; i < 3; i++) {
                _cleanup_(store_freep) Store *s = NULL;

                ASSERT_OK(store_open(p, false, &s, NULL));
                ASSERT_EQ(store_schema_version(s), version);
                ASSERT_OK(store_cert_count(s, &n));
                ASSERT_EQ(n, 1);
        }

        /* The schema is really there: user_version and the tables, read without the store. */
        {
                sqlite3 *db = NULL;
                sqlite3_stmt *st2 = NULL;

                ASSERT_EQ(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
                ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT (SELECT user_version FROM pragma_user_version), "
                                                 "(SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                                 "name IN ('certs', 'cas', 'history', 'meta')), "
                                                 "(SELECT journal_mode FROM pragma_journal_mode)",
                                             -1, &st2, NULL),
                          SQLITE_OK);
                ASSERT_EQ(sqlite3_step(st2), SQLITE_ROW);
                ASSERT_EQ(sqlite3_column_int(st2, 0), version);
                ASSERT_EQ(sqlite3_column_int(st2, 1), 4);
                ASSERT_STREQ((const char *) sqlite3_column_text(st2, 2), "wal");
                sqlite3_finalize(st2);
                sqlite3_close(db);
        }

        tmpdir_remove(&t);
}

static void exec_raw(const char *path, const char *sql) {
        sqlite3 *db = NULL;
        char *m = NULL;

        ASSERT_EQ(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
        if (sqlite3_exec(db, sql, NULL, NULL, &m) != SQLITE_OK) {
                fprintf(stderr, "%s: %s\n", sql, m);
                abort();
        }
        sqlite3_close(db);
}

TEST(newer_schema_refused) {
        TmpDir t;
        _cleanup_free_ char *p = NULL, *err = NULL;
        Store *s = NULL;

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        store_free(open_new(p));

        exec_raw(p, "PRAGMA user_version = 999");
        ASSERT_ERROR(store_open(p, false, &s, &err), EPROTONOSUPPORT);
        ASSERT_NULL(s);
        ASSERT_NOT_NULL(err);
        ASSERT_NOT_NULL(strstr(err, "newer"));
        ASSERT_NOT_NULL(strstr(err, "999"));

        tmpdir_remove(&t);
}

TEST(missing_column_added) {
        TmpDir t;
        _cleanup_free_ char *p = NULL;
        _cleanup_(cert_record_done) CertRecord r = {};
        _cleanup_(cert_record_freep) CertRecord *got = NULL;
        int64_t id;

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        {
                _cleanup_(store_freep) Store *s = open_new(p);
                make_simple(&r, 7);
                ASSERT_OK(store_cert_insert(s, &r, NULL));
                id = r.id;
        }

        /* An "older" database without one of the columns: opening adds it again. */
        exec_raw(p, "ALTER TABLE certs DROP COLUMN last_notified_at");
        {
                _cleanup_(store_freep) Store *s = NULL;

                ASSERT_OK(store_open(p, false, &s, NULL));
                ASSERT_OK(store_cert_get(s, id, &got));
                ASSERT_EQ(got->last_notified_at, 0);
                got->last_notified_at = 12345;
                ASSERT_OK(store_cert_update(s, got, NULL));
                got = (cert_record_free(got), NULL);
                ASSERT_OK(store_cert_get(s, id, &got));
                ASSERT_EQ(got->last_notified_at, 12345);
                ASSERT_STREQ(got->nickname, "cert-000007");
                ASSERT_OK(store_check(s, NULL));
        }

        tmpdir_remove(&t);
}

TEST(not_a_database) {
        TmpDir t;
        _cleanup_free_ char *p = NULL, *err = NULL;
        Store *s = NULL;
        FILE *f;
        char buf[256] = {};

        tmpdir_make(&t);
        p = tmp_file(&t, "text.db");
        f = fopen(p, "we");
        ASSERT_NOT_NULL(f);
        for (unsigned i = 0; i < 200; i++)
                fprintf(f, "this is a text file, not a database, line %u\n", i);
        ASSERT_OK(fclose(f));

        ASSERT_ERROR(store_open(p, false, &s, &err), EBADMSG);
        ASSERT_NOT_NULL(err);
        ASSERT_NOT_NULL(strstr(err, "not a database"));
        err = mfree_test(err);
        ASSERT_ERROR(store_open(p, true, &s, &err), EBADMSG);
        err = mfree_test(err);
        ASSERT_ERROR(store_file_check(p, &err), EBADMSG);
        ASSERT_NOT_NULL(err);
        ASSERT_NULL(s);

        /* Untouched. */
        f = fopen(p, "re");
        ASSERT_NOT_NULL(f);
        ASSERT_NOT_NULL(fgets(buf, sizeof(buf), f));
        fclose(f);
        ASSERT_STREQ(buf, "this is a text file, not a database, line 0\n");

        tmpdir_remove(&t);
}

/* ---- certificates ---------------------------------------------------------------------------- */

TEST(round_trip_every_column) {
        TmpDir t;
        _cleanup_free_ char *p = NULL;
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(cert_record_done) CertRecord a = {}, b = {}, empty = {};
        _cleanup_(cert_record_freep) CertRecord *got = NULL;

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        s = open_new(p);

        fill_record(&a, 1);
        ASSERT_OK(store_cert_insert(s, &a, NULL));
        ASSERT_TRUE(a.id > 0);

        ASSERT_OK(store_cert_get(s, a.id, &got));
        ASSERT_EQ(got->id, a.id);
        check_record(&a, got);
        got = (cert_record_free(got), NULL);

        ASSERT_OK(store_cert_find_nickname(s, a.nickname, &got));
        ASSERT_EQ(got->id, a.id);
        check_record(&a, got);
        got = (cert_record_free(got), NULL);

        ASSERT_OK(store_cert_find_path(s, a.cert_path, &got));
        ASSERT_EQ(got->id, a.id);
        got = (cert_record_free(got), NULL);

        /* Update every column to other values. */
        fill_record(&b, 2);
        b.id = a.id;
        ASSERT_OK(store_cert_update(s, &b, NULL));
        ASSERT_OK(store_cert_get(s, a.id, &got));
        check_record(&b, got);
        got = (cert_record_free(got), NULL);
        ASSERT_ERROR(store_cert_find_nickname(s, a.nickname, &got), ENOENT);
        ASSERT_ERROR(store_cert_find_path(s, a.cert_path, &got), ENOENT);

        /* NULL strings survive as NULL. */
        empty.id = a.id;
        ASSERT_OK(store_cert_update(s, &empty, NULL));
        ASSERT_OK(store_cert_get(s, a.id, &got));
        check_record(&empty, got);
        ASSERT_NULL(got->nickname);
        got = (cert_record_free(got), NULL);

        /* An invalid state is refused. */
        b.state = _CERT_STATE_MAX;
        ASSERT_ERROR(store_cert_update(s, &b, NULL), EINVAL);

        /* Updating a row that is not there. */
        fill_record(&b, 3);
        b.id = a.id + 1000;
        ASSERT_ERROR(store_cert_update(s, &b, NULL), ENOENT);

        ASSERT_OK(store_cert_delete(s, a.id));
        ASSERT_ERROR(store_cert_get(s, a.id, &got), ENOENT);
        ASSERT_ERROR(store_cert_delete(s, a.id), ENOENT);
        ASSERT_NULL(got);

        /* Ids are never reused. */
        {
                _cleanup_(cert_record_done) CertRecord c = {};
                fill_record(&c, 4);
                ASSERT_OK(store_cert_insert(s, &c, NULL));
                ASSERT_TRUE(c.id > a.id);
        }

        s = store_free(s);
        tmpdir_remove(&t);
}

TEST(duplicates) {
        TmpDir t;
        _cleanup_free_ char *p = NULL, *err = NULL;
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(cert_record_done) CertRecord a = {}, b = {}, c = {};
        int64_t n;

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        s = open_new(p);

        ASSERT_OK(cert_record_set(&a.nickname, "web"));
        ASSERT_OK(cert_record_set(&a.cert_path, "/etc/pki/web.pem"));
        ASSERT_OK(store_cert_insert(s, &a, NULL));

        ASSERT_OK(cert_record_set(&b.nickname, "web"));
        ASSERT_OK(cert_record_set(&b.cert_path, "/etc/pki/other.pem"));
        ASSERT_ERROR(store_cert_insert(s, &b, &err), EEXIST);
        ASSERT_STREQ(err, "There is already a request with the nickname \"web\".");
        err = mfree_test(err);

        ASSERT_OK(cert_record_set(&b.nickname, "mail"));
        ASSERT_OK(cert_record_set(&b.cert_path, "/etc/pki/web.pem"));
        ASSERT_ERROR(store_cert_insert(s, &b, &err), EEXIST);
        ASSERT_STREQ(err, "Certificate at same location is already used by request with nickname \"web\".");
        err = mfree_test(err);

        ASSERT_OK(store_cert_count(s, &n));
        ASSERT_EQ(n, 1);

        /* Same checks on update. */
        ASSERT_OK(cert_record_set(&c.nickname, "mail"));
        ASSERT_OK(cert_record_set(&c.cert_path, "/etc/pki/mail.pem"));
        ASSERT_OK(store_cert_insert(s, &c, NULL));
        ASSERT_OK(cert_record_set(&c.cert_path, "/etc/pki/web.pem"));
        ASSERT_ERROR(store_cert_update(s, &c, &err), EEXIST);
        ASSERT_STREQ(err, "Certificate at same location is already used by request with nickname \"web\".");
        err = mfree_test(err);
        ASSERT_OK(cert_record_set(&c.cert_path, "/etc/pki/mail.pem"));
        ASSERT_OK(cert_record_set(&c.nickname, "web"));
        ASSERT_ERROR(store_cert_update(s, &c, &err), EEXIST);
        ASSERT_STREQ(err, "There is already a request with the nickname \"web\".");
        err = mfree_test(err);

        /* Updating a row with its own values is no conflict. */
        ASSERT_OK(cert_record_set(&c.nickname, "mail"));
        ASSERT_OK(store_cert_update(s, &c, NULL));

        s = store_free(s);
        tmpdir_remove(&t);
}

typedef struct Collect {
        int64_t ids[1024];
        unsigned n;
        unsigned stop_after;
        Store *store;
} Collect;

static int collect_cb(const CertRecord *r, void *userdata) {
        Collect *c = userdata;

        ASSERT_TRUE(c->n < ELEMENTSOF(c->ids));
        c->ids[c->n++] = r->id;
        if (c->stop_after > 0 && c->n >= c->stop_after)
                return -ECANCELED;
        return 0;
}

static bool matches(unsigned n, const char *ca, const char *state, int tracking) {
        _cleanup_(cert_record_done) CertRecord r = {};

        make_simple(&r, n);
        if (ca && strcmp(r.ca, ca) != 0)
                return false;
        if (state && strcmp(cert_state_to_string(r.state), state) != 0)
                return false;
        if (tracking == 1 && r.state != CERT_MONITORING)
                return false;
        if (tracking == 2 && r.state == CERT_MONITORING)
                return false;
        return true;
}

TEST(filters_and_paging) {
        TmpDir t;
        _cleanup_free_ char *p = NULL;
        _cleanup_(store_freep) Store *s = NULL;
        static const char *cas[] = { NULL, "ca-a", "ca-b", "nope" };
        static const char *states[] = { NULL, "MONITORING", "NEED_CSR", "CA_UNREACHABLE" };
        int64_t ids[100];
        const unsigned N = 100;

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        s = open_new(p);

        for (unsigned i = 0; i < N; i++) {
                _cleanup_(cert_record_done) CertRecord r = {};
                make_simple(&r, i);
                ASSERT_OK(store_cert_insert(s, &r, NULL));
                ids[i] = r.id;
        }

        for (unsigned a = 0; a < ELEMENTSOF(cas); a++)
                for (unsigned b = 0; b < ELEMENTSOF(states); b++)
                        for (int tr = 0; tr <= 2; tr++) {
                                CertFilter f = { .ca = cas[a], .state = states[b], .tracking_only = tr };
                                Collect all = {}, paged = {};
                                unsigned expected = 0;

                                ASSERT_OK(store_cert_foreach(s, &f, collect_cb, &all));
                                for (unsigned i = 0; i < N; i++)
                                        if (matches(i, cas[a], states[b], tr)) {
                                                ASSERT_TRUE(expected < all.n);
                                                ASSERT_EQ(all.ids[expected], ids[i]);
                                                expected++;
                                        }
                                ASSERT_EQ(all.n, expected);

                                /* Pages of 7, resumed after the last id seen. */
                                f.limit = 7;
                                for (;;) {
                                        unsigned before = paged.n;

                                        ASSERT_OK(store_cert_foreach(s, &f, collect_cb, &paged));
                                        ASSERT_TRUE(paged.n - before <= 7);
                                        if (paged.n == before)
                                                break;
                                        f.after_id = paged.ids[paged.n - 1];
                                }
                                ASSERT_EQ(paged.n, all.n);
                                for (unsigned i = 0; i < all.n; i++)
                                        ASSERT_EQ(paged.ids[i], all.ids[i]);
                        }

        /* NULL filter = everything; a callback error stops and is returned. */
        {
                Collect c = {};
                ASSERT_OK(store_cert_foreach(s, NULL, collect_cb, &c));
                ASSERT_EQ(c.n, N);
                c = (Collect) { .stop_after = 3 };
                ASSERT_ERROR(store_cert_foreach(s, NULL, collect_cb, &c), ECANCELED);
                ASSERT_EQ(c.n, 3u);
        }

        {
                CertFilter bad = { .tracking_only = 3 };
                Collect c = {};
                ASSERT_ERROR(store_cert_foreach(s, &bad, collect_cb, &c), EINVAL);
        }

        s = store_free(s);
        tmpdir_remove(&t);
}

/* The callback may use the store, even the same query shape, while the iteration runs. */
static int reentrant_cb(const CertRecord *r, void *userdata) {
        Collect *c = userdata;
        _cleanup_(cert_record_freep) CertRecord *again = NULL;
        Collect inner = {};
        CertFilter f = { .limit = 2 };

        ASSERT_OK(store_cert_get(c->store, r->id, &again));
        ASSERT_OK(cert_record_set(&again->ca_error, "touched"));
        ASSERT_OK(store_cert_update(c->store, again, NULL));
        ASSERT_OK(store_cert_foreach(c->store, &f, collect_cb, &inner));
        ASSERT_EQ(inner.n, 2u);
        c->n++;
        return 0;
}

TEST(foreach_reentrant) {
        TmpDir t;
        _cleanup_free_ char *p = NULL;
        _cleanup_(store_freep) Store *s = NULL;
        Collect c = {};
        CertFilter f = { .limit = 5 };

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        s = open_new(p);
        for (unsigned i = 0; i < 10; i++) {
                _cleanup_(cert_record_done) CertRecord r = {};
                make_simple(&r, i);
                ASSERT_OK(store_cert_insert(s, &r, NULL));
        }

        c.store = s;
        ASSERT_OK(store_cert_foreach(s, &f, reentrant_cb, &c));
        ASSERT_EQ(c.n, 5u);

        {
                _cleanup_(cert_record_freep) CertRecord *r = NULL;
                ASSERT_OK(store_cert_find_nickname(s, "cert-000004", &r));
                ASSERT_STREQ(r->ca_error, "touched");
        }

        s = store_free(s);
        tmpdir_remove(&t);
}

typedef struct Sched {
        unsigned n;
        int64_t last_at;
        int64_t sum_ids;
        bool ordered;
} Sched;

static int sched_cb(int64_t id, int64_t at, void *userdata) {
        Sched *x = userdata;

        ASSERT_TRUE(at > 0);
        if (at < x->last_at)
                x->ordered = false;
        x->last_at = at;
        x->sum_ids += id;
        x->n++;
        return 0;
}

TEST(schedule) {
        TmpDir t;
        _cleanup_free_ char *p = NULL;
        _cleanup_(store_freep) Store *s = NULL;
        Sched x = { .ordered = true };
        unsigned expected = 0;
        int64_t expected_sum = 0;

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        s = open_new(p);
        for (unsigned i = 0; i < 200; i++) {
                _cleanup_(cert_record_done) CertRecord r = {};
                make_simple(&r, i);
                ASSERT_OK(store_cert_insert(s, &r, NULL));
                if (r.next_action_at > 0) {
                        expected++;
                        expected_sum += r.id;
                }
        }

        ASSERT_OK(store_cert_foreach_schedule(s, sched_cb, &x));
        ASSERT_EQ(x.n, expected);
        ASSERT_EQ(x.sum_ids, expected_sum);
        ASSERT_TRUE(x.ordered);

        s = store_free(s);
        tmpdir_remove(&t);
}

/* What store_cert_foreach_tracked_facts() passed, one chunk. */
typedef struct Facts {
        unsigned n;
        int64_t ids[8];
        int64_t last_id;
        bool ordered;
        bool wrong; /* a column not what was stored */
} Facts;

static int facts_cb(int64_t id, CertState state, const char *sha256, const char *cert_path, void *userdata) {
        Facts *x = userdata;
        char buf[80];
        unsigned i = (unsigned) (id - 1); /* inserted in order: id i + 1 is record i */

        ASSERT_TRUE(x->n < ELEMENTSOF(x->ids));
        if (id <= x->last_id)
                x->ordered = false;
        x->last_id = id;
        x->ids[x->n++] = id;
        (void) snprintf(buf, sizeof(buf), "/etc/pki/cert-%06u.pem", i);
        if (!cert_path || strcmp(cert_path, buf) != 0 ||
            state != (i % 2 == 0 ? CERT_MONITORING : CERT_NEED_CSR))
                x->wrong = true;
        (void) snprintf(buf, sizeof(buf), "%064u", i);
        if (i % 3 == 0 ? sha256 != NULL : !sha256 || strcmp(sha256, buf) != 0)
                x->wrong = true;
        return 0;
}

static int facts_stop_cb(int64_t id, CertState state, const char *sha256, const char *cert_path,
                         void *userdata) {
        return -ECANCELED;
}

TEST(tracked_facts) {
        TmpDir t;
        _cleanup_free_ char *p = NULL;
        _cleanup_(store_freep) Store *s = NULL;
        int64_t want[] = { 1, 2, 3, 5, 6, 7, 9, 10 }; /* every fourth (ids 4, 8) untracked */
        unsigned seen = 0;

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        s = open_new(p);
        for (unsigned i = 0; i < 10; i++) {
                _cleanup_(cert_record_done) CertRecord r = {};
                char buf[65];

                make_simple(&r, i);
                r.state = i % 2 == 0 ? CERT_MONITORING : CERT_NEED_CSR;
                r.track = i % 4 != 3;
                (void) snprintf(buf, sizeof(buf), "%064u", i);
                if (i % 3 != 0)
                        ASSERT_OK(cert_record_set(&r.sha256, buf));
                ASSERT_OK(store_cert_insert(s, &r, NULL));
                ASSERT_EQ(r.id, (int64_t) i + 1);
        }

        /* Chunks of three, each from the last id of the one before, until a short one. */
        for (int64_t after = 0;;) {
                Facts x = { .ordered = true, .last_id = after };
                int n = store_cert_foreach_tracked_facts(s, after, 3, facts_cb, &x);

                ASSERT_OK(n);
                ASSERT_EQ((unsigned) n, x.n);
                ASSERT_TRUE(x.ordered);
                ASSERT_FALSE(x.wrong);
                for (unsigned i = 0; i < x.n; i++)
                        ASSERT_EQ(x.ids[i], want[seen++]);
                if (n < 3)
                        break;
                after = x.last_id;
        }
        ASSERT_EQ(seen, ELEMENTSOF(want));

        /* From the middle, past the end, and a callback that stops. */
        {
                Facts x = { .ordered = true, .last_id = 6 };
                ASSERT_EQ(store_cert_foreach_tracked_facts(s, 6, 100, facts_cb, &x), 3);
                ASSERT_EQ(x.ids[0], 7);
        }
        {
                Facts x = { .ordered = true, .last_id = 10 };
                ASSERT_EQ(store_cert_foreach_tracked_facts(s, 10, 100, facts_cb, &x), 0);
                ASSERT_EQ(x.n, 0u);
        }
        ASSERT_EQ(store_cert_foreach_tracked_facts(s, 0, 5, facts_stop_cb, NULL), -ECANCELED);
        ASSERT_EQ(store_cert_foreach_tracked_facts(s, 0, 0, facts_cb, NULL), -EINVAL);

        s = store_free(s);
        tmpdir_remove(&t);
}

typedef struct Summaries {
        unsigned n;
        int64_t last_id;
        int64_t not_after_sum;
        unsigned monitoring;
        bool wrong;
} Summaries;

static int summary_cb(const CertSummary *c, void *userdata) {
        Summaries *x = userdata;

        if (c->id <= x->last_id || !c->nickname || !streq(c->ca, "local") || c->renew_at != c->id * 10)
                x->wrong = true;
        x->last_id = c->id;
        x->not_after_sum += c->not_after;
        x->monitoring += c->state == CERT_MONITORING;
        x->n++;
        return 0;
}

/* The six columns of /metrics, in id order, for every record (tracked or not). */
TEST(cert_summary) {
        TmpDir t;
        _cleanup_free_ char *p = NULL;
        _cleanup_(store_freep) Store *s = NULL;
        Summaries x = {};

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        s = open_new(p);
        for (unsigned i = 0; i < 10; i++) {
                _cleanup_(cert_record_done) CertRecord r = {};

                make_simple(&r, i);
                ASSERT_OK(cert_record_set(&r.ca, "local"));
                r.state = i % 2 == 0 ? CERT_MONITORING : CERT_NEED_GUIDANCE;
                r.track = i % 4 != 3;
                r.not_after = i < 4 ? 0 : 1000 + i;
                r.renew_at = (int64_t) (i + 1) * 10;
                ASSERT_OK(store_cert_insert(s, &r, NULL));
        }

        ASSERT_OK(store_cert_foreach_summary(s, summary_cb, &x));
        ASSERT_FALSE(x.wrong);
        ASSERT_EQ(x.n, 10u);
        ASSERT_EQ(x.monitoring, 5u);
        ASSERT_EQ(x.not_after_sum, (int64_t) (1004 + 1005 + 1006 + 1007 + 1008 + 1009));
        ASSERT_EQ(store_cert_foreach_summary(s, NULL, NULL), -EINVAL);

        s = store_free(s);
        tmpdir_remove(&t);
}

TEST(transactions) {
        TmpDir t;
        _cleanup_free_ char *p = NULL;
        _cleanup_(store_freep) Store *s = NULL;
        int64_t n;

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        s = open_new(p);

        ASSERT_ERROR(store_commit(s), EINVAL);
        ASSERT_OK(store_rollback(s));

        ASSERT_OK(store_begin(s));
        ASSERT_ERROR(store_begin(s), EBUSY);
        for (unsigned i = 0; i < 10; i++) {
                _cleanup_(cert_record_done) CertRecord r = {};
                make_simple(&r, i);
                ASSERT_OK(store_cert_insert(s, &r, NULL));
        }
        ASSERT_OK(store_cert_count(s, &n));
        ASSERT_EQ(n, 10);
        ASSERT_OK(store_rollback(s));
        ASSERT_OK(store_cert_count(s, &n));
        ASSERT_EQ(n, 0);

        ASSERT_OK(store_begin(s));
        for (unsigned i = 0; i < 10; i++) {
                _cleanup_(cert_record_done) CertRecord r = {};
                make_simple(&r, i);
                ASSERT_OK(store_cert_insert(s, &r, NULL));
        }
        ASSERT_OK(store_commit(s));
        s = store_free(s);

        ASSERT_OK(store_open(p, false, &s, NULL));
        ASSERT_OK(store_cert_count(s, &n));
        ASSERT_EQ(n, 10);

        s = store_free(s);
        tmpdir_remove(&t);
}

TEST(bulk_100k) {
        TmpDir t;
        _cleanup_free_ char *p = NULL;
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(cert_record_done) CertRecord r = {};
        /* Smaller under valgrind (CERTKEEPER_TEST_QUICK), where the full size takes minutes. */
        const unsigned N = getenv("CERTKEEPER_TEST_QUICK") ? 2000 : 100000;
        Sched x = { .ordered = true };
        unsigned expected = 0;
        int64_t n;
        double t0, t1;

        tmpdir_make(&t);
        p = tmp_file(&t, "bulk.db");
        s = open_new(p);

        t0 = now_ms();
        ASSERT_OK(store_begin(s));
        for (unsigned i = 0; i < N; i++) {
                make_simple(&r, i);
                ASSERT_OK(store_cert_insert(s, &r, NULL));
                if (r.next_action_at > 0)
                        expected++;
        }
        ASSERT_OK(store_commit(s));
        t1 = now_ms();
        fprintf(stderr, "  %u inserts in one transaction: %.1f ms\n", N, t1 - t0);

        ASSERT_OK(store_cert_count(s, &n));
        ASSERT_EQ(n, N);

        t0 = now_ms();
        ASSERT_OK(store_begin(s));
        for (int64_t id = 1; id <= (int64_t) N; id++) {
                make_simple(&r, (unsigned) id - 1);
                r.id = id;
                r.backoff_step = 3;
                ASSERT_OK(store_cert_update(s, &r, NULL));
        }
        ASSERT_OK(store_commit(s));
        t1 = now_ms();
        fprintf(stderr, "  %u updates in one transaction: %.1f ms\n", N, t1 - t0);

        t0 = now_ms();
        ASSERT_OK(store_cert_foreach_schedule(s, sched_cb, &x));
        t1 = now_ms();
        fprintf(stderr, "  foreach_schedule over %u rows (%u scheduled): %.1f ms\n", N, x.n, t1 - t0);
        ASSERT_EQ(x.n, expected);
        ASSERT_TRUE(x.ordered);

        s = store_free(s);
        tmpdir_remove(&t);
}

/* ---- history, CAs, meta ---------------------------------------------------------------------- */

typedef struct HistCollect {
        int64_t last_id;
        unsigned n;
        char first_message[64];
} HistCollect;

static int hist_cb(const HistoryRecord *r, void *userdata) {
        HistCollect *h = userdata;

        if (h->n == 0)
                (void) snprintf(h->first_message, sizeof(h->first_message), "%s", r->message);
        else
                ASSERT_TRUE(r->id < h->last_id); /* newest first */
        h->last_id = r->id;
        h->n++;
        return 0;
}

TEST(history) {
        TmpDir t;
        _cleanup_free_ char *p = NULL;
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(cert_record_done) CertRecord a = {}, b = {};
        const unsigned total = STORE_HISTORY_KEEP_PER_CERT + 50;
        int64_t n;

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        s = open_new(p);

        make_simple(&a, 1);
        make_simple(&b, 2);
        ASSERT_OK(store_cert_insert(s, &a, NULL));
        ASSERT_OK(store_cert_insert(s, &b, NULL));

        for (unsigned i = 0; i < total; i++) {
                char msg[64];
                HistoryRecord h = {
                        .cert_id = a.id,
                        .at = 1700000000 + i,
                        .stage = (char *) (i % 2 == 0 ? "submit" : "save"),
                        .result = (char *) (i % 3 == 0 ? "failed" : "ok"),
                        .message = msg,
                        .duration_ms = i,
                };

                (void) snprintf(msg, sizeof(msg), "attempt %u", i);
                ASSERT_OK(store_history_add(s, &h));
        }
        {
                HistoryRecord h = { .cert_id = b.id, .at = 1, .stage = (char *) "key", .result = (char *) "ok" };
                ASSERT_OK(store_history_add(s, &h));
        }
        {
                HistoryRecord h = { .cert_id = 99999, .at = 1, .stage = (char *) "key", .result = (char *) "ok" };
                ASSERT_ERROR(store_history_add(s, &h), ENOENT);
        }

        ASSERT_OK(store_history_count(s, a.id, NULL, NULL, &n));
        ASSERT_EQ(n, STORE_HISTORY_KEEP_PER_CERT);
        ASSERT_OK(store_history_count(s, b.id, NULL, NULL, &n));
        ASSERT_EQ(n, 1);
        ASSERT_OK(store_history_count(s, 0, NULL, NULL, &n));
        ASSERT_EQ(n, STORE_HISTORY_KEEP_PER_CERT + 1);

        /* The kept rows are the newest ones: attempts total-100 .. total-1. */
        {
                unsigned submit = 0, failed = 0, submit_failed = 0;

                for (unsigned i = total - STORE_HISTORY_KEEP_PER_CERT; i < total; i++) {
                        submit += i % 2 == 0;
                        failed += i % 3 == 0;
                        submit_failed += i % 2 == 0 && i % 3 == 0;
                }
                ASSERT_OK(store_history_count(s, a.id, "submit", NULL, &n));
                ASSERT_EQ(n, submit);
                ASSERT_OK(store_history_count(s, a.id, NULL, "failed", &n));
                ASSERT_EQ(n, failed);
                ASSERT_OK(store_history_count(s, a.id, "submit", "failed", &n));
                ASSERT_EQ(n, submit_failed);
        }

        {
                HistCollect h = {};
                char expect[64];

                ASSERT_OK(store_history_foreach(s, a.id, 0, hist_cb, &h));
                ASSERT_EQ(h.n, STORE_HISTORY_KEEP_PER_CERT);
                (void) snprintf(expect, sizeof(expect), "attempt %u", total - 1);
                ASSERT_STREQ(h.first_message, expect);

                h = (HistCollect) {};
                ASSERT_OK(store_history_foreach(s, a.id, 5, hist_cb, &h));
                ASSERT_EQ(h.n, 5u);
                ASSERT_STREQ(h.first_message, expect);
        }

        /* Deleting the certificate deletes its history. */
        ASSERT_OK(store_cert_delete(s, a.id));
        ASSERT_OK(store_history_count(s, a.id, NULL, NULL, &n));
        ASSERT_EQ(n, 0);
        ASSERT_OK(store_history_count(s, 0, NULL, NULL, &n));
        ASSERT_EQ(n, 1);
        ASSERT_OK(store_check(s, NULL));

        s = store_free(s);
        tmpdir_remove(&t);
}

static int ca_cb(const CARecord *r, void *userdata) {
        char *names = userdata;
        size_t l = strlen(names);

        (void) snprintf(names + l, 200 - l, "%s,", r->name);
        return 0;
}

/* ---- events ---------------------------------------------------------------------------------- */

typedef struct EventCollect {
        int64_t ids[64];
        int event_ids[64];
        unsigned n;
} EventCollect;

static int collect_event(const EventRecord *r, void *userdata) {
        EventCollect *c = userdata;

        ASSERT_TRUE(c->n < ELEMENTSOF(c->ids));
        c->ids[c->n] = r->id;
        c->event_ids[c->n++] = r->event_id;
        return 0;
}

typedef struct EventCounts {
        unsigned n;
        int ids[16];
        int64_t counts[16];
} EventCounts;

static int count_cb(int64_t event_id, int64_t count, void *userdata) {
        EventCounts *k = userdata;

        ASSERT_TRUE(k->n < ELEMENTSOF(k->ids));
        k->ids[k->n] = (int) event_id;
        k->counts[k->n++] = count;
        return 0;
}

static unsigned events_matching(Store *s, const EventFilter *f, EventCollect *c) {
        *c = (EventCollect) {};
        ASSERT_OK(store_event_foreach(s, f, collect_event, c));
        return c->n;
}

TEST(events) {
        TmpDir t;
        _cleanup_free_ char *p = NULL;
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(cert_record_done) CertRecord a = {};
        EventCollect c;
        int64_t first = 0, id, n;

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        s = open_new(p);
        make_simple(&a, 1);
        ASSERT_OK(store_cert_insert(s, &a, NULL));

        /* 30 events, one a minute: cert a and cert 999 (already gone: no foreign key), ids 1001-1003. */
        for (unsigned i = 0; i < 30; i++) {
                char payload[64];
                EventRecord e = {
                        .at = 1700000000 + 60 * (int64_t) i,
                        .event_id = 1001 + (int) (i % 3),
                        .cert_id = i % 2 == 0 ? a.id : 999,
                        .nickname = i % 2 == 0 ? a.nickname : (char *) "gone",
                        .payload_json = payload,
                };
                (void) snprintf(payload, sizeof(payload), "{\"n\":%u}", i);
                ASSERT_OK(store_event_add(s, &e, &id));
                if (i == 0)
                        first = id;
                ASSERT_EQ(id, first + (int64_t) i);
        }
        ASSERT_ERROR(store_event_add(s, &(EventRecord) { .at = 1 }, NULL), EINVAL);

        /* Newest first by default, oldest first on request. */
        ASSERT_EQ(events_matching(s, &(EventFilter) {}, &c), 30u);
        ASSERT_EQ(c.ids[0], first + 29);
        ASSERT_EQ(c.ids[29], first);
        ASSERT_EQ(events_matching(s, &(EventFilter) { .oldest_first = true, .limit = 2 }, &c), 2u);
        ASSERT_EQ(c.ids[0], first);
        ASSERT_EQ(c.ids[1], first + 1);

        /* Filters, alone and together. */
        ASSERT_EQ(events_matching(s, &(EventFilter) { .cert_id = a.id }, &c), 15u);
        ASSERT_EQ(events_matching(s, &(EventFilter) { .cert_id = 999 }, &c), 15u);
        ASSERT_EQ(events_matching(s, &(EventFilter) { .event_id = 1002 }, &c), 10u);
        for (unsigned i = 0; i < c.n; i++)
                ASSERT_EQ(c.event_ids[i], 1002);
        ASSERT_EQ(events_matching(s, &(EventFilter) { .event_id = 1002, .cert_id = a.id }, &c), 5u);
        ASSERT_EQ(events_matching(s, &(EventFilter) { .since = 1700000000 + 60 * 25 }, &c), 5u);
        ASSERT_EQ(events_matching(s, &(EventFilter) { .since = 1700000000 + 60 * 25, .event_id = 1002,
                                                      .cert_id = a.id, .oldest_first = true }, &c), 1u);
        ASSERT_EQ(c.ids[0], first + 28);
        ASSERT_EQ(events_matching(s, &(EventFilter) { .event_id = 1007 }, &c), 0u);

        /* Paging, both ways: pages of 7 cover every event once. */
        for (int oldest = 0; oldest <= 1; oldest++) {
                EventFilter f = { .limit = 7, .oldest_first = oldest };
                int64_t prev = oldest ? 0 : INT64_MAX;
                unsigned seen = 0;

                for (;;) {
                        if (events_matching(s, &f, &c) == 0)
                                break;
                        for (unsigned i = 0; i < c.n; i++) {
                                ASSERT_TRUE(oldest ? c.ids[i] > prev : c.ids[i] < prev);
                                prev = c.ids[i];
                        }
                        seen += c.n;
                        f.after_id = c.ids[c.n - 1];
                }
                ASSERT_EQ(seen, 30u);
        }

        /* Pruning: strictly older than the bound. */
        ASSERT_OK(store_event_prune(s, 1700000000 + 60 * 10, &n));
        ASSERT_EQ(n, 10);
        ASSERT_EQ(events_matching(s, &(EventFilter) { .oldest_first = true }, &c), 20u);
        ASSERT_EQ(c.ids[0], first + 10);
        ASSERT_OK(store_event_prune(s, 1700000000 + 60 * 10, &n));
        ASSERT_EQ(n, 0);

        /* Ids are never reused after pruning: they are cursors. */
        ASSERT_OK(store_event_prune(s, INT64_MAX, &n));
        ASSERT_EQ(n, 20);
        ASSERT_OK(store_event_add(s, &(EventRecord) { .at = 1, .event_id = 1004 }, &id));
        ASSERT_EQ(id, first + 30);

        /* A removed certificate keeps its events. */
        ASSERT_OK(store_event_add(s, &(EventRecord) { .at = 2, .event_id = 1004, .cert_id = a.id }, NULL));
        ASSERT_OK(store_cert_delete(s, a.id));
        ASSERT_EQ(events_matching(s, &(EventFilter) { .cert_id = a.id }, &c), 1u);

        /* The counts per event id ignore pruning: 10 of each of 1001-1003, two 1004. */
        {
                EventCounts k = {};

                ASSERT_OK(store_event_counts_foreach(s, count_cb, &k));
                ASSERT_EQ(k.n, 4u);
                for (unsigned i = 0; i < 3; i++) {
                        ASSERT_EQ(k.ids[i], 1001 + (int) i);
                        ASSERT_EQ(k.counts[i], 10);
                }
                ASSERT_EQ(k.ids[3], 1004);
                ASSERT_EQ(k.counts[3], 2);
        }

        s = store_free(s);
        tmpdir_remove(&t);
}

/* A database of schema 2 (before events) gets the events table. */
TEST(events_migration) {
        TmpDir t;
        _cleanup_free_ char *p = NULL;
        _cleanup_(store_freep) Store *s = NULL;
        EventCollect c;

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        s = open_new(p);
        s = store_free(s);
        exec_raw(p, "DROP TABLE event_counts; DROP TABLE deploys_pending; DROP TABLE bindings; DROP TABLE subscriptions; DROP TABLE events; "
                    "PRAGMA user_version = 2");

        s = open_new(p);
        /* events (3), subscriptions (4), bindings (5), deploys (6), password files (7), event counts (8) */
        ASSERT_EQ(store_schema_version(s), 8);
        ASSERT_OK(store_event_add(s, &(EventRecord) { .at = 5, .event_id = 1006, .cert_id = 1 }, NULL));
        ASSERT_EQ(events_matching(s, NULL, &c), 1u);

        s = store_free(s);
        tmpdir_remove(&t);
}

/* A database of schema 7 gets its counts from the events it kept. */
TEST(event_counts_migration) {
        TmpDir t;
        _cleanup_free_ char *p = NULL;
        _cleanup_(store_freep) Store *s = NULL;
        EventCounts k = {};

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        s = open_new(p);
        for (int i = 0; i < 5; i++)
                ASSERT_OK(store_event_add(s, &(EventRecord) { .at = 5, .event_id = i < 3 ? 1102 : 1006 }, NULL));
        s = store_free(s);
        exec_raw(p, "DROP TABLE event_counts; PRAGMA user_version = 7");

        s = open_new(p);
        ASSERT_EQ(store_schema_version(s), 8);
        ASSERT_OK(store_event_counts_foreach(s, count_cb, &k));
        ASSERT_EQ(k.n, 2u);
        ASSERT_EQ(k.ids[0], 1006);
        ASSERT_EQ(k.counts[0], 2);
        ASSERT_EQ(k.ids[1], 1102);
        ASSERT_EQ(k.counts[1], 3);

        s = store_free(s);
        tmpdir_remove(&t);
}

static int sub_count(const SubscriptionRecord *r, void *userdata) {
        (*(unsigned *) userdata)++;
        return 0;
}

/* Subscriptions: add, cursor, failures, and pruning that spares what was not delivered. */
TEST(subscriptions) {
        TmpDir t;
        _cleanup_free_ char *p = NULL;
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(subscription_record_done) SubscriptionRecord got = {};
        SubscriptionRecord a = {
                .name = (char *) "hook",
                .kind = (char *) "webhook",
                .target = (char *) "http://127.0.0.1:1/x",
                .secret = (char *) "s3cret",
                .events = (char *) "1001,1006",
                .cursor = 0,
        };
        int64_t last = -1, n = 0, id;
        unsigned count = 0;
        EventCollect c;

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        s = open_new(p);

        ASSERT_OK(store_event_last_id(s, &last));
        ASSERT_EQ(last, 0);
        for (int i = 0; i < 3; i++)
                ASSERT_OK(store_event_add(s, &(EventRecord) { .at = 5, .event_id = 1006, .cert_id = 1 }, &id));
        ASSERT_OK(store_event_last_id(s, &last));
        ASSERT_EQ(last, id);

        ASSERT_OK(store_subscription_add(s, &a));
        ASSERT_ERROR(store_subscription_add(s, &a), EEXIST);
        ASSERT_OK(store_subscription_foreach(s, sub_count, &count));
        ASSERT_EQ(count, 1u);

        ASSERT_OK(store_subscription_failed(s, "hook", "HTTP 500", 100, 90));
        ASSERT_OK(store_subscription_failed(s, "hook", "HTTP 502", 200, 95));
        ASSERT_OK(store_subscription_get(s, "hook", &got));
        ASSERT_STREQ(got.secret, "s3cret");
        ASSERT_STREQ(got.last_error, "HTTP 502");
        ASSERT_EQ(got.attempts, 2);
        ASSERT_EQ(got.next_attempt_at, 200);
        subscription_record_done(&got);

        /* Nothing delivered: pruning by age keeps every event. */
        ASSERT_OK(store_event_prune(s, 1000, &n));
        ASSERT_EQ(n, 0);

        ASSERT_OK(store_subscription_delivered(s, "hook", id - 1, 300));
        ASSERT_OK(store_subscription_skip(s, "hook", id - 2)); /* never backwards */
        ASSERT_OK(store_subscription_get(s, "hook", &got));
        ASSERT_EQ(got.cursor, id - 1);
        ASSERT_EQ(got.attempts, 0);
        ASSERT_EQ(got.next_attempt_at, 0);
        ASSERT_NULL(got.last_error);
        ASSERT_EQ(got.delivered, 1);
        ASSERT_EQ(got.last_delivered_at, 300);

        /* The delivered ones go, the last stays. */
        ASSERT_OK(store_event_prune(s, 1000, &n));
        ASSERT_EQ(n, 2);
        ASSERT_EQ(events_matching(s, NULL, &c), 1u);

        ASSERT_OK(store_subscription_remove(s, "hook"));
        ASSERT_ERROR(store_subscription_remove(s, "hook"), ENOENT);
        ASSERT_OK(store_event_prune(s, 1000, &n));
        ASSERT_EQ(n, 1);

        s = store_free(s);
        tmpdir_remove(&t);
}

TEST(cas) {
        TmpDir t;
        _cleanup_free_ char *p = NULL, *err = NULL;
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(ca_record_done) CARecord got = {};
        CARecord a = {
                .name = (char *) "local",
                .type = (char *) "INTERNAL:LOCAL",
                .config_json = (char *) "{\"validity\":90}",
                .aka = (char *) "certkeeper local CA",
                .is_default = true,
                .created_at = 1700000001,
        };
        CARecord b = { .name = (char *) "acme", .type = (char *) "ACME", .helper = NULL };
        char names[200] = "";

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        s = open_new(p);

        ASSERT_OK(store_ca_insert(s, &a, NULL));
        ASSERT_OK(store_ca_insert(s, &b, NULL));
        ASSERT_ERROR(store_ca_insert(s, &a, &err), EEXIST);
        ASSERT_NOT_NULL(strstr(err, "\"local\""));

        ASSERT_OK(store_ca_get(s, "local", &got));
        ASSERT_STREQ(got.name, "local");
        ASSERT_STREQ(got.type, "INTERNAL:LOCAL");
        ASSERT_NULL(got.helper);
        ASSERT_STREQ(got.config_json, "{\"validity\":90}");
        ASSERT_STREQ(got.aka, "certkeeper local CA");
        ASSERT_TRUE(got.is_default);
        ASSERT_EQ(got.created_at, 1700000001);
        ca_record_done(&got);

        a.helper = (char *) "/usr/libexec/helper --x";
        a.is_default = false;
        ASSERT_OK(store_ca_update(s, &a));
        ASSERT_OK(store_ca_get(s, "local", &got));
        ASSERT_STREQ(got.helper, "/usr/libexec/helper --x");
        ASSERT_FALSE(got.is_default);
        ca_record_done(&got);

        ASSERT_OK(store_ca_foreach(s, ca_cb, names));
        ASSERT_STREQ(names, "acme,local,");

        ASSERT_OK(store_ca_delete(s, "acme"));
        ASSERT_ERROR(store_ca_delete(s, "acme"), ENOENT);
        ASSERT_ERROR(store_ca_get(s, "acme", &got), ENOENT);
        b.name = (char *) "nope";
        ASSERT_ERROR(store_ca_update(s, &b), ENOENT);

        s = store_free(s);
        tmpdir_remove(&t);
}

TEST(meta) {
        TmpDir t;
        _cleanup_free_ char *p = NULL, *v = NULL;
        _cleanup_(store_freep) Store *s = NULL;

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        s = open_new(p);

        ASSERT_ERROR(store_meta_get(s, "last_backup", &v), ENOENT);
        ASSERT_NULL(v);
        ASSERT_OK(store_meta_set(s, "last_backup", "1700000000"));
        ASSERT_OK(store_meta_get(s, "last_backup", &v));
        ASSERT_STREQ(v, "1700000000");
        v = mfree_test(v);
        ASSERT_OK(store_meta_set(s, "last_backup", "1700086400"));
        ASSERT_OK(store_meta_get(s, "last_backup", &v));
        ASSERT_STREQ(v, "1700086400");
        v = mfree_test(v);
        ASSERT_OK(store_meta_set(s, "last_backup", NULL));
        ASSERT_ERROR(store_meta_get(s, "last_backup", &v), ENOENT);

        s = store_free(s);
        tmpdir_remove(&t);
}

/* ---- backup, restore, recovery ----------------------------------------------------------------- */

#define MARKER_FMT "MARKER-%06u-MARKER"

/* A record whose every value can be recomputed from n, with a marker to find its page on disk. */
static void make_rich(CertRecord *r, unsigned n) {
        char buf[128];

        make_simple(r, n);
        (void) snprintf(buf, sizeof(buf), MARKER_FMT, n);
        ASSERT_OK(cert_record_set(&r->subject, buf));
        (void) snprintf(buf, sizeof(buf), "CN=host-%u.example.com,O=Example Widgets Unlimited", n);
        ASSERT_OK(cert_record_set(&r->issuer, buf));
        (void) snprintf(buf, sizeof(buf), "%064x", n * 2654435761u);
        ASSERT_OK(cert_record_set(&r->sha256, buf));
        r->not_after = 1800000000 + n;
        r->key_bits = 2048 + n;
}

static void populate(const char *path, unsigned count) {
        _cleanup_(store_freep) Store *s = open_new(path);

        ASSERT_OK(store_begin(s));
        for (unsigned i = 0; i < count; i++) {
                _cleanup_(cert_record_done) CertRecord r = {};
                HistoryRecord h = { .at = 5, .stage = (char *) "submit", .result = (char *) "ok" };

                make_rich(&r, i);
                ASSERT_OK(store_cert_insert(s, &r, NULL));
                ASSERT_EQ(r.id, (int64_t) i + 1);
                h.cert_id = r.id;
                ASSERT_OK(store_history_add(s, &h));
        }
        {
                /* A binding and a pending deploy of the first request: recovered with it. */
                BindingRecord b = { .cert_id = 1, .kind = (char *) "file", .path = (char *) "/x.pem",
                                    .layout = (char *) "combined", .password_file = NULL };
                ASSERT_OK(store_binding_add(s, &b, NULL));
                ASSERT_OK(store_deploy_pending_set(s, 1, "{\"sha256\":\"ab\"}", 7));
        }
        ASSERT_OK(store_meta_set(s, "hello", "world"));
        ASSERT_OK(store_commit(s));
}

static int count_binding(const BindingRecord *r, void *userdata) {
        ASSERT_STREQ(r->path, "/x.pem");
        (*(unsigned *) userdata)++;
        return 0;
}

static int count_pending(int64_t cert_id, const char *job, int64_t since, void *userdata) {
        ASSERT_EQ(cert_id, 1);
        ASSERT_STREQ(job, "{\"sha256\":\"ab\"}");
        (*(unsigned *) userdata)++;
        return 0;
}

static int verify_cb(const CertRecord *got, void *userdata) {
        unsigned *n = userdata;
        _cleanup_(cert_record_done) CertRecord want = {};

        ASSERT_TRUE(got->id >= 1);
        make_rich(&want, (unsigned) got->id - 1);
        check_record(&want, got);
        (*n)++;
        return 0;
}

static unsigned verify_all(Store *s) {
        unsigned n = 0;

        ASSERT_OK(store_cert_foreach(s, NULL, verify_cb, &n));
        return n;
}

/* Overwrites the database page holding row n's marker with garbage. The file must be closed. */
static void corrupt_page_of(const char *path, unsigned n) {
        char marker[64];
        _cleanup_free_ char *data = NULL, *wal = NULL;
        const long page = 4096;
        struct stat st;
        FILE *f;
        char *hit;
        long off;

        ASSERT_TRUE(asprintf(&wal, "%s-wal", path) >= 0);
        ASSERT_FALSE(file_exists(wal)); /* checkpointed on close */

        ASSERT_OK(stat(path, &st));
        data = malloc((size_t) st.st_size + 1);
        ASSERT_NOT_NULL(data);
        f = fopen(path, "r+e");
        ASSERT_NOT_NULL(f);
        ASSERT_EQ(fread(data, 1, (size_t) st.st_size, f), (size_t) st.st_size);

        (void) snprintf(marker, sizeof(marker), MARKER_FMT, n);
        hit = memmem(data, (size_t) st.st_size, marker, strlen(marker));
        ASSERT_NOT_NULL(hit);
        off = (hit - data) / page * page;
        ASSERT_TRUE(off > 0);

        memset(data + off, 0xA5, (size_t) page);
        ASSERT_OK(fseek(f, off, SEEK_SET));
        ASSERT_EQ(fwrite(data + off, 1, (size_t) page, f), (size_t) page);
        ASSERT_OK(fclose(f));
}

TEST(backup_corrupt_restore) {
        TmpDir t;
        _cleanup_free_ char *p = NULL, *bak = NULL, *bak1 = NULL, *online = NULL, *err = NULL, *aside = NULL;
        const unsigned N = 1000;

        tmpdir_make(&t);
        p = tmp_file(&t, "certkeeper.db");
        bak = tmp_file(&t, "certkeeper.db.bak");
        bak1 = tmp_file(&t, "certkeeper.db.bak.1");
        online = tmp_file(&t, "online.bak");

        populate(p, N);

        /* Online backup through an open store. */
        {
                _cleanup_(store_freep) Store *s = NULL;

                ASSERT_OK(store_open(p, false, &s, NULL));
                ASSERT_OK(store_begin(s));
                ASSERT_ERROR(store_backup_to(s, online, NULL), EBUSY);
                ASSERT_OK(store_rollback(s));
                ASSERT_OK(store_backup_to(s, online, &err));
        }
        ASSERT_OK(store_file_check(online, NULL));

        /* File backups: the second one keeps the first as .bak.1. */
        ASSERT_OK(store_file_backup(p, bak, &err));
        ASSERT_FALSE(file_exists(bak1));
        ASSERT_OK(store_file_backup(p, bak, &err));
        ASSERT_TRUE(file_exists(bak1));
        ASSERT_OK(store_file_check(bak, NULL));
        ASSERT_OK(store_file_check(bak1, NULL));
        ASSERT_OK(store_file_check(p, NULL));
        {
                _cleanup_free_ char *leftover = tmp_file(&t, "certkeeper.db.bak.tmp");
                ASSERT_FALSE(file_exists(leftover));
        }

        corrupt_page_of(p, N / 2);

        ASSERT_ERROR(store_file_check(p, &err), EBADMSG);
        ASSERT_NOT_NULL(err);
        fprintf(stderr, "  check said: %.200s\n", err);
        err = mfree_test(err);

        /* A damaged database is never backed up over a good backup. */
        ASSERT_ERROR(store_file_backup(p, bak, &err), EBADMSG);
        err = mfree_test(err);
        ASSERT_OK(store_file_check(bak, NULL));

        ASSERT_OK(store_file_restore(p, bak, &aside, &err));
        ASSERT_NULL(err);
        ASSERT_NOT_NULL(aside);
        ASSERT_TRUE(file_exists(aside));
        ASSERT_NOT_NULL(strstr(aside, "certkeeper.db.corrupt-"));
        ASSERT_OK(store_file_check(p, NULL));
        ASSERT_ERROR(store_file_check(aside, NULL), EBADMSG);

        {
                _cleanup_(store_freep) Store *s = NULL;
                _cleanup_free_ char *v = NULL;
                int64_t n;

                ASSERT_OK(store_open(p, false, &s, NULL));
                ASSERT_OK(store_cert_count(s, &n));
                ASSERT_EQ(n, N);
                ASSERT_EQ(verify_all(s), N);
                ASSERT_OK(store_history_count(s, 0, NULL, NULL, &n));
                ASSERT_EQ(n, N);
                ASSERT_OK(store_meta_get(s, "hello", &v));
                ASSERT_STREQ(v, "world");
                ASSERT_OK(store_check(s, NULL));
        }

        tmpdir_remove(&t);
}

TEST(restore_refuses_damaged_backup) {
        TmpDir t;
        _cleanup_free_ char *p = NULL, *bak = NULL, *err = NULL, *aside = NULL, *missing = NULL;

        tmpdir_make(&t);
        p = tmp_file(&t, "certkeeper.db");
        bak = tmp_file(&t, "certkeeper.db.bak");
        missing = tmp_file(&t, "nothing.bak");

        populate(p, 600);
        ASSERT_OK(store_file_backup(p, bak, NULL));
        corrupt_page_of(bak, 300);

        ASSERT_ERROR(store_file_restore(p, bak, &aside, &err), EBADMSG);
        ASSERT_NOT_NULL(err);
        ASSERT_NOT_NULL(strstr(err, "damaged"));
        ASSERT_NULL(aside);
        err = mfree_test(err);
        ASSERT_ERROR(store_file_restore(p, missing, &aside, &err), ENOENT);
        ASSERT_NOT_NULL(err);
        ASSERT_NULL(aside);

        /* The database itself was left alone. */
        ASSERT_OK(store_file_check(p, NULL));

        tmpdir_remove(&t);
}

TEST(recover) {
        TmpDir t;
        _cleanup_free_ char *p = NULL, *dest = NULL, *err = NULL;
        const unsigned N = 2000;
        unsigned rows = 0;

        tmpdir_make(&t);
        p = tmp_file(&t, "certkeeper.db");
        dest = tmp_file(&t, "recovered.db");

        populate(p, N);
        corrupt_page_of(p, N / 3);
        ASSERT_ERROR(store_file_check(p, NULL), EBADMSG);

        ASSERT_OK(store_file_recover(p, dest, &rows, &err));
        ASSERT_NULL(err);
        {
                /* The damaged file is left as it was, without side files. */
                _cleanup_free_ char *wal = tmp_file(&t, "certkeeper.db-wal"), *shm = tmp_file(&t, "certkeeper.db-shm");
                ASSERT_FALSE(file_exists(wal));
                ASSERT_FALSE(file_exists(shm));
        }
        fprintf(stderr, "  recovered %u rows\n", rows);

        {
                _cleanup_(store_freep) Store *s = NULL;
                _cleanup_(cert_record_freep) CertRecord *r = NULL;
                _cleanup_free_ char *v = NULL;
                int64_t certs, hist;
                unsigned good;

                ASSERT_OK(store_open(dest, false, &s, NULL));
                ASSERT_OK(store_check(s, NULL));
                ASSERT_OK(store_cert_count(s, &certs));
                ASSERT_OK(store_history_count(s, 0, NULL, NULL, &hist));
                fprintf(stderr, "  certs %" PRId64 " of %u, history %" PRId64 "\n", certs, N, hist);

                /* The damaged page held a few rows; the rest, before and after it, came back. */
                ASSERT_TRUE(certs < (int64_t) N);
                ASSERT_TRUE(certs >= (int64_t) N - 50);
                ASSERT_ERROR(store_cert_find_nickname(s, "cert-000666", &r), ENOENT);
                ASSERT_OK(store_cert_get(s, 1, &r));
                r = (cert_record_free(r), NULL);
                ASSERT_OK(store_cert_get(s, N, &r));

                good = verify_all(s);
                ASSERT_EQ(good, (unsigned) certs);
                ASSERT_TRUE(hist <= certs);
                ASSERT_TRUE(hist >= certs - 50);
                ASSERT_OK(store_meta_get(s, "hello", &v));
                ASSERT_STREQ(v, "world");
                {
                        unsigned n_bindings = 0, n_pending = 0;
                        ASSERT_OK(store_binding_foreach(s, 1, count_binding, &n_bindings));
                        ASSERT_OK(store_deploy_pending_foreach(s, count_pending, &n_pending));
                        ASSERT_EQ(n_bindings, 1u);
                        ASSERT_EQ(n_pending, 1u);
                }
                ASSERT_EQ(rows, (unsigned) (certs + hist + 1 + 2));
        }

        /* Never over an existing file. */
        err = mfree_test(err);
        ASSERT_ERROR(store_file_recover(p, dest, &rows, &err), EEXIST);
        ASSERT_NOT_NULL(err);

        tmpdir_remove(&t);
}

typedef struct PendingSeen {
        unsigned n;
        int64_t first_id;
        char first_job[32];
} PendingSeen;

static int pending_collect(int64_t cert_id, const char *job, int64_t since, void *userdata) {
        PendingSeen *p = userdata;

        if (p->n++ == 0) {
                p->first_id = cert_id;
                snprintf(p->first_job, sizeof(p->first_job), "%s", job);
        }
        return 0;
}

static int binding_copy(const BindingRecord *r, void *userdata) {
        BindingRecord *b = userdata;

        b->mode = r->mode;
        b->path = strdup(r->path);
        b->layout = strdup(r->layout);
        b->owner = r->owner ? strdup(r->owner) : NULL;
        b->password_file = r->password_file ? strdup(r->password_file) : NULL;
        return 0;
}

/* Pending deploys: one per certificate (replaced), cleared, gone with their certificate; the
 * file columns of bindings round-trip. */
TEST(deploys_pending) {
        TmpDir t;
        _cleanup_free_ char *p = NULL;
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(cert_record_done) CertRecord a = {}, b = {};
        _cleanup_(binding_record_done) BindingRecord got = {};
        BindingRecord bind = { .kind = (char *) "file", .path = (char *) "/x.pem", .layout = (char *) "combined",
                               .owner = (char *) "nobody", .mode = 0640 },
                      p12 = { .kind = (char *) "file", .path = (char *) "/x.p12", .layout = (char *) "pkcs12",
                              .password_file = (char *) "/etc/x.pass" };
        PendingSeen seen = {};
        int64_t bind_id = 0;

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        s = open_new(p);
        fill_record(&a, 1);
        fill_record(&b, 2);
        ASSERT_OK(store_cert_insert(s, &a, NULL));
        ASSERT_OK(store_cert_insert(s, &b, NULL));

        ASSERT_OK(store_deploy_pending_set(s, a.id, "{\"x\":1}", 10));
        ASSERT_OK(store_deploy_pending_set(s, a.id, "{\"x\":2}", 11));
        ASSERT_OK(store_deploy_pending_set(s, b.id, "{}", 12));
        ASSERT_OK(store_deploy_pending_foreach(s, pending_collect, &seen));
        ASSERT_EQ(seen.n, 2u);
        ASSERT_EQ(seen.first_id, a.id);
        ASSERT_STREQ(seen.first_job, "{\"x\":2}");
        ASSERT_OK(store_deploy_pending_clear(s, a.id));
        ASSERT_OK(store_cert_delete(s, b.id));
        seen = (PendingSeen) {};
        ASSERT_OK(store_deploy_pending_foreach(s, pending_collect, &seen));
        ASSERT_EQ(seen.n, 0u);

        bind.cert_id = a.id;
        ASSERT_OK(store_binding_add(s, &bind, &bind_id));
        ASSERT_OK(store_binding_foreach(s, a.id, binding_copy, &got));
        ASSERT_STREQ(got.path, "/x.pem");
        ASSERT_STREQ(got.layout, "combined");
        ASSERT_STREQ(got.owner, "nobody");
        ASSERT_EQ(got.mode, 0640);
        ASSERT_NULL(got.password_file);

        /* A pkcs12 binding's password file (migration 7): the path round-trips. */
        binding_record_done(&got);
        ASSERT_OK(store_binding_delete(s, a.id, bind_id));
        p12.cert_id = a.id;
        ASSERT_OK(store_binding_add(s, &p12, NULL));
        ASSERT_OK(store_binding_foreach(s, a.id, binding_copy, &got));
        ASSERT_STREQ(got.layout, "pkcs12");
        ASSERT_STREQ(got.password_file, "/etc/x.pass");
        ASSERT_NULL(got.owner);

        s = store_free(s);
        tmpdir_remove(&t);
}

/* A database of schema 6 gets the password_file column (migration 7); its bindings keep their
 * files and have no password. */
TEST(password_file_migration) {
        TmpDir t;
        _cleanup_free_ char *p = NULL;
        _cleanup_(store_freep) Store *s = NULL;
        _cleanup_(cert_record_done) CertRecord a = {};
        _cleanup_(binding_record_done) BindingRecord got = {};
        BindingRecord bind = { .kind = (char *) "file", .path = (char *) "/x.p12", .layout = (char *) "pkcs12" };

        tmpdir_make(&t);
        p = tmp_file(&t, "a.db");
        s = open_new(p);
        fill_record(&a, 1);
        ASSERT_OK(store_cert_insert(s, &a, NULL));
        bind.cert_id = a.id;
        ASSERT_OK(store_binding_add(s, &bind, NULL));
        s = store_free(s);
        exec_raw(p, "ALTER TABLE bindings DROP COLUMN password_file; DROP TABLE event_counts; PRAGMA user_version = 6");

        s = open_new(p);
        ASSERT_EQ(store_schema_version(s), 8);
        ASSERT_OK(store_binding_foreach(s, a.id, binding_copy, &got));
        ASSERT_STREQ(got.path, "/x.p12");
        ASSERT_STREQ(got.layout, "pkcs12");
        ASSERT_NULL(got.password_file);

        s = store_free(s);
        tmpdir_remove(&t);
}

TEST_MAIN()
