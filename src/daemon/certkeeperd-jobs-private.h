/* SPDX-License-Identifier: MIT */
#pragma once

/* Shared by the files that make up the worker ops: certkeeperd-jobs.c (keys, CSRs, built-in CAs,
 * saving, reading) and certkeeperd-jobs-helper.c (running CA helper programs). */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "fs-util.h"
#include "json-get.h"
#include "macro.h"
#include "time-util.h"

static inline int64_t elapsed_ms(usec_t since) {
        return (int64_t) ((now_usec(CLOCK_MONOTONIC) - since) / USEC_PER_MSEC);
}

/* *ret = {"ok": false, "result": result, "error": words, "errno": err}. */
int reply_error(json_t **ret, const char *result, int err, const char *fmt, ...) _printf_(4, 5);

/* File owner and mode from the job's owner_key ("user[:group]") and mode_key (0: def). */
int attrs_from_job(json_t *job, const char *owner_key, const char *mode_key, mode_t def, FileAttrs *ret,
                   char **reterr);

/* The facts of a certificate as the manager stores them (subject, thumbprints, validity, info). */
typedef struct x509_st X509;
json_t *cert_facts(X509 *cert);
/* Runs cmd through /bin/sh -c with the hook environment of the job's certificate; returns
 * {"stage", "result": "ok"|"failed", "message", "duration_ms"}, or NULL on OOM. */
json_t *run_save_hook(const char *stage, const char *cmd, json_t *job);

/* certkeeperd-jobs-deploy.c */
int job_deploy(json_t *job, json_t **ret);

/* certkeeperd-deploy-files.c: writes the binding's "path" in its "layout" from the job's request
 * files, keeping the file it replaces as PATH.prev. Nothing without a path. */
int deploy_file_write(json_t *job, json_t *binding, char **reterr);

/* certkeeperd-jobs-helper.c */
int job_submit(json_t *job, json_t **ret);
int job_ca_data(json_t *job, json_t **ret);

/* certkeeperd-jobs-deliver.c */
int job_deliver(json_t *job, json_t **ret);

/* certkeeperd-jobs-acme.c */
int job_acme_order(json_t *job, json_t **ret);
int job_acme_ari(json_t *job, json_t **ret);
int job_acme_revoke(json_t *job, json_t **ret);
int job_acme_account(json_t *job, json_t **ret);
void job_acme_cleanup(void);
