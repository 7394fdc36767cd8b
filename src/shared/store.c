/* SPDX-License-Identifier: MIT */

#include "store.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "string-util.h"

#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_FILE_MODE 0600
#define STORE_CHECK_MAX_FINDINGS 20
/* Recovery: at most this many single-row probes per table across damaged regions. */
#define STORE_RECOVER_MAX_PROBES 1000000

static char *mfree_str(char *p) {
        free(p);
        return NULL;
}

/* ------------------------------------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------------------------------- */

static int sqlite_errno(int rc) {
        switch (rc & 0xff) {
        case SQLITE_OK:
        case SQLITE_ROW:
        case SQLITE_DONE:
                return 0;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EBUSY;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EBADMSG;
        case SQLITE_READONLY:
                return -EROFS;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_TOOBIG:
                return -E2BIG;
        case SQLITE_CONSTRAINT:
                if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
                        return -EEXIST;
                if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
                        return -ENOENT;
                return -EINVAL;
        case SQLITE_MISMATCH:
        case SQLITE_RANGE:
                return -EINVAL;
        case SQLITE_INTERRUPT:
                return -EINTR;
        case SQLITE_PROTOCOL:
                return -EPROTO;
        default:
                return -EIO;
        }
}

/* ------------------------------------------------------------------------------------------------
 * Small file helpers (open/fsync directly; no dependency on fs-util)
 * ---------------------------------------------------------------------------------------------- */

static void db_closep(sqlite3 **db) {
        if (*db)
                (void) sqlite3_close_v2(*db);
}

static void stmt_finalizep(sqlite3_stmt **st) {
        if (*st)
                (void) sqlite3_finalize(*st);
}

static int fsync_path(const char *path, bool directory) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        if (fsync(fd) < 0)
                return negative_errno();
        return 0;
}

static int fsync_parent_dir(const char *path) {
        _cleanup_free_ char *dir = NULL;
        char *slash;

        dir = strdup(path);
        if (!dir)
                return -ENOMEM;

        slash = strrchr(dir, '/');
        if (!slash)
                return fsync_path(".", true);
        if (slash == dir)
                slash[1] = '\0';
        else
                *slash = '\0';
        return fsync_path(dir, true);
}

static int path_exists(const char *path) {
        struct stat st;

        if (lstat(path, &st) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        return 1;
}

/* Removes path and its SQLite side files; ignores files that are not there. */
static void unlink_db_files(const char *path) {
        static const char *const suffixes[] = { "", "-journal", "-wal", "-shm" };

        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                _cleanup_free_ char *p = strjoin(path, suffixes[i]);
                if (p)
                        (void) unlink(p);
        }
}

/* Creates an empty file with mode 0600 so that SQLite (which copies the main file's mode to its
 * -wal and -shm files) never creates any of them world-readable. Returns 1 if created. */
static int precreate_file(const char *path) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOCTTY, STORE_FILE_MODE);
        if (fd < 0)
                return errno == EEXIST ? 0 : negative_errno();
        return 1;
}

/* ------------------------------------------------------------------------------------------------
 * Schema
 * ---------------------------------------------------------------------------------------------- */

#define SQL_TYPE_TEXT "TEXT"
#define SQL_TYPE_INT "INTEGER NOT NULL DEFAULT 0"
#define SQL_TYPE_BOOL "INTEGER NOT NULL DEFAULT 0"
#define SQL_TYPE_STATE "TEXT NOT NULL DEFAULT 'NEWLY_ADDED'"

#define SQL_COL_DEF(type, name) ",\n  " #name " " SQL_TYPE_##type
#define SQL_COL_NAME(type, name) ", " #name
#define SQL_COL_QMARK(type, name) ", ?"
#define SQL_COL_COUNT(type, name) +1

enum {
        CERT_N_COLUMNS = 0 CERT_RECORD_COLUMNS(SQL_COL_COUNT),
};

/* Column name and its definition, for the UPDATE statement and for adding columns that an older
 * database lacks. */
static const struct {
        const char *name;
        const char *definition;
} cert_columns[CERT_N_COLUMNS] = {
#define X(type, name) { #name, #name " " SQL_TYPE_##type },
        CERT_RECORD_COLUMNS(X)
#undef X
};

#define CERT_SELECT_SQL "SELECT id" CERT_RECORD_COLUMNS(SQL_COL_NAME) " FROM certs"
#define CERT_INSERT_SQL                                                                          \
        "INSERT INTO certs (id" CERT_RECORD_COLUMNS(SQL_COL_NAME) ") VALUES (NULL"              \
        CERT_RECORD_COLUMNS(SQL_COL_QMARK) ")"

/* Migration 1 is generated from CERT_RECORD_COLUMNS. A column added to the X-macro later is created
 * here for new databases and added by store_add_missing_columns() to existing ones, so adding a
 * column stays a one-line change. Anything else (renames, new tables, new indexes) is a new
 * numbered migration below; a migration never changes once released. */
static const char migration_1_sql[] =
        "CREATE TABLE certs (\n"
        "  id INTEGER PRIMARY KEY AUTOINCREMENT"
        CERT_RECORD_COLUMNS(SQL_COL_DEF) ",\n"
        "  UNIQUE (nickname),\n"
        "  UNIQUE (cert_path)\n"
        ");\n"
        "CREATE INDEX certs_next_action_at ON certs (next_action_at) WHERE next_action_at > 0;\n"
        "CREATE INDEX certs_ca ON certs (ca);\n"
        "CREATE INDEX certs_state ON certs (state);\n"
        "CREATE TABLE cas (\n"
        "  name TEXT PRIMARY KEY NOT NULL,\n"
        "  type TEXT,\n"
        "  helper TEXT,\n"
        "  config_json TEXT,\n"
        "  aka TEXT,\n"
        "  is_default INTEGER NOT NULL DEFAULT 0,\n"
        "  created_at INTEGER NOT NULL DEFAULT 0\n"
        ");\n"
        "CREATE TABLE history (\n"
        "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "  cert_id INTEGER NOT NULL REFERENCES certs (id) ON DELETE CASCADE,\n"
        "  at INTEGER NOT NULL DEFAULT 0,\n"
        "  stage TEXT,\n"
        "  result TEXT,\n"
        "  message TEXT,\n"
        "  duration_ms INTEGER NOT NULL DEFAULT 0\n"
        ");\n"
        "CREATE INDEX history_cert_id ON history (cert_id, id);\n"
        "CREATE TABLE meta (\n"
        "  key TEXT PRIMARY KEY NOT NULL,\n"
        "  value TEXT\n"
        ");\n";

typedef struct Migration {
        int version;
        const char *name;
        const char *sql;
} Migration;

/* Forward only: append, never edit or reorder. user_version = the last one applied. */
/* What an EXTERNAL CA's helper reported (identity, roots, requirements, templates), as JSON. */
static const char migration_2_sql[] = "ALTER TABLE cas ADD COLUMN data_json TEXT;\n";

/* Lifecycle events (docs/EVENTS.md). cert_id has no foreign key: the events of a removed certificate
 * stay, with its nickname, until they are pruned by age. AUTOINCREMENT keeps ids from being reused
 * after pruning, so an id is a stable cursor.
 *
 * The table is the outbox of deliveries to subscriptions (migration 4): each keeps its own cursor,
 * the id of the last event it delivered, advanced only after a delivery succeeded: at least once,
 * and a restart loses nothing, because the event row is committed in the same transaction as the
 * state change that raised it. Pruning spares the rows a subscription has not delivered yet. */
static const char migration_3_sql[] =
        "CREATE TABLE events (\n"
        "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "  at INTEGER NOT NULL DEFAULT 0,\n"
        "  event_id INTEGER NOT NULL,\n"
        "  cert_id INTEGER NOT NULL DEFAULT 0,\n"
        "  nickname TEXT,\n"
        "  payload_json TEXT\n"
        ");\n"
        "CREATE INDEX events_cert_id ON events (cert_id, id);\n"
        "CREATE INDEX events_event_id ON events (event_id, id);\n"
        /* For pruning by age and for "since". */
        "CREATE INDEX events_at ON events (at);\n";

/* Subscriptions to lifecycle events (docs/EVENTS.md): a command or a webhook, with its filters and
 * its delivery state. cursor is the id of the last event delivered (or skipped as not matching);
 * attempts, next_attempt_at and last_error are those of the failing delivery of the event after
 * it. The webhook secret is kept here, in the daemon's private database, and never read back
 * through the API. */
static const char migration_4_sql[] =
        "CREATE TABLE subscriptions (\n"
        "  name TEXT PRIMARY KEY,\n"
        "  kind TEXT NOT NULL,\n"
        "  target TEXT NOT NULL,\n"
        "  secret TEXT,\n"
        "  events TEXT,\n"
        "  cert_id INTEGER NOT NULL DEFAULT 0,\n"
        "  created_at INTEGER NOT NULL DEFAULT 0,\n"
        "  cursor INTEGER NOT NULL DEFAULT 0,\n"
        "  attempts INTEGER NOT NULL DEFAULT 0,\n"
        "  next_attempt_at INTEGER NOT NULL DEFAULT 0,\n"
        "  last_attempt_at INTEGER NOT NULL DEFAULT 0,\n"
        "  last_delivered_at INTEGER NOT NULL DEFAULT 0,\n"
        "  delivered INTEGER NOT NULL DEFAULT 0,\n"
        "  last_error TEXT\n"
        ");\n";

/* Bindings: the services that use a certificate (docs/BINDINGS.md). Deleted with their certificate.
 * (Number 5: the event subscriptions took 4.) */
static const char migration_5_bindings_sql[] =
        "CREATE TABLE bindings (\n"
        "  id INTEGER PRIMARY KEY AUTOINCREMENT,\n"
        "  cert_id INTEGER NOT NULL REFERENCES certs (id) ON DELETE CASCADE,\n"
        "  kind TEXT NOT NULL,\n"
        "  config TEXT,\n"
        "  test_cmd TEXT,\n"
        "  reload_cmd TEXT,\n"
        "  endpoint TEXT,\n"
        "  last_result TEXT,\n"
        "  last_at INTEGER NOT NULL DEFAULT 0\n"
        ");\n"
        "CREATE INDEX bindings_cert_id ON bindings (cert_id);\n";

/* Bindings that write files (haproxy's combined PEM, the file kind), and the deploys under way: a
 * row from the queuing of a deploy to its outcome, run again at start-up after a crash. */
static const char migration_6_deploys_sql[] =
        "ALTER TABLE bindings ADD COLUMN path TEXT;\n"
        "ALTER TABLE bindings ADD COLUMN layout TEXT;\n"
        "ALTER TABLE bindings ADD COLUMN owner TEXT;\n"
        "ALTER TABLE bindings ADD COLUMN mode INTEGER NOT NULL DEFAULT 0;\n"
        "CREATE TABLE deploys_pending (\n"
        "  cert_id INTEGER PRIMARY KEY REFERENCES certs (id) ON DELETE CASCADE,\n"
        "  job TEXT NOT NULL,\n"
        "  since INTEGER NOT NULL\n"
        ");\n";

/* The password of a pkcs12 file binding: the path of a file whose first line it is (read at each
 * deploy; the password itself is never stored). */
static const char migration_7_password_file_sql[] = "ALTER TABLE bindings ADD COLUMN password_file TEXT;\n";

/* How many events of each kind were ever raised (the /metrics counters): events are pruned by age,
 * these counts are not. Kept by store_event_add() in the same transaction as the event; a database
 * made before this migration starts from the events it still kept. */
static const char migration_8_event_counts_sql[] =
        "CREATE TABLE event_counts (\n"
        "  event_id INTEGER PRIMARY KEY,\n"
        "  count INTEGER NOT NULL DEFAULT 0\n"
        ");\n"
        "INSERT INTO event_counts (event_id, count) SELECT event_id, count(*) FROM events GROUP BY event_id;\n";

static const Migration migrations[] = {
        { 1, "initial schema", migration_1_sql },
        { 2, "CA data reported by helpers", migration_2_sql },
        { 3, "lifecycle events", migration_3_sql },
        { 4, "event subscriptions", migration_4_sql },
        { 5, "bindings", migration_5_bindings_sql },
        { 6, "binding files and pending deploys", migration_6_deploys_sql },
        { 7, "binding password files", migration_7_password_file_sql },
        { 8, "event counts", migration_8_event_counts_sql },
};

#define STORE_SCHEMA_LATEST ((int) ELEMENTSOF(migrations))

/* Tables copied by store_file_recover(): every table, parents first (foreign keys). */
static const char *const store_tables[] = { "certs",  "cas",           "history",  "meta",
                                            "events", "subscriptions", "bindings", "deploys_pending",
                                            "event_counts" };

/* ------------------------------------------------------------------------------------------------
 * Prepared statements
 * ---------------------------------------------------------------------------------------------- */

