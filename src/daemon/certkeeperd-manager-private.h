/* SPDX-License-Identifier: MIT */
#pragma once

/* The Manager's fields, shared by the two files that make up the manager: certkeeperd-manager.c
 * (the loop, start-up, the API-facing calls) and certkeeperd-state.c (the per-certificate state
 * machine). Nothing else includes this. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cert-event.h"
#include "certkeeperd-api.h"
#include "certkeeperd-config.h"
#include "certkeeperd-manager.h"
#include "certkeeperd-scheduler.h"
#include "certkeeperd-watch.h"
#include "certkeeperd-worker.h"
#include "id-list.h"
#include "rate-window.h"
#include "store.h"

#define NOTIFY_TTLS_MAX 16

/* ACME operations waiting for their CAs at once; helper-pool cookies of their jobs are
 * -(ACME_OP_COOKIE_BASE + slot), below those of CA data jobs (-1 - helper slot). */
#define ACME_OPS_MAX 16
#define ACME_OP_COOKIE_BASE ((int64_t) 1 << 40)
typedef struct AcmeOp AcmeOp;
/* Deliveries to subscriptions: helper-pool cookies -(DELIVERY_COOKIE_BASE + slot), below all others. */
#define DELIVERY_COOKIE_BASE ((int64_t) 1 << 42)

typedef enum JobOp {
        JOB_READ,  /* one certificate */
        JOB_ISSUE, /* batches: key, CSR and signature by a built-in CA, files staged */
        JOB_SAVE,  /* batches: hooks and the pair swap */
        JOB_SUBMIT, /* one certificate: an EXTERNAL CA's helper or an ACME order, in the helper pool */
        JOB_ARI,    /* one certificate: its ACME renewal information (RFC 9773), in the helper pool */
        JOB_DEPLOY, /* one certificate: test, reload and verify its bindings, roll back on failure */
        _JOB_OP_MAX,
} JobOp;

/* Up to BATCH_MAX certificates go to one worker in one job, so that their files are made durable
 * with one syncfs() per phase instead of several fsync()s each. */
#define BATCH_MAX 64

typedef enum BatchState {
        BATCH_FREE,
        BATCH_OPEN, /* collecting items in this loop iteration */
        BATCH_BUSY, /* queued or running */
} BatchState;

typedef struct Batch {
        BatchState state;
        JobOp op;
        unsigned n;
        int64_t ids[BATCH_MAX];
        json_t *items;
} Batch;

/* A job waiting for the current transaction to commit before it goes to a worker. */
typedef struct QueuedJob {
        int64_t cookie;
        json_t *job;
} QueuedJob;

struct Manager {
        Config cfg;
        char *config_path;
        char *db_path;
        char *local_ca_dir;
        char *certs_dir;
        char *archive_dir;

        Store *store;
        bool in_transaction;
        Scheduler *scheduler;
        WorkerPool *pool;
        Api *api;

        QueuedJob *queue;
        unsigned n_queued;

        /* EXTERNAL CAs: their helper programs run in a pool of their own, so that helpers waiting
         * for a slow CA (up to their timeout) never hold up keys, signing and saving. */
        WorkerPool *helper_pool;
        QueuedJob *helper_queue;
        unsigned n_helper_queued;
        IdList helper_waiting;     /* certificates whose step found no free helper worker */
        /* Deploys that found no free worker, oldest first ([{id, archived}]); their pending rows
         * stay in the store, and they start as workers free up (manager_deploys_waiting_run()). */
        json_t *deploy_waiting;
        char **ca_refreshing;      /* per helper worker slot: the CA whose data job it runs */
        unsigned n_ca_slots;
        char **ca_refresh_pending; /* CAs to refresh when a helper worker is free */
        int64_t next_ca_refresh_at;

        /* ACME: the built-in http-01 and tls-alpn-01 responders (by listen address; one of the two
         * per slot), started when an order needs one and stopped when no order is in flight. */
        struct AcmeResponderSlot {
                char *address;
                struct AcmeResponder *responder;
                struct AcmeAlpnResponder *alpn_responder;
        } acme_responders[4];
        IdList acme_in_flight;
        /* New orders per ACME CA, paced by its published limit (certkeeperd-acme.c). */
        struct AcmePace {
                char *ca;
                RateWindow orders;
        } *acme_paces;
        size_t n_acme_paces;
        /* ACME revocations and account operations, each waiting for its CA's answer (and the API
         * request that asked for it, by ticket). */
        struct AcmeOp {
                uint64_t ticket;  /* 0: a free slot */
                int64_t cert_id;  /* revocation; 0 for an account operation */
                char *ca;
                char *action;     /* "revoke", "rollover", "deactivate", "update" */
                json_t *info;     /* what the answer says besides the CA's result */
                json_t *job;      /* until a helper worker takes it */
        } acme_ops[ACME_OPS_MAX];
        /* Deliveries of events to subscriptions in flight, one slot per helper worker (name NULL: a
         * free slot); at most one per subscription. */
        struct Delivery {
                char *name;
                int64_t row;
        } *deliveries;
        unsigned n_delivery_slots;
        bool subs_dirty;             /* an event was recorded or a delivery ended: look again */
        int64_t next_sub_attempt_at; /* the earliest retry of a failed delivery; 0: none */
        Batch *batches;
        unsigned n_batches;
        int open_batch[_JOB_OP_MAX]; /* index into batches, or -1 */
        /* CLOCK_MONOTONIC: when the open deploy batch goes to a worker ([bindings] batch_window_ms
         * after its first deploy: those of the window are tested and reloaded together); 0: none. */
        usec_t deploy_seal_at;

