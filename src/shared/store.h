/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cert-state.h"
#include "macro.h"

/* The durable store: SQLite in WAL mode, synchronous=FULL, numbered forward-only migrations.
 * All SQL of the project lives behind this interface. */

typedef struct Store Store;

/* One tracked certificate. Strings are owned (NULL = unset). The X-macro lists the columns
 * that are copied 1:1 between this struct and the "certs" table; the API's JSON uses the same
 * names. Types: TEXT (char *), INT (int64_t), BOOL (bool), STATE (CertState, stored as text). */
#define CERT_RECORD_COLUMNS(X)                                                                   \
        X(TEXT, nickname)         /* unique request id ("-I") */                                 \
        X(TEXT, ca)               /* CA name */                                                  \
        X(STATE, state)                                                                          \
        X(BOOL, autorenew)                                                                       \
        X(BOOL, track)                                                                           \
        X(INT, next_action_at)    /* unix seconds; 0 = nothing scheduled */                      \
        X(INT, renew_at)          /* persisted drawn renewal time (with jitter), 0 = not drawn */ \
        X(INT, backoff_step)      /* failures in a row */                                        \
        X(TEXT, renew_before)     /* override: "14d" or "33%", NULL = default rule */            \
        X(TEXT, cert_path)        /* unique */                                                   \
        X(TEXT, key_path)                                                                        \
        X(TEXT, chain_path)                                                                      \
        X(TEXT, fullchain_path)                                                                  \
        X(TEXT, ca_file)          /* -F: CA roots written here */                                \
        X(TEXT, key_type)         /* RSA, EC, ED25519 */                                         \
        X(INT, key_bits)                                                                         \
        X(TEXT, key_owner)        /* "user:group" */                                            \
        X(INT, key_mode)          /* 0 = default 0600 */                                         \
        X(TEXT, cert_owner)                                                                      \
        X(INT, cert_mode)         /* 0 = default 0644 */                                         \
        X(TEXT, template_json)    /* requested subject/SANs/KU/EKU/CA/profile as JSON */         \
        X(TEXT, pre_save_cmd)                                                                    \
        X(TEXT, post_save_cmd)                                                                   \
        X(INT, validity)          /* requested lifetime in seconds, 0 = CA default */            \
        X(BOOL, rekey_pending)    /* next issuance uses a new key (staged beside the key) */     \
        X(TEXT, csr_pem)          /* current CSR */                                              \
        X(TEXT, spkac)            /* SPKAC for the CSR's key (EXTERNAL CAs: CERTMONGER_SPKAC) */   \
        X(TEXT, issued_pem)       /* certificate (and chain) issued but not yet saved */         \
        X(TEXT, ca_cookie)                                                                       \
        X(TEXT, ca_error)         /* last CA or stage error, in words */                         \
        X(TEXT, stage_issue)      /* per-stage status: "ok", "failed: ...", NULL = never ran */  \
        X(TEXT, stage_save)                                                                      \
        X(TEXT, stage_deploy)                                                                    \
        X(TEXT, subject)          /* facts read from the current certificate */                 \
        X(TEXT, issuer)                                                                          \
        X(TEXT, serial)                                                                          \
        X(INT, not_before)                                                                       \
        X(INT, not_after)                                                                        \
        X(TEXT, sha1)                                                                            \
        X(TEXT, sha256)                                                                          \
        X(TEXT, cert_info_json)   /* SANs, KU, EKU of the current certificate as JSON */        \
        X(INT, issued_count)                                                                     \
        X(INT, rekey_count)       /* new keys a CA asked for in a row (helper exit 17) */        \
        X(INT, last_notified_at)  /* expiry notice bookkeeping */                               \
        X(INT, ari_start)         /* ARI window renew_at was drawn in; 0 = lifetime rule */     \
        X(INT, ari_end)                                                                          \
        X(INT, ari_next_at)       /* next renewalInfo check; 0 = none (no ACME CA or no ARI) */  \
        X(TEXT, ari_explanation_url) /* the CA's explanationURL for its window, NULL = none */   \
        X(INT, created_at)                                                                       \
        X(INT, updated_at)