typedef enum StoreStmtId {
        STMT_BEGIN,
        STMT_COMMIT,
        STMT_ROLLBACK,
        STMT_CERT_INSERT,
        STMT_CERT_UPDATE,
        STMT_CERT_DELETE,
        STMT_CERT_GET,
        STMT_CERT_BY_NICKNAME,
        STMT_CERT_BY_PATH,
        STMT_CERT_NICKNAME_BY_PATH,
        STMT_CERT_COUNT,
        STMT_CERT_SCHEDULE,
        STMT_CERT_TRACKED_PATHS,
        STMT_CERT_FILE_FACTS,
        STMT_CERT_TRACKED_FACTS,
        STMT_CERT_SUMMARY,
        STMT_CA_INSERT,
        STMT_CA_UPDATE,
        STMT_CA_DELETE,
        STMT_CA_GET,
        STMT_CA_ALL,
        STMT_HISTORY_SAVEPOINT,
        STMT_HISTORY_RELEASE,
        STMT_HISTORY_ROLLBACK_TO,
        STMT_HISTORY_ADD,
        STMT_HISTORY_PRUNE,
        STMT_HISTORY_LIST_CERT,
        STMT_HISTORY_LIST_ALL,
        STMT_HISTORY_COUNT_CERT,
        STMT_HISTORY_COUNT_ALL,
        STMT_META_GET,
        STMT_META_SET,
        STMT_META_DELETE,
        STMT_EVENT_ADD,
        STMT_EVENT_PRUNE,
        STMT_EVENT_LAST,
        STMT_EVENT_COUNT_ADD,
        STMT_EVENT_COUNTS,
        STMT_SUB_INSERT,
        STMT_SUB_DELETE,
        STMT_SUB_GET,
        STMT_SUB_ALL,
        STMT_SUB_DELIVERED,
        STMT_SUB_FAILED,
        STMT_SUB_SKIP,
        _STMT_FIXED_MAX,
        /* store_cert_foreach(): one cached statement per filter shape (ca? × state? × tracking). */
        STMT_FILTER_FIRST = _STMT_FIXED_MAX,
        /* store_event_foreach(): since? × event? × cert? × order. */
        STMT_EVENT_FILTER_FIRST = STMT_FILTER_FIRST + 2 * 2 * 3,
        _STMT_MAX = STMT_EVENT_FILTER_FIRST + 2 * 2 * 2 * 2,
} StoreStmtId;

#define CA_COLUMNS "name, type, helper, config_json, aka, is_default, created_at, data_json"
#define SUB_COLUMNS "name, kind, target, secret, events, cert_id, created_at, cursor, attempts, " \
        "next_attempt_at, last_attempt_at, last_delivered_at, delivered, last_error"
#define HISTORY_COLUMNS "id, cert_id, at, stage, result, message, duration_ms"

static const char *const stmt_sql_table[_STMT_FIXED_MAX] = {
        [STMT_BEGIN] = "BEGIN IMMEDIATE",
        [STMT_COMMIT] = "COMMIT",
        [STMT_ROLLBACK] = "ROLLBACK",
        [STMT_CERT_INSERT] = CERT_INSERT_SQL,
        [STMT_CERT_UPDATE] = NULL, /* built at open time, see cert_update_sql() */
        [STMT_CERT_DELETE] = "DELETE FROM certs WHERE id = ?1",
        [STMT_CERT_GET] = CERT_SELECT_SQL " WHERE id = ?1",
        [STMT_CERT_BY_NICKNAME] = CERT_SELECT_SQL " WHERE nickname = ?1",
        [STMT_CERT_BY_PATH] = CERT_SELECT_SQL " WHERE cert_path = ?1",
        [STMT_CERT_NICKNAME_BY_PATH] = "SELECT nickname FROM certs WHERE cert_path = ?1",
        [STMT_CERT_COUNT] = "SELECT count(*) FROM certs",
        [STMT_CERT_SCHEDULE] = "SELECT id, next_action_at FROM certs WHERE next_action_at > 0 "
                               "ORDER BY next_action_at",
        [STMT_CERT_TRACKED_PATHS] = "SELECT id, cert_path, key_path FROM certs WHERE track <> 0",
        [STMT_CERT_FILE_FACTS] = "SELECT state, sha256, cert_path FROM certs WHERE id = ?1",
        [STMT_CERT_TRACKED_FACTS] = "SELECT id, state, sha256, cert_path FROM certs "
                                    "WHERE track <> 0 AND id > ?1 ORDER BY id LIMIT ?2",
        [STMT_CERT_SUMMARY] = "SELECT id, nickname, ca, state, not_after, renew_at FROM certs ORDER BY id",
        [STMT_CA_INSERT] = "INSERT INTO cas (" CA_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        [STMT_CA_UPDATE] = "UPDATE cas SET type = ?2, helper = ?3, config_json = ?4, aka = ?5, "
                           "is_default = ?6, created_at = ?7, data_json = ?8 WHERE name = ?1",
        [STMT_CA_DELETE] = "DELETE FROM cas WHERE name = ?1",
        [STMT_CA_GET] = "SELECT " CA_COLUMNS " FROM cas WHERE name = ?1",
        [STMT_CA_ALL] = "SELECT " CA_COLUMNS " FROM cas ORDER BY name",
        [STMT_HISTORY_SAVEPOINT] = "SAVEPOINT store_history_add",
        [STMT_HISTORY_RELEASE] = "RELEASE store_history_add",
        [STMT_HISTORY_ROLLBACK_TO] = "ROLLBACK TO store_history_add",
        [STMT_HISTORY_ADD] = "INSERT INTO history (cert_id, at, stage, result, message, duration_ms) "
                             "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        [STMT_HISTORY_PRUNE] = "DELETE FROM history WHERE cert_id = ?1 AND id <= "
                               "(SELECT id FROM history WHERE cert_id = ?1 ORDER BY id DESC "
                               "LIMIT 1 OFFSET ?2)",
        [STMT_HISTORY_LIST_CERT] = "SELECT " HISTORY_COLUMNS " FROM history WHERE cert_id = ?1 "
                                   "ORDER BY id DESC LIMIT ?2",
        [STMT_HISTORY_LIST_ALL] = "SELECT " HISTORY_COLUMNS " FROM history ORDER BY id DESC LIMIT ?2",
        [STMT_HISTORY_COUNT_CERT] = "SELECT count(*) FROM history WHERE cert_id = ?1 "
                                    "AND (?2 IS NULL OR stage = ?2) AND (?3 IS NULL OR result = ?3)",
        [STMT_HISTORY_COUNT_ALL] = "SELECT count(*) FROM history "
                                   "WHERE (?2 IS NULL OR stage = ?2) AND (?3 IS NULL OR result = ?3)",
        [STMT_META_GET] = "SELECT value FROM meta WHERE key = ?1",
        [STMT_META_SET] = "INSERT INTO meta (key, value) VALUES (?1, ?2) "
                          "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [STMT_META_DELETE] = "DELETE FROM meta WHERE key = ?1",
        [STMT_EVENT_ADD] = "INSERT INTO events (at, event_id, cert_id, nickname, payload_json) "
                           "VALUES (?1, ?2, ?3, ?4, ?5)",
        /* What a subscription has not delivered yet stays. */
        [STMT_EVENT_PRUNE] = "DELETE FROM events WHERE at < ?1 AND id <= "
                             "COALESCE((SELECT MIN(cursor) FROM subscriptions), 9223372036854775807)",
        [STMT_EVENT_LAST] = "SELECT COALESCE(MAX(id), 0) FROM events",
        [STMT_EVENT_COUNT_ADD] = "INSERT INTO event_counts (event_id, count) VALUES (?1, 1) "
                                 "ON CONFLICT (event_id) DO UPDATE SET count = count + 1",
        [STMT_EVENT_COUNTS] = "SELECT event_id, count FROM event_counts ORDER BY event_id",
        [STMT_SUB_INSERT] = "INSERT INTO subscriptions (" SUB_COLUMNS ") VALUES "
                            "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        [STMT_SUB_DELETE] = "DELETE FROM subscriptions WHERE name = ?1",
        [STMT_SUB_GET] = "SELECT " SUB_COLUMNS " FROM subscriptions WHERE name = ?1",
        [STMT_SUB_ALL] = "SELECT " SUB_COLUMNS " FROM subscriptions ORDER BY name",
        [STMT_SUB_DELIVERED] = "UPDATE subscriptions SET cursor = MAX(cursor, ?2), attempts = 0, "
                               "next_attempt_at = 0, last_error = NULL, last_attempt_at = ?3, "
                               "last_delivered_at = ?3, delivered = delivered + 1 WHERE name = ?1",
        [STMT_SUB_FAILED] = "UPDATE subscriptions SET attempts = attempts + 1, next_attempt_at = ?2, "
                            "last_error = ?3, last_attempt_at = ?4 WHERE name = ?1",
        [STMT_SUB_SKIP] = "UPDATE subscriptions SET cursor = MAX(cursor, ?2) WHERE name = ?1",
};

struct Store {
        sqlite3 *db;
        char *path;
        int schema_version;
        char *cert_update_sql;
        sqlite3_stmt *cache[_STMT_MAX];
        bool in_use[_STMT_MAX];
};

/* A statement borrowed from the cache (slot >= 0), or a private one (slot < 0) when the cached one
 * is already in use further up the stack (e.g. a foreach callback that queries the store again). */
typedef struct Stmt {
        Store *store;
        sqlite3_stmt *st;
        int slot;
} Stmt;

static void stmt_release(Stmt *q) {
        if (!q->st)
                return;

        if (q->slot >= 0) {
                (void) sqlite3_reset(q->st);
                (void) sqlite3_clear_bindings(q->st);
                q->store->in_use[q->slot] = false;
        } else
                (void) sqlite3_finalize(q->st);

        q->st = NULL;
}

#define _cleanup_stmt_ _cleanup_(stmt_release)

