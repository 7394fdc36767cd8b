/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "cert-event.h"
#include "tests.h"

/* The ids, names and MESSAGE_IDs are an interface (docs/EVENTS.md): this pins them. */
TEST(fixed_ids_and_names) {
        static const struct {
                int id;
                const char *name, *message_id;
        } expected[] = {
                { 1001, "replaced", "da803ff7122d4d64a6cf549546f0cfa8" },
                { 1002, "expired", "29f09e766c35452690266e16b9fcb4bd" },
                { 1003, "about-to-expire", "78dbd0bb56fe4961bc20c5d697d3d5b2" },
                { 1004, "deleted", "495e69ef7f5e414db6f3ef6df99f0072" },
                { 1005, "archived", "c8d9f2a9b00d41e2b975f0d2caaa2361" },
                { 1006, "installed", "d3abf53fe4c7404db535c991f8e2d9b6" },
                { 1007, "exported", "c307ea6fd1cb4417b63807f8275f3549" },
                { 1101, "renewal-failed", "c6ff5e1dc7f3481cb06449e68c4a2aac" },
                { 1102, "stuck", "4c254120dde84c9f8407d77a8f31a389" },
                { 1103, "rebound", "cef410d83e0048ba98c93bd009f83589" },
                { 1104, "rebind-failed", "b6193963c29a402583b764cc9b7cf2a5" },
        };
        unsigned n = 0;

        for (unsigned i = 0; i < ELEMENTSOF(expected); i++) {
                char num[16];

                ASSERT_TRUE(cert_event_is_valid(expected[i].id));
                ASSERT_STREQ(cert_event_to_string((CertEventId) expected[i].id), expected[i].name);
                ASSERT_STREQ(cert_event_message_id((CertEventId) expected[i].id), expected[i].message_id);
                ASSERT_EQ((int) cert_event_from_string(expected[i].name), expected[i].id);
                (void) snprintf(num, sizeof(num), "%d", expected[i].id);
                ASSERT_EQ((int) cert_event_from_string(num), expected[i].id);
                ASSERT_EQ((int) cert_event_by_index(i), expected[i].id);
                ASSERT_TRUE(cert_event_priority((CertEventId) expected[i].id) <= LOG_NOTICE ||
                            cert_event_priority((CertEventId) expected[i].id) == LOG_INFO);
        }
        while (cert_event_by_index(n) != _CERT_EVENT_INVALID)
                n++;
        ASSERT_EQ(n, (unsigned) ELEMENTSOF(expected));
}

TEST(message_ids_well_formed_and_distinct) {
        for (unsigned i = 0; cert_event_by_index(i) != _CERT_EVENT_INVALID; i++) {
                const char *a = cert_event_message_id(cert_event_by_index(i));

                ASSERT_EQ(strlen(a), (size_t) 32);
                ASSERT_EQ(strspn(a, "0123456789abcdef"), (size_t) 32);
                for (unsigned j = 0; j < i; j++)
                        ASSERT_TRUE(strcmp(a, cert_event_message_id(cert_event_by_index(j))) != 0);
        }
}

TEST(unknown) {
        ASSERT_FALSE(cert_event_is_valid(0));
        ASSERT_FALSE(cert_event_is_valid(1000));
        ASSERT_FALSE(cert_event_is_valid(1008));
        ASSERT_NULL(cert_event_to_string((CertEventId) 1100));
        ASSERT_NULL(cert_event_message_id((CertEventId) 42));
        ASSERT_EQ((int) cert_event_from_string("1008"), -EINVAL);
        ASSERT_EQ((int) cert_event_from_string("renewed"), -EINVAL);
        ASSERT_EQ((int) cert_event_from_string(""), -EINVAL);
        ASSERT_EQ((int) cert_event_from_string(NULL), -EINVAL);
        ASSERT_EQ((int) cert_event_from_string("-1001"), -EINVAL);
}

TEST_MAIN()