#define _CERT_FIELD_TEXT char *
#define _CERT_FIELD_INT int64_t
#define _CERT_FIELD_BOOL bool
#define _CERT_FIELD_STATE CertState
#define _CERT_FIELD(type, name) _CERT_FIELD_##type name;

typedef struct CertRecord {
        int64_t id;                       /* rowid, stable */
        CERT_RECORD_COLUMNS(_CERT_FIELD)
} CertRecord;

void cert_record_done(CertRecord *r);
void cert_record_free(CertRecord *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(CertRecord *, cert_record_free);
/* Replaces a string field: frees the old value, copies the new one (NULL allowed). */
int cert_record_set(char **field, const char *value);

typedef struct CARecord {
        char *name;        /* unique */
        char *type;        /* INTERNAL:SELF, INTERNAL:LOCAL, EXTERNAL, ACME */
        char *helper;      /* EXTERNAL: command line */
        char *config_json; /* type-specific settings */
        char *aka;         /* "self-identifies as" */
        char *data_json;   /* EXTERNAL: what its helper reported (roots, requirements, templates) */
        bool is_default;
        int64_t created_at;
} CARecord;

void ca_record_done(CARecord *r);

typedef struct HistoryRecord {
        int64_t id;
        int64_t cert_id;
        int64_t at;          /* unix seconds */
        char *stage;         /* "key", "csr", "submit", "save", "pre-save", "post-save", "deploy", ... */
        char *result;        /* "ok", "failed", "waiting", "rejected", ... */
        char *message;       /* words; hook output (bounded) */
        int64_t duration_ms;
} HistoryRecord;

void history_record_done(HistoryRecord *r);

/* Opening. A missing file is created (mode 0600, and migrated) only if create is true; with create
 * false a missing file is -ENOENT and nothing is created. A file that is not an SQLite database is
 * -EBADMSG; a schema newer than this code is -EPROTONOSUPPORT. The integrity check is the caller's
 * choice: store_check(). A Store is one SQLite handle, to be used by one thread at a time. */
int store_open(const char *path, bool create, Store **ret, char **reterr) _warn_unused_result_;
Store *store_free(Store *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Store *, store_free);

/* Full integrity check ("PRAGMA integrity_check", plus the foreign key check): 0 if ok, -EBADMSG with
 * the findings in *ret_msg otherwise. */
int store_check(Store *s, char **ret_msg) _warn_unused_result_;
int store_schema_version(Store *s);

/* Writes a consistent copy through SQLite's backup API to dest (atomically: temp, fsync,
 * rename). -EBUSY while a transaction is open. */
int store_backup_to(Store *s, const char *dest, char **reterr) _warn_unused_result_;

/* File-level helpers that work on a closed database (daemon not running or about to open it):
 * check a file's integrity without creating it; rotate dest -> dest.1 and back up; restore
 * (moves the corrupt file aside as path.corrupt-<timestamp>, copies the backup in place). */
int store_file_check(const char *path, char **ret_msg) _warn_unused_result_;
int store_file_backup(const char *path, const char *bak_path, char **reterr) _warn_unused_result_;
int store_file_restore(const char *path, const char *bak_path, char **ret_moved_aside, char **reterr)
        _warn_unused_result_;
/* Salvages what can be read from a damaged database into a new one at dest (row by row). dest must
 * not exist (-EEXIST). file_check runs the full integrity check; file_backup refuses (-EBADMSG) to
 * back up a database that fails "PRAGMA quick_check", so a good backup is never rotated away;
 * file_restore refuses a backup that fails the integrity check and leaves everything as it was. */
int store_file_recover(const char *path, const char *dest, unsigned *ret_rows, char **reterr)
        _warn_unused_result_;

/* Transactions (nesting not allowed). Used by the daemon to group many updates into one commit. */
int store_begin(Store *s) _warn_unused_result_;
int store_commit(Store *s) _warn_unused_result_;
int store_rollback(Store *s);

/* Certificates. Insert fills r->id. -EEXIST if the nickname or cert_path is taken (reterr says
 * which). */
int store_cert_insert(Store *s, CertRecord *r, char **reterr) _warn_unused_result_;
int store_cert_update(Store *s, const CertRecord *r, char **reterr) _warn_unused_result_;
int store_cert_delete(Store *s, int64_t id) _warn_unused_result_;                      /* -ENOENT */
int store_cert_get(Store *s, int64_t id, CertRecord **ret) _warn_unused_result_;      /* -ENOENT */
int store_cert_find_nickname(Store *s, const char *nickname, CertRecord **ret) _warn_unused_result_;
int store_cert_find_path(Store *s, const char *cert_path, CertRecord **ret) _warn_unused_result_;
int store_cert_count(Store *s, int64_t *ret) _warn_unused_result_;

typedef struct CertFilter {
        const char *ca;        /* NULL: any */
        const char *state;     /* NULL: any */
        int tracking_only;     /* 1: MONITORING only, 2: not MONITORING (requests only), 0: all */
        int64_t after_id;      /* paging: rows with id > after_id */
        unsigned limit;        /* 0: no limit */
} CertFilter;

/* Calls cb for each matching record, in id order. The record is only valid during the call.
 * A negative return from cb stops the iteration and is returned. */
int store_cert_foreach(Store *s, const CertFilter *f, int (*cb)(const CertRecord *r, void *userdata),
                       void *userdata) _warn_unused_result_;

/* Scheduler load: calls cb(id, next_action_at) for every record with next_action_at > 0, in
 * next_action_at order. Cheap: reads only the partial index on next_action_at. */
int store_cert_foreach_schedule(Store *s, int (*cb)(int64_t id, int64_t at, void *userdata),
                                void *userdata) _warn_unused_result_;
/* What the file watch needs of one record: its state, thumbprint and certificate path (either may
 * be NULL). -ENOENT if there is no such record. */
int store_cert_file_facts(Store *s, int64_t id, CertState *ret_state, char **ret_sha256, char **ret_cert_path)
        _warn_unused_result_;
/* The files of every tracked record: cb(id, cert_path, key_path), either path may be NULL. Reads
 * three columns, not whole records (the file watch's sync over a large store). */
int store_cert_foreach_tracked_paths(Store *s,
                                     int (*cb)(int64_t id, const char *cert_path, const char *key_path, void *userdata),
                                     void *userdata) _warn_unused_result_;
/* At most limit tracked records with an id above after_id, in id order: cb(id, state, sha256,
 * cert_path), either string may be NULL. Reads four columns (the file watch's start-up check of a
 * large store, a chunk at a time). Returns the number of records passed to cb. */
int store_cert_foreach_tracked_facts(Store *s, int64_t after_id, unsigned limit,
                                     int (*cb)(int64_t id, CertState state, const char *sha256,
                                               const char *cert_path, void *userdata),
                                     void *userdata) _warn_unused_result_;

/* What /metrics shows of a record. The strings (either may be NULL) are valid during the call only. */
typedef struct CertSummary {
        int64_t id;
        const char *nickname;
        const char *ca;
        CertState state;
        int64_t not_after;     /* 0: no certificate */
        int64_t renew_at;      /* 0: not drawn */
} CertSummary;

/* Every record in id order, reading six columns instead of whole records (/metrics over a large
 * store). A negative return from cb stops the iteration and is returned. */
int store_cert_foreach_summary(Store *s, int (*cb)(const CertSummary *c, void *userdata), void *userdata)
        _warn_unused_result_;

/* CAs. */
int store_ca_insert(Store *s, const CARecord *r, char **reterr) _warn_unused_result_; /* -EEXIST */
int store_ca_update(Store *s, const CARecord *r) _warn_unused_result_;
int store_ca_delete(Store *s, const char *name) _warn_unused_result_;              /* -ENOENT */
int store_ca_get(Store *s, const char *name, CARecord *ret) _warn_unused_result_;   /* -ENOENT */
int store_ca_foreach(Store *s, int (*cb)(const CARecord *r, void *userdata), void *userdata)
        _warn_unused_result_;

/* History: one row per attempt. Old rows beyond keep_per_cert are pruned per certificate.
 * store_history_add: -ENOENT if cert_id names no certificate (the insert and the pruning are one
 * commit). store_history_foreach: newest first, at most limit rows (0: all); cert_id <= 0 means
 * every certificate. store_history_count: stage/result NULL = any, cert_id <= 0 = every certificate. */
#define STORE_HISTORY_KEEP_PER_CERT 100
int store_history_add(Store *s, const HistoryRecord *r) _warn_unused_result_;
int store_history_foreach(Store *s, int64_t cert_id, unsigned limit,
                          int (*cb)(const HistoryRecord *r, void *userdata), void *userdata)
        _warn_unused_result_;
int store_history_count(Store *s, int64_t cert_id, const char *stage, const char *result, int64_t *ret)
        _warn_unused_result_;

/* Lifecycle events (cert-event.h), kept for a set time. cert_id is not a foreign key: the events
 * of a removed certificate stay. payload_json is the event as JSON (docs/EVENTS.md). */
typedef struct EventRecord {
        int64_t id;           /* increasing, never reused: a cursor */
        int64_t at;           /* unix seconds */
        int event_id;         /* CertEventId */
        int64_t cert_id;      /* 0: none */
        char *nickname;
        char *payload_json;
} EventRecord;

void event_record_done(EventRecord *r);

typedef struct EventFilter {
        int64_t since;        /* at >= since; 0: any time */
        int event_id;         /* 0: any */
        int64_t cert_id;      /* 0: any */
        int64_t after_id;     /* paging: rows that come after this id in the chosen order; 0: from the start */
        unsigned limit;       /* 0: no limit */
        bool oldest_first;    /* default: newest first */
} EventFilter;

/* Adds an event (inside the caller's transaction if one is open). ret_id (optional) gets its id. */
int store_event_add(Store *s, const EventRecord *r, int64_t *ret_id) _warn_unused_result_;
/* Calls cb for each matching event, newest first unless oldest_first. The record is only valid
 * during the call; a negative return from cb stops the iteration and is returned. */
int store_event_foreach(Store *s, const EventFilter *f, int (*cb)(const EventRecord *r, void *userdata),
                        void *userdata) _warn_unused_result_;
/* How many events of each id were ever added (pruning does not lower them), in event id order. */
int store_event_counts_foreach(Store *s, int (*cb)(int64_t event_id, int64_t count, void *userdata), void *userdata)
        _warn_unused_result_;
/* Removes the events older than before (at < before). ret_deleted (optional) gets how many. */
int store_event_prune(Store *s, int64_t before, int64_t *ret_deleted) _warn_unused_result_;

/* Bindings: a service that uses a certificate, rebound on each replacement (docs/BINDINGS.md). */
typedef struct BindingRecord {
        int64_t id;
        int64_t cert_id;
        char *kind;        /* "nginx", "apache", "haproxy", "command", "file" */
        char *config;      /* nginx, apache, haproxy: the configuration file */
        char *test_cmd;    /* NULL: the kind's default */
        char *reload_cmd;  /* NULL: the kind's default; for "command", the command */
        char *endpoint;    /* HOST:PORT[/SNI] or NULL */
        char *last_result; /* "ok", "failed: STAGE: why", or NULL (never deployed) */
        int64_t last_at;
        char *path;        /* haproxy: the combined PEM; file: the file written */
        char *layout;      /* file: cert, chain, fullchain, key, combined, pkcs12 */
        char *owner;       /* file: USER[:GROUP] or NULL */
        int64_t mode;      /* file: 0 for the layout's default */
        char *password_file; /* file, pkcs12: the file whose first line is the password, or NULL (none) */
} BindingRecord;

void binding_record_done(BindingRecord *r);
int store_binding_add(Store *s, const BindingRecord *r, int64_t *ret_id) _warn_unused_result_;
/* id 0: all the bindings of cert_id. -ENOENT if none was removed. */
int store_binding_delete(Store *s, int64_t cert_id, int64_t id) _warn_unused_result_;
int store_binding_set_result(Store *s, int64_t id, const char *result, int64_t at) _warn_unused_result_;
/* cert_id 0: all. The record is valid during the call only; a negative cb return stops and is returned. */
int store_binding_foreach(Store *s, int64_t cert_id, int (*cb)(const BindingRecord *r, void *userdata),
                          void *userdata) _warn_unused_result_;
/* Deploys under way (the job as JSON), kept until their outcome is applied: run again at start-up. */
int store_deploy_pending_set(Store *s, int64_t cert_id, const char *job, int64_t since) _warn_unused_result_;
int store_deploy_pending_clear(Store *s, int64_t cert_id) _warn_unused_result_;
int store_deploy_pending_foreach(Store *s, int (*cb)(int64_t cert_id, const char *job, int64_t since, void *userdata),
                                 void *userdata) _warn_unused_result_;
/* The id of the newest event, 0 if none. */
int store_event_last_id(Store *s, int64_t *ret) _warn_unused_result_;

/* Subscriptions to events (docs/EVENTS.md), delivered from the events table at least once. */
typedef struct SubscriptionRecord {
        char *name;
        char *kind;              /* "command" or "webhook" */
        char *target;            /* the command line, or the URL */
        char *secret;            /* webhooks: the HMAC-SHA256 key */
        char *events;            /* comma-separated event ids; NULL: every event */
        int64_t cert_id;         /* 0: every certificate */
        int64_t created_at;
        int64_t cursor;          /* the id of the last event delivered or skipped */
        int64_t attempts;        /* failed attempts at the event after the cursor */
        int64_t next_attempt_at; /* 0: none waiting */
        int64_t last_attempt_at;
        int64_t last_delivered_at;
        int64_t delivered;       /* events delivered */
        char *last_error;        /* NULL after a success */
} SubscriptionRecord;

void subscription_record_done(SubscriptionRecord *r);

/* -EEXIST if the name is taken. */
int store_subscription_add(Store *s, const SubscriptionRecord *r) _warn_unused_result_;
/* -ENOENT if there is none by that name. */
int store_subscription_remove(Store *s, const char *name) _warn_unused_result_;
int store_subscription_get(Store *s, const char *name, SubscriptionRecord *ret) _warn_unused_result_;
/* By name. The record is only valid during the call. */
int store_subscription_foreach(Store *s, int (*cb)(const SubscriptionRecord *r, void *userdata),
                               void *userdata) _warn_unused_result_;
/* Event event_row was delivered: the cursor moves to it, the failure state is cleared. */
int store_subscription_delivered(Store *s, const char *name, int64_t event_row, int64_t now)
        _warn_unused_result_;
/* The delivery of the event after the cursor failed: one more attempt, the next at next_attempt_at. */
int store_subscription_failed(Store *s, const char *name, const char *error, int64_t next_attempt_at,
                              int64_t now) _warn_unused_result_;
/* The events up to cursor do not match the subscription: the cursor moves past them. */
int store_subscription_skip(Store *s, const char *name, int64_t cursor) _warn_unused_result_;

/* Small key/value settings (e.g. last backup time). store_meta_set with value NULL removes the key. */
int store_meta_get(Store *s, const char *key, char **ret) _warn_unused_result_;  /* -ENOENT */
int store_meta_set(Store *s, const char *key, const char *value) _warn_unused_result_;