static int stmt_acquire_sql(Store *s, int slot, const char *sql, Stmt *ret) {
        sqlite3_stmt *st = NULL;
        int rc;

        if (s->cache[slot] && !s->in_use[slot]) {
                s->in_use[slot] = true;
                *ret = (Stmt) { .store = s, .st = s->cache[slot], .slot = slot };
                return 0;
        }

        rc = sqlite3_prepare_v3(s->db, sql, -1, s->cache[slot] ? 0 : SQLITE_PREPARE_PERSISTENT, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_errno(rc);

        if (!s->cache[slot]) {
                s->cache[slot] = st;
                s->in_use[slot] = true;
                *ret = (Stmt) { .store = s, .st = st, .slot = slot };
        } else
                *ret = (Stmt) { .store = s, .st = st, .slot = -1 };
        return 0;
}

static int stmt_acquire(Store *s, StoreStmtId id, Stmt *ret) {
        const char *sql = id == STMT_CERT_UPDATE ? s->cert_update_sql : stmt_sql_table[id];

        return stmt_acquire_sql(s, id, sql, ret);
}

/* 1 on a row, 0 when done, -errno on failure. */
static int stmt_step(Stmt *q) {
        int rc = sqlite3_step(q->st);

        if (rc == SQLITE_ROW)
                return 1;
        if (rc == SQLITE_DONE)
                return 0;
        return sqlite_errno(sqlite3_extended_errcode(q->store->db));
}

/* Runs a statement that returns no rows. */
static int stmt_run(Stmt *q) {
        int r;

        r = stmt_step(q);
        if (r < 0)
                return r;
        return 0;
}

static int store_run(Store *s, StoreStmtId id) {
        _cleanup_stmt_ Stmt q = {};
        int r;

        r = stmt_acquire(s, id, &q);
        if (r < 0)
                return r;
        return stmt_run(&q);
}

static int bind_text_or_null(sqlite3_stmt *st, int i, const char *v) {
        return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static int column_strdup(sqlite3_stmt *st, int i, char **ret) {
        const unsigned char *t;
        char *p;
        int n;

        if (sqlite3_column_type(st, i) == SQLITE_NULL) {
                *ret = NULL;
                return 0;
        }

        t = sqlite3_column_text(st, i);
        if (!t)
                return -ENOMEM;
        n = sqlite3_column_bytes(st, i);

        p = malloc((size_t) n + 1);
        if (!p)
                return -ENOMEM;
        memcpy(p, t, (size_t) n);
        p[n] = '\0';

        *ret = p;
        return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Raw database handles
 * ---------------------------------------------------------------------------------------------- */

static int db_exec(sqlite3 *db, const char *sql, char **ret_msg) {
        char *m = NULL;
        int rc;

        rc = sqlite3_exec(db, sql, NULL, NULL, &m);
        if (rc != SQLITE_OK) {
                int r = sqlite_errno(sqlite3_extended_errcode(db));
                if (r == 0)
                        r = -EIO;
                if (ret_msg)
                        *ret_msg = strdup(m ? m : sqlite3_errstr(rc));
                sqlite3_free(m);
                return r;
        }
        return 0;
}

static int db_query_int(sqlite3 *db, const char *sql, int64_t *ret) {
        _cleanup_(stmt_finalizep) sqlite3_stmt *st = NULL;
        int rc;

        rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_errno(rc);

        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW)
                return rc == SQLITE_DONE ? -ENODATA : sqlite_errno(sqlite3_extended_errcode(db));

        *ret = sqlite3_column_int64(st, 0);
        return 0;
}

static int db_open_raw(const char *path, int flags, sqlite3 **ret, char **reterr) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        int rc;

        rc = sqlite3_open_v2(path, &db, flags, NULL);
        if (rc != SQLITE_OK) {
                int sys = db ? sqlite3_system_errno(db) : 0;
                int r = sys > 0 ? -sys : sqlite_errno(rc);

                return errorf(reterr, r ?: -EIO, "Failed to open database '%s': %s", path,
                                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        }

        (void) sqlite3_extended_result_codes(db, 1);
        (void) sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);

        *ret = TAKE_PTR(db);
        return 0;
}

/* SQLite reads nothing until the first statement: this is where a file that is not a database, or
 * whose schema page is damaged, is found out. */
static int db_probe(sqlite3 *db, const char *path, char **reterr) {
        int rc, r;

        rc = sqlite3_exec(db, "SELECT count(*) FROM sqlite_master", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
                return 0;

        r = sqlite_errno(sqlite3_extended_errcode(db));
        if (r == -EBADMSG)
                return errorf(reterr, r,
                                 "'%s' is not a database or is damaged (%s). Restore it from the backup "
                                 "with 'certkeeper db restore', or salvage what is readable with "
                                 "'certkeeper db recover'.",
                                 path, sqlite3_errmsg(db));
        return errorf(reterr, r ?: -EIO, "Failed to read database '%s': %s", path, sqlite3_errmsg(db));
}

/* Opens an existing database file (never creates one) and checks that it is one. */
static int db_open_existing(const char *path, bool readonly, sqlite3 **ret, char **reterr) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        struct stat st;
        int r;

        if (stat(path, &st) < 0) {
                r = negative_errno();
                if (r == -ENOENT)
                        return errorf(reterr, r, "Database '%s' does not exist.", path);
                return errorf(reterr, r, "Failed to access database '%s': %s", path, strerror(-r));
        }
        if (S_ISDIR(st.st_mode))
                return errorf(reterr, -EISDIR, "'%s' is a directory, not a database file.", path);

        r = db_open_raw(path, readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE, &db, reterr);
        if (r < 0)
                return r;

        r = db_probe(db, path, reterr);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(db);
        return 0;
}

/* Runs "PRAGMA <pragma>" and the foreign key check. 0 if clean, -EBADMSG with findings otherwise. */
static int db_integrity_check(sqlite3 *db, const char *pragma, char **ret_msg) {
        _cleanup_(stmt_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_strv_free_ char **findings = NULL;
        _cleanup_free_ char *sql = NULL, *joined = NULL;
        unsigned n = 0;
        int rc, r;

        sql = strjoin("PRAGMA ", pragma);
        if (!sql)
                return -ENOMEM;

        rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
        if (rc != SQLITE_OK) {
                r = sqlite_errno(sqlite3_extended_errcode(db));
                return errorf(ret_msg, r ?: -EIO, "Integrity check could not run: %s", sqlite3_errmsg(db));
        }

        for (;;) {
                const char *t;

                rc = sqlite3_step(st);
                if (rc == SQLITE_DONE)
                        break;
                if (rc != SQLITE_ROW) {
                        r = sqlite_errno(sqlite3_extended_errcode(db));
                        if (r == -EBADMSG)
                                break; /* reported below as a finding */
                        return errorf(ret_msg, r ?: -EIO, "Integrity check could not run: %s",
                                         sqlite3_errmsg(db));
                }

                t = (const char *) sqlite3_column_text(st, 0);
                if (t && streq(t, "ok"))
                        continue;
                if (n++ < STORE_CHECK_MAX_FINDINGS) {
                        r = strv_extend(&findings, t ? t : "(no detail)");
                        if (r < 0)
                                return r;
                }
        }
        if (rc != SQLITE_DONE) {
                r = strv_extend(&findings, sqlite3_errmsg(db));
                if (r < 0)
                        return r;
                n++;
        }
        (void) sqlite3_finalize(TAKE_PTR(st));

        /* Foreign keys are not part of the integrity check. Only meaningful on a sound file. */
        if (n == 0) {
                rc = sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL);
                if (rc == SQLITE_OK)
                        while (sqlite3_step(st) == SQLITE_ROW) {
                                _cleanup_free_ char *f = NULL;

                                if (n++ >= STORE_CHECK_MAX_FINDINGS)
                                        continue;
                                if (asprintf(&f, "row %" PRId64 " of table %s refers to a missing row of %s",
                                             (int64_t) sqlite3_column_int64(st, 1),
                                             strna((const char *) sqlite3_column_text(st, 0)),
                                             strna((const char *) sqlite3_column_text(st, 2))) < 0)
                                        return -ENOMEM;
                                r = strv_consume(&findings, TAKE_PTR(f));
                                if (r < 0)
                                        return r;
                        }
        }

        if (n == 0)
                return 0;

        joined = strv_join(findings, "; ");
        if (!joined)
                return -ENOMEM;
        return errorf(ret_msg, -EBADMSG, "Integrity check failed (%u finding%s): %s%s", n,
                         n == 1 ? "" : "s", joined, n > STORE_CHECK_MAX_FINDINGS ? "; ..." : "");
}

/* Copies the whole of src's main database into a new file "<dest>.tmp" through the backup API and
 * makes it durable. Returns the temporary path, which the caller renames into place. */
static int db_backup_to_tmp(sqlite3 *src, const char *dest, char **ret_tmp, char **reterr) {
        _cleanup_(db_closep) sqlite3 *d = NULL;
        _cleanup_free_ char *tmp = NULL;
        sqlite3_backup *b;
        unsigned busy = 0;
        int rc, r;

        tmp = strjoin(dest, ".tmp");
        if (!tmp)
                return -ENOMEM;

        unlink_db_files(tmp); /* leftovers of an interrupted run */
        r = precreate_file(tmp);
        if (r < 0)
                return errorf(reterr, r, "Failed to create '%s': %s", tmp, strerror(-r));

        r = db_open_raw(tmp, SQLITE_OPEN_READWRITE, &d, reterr);
        if (r < 0)
                goto fail;

        b = sqlite3_backup_init(d, "main", src, "main");
        if (!b) {
                r = sqlite_errno(sqlite3_extended_errcode(d)) ?: -EIO;
                errorf(reterr, r, "Failed to start the backup into '%s': %s", tmp, sqlite3_errmsg(d));
                goto fail;
        }
        for (;;) {
                rc = sqlite3_backup_step(b, -1);
                if (rc == SQLITE_DONE)
                        break;
                if ((rc == SQLITE_BUSY || rc == SQLITE_LOCKED) && busy++ < 100) {
                        sqlite3_sleep(50);
                        continue;
                }
                if (rc != SQLITE_OK)
                        break;
        }
        (void) sqlite3_backup_finish(b);
        if (rc != SQLITE_DONE) {
                r = sqlite_errno(rc) ?: -EIO;
                errorf(reterr, r, "Failed to write the backup '%s': %s", tmp, sqlite3_errstr(rc));
                goto fail;
        }

        /* The last backup step committed the copy; closing writes nothing more. */
        (void) sqlite3_close_v2(TAKE_PTR(d));

        r = fsync_path(tmp, false);
        if (r < 0) {
                errorf(reterr, r, "Failed to sync '%s': %s", tmp, strerror(-r));
                goto fail;
        }

        *ret_tmp = TAKE_PTR(tmp);
        return 0;

fail:
        (void) sqlite3_close_v2(TAKE_PTR(d));
        unlink_db_files(tmp);
        return r;
}

/* ------------------------------------------------------------------------------------------------
 * Records
 * ---------------------------------------------------------------------------------------------- */

#define CERT_DONE_TEXT(f) f = mfree_str(f)
#define CERT_DONE_INT(f) f = 0
#define CERT_DONE_BOOL(f) f = false
#define CERT_DONE_STATE(f) f = CERT_NEWLY_ADDED

void cert_record_done(CertRecord *r) {
        if (!r)
                return;
#define X(type, name) CERT_DONE_##type(r->name);
        CERT_RECORD_COLUMNS(X)
#undef X
        r->id = 0;
}

void cert_record_free(CertRecord *r) {
        if (!r)
                return;
        cert_record_done(r);
        free(r);
}

int cert_record_set(char **field, const char *value) {
        char *copy = NULL;

        if (value) {
                copy = strdup(value);
                if (!copy)
                        return -ENOMEM;
        }
        free(*field);
        *field = copy;
        return 0;
}

void ca_record_done(CARecord *r) {
        if (!r)
                return;
        free(r->name);
        free(r->type);
        free(r->helper);
        free(r->config_json);
        free(r->aka);
        free(r->data_json);
        *r = (CARecord) {};
}

void history_record_done(HistoryRecord *r) {
        if (!r)
                return;
        free(r->stage);
        free(r->result);
        free(r->message);
        *r = (HistoryRecord) {};
}

void event_record_done(EventRecord *r) {
        if (!r)
                return;
        free(r->nickname);
        free(r->payload_json);
        *r = (EventRecord) {};
}

/* Typed binders and readers selected by the X-macro's type word. They return SQLite codes / -errno. */
static int bind_TEXT(sqlite3_stmt *st, int i, const char *v) {
        return bind_text_or_null(st, i, v);
}

static int bind_INT(sqlite3_stmt *st, int i, int64_t v) {
        return sqlite3_bind_int64(st, i, v);
}

static int bind_BOOL(sqlite3_stmt *st, int i, bool v) {
        return sqlite3_bind_int(st, i, v ? 1 : 0);
}

static int bind_STATE(sqlite3_stmt *st, int i, CertState v) {
        const char *n = cert_state_to_string(v);

        if (!n)
                return SQLITE_RANGE;
        return sqlite3_bind_text(st, i, n, -1, SQLITE_STATIC);
}

static int read_TEXT(sqlite3_stmt *st, int i, char **v) {
        return column_strdup(st, i, v);
}

static int read_INT(sqlite3_stmt *st, int i, int64_t *v) {
        *v = sqlite3_column_int64(st, i);
        return 0;
}

static int read_BOOL(sqlite3_stmt *st, int i, bool *v) {
        *v = sqlite3_column_int64(st, i) != 0;
        return 0;
}

static int read_STATE(sqlite3_stmt *st, int i, CertState *v) {
        const char *t = (const char *) sqlite3_column_text(st, i);
        CertState s;

        s = cert_state_from_string(t);
        if (s < 0)
                return -EBADMSG;
        *v = s;
        return 0;
}

/* Binds the columns of r to parameters 1..CERT_N_COLUMNS. */
static int cert_bind(sqlite3_stmt *st, const CertRecord *r) {
        int i = 0, rc;

#define X(type, name)                                   \
        rc = bind_##type(st, ++i, r->name);             \
        if (rc != SQLITE_OK)                            \
                return sqlite_errno(rc) ?: -EIO;
        CERT_RECORD_COLUMNS(X)
#undef X

        return 0;
}

/* Reads a row laid out as "id, <columns>" (CERT_SELECT_SQL). */
static int cert_read_row(sqlite3_stmt *st, CertRecord *ret) {
        _cleanup_(cert_record_done) CertRecord r = {};
        int i = 0, k;

        r.id = sqlite3_column_int64(st, 0);
#define X(type, name)                                   \
        k = read_##type(st, ++i, &r.name);              \
        if (k < 0)                                      \
                return k;
        CERT_RECORD_COLUMNS(X)
#undef X

        *ret = r;
        r = (CertRecord) {};
        return 0;
}

static int ca_bind(sqlite3_stmt *st, const CARecord *r) {
        int rc;

        if ((rc = bind_text_or_null(st, 1, r->name)) != SQLITE_OK ||
            (rc = bind_text_or_null(st, 2, r->type)) != SQLITE_OK ||
            (rc = bind_text_or_null(st, 3, r->helper)) != SQLITE_OK ||
            (rc = bind_text_or_null(st, 4, r->config_json)) != SQLITE_OK ||
            (rc = bind_text_or_null(st, 5, r->aka)) != SQLITE_OK ||
            (rc = sqlite3_bind_int(st, 6, r->is_default ? 1 : 0)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(st, 7, r->created_at)) != SQLITE_OK ||
            (rc = bind_text_or_null(st, 8, r->data_json)) != SQLITE_OK)
                return sqlite_errno(rc) ?: -EIO;
        return 0;
}

static int ca_read_row(sqlite3_stmt *st, CARecord *ret) {
        _cleanup_(ca_record_done) CARecord r = {};
        int k;

        if ((k = column_strdup(st, 0, &r.name)) < 0 ||
            (k = column_strdup(st, 1, &r.type)) < 0 ||
            (k = column_strdup(st, 2, &r.helper)) < 0 ||
            (k = column_strdup(st, 3, &r.config_json)) < 0 ||
            (k = column_strdup(st, 4, &r.aka)) < 0)
                return k;
        r.is_default = sqlite3_column_int64(st, 5) != 0;
        r.created_at = sqlite3_column_int64(st, 6);
        k = column_strdup(st, 7, &r.data_json);
        if (k < 0)
                return k;

        *ret = r;
        r = (CARecord) {};
        return 0;
}

static int history_read_row(sqlite3_stmt *st, HistoryRecord *ret) {
        _cleanup_(history_record_done) HistoryRecord r = {};
        int k;

        r.id = sqlite3_column_int64(st, 0);
        r.cert_id = sqlite3_column_int64(st, 1);
        r.at = sqlite3_column_int64(st, 2);
        if ((k = column_strdup(st, 3, &r.stage)) < 0 ||
            (k = column_strdup(st, 4, &r.result)) < 0 ||
            (k = column_strdup(st, 5, &r.message)) < 0)
                return k;
        r.duration_ms = sqlite3_column_int64(st, 6);

        *ret = r;
        r = (HistoryRecord) {};
        return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Opening and migrations
 * ---------------------------------------------------------------------------------------------- */

/* "UPDATE certs SET nickname = ?, ... WHERE id = ?": columns are parameters 1..CERT_N_COLUMNS like
 * in CERT_INSERT_SQL, the id is the last one. */
static char *cert_update_sql(void) {
        _cleanup_strv_free_ char **assignments = NULL;
        _cleanup_free_ char *joined = NULL;

        for (size_t i = 0; i < ELEMENTSOF(cert_columns); i++)
                if (strv_consume(&assignments, strjoin(cert_columns[i].name, " = ?")) < 0)
                        return NULL;

        joined = strv_join(assignments, ", ");
        if (!joined)
                return NULL;
        return strjoin("UPDATE certs SET ", joined, " WHERE id = ?");
}

static int store_migrate(sqlite3 *db, const char *path, int *ret_version, char **reterr) {
        int64_t v;
        int r;

        r = db_query_int(db, "PRAGMA user_version", &v);
        if (r < 0)
                return errorf(reterr, r, "Failed to read the schema version of '%s': %s", path,
                                 sqlite3_errmsg(db));

        if (v > STORE_SCHEMA_LATEST)
                return errorf(reterr, -EPROTONOSUPPORT,
                                 "Database '%s' has schema version %" PRId64 ", which is newer than this "
                                 "version of certkeeper understands (%d). It was written by a newer "
                                 "certkeeper: upgrade certkeeper again, or restore a backup made by this "
                                 "version.",
                                 path, v, STORE_SCHEMA_LATEST);
        if (v < 0)
                return errorf(reterr, -EBADMSG, "Database '%s' has an invalid schema version %" PRId64 ".",
                                 path, v);

        for (size_t i = 0; i < ELEMENTSOF(migrations); i++) {
                const Migration *m = migrations + i;
                _cleanup_free_ char *err = NULL;
                char set_version[64];

                if (m->version <= v)
                        continue;

                r = db_exec(db, "BEGIN IMMEDIATE", &err);
                if (r < 0)
                        return errorf(reterr, r, "Failed to upgrade database '%s': %s", path, err);

                /* Another process may have migrated between our read and our lock. */
                r = db_query_int(db, "PRAGMA user_version", &v);
                if (r < 0) {
                        (void) db_exec(db, "ROLLBACK", NULL);
                        return errorf(reterr, r, "Failed to read the schema version of '%s'.", path);
                }
                if (m->version <= v) {
                        (void) db_exec(db, "ROLLBACK", NULL);
                        continue;
                }

                (void) snprintf(set_version, sizeof(set_version), "PRAGMA user_version = %d", m->version);
                r = db_exec(db, m->sql, &err);
                if (r >= 0)
                        r = db_exec(db, set_version, &err);
                if (r >= 0)
                        r = db_exec(db, "COMMIT", &err);
                if (r < 0) {
                        (void) db_exec(db, "ROLLBACK", NULL);
                        return errorf(reterr, r,
                                         "Failed to upgrade database '%s' to schema version %d (%s): %s",
                                         path, m->version, m->name, strna(err));
                }
                v = m->version;
        }

        *ret_version = (int) v;
        return 0;
}

/* Adds the columns of CERT_RECORD_COLUMNS that an existing database does not have yet. */
static int store_add_missing_columns(sqlite3 *db, const char *path, char **reterr) {
        _cleanup_(stmt_finalizep) sqlite3_stmt *st = NULL;
        bool present[ELEMENTSOF(cert_columns)] = {};
        bool missing = false;
        int rc, r;

        rc = sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info('certs')", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return errorf(reterr, sqlite_errno(rc) ?: -EIO, "Failed to read the columns of '%s': %s",
                                 path, sqlite3_errmsg(db));
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *n = (const char *) sqlite3_column_text(st, 0);

                for (size_t i = 0; n && i < ELEMENTSOF(cert_columns); i++)
                        if (streq(cert_columns[i].name, n))
                                present[i] = true;
        }
        if (rc != SQLITE_DONE)
                return errorf(reterr, sqlite_errno(sqlite3_extended_errcode(db)) ?: -EIO,
                                 "Failed to read the columns of '%s': %s", path, sqlite3_errmsg(db));

        for (size_t i = 0; i < ELEMENTSOF(cert_columns); i++)
                missing = missing || !present[i];
        if (!missing)
                return 0;

        r = db_exec(db, "BEGIN IMMEDIATE", NULL);
        if (r < 0)
                return errorf(reterr, r, "Failed to upgrade database '%s': %s", path, sqlite3_errmsg(db));
        for (size_t i = 0; i < ELEMENTSOF(cert_columns); i++) {
                _cleanup_free_ char *sql = NULL, *err = NULL;

                if (present[i])
                        continue;
                sql = strjoin("ALTER TABLE certs ADD COLUMN ", cert_columns[i].definition);
                if (!sql) {
                        (void) db_exec(db, "ROLLBACK", NULL);
                        return -ENOMEM;
                }
                r = db_exec(db, sql, &err);
                if (r < 0) {
                        (void) db_exec(db, "ROLLBACK", NULL);
                        return errorf(reterr, r, "Failed to add column '%s' to database '%s': %s",
                                         cert_columns[i].name, path, strna(err));
                }
        }
        r = db_exec(db, "COMMIT", NULL);
        if (r < 0) {
                (void) db_exec(db, "ROLLBACK", NULL);
                return errorf(reterr, r, "Failed to upgrade database '%s': %s", path, sqlite3_errmsg(db));
        }
        return 0;
}

