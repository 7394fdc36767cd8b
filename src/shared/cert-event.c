/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <syslog.h>

#include "cert-event.h"
#include "parse-util.h"
#include "string-util.h"

typedef struct CertEventInfo {
        CertEventId id;
        const char *name;
        const char *message_id; /* chosen once (random), never changed */
        int priority;
} CertEventInfo;

static const CertEventInfo events[] = {
        { CERT_EVENT_REPLACED, "replaced", "da803ff7122d4d64a6cf549546f0cfa8", LOG_NOTICE },
        { CERT_EVENT_EXPIRED, "expired", "29f09e766c35452690266e16b9fcb4bd", LOG_WARNING },
        { CERT_EVENT_ABOUT_TO_EXPIRE, "about-to-expire", "78dbd0bb56fe4961bc20c5d697d3d5b2", LOG_WARNING },
        { CERT_EVENT_DELETED, "deleted", "495e69ef7f5e414db6f3ef6df99f0072", LOG_INFO },
        { CERT_EVENT_ARCHIVED, "archived", "c8d9f2a9b00d41e2b975f0d2caaa2361", LOG_INFO },
        { CERT_EVENT_INSTALLED, "installed", "d3abf53fe4c7404db535c991f8e2d9b6", LOG_NOTICE },
        { CERT_EVENT_EXPORTED, "exported", "c307ea6fd1cb4417b63807f8275f3549", LOG_INFO },
        { CERT_EVENT_RENEWAL_FAILED, "renewal-failed", "c6ff5e1dc7f3481cb06449e68c4a2aac", LOG_WARNING },
        { CERT_EVENT_STUCK, "stuck", "4c254120dde84c9f8407d77a8f31a389", LOG_ERR },
        { CERT_EVENT_REBOUND, "rebound", "cef410d83e0048ba98c93bd009f83589", LOG_NOTICE },
        { CERT_EVENT_REBIND_FAILED, "rebind-failed", "b6193963c29a402583b764cc9b7cf2a5", LOG_ERR },
};

static const CertEventInfo *lookup(CertEventId id) {
        for (size_t i = 0; i < ELEMENTSOF(events); i++)
                if (events[i].id == id)
                        return &events[i];
        return NULL;
}

const char *cert_event_to_string(CertEventId id) {
        const CertEventInfo *e = lookup(id);
        return e ? e->name : NULL;
}

CertEventId cert_event_from_string(const char *s) {
        unsigned u;

        if (!s)
                return _CERT_EVENT_INVALID;
        if (safe_atou(s, &u) >= 0)
                return cert_event_is_valid((int) u) ? (CertEventId) u : _CERT_EVENT_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(events); i++)
                if (streq(events[i].name, s))
                        return events[i].id;
        return _CERT_EVENT_INVALID;
}

bool cert_event_is_valid(int id) {
        return lookup((CertEventId) id) != NULL;
}

const char *cert_event_message_id(CertEventId id) {
        const CertEventInfo *e = lookup(id);
        return e ? e->message_id : NULL;
}

int cert_event_priority(CertEventId id) {
        const CertEventInfo *e = lookup(id);
        return e ? e->priority : LOG_INFO;
}

CertEventId cert_event_by_index(unsigned i) {
        return i < ELEMENTSOF(events) ? events[i].id : _CERT_EVENT_INVALID;
}
