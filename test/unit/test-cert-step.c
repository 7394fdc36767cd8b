/* SPDX-License-Identifier: MIT */
/* Tests of the per-certificate state machine (certkeeperd-state.c): cert_step(), cert_job_done() and
 * cert_resume_all() over a real Store on a temporary file, the real scheduler and the default
 * configuration. The manager_* functions the state machine calls are a test double below: jobs are
 * recorded instead of run, and the tests answer them as the workers would. docs/STATE-MACHINE.md and
 * docs/HELPERS.md are the specification checked here. */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certkeeperd-manager-private.h"
#include "renew-policy.h"
#include "string-util.h"

#include "tests.h"


/* ---- The manager, as far as certkeeperd-state.c sees it ---------------------------------------- */

#define FAKE_JOBS_MAX 16
#define FAKE_HISTORY_MAX 256
#define FAKE_IDS_MAX 64

typedef struct FakeJob {
        int64_t id;
        JobOp op;
        json_t *job;
} FakeJob;

typedef struct FakeHistory {
        int64_t cert_id;
        char *stage, *result, *message;
} FakeHistory;

static struct {
        FakeJob jobs[FAKE_JOBS_MAX]; /* queued and not answered yet: these certificates are in flight */
        unsigned n_jobs;
        FakeHistory history[FAKE_HISTORY_MAX];
        unsigned n_history;
        int64_t scheduled[FAKE_IDS_MAX]; /* the last manager_schedule() per id */
        bool capacity;                   /* manager_has_capacity() */
        int queue_error;                 /* manager_queue_job() fails with it when set */
        int helper_queue_error;          /* manager_queue_helper_job() likewise */
        int check_error;                 /* manager_ca_check_request() */
        const char *check_words;
        int64_t pace_at;                 /* manager_acme_pace() refuses a new order until then */
        unsigned paced;                  /* new orders it was asked about */
} fake;

int manager_tx_begin(Manager *m) {
        int k;

        if (m->in_transaction)
                return 0;
        k = store_begin(m->store);
        if (k < 0)
                return k;
        m->in_transaction = true;
        return 0;
}

int manager_tx_commit(Manager *m) {
        if (!m->in_transaction)
                return 0;
        m->in_transaction = false;
        return store_commit(m->store);
}

int manager_schedule(Manager *m, int64_t id, int64_t at) {
        ASSERT_TRUE(id > 0 && id < FAKE_IDS_MAX);
        fake.scheduled[id] = at;
        return scheduler_set(m->scheduler, id, at);
}

bool manager_has_capacity(Manager *m) {
        return fake.capacity;
}

unsigned manager_workers_available(Manager *m) {
        return fake.capacity ? 1 : 0;
}

bool manager_in_flight(Manager *m, int64_t id) {
        for (unsigned i = 0; i < fake.n_jobs; i++)
                if (fake.jobs[i].id == id)
                        return true;
        return false;
}

static int fake_queue(int64_t id, JobOp op, json_t *job) {
        ASSERT_TRUE(fake.n_jobs < FAKE_JOBS_MAX);
        fake.jobs[fake.n_jobs++] = (FakeJob) { .id = id, .op = op, .job = job };
        return 0;
}

int manager_queue_job(Manager *m, int64_t id, JobOp op, json_t *job) {
        ASSERT_TRUE(op != JOB_SUBMIT);
        if (fake.queue_error != 0) {
                json_decref(job);
                return fake.queue_error;
        }
        return fake_queue(id, op, job);
}

int manager_queue_helper_job(Manager *m, int64_t id, JobOp op, json_t *job) {
        ASSERT_TRUE(IN_SET(op, JOB_SUBMIT, JOB_ARI));
        if (fake.helper_queue_error != 0) {
                json_decref(job);
                return fake.helper_queue_error;
        }
        return fake_queue(id, op, job);
}

int manager_history(Manager *m, int64_t cert_id, const char *stage, const char *result, const char *message,
                    int64_t duration_ms) {
        FakeHistory *h;

        ASSERT_TRUE(fake.n_history < FAKE_HISTORY_MAX);
        h = &fake.history[fake.n_history++];
        *h = (FakeHistory) {
                .cert_id = cert_id,
                .stage = stage ? strdup(stage) : NULL,
                .result = result ? strdup(result) : NULL,
                .message = message ? strdup(message) : NULL,
        };
        return 0;
}

void batch_free_slot(Manager *m, unsigned slot) {
        Batch *b = &m->batches[slot];

        json_decref(b->items);
        *b = (Batch) { .state = BATCH_FREE };
}

int manager_ca_check_request(Manager *m, const CARecord *ca, const CertRecord *r, bool renewal, char **reterr) {
        if (fake.check_error != 0 && reterr)
                *reterr = strdup(fake.check_words);
        return fake.check_error;
}

json_t *manager_ca_data(const CARecord *ca) {
        return ca->data_json ? json_loads(ca->data_json, 0, NULL) : NULL;
}

/* ACME CAs are not driven by these tests: an order job that names itself is enough. */
int manager_acme_job(Manager *m, const CARecord *ca, const CertRecord *r, json_t **ret, char **reterr) {
        json_t *job = json_pack("{s:s, s:s, s:s?}", "op", "acme-order", "ca", ca->name, "cookie", r->ca_cookie);

        if (!job)
                return -ENOMEM;
        *ret = job;
        return 0;
}

void manager_acme_job_done(Manager *m, int64_t id, json_t *reply) {
}

int manager_acme_pace(Manager *m, const CARecord *ca, int64_t now, int64_t *ret_at) {
        fake.paced++;
        if (fake.pace_at > now) {
                *ret_at = fake.pace_at;
                return -EAGAIN;
        }
        return 0;
}

int manager_acme_ari_job(Manager *m, const CARecord *ca, const CertRecord *r, json_t **ret, char **reterr) {
        json_t *job = json_pack("{s:s, s:s, s:s?}", "op", "acme-ari", "ca", ca->name, "cert_path", r->cert_path);

        if (!job)
                return -ENOMEM;
        *ret = job;
        return 0;
}

/* ---- Test environment -------------------------------------------------------------------------- */

#define CA_LOCAL "local"
#define CA_EXTERNAL "ext"
#define HELPER_CMD "/usr/libexec/test-submit -v"

typedef struct Env {
        char dir[64];
        char *db_path;
        Manager m;
} Env;

static void fake_reset(void) {
        for (unsigned i = 0; i < fake.n_jobs; i++)
                json_decref(fake.jobs[i].job);
        for (unsigned i = 0; i < fake.n_history; i++) {
                free(fake.history[i].stage);
                free(fake.history[i].result);
                free(fake.history[i].message);
        }
        fake = (typeof(fake)) { .capacity = false };
}

static char *path_in(const Env *e, const char *name) {
        char *p = NULL;

        ASSERT_TRUE(asprintf(&p, "%s/%s", e->dir, name) >= 0);
        return p;
}

static void ca_add(Env *e, const char *name, const char *type, const char *helper, const char *data_json) {
        _cleanup_free_ char *err = NULL;
        CARecord ca = {
                .name = (char *) name,
                .type = (char *) type,
                .helper = (char *) helper,
                .data_json = (char *) data_json,
                .created_at = (int64_t) time(NULL),
        };

        ASSERT_OK(store_ca_insert(e->m.store, &ca, &err));
}

static void env_setup(Env *e) {
        _cleanup_free_ char *err = NULL;
        Manager *m = &e->m;

        fake_reset();
        *e = (Env) {};
        (void) snprintf(e->dir, sizeof(e->dir), "/tmp/test-cert-step-XXXXXX");
        ASSERT_NOT_NULL(mkdtemp(e->dir));
        e->db_path = path_in(e, "certkeeper.db");

        config_init(&m->cfg);
        ASSERT_OK(store_open(e->db_path, true, &m->store, &err));
        m->scheduler = scheduler_new();
        ASSERT_NOT_NULL(m->scheduler);
        m->local_ca_dir = path_in(e, "local-ca");
        m->certs_dir = path_in(e, "certs");
        m->archive_dir = path_in(e, "archive");
        m->n_batches = 4;
        m->batches = calloc(m->n_batches, sizeof(Batch));
        ASSERT_NOT_NULL(m->batches);
        for (unsigned op = 0; op < _JOB_OP_MAX; op++)
                m->open_batch[op] = -1;
        m->n_notify_ttls = config_notify_ttls(&m->cfg, m->notify_ttls, NOTIFY_TTLS_MAX);

        ca_add(e, CA_LOCAL, "INTERNAL:LOCAL", NULL, NULL);
        /* No refresh has run yet: its data_json is NULL. */
        ca_add(e, CA_EXTERNAL, "EXTERNAL", HELPER_CMD, NULL);
}

static void env_teardown(Env *e) {
        Manager *m = &e->m;
        DIR *d;
        struct dirent *de;

        ASSERT_FALSE(m->in_transaction);
        fake_reset();
        for (unsigned i = 0; i < m->n_batches; i++)
                json_decref(m->batches[i].items);
        free(m->batches);
        store_free(m->store);
        scheduler_free(m->scheduler);
        config_done(&m->cfg);
        free(m->local_ca_dir);
        free(m->certs_dir);
        free(m->archive_dir);
        free(e->db_path);

        d = opendir(e->dir);
        ASSERT_NOT_NULL(d);
        while ((de = readdir(d)))
                if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                        ASSERT_OK(unlinkat(dirfd(d), de->d_name, 0));
        closedir(d);
        ASSERT_OK(rmdir(e->dir));
}

/* What manager_tx_commit() does at the end of a loop iteration: the changes become durable. */
static void commit(Env *e) {
        ASSERT_OK(manager_tx_commit(&e->m));
}

static CertRecord *cert_load(Env *e, int64_t id) {
        CertRecord *r = NULL;

        ASSERT_OK(store_cert_get(e->m.store, id, &r));
        return r;
}