        /* Outside changes to tracked files (certkeeperd-watch.c); NULL without inotify. */
        FileWatch *watch;
        bool watch_dirty; /* requests were changed or removed: the set of files to watch */
        usec_t watch_synced_at;
        usec_t watch_first_sync_at;
        /* The start-up check of the certificate files against the store (changes made while the
         * daemon was stopped), a chunk per loop turn after the first sync. */
        struct {
                int64_t after; /* the last id looked at; -1 once done */
                usec_t began;  /* CLOCK_MONOTONIC of the first chunk; 0 before */
                unsigned n_read, n_changed;
        } watch_scan;

        int epoll_fd;
        int timer_fd;
        int signal_fd;
        int64_t timer_armed_at; /* 0: disarmed */
        bool exit_requested;

        pid_t backup_pid;
        pid_t check_pid;         /* the background integrity check */
        bool restart_requested;  /* the check found damage: restart to restore */
        int64_t next_backup_at;
        int64_t next_event_prune_at;

        gid_t admin_gid;
        int64_t notify_ttls[NOTIFY_TTLS_MAX];
        unsigned n_notify_ttls;
};

/* certkeeperd-manager.c */
int manager_tx_begin(Manager *m);
int manager_tx_commit(Manager *m);
int manager_schedule(Manager *m, int64_t id, int64_t at);
unsigned manager_workers_available(Manager *m);
unsigned manager_helpers_available(Manager *m);
bool manager_has_capacity(Manager *m);
bool manager_in_flight(Manager *m, int64_t id);
/* Queues a job for one certificate (JOB_READ) or adds it to the open batch of its op. Takes the
 * job/item. -EBUSY if no worker is left for it. */
int manager_queue_job(Manager *m, int64_t id, JobOp op, json_t *job);
/* Like manager_queue_job() for JOB_SUBMIT and JOB_ARI: -EAGAIN if no helper worker is free (the
 * certificate then waits in helper_waiting and is stepped again when one is). */
int manager_queue_helper_job(Manager *m, int64_t id, JobOp op, json_t *job);
/* Queues the open batches; called before the commit. */
void manager_seal_batches(Manager *m);
int manager_history(Manager *m, int64_t cert_id, const char *stage, const char *result, const char *message,
                    int64_t duration_ms);

/* certkeeperd-state.c: bindings */
/* Queues the deploy job of r's bindings (nothing if it has none). archived: the save's copies of
 * the previous certificate and key, put back on a failure (NULL: no rollback, as for a deploy
 * asked by a person). Returns the number of bindings, or -errno (-EBUSY: no worker free). */
int manager_deploy_start(Manager *m, const CertRecord *r, json_t *archived);
/* At start-up: the deploys a crash interrupted (still in the store) are queued again. */
void manager_deploys_resume(Manager *m);
/* Starts the deploys that waited for a worker, while there are free ones. */
void manager_deploys_waiting_run(Manager *m);

/* certkeeperd-events.c */
/* Raises a lifecycle event for r: a row of the events table in the current transaction, and one
 * log entry with the event's MESSAGE_ID (the journal gets it structured). The message (printf
 * format) is both the log line and the payload's "message"; it replaces any plain log line for
 * the same thing. old_sha256: the thumbprint of the certificate replaced (1001), else NULL.
 * extra (borrowed, may be NULL): more payload fields. Failing to record is logged, not fatal. */
int manager_event(Manager *m, CertEventId id, const CertRecord *r, const char *old_sha256, json_t *extra,
                  const char *format, ...) _printf_(6, 7);
/* Removes the events older than [events] keep when next_event_prune_at has come (start-up, then
 * daily). */
void manager_events_prune(Manager *m, int64_t now);

/* certkeeperd-subscriptions.c */
/* Starts the deliveries that are due (new events after a cursor, a retry whose time has come),
 * on free helper workers. Called after the commit: only committed events go out. */
void manager_subscriptions_run(Manager *m);
/* Applies a helper-pool reply whose cookie is a delivery's (cookie <= -DELIVERY_COOKIE_BASE): the
 * cursor advances, or the failure is recorded with the time of the next attempt. */
void manager_delivery_done(Manager *m, int64_t cookie, json_t *reply, const char *failure);
void manager_deliveries_free(Manager *m);

/* certkeeperd-watch.c */
/* Sets up the watch of tracked files; returns the fd to poll (EPOLLIN), or 0 when inotify is not
 * there (logged; outside changes are then seen at the next read). */
