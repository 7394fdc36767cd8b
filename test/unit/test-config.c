/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>

#include "certkeeperd-config.h"
#include "tests.h"

static int parse(Config *c, const char *text, char **err) {
        config_init(c);
        return config_parse_string(c, text, "test.conf", false, err);
}

TEST(defaults) {
        Config c;
        int64_t ttls[8];

        config_init(&c);
        ASSERT_STREQ(c.key_type, "EC");
        ASSERT_EQ(c.api_port, 9696);
        ASSERT_EQ(c.hook_timeout, 60);
        ASSERT_EQ(c.local_validity, 365 * 86400LL);
        ASSERT_TRUE(c.api_tcp);
        ASSERT_EQ(config_notify_ttls(&c, ttls, 8), 3);
        ASSERT_EQ(ttls[0], 28 * 86400LL);
        ASSERT_EQ(ttls[2], 86400);
        config_done(&c);
}

TEST(values_and_sections) {
        Config c;
        char *err = NULL;
        int64_t ttls[8];

        ASSERT_OK(parse(&c,
                        "# comment\n"
                        "[api]\n port = 1234 \n tcp = no\n"
                        "[hooks]\ntimeout = 2m\n"
                        "[renewal]\nnotify_ttls = 1h, 7d 2d\n"
                        "; another comment\n",
                        &err));
        ASSERT_NULL(err);
        ASSERT_EQ(c.api_port, 1234);
        ASSERT_FALSE(c.api_tcp);
        ASSERT_EQ(c.hook_timeout, 120);
        ASSERT_EQ(config_notify_ttls(&c, ttls, 8), 3);
        ASSERT_EQ(ttls[0], 7 * 86400LL);
        ASSERT_EQ(ttls[1], 2 * 86400LL);
        ASSERT_EQ(ttls[2], 3600);
        config_done(&c);
}

static void expect_error(const char *text, const char *words) {
        Config c;
        char *err = NULL;

        ASSERT_TRUE(parse(&c, text, &err) < 0);
        ASSERT_NOT_NULL(err);
        if (!strstr(err, words)) {
                fprintf(stderr, "error '%s' lacks '%s'\n", err, words);
                abort();
        }
        free(err);
        config_done(&c);
}

TEST(errors_name_what_is_wrong) {
        expect_error("[api]\nprot = 1\n", "test.conf:2: unknown setting 'prot'");
        expect_error("[api]\nport = 70000\n", "out of range");
        expect_error("[api]\nport = abc\n", "not a number");
        expect_error("[hooks]\ntimeout = soon\n", "not a duration");
        expect_error("[api]\ntcp = maybe\n", "not a boolean");
        expect_error("[api\n", "malformed section");
        expect_error("just words\n", "expected 'key = value'");
        expect_error("[api]\naddress = 10.0.0.1\n", "not a loopback address");
        expect_error("[keys]\nkey_type = DSA\n", "key_type 'DSA'");
        expect_error("[renewal]\nnotify_ttls = 1d, never\n", "'never'");
        expect_error("[daemon]\nlog_level = loud\n", "log_level 'loud'");
}

TEST(reload_keeps_restart_only_settings) {
        Config c;
        char *err = NULL;

        config_init(&c);
        ASSERT_OK(config_parse_string(&c, "[api]\nport = 1111\n[daemon]\nlog_level = debug\n", "r", true, &err));
        ASSERT_EQ(c.api_port, 9696);
        ASSERT_STREQ(c.log_level, "debug");
        config_done(&c);
}

TEST(dump_parses_back) {
        Config c, d;
        char *buf = NULL, *err = NULL;
        size_t len = 0;
        FILE *f;

        ASSERT_OK(parse(&c, "[local]\nvalidity = 90d\n[api]\nadmin_group = wheel\n", &err));
        f = open_memstream(&buf, &len);
        ASSERT_NOT_NULL(f);
        config_dump(&c, f);
        fclose(f);
        ASSERT_OK(parse(&d, buf, &err));
        ASSERT_EQ(d.local_validity, 90 * 86400LL);
        ASSERT_STREQ(d.admin_group, "wheel");
        free(buf);
        config_done(&c);
        config_done(&d);
}

TEST_MAIN();