/* cert_record_free() returns nothing: this one returns NULL, for "r = cert_drop(r);". */
static CertRecord *cert_drop(CertRecord *r) {
        cert_record_free(r);
        return NULL;
}

static void cert_put(Env *e, const CertRecord *r) {
        _cleanup_free_ char *err = NULL;

        ASSERT_OK(store_cert_update(e->m.store, r, &err));
}

/* A request as the API stores it: key and certificate paths in the test directory, renewing. */
static int64_t cert_add(Env *e, const char *nickname, const char *ca, CertState state) {
        _cleanup_(cert_record_freep) CertRecord *r = calloc(1, sizeof(CertRecord));
        _cleanup_free_ char *err = NULL, *cert = NULL, *key = NULL;
        char name[128];

        ASSERT_NOT_NULL(r);
        (void) snprintf(name, sizeof(name), "%s.crt", nickname);
        cert = path_in(e, name);
        (void) snprintf(name, sizeof(name), "%s.key", nickname);
        key = path_in(e, name);
        ASSERT_OK(cert_record_set(&r->nickname, nickname));
        ASSERT_OK(cert_record_set(&r->ca, ca));
        ASSERT_OK(cert_record_set(&r->cert_path, cert));
        ASSERT_OK(cert_record_set(&r->key_path, key));
        r->state = state;
        r->autorenew = true;
        r->track = true;
        r->created_at = r->updated_at = (int64_t) time(NULL);
        /* Due, also for a "now" a test took before adding it. */
        r->next_action_at = r->created_at - 60;
        ASSERT_OK(store_cert_insert(e->m.store, r, &err));
        ASSERT_TRUE(r->id > 0 && r->id < FAKE_IDS_MAX);
        return r->id;
}

/* Gives a record a certificate, as a save or a read would have: it then renews, and a failure keeps
 * it. */
static void cert_give_certificate(Env *e, int64_t id, int64_t not_before, int64_t not_after, int64_t renew_at) {
        _cleanup_(cert_record_freep) CertRecord *r = cert_load(e, id);

        ASSERT_OK(cert_record_set(&r->sha256, "AA:BB:CC"));
        ASSERT_OK(cert_record_set(&r->subject, "CN=test"));
        r->not_before = not_before;
        r->not_after = not_after;
        r->renew_at = renew_at;
        cert_put(e, r);
}

static void cert_set_state(Env *e, int64_t id, CertState state, int64_t next_action_at) {
        _cleanup_(cert_record_freep) CertRecord *r = cert_load(e, id);

        r->state = state;
        r->next_action_at = next_action_at;
        cert_put(e, r);
}

static void step(Env *e, int64_t id, int64_t now) {
        ASSERT_OK(cert_step(&e->m, id, now));
        commit(e);
}

static unsigned jobs_for(int64_t id) {
        unsigned n = 0;

        for (unsigned i = 0; i < fake.n_jobs; i++)
                if (fake.jobs[i].id == id)
                        n++;
        return n;
}

/* Takes the one job queued for id, which must be of op; the caller owns the JSON. */
static json_t *take_job(int64_t id, JobOp op) {
        json_t *job = NULL;

        ASSERT_EQ(jobs_for(id), 1);
        for (unsigned i = 0; i < fake.n_jobs; i++)
                if (fake.jobs[i].id == id) {
                        ASSERT_EQ(fake.jobs[i].op, op);
                        job = fake.jobs[i].job;
                        memmove(fake.jobs + i, fake.jobs + i + 1, (fake.n_jobs - i - 1) * sizeof(FakeJob));
                        fake.n_jobs--;
                        break;
                }
        ASSERT_NOT_NULL(job);
        return job;
}

static const char *job_str(json_t *job, const char *key) {
        return json_string_value(json_object_get(job, key));
}

static bool job_bool(json_t *job, const char *key) {
        json_t *v = json_object_get(job, key);

        ASSERT_TRUE(json_is_boolean(v));
        return json_is_true(v);
}

/* Delivers a worker's reply (taken) as the manager does: read and submit jobs one certificate per
 * job (cookie id * _JOB_OP_MAX + op), issue and save jobs in a batch (negative cookie, the reply's
 * items in order). A NULL reply is a worker that died, with failure as the words. */
static void deliver(Env *e, int64_t id, JobOp op, json_t *reply, const char *failure) {
        Manager *m = &e->m;

        if (IN_SET(op, JOB_ISSUE, JOB_SAVE)) {
                json_t *batch = NULL;
                unsigned slot = 1; /* not 0: a cookie from the wrong slot would show */

                ASSERT_EQ(m->batches[slot].state, BATCH_FREE);
                m->batches[slot] = (Batch) { .state = BATCH_BUSY, .op = op, .n = 1, .items = json_array() };
                m->batches[slot].ids[0] = id;
                ASSERT_NOT_NULL(m->batches[slot].items);
                if (reply) {
                        batch = json_pack("{s:b, s:[o]}", "ok", 1, "items", reply);
                        ASSERT_NOT_NULL(batch);
                }
                cert_job_done(m, -(int64_t) slot - 1, batch, failure);
                ASSERT_EQ(m->batches[slot].state, BATCH_FREE);
                json_decref(batch);
        } else {
                cert_job_done(m, id * _JOB_OP_MAX + op, reply, failure);
                json_decref(reply);
        }
        commit(e);
}

/* Replies as the workers write them (certkeeperd-jobs.c, certkeeperd-jobs-helper.c). */
static json_t *reply_issued(const char *csr_pem, const char *issued_pem) {
        return json_pack("{s:b, s:s, s:s, s:s, s:i, s:i}", "ok", 1, "csr_pem", csr_pem, "issued_pem",
                         issued_pem, "key_type", "EC", "key_bits", 256, "duration_ms", 12);
}

static json_t *reply_csr_only(const char *csr_pem) {
        return json_pack("{s:b, s:s, s:s, s:i, s:i}", "ok", 1, "csr_pem", csr_pem, "key_type", "EC", "key_bits",
                         256, "duration_ms", 3);
}

static json_t *reply_error(const char *result, const char *error) {
        return json_pack("{s:b, s:s, s:s, s:i}", "ok", 0, "result", result, "error", error, "duration_ms", 1);
}

static json_t *reply_helper_issued(const char *issued_pem) {
        return json_pack("{s:b, s:s, s:s, s:s, s:i}", "ok", 1, "result", "issued", "issued_pem", issued_pem,
                         "csr_pem", "CSR", "duration_ms", 40);
}

static json_t *reply_helper(const char *result, const char *error, const char *cookie, int64_t delay) {
        return json_pack("{s:b, s:s, s:s, s:s?, s:I, s:i}", "ok", 0, "result", result, "error", error, "cookie",
                         cookie, "delay", (json_int_t) delay, "duration_ms", 40);
}

static json_t *facts(const char *sha256, int64_t not_before, int64_t not_after) {
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:{s:[s]}}", "subject", "CN=web.example",
                         "issuer", "CN=Test CA", "serial", "01", "sha1", "11:22", "sha256", sha256,
                         "not_before", (json_int_t) not_before, "not_after", (json_int_t) not_after, "info",
                         "dns", "web.example");
}

static json_t *reply_saved(const char *sha256, int64_t not_before, int64_t not_after) {
        return json_pack("{s:b, s:o, s:[], s:i}", "ok", 1, "facts", facts(sha256, not_before, not_after),
                         "hooks", "duration_ms", 5);
}

static json_t *reply_read(const char *cert, const char *key, int match, json_t *cert_facts) {
        return json_pack("{s:b, s:s, s:s, s:o?, s:i, s:s, s:i}", "ok", 1, "cert", cert, "key", key, "facts",
                         cert_facts, "match", match, "key_type", "EC", "key_bits", 256);
}

static const FakeHistory *history_last(int64_t id) {
        for (unsigned i = fake.n_history; i > 0; i--)
                if (fake.history[i - 1].cert_id == id)
                        return &fake.history[i - 1];
        return NULL;
}

#define ASSERT_STATE(r, s) ASSERT_STREQ(cert_state_to_string((r)->state), cert_state_to_string(s))

/* Times set by cert_job_done(), which reads the clock itself: lo + d <= v <= hi + d. */
#define ASSERT_AFTER(v, lo, hi, d)                                                                \
        do {                                                                                      \
                long long _v_ = (long long) (v), _lo_ = (long long) (lo) + (d), _hi_ = (long long) (hi) + (d); \
                if (_v_ < _lo_ || _v_ > _hi_) {                                                   \
                        fprintf(stderr, "%s:%i: %s = %lld not in [%lld, %lld]\n", __FILE__, __LINE__, #v, _v_, \
                                _lo_, _hi_);                                                      \
                        abort();                                                                  \
                }                                                                                 \
        } while (0)

/* ---- Built-in CAs: issue and save ---------------------------------------------------------------- */