static int store_set_pragmas(sqlite3 *db, const char *path, char **reterr) {
        _cleanup_(stmt_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_free_ char *err = NULL;
        const char *mode;
        int rc, r;

        rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
                r = sqlite_errno(sqlite3_extended_errcode(db)) ?: -EIO;
                if (r == -EBADMSG)
                        return errorf(reterr, r,
                                         "'%s' is not a database or is damaged (%s). Restore it from the "
                                         "backup with 'certkeeper db restore', or salvage what is readable "
                                         "with 'certkeeper db recover'.",
                                         path, sqlite3_errmsg(db));
                return errorf(reterr, r, "Failed to switch database '%s' to WAL mode: %s", path,
                                 sqlite3_errmsg(db));
        }
        mode = (const char *) sqlite3_column_text(st, 0);
        if (!mode || strcasecmp(mode, "wal") != 0)
                return errorf(reterr, -EIO,
                                 "Database '%s' could not be switched to WAL mode (it stays in '%s' mode). "
                                 "Check that its directory is writable and on a local file system.",
                                 path, strna(mode));

        r = db_exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -16384;", &err);
        if (r < 0)
                return errorf(reterr, r, "Failed to configure database '%s': %s", path, strna(err));

        return 0;
}

int store_open(const char *path, bool create, Store **ret, char **reterr) {
        _cleanup_(store_freep) Store *s = NULL;
        struct stat st;
        bool created = false;
        int r;

        if (!path || !ret)
                return -EINVAL;

        if (stat(path, &st) < 0) {
                r = negative_errno();
                if (r != -ENOENT)
                        return errorf(reterr, r, "Failed to access database '%s': %s", path, strerror(-r));
                if (!create)
                        return errorf(reterr, -ENOENT, "Database '%s' does not exist.", path);

                r = precreate_file(path);
                if (r < 0)
                        return errorf(reterr, r, "Failed to create database '%s': %s", path, strerror(-r));
                created = r > 0;
        } else if (S_ISDIR(st.st_mode))
                return errorf(reterr, -EISDIR, "'%s' is a directory, not a database file.", path);

        s = calloc(1, sizeof(Store));
        if (!s)
                return -ENOMEM;
        s->path = strdup(path);
        s->cert_update_sql = cert_update_sql();
        if (!s->path || !s->cert_update_sql) {
                r = -ENOMEM;
                goto fail;
        }

        /* Never SQLITE_OPEN_CREATE: the file exists at this point (or we just made it, 0600). */
        r = db_open_raw(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, &s->db, reterr);
        if (r < 0)
                goto fail;

        r = db_probe(s->db, path, reterr);
        if (r < 0)
                goto fail;

        r = store_set_pragmas(s->db, path, reterr);
        if (r < 0)
                goto fail;

        r = store_migrate(s->db, path, &s->schema_version, reterr);
        if (r < 0)
                goto fail;

        r = store_add_missing_columns(s->db, path, reterr);
        if (r < 0)
                goto fail;

        *ret = TAKE_PTR(s);
        return 0;

fail:
        if (created) {
                s = store_free(s);
                unlink_db_files(path);
        }
        return r;
}

Store *store_free(Store *s) {
        if (!s)
                return NULL;

        for (size_t i = 0; i < ELEMENTSOF(s->cache); i++)
                if (s->cache[i])
                        (void) sqlite3_finalize(s->cache[i]);
        if (s->db)
                (void) sqlite3_close_v2(s->db);
        free(s->cert_update_sql);
        free(s->path);
        free(s);
        return NULL;
}

int store_check(Store *s, char **ret_msg) {
        if (!s)
                return -EINVAL;
        return db_integrity_check(s->db, "integrity_check", ret_msg);
}

int store_schema_version(Store *s) {
        if (!s)
                return -EINVAL;
        return s->schema_version;
}

/* ------------------------------------------------------------------------------------------------
 * Backup, restore, recovery
 * ---------------------------------------------------------------------------------------------- */

int store_backup_to(Store *s, const char *dest, char **reterr) {
        _cleanup_free_ char *tmp = NULL;
        int r;

        if (!s || !dest)
                return -EINVAL;
        if (!sqlite3_get_autocommit(s->db))
                return errorf(reterr, -EBUSY,
                                 "A transaction is open on the database; back up after it is committed.");

        r = db_backup_to_tmp(s->db, dest, &tmp, reterr);
        if (r < 0)
                return r;

        if (rename(tmp, dest) < 0) {
                r = negative_errno();
                unlink_db_files(tmp);
                return errorf(reterr, r, "Failed to move the backup into place as '%s': %s", dest,
                                 strerror(-r));
        }

        r = fsync_parent_dir(dest);
        if (r < 0)
                return errorf(reterr, r, "Failed to sync the directory of '%s': %s", dest, strerror(-r));
        return 0;
}

int store_file_check(const char *path, char **ret_msg) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        _cleanup_free_ char *findings = NULL;
        int r;

        if (!path)
                return -EINVAL;

        r = db_open_existing(path, false, &db, ret_msg);
        if (r < 0)
                return r;

        r = db_integrity_check(db, "integrity_check", &findings);
        if (r < 0)
                return errorf(ret_msg, r, "Database '%s' is damaged. %s", path, strna(findings));
        return 0;
}

int store_file_backup(const char *path, const char *bak_path, char **reterr) {
        _cleanup_(db_closep) sqlite3 *db = NULL;
        _cleanup_free_ char *tmp = NULL, *previous = NULL, *findings = NULL;
        int r;

        if (!path || !bak_path)
                return -EINVAL;

        r = db_open_existing(path, false, &db, reterr);
        if (r < 0)
                return r;

        /* Never rotate a good backup away in favour of a copy of a damaged database. */
        r = db_integrity_check(db, "quick_check", &findings);
        if (r < 0)
                return errorf(reterr, r,
                                 "Database '%s' is damaged, so it was not backed up (the backup '%s' is "
                                 "left as it is): %s",
                                 path, bak_path, strna(findings));

        r = db_backup_to_tmp(db, bak_path, &tmp, reterr);
        if (r < 0)
                return r;

        previous = strjoin(bak_path, ".1");
        if (!previous) {
                unlink_db_files(tmp);
                return -ENOMEM;
        }

        r = path_exists(bak_path);
        if (r > 0 && rename(bak_path, previous) < 0) {
                r = negative_errno();
                unlink_db_files(tmp);
                return errorf(reterr, r, "Failed to keep the previous backup as '%s': %s", previous,
                                 strerror(-r));
        }

        if (rename(tmp, bak_path) < 0) {
                r = negative_errno();
                unlink_db_files(tmp);
                return errorf(reterr, r, "Failed to move the backup into place as '%s': %s", bak_path,
                                 strerror(-r));
        }

        r = fsync_parent_dir(bak_path);
        if (r < 0)
                return errorf(reterr, r, "Failed to sync the directory of '%s': %s", bak_path, strerror(-r));
        return 0;
}

static int corrupt_aside_name(const char *path, char **ret) {
        char stamp[32];
        struct tm tm;
        time_t now = time(NULL);

        if (!gmtime_r(&now, &tm))
                return -EINVAL;
        if (strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) == 0)
                return -EINVAL;

        for (unsigned n = 0; n < 1000; n++) {
                _cleanup_free_ char *p = NULL;
                char suffix[16] = "";
                int r;

                if (n > 0)
                        (void) snprintf(suffix, sizeof(suffix), "-%u", n);
                p = strjoin(path, ".corrupt-", stamp, suffix);
                if (!p)
                        return -ENOMEM;
                r = path_exists(p);
                if (r < 0)
                        return r;
                if (r == 0) {
                        *ret = TAKE_PTR(p);
                        return 0;
                }
        }
        return -EEXIST;
}

/* Moves path and its -wal/-shm files aside. A -wal left beside a restored file would be replayed
 * into it, so they all go together. Returns 1 if anything was moved. */
static int move_db_aside(const char *path, const char *aside, char **reterr) {
        static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
        bool moved = false;

        for (size_t i = 0; i < ELEMENTSOF(suffixes); i++) {
                _cleanup_free_ char *from = strjoin(path, suffixes[i]), *to = strjoin(aside, suffixes[i]);
                int r;

                if (!from || !to)
                        return -ENOMEM;
                if (rename(from, to) < 0) {
                        r = negative_errno();
                        if (r == -ENOENT)
                                continue;
                        return errorf(reterr, r, "Failed to move '%s' aside to '%s': %s", from, to,
                                         strerror(-r));
                }
                moved = true;
        }
        return moved;
}