int manager_watch_start(Manager *m);
/* Watches the files of the requests as they are now, if watch_dirty, at most every
 * WATCH_SYNC_INTERVAL: requests removed or moved until then cost a needless look at most. */
void manager_watch_sync(Manager *m);
/* Watches the files of one request added or changed, at once (the full sync is lazy). */
void manager_watch_cert(Manager *m, const CertRecord *r);
/* Reads the notifications (the fd polled readable). */
void manager_watch_read(Manager *m);
/* A read job for request id was queued: changes seen so far are the job's to judge. */
void manager_watch_reading(Manager *m, int64_t id);
/* Starts a read of the files of the certificates whose changes have settled. */
void manager_watch_run(Manager *m);
/* Once the first sync is done: compares the next chunk of certificate files with the thumbprints
 * the store knows; those that differ are looked at as changes seen live. Until the pass is done. */
void manager_watch_scan(Manager *m);
usec_t manager_watch_timeout(Manager *m);

/* certkeeperd-external.c */
/* Starts a refresh of an EXTERNAL CA's data (IDENTIFY, FETCH-ROOTS, requirements, templates) now,
 * or when a helper worker is free. */
int manager_ca_refresh_start(Manager *m, const char *name);
/* Refreshes every EXTERNAL CA when refresh_interval has passed. */
void manager_ca_refresh_due(Manager *m);
/* What an EXTERNAL CA's helper reported (data_json parsed), or NULL. */
json_t *manager_ca_data(const CARecord *ca);
/* Applies a helper-pool reply whose cookie is a CA data job (cookie < 0). */
void manager_ca_data_done(Manager *m, int64_t cookie, json_t *reply, const char *failure);
/* Checks a request against its EXTERNAL CA's templates (-T) and, for new requests, the fields
 * the CA requires. 0 for other CAs. */
int manager_ca_check_request(Manager *m, const CARecord *ca, const CertRecord *r, bool renewal, char **reterr);

/* certkeeperd-acme.c */
/* Checks an ACME CA's settings (config_json): directory, terms of service, EAB, challenge and
 * responder settings. -EINVAL with words. */
int manager_acme_config_check(const CARecord *ca, char **reterr);
/* The settings of a certificate's orders: the CA's, with the certificate's own "ca_options" over them,
 * checked. */
int manager_acme_cert_config(const CARecord *ca, const CertRecord *r, json_t **ret, char **reterr);
/* A request's own CA settings fit its CA: none, or an ACME CA's order settings. */
int manager_ca_check_options(const CARecord *ca, const CertRecord *r, char **reterr);
/* A new order for the ACME CA at now: 0 if its order limit (config order_rate, or the published one
 * of a known CA) allows it, and counted; -EAGAIN and *ret_at, the first time it will, if not. */
int manager_acme_pace(Manager *m, const CARecord *ca, int64_t now, int64_t *ret_at);
void manager_acme_paces_free(Manager *m);
/* The settings every ACME job has (op, ca, config, account_key, user_agent, timeout, output_max),
 * with the account directory created. -EINVAL with words when the CA's settings are not usable. */
int manager_acme_base_job(Manager *m, const CARecord *ca, const char *op, json_t **ret, char **reterr);
/* The "acme-order" job for a request (its CSR, identifiers, cookie = order URL, the CA's settings),
 * with the http-01 responder it needs started. -EINVAL with words when it cannot be. */
int manager_acme_job(Manager *m, const CARecord *ca, const CertRecord *r, json_t **ret, char **reterr);
/* An ACME job ended. An order that waits for the CA (validation under way) keeps its place: its
 * http-01 answer must stay served. When no order is left, the responders stop. */
void manager_acme_job_done(Manager *m, int64_t id, json_t *reply);
/* The "acme-ari" job of a certificate of an ACME CA: its renewalInfo, with the CA's client settings.
 * -EINVAL with words when the CA's settings are not usable. */
int manager_acme_ari_job(Manager *m, const CARecord *ca, const CertRecord *r, json_t **ret, char **reterr);
void manager_acme_stop_responders(Manager *m);

/* certkeeperd-acme-ops.c */
/* Hands waiting revocations and account operations to free helper workers. */
void manager_acme_ops_start(Manager *m);
/* Applies a helper-pool reply whose cookie is an ACME operation's (cookie <= -ACME_OP_COOKIE_BASE):
 * history, the CA's contact, and the answer to the API request that waits. */
void manager_acme_op_done(Manager *m, int64_t cookie, json_t *reply, const char *failure);
void manager_acme_ops_free(Manager *m);

/* certkeeperd-state.c */
/* Runs the state machine for one certificate that is due (or was just changed). */
int cert_step(Manager *m, int64_t id, int64_t now);
/* Applies a worker's reply (or its failure) to the certificate(s) the job was for. */
void cert_job_done(Manager *m, int64_t cookie, json_t *reply, const char *failure);
void batch_free_slot(Manager *m, unsigned slot);
/* On start-up: transient states go back to the state before them, due now. */
int cert_resume_all(Manager *m, int64_t now);
/* After a reload: expiry notices due earlier under the new thresholds are scheduled. */
int cert_notices_reschedule(Manager *m, int64_t now);