TEST(new_request_key_issue_save) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, t0, t1, nb, na;
        json_t *job;
        Env e;

        env_setup(&e);
        id = cert_add(&e, "web", CA_LOCAL, CERT_NEWLY_ADDED);

        /* The files are read first. */
        t0 = time(NULL);
        step(&e, id, t0);
        /* In flight: another step starts nothing. */
        step(&e, id, t0);
        job = take_job(id, JOB_READ);
        ASSERT_STREQ(job_str(job, "op"), "read");
        ASSERT_STREQ(job_str(job, "nickname"), "web");
        ASSERT_TRUE(endswith(job_str(job, "cert_path"), "/web.crt"));
        ASSERT_TRUE(endswith(job_str(job, "key_path"), "/web.key"));
        json_decref(job);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEWLY_ADDED);
        ASSERT_EQ(r->next_action_at, 0);
        r = cert_drop(r);

        /* Neither certificate nor key: a new key is needed. */
        t0 = time(NULL);
        deliver(&e, id, JOB_READ, reply_read("absent", "absent", -1, NULL), NULL);
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_KEY_PAIR);
        ASSERT_TRUE(r->rekey_pending);
        ASSERT_AFTER(r->next_action_at, t0, t1, 0);
        ASSERT_EQ(fake.scheduled[id], r->next_action_at);
        ASSERT_STREQ(history_last(id)->stage, "read");
        ASSERT_STREQ(history_last(id)->result, "ok");
        r = cert_drop(r);

        /* NEED_KEY_PAIR: an issue job that makes a new key. */
        t0 = time(NULL);
        step(&e, id, t0);
        job = take_job(id, JOB_ISSUE);
        ASSERT_STREQ(job_str(job, "op"), "issue");
        ASSERT_TRUE(job_bool(job, "need_key"));
        ASSERT_TRUE(job_bool(job, "use_staged"));
        ASSERT_STREQ(job_str(job, "ca_type"), "INTERNAL:LOCAL");
        ASSERT_STREQ(job_str(job, "key_type"), e.m.cfg.key_type);
        ASSERT_EQ(json_integer_value(json_object_get(job, "validity")), e.m.cfg.local_validity);
        ASSERT_STREQ(job_str(job, "local_dir"), e.m.local_ca_dir);
        json_decref(job);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_SUBMITTING);
        ASSERT_EQ(r->next_action_at, 0);
        ASSERT_EQ(fake.scheduled[id], 0);
        r = cert_drop(r);

        /* Issued: held in the database until it is saved. No free worker: it waits, due now. */
        t0 = time(NULL);
        deliver(&e, id, JOB_ISSUE, reply_issued("CSR-1", "ISSUED-1"), NULL);
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_TO_SAVE_CERT);
        ASSERT_STREQ(r->issued_pem, "ISSUED-1");
        ASSERT_STREQ(r->csr_pem, "CSR-1");
        ASSERT_STREQ(r->stage_issue, "ok");
        ASSERT_STREQ(r->key_type, "EC");
        ASSERT_EQ(r->key_bits, 256);
        ASSERT_TRUE(r->rekey_pending); /* the new key stays staged until it is saved */
        ASSERT_AFTER(r->next_action_at, t0, t1, 0);
        ASSERT_EQ(jobs_for(id), 0);
        r = cert_drop(r);

        /* NEED_TO_SAVE_CERT: a save job with what was issued. */
        step(&e, id, time(NULL));
        job = take_job(id, JOB_SAVE);
        ASSERT_STREQ(job_str(job, "op"), "save");
        ASSERT_STREQ(job_str(job, "issued_pem"), "ISSUED-1");
        ASSERT_TRUE(job_bool(job, "use_staged"));
        ASSERT_STREQ(job_str(job, "archive_dir"), e.m.archive_dir);
        ASSERT_TRUE(json_is_null(json_object_get(job, "pre_save_cmd")));
        json_decref(job);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_SAVING_CERT);
        r = cert_drop(r);

        /* Saved: MONITORING until the renewal time, which is drawn within the default rule (1/3 of the
         * lifetime left, minus at most an hour of jitter). */
        nb = time(NULL) - 60;
        na = nb + 90 * 86400;
        deliver(&e, id, JOB_SAVE, reply_saved("AA:01", nb, na), NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_MONITORING);
        ASSERT_EQ(r->backoff_step, 0);
        ASSERT_NULL(r->issued_pem);
        ASSERT_NULL(r->ca_error);
        ASSERT_STREQ(r->stage_save, "ok");
        ASSERT_STREQ(r->sha256, "AA:01");
        ASSERT_STREQ(r->subject, "CN=web.example");
        ASSERT_EQ(r->not_after, na);
        ASSERT_FALSE(r->rekey_pending);
        ASSERT_EQ(r->rekey_count, 0);
        ASSERT_EQ(r->issued_count, 1);
        ASSERT_TRUE(r->renew_at >= na - 30 * 86400 - 3600 && r->renew_at <= na - 30 * 86400);
        ASSERT_EQ(r->next_action_at, r->renew_at);
        ASSERT_EQ(fake.scheduled[id], r->renew_at);
        ASSERT_EQ(scheduler_peek(e.m.scheduler, NULL), r->renew_at);
        ASSERT_STREQ(history_last(id)->stage, "save");
        ASSERT_EQ(fake.n_jobs, 0);

        env_teardown(&e);
}

TEST(issue_reply_starts_save_at_once) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id;
        json_t *job;
        Env e;

        env_setup(&e);
        id = cert_add(&e, "web", CA_LOCAL, CERT_NEED_KEY_PAIR);
        fake.capacity = true;

        step(&e, id, time(NULL));
        json_decref(take_job(id, JOB_ISSUE));
        /* With a worker free, the reply's own step starts the save. */
        deliver(&e, id, JOB_ISSUE, reply_issued("CSR-1", "ISSUED-1"), NULL);
        job = take_job(id, JOB_SAVE);
        ASSERT_STREQ(job_str(job, "issued_pem"), "ISSUED-1");
        json_decref(job);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_SAVING_CERT);
        ASSERT_STREQ(r->issued_pem, "ISSUED-1");
        ASSERT_EQ(r->next_action_at, 0);

        env_teardown(&e);
}

TEST(no_worker_changes_nothing) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, now = time(NULL);
        Env e;

        env_setup(&e);
        id = cert_add(&e, "web", CA_LOCAL, CERT_NEED_CSR);
        fake.queue_error = -EBUSY;
        ASSERT_ERROR(cert_step(&e.m, id, now), EBUSY);
        commit(&e);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_CSR);
        ASSERT_EQ(r->backoff_step, 0);
        ASSERT_EQ(jobs_for(id), 0);

        env_teardown(&e);
}

TEST(worker_died_goes_back_with_backoff) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, t0, t1;
        json_t *job;
        Env e;

        env_setup(&e);
        id = cert_add(&e, "web", CA_LOCAL, CERT_NEED_KEY_PAIR);
        step(&e, id, time(NULL));
        json_decref(take_job(id, JOB_ISSUE));

        /* A local failure: the state before the job (a rekey stays pending), with backoff. */
        t0 = time(NULL);
        deliver(&e, id, JOB_ISSUE, NULL, "the worker died");
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_TO_SUBMIT);
        ASSERT_TRUE(r->rekey_pending);
        ASSERT_EQ(r->backoff_step, 1);
        ASSERT_AFTER(r->next_action_at, t0, t1, 60);
        ASSERT_STREQ(r->ca_error, "the worker died");
        ASSERT_STREQ(history_last(id)->result, "failed");

        /* When due: a new issue job, still with a new key. */
        step(&e, id, r->next_action_at);
        job = take_job(id, JOB_ISSUE);
        ASSERT_TRUE(job_bool(job, "need_key"));
        json_decref(job);

        env_teardown(&e);
}

TEST(internal_unreachable_backs_off) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, t0, t1, due;
        json_t *job;
        Env e;

        env_setup(&e);
        id = cert_add(&e, "web", CA_LOCAL, CERT_NEED_CSR);
        step(&e, id, time(NULL));
        job = take_job(id, JOB_ISSUE);
        ASSERT_FALSE(job_bool(job, "need_key"));
        json_decref(job);

        t0 = time(NULL);
        deliver(&e, id, JOB_ISSUE, reply_error("unreachable", "the local CA cannot be opened"), NULL);
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_CA_UNREACHABLE);
        ASSERT_EQ(r->backoff_step, 1);
        ASSERT_AFTER(r->next_action_at, t0, t1, 60);
        ASSERT_STREQ(r->ca_error, "the local CA cannot be opened");
        ASSERT_STREQ(r->stage_issue, "failed: the local CA cannot be opened");
        ASSERT_EQ(fake.scheduled[id], r->next_action_at);
        due = r->next_action_at;
        r = cert_drop(r);

        /* Too early: only rescheduled. */
        fake.scheduled[id] = -1;
        step(&e, id, due - 1);
        ASSERT_EQ(jobs_for(id), 0);
        ASSERT_EQ(fake.scheduled[id], due);

        /* Due: issued again; unreachable again: 10 minutes. */
        step(&e, id, due);
        json_decref(take_job(id, JOB_ISSUE));
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_SUBMITTING);
        r = cert_drop(r);
        t0 = time(NULL);
        deliver(&e, id, JOB_ISSUE, reply_error("unreachable", "still down"), NULL);
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_CA_UNREACHABLE);
        ASSERT_EQ(r->backoff_step, 2);
        ASSERT_AFTER(r->next_action_at, t0, t1, 600);

        env_teardown(&e);
}

TEST(internal_rejected) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, renewal, now = time(NULL), t0, t1;
        Env e;

        env_setup(&e);

        /* Without a certificate: stuck. */
        id = cert_add(&e, "new", CA_LOCAL, CERT_NEED_CSR);
        step(&e, id, now);
        json_decref(take_job(id, JOB_ISSUE));
        deliver(&e, id, JOB_ISSUE, reply_error("rejected", "policy says no"), NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_CA_REJECTED);
        ASSERT_TRUE(cert_state_is_stuck(r->state));
        ASSERT_EQ(r->next_action_at, 0);
        ASSERT_EQ(fake.scheduled[id], 0);
        ASSERT_STREQ(r->ca_error, "policy says no");
        ASSERT_EQ(r->backoff_step, 0);
        r = cert_drop(r);

        /* A renewal keeps the certificate it has, and is retried. */
        renewal = cert_add(&e, "renewal", CA_LOCAL, CERT_NEED_CSR);
        cert_give_certificate(&e, renewal, now - 80 * 86400, now + 10 * 86400, now - 3600);
        step(&e, renewal, now);
        json_decref(take_job(renewal, JOB_ISSUE));
        t0 = time(NULL);
        deliver(&e, renewal, JOB_ISSUE, reply_error("rejected", "policy says no"), NULL);
        t1 = time(NULL);
        r = cert_load(&e, renewal);
        ASSERT_STATE(r, CERT_MONITORING);
        ASSERT_EQ(r->backoff_step, 1);
        ASSERT_AFTER(r->next_action_at, t0, t1, 60);
        ASSERT_STREQ(r->ca_error, "policy says no");
        ASSERT_STREQ(r->sha256, "AA:BB:CC");

        env_teardown(&e);
}