int store_file_restore(const char *path, const char *bak_path, char **ret_moved_aside, char **reterr) {
        _cleanup_(db_closep) sqlite3 *bak = NULL;
        _cleanup_free_ char *tmp = NULL, *aside = NULL, *findings = NULL, *err = NULL;
        int r;

        if (!path || !bak_path)
                return -EINVAL;

        r = db_open_existing(bak_path, false, &bak, &err);
        if (r == -ENOENT)
                return errorf(reterr, r,
                                 "There is no backup at '%s' to restore from. Salvage what is readable "
                                 "with 'certkeeper db recover' instead.",
                                 bak_path);
        if (r < 0)
                return errorf(reterr, r, "The backup cannot be used: %s", strna(err));

        r = db_integrity_check(bak, "integrity_check", &findings);
        if (r < 0)
                return errorf(reterr, r,
                                 "The backup '%s' is damaged too, so nothing was restored: %s. Salvage what is "
                                 "readable from '%s' with 'certkeeper db recover' instead.",
                                 bak_path, strna(findings), path);

        /* Make the copy first: if that fails, the damaged file is still where it was. */
        r = db_backup_to_tmp(bak, path, &tmp, reterr);
        if (r < 0)
                return r;
        (void) sqlite3_close_v2(TAKE_PTR(bak));

        r = corrupt_aside_name(path, &aside);
        if (r < 0) {
                unlink_db_files(tmp);
                return errorf(reterr, r, "Failed to choose a name to move '%s' aside: %s", path, strerror(-r));
        }

        r = move_db_aside(path, aside, reterr);
        if (r < 0) {
                unlink_db_files(tmp);
                return r;
        }
        if (r == 0)
                aside = mfree_str(aside);

        if (rename(tmp, path) < 0) {
                r = negative_errno();
                unlink_db_files(tmp);
                return errorf(reterr, r, "Failed to move the restored database into place as '%s': %s%s%s",
                                 path, strerror(-r), aside ? ". The damaged file is now at " : "",
                                 strempty(aside));
        }

        r = fsync_parent_dir(path);
        if (r < 0)
                return errorf(reterr, r, "Failed to sync the directory of '%s': %s", path, strerror(-r));

        if (ret_moved_aside)
                *ret_moved_aside = TAKE_PTR(aside);
        return 0;
}

static int table_columns(sqlite3 *db, const char *table, char ***ret) {
        _cleanup_(stmt_finalizep) sqlite3_stmt *st = NULL;
        _cleanup_strv_free_ char **cols = NULL;
        int rc, r;

        rc = sqlite3_prepare_v2(db, "SELECT name FROM pragma_table_info(?1)", -1, &st, NULL);
        if (rc != SQLITE_OK)
                return sqlite_errno(sqlite3_extended_errcode(db)) ?: -EIO;
        rc = sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        if (rc != SQLITE_OK)
                return sqlite_errno(rc) ?: -EIO;

        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *n = (const char *) sqlite3_column_text(st, 0);

                if (!n)
                        continue;
                r = strv_extend(&cols, n);
                if (r < 0)
                        return r;
        }
        if (rc != SQLITE_DONE)
                return sqlite_errno(sqlite3_extended_errcode(db)) ?: -EIO;
        if (!cols)
                return -ENOENT;

        *ret = TAKE_PTR(cols);
        return 0;
}

/* Copies one row from the select (column 0 is the rowid, then the columns) through the insert.
 * Returns 1 if copied, 0 if the destination refused it. */
static int recover_copy_row(sqlite3_stmt *sel, sqlite3_stmt *ins, int ncols) {
        int rc;

        for (int i = 0; i < ncols; i++) {
                rc = sqlite3_bind_value(ins, i + 1, sqlite3_column_value(sel, i + 1));
                if (rc != SQLITE_OK) {
                        (void) sqlite3_reset(ins);
                        return rc == SQLITE_NOMEM ? -ENOMEM : 0;
                }
        }
        rc = sqlite3_step(ins);
        (void) sqlite3_reset(ins);
        (void) sqlite3_clear_bindings(ins);
        if (rc == SQLITE_DONE)
                return 1;
        return (rc & 0xff) == SQLITE_NOMEM ? -ENOMEM : 0;
}

/* The highest rowid the table can hold, from max(rowid) (the rightmost path of the tree) and from
 * sqlite_sequence (AUTOINCREMENT tables), whichever is readable and larger; INT64_MAX if neither. */
static int64_t recover_last_rowid(sqlite3 *src, const char *table) {
        _cleanup_free_ char *q1 = NULL, *q2 = NULL;
        int64_t a = INT64_MIN, b = INT64_MIN, v;

        q1 = strjoin("SELECT max(rowid) FROM ", table);
        q2 = strjoin("SELECT seq FROM sqlite_sequence WHERE name = '", table, "'");
        if (!q1 || !q2)
                return INT64_MAX;

        if (db_query_int(src, q1, &v) >= 0)
                a = v;
        if (db_query_int(src, q2, &v) >= 0)
                b = v;
        if (a == INT64_MIN && b == INT64_MIN)
                return INT64_MAX;
        return MAX(a, b);
}

/* Copies every readable row of table from src to dst. A damaged page stops a scan: we note the last
 * rowid read, probe single rowids beyond it, and resume the scan further on with a growing stride,
 * so that the rows in the good pages behind a bad one are still found (the row-by-row approach of
 * SQLite's own recovery, without its page-level parser). */
static int recover_table(sqlite3 *src, sqlite3 *dst, const char *table, unsigned *ret_rows) {
        _cleanup_(stmt_finalizep) sqlite3_stmt *scan = NULL, *probe = NULL, *ins = NULL;
        _cleanup_strv_free_ char **src_cols = NULL, **dst_cols = NULL, **common = NULL, **marks = NULL;
        _cleanup_free_ char *list = NULL, *qmarks = NULL, *sql = NULL;
        unsigned rows = 0, probes = 0;
        int64_t next = 0, stride = 1, last;
        int ncols, rc, r;

        r = table_columns(src, table, &src_cols);
        if (r < 0)
                return r;
        r = table_columns(dst, table, &dst_cols);
        if (r < 0)
                return r;

        for (char **c = dst_cols; *c; c++)
                if (strv_contains(src_cols, *c)) {
                        r = strv_extend(&common, *c);
                        if (r < 0)
                                return r;
                }
        if (!common)
                return -ENOENT;
        ncols = (int) strv_length(common);

        list = strv_join(common, ", ");
        if (!list)
                return -ENOMEM;
        for (int i = 0; i < ncols; i++) {
                r = strv_extend(&marks, "?");
                if (r < 0)
                        return r;
        }
        qmarks = strv_join(marks, ", ");
        if (!qmarks)
                return -ENOMEM;

        sql = strjoin("INSERT INTO ", table, " (", list, ") VALUES (", qmarks, ")");
        if (!sql)
                return -ENOMEM;
        rc = sqlite3_prepare_v2(dst, sql, -1, &ins, NULL);
        if (rc != SQLITE_OK)
                return sqlite_errno(rc) ?: -EIO;

        sql = mfree_str(sql);
        sql = strjoin("SELECT rowid, ", list, " FROM ", table, " WHERE rowid >= ?1 ORDER BY rowid");
        if (!sql)
                return -ENOMEM;
        rc = sqlite3_prepare_v2(src, sql, -1, &scan, NULL);
        if (rc != SQLITE_OK)
                return sqlite_errno(sqlite3_extended_errcode(src)) ?: -EIO;

        sql = mfree_str(sql);
        sql = strjoin("SELECT rowid, ", list, " FROM ", table, " WHERE rowid = ?1");
        if (!sql)
                return -ENOMEM;
        rc = sqlite3_prepare_v2(src, sql, -1, &probe, NULL);
        if (rc != SQLITE_OK)
                return sqlite_errno(sqlite3_extended_errcode(src)) ?: -EIO;

        last = recover_last_rowid(src, table);

        for (;;) {
                bool progressed = false, done = false;
                int64_t from;

                (void) sqlite3_reset(scan);
                if (sqlite3_bind_int64(scan, 1, next) != SQLITE_OK)
                        return -ENOMEM;

                for (;;) {
                        int64_t rowid;

                        rc = sqlite3_step(scan);
                        if (rc == SQLITE_DONE) {
                                done = true;
                                break;
                        }
                        if (rc != SQLITE_ROW)
                                break; /* damaged page */

                        rowid = sqlite3_column_int64(scan, 0);
                        if (rowid < next)
                                break; /* out of order: damaged interior page */
                        r = recover_copy_row(scan, ins, ncols);
                        if (r < 0)
                                return r;
                        rows += r;
                        progressed = true;
                        if (rowid == INT64_MAX) {
                                done = true;
                                break;
                        }
                        next = rowid + 1;
                }
                if (done)
                        break;

                if (progressed)
                        stride = 1;

                /* Skip ahead, and probe the rowids skipped one by one. */
                if (next > last || next > INT64_MAX - stride)
                        break;
                from = next;
                next += stride;
                stride = stride > INT64_MAX / 2 ? INT64_MAX : stride * 2;

                for (int64_t id = from; id < next && id <= last && probes < STORE_RECOVER_MAX_PROBES;
                     id++, probes++) {
                        (void) sqlite3_reset(probe);
                        if (sqlite3_bind_int64(probe, 1, id) != SQLITE_OK)
                                return -ENOMEM;
                        if (sqlite3_step(probe) != SQLITE_ROW)
                                continue;
                        r = recover_copy_row(probe, ins, ncols);
                        if (r < 0)
                                return r;
                        rows += r;
                }
        }

        *ret_rows = rows;
        return 0;
}

/* A read-only connection cannot remove the -wal/-shm files it had to create. Removes them again if
 * they were not there before and the -wal holds nothing. */
static void tidy_readonly_side_files(const char *path, bool had_wal, bool had_shm) {
        _cleanup_free_ char *wal = strjoin(path, "-wal"), *shm = strjoin(path, "-shm");
        struct stat st;

        if (!wal || !shm || had_wal || had_shm)
                return;
        if (stat(wal, &st) >= 0 && st.st_size != 0)
                return;
        (void) unlink(wal);
        (void) unlink(shm);
}

int store_file_recover(const char *path, const char *dest, unsigned *ret_rows, char **reterr) {
        _cleanup_(db_closep) sqlite3 *src = NULL;
        _cleanup_(store_freep) Store *d = NULL;
        _cleanup_free_ char *err = NULL, *wal = NULL, *shm = NULL;
        unsigned total = 0, readable = 0;
        bool had_wal, had_shm;
        int r;

        if (!path || !dest)
                return -EINVAL;

        wal = strjoin(path, "-wal");
        shm = strjoin(path, "-shm");
        if (!wal || !shm)
                return -ENOMEM;
        had_wal = path_exists(wal) != 0;
        had_shm = path_exists(shm) != 0;

        r = path_exists(dest);
        if (r < 0)
                return errorf(reterr, r, "Failed to access '%s': %s", dest, strerror(-r));
        if (r > 0)
                return errorf(reterr, -EEXIST,
                                 "'%s' already exists. Recovery writes a new database: choose another file "
                                 "name, or remove that file first.",
                                 dest);

        /* Read-only first; a database in WAL mode may need its -shm, so fall back to read-write
         * (which still writes nothing to the file itself). */
        r = db_open_existing(path, true, &src, &err);
        if (r < 0 && r != -ENOENT) {
                err = mfree_str(err);
                r = db_open_existing(path, false, &src, &err);
        }
        if (r < 0)
                return errorf(reterr, r, "Nothing could be recovered: %s", strna(err));

        r = store_open(dest, true, &d, reterr);
        if (r < 0)
                return r;

        r = db_exec(d->db, "BEGIN IMMEDIATE", &err);
        if (r < 0)
                goto fail_msg;

        /* One read transaction on the source, so that the many small reads below do not each take
         * and drop the file lock. */
        (void) db_exec(src, "BEGIN", NULL);

        for (size_t i = 0; i < ELEMENTSOF(store_tables); i++) {
                unsigned n = 0;

                r = recover_table(src, d->db, store_tables[i], &n);
                if (r == -ENOMEM)
                        goto fail;
                if (r < 0)
                        continue; /* this table cannot be read at all */
                readable++;
                total += n;
        }

        r = db_exec(d->db, "COMMIT", &err);
        if (r < 0)
                goto fail_msg;

        (void) sqlite3_close_v2(TAKE_PTR(src));
        tidy_readonly_side_files(path, had_wal, had_shm);

        if (readable == 0) {
                r = errorf(reterr, -EBADMSG,
                              "Nothing could be read from '%s': even its list of tables is damaged. Restore "
                              "from a backup instead.",
                              path);
                goto fail;
        }

        d = store_free(d);
        if (ret_rows)
                *ret_rows = total;
        return 0;

fail_msg:
        r = errorf(reterr, r, "Failed to write the recovered database '%s': %s", dest, strna(err));
fail:
        (void) sqlite3_close_v2(TAKE_PTR(src));
        tidy_readonly_side_files(path, had_wal, had_shm);
        d = store_free(d);
        unlink_db_files(dest);
        return r;
}

/* ------------------------------------------------------------------------------------------------
 * Transactions
 * ---------------------------------------------------------------------------------------------- */

int store_begin(Store *s) {
        if (!s)
                return -EINVAL;
        if (!sqlite3_get_autocommit(s->db))
                return -EBUSY; /* nesting is not allowed */
        return store_run(s, STMT_BEGIN);
}

int store_commit(Store *s) {
        if (!s)
                return -EINVAL;
        if (sqlite3_get_autocommit(s->db))
                return -EINVAL; /* no transaction open */
        return store_run(s, STMT_COMMIT);
}

int store_rollback(Store *s) {
        if (!s)
                return -EINVAL;
        if (sqlite3_get_autocommit(s->db))
                return 0;
        return store_run(s, STMT_ROLLBACK);
}

/* ------------------------------------------------------------------------------------------------
 * Certificates
 * ---------------------------------------------------------------------------------------------- */

/* Turns a UNIQUE violation on certs into getcert's words. Must run after the failed statement has
 * been released: it queries the store. */
