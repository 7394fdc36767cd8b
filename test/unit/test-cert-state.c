/* SPDX-License-Identifier: MIT */

#include "cert-state.h"
#include "tests.h"

static const char *const expected_names[] = {
        "NEWLY_ADDED", "NEED_KEY_PAIR", "GENERATING_KEY_PAIR", "NEED_CSR", "GENERATING_CSR",
        "NEED_TO_SUBMIT", "SUBMITTING", "CA_WORKING", "NEED_TO_SAVE_CERT", "SAVING_CERT",
        "MONITORING", "CA_UNREACHABLE", "CA_REJECTED", "CA_UNCONFIGURED", "NEED_CA", "NEED_GUIDANCE",
};

TEST(names) {
        ASSERT_EQ(sizeof(expected_names) / sizeof(expected_names[0]), (size_t) _CERT_STATE_MAX);

        for (CertState s = 0; s < _CERT_STATE_MAX; s++) {
                ASSERT_STREQ(cert_state_to_string(s), expected_names[s]);
                ASSERT_EQ(cert_state_from_string(expected_names[s]), s);
        }
        /* Spot checks against the enum, independent of the table order above. */
        ASSERT_STREQ(cert_state_to_string(CERT_MONITORING), "MONITORING");
        ASSERT_STREQ(cert_state_to_string(CERT_NEED_TO_SAVE_CERT), "NEED_TO_SAVE_CERT");
        ASSERT_EQ(cert_state_from_string("CA_WORKING"), CERT_CA_WORKING);
}

TEST(invalid) {
        ASSERT_NULL(cert_state_to_string(_CERT_STATE_MAX));
        ASSERT_NULL(cert_state_to_string(_CERT_STATE_INVALID));
        ASSERT_NULL(cert_state_to_string((CertState) 1000));
        ASSERT_ERROR(cert_state_from_string(NULL), EINVAL);
        ASSERT_ERROR(cert_state_from_string(""), EINVAL);
        ASSERT_ERROR(cert_state_from_string("monitoring"), EINVAL);
        ASSERT_ERROR(cert_state_from_string("MONITORING "), EINVAL);
        ASSERT_ERROR(cert_state_from_string("PRE_SAVE_CERT"), EINVAL);
        ASSERT_ERROR(cert_state_to_status_code(_CERT_STATE_MAX), EINVAL);
        ASSERT_ERROR(cert_state_to_status_code(_CERT_STATE_INVALID), EINVAL);
        ASSERT_FALSE(cert_state_is_stuck(_CERT_STATE_INVALID));
        ASSERT_FALSE(cert_state_is_transient(_CERT_STATE_INVALID));
}

TEST(stuck) {
        unsigned n = 0;

        for (CertState s = 0; s < _CERT_STATE_MAX; s++)
                if (cert_state_is_stuck(s))
                        n++;
        ASSERT_EQ(n, 4u);
        ASSERT_TRUE(cert_state_is_stuck(CERT_CA_REJECTED));
        ASSERT_TRUE(cert_state_is_stuck(CERT_CA_UNCONFIGURED));
        ASSERT_TRUE(cert_state_is_stuck(CERT_NEED_CA));
        ASSERT_TRUE(cert_state_is_stuck(CERT_NEED_GUIDANCE));
        /* certmonger: CA_UNREACHABLE and CA_WORKING run on a timer, they are not stuck. */
        ASSERT_FALSE(cert_state_is_stuck(CERT_CA_UNREACHABLE));
        ASSERT_FALSE(cert_state_is_stuck(CERT_CA_WORKING));
        ASSERT_FALSE(cert_state_is_stuck(CERT_MONITORING));
}

TEST(transient) {
        unsigned n = 0;

        for (CertState s = 0; s < _CERT_STATE_MAX; s++)
                if (cert_state_is_transient(s)) {
                        n++;
                        ASSERT_FALSE(cert_state_is_stuck(s));
                }
        ASSERT_EQ(n, 4u);
        ASSERT_TRUE(cert_state_is_transient(CERT_GENERATING_KEY_PAIR));
        ASSERT_TRUE(cert_state_is_transient(CERT_GENERATING_CSR));
        ASSERT_TRUE(cert_state_is_transient(CERT_SUBMITTING));
        ASSERT_TRUE(cert_state_is_transient(CERT_SAVING_CERT));
        ASSERT_FALSE(cert_state_is_transient(CERT_NEED_KEY_PAIR));
        ASSERT_FALSE(cert_state_is_transient(CERT_NEED_TO_SAVE_CERT));
}

TEST(status_code) {
        static const struct {
                const char *name;
                int code;
        } table[] = {
                { "MONITORING", 0 },
                { "CA_REJECTED", 2 },
                { "CA_UNREACHABLE", 3 },
                { "CA_UNCONFIGURED", 4 },
                { "NEED_GUIDANCE", 4 },
                { "NEED_CA", 4 },
                { "CA_WORKING", 5 },
                { "NEED_CSR", 5 },
                { "NEWLY_ADDED", 5 },
                { "SUBMITTING", 5 },
                { "NEED_TO_SAVE_CERT", 5 },
        };

        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
                ASSERT_EQ(cert_state_to_status_code(cert_state_from_string(table[i].name)), table[i].code);

        for (CertState s = 0; s < _CERT_STATE_MAX; s++) {
                int c = cert_state_to_status_code(s);
                ASSERT_TRUE(c == 0 || (c >= 2 && c <= 5));
                /* Every stuck state is reported as a failure, never as "in progress". */
                if (cert_state_is_stuck(s))
                        ASSERT_TRUE(c == 2 || c == 4);
        }
}

TEST_MAIN()