/* ---- EXTERNAL CAs: the CSR, then the helper ------------------------------------------------------ */

/* Brings an EXTERNAL request with a CSR to SUBMITTING; returns the submit job. */
static json_t *external_submitting(Env *e, int64_t id, int64_t now) {
        _cleanup_(cert_record_freep) CertRecord *r = cert_load(e, id);

        ASSERT_OK(cert_record_set(&r->csr_pem, "CSR-EXT"));
        r->state = CERT_NEED_TO_SUBMIT;
        r->next_action_at = now;
        cert_put(e, r);
        step(e, id, now);
        return take_job(id, JOB_SUBMIT);
}

TEST(external_csr_submit_poll_issue) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, t0, t1, due;
        json_t *job;
        Env e;

        env_setup(&e);
        id = cert_add(&e, "ext", CA_EXTERNAL, CERT_NEED_CSR);
        /* A cookie of an earlier submission that a new CSR makes stale. */
        r = cert_load(&e, id);
        ASSERT_OK(cert_record_set(&r->ca_cookie, "stale"));
        cert_put(&e, r);
        r = cert_drop(r);

        /* NEED_CSR: an issue job that only makes the CSR. */
        step(&e, id, time(NULL));
        job = take_job(id, JOB_ISSUE);
        ASSERT_STREQ(job_str(job, "ca_type"), "EXTERNAL");
        ASSERT_FALSE(job_bool(job, "need_key"));
        json_decref(job);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_GENERATING_CSR);
        ASSERT_EQ(r->next_action_at, 0);
        r = cert_drop(r);

        /* The CSR, and no certificate: ready for the helper. */
        t0 = time(NULL);
        deliver(&e, id, JOB_ISSUE, reply_csr_only("CSR-EXT"), NULL);
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_TO_SUBMIT);
        ASSERT_STREQ(r->csr_pem, "CSR-EXT");
        ASSERT_NULL(r->ca_cookie);
        ASSERT_NULL(r->issued_pem);
        ASSERT_AFTER(r->next_action_at, t0, t1, 0);
        r = cert_drop(r);

        /* NEED_TO_SUBMIT: SUBMIT, in the helper pool. */
        step(&e, id, time(NULL));
        job = take_job(id, JOB_SUBMIT);
        ASSERT_STREQ(job_str(job, "op"), "submit");
        ASSERT_STREQ(job_str(job, "helper_op"), "SUBMIT");
        ASSERT_STREQ(job_str(job, "ca"), CA_EXTERNAL);
        ASSERT_STREQ(job_str(job, "helper"), HELPER_CMD);
        ASSERT_STREQ(job_str(job, "csr_pem"), "CSR-EXT");
        ASSERT_NULL(job_str(job, "cookie"));
        ASSERT_NULL(job_str(job, "cert_path")); /* no certificate yet */
        ASSERT_STREQ(job_str(job, "home"), e.m.cfg.run_dir);
        ASSERT_EQ(json_integer_value(json_object_get(job, "timeout")), e.m.cfg.helper_timeout);
        ASSERT_EQ(json_integer_value(json_object_get(job, "output_max")), e.m.cfg.helper_output_max);
        json_decref(job);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_SUBMITTING);
        r = cert_drop(r);

        /* Exit 5: wait 30 s, with a cookie. */
        t0 = time(NULL);
        deliver(&e, id, JOB_SUBMIT,
                reply_helper("waiting", "the CA has not issued the certificate yet", "req-42", 30), NULL);
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_CA_WORKING);
        ASSERT_AFTER(r->next_action_at, t0, t1, 30);
        ASSERT_STREQ(r->ca_cookie, "req-42");
        ASSERT_EQ(r->backoff_step, 0);
        ASSERT_NULL(r->ca_error);
        ASSERT_TRUE(startswith(r->stage_issue, "waiting: "));
        ASSERT_STREQ(history_last(id)->stage, "submit");
        ASSERT_STREQ(history_last(id)->result, "waiting");
        due = r->next_action_at;
        r = cert_drop(r);

        /* Not yet. */
        step(&e, id, due - 1);
        ASSERT_EQ(jobs_for(id), 0);

        /* Due: POLL with the cookie. */
        step(&e, id, due);
        job = take_job(id, JOB_SUBMIT);
        ASSERT_STREQ(job_str(job, "helper_op"), "POLL");
        ASSERT_STREQ(job_str(job, "cookie"), "req-42");
        ASSERT_STREQ(job_str(job, "csr_pem"), "CSR-EXT");
        json_decref(job);

        /* Issued. */
        t0 = time(NULL);
        deliver(&e, id, JOB_SUBMIT, reply_helper_issued("ISSUED-EXT"), NULL);
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_TO_SAVE_CERT);
        ASSERT_STREQ(r->issued_pem, "ISSUED-EXT");
        ASSERT_NULL(r->ca_cookie);
        ASSERT_NULL(r->ca_error);
        ASSERT_STREQ(r->stage_issue, "ok");
        ASSERT_EQ(r->backoff_step, 0);
        ASSERT_AFTER(r->next_action_at, t0, t1, 0);

        env_teardown(&e);
}

TEST(external_csr_then_submit_at_once) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id;
        json_t *job;
        Env e;

        env_setup(&e);
        id = cert_add(&e, "ext", CA_EXTERNAL, CERT_NEED_KEY_PAIR);
        fake.capacity = true;

        /* A new key: GENERATING_KEY_PAIR while the worker makes it and the CSR. */
        step(&e, id, time(NULL));
        job = take_job(id, JOB_ISSUE);
        ASSERT_TRUE(job_bool(job, "need_key"));
        json_decref(job);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_GENERATING_KEY_PAIR);
        r = cert_drop(r);

        /* With a helper worker free, the CSR goes to the CA at once. */
        deliver(&e, id, JOB_ISSUE, reply_csr_only("CSR-NEW"), NULL);
        job = take_job(id, JOB_SUBMIT);
        ASSERT_STREQ(job_str(job, "helper_op"), "SUBMIT");
        ASSERT_STREQ(job_str(job, "csr_pem"), "CSR-NEW");
        json_decref(job);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_SUBMITTING);
        ASSERT_TRUE(r->rekey_pending);

        env_teardown(&e);
}

TEST(external_no_helper_worker) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, now = time(NULL);
        Env e;

        env_setup(&e);
        id = cert_add(&e, "ext", CA_EXTERNAL, CERT_NEED_TO_SUBMIT);
        r = cert_load(&e, id);
        ASSERT_OK(cert_record_set(&r->csr_pem, "CSR-EXT"));
        cert_put(&e, r);
        r = cert_drop(r);

        /* No helper worker: it waits for one, unchanged. */
        fake.helper_queue_error = -EAGAIN;
        ASSERT_ERROR(cert_step(&e.m, id, now), EAGAIN);
        commit(&e);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_TO_SUBMIT);
        ASSERT_EQ(r->backoff_step, 0);

        env_teardown(&e);
}

TEST(external_delays) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, t0, t1;
        Env e;

        env_setup(&e);
        id = cert_add(&e, "ext", CA_EXTERNAL, CERT_NEED_TO_SUBMIT);

        /* Exit 5 with 1 s: at least 5 s. */
        json_decref(external_submitting(&e, id, time(NULL)));
        t0 = time(NULL);
        deliver(&e, id, JOB_SUBMIT, reply_helper("waiting", "later", "c1", 1), NULL);
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_CA_WORKING);
        ASSERT_AFTER(r->next_action_at, t0, t1, 5);
        ASSERT_EQ(r->backoff_step, 0);
        r = cert_drop(r);

        /* Exit 5 with 10^9 s: at most [helpers] max_delay. */
        ASSERT_EQ(e.m.cfg.helper_max_delay, 86400);
        json_decref(external_submitting(&e, id, time(NULL)));
        t0 = time(NULL);
        deliver(&e, id, JOB_SUBMIT, reply_helper("waiting", "later", "c2", 1000000000), NULL);
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_CA_WORKING);
        ASSERT_AFTER(r->next_action_at, t0, t1, e.m.cfg.helper_max_delay);
        ASSERT_STREQ(r->ca_cookie, "c2");
        r = cert_drop(r);

        /* Another max_delay (reloadable) is used as it is. */
        e.m.cfg.helper_max_delay = 3600;
        json_decref(external_submitting(&e, id, time(NULL)));
        t0 = time(NULL);
        deliver(&e, id, JOB_SUBMIT, reply_helper("waiting", "later", "c2", 1000000000), NULL);
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_AFTER(r->next_action_at, t0, t1, 3600);
        r = cert_drop(r);

        /* Exit 1 (no delay given, -1): the backoff, 1 min, then 10 min. */
        json_decref(external_submitting(&e, id, time(NULL)));
        t0 = time(NULL);
        deliver(&e, id, JOB_SUBMIT, reply_helper("waiting", "later", "c3", -1), NULL);
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_CA_WORKING);
        ASSERT_EQ(r->backoff_step, 1);
        ASSERT_AFTER(r->next_action_at, t0, t1, 60);
        ASSERT_STREQ(r->ca_cookie, "c3");
        r = cert_drop(r);

        json_decref(external_submitting(&e, id, time(NULL)));
        t0 = time(NULL);
        deliver(&e, id, JOB_SUBMIT, reply_helper("waiting", "later", "", -1), NULL);
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_EQ(r->backoff_step, 2);
        ASSERT_AFTER(r->next_action_at, t0, t1, 600);
        ASSERT_NULL(r->ca_cookie); /* an empty cookie is none: the next run is a SUBMIT */

        env_teardown(&e);
}