static int cert_conflict_error(Store *s, const char *errmsg, const CertRecord *r, char **reterr) {
        if (strstr(errmsg, "certs.nickname"))
                return errorf(reterr, -EEXIST, "There is already a request with the nickname \"%s\".",
                                 strempty(r->nickname));

        if (strstr(errmsg, "certs.cert_path")) {
                _cleanup_stmt_ Stmt q = {};
                _cleanup_free_ char *holder = NULL;

                if (stmt_acquire(s, STMT_CERT_NICKNAME_BY_PATH, &q) >= 0 &&
                    bind_text_or_null(q.st, 1, r->cert_path) == SQLITE_OK && stmt_step(&q) > 0)
                        (void) column_strdup(q.st, 0, &holder);

                return errorf(reterr, -EEXIST,
                                 "Certificate at same location is already used by request with nickname \"%s\".",
                                 strempty(holder));
        }

        return errorf(reterr, -EEXIST, "The request conflicts with an existing one: %s", errmsg);
}

static int cert_write(Store *s, StoreStmtId id, const CertRecord *r, char **reterr) {
        _cleanup_stmt_ Stmt q = {};
        _cleanup_free_ char *errmsg = NULL;
        int k;

        k = stmt_acquire(s, id, &q);
        if (k < 0)
                return errorf(reterr, k, "Failed to prepare a database statement: %s", sqlite3_errmsg(s->db));

        k = cert_bind(q.st, r);
        if (k < 0)
                return errorf(reterr, k, "Invalid certificate record (state %d).", (int) r->state);
        if (id == STMT_CERT_UPDATE && sqlite3_bind_int64(q.st, CERT_N_COLUMNS + 1, r->id) != SQLITE_OK)
                return -ENOMEM;

        k = stmt_run(&q);
        if (k == -EEXIST) {
                errmsg = strdup(sqlite3_errmsg(s->db));
                if (!errmsg)
                        return -ENOMEM;
                stmt_release(&q);
                return cert_conflict_error(s, errmsg, r, reterr);
        }
        if (k < 0)
                return errorf(reterr, k, "Failed to write the request to the database: %s",
                                 sqlite3_errmsg(s->db));
        return 0;
}

int store_cert_insert(Store *s, CertRecord *r, char **reterr) {
        int k;

        if (!s || !r)
                return -EINVAL;

        k = cert_write(s, STMT_CERT_INSERT, r, reterr);
        if (k < 0)
                return k;

        r->id = sqlite3_last_insert_rowid(s->db);
        return 0;
}

int store_cert_update(Store *s, const CertRecord *r, char **reterr) {
        int k;

        if (!s || !r)
                return -EINVAL;

        k = cert_write(s, STMT_CERT_UPDATE, r, reterr);
        if (k < 0)
                return k;

        if (sqlite3_changes(s->db) == 0)
                return errorf(reterr, -ENOENT, "There is no request with id %" PRId64 ".", r->id);
        return 0;
}

