/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

#include "macro.h"

/* Per-certificate states, with certmonger's names so that "getcert list" reads the same.
 * docs/STATE-MACHINE.md describes the transitions. */
typedef enum CertState {
        CERT_NEWLY_ADDED,        /* read what is on disk, then decide */
        CERT_NEED_KEY_PAIR,
        CERT_GENERATING_KEY_PAIR,
        CERT_NEED_CSR,
        CERT_GENERATING_CSR,
        CERT_NEED_TO_SUBMIT,
        CERT_SUBMITTING,
        CERT_CA_WORKING,         /* the CA asked us to poll later */
        CERT_NEED_TO_SAVE_CERT,  /* issued certificate held in the database, not yet on disk */
        CERT_SAVING_CERT,        /* pre-save hook, write, post-save hook */
        CERT_MONITORING,
        CERT_CA_UNREACHABLE,     /* retried with backoff */
        CERT_CA_REJECTED,        /* stuck */
        CERT_CA_UNCONFIGURED,    /* stuck */
        CERT_NEED_CA,            /* stuck: the CA named does not exist */
        CERT_NEED_GUIDANCE,      /* stuck: a person must act; the reason is in words */
        _CERT_STATE_MAX,
        _CERT_STATE_INVALID = -EINVAL,
} CertState;

const char *cert_state_to_string(CertState s);
CertState cert_state_from_string(const char *s);

/* Parked states: no timer and no work will move them without outside action. */
bool cert_state_is_stuck(CertState s);
/* States in which a worker job runs; on restart these go back to the state before. */
bool cert_state_is_transient(CertState s);
/* getcert status exit code for a state (certmonger §3.4): 0 issued, 2 rejected, 3 unreachable,
 * 4 configuration, 5 in progress. */
int cert_state_to_status_code(CertState s);