TEST(external_rekey_and_limit) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, t0, t1, due;
        json_t *job;
        Env e;

        env_setup(&e);
        id = cert_add(&e, "ext", CA_EXTERNAL, CERT_NEED_TO_SUBMIT);
        ASSERT_EQ(e.m.cfg.helper_rekey_limit, 3);
        ASSERT_EQ(e.m.cfg.helper_rekey_delay, 30);

        /* The CA first asks us to wait, then for a new key: the cookie goes with the old key. */
        json_decref(external_submitting(&e, id, time(NULL)));
        deliver(&e, id, JOB_SUBMIT, reply_helper("waiting", "later", "c1", 10), NULL);
        r = cert_load(&e, id);
        step(&e, id, r->next_action_at);
        r = cert_drop(r);
        job = take_job(id, JOB_SUBMIT);
        ASSERT_STREQ(job_str(job, "helper_op"), "POLL");
        json_decref(job);

        for (int64_t n = 1; n <= 3; n++) {
                t0 = time(NULL);
                deliver(&e, id, JOB_SUBMIT, reply_helper("rekey", "the key is too weak", NULL, -1), NULL);
                t1 = time(NULL);
                r = cert_load(&e, id);
                ASSERT_STATE(r, CERT_NEED_KEY_PAIR);
                ASSERT_TRUE(r->rekey_pending);
                ASSERT_EQ(r->rekey_count, n);
                ASSERT_NULL(r->ca_cookie);
                ASSERT_STREQ(r->ca_error, "the key is too weak");
                ASSERT_AFTER(r->next_action_at, t0, t1, e.m.cfg.helper_rekey_delay);
                due = r->next_action_at;
                r = cert_drop(r);

                /* After rekey_delay: a new key and CSR, then a new SUBMIT. */
                step(&e, id, due - 1);
                ASSERT_EQ(jobs_for(id), 0);
                step(&e, id, due);
                job = take_job(id, JOB_ISSUE);
                ASSERT_TRUE(job_bool(job, "need_key"));
                ASSERT_STREQ(job_str(job, "ca_type"), "EXTERNAL");
                json_decref(job);
                r = cert_load(&e, id);
                ASSERT_STATE(r, CERT_GENERATING_KEY_PAIR);
                r = cert_drop(r);
                deliver(&e, id, JOB_ISSUE, reply_csr_only("CSR-NEW-KEY"), NULL);
                step(&e, id, time(NULL));
                job = take_job(id, JOB_SUBMIT);
                ASSERT_STREQ(job_str(job, "helper_op"), "SUBMIT");
                ASSERT_STREQ(job_str(job, "csr_pem"), "CSR-NEW-KEY");
                json_decref(job);
        }

        /* The fourth request for a new key in a row is beyond the limit: a person decides. */
        deliver(&e, id, JOB_SUBMIT, reply_helper("rekey", "the key is too weak", NULL, -1), NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_GUIDANCE);
        ASSERT_EQ(r->rekey_count, 4);
        ASSERT_EQ(r->next_action_at, 0);
        ASSERT_EQ(fake.scheduled[id], 0);
        ASSERT_NOT_NULL(r->ca_error);
        ASSERT_NOT_NULL(strstr(r->ca_error, "4 times in a row"));
        ASSERT_NOT_NULL(strstr(r->ca_error, "rekey_limit = 3"));
        ASSERT_NOT_NULL(strstr(r->ca_error, "certkeeper rekey -i ext"));
        ASSERT_NOT_NULL(strstr(r->ca_error, "the key is too weak"));
        env_teardown(&e);
}

TEST(rekey_count_reset_by_save) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, now = time(NULL);
        Env e;

        env_setup(&e);
        id = cert_add(&e, "ext", CA_EXTERNAL, CERT_NEED_TO_SAVE_CERT);
        r = cert_load(&e, id);
        r->rekey_count = 2;
        r->rekey_pending = true;
        ASSERT_OK(cert_record_set(&r->issued_pem, "ISSUED"));
        cert_put(&e, r);
        r = cert_drop(r);

        step(&e, id, now);
        json_decref(take_job(id, JOB_SAVE));
        deliver(&e, id, JOB_SAVE, reply_saved("AA:02", now - 60, now + 90 * 86400), NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_MONITORING);
        ASSERT_EQ(r->rekey_count, 0);
        ASSERT_FALSE(r->rekey_pending);

        env_teardown(&e);
}

TEST(external_other_outcomes) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, renewal, t0, t1, now = time(NULL);
        json_t *job;
        Env e;

        env_setup(&e);
        id = cert_add(&e, "ext", CA_EXTERNAL, CERT_NEED_TO_SUBMIT);
        renewal = cert_add(&e, "ext-renewal", CA_EXTERNAL, CERT_NEED_TO_SUBMIT);
        cert_give_certificate(&e, renewal, now - 80 * 86400, now + 10 * 86400, now - 3600);

        /* Exit 4 without a certificate: stuck. */
        json_decref(external_submitting(&e, id, now));
        deliver(&e, id, JOB_SUBMIT, reply_helper("unconfigured", "no profile set", NULL, -1), NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_CA_UNCONFIGURED);
        ASSERT_TRUE(cert_state_is_stuck(r->state));
        ASSERT_EQ(r->next_action_at, 0);
        ASSERT_EQ(r->backoff_step, 0);
        ASSERT_STREQ(r->ca_error, "no profile set");
        r = cert_drop(r);

        /* Exit 4 with one: it is kept, and the renewal retried with backoff. A renewal passes the
         * current certificate to the helper. */
        job = external_submitting(&e, renewal, now);
        ASSERT_TRUE(endswith(job_str(job, "cert_path"), "/ext-renewal.crt"));
        json_decref(job);
        t0 = time(NULL);
        deliver(&e, renewal, JOB_SUBMIT, reply_helper("unconfigured", "no profile set", NULL, -1), NULL);
        t1 = time(NULL);
        r = cert_load(&e, renewal);
        ASSERT_STATE(r, CERT_MONITORING);
        ASSERT_EQ(r->backoff_step, 1);
        ASSERT_AFTER(r->next_action_at, t0, t1, 60);
        ASSERT_STREQ(r->ca_error, "no profile set");
        r = cert_drop(r);

        /* Exit 6 and the helper's own "needs a person": NEED_GUIDANCE. */
        json_decref(external_submitting(&e, id, now));
        deliver(&e, id, JOB_SUBMIT, reply_helper("unsupported", "SUBMIT is not supported", NULL, -1), NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_GUIDANCE);
        ASSERT_EQ(r->next_action_at, 0);
        ASSERT_STREQ(r->ca_error, "SUBMIT is not supported");
        r = cert_drop(r);

        json_decref(external_submitting(&e, id, now));
        deliver(&e, id, JOB_SUBMIT, reply_helper("guidance", "exit status 9: bad", NULL, -1), NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_GUIDANCE);
        ASSERT_EQ(r->next_action_at, 0);
        ASSERT_STREQ(r->ca_error, "exit status 9: bad");
        r = cert_drop(r);

        /* Exit 3 after a wait: CA_UNREACHABLE with backoff; the cookie is kept, so the retry polls. */
        json_decref(external_submitting(&e, id, now));
        deliver(&e, id, JOB_SUBMIT, reply_helper("waiting", "later", "keep-me", 10), NULL);
        r = cert_load(&e, id);
        step(&e, id, r->next_action_at);
        r = cert_drop(r);
        json_decref(take_job(id, JOB_SUBMIT));
        t0 = time(NULL);
        deliver(&e, id, JOB_SUBMIT, reply_helper("unreachable", "connection refused", NULL, -1), NULL);
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_CA_UNREACHABLE);
        ASSERT_STREQ(r->ca_cookie, "keep-me");
        ASSERT_EQ(r->backoff_step, 1);
        ASSERT_AFTER(r->next_action_at, t0, t1, 60);
        step(&e, id, r->next_action_at);
        r = cert_drop(r);
        job = take_job(id, JOB_SUBMIT);
        ASSERT_STREQ(job_str(job, "helper_op"), "POLL");
        ASSERT_STREQ(job_str(job, "cookie"), "keep-me");
        json_decref(job);

        /* Exit 2 with a cookie: CA_REJECTED, and the cookie is gone. */
        deliver(&e, id, JOB_SUBMIT, reply_helper("rejected", "denied", NULL, -1), NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_CA_REJECTED);
        ASSERT_NULL(r->ca_cookie);
        ASSERT_EQ(r->next_action_at, 0);

        env_teardown(&e);
}

TEST(external_renewal_requirements) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, now = time(NULL);
        Env e;

        env_setup(&e);
        id = cert_add(&e, "ext", CA_EXTERNAL, CERT_NEED_TO_SUBMIT);
        cert_give_certificate(&e, id, now - 80 * 86400, now + 10 * 86400, now - 3600);
        r = cert_load(&e, id);
        ASSERT_OK(cert_record_set(&r->csr_pem, "CSR-EXT"));
        cert_put(&e, r);
        r = cert_drop(r);

        /* A renewal that lacks what the CA requires of renewals: NEED_GUIDANCE with the words. */
        fake.check_error = -EINVAL;
        fake.check_words = "The CA requires CERTMONGER_CA_PROFILE: give one with -T.";
        step(&e, id, now);
        ASSERT_EQ(jobs_for(id), 0);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_GUIDANCE);
        ASSERT_STREQ(r->ca_error, fake.check_words);
        ASSERT_TRUE(cert_state_is_stuck(r->state));

        env_teardown(&e);
}

