/* SPDX-License-Identifier: MIT */

#include "cert-state.h"

#include <string.h>

static const char *const cert_state_table[_CERT_STATE_MAX] = {
        [CERT_NEWLY_ADDED]        = "NEWLY_ADDED",
        [CERT_NEED_KEY_PAIR]      = "NEED_KEY_PAIR",
        [CERT_GENERATING_KEY_PAIR] = "GENERATING_KEY_PAIR",
        [CERT_NEED_CSR]           = "NEED_CSR",
        [CERT_GENERATING_CSR]     = "GENERATING_CSR",
        [CERT_NEED_TO_SUBMIT]     = "NEED_TO_SUBMIT",
        [CERT_SUBMITTING]         = "SUBMITTING",
        [CERT_CA_WORKING]         = "CA_WORKING",
        [CERT_NEED_TO_SAVE_CERT]  = "NEED_TO_SAVE_CERT",
        [CERT_SAVING_CERT]        = "SAVING_CERT",
        [CERT_MONITORING]         = "MONITORING",
        [CERT_CA_UNREACHABLE]     = "CA_UNREACHABLE",
        [CERT_CA_REJECTED]        = "CA_REJECTED",
        [CERT_CA_UNCONFIGURED]    = "CA_UNCONFIGURED",
        [CERT_NEED_CA]            = "NEED_CA",
        [CERT_NEED_GUIDANCE]      = "NEED_GUIDANCE",
};

static bool cert_state_valid(CertState s) {
        return s >= 0 && s < _CERT_STATE_MAX;
}

const char *cert_state_to_string(CertState s) {
        if (!cert_state_valid(s))
                return NULL;
        return cert_state_table[s];
}

CertState cert_state_from_string(const char *s) {
        if (!s)
                return _CERT_STATE_INVALID;

        for (CertState i = 0; i < _CERT_STATE_MAX; i++)
                if (cert_state_table[i] && strcmp(cert_state_table[i], s) == 0)
                        return i;

        return _CERT_STATE_INVALID;
}

bool cert_state_is_stuck(CertState s) {
        switch (s) {
        case CERT_CA_REJECTED:
        case CERT_CA_UNCONFIGURED:
        case CERT_NEED_CA:
        case CERT_NEED_GUIDANCE:
                return true;
        default:
                return false;
        }
}

bool cert_state_is_transient(CertState s) {
        switch (s) {
        case CERT_GENERATING_KEY_PAIR:
        case CERT_GENERATING_CSR:
        case CERT_SUBMITTING:
        case CERT_SAVING_CERT:
                return true;
        default:
                return false;
        }
}

int cert_state_to_status_code(CertState s) {
        if (!cert_state_valid(s))
                return -EINVAL;

        switch (s) {
        case CERT_MONITORING:
                return 0;
        case CERT_CA_REJECTED:
                return 2;
        case CERT_CA_UNREACHABLE:
                return 3;
        case CERT_CA_UNCONFIGURED:
        case CERT_NEED_GUIDANCE:
        case CERT_NEED_CA:
                return 4;
        default:
                return 5;
        }
}
