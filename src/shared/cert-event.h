/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>
#include <stdbool.h>

#include "macro.h"

/* Lifecycle events of a certificate (docs/EVENTS.md). The numbers 1001-1007 are those of Windows's
 * certificate lifecycle notifications, so that tools written for them read the same; certkeeper's
 * own start at 1101. The numbers, names and journal MESSAGE_IDs are an interface: they never
 * change once released, and a new event takes a new number. */
typedef enum CertEventId {
        CERT_EVENT_REPLACED = 1001,        /* a saved certificate replaced another (old -> new thumbprint) */
        CERT_EVENT_EXPIRED = 1002,
        CERT_EVENT_ABOUT_TO_EXPIRE = 1003, /* an expiry notice threshold ([renewal] notify_ttls) */
        CERT_EVENT_DELETED = 1004,         /* the request was removed (stop-tracking); the files stay */
        CERT_EVENT_ARCHIVED = 1005,        /* a previous version was copied into the archive */
        CERT_EVENT_INSTALLED = 1006,       /* a certificate was saved where there was none */
        CERT_EVENT_EXPORTED = 1007,        /* exported (certkeeper export), with the path */
        CERT_EVENT_RENEWAL_FAILED = 1101,  /* an attempt failed and will be retried (backoff) */
        CERT_EVENT_STUCK = 1102,           /* needs a person: NEED_GUIDANCE, CA_REJECTED, ... */
        CERT_EVENT_REBOUND = 1103,         /* bindings: tested, reloaded, served (docs/BINDINGS.md) */
        CERT_EVENT_REBIND_FAILED = 1104,   /* bindings: a deploy failed (rolled back on a replacement) */
        _CERT_EVENT_INVALID = -EINVAL,
} CertEventId;

/* "replaced", "about-to-expire", ... NULL for an unknown id. */
const char *cert_event_to_string(CertEventId id);
/* Takes a name or a number; _CERT_EVENT_INVALID if it is neither. */
CertEventId cert_event_from_string(const char *s);
bool cert_event_is_valid(int id);
/* The journal MESSAGE_ID: 32 lower-case hex digits, fixed per event. NULL for an unknown id. */
const char *cert_event_message_id(CertEventId id);
/* The syslog priority its log entry gets (LOG_NOTICE, LOG_WARNING, ...). */
int cert_event_priority(CertEventId id);
/* The ids in order, for listings: index 0, 1, ... until _CERT_EVENT_INVALID. */
CertEventId cert_event_by_index(unsigned i);