TEST(external_save_gets_roots) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, now = time(NULL);
        json_t *job;
        Env e;

        env_setup(&e);
        ca_add(&e, "ext-roots", "EXTERNAL", HELPER_CMD, "{\"roots_pem\": \"ROOTS\"}");
        id = cert_add(&e, "ext", "ext-roots", CERT_NEED_TO_SAVE_CERT);
        r = cert_load(&e, id);
        ASSERT_OK(cert_record_set(&r->issued_pem, "ISSUED"));
        ASSERT_OK(cert_record_set(&r->ca_file, "/tmp/roots.pem"));
        cert_put(&e, r);
        r = cert_drop(r);

        step(&e, id, now);
        job = take_job(id, JOB_SAVE);
        ASSERT_STREQ(job_str(job, "roots_pem"), "ROOTS");
        json_decref(job);

        env_teardown(&e);
}

/* ---- Commands while a job runs ------------------------------------------------------------------- */

TEST(stale_reply_ignored) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, local, t0, t1;
        json_t *job;
        Env e;

        env_setup(&e);
        id = cert_add(&e, "ext", CA_EXTERNAL, CERT_NEED_TO_SUBMIT);
        json_decref(external_submitting(&e, id, time(NULL)));

        /* "resubmit" while the helper runs (what manager_cert_action() stores). */
        r = cert_load(&e, id);
        r->state = CERT_NEED_CSR;
        r->csr_pem = mfree(r->csr_pem);
        r->next_action_at = time(NULL);
        cert_put(&e, r);
        r = cert_drop(r);

        /* The helper's certificate was for the old CSR: dropped; the new state is due. */
        t0 = time(NULL);
        deliver(&e, id, JOB_SUBMIT, reply_helper_issued("ISSUED-OLD"), NULL);
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_CSR);
        ASSERT_NULL(r->issued_pem);
        ASSERT_NULL(r->stage_issue);
        ASSERT_AFTER(r->next_action_at, t0, t1, 0);
        ASSERT_STREQ(history_last(id)->stage, "submit"); /* the run is still in the history */
        r = cert_drop(r);

        /* The same with a worker free: the new state takes its step at once. */
        cert_set_state(&e, id, CERT_NEED_TO_SUBMIT, time(NULL));
        r = cert_load(&e, id);
        ASSERT_OK(cert_record_set(&r->csr_pem, "CSR-EXT"));
        cert_put(&e, r);
        r = cert_drop(r);
        step(&e, id, time(NULL));
        json_decref(take_job(id, JOB_SUBMIT));
        cert_set_state(&e, id, CERT_NEED_CSR, time(NULL)); /* resubmit */
        fake.capacity = true;
        deliver(&e, id, JOB_SUBMIT, reply_helper("rejected", "denied", NULL, -1), NULL);
        job = take_job(id, JOB_ISSUE);
        ASSERT_STREQ(job_str(job, "ca_type"), "EXTERNAL");
        json_decref(job);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_GENERATING_CSR);
        ASSERT_NULL(r->ca_error);
        r = cert_drop(r);
        fake.capacity = false;

        /* An issue job whose request was rekeyed meanwhile (built-in CA): its certificate is for the
         * old key, and dropped. */
        local = cert_add(&e, "local", CA_LOCAL, CERT_NEED_CSR);
        step(&e, local, time(NULL));
        json_decref(take_job(local, JOB_ISSUE));
        cert_set_state(&e, local, CERT_NEED_KEY_PAIR, time(NULL));
        deliver(&e, local, JOB_ISSUE, reply_issued("CSR-OLD", "ISSUED-OLD"), NULL);
        r = cert_load(&e, local);
        ASSERT_STATE(r, CERT_NEED_KEY_PAIR);
        ASSERT_NULL(r->issued_pem);
        ASSERT_NULL(r->csr_pem);

        env_teardown(&e);
}

/* ---- Restart -------------------------------------------------------------------------------------- */

TEST(resume_all) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t submitting, csr, key, saving, working, monitoring, now = time(NULL);
        json_t *job;
        Env e;

        env_setup(&e);
        submitting = cert_add(&e, "submitting", CA_EXTERNAL, CERT_SUBMITTING);
        csr = cert_add(&e, "csr", CA_EXTERNAL, CERT_GENERATING_CSR);
        key = cert_add(&e, "key", CA_EXTERNAL, CERT_GENERATING_KEY_PAIR);
        saving = cert_add(&e, "saving", CA_LOCAL, CERT_SAVING_CERT);
        working = cert_add(&e, "working", CA_EXTERNAL, CERT_CA_WORKING);
        monitoring = cert_add(&e, "monitoring", CA_LOCAL, CERT_MONITORING);

        r = cert_load(&e, submitting);
        ASSERT_OK(cert_record_set(&r->csr_pem, "CSR-EXT"));
        ASSERT_OK(cert_record_set(&r->ca_cookie, "was-waiting"));
        r->next_action_at = 0;
        cert_put(&e, r);
        r = cert_drop(r);
        r = cert_load(&e, key);
        r->rekey_pending = true;
        r->next_action_at = 0;
        cert_put(&e, r);
        r = cert_drop(r);
        r = cert_load(&e, saving);
        ASSERT_OK(cert_record_set(&r->issued_pem, "ISSUED"));
        r->next_action_at = 0;
        cert_put(&e, r);
        r = cert_drop(r);
        cert_set_state(&e, csr, CERT_GENERATING_CSR, 0);
        cert_set_state(&e, working, CERT_CA_WORKING, now + 1000);
        cert_set_state(&e, monitoring, CERT_MONITORING, now + 5000);

        ASSERT_OK(cert_resume_all(&e.m, now));
        commit(&e);

        r = cert_load(&e, submitting);
        ASSERT_STATE(r, CERT_NEED_TO_SUBMIT);
        ASSERT_EQ(r->next_action_at, now);
        ASSERT_EQ(fake.scheduled[submitting], now);
        ASSERT_STREQ(r->ca_cookie, "was-waiting");
        r = cert_drop(r);
        r = cert_load(&e, csr);
        ASSERT_STATE(r, CERT_NEED_CSR);
        ASSERT_EQ(r->next_action_at, now);
        r = cert_drop(r);
        r = cert_load(&e, key);
        ASSERT_STATE(r, CERT_NEED_KEY_PAIR);
        ASSERT_TRUE(r->rekey_pending);
        ASSERT_EQ(r->next_action_at, now);
        r = cert_drop(r);
        r = cert_load(&e, saving);
        ASSERT_STATE(r, CERT_NEED_TO_SAVE_CERT);
        ASSERT_STREQ(r->issued_pem, "ISSUED");
        ASSERT_EQ(r->next_action_at, now);
        r = cert_drop(r);
        r = cert_load(&e, working);
        ASSERT_STATE(r, CERT_CA_WORKING);
        ASSERT_EQ(r->next_action_at, now + 1000);
        ASSERT_EQ(fake.scheduled[working], 0); /* not touched */
        r = cert_drop(r);
        r = cert_load(&e, monitoring);
        ASSERT_STATE(r, CERT_MONITORING);
        ASSERT_EQ(r->next_action_at, now + 5000);
        r = cert_drop(r);

        /* The interrupted submission is asked again, as a POLL with its cookie; the interrupted save
         * is done again with what was issued, never a new issuance. */
        step(&e, submitting, now);
        job = take_job(submitting, JOB_SUBMIT);
        ASSERT_STREQ(job_str(job, "helper_op"), "POLL");
        ASSERT_STREQ(job_str(job, "cookie"), "was-waiting");
        json_decref(job);
        step(&e, saving, now);
        job = take_job(saving, JOB_SAVE);
        ASSERT_STREQ(job_str(job, "issued_pem"), "ISSUED");
        json_decref(job);
        step(&e, key, now);
        job = take_job(key, JOB_ISSUE);
        ASSERT_TRUE(job_bool(job, "need_key"));
        json_decref(job);

        env_teardown(&e);
}

/* ---- Renewal -------------------------------------------------------------------------------------- */

TEST(monitoring_renewal) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, now = time(NULL), t0, t1;
        json_t *job;
        Env e;

        env_setup(&e);
        id = cert_add(&e, "web", CA_LOCAL, CERT_MONITORING);
        cert_give_certificate(&e, id, now - 60 * 86400, now + 30 * 86400, now + 1000);

        /* Not due, scheduled for later: only rescheduled. */
        cert_set_state(&e, id, CERT_MONITORING, now + 1000);
        step(&e, id, now);
        ASSERT_EQ(jobs_for(id), 0);
        ASSERT_EQ(fake.scheduled[id], now + 1000);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_MONITORING);
        r = cert_drop(r);

        /* Stepped (e.g. after a reload) before the renewal time: MONITORING, next at the renewal. */
        cert_set_state(&e, id, CERT_MONITORING, now);
        step(&e, id, now);
        ASSERT_EQ(jobs_for(id), 0);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_MONITORING);
        ASSERT_EQ(r->next_action_at, now + 1000);
        ASSERT_EQ(fake.scheduled[id], now + 1000);
        r = cert_drop(r);

        /* Due: the files are read first. */
        step(&e, id, now + 1000);
        job = take_job(id, JOB_READ);
        ASSERT_STREQ(job_str(job, "op"), "read");
        json_decref(job);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEWLY_ADDED);
        r = cert_drop(r);

        /* The certificate is there and due (the clock of this reply is the real one, so the renewal
         * time is moved into the past): a new CSR with the same key. */
        r = cert_load(&e, id);
        r->renew_at = now - 1;
        cert_put(&e, r);
        r = cert_drop(r);
        t0 = time(NULL);
        deliver(&e, id, JOB_READ,
                reply_read("ok", "ok", 1, facts("AA:BB:CC", now - 60 * 86400, now + 30 * 86400)), NULL);
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_CSR);
        ASSERT_FALSE(r->rekey_pending);
        ASSERT_EQ(r->renew_at, now - 1); /* the same certificate keeps its drawn time */
        ASSERT_AFTER(r->next_action_at, t0, t1, 0);
        r = cert_drop(r);

        step(&e, id, time(NULL));
        job = take_job(id, JOB_ISSUE);
        ASSERT_FALSE(job_bool(job, "need_key"));
        json_decref(job);

        env_teardown(&e);
}

