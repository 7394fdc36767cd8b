/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "store.h"

/* The daemon's core object: the store, the scheduler, the workers, the CAs. The API module
 * (certkeeperd-api.c) only calls the functions below; it never touches the scheduler or workers. */
typedef struct Manager Manager;
typedef struct Config Config;

/* Start-up (takes over the contents of *cfg), the event loop, and the end. */
int manager_new(Config *cfg, const char *config_path, Manager **ret) _warn_unused_result_;
int manager_run(Manager *m);
Manager *manager_free(Manager *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manager *, manager_free);
size_t manager_scheduled(Manager *m);
/* The daemon must start again (e.g. to restore a database found damaged). */
bool manager_restart_requested(Manager *m);

Store *manager_store(Manager *m);
const char *manager_state_dir(Manager *m);
uid_t manager_uid(Manager *m);
gid_t manager_admin_gid(Manager *m);      /* (gid_t) -1 if none configured */
unsigned manager_workers_total(Manager *m);
unsigned manager_workers_busy(Manager *m);
int64_t manager_next_action_at(Manager *m); /* 0 if nothing scheduled */

/* Error results of the manager_* calls below: -EINVAL (reterr names the field and what to do),
 * -EEXIST (duplicate nickname or location; reterr in getcert's words), -ENOENT (unknown id or CA),
 * -EBUSY (CA in use / built-in), others are internal errors. */

/* Adds a new request (track_only = false: request a certificate; true: start-tracking existing
 * files). Fills defaults (nickname, paths, CA, key type), validates, inserts, schedules. r->id is
 * set on success. */
int manager_cert_add(Manager *m, CertRecord *r, bool track_only, char **reterr) _warn_unused_result_;

/* Stores a modified record (the API has already merged the PATCH fields into a copy of the current
 * one), re-reads its files and reschedules. */
int manager_cert_modify(Manager *m, CertRecord *r, char **reterr) _warn_unused_result_;

/* Stops tracking; files are kept. */
int manager_cert_remove(Manager *m, int64_t id, char **reterr) _warn_unused_result_;

typedef enum ManagerAction {
        MANAGER_ACTION_RESUBMIT, /* new CSR, same key, submit */
        MANAGER_ACTION_REKEY,    /* new key staged, new CSR, submit */
        MANAGER_ACTION_REFRESH,  /* poll/submit now if waiting; re-read files */
} ManagerAction;

int manager_cert_action(Manager *m, int64_t id, ManagerAction action, char **reterr) _warn_unused_result_;

/* What POST /api/v1/certificates/{id}/export asks for. */
typedef struct CertExport {
        const char *format;   /* "pem" or "pkcs12" */
        bool with_key;
        const char *password; /* pkcs12: required, not empty */
        const char *path;     /* where the client writes it: recorded in event 1007 */
} CertExport;

/* The request's certificate, its chain (chain_path) and, with_key, its key, in the format asked:
 * {"cert_id", "format", "encoding": "pem"|"base64", "data", "sha256", "with_key", "path"}. Raises
 * 1007 (exported) with the path, in the current transaction. -ENODATA without a certificate, -EINVAL
 * with words for bad input or files that cannot be read. */
int manager_cert_export(Manager *m, int64_t id, const CertExport *e, json_t **ret, char **reterr)
        _warn_unused_result_;

/* Looks up by numeric id or nickname. */
int manager_cert_lookup(Manager *m, const char *id_or_nickname, CertRecord **ret) _warn_unused_result_;

int manager_ca_add(Manager *m, CARecord *r, char **reterr) _warn_unused_result_;
int manager_ca_modify(Manager *m, CARecord *r, char **reterr) _warn_unused_result_;
/* Fetches an EXTERNAL CA's data again (IDENTIFY, FETCH-ROOTS, ...) in the background; nothing to do
 * for the built-in CAs. -ENOENT with words if there is no such CA. */
int manager_ca_refresh(Manager *m, const char *name, char **reterr) _warn_unused_result_;
int manager_ca_remove(Manager *m, const char *name, char **reterr) _warn_unused_result_;
/* Operations of ACME CAs that wait for the CA's answer, in a helper worker. The caller (the API)
 * passes a ticket (> 0), and gets the answer through api_operation_done() with that ticket: an
 * object with "ok", "result" ("ok", or "rejected", "unreachable", "guidance", "failed"), "message"
 * (the CA's words on failure), "duration_ms", and what the call was about. Errors before that:
 * -ENOENT, -EINVAL (words), -EOPNOTSUPP (not an ACME CA), -ENODATA (no certificate to revoke),
 * -EALREADY (the same operation is under way), -EAGAIN (too many under way).
 * Revocation: reason is a CRLReason name or number, or NULL; the certificate is read from the
 * request's certificate file; the request keeps its state, and a history row records the answer. */
int manager_cert_revoke(Manager *m, int64_t id, const char *reason, uint64_t ticket, char **reterr)
        _warn_unused_result_;
/* Account: action "rollover" (a new account key of the same type, the old one kept as
 * account.key.old), "deactivate" (the key moved aside as account.key.deactivated) or "update" (email,
 * "" for none; the CA's email setting follows). */
int manager_ca_account(Manager *m, const char *name, const char *action, const char *email, uint64_t ticket,
                       char **reterr) _warn_unused_result_;

/* Path of the roots file of a CA, or NULL. */
/* Subscriptions to events (docs/EVENTS.md). manager_subscription_add: r->kind "command" or
 * "webhook", r->target, r->secret (webhooks), r->events, r->cert_id; a NULL name gets one ("command-1").
 * It starts after the newest event. -EINVAL/-EEXIST with words. */
int manager_subscription_add(Manager *m, SubscriptionRecord *r, char **reterr) _warn_unused_result_;
int manager_subscription_remove(Manager *m, const char *name, char **reterr) _warn_unused_result_;
bool manager_subscription_in_flight(Manager *m, const char *name);
const char *manager_ca_roots_path(Manager *m, const char *name);