int store_cert_delete(Store *s, int64_t id) {
        _cleanup_stmt_ Stmt q = {};
        int r;

        if (!s)
                return -EINVAL;

        r = stmt_acquire(s, STMT_CERT_DELETE, &q);
        if (r < 0)
                return r;
        if (sqlite3_bind_int64(q.st, 1, id) != SQLITE_OK)
                return -ENOMEM;
        r = stmt_run(&q);
        if (r < 0)
                return r;
        return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

static int cert_get_one(Store *s, StoreStmtId id, int64_t key_int, const char *key_text, CertRecord **ret) {
        _cleanup_stmt_ Stmt q = {};
        _cleanup_(cert_record_freep) CertRecord *rec = NULL;
        int r, rc;

        r = stmt_acquire(s, id, &q);
        if (r < 0)
                return r;
        rc = key_text ? sqlite3_bind_text(q.st, 1, key_text, -1, SQLITE_STATIC)
                      : sqlite3_bind_int64(q.st, 1, key_int);
        if (rc != SQLITE_OK)
                return sqlite_errno(rc) ?: -EIO;

        r = stmt_step(&q);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;

        rec = calloc(1, sizeof(CertRecord));
        if (!rec)
                return -ENOMEM;
        r = cert_read_row(q.st, rec);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(rec);
        return 0;
}

int store_cert_get(Store *s, int64_t id, CertRecord **ret) {
        if (!s || !ret)
                return -EINVAL;
        return cert_get_one(s, STMT_CERT_GET, id, NULL, ret);
}

int store_cert_find_nickname(Store *s, const char *nickname, CertRecord **ret) {
        if (!s || !nickname || !ret)
                return -EINVAL;
        return cert_get_one(s, STMT_CERT_BY_NICKNAME, 0, nickname, ret);
}

int store_cert_find_path(Store *s, const char *cert_path, CertRecord **ret) {
        if (!s || !cert_path || !ret)
                return -EINVAL;
        return cert_get_one(s, STMT_CERT_BY_PATH, 0, cert_path, ret);
}

int store_cert_count(Store *s, int64_t *ret) {
        _cleanup_stmt_ Stmt q = {};
        int r;

        if (!s || !ret)
                return -EINVAL;

        r = stmt_acquire(s, STMT_CERT_COUNT, &q);
        if (r < 0)
                return r;
        r = stmt_step(&q);
        if (r < 0)
                return r;
        if (r == 0)
                return -EIO;
        *ret = sqlite3_column_int64(q.st, 0);
        return 0;
}

int store_cert_foreach(Store *s, const CertFilter *f, int (*cb)(const CertRecord *r, void *userdata),
                       void *userdata) {
        static const CertFilter no_filter = {};
        _cleanup_stmt_ Stmt q = {};
        _cleanup_free_ char *sql = NULL;
        unsigned variant;
        int r, rc = SQLITE_OK;

        if (!s || !cb)
                return -EINVAL;
        if (!f)
                f = &no_filter;
        if (f->tracking_only < 0 || f->tracking_only > 2)
                return -EINVAL;

        variant = (f->ca ? 1u : 0u) | (f->state ? 2u : 0u) | ((unsigned) f->tracking_only << 2);
        sql = strjoin(CERT_SELECT_SQL " WHERE id > ?1",
                      f->ca ? " AND ca = ?2" : "",
                      f->state ? " AND state = ?3" : "",
                      f->tracking_only == 1 ? " AND state = 'MONITORING'" :
                      f->tracking_only == 2 ? " AND state <> 'MONITORING'" : "",
                      " ORDER BY id LIMIT ?4");
        if (!sql)
                return -ENOMEM;

        r = stmt_acquire_sql(s, STMT_FILTER_FIRST + (int) variant, sql, &q);
        if (r < 0)
                return r;

        if (rc == SQLITE_OK)
                rc = sqlite3_bind_int64(q.st, 1, f->after_id);
        if (rc == SQLITE_OK && f->ca)
                rc = sqlite3_bind_text(q.st, 2, f->ca, -1, SQLITE_STATIC);
        if (rc == SQLITE_OK && f->state)
                rc = sqlite3_bind_text(q.st, 3, f->state, -1, SQLITE_STATIC);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_int64(q.st, 4, f->limit > 0 ? (int64_t) f->limit : -1);
        if (rc != SQLITE_OK)
                return sqlite_errno(rc) ?: -EIO;

        for (;;) {
                _cleanup_(cert_record_done) CertRecord rec = {};

                r = stmt_step(&q);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;

                r = cert_read_row(q.st, &rec);
                if (r < 0)
                        return r;
                r = cb(&rec, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Calls cb with the two integer columns of each row of a statement without parameters. */
static int foreach_int_pair(Store *s, StoreStmtId id, int (*cb)(int64_t a, int64_t b, void *userdata),
                            void *userdata) {
        _cleanup_stmt_ Stmt q = {};
        int r;

        if (!s || !cb)
                return -EINVAL;

        r = stmt_acquire(s, id, &q);
        if (r < 0)
                return r;

        for (;;) {
                r = stmt_step(&q);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = cb(sqlite3_column_int64(q.st, 0), sqlite3_column_int64(q.st, 1), userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

int store_cert_foreach_schedule(Store *s, int (*cb)(int64_t id, int64_t at, void *userdata), void *userdata) {
        return foreach_int_pair(s, STMT_CERT_SCHEDULE, cb, userdata);
}

int store_cert_foreach_tracked_paths(Store *s,
                                     int (*cb)(int64_t id, const char *cert_path, const char *key_path, void *userdata),
                                     void *userdata) {
        _cleanup_stmt_ Stmt q = {};
        int r;

        if (!s || !cb)
                return -EINVAL;

        r = stmt_acquire(s, STMT_CERT_TRACKED_PATHS, &q);
        if (r < 0)
                return r;

        for (;;) {
                r = stmt_step(&q);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = cb(sqlite3_column_int64(q.st, 0), (const char *) sqlite3_column_text(q.st, 1),
                       (const char *) sqlite3_column_text(q.st, 2), userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

int store_cert_file_facts(Store *s, int64_t id, CertState *ret_state, char **ret_sha256, char **ret_cert_path) {
        _cleanup_stmt_ Stmt q = {};
        _cleanup_free_ char *sha = NULL, *path = NULL;
        CertState state;
        int r, rc;

        if (!s || !ret_state || !ret_sha256 || !ret_cert_path)
                return -EINVAL;
        r = stmt_acquire(s, STMT_CERT_FILE_FACTS, &q);
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(q.st, 1, id);
        if (rc != SQLITE_OK)
                return sqlite_errno(rc) ?: -EIO;
        r = stmt_step(&q);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        r = read_STATE(q.st, 0, &state);
        if (r < 0)
                return r;
        if (sqlite3_column_text(q.st, 1) && !(sha = strdup((const char *) sqlite3_column_text(q.st, 1))))
                return -ENOMEM;
        if (sqlite3_column_text(q.st, 2) && !(path = strdup((const char *) sqlite3_column_text(q.st, 2))))
                return -ENOMEM;
        *ret_state = state;
        *ret_sha256 = TAKE_PTR(sha);
        *ret_cert_path = TAKE_PTR(path);
        return 0;
}

int store_cert_foreach_tracked_facts(Store *s, int64_t after_id, unsigned limit,
                                     int (*cb)(int64_t id, CertState state, const char *sha256,
                                               const char *cert_path, void *userdata),
                                     void *userdata) {
        _cleanup_stmt_ Stmt q = {};
        int r, rc, n = 0;

        if (!s || !cb || limit == 0 || limit > INT_MAX)
                return -EINVAL;
        r = stmt_acquire(s, STMT_CERT_TRACKED_FACTS, &q);
        if (r < 0)
                return r;
        rc = sqlite3_bind_int64(q.st, 1, after_id);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_int64(q.st, 2, limit);
        if (rc != SQLITE_OK)
                return sqlite_errno(rc) ?: -EIO;
        for (;;) {
                CertState state;

                r = stmt_step(&q);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = read_STATE(q.st, 1, &state);
                if (r < 0)
                        return r;
                r = cb(sqlite3_column_int64(q.st, 0), state, (const char *) sqlite3_column_text(q.st, 2),
                       (const char *) sqlite3_column_text(q.st, 3), userdata);
                if (r < 0)
                        return r;
                n++;
        }
        return n;
}

int store_cert_foreach_summary(Store *s, int (*cb)(const CertSummary *c, void *userdata), void *userdata) {
        _cleanup_stmt_ Stmt q = {};
        int r;

        if (!s || !cb)
                return -EINVAL;
        r = stmt_acquire(s, STMT_CERT_SUMMARY, &q);
        if (r < 0)
                return r;
        for (;;) {
                CertSummary c;

                r = stmt_step(&q);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                c = (CertSummary) {
                        .id = sqlite3_column_int64(q.st, 0),
                        .nickname = (const char *) sqlite3_column_text(q.st, 1),
                        .ca = (const char *) sqlite3_column_text(q.st, 2),
                        .not_after = sqlite3_column_int64(q.st, 4),
                        .renew_at = sqlite3_column_int64(q.st, 5),
                };
                r = read_STATE(q.st, 3, &c.state);
                if (r < 0)
                        return r;
                r = cb(&c, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* ------------------------------------------------------------------------------------------------
 * CAs
 * ---------------------------------------------------------------------------------------------- */

int store_ca_insert(Store *s, const CARecord *r, char **reterr) {
        _cleanup_stmt_ Stmt q = {};
        int k;

        if (!s || !r)
                return -EINVAL;
        if (isempty(r->name))
                return errorf(reterr, -EINVAL, "A CA needs a name.");

        k = stmt_acquire(s, STMT_CA_INSERT, &q);
        if (k < 0)
                return k;
        k = ca_bind(q.st, r);
        if (k < 0)
                return k;
        k = stmt_run(&q);
        if (k == -EEXIST)
                return errorf(reterr, k, "There is already a CA with the nickname \"%s\".", r->name);
        if (k < 0)
                return errorf(reterr, k, "Failed to write the CA to the database: %s", sqlite3_errmsg(s->db));
        return 0;
}

int store_ca_update(Store *s, const CARecord *r) {
        _cleanup_stmt_ Stmt q = {};
        int k;

        if (!s || !r || !r->name)
                return -EINVAL;

        k = stmt_acquire(s, STMT_CA_UPDATE, &q);
        if (k < 0)
                return k;
        k = ca_bind(q.st, r);
        if (k < 0)
                return k;
        k = stmt_run(&q);
        if (k < 0)
                return k;
        return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

int store_ca_delete(Store *s, const char *name) {
        _cleanup_stmt_ Stmt q = {};
        int k;

        if (!s || !name)
                return -EINVAL;

        k = stmt_acquire(s, STMT_CA_DELETE, &q);
        if (k < 0)
                return k;
        if (sqlite3_bind_text(q.st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK)
                return -ENOMEM;
        k = stmt_run(&q);
        if (k < 0)
                return k;
        return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

int store_ca_get(Store *s, const char *name, CARecord *ret) {
        _cleanup_stmt_ Stmt q = {};
        int k;

        if (!s || !name || !ret)
                return -EINVAL;

        k = stmt_acquire(s, STMT_CA_GET, &q);
        if (k < 0)
                return k;
        if (sqlite3_bind_text(q.st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK)
                return -ENOMEM;
        k = stmt_step(&q);
        if (k < 0)
                return k;
        if (k == 0)
                return -ENOENT;
        return ca_read_row(q.st, ret);
}

int store_ca_foreach(Store *s, int (*cb)(const CARecord *r, void *userdata), void *userdata) {
        _cleanup_stmt_ Stmt q = {};
        int k;

        if (!s || !cb)
                return -EINVAL;

        k = stmt_acquire(s, STMT_CA_ALL, &q);
        if (k < 0)
                return k;

        for (;;) {
                _cleanup_(ca_record_done) CARecord rec = {};

                k = stmt_step(&q);
                if (k < 0)
                        return k;
                if (k == 0)
                        break;
                k = ca_read_row(q.st, &rec);
                if (k < 0)
                        return k;
                k = cb(&rec, userdata);
                if (k < 0)
                        return k;
        }
        return 0;
}

/* ------------------------------------------------------------------------------------------------
 * History
 * ---------------------------------------------------------------------------------------------- */

static int history_insert_and_prune(Store *s, const HistoryRecord *r) {
        _cleanup_stmt_ Stmt add = {}, prune = {};
        int k, rc;

        k = stmt_acquire(s, STMT_HISTORY_ADD, &add);
        if (k < 0)
                return k;
        if ((rc = sqlite3_bind_int64(add.st, 1, r->cert_id)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(add.st, 2, r->at)) != SQLITE_OK ||
            (rc = bind_text_or_null(add.st, 3, r->stage)) != SQLITE_OK ||
            (rc = bind_text_or_null(add.st, 4, r->result)) != SQLITE_OK ||
            (rc = bind_text_or_null(add.st, 5, r->message)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(add.st, 6, r->duration_ms)) != SQLITE_OK)
                return sqlite_errno(rc) ?: -EIO;
        k = stmt_run(&add);
        if (k < 0)
                return k; /* -ENOENT: no such certificate */

        k = stmt_acquire(s, STMT_HISTORY_PRUNE, &prune);
        if (k < 0)
                return k;
        if ((rc = sqlite3_bind_int64(prune.st, 1, r->cert_id)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(prune.st, 2, STORE_HISTORY_KEEP_PER_CERT)) != SQLITE_OK)
                return sqlite_errno(rc) ?: -EIO;
        return stmt_run(&prune);
}

int store_history_add(Store *s, const HistoryRecord *r) {
        int k;

        if (!s || !r)
                return -EINVAL;

        /* A savepoint makes insert + prune one commit, inside or outside a transaction. */
        k = store_run(s, STMT_HISTORY_SAVEPOINT);
        if (k < 0)
                return k;

        k = history_insert_and_prune(s, r);
        if (k < 0) {
                (void) store_run(s, STMT_HISTORY_ROLLBACK_TO);
                (void) store_run(s, STMT_HISTORY_RELEASE);
                return k;
        }

        k = store_run(s, STMT_HISTORY_RELEASE);
        if (k < 0) {
                (void) store_run(s, STMT_HISTORY_ROLLBACK_TO);
                (void) store_run(s, STMT_HISTORY_RELEASE);
        }
        return k;
}

int store_history_foreach(Store *s, int64_t cert_id, unsigned limit,
                          int (*cb)(const HistoryRecord *r, void *userdata), void *userdata) {
        _cleanup_stmt_ Stmt q = {};
        int k, rc;

        if (!s || !cb)
                return -EINVAL;

        k = stmt_acquire(s, cert_id > 0 ? STMT_HISTORY_LIST_CERT : STMT_HISTORY_LIST_ALL, &q);
        if (k < 0)
                return k;
        rc = cert_id > 0 ? sqlite3_bind_int64(q.st, 1, cert_id) : SQLITE_OK;
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_int64(q.st, 2, limit > 0 ? (int64_t) limit : -1);
        if (rc != SQLITE_OK)
                return sqlite_errno(rc) ?: -EIO;

        for (;;) {
                _cleanup_(history_record_done) HistoryRecord rec = {};

                k = stmt_step(&q);
                if (k < 0)
                        return k;
                if (k == 0)
                        break;
                k = history_read_row(q.st, &rec);
                if (k < 0)
                        return k;
                k = cb(&rec, userdata);
                if (k < 0)
                        return k;
        }
        return 0;
}

int store_history_count(Store *s, int64_t cert_id, const char *stage, const char *result, int64_t *ret) {
        _cleanup_stmt_ Stmt q = {};
        int k, rc;

        if (!s || !ret)
                return -EINVAL;

        k = stmt_acquire(s, cert_id > 0 ? STMT_HISTORY_COUNT_CERT : STMT_HISTORY_COUNT_ALL, &q);
        if (k < 0)
                return k;
        rc = cert_id > 0 ? sqlite3_bind_int64(q.st, 1, cert_id) : SQLITE_OK;
        if (rc == SQLITE_OK)
                rc = bind_text_or_null(q.st, 2, stage);
        if (rc == SQLITE_OK)
                rc = bind_text_or_null(q.st, 3, result);
        if (rc != SQLITE_OK)
                return sqlite_errno(rc) ?: -EIO;

        k = stmt_step(&q);
        if (k < 0)
                return k;
        if (k == 0)
                return -EIO;
        *ret = sqlite3_column_int64(q.st, 0);
        return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Meta
 * ---------------------------------------------------------------------------------------------- */

int store_meta_get(Store *s, const char *key, char **ret) {
        _cleanup_stmt_ Stmt q = {};
        char *v = NULL;
        int k;

        if (!s || !key || !ret)
                return -EINVAL;

        k = stmt_acquire(s, STMT_META_GET, &q);
        if (k < 0)
                return k;
        if (sqlite3_bind_text(q.st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK)
                return -ENOMEM;
        k = stmt_step(&q);
        if (k < 0)
                return k;
        if (k == 0)
                return -ENOENT;

        k = column_strdup(q.st, 0, &v);
        if (k < 0)
                return k;
        if (!v) {
                v = strdup("");
                if (!v)
                        return -ENOMEM;
        }
        *ret = v;
        return 0;
}

int store_meta_set(Store *s, const char *key, const char *value) {
        _cleanup_stmt_ Stmt q = {};
        int k;

        if (!s || !key)
                return -EINVAL;

        k = stmt_acquire(s, value ? STMT_META_SET : STMT_META_DELETE, &q);
        if (k < 0)
                return k;
        if (sqlite3_bind_text(q.st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
            (value && sqlite3_bind_text(q.st, 2, value, -1, SQLITE_STATIC) != SQLITE_OK))
                return -ENOMEM;
        return stmt_run(&q);
}

/* ------------------------------------------------------------------------------------------------
 * Events
 * ---------------------------------------------------------------------------------------------- */

int store_event_add(Store *s, const EventRecord *r, int64_t *ret_id) {
        _cleanup_stmt_ Stmt q = {}, c = {};
        int64_t id;
        int k, rc;

        if (!s || !r || r->event_id <= 0)
                return -EINVAL;

        k = stmt_acquire(s, STMT_EVENT_ADD, &q);
        if (k < 0)
                return k;
        if ((rc = sqlite3_bind_int64(q.st, 1, r->at)) != SQLITE_OK ||
            (rc = sqlite3_bind_int(q.st, 2, r->event_id)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(q.st, 3, r->cert_id)) != SQLITE_OK ||
            (rc = bind_text_or_null(q.st, 4, r->nickname)) != SQLITE_OK ||
            (rc = bind_text_or_null(q.st, 5, r->payload_json)) != SQLITE_OK)
                return sqlite_errno(rc) ?: -EIO;
        k = stmt_run(&q);
        if (k < 0)
                return k;
        id = sqlite3_last_insert_rowid(s->db);

        /* Without a transaction of the caller's, the count is a second commit: a crash between the
         * two loses one count, never an event. The daemon always adds events in its transaction. */
        k = stmt_acquire(s, STMT_EVENT_COUNT_ADD, &c);
        if (k < 0)
                return k;
        rc = sqlite3_bind_int(c.st, 1, r->event_id);
        if (rc != SQLITE_OK)
                return sqlite_errno(rc) ?: -EIO;
        k = stmt_run(&c);
        if (k < 0)
                return k;
        if (ret_id)
                *ret_id = id;
        return 0;
}

int store_event_counts_foreach(Store *s, int (*cb)(int64_t event_id, int64_t count, void *userdata), void *userdata) {
        return foreach_int_pair(s, STMT_EVENT_COUNTS, cb, userdata);
}

static int event_read_row(sqlite3_stmt *st, EventRecord *ret) {
        _cleanup_(event_record_done) EventRecord r = {};
        int k;

        r.id = sqlite3_column_int64(st, 0);
        r.at = sqlite3_column_int64(st, 1);
        r.event_id = sqlite3_column_int(st, 2);
        r.cert_id = sqlite3_column_int64(st, 3);
        if ((k = column_strdup(st, 4, &r.nickname)) < 0 || (k = column_strdup(st, 5, &r.payload_json)) < 0)
                return k;

        *ret = r;
        r = (EventRecord) {};
        return 0;
}

int store_event_foreach(Store *s, const EventFilter *f, int (*cb)(const EventRecord *r, void *userdata),
                        void *userdata) {
        static const EventFilter no_filter = {};
        _cleanup_stmt_ Stmt q = {};
        _cleanup_free_ char *sql = NULL;
        unsigned variant;
        int r, rc = SQLITE_OK;

        if (!s || !cb)
                return -EINVAL;
        if (!f)
                f = &no_filter;

        /* One cached statement per shape, so that each can use its index: (cert_id, id),
         * (event_id, id), or the id order itself. */
        variant = (f->since > 0 ? 1u : 0u) | (f->event_id > 0 ? 2u : 0u) | (f->cert_id > 0 ? 4u : 0u) |
                  (f->oldest_first ? 8u : 0u);
        sql = strjoin("SELECT id, at, event_id, cert_id, nickname, payload_json FROM events WHERE ",
                      f->oldest_first ? "id > ?1" : "id < ?1",
                      f->since > 0 ? " AND at >= ?2" : "",
                      f->event_id > 0 ? " AND event_id = ?3" : "",
                      f->cert_id > 0 ? " AND cert_id = ?4" : "",
                      f->oldest_first ? " ORDER BY id" : " ORDER BY id DESC",
                      " LIMIT ?5");
        if (!sql)
                return -ENOMEM;

        r = stmt_acquire_sql(s, STMT_EVENT_FILTER_FIRST + (int) variant, sql, &q);
        if (r < 0)
                return r;

        rc = sqlite3_bind_int64(q.st, 1, f->after_id > 0 ? f->after_id : f->oldest_first ? 0 : INT64_MAX);
        if (rc == SQLITE_OK && f->since > 0)
                rc = sqlite3_bind_int64(q.st, 2, f->since);
        if (rc == SQLITE_OK && f->event_id > 0)
                rc = sqlite3_bind_int(q.st, 3, f->event_id);
        if (rc == SQLITE_OK && f->cert_id > 0)
                rc = sqlite3_bind_int64(q.st, 4, f->cert_id);
        if (rc == SQLITE_OK)
                rc = sqlite3_bind_int64(q.st, 5, f->limit > 0 ? (int64_t) f->limit : -1);
        if (rc != SQLITE_OK)
                return sqlite_errno(rc) ?: -EIO;

        for (;;) {
                _cleanup_(event_record_done) EventRecord rec = {};

                r = stmt_step(&q);
                if (r < 0)
                        return r;
                if (r == 0)
                        break;
                r = event_read_row(q.st, &rec);
                if (r < 0)
                        return r;
                r = cb(&rec, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

int store_event_prune(Store *s, int64_t before, int64_t *ret_deleted) {
        _cleanup_stmt_ Stmt q = {};
        int k;

        if (!s)
                return -EINVAL;

        k = stmt_acquire(s, STMT_EVENT_PRUNE, &q);
        if (k < 0)
                return k;
        if (sqlite3_bind_int64(q.st, 1, before) != SQLITE_OK)
                return -ENOMEM;
        k = stmt_run(&q);
        if (k < 0)
                return k;
        if (ret_deleted)
                *ret_deleted = sqlite3_changes64(s->db);
        return 0;
}

/* ----------------------------------------------------------------------------------------------
 * Bindings (rare: not in the statement cache)
 * ---------------------------------------------------------------------------------------------- */

void binding_record_done(BindingRecord *r) {
        if (!r)
                return;
        free(r->kind);
        free(r->config);
        free(r->test_cmd);
        free(r->reload_cmd);
        free(r->endpoint);
        free(r->last_result);
        free(r->path);
        free(r->layout);
        free(r->owner);
        free(r->password_file);
        *r = (BindingRecord) {};
}

static int binding_exec(Store *s, const char *sql, sqlite3_stmt **ret) {
        int rc;

        if (!s)
                return -EINVAL;
        rc = sqlite3_prepare_v2(s->db, sql, -1, ret, NULL);
        return rc == SQLITE_OK ? 0 : (sqlite_errno(rc) ?: -EIO);
}

int store_binding_add(Store *s, const BindingRecord *r, int64_t *ret_id) {
        sqlite3_stmt *st = NULL;
        int k, rc;

        if (!r || r->cert_id <= 0 || !r->kind)
                return -EINVAL;
        k = binding_exec(s, "INSERT INTO bindings (cert_id, kind, config, test_cmd, reload_cmd, endpoint, path, "
                            "layout, owner, mode, password_file) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)", &st);
        if (k < 0)
                return k;
        if ((rc = sqlite3_bind_int64(st, 1, r->cert_id)) != SQLITE_OK ||
            (rc = bind_text_or_null(st, 2, r->kind)) != SQLITE_OK ||
            (rc = bind_text_or_null(st, 3, r->config)) != SQLITE_OK ||
            (rc = bind_text_or_null(st, 4, r->test_cmd)) != SQLITE_OK ||
            (rc = bind_text_or_null(st, 5, r->reload_cmd)) != SQLITE_OK ||
            (rc = bind_text_or_null(st, 6, r->endpoint)) != SQLITE_OK ||
            (rc = bind_text_or_null(st, 7, r->path)) != SQLITE_OK ||
            (rc = bind_text_or_null(st, 8, r->layout)) != SQLITE_OK ||
            (rc = bind_text_or_null(st, 9, r->owner)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(st, 10, r->mode)) != SQLITE_OK ||
            (rc = bind_text_or_null(st, 11, r->password_file)) != SQLITE_OK ||
            (rc = sqlite3_step(st)) != SQLITE_DONE) {
                sqlite3_finalize(st);
                return sqlite_errno(rc) ?: -EIO;
        }
        sqlite3_finalize(st);
        if (ret_id)
                *ret_id = sqlite3_last_insert_rowid(s->db);
        return 0;
}

int store_binding_delete(Store *s, int64_t cert_id, int64_t id) {
        sqlite3_stmt *st = NULL;
        int k, rc;

        k = binding_exec(s, id > 0 ? "DELETE FROM bindings WHERE cert_id = ?1 AND id = ?2"
                                   : "DELETE FROM bindings WHERE cert_id = ?1", &st);
        if (k < 0)
                return k;
        rc = sqlite3_bind_int64(st, 1, cert_id);
        if (rc == SQLITE_OK && id > 0)
                rc = sqlite3_bind_int64(st, 2, id);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
                return sqlite_errno(rc) ?: -EIO;
        return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

int store_binding_set_result(Store *s, int64_t id, const char *result, int64_t at) {
        sqlite3_stmt *st = NULL;
        int k, rc;

        k = binding_exec(s, "UPDATE bindings SET last_result = ?2, last_at = ?3 WHERE id = ?1", &st);
        if (k < 0)
                return k;
        if ((rc = sqlite3_bind_int64(st, 1, id)) == SQLITE_OK && (rc = bind_text_or_null(st, 2, result)) == SQLITE_OK &&
            (rc = sqlite3_bind_int64(st, 3, at)) == SQLITE_OK)
                rc = sqlite3_step(st);
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : (sqlite_errno(rc) ?: -EIO);
}

int store_binding_foreach(Store *s, int64_t cert_id, int (*cb)(const BindingRecord *r, void *userdata),
                          void *userdata) {
        sqlite3_stmt *st = NULL;
        int k, rc;

#define BINDING_COLUMNS "id, cert_id, kind, config, test_cmd, reload_cmd, endpoint, last_result, last_at, path, " \
                        "layout, owner, mode, password_file"
        k = binding_exec(s, cert_id > 0 ? "SELECT " BINDING_COLUMNS " FROM bindings WHERE cert_id = ?1 ORDER BY id"
                                        : "SELECT " BINDING_COLUMNS " FROM bindings ORDER BY cert_id, id", &st);
        if (k < 0)
                return k;
        if (cert_id > 0 && sqlite3_bind_int64(st, 1, cert_id) != SQLITE_OK) {
                sqlite3_finalize(st);
                return -EIO;
        }
        k = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                _cleanup_(binding_record_done) BindingRecord b = {};

                b.id = sqlite3_column_int64(st, 0);
                b.cert_id = sqlite3_column_int64(st, 1);
                if ((k = column_strdup(st, 2, &b.kind)) < 0 || (k = column_strdup(st, 3, &b.config)) < 0 ||
                    (k = column_strdup(st, 4, &b.test_cmd)) < 0 || (k = column_strdup(st, 5, &b.reload_cmd)) < 0 ||
                    (k = column_strdup(st, 6, &b.endpoint)) < 0 || (k = column_strdup(st, 7, &b.last_result)) < 0 ||
                    (k = column_strdup(st, 9, &b.path)) < 0 || (k = column_strdup(st, 10, &b.layout)) < 0 ||
                    (k = column_strdup(st, 11, &b.owner)) < 0 || (k = column_strdup(st, 13, &b.password_file)) < 0)
                        break;
                b.last_at = sqlite3_column_int64(st, 8);
                b.mode = sqlite3_column_int64(st, 12);
                k = cb(&b, userdata);
                if (k < 0)
                        break;
        }
        sqlite3_finalize(st);
        if (k < 0)
                return k;
        return rc == SQLITE_DONE ? 0 : (sqlite_errno(rc) ?: -EIO);
}

int store_deploy_pending_set(Store *s, int64_t cert_id, const char *job, int64_t since) {
        sqlite3_stmt *st = NULL;
        int k, rc;

        if (cert_id <= 0 || !job)
                return -EINVAL;
        k = binding_exec(s, "INSERT OR REPLACE INTO deploys_pending (cert_id, job, since) VALUES (?1, ?2, ?3)", &st);
        if (k < 0)
                return k;
        if ((rc = sqlite3_bind_int64(st, 1, cert_id)) == SQLITE_OK &&
            (rc = bind_text_or_null(st, 2, job)) == SQLITE_OK && (rc = sqlite3_bind_int64(st, 3, since)) == SQLITE_OK)
                rc = sqlite3_step(st);
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : (sqlite_errno(rc) ?: -EIO);
}

int store_deploy_pending_clear(Store *s, int64_t cert_id) {
        sqlite3_stmt *st = NULL;
        int k, rc;

        k = binding_exec(s, "DELETE FROM deploys_pending WHERE cert_id = ?1", &st);
        if (k < 0)
                return k;
        rc = sqlite3_bind_int64(st, 1, cert_id);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        sqlite3_finalize(st);
        return rc == SQLITE_DONE ? 0 : (sqlite_errno(rc) ?: -EIO);
}

int store_deploy_pending_foreach(Store *s, int (*cb)(int64_t cert_id, const char *job, int64_t since, void *userdata),
                                 void *userdata) {
        sqlite3_stmt *st = NULL;
        int k, rc;

        k = binding_exec(s, "SELECT cert_id, job, since FROM deploys_pending ORDER BY since, cert_id", &st);
        if (k < 0)
                return k;
        k = 0;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                k = cb(sqlite3_column_int64(st, 0), (const char *) sqlite3_column_text(st, 1),
                       sqlite3_column_int64(st, 2), userdata);
                if (k < 0)
                        break;
        }
        sqlite3_finalize(st);
        if (k < 0)
                return k;
        return rc == SQLITE_DONE ? 0 : (sqlite_errno(rc) ?: -EIO);
}

int store_event_last_id(Store *s, int64_t *ret) {
        _cleanup_stmt_ Stmt q = {};
        int k;

        if (!s || !ret)
                return -EINVAL;
        k = stmt_acquire(s, STMT_EVENT_LAST, &q);
        if (k < 0)
                return k;
        k = stmt_step(&q);
        if (k < 0)
                return k;
        *ret = k > 0 ? sqlite3_column_int64(q.st, 0) : 0;
        return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Subscriptions
 * ---------------------------------------------------------------------------------------------- */

void subscription_record_done(SubscriptionRecord *r) {
        if (!r)
                return;
        free(r->name);
        free(r->kind);
        free(r->target);
        free(r->secret);
        free(r->events);
        free(r->last_error);
        *r = (SubscriptionRecord) {};
}

int store_subscription_add(Store *s, const SubscriptionRecord *r) {
        _cleanup_stmt_ Stmt q = {};
        int k, rc;

        if (!s || !r || isempty(r->name) || isempty(r->kind) || isempty(r->target))
                return -EINVAL;
        k = stmt_acquire(s, STMT_SUB_INSERT, &q);
        if (k < 0)
                return k;
        if ((rc = sqlite3_bind_text(q.st, 1, r->name, -1, SQLITE_STATIC)) != SQLITE_OK ||
            (rc = sqlite3_bind_text(q.st, 2, r->kind, -1, SQLITE_STATIC)) != SQLITE_OK ||
            (rc = sqlite3_bind_text(q.st, 3, r->target, -1, SQLITE_STATIC)) != SQLITE_OK ||
            (rc = bind_text_or_null(q.st, 4, r->secret)) != SQLITE_OK ||
            (rc = bind_text_or_null(q.st, 5, r->events)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(q.st, 6, r->cert_id)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(q.st, 7, r->created_at)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(q.st, 8, r->cursor)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(q.st, 9, r->attempts)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(q.st, 10, r->next_attempt_at)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(q.st, 11, r->last_attempt_at)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(q.st, 12, r->last_delivered_at)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(q.st, 13, r->delivered)) != SQLITE_OK ||
            (rc = bind_text_or_null(q.st, 14, r->last_error)) != SQLITE_OK)
                return sqlite_errno(rc) ?: -EIO;
        return stmt_run(&q);
}

int store_subscription_remove(Store *s, const char *name) {
        _cleanup_stmt_ Stmt q = {};
        int k;

        if (!s || !name)
                return -EINVAL;
        k = stmt_acquire(s, STMT_SUB_DELETE, &q);
        if (k < 0)
                return k;
        if (sqlite3_bind_text(q.st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK)
                return -ENOMEM;
        k = stmt_run(&q);
        if (k < 0)
                return k;
        return sqlite3_changes(s->db) > 0 ? 0 : -ENOENT;
}

static int subscription_read_row(sqlite3_stmt *st, SubscriptionRecord *ret) {
        _cleanup_(subscription_record_done) SubscriptionRecord r = {};
        int k;

        if ((k = column_strdup(st, 0, &r.name)) < 0 || (k = column_strdup(st, 1, &r.kind)) < 0 ||
            (k = column_strdup(st, 2, &r.target)) < 0 || (k = column_strdup(st, 3, &r.secret)) < 0 ||
            (k = column_strdup(st, 4, &r.events)) < 0 || (k = column_strdup(st, 13, &r.last_error)) < 0)
                return k;
        r.cert_id = sqlite3_column_int64(st, 5);
        r.created_at = sqlite3_column_int64(st, 6);
        r.cursor = sqlite3_column_int64(st, 7);
        r.attempts = sqlite3_column_int64(st, 8);
        r.next_attempt_at = sqlite3_column_int64(st, 9);
        r.last_attempt_at = sqlite3_column_int64(st, 10);
        r.last_delivered_at = sqlite3_column_int64(st, 11);
        r.delivered = sqlite3_column_int64(st, 12);
        *ret = r;
        r = (SubscriptionRecord) {};
        return 0;
}

int store_subscription_get(Store *s, const char *name, SubscriptionRecord *ret) {
        _cleanup_stmt_ Stmt q = {};
        int k;

        if (!s || !name || !ret)
                return -EINVAL;
        k = stmt_acquire(s, STMT_SUB_GET, &q);
        if (k < 0)
                return k;
        if (sqlite3_bind_text(q.st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK)
                return -ENOMEM;
        k = stmt_step(&q);
        if (k < 0)
                return k;
        if (k == 0)
                return -ENOENT;
        return subscription_read_row(q.st, ret);
}

int store_subscription_foreach(Store *s, int (*cb)(const SubscriptionRecord *r, void *userdata),
                               void *userdata) {
        _cleanup_stmt_ Stmt q = {};
        int k;

        if (!s || !cb)
                return -EINVAL;
        k = stmt_acquire(s, STMT_SUB_ALL, &q);
        if (k < 0)
                return k;
        for (;;) {
                _cleanup_(subscription_record_done) SubscriptionRecord rec = {};

                k = stmt_step(&q);
                if (k <= 0)
                        return k;
                k = subscription_read_row(q.st, &rec);
                if (k < 0)
                        return k;
                k = cb(&rec, userdata);
                if (k < 0)
                        return k;
        }
}

int store_subscription_delivered(Store *s, const char *name, int64_t event_row, int64_t now) {
        _cleanup_stmt_ Stmt q = {};
        int k, rc;

        if (!s || !name)
                return -EINVAL;
        k = stmt_acquire(s, STMT_SUB_DELIVERED, &q);
        if (k < 0)
                return k;
        if ((rc = sqlite3_bind_text(q.st, 1, name, -1, SQLITE_STATIC)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(q.st, 2, event_row)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(q.st, 3, now)) != SQLITE_OK)
                return sqlite_errno(rc) ?: -EIO;
        return stmt_run(&q);
}

int store_subscription_failed(Store *s, const char *name, const char *error, int64_t next_attempt_at,
                              int64_t now) {
        _cleanup_stmt_ Stmt q = {};
        int k, rc;

        if (!s || !name)
                return -EINVAL;
        k = stmt_acquire(s, STMT_SUB_FAILED, &q);
        if (k < 0)
                return k;
        if ((rc = sqlite3_bind_text(q.st, 1, name, -1, SQLITE_STATIC)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(q.st, 2, next_attempt_at)) != SQLITE_OK ||
            (rc = bind_text_or_null(q.st, 3, error)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(q.st, 4, now)) != SQLITE_OK)
                return sqlite_errno(rc) ?: -EIO;
        return stmt_run(&q);
}

int store_subscription_skip(Store *s, const char *name, int64_t cursor) {
        _cleanup_stmt_ Stmt q = {};
        int k, rc;

        if (!s || !name)
                return -EINVAL;
        k = stmt_acquire(s, STMT_SUB_SKIP, &q);
        if (k < 0)
                return k;
        if ((rc = sqlite3_bind_text(q.st, 1, name, -1, SQLITE_STATIC)) != SQLITE_OK ||
            (rc = sqlite3_bind_int64(q.st, 2, cursor)) != SQLITE_OK)
                return sqlite_errno(rc) ?: -EIO;
        return stmt_run(&q);
}