TEST(read_outcomes) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, now = time(NULL);
        Env e;

        env_setup(&e);
        id = cert_add(&e, "web", CA_LOCAL, CERT_NEWLY_ADDED);

        /* A key and no certificate: the key is used. */
        step(&e, id, now);
        json_decref(take_job(id, JOB_READ));
        deliver(&e, id, JOB_READ, reply_read("absent", "ok", -1, NULL), NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_CSR);
        ASSERT_FALSE(r->rekey_pending);
        r = cert_drop(r);

        /* A key that does not match the certificate: a person decides. */
        cert_set_state(&e, id, CERT_NEWLY_ADDED, now);
        step(&e, id, now);
        json_decref(take_job(id, JOB_READ));
        deliver(&e, id, JOB_READ, reply_read("ok", "ok", 0, facts("AA:01", now - 100, now + 86400 * 90)), NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_GUIDANCE);
        ASSERT_NOT_NULL(strstr(r->ca_error, "does not match"));
        ASSERT_TRUE(cert_state_is_stuck(r->state));
        r = cert_drop(r);

        /* An unreadable certificate file: a person decides. */
        cert_set_state(&e, id, CERT_NEWLY_ADDED, now);
        step(&e, id, now);
        json_decref(take_job(id, JOB_READ));
        deliver(&e, id, JOB_READ, reply_read("garbage", "ok", -1, NULL), NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_GUIDANCE);
        ASSERT_NOT_NULL(strstr(r->ca_error, "not a certificate"));
        r = cert_drop(r);

        /* A valid certificate, not yet due, with its key: MONITORING until the drawn renewal time. */
        cert_set_state(&e, id, CERT_NEWLY_ADDED, now);
        step(&e, id, now);
        json_decref(take_job(id, JOB_READ));
        deliver(&e, id, JOB_READ, reply_read("ok", "ok", 1, facts("AA:03", now - 100, now + 90 * 86400)), NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_MONITORING);
        ASSERT_NULL(r->ca_error);
        ASSERT_EQ(r->backoff_step, 0);
        ASSERT_TRUE(r->renew_at > now + 59 * 86400 && r->renew_at <= now + 60 * 86400);
        ASSERT_EQ(r->next_action_at, r->renew_at);
        r = cert_drop(r);

        env_teardown(&e);
}

/* Fixed (certkeeperd-state.c decide()): a renewal that the CA rejects keeps its certificate
 * and is "retried with backoff" (docs/STATE-MACHINE.md "Failures", docs/HELPERS.md exit 2 and 4).
 * But every retry of a renewal starts by reading the files (MONITORING -> NEWLY_ADDED), and decide()
 * sets backoff_step = 0 whenever the certificate is readable. So the failure count never passes 1:
 * the CA is asked again every minute, forever, and ca_error is cleared a minute after it is set.
 * Fix: in decide(), reset backoff_step and ca_error only when the certificate is not due (after the
 * renewal_due() branch); JOB_SAVE resets them when the renewal succeeds. */
TEST(rejected_renewal_backs_off) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, now = time(NULL), t0, t1;
        Env e;

        env_setup(&e);
        id = cert_add(&e, "web", CA_LOCAL, CERT_MONITORING);
        cert_give_certificate(&e, id, now - 80 * 86400, now + 10 * 86400, now - 3600);
        cert_set_state(&e, id, CERT_MONITORING, now);

        for (int round = 1; round <= 3; round++) {
                step(&e, id, time(NULL));
                json_decref(take_job(id, JOB_READ));
                deliver(&e, id, JOB_READ,
                        reply_read("ok", "ok", 1, facts("AA:BB:CC", now - 80 * 86400, now + 10 * 86400)), NULL);
                r = cert_load(&e, id);
                ASSERT_STATE(r, CERT_NEED_CSR);
                ASSERT_EQ(r->backoff_step, round - 1);
                if (round > 1)
                        ASSERT_STREQ(r->ca_error, "policy says no");
                r = cert_drop(r);
                step(&e, id, time(NULL));
                json_decref(take_job(id, JOB_ISSUE));
                t0 = time(NULL);
                deliver(&e, id, JOB_ISSUE, reply_error("rejected", "policy says no"), NULL);
                t1 = time(NULL);
                r = cert_load(&e, id);
                ASSERT_STATE(r, CERT_MONITORING);
                /* 1 min, 10 min, 100 min. */
                ASSERT_EQ(r->backoff_step, round);
                ASSERT_AFTER(r->next_action_at, t0, t1, retry_delay(round, e.m.cfg.renewal_retry_delay));
                /* The retry is due: make it so now rather than wait. */
                r->next_action_at = time(NULL);
                cert_put(&e, r);
                r = cert_drop(r);
        }

        env_teardown(&e);
}

/* Fixed (certkeeperd-state.c fail() and submit_failed()): a request parked by a job's outcome
 * (NEED_GUIDANCE, CA_REJECTED, CA_UNCONFIGURED) gets next_action_at = 0, and nothing steps it again, so
 * the expiry notices of its certificate (notify_ttls: "for certificates ... whose renewal is failing")
 * are never given; only a reload (cert_notices_reschedule()) schedules them. The step of a parked
 * state does give them, as the end of this test shows.
 * Fix: where an outcome parks a request (fail(): guidance, rejected without a certificate;
 * submit_failed(): unconfigured without one), next_action_at = next_notice_at(m, r), not 0. */
TEST(parked_by_a_job_gets_expiry_notices) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, now = time(NULL), na = now + 5 * 86400;
        Env e;

        env_setup(&e);
        id = cert_add(&e, "web", CA_LOCAL, CERT_NEWLY_ADDED);
        /* A certificate with five days left (past the 28d and 7d thresholds, never notified), read
         * again before its renewal; the key no longer matches: NEED_GUIDANCE. */
        cert_give_certificate(&e, id, now - 85 * 86400, na, now - 30 * 86400);
        step(&e, id, now);
        json_decref(take_job(id, JOB_READ));
        deliver(&e, id, JOB_READ, reply_read("ok", "ok", 0, facts("AA:BB:CC", now - 85 * 86400, na)), NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_GUIDANCE);
        ASSERT_EQ(r->not_after, na);
        ASSERT_EQ(r->last_notified_at, 0);
        /* The notice not given yet is due: its step gives it at once. */
        ASSERT_TRUE(r->next_action_at > 0 && r->next_action_at <= now);
        ASSERT_EQ(fake.scheduled[id], r->next_action_at);
        r = cert_drop(r);

        /* Stepped anyway (as after a reload): the notice, and the next one at the 1d threshold. */
        step(&e, id, now);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_GUIDANCE);
        ASSERT_EQ(r->last_notified_at, now);
        ASSERT_EQ(r->next_action_at, na - 86400);

        env_teardown(&e);
}

/* Fixed (certkeeperd-state.c step_record() and expiry_notices()): while a renewal fails or
 * waits, no expiry notice is given at all. CA_UNREACHABLE and CA_WORKING are stepped at each retry, but
 * their step never calls expiry_notices() (whose message even has the words "Its renewal is failing"
 * for them); a renewal rejected by the CA stays MONITORING, which expiry_notices() counts as "renewed
 * in time". So a certificate whose CA is down for weeks expires without one warning.
 * Fix: call expiry_notices() in step_record() for CA_WORKING/CA_UNREACHABLE before submit(), and in
 * MONITORING before a due renewal; count a MONITORING request with backoff_step > 0 as not
 * "renewing" in expiry_notices() and next_notice_at(). */
TEST(failing_renewal_gets_expiry_notices) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, now = time(NULL), na = now + 5 * 86400;
        Env e;

        env_setup(&e);
        id = cert_add(&e, "web", CA_LOCAL, CERT_CA_UNREACHABLE);
        cert_give_certificate(&e, id, now - 85 * 86400, na, now - 30 * 86400);
        r = cert_load(&e, id);
        r->backoff_step = 4;
        ASSERT_OK(cert_record_set(&r->ca_error, "the local CA cannot be opened"));
        cert_put(&e, r);
        r = cert_drop(r);

        /* The daily retry, five days before expiry. */
        step(&e, id, now);
        json_decref(take_job(id, JOB_ISSUE));
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_SUBMITTING);
        /* The notice, "Its renewal is failing: ...". */
        ASSERT_EQ(r->last_notified_at, now);
        r = cert_drop(r);

        /* A renewal the CA rejected: MONITORING, retried with backoff. */
        cert_set_state(&e, id, CERT_MONITORING, now);
        r = cert_load(&e, id);
        r->backoff_step = 1;
        ASSERT_OK(cert_record_set(&r->ca_error, "policy says no"));
        cert_put(&e, r);
        r = cert_drop(r);
        step(&e, id, now);
        json_decref(take_job(id, JOB_READ));
        r = cert_load(&e, id);
        ASSERT_EQ(r->last_notified_at, now);

        env_teardown(&e);
}

/* ---- ACME Renewal Information (RFC 9773) ---------------------------------------------------------- */

static json_t *reply_ari(int64_t start, int64_t end, const char *url, int64_t retry_after) {
        return json_pack("{s:b, s:s, s:I, s:I, s:s?, s:I, s:s, s:i}", "ok", 1, "result", "ok", "start",
                         (json_int_t) start, "end", (json_int_t) end, "explanation_url", url, "retry_after",
                         (json_int_t) retry_after, "cert_id", "aki.serial", "duration_ms", 7);
}

static unsigned history_count(int64_t id, const char *stage) {
        unsigned n = 0;

        for (unsigned i = 0; i < fake.n_history; i++)
                if (fake.history[i].cert_id == id && streq_ptr(fake.history[i].stage, stage))
                        n++;
        return n;
}

/* The renewal time of the certificate acme_monitored() reads (valid from now - 10 d to now + 80 d) by
 * the lifetime rule: 1/3 of 90 days left, minus up to an hour of jitter. */
static void assert_lifetime_rule(const CertRecord *r, int64_t now) {
        ASSERT_TRUE(r->renew_at <= now + 50 * 86400 && r->renew_at >= now + 50 * 86400 - 3600 - 5);
}

/* An ACME certificate in MONITORING whose files were just read: its first renewal information check
 * is due. Returns its id. */
static int64_t acme_monitored(Env *e, int64_t now) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id;
        json_t *job;

        ca_add(e, "acme", "ACME", NULL, NULL);
        id = cert_add(e, "web", "acme", CERT_NEWLY_ADDED);
        step(e, id, now);
        json_decref(take_job(id, JOB_READ));
        deliver(e, id, JOB_READ, reply_read("ok", "ok", 1, facts("AA:BB:CC", now - 10 * 86400, now + 80 * 86400)),
                NULL);
        r = cert_load(e, id);
        ASSERT_STATE(r, CERT_MONITORING);
        /* The lifetime rule first. */
        assert_lifetime_rule(r, now);
        ASSERT_TRUE(r->ari_next_at > 0 && r->ari_next_at <= time(NULL));
        ASSERT_EQ(r->next_action_at, r->ari_next_at);
        r = cert_drop(r);

        step(e, id, time(NULL));
        job = take_job(id, JOB_ARI);
        ASSERT_STREQ(job_str(job, "op"), "acme-ari");
        json_decref(job);
        r = cert_load(e, id);
        ASSERT_STATE(r, CERT_MONITORING);
        /* Until the reply: a later check stands in for it, should it be lost. */
        ASSERT_TRUE(r->ari_next_at >= now + ARI_RETRY_INTERVAL);
        return id;
}

TEST(ari_window_drawn_once_and_rechecked) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, now = time(NULL), t0, t1, start, end, drawn;
        Env e;

        env_setup(&e);
        id = acme_monitored(&e, now);

        /* The CA's window: the renewal time is drawn inside it; the next check in 12 hours. */
        start = now + 40 * 86400;
        end = start + 2 * 86400;
        t0 = time(NULL);
        deliver(&e, id, JOB_ARI, reply_ari(start, end, "https://ca.example/why", 0), NULL);
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_MONITORING);
        ASSERT_TRUE(r->renew_at >= start && r->renew_at <= end);
        ASSERT_EQ(r->ari_start, start);
        ASSERT_EQ(r->ari_end, end);
        ASSERT_STREQ(r->ari_explanation_url, "https://ca.example/why");
        ASSERT_AFTER(r->ari_next_at, t0, t1, ARI_CHECK_INTERVAL);
        ASSERT_EQ(r->next_action_at, r->ari_next_at);
        ASSERT_EQ(fake.scheduled[id], r->next_action_at);
        ASSERT_EQ(history_count(id, "ari"), 1);
        drawn = r->renew_at;
        r = cert_drop(r);

        /* The next check, the same window, a Retry-After of 10 minutes: the time stays, no history. */
        step(&e, id, time(NULL) + ARI_CHECK_INTERVAL);
        json_decref(take_job(id, JOB_ARI));
        t0 = time(NULL);
        deliver(&e, id, JOB_ARI, reply_ari(start, end, "https://ca.example/why", 600), NULL);
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_EQ(r->renew_at, drawn);
        ASSERT_AFTER(r->ari_next_at, t0, t1, 600);
        ASSERT_EQ(history_count(id, "ari"), 1);
        r = cert_drop(r);

        /* A moved window: drawn again inside the new one. */
        start = now + 20 * 86400;
        end = start + 3600;
        step(&e, id, time(NULL) + 600);
        json_decref(take_job(id, JOB_ARI));
        deliver(&e, id, JOB_ARI, reply_ari(start, end, NULL, 0), NULL);
        r = cert_load(&e, id);
        ASSERT_TRUE(r->renew_at >= start && r->renew_at <= end);
        ASSERT_NULL(r->ari_explanation_url);
        ASSERT_EQ(history_count(id, "ari"), 2);
        r = cert_drop(r);

        /* A failed check keeps the time and asks again in an hour (or after Retry-After). */
        step(&e, id, time(NULL) + ARI_CHECK_INTERVAL);
        json_decref(take_job(id, JOB_ARI));
        r = cert_load(&e, id);
        drawn = r->renew_at;
        r = cert_drop(r);
        t0 = time(NULL);
        deliver(&e, id, JOB_ARI, reply_error("unreachable", "connection refused"), NULL);
        t1 = time(NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_MONITORING);
        ASSERT_EQ(r->renew_at, drawn);
        ASSERT_EQ(r->backoff_step, 0);
        ASSERT_AFTER(r->ari_next_at, t0, t1, ARI_RETRY_INTERVAL);
        ASSERT_STREQ(history_last(id)->stage, "ari");
        ASSERT_STREQ(history_last(id)->result, "unreachable");
        r = cert_drop(r);

        env_teardown(&e);
}

TEST(ari_window_in_the_past_renews_now) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, now = time(NULL);
        Env e;

        env_setup(&e);
        id = acme_monitored(&e, now);
        fake.capacity = true;
        deliver(&e, id, JOB_ARI, reply_ari(now - 2 * 86400, now - 86400, NULL, 0), NULL);
        /* Due at once: the files are read, as for every renewal. */
        json_decref(take_job(id, JOB_READ));
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEWLY_ADDED);
        ASSERT_TRUE(r->renew_at <= now - 86400);
        r = cert_drop(r);
        env_teardown(&e);
}

TEST(ari_not_offered_keeps_the_lifetime_rule) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, now = time(NULL);
        Env e;

        env_setup(&e);
        id = acme_monitored(&e, now);
        deliver(&e, id, JOB_ARI, reply_error("unsupported", "The CA does not offer renewal information (ARI)."),
                NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_MONITORING);
        ASSERT_EQ(r->ari_next_at, 0);
        ASSERT_EQ(r->ari_start, 0);
        /* Nothing else to wake for: the renewal time (the expiry notices are off while it renews). */
        ASSERT_EQ(r->next_action_at, r->renew_at);
        assert_lifetime_rule(r, now);
        ASSERT_EQ(history_count(id, "ari"), 0);
        r = cert_drop(r);

        /* A window drawn earlier that the CA no longer offers: back to the lifetime rule. */
        r = cert_load(&e, id);
        r->ari_start = now + 86400;
        r->ari_end = now + 2 * 86400;
        r->renew_at = now + 86400 + 5;
        r->ari_next_at = now - 1;
        r->next_action_at = now - 1;
        cert_put(&e, r);
        r = cert_drop(r);
        step(&e, id, now);
        json_decref(take_job(id, JOB_ARI));
        deliver(&e, id, JOB_ARI, reply_error("unsupported", "no renewalInfo"), NULL);
        r = cert_load(&e, id);
        assert_lifetime_rule(r, now);
        ASSERT_EQ(r->ari_start, 0);
        r = cert_drop(r);
        env_teardown(&e);
}

TEST(ari_only_for_acme_cas) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, now = time(NULL);
        Env e;

        env_setup(&e);
        id = cert_add(&e, "web", CA_LOCAL, CERT_NEWLY_ADDED);
        step(&e, id, now);
        json_decref(take_job(id, JOB_READ));
        deliver(&e, id, JOB_READ, reply_read("ok", "ok", 1, facts("AA:BB:CC", now - 10 * 86400, now + 80 * 86400)),
                NULL);
        r = cert_load(&e, id);
        ASSERT_EQ(r->ari_next_at, 0);
        ASSERT_EQ(r->next_action_at, r->renew_at);
        r = cert_drop(r);
        env_teardown(&e);
}

/* A new ACME order waits for its CA's order limit; the next step of an order under way does not ask. */
TEST(acme_new_orders_are_paced) {
        _cleanup_(cert_record_freep) CertRecord *r = NULL;
        int64_t id, now = time(NULL);
        json_t *job;
        Env e;

        env_setup(&e);
        ca_add(&e, "acme", "ACME", NULL, NULL);
        id = cert_add(&e, "web", "acme", CERT_NEED_KEY_PAIR);
        fake.capacity = true;
        fake.pace_at = now + 600;

        step(&e, id, now);
        json_decref(take_job(id, JOB_ISSUE));
        deliver(&e, id, JOB_ISSUE, reply_csr_only("CSR-1"), NULL);
        ASSERT_EQ(jobs_for(id), 0);
        ASSERT_EQ(fake.paced, 1u);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_NEED_TO_SUBMIT);
        ASSERT_EQ(r->next_action_at, now + 600);
        r = cert_drop(r);

        /* Its turn: the order starts. */
        fake.pace_at = 0;
        step(&e, id, now + 600);
        job = take_job(id, JOB_SUBMIT);
        ASSERT_STREQ(job_str(job, "op"), "acme-order");
        json_decref(job);
        ASSERT_EQ(fake.paced, 2u);

        /* Handed back with its order URL: resumed without asking again, even when paced. */
        fake.pace_at = now + 6000;
        deliver(&e, id, JOB_SUBMIT, json_pack("{s:b, s:s, s:s, s:s, s:i, s:b}", "ok", 0, "result", "waiting", "error",
                                              "order pending", "cookie", "https://ca.test/order/1", "delay", 1,
                                              "acme", 1), NULL);
        r = cert_load(&e, id);
        ASSERT_STATE(r, CERT_CA_WORKING);
        step(&e, id, r->next_action_at);
        r = cert_drop(r);
        job = take_job(id, JOB_SUBMIT);
        ASSERT_STREQ(job_str(job, "cookie"), "https://ca.test/order/1");
        json_decref(job);
        ASSERT_EQ(fake.paced, 2u);

        env_teardown(&e);
}

TEST_MAIN()
