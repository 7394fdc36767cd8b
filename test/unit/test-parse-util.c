/* SPDX-License-Identifier: MIT */
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <unistd.h>

#include "parse-util.h"
#include "tests.h"

TEST(safe_atou) {
        unsigned u = 7;

        ASSERT_OK(safe_atou("0", &u));
        ASSERT_EQ(u, 0);
        ASSERT_OK(safe_atou("4294967295", &u));
        ASSERT_EQ(u, 4294967295U);
        ASSERT_ERROR(safe_atou("4294967296", &u), ERANGE);
        ASSERT_ERROR(safe_atou("-1", &u), EINVAL);
        ASSERT_ERROR(safe_atou("+1", &u), EINVAL);
        ASSERT_ERROR(safe_atou(" 1", &u), EINVAL);
        ASSERT_ERROR(safe_atou("1 ", &u), EINVAL);
        ASSERT_ERROR(safe_atou("1x", &u), EINVAL);
        ASSERT_ERROR(safe_atou("", &u), EINVAL);
        ASSERT_ERROR(safe_atou(NULL, &u), EINVAL);
        /* Not written on failure. */
        ASSERT_EQ(u, 4294967295U);
}

TEST(safe_atoi) {
        int i = 0;

        ASSERT_OK(safe_atoi("-2147483648", &i));
        ASSERT_EQ(i, INT32_MIN);
        ASSERT_OK(safe_atoi("2147483647", &i));
        ASSERT_EQ(i, INT32_MAX);
        ASSERT_OK(safe_atoi("+5", &i));
        ASSERT_EQ(i, 5);
        ASSERT_ERROR(safe_atoi("2147483648", &i), ERANGE);
        ASSERT_ERROR(safe_atoi("-2147483649", &i), ERANGE);
        ASSERT_ERROR(safe_atoi("-", &i), EINVAL);
        ASSERT_ERROR(safe_atoi("0x10", &i), EINVAL);
}

TEST(safe_64) {
        uint64_t u = 0;
        int64_t i = 0;

        ASSERT_OK(safe_atou64("18446744073709551615", &u));
        ASSERT_TRUE(u == UINT64_MAX);
        ASSERT_ERROR(safe_atou64("18446744073709551616", &u), ERANGE);
        ASSERT_ERROR(safe_atou64("-5", &u), EINVAL);
        ASSERT_OK(safe_atoi64("-9223372036854775808", &i));
        ASSERT_TRUE(i == INT64_MIN);
        ASSERT_ERROR(safe_atoi64("9223372036854775808", &i), ERANGE);
        ASSERT_ERROR(safe_atoi64("12a", &i), EINVAL);
}

TEST(parse_boolean) {
        static const char *const yes[] = { "yes", "y", "true", "t", "on", "1", "YES", "True" };
        static const char *const no[] = { "no", "n", "false", "f", "off", "0", "OFF" };

        for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
                ASSERT_EQ(parse_boolean(yes[i]), 1);
        for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
                ASSERT_EQ(parse_boolean(no[i]), 0);
        ASSERT_ERROR(parse_boolean("maybe"), EINVAL);
        ASSERT_ERROR(parse_boolean(""), EINVAL);
        ASSERT_ERROR(parse_boolean("yes "), EINVAL);
        ASSERT_ERROR(parse_boolean(NULL), EINVAL);
}

static int64_t dur(const char *s) {
        int64_t v = -1;

        ASSERT_OK(parse_duration_sec(s, &v));
        return v;
}

TEST(parse_duration) {
        int64_t v = 123;

        ASSERT_EQ(dur("30"), 30);
        ASSERT_EQ(dur("0"), 0);
        ASSERT_EQ(dur("90s"), 90);
        ASSERT_EQ(dur("5m"), 300);
        ASSERT_EQ(dur("2h"), 7200);
        ASSERT_EQ(dur("1d 12h"), 86400 + 12 * 3600);
        ASSERT_EQ(dur("1d12h"), 86400 + 12 * 3600);
        ASSERT_EQ(dur("2w"), 14 * 86400);
        ASSERT_EQ(dur("1y"), 365 * 86400);
        ASSERT_EQ(dur("1M"), 30 * 86400);
        ASSERT_EQ(dur("1M 1m"), 30 * 86400 + 60);
        ASSERT_EQ(dur(" 3 days "), 3 * 86400);
        ASSERT_EQ(dur("1h 30min"), 5400);
        ASSERT_ERROR(parse_duration_sec("10 1s", &v), EINVAL); /* a bare number only alone */

        ASSERT_ERROR(parse_duration_sec("", &v), EINVAL);
        ASSERT_ERROR(parse_duration_sec("  ", &v), EINVAL);
        ASSERT_ERROR(parse_duration_sec("s", &v), EINVAL);
        ASSERT_ERROR(parse_duration_sec("5x", &v), EINVAL);
        ASSERT_ERROR(parse_duration_sec("-5s", &v), EINVAL);
        ASSERT_ERROR(parse_duration_sec("1.5h", &v), EINVAL);
        ASSERT_ERROR(parse_duration_sec("1dd", &v), EINVAL);
        ASSERT_ERROR(parse_duration_sec("99999999999999999999", &v), ERANGE);
        ASSERT_ERROR(parse_duration_sec("999999999999999y", &v), ERANGE);
        ASSERT_ERROR(parse_duration_sec("9223372036854775807s 1s", &v), ERANGE);
        ASSERT_EQ(v, 123);
}

TEST(parse_mode) {
        mode_t m = 0;

        ASSERT_OK(parse_mode("0640", &m));
        ASSERT_EQ(m, 0640);
        ASSERT_OK(parse_mode("600", &m));
        ASSERT_EQ(m, 0600);
        ASSERT_OK(parse_mode("7777", &m));
        ASSERT_EQ(m, 07777);
        ASSERT_ERROR(parse_mode("10000", &m), ERANGE);
        ASSERT_ERROR(parse_mode("0648", &m), EINVAL);
        ASSERT_ERROR(parse_mode("rw", &m), EINVAL);
        ASSERT_ERROR(parse_mode("-1", &m), EINVAL);
}

TEST(parse_owner) {
        struct passwd *pw;
        struct group *gr;
        uid_t uid = 99;
        gid_t gid = 99;

        ASSERT_OK(parse_owner("root", &uid, &gid));
        ASSERT_EQ(uid, 0);
        ASSERT_EQ(gid, 0);

        ASSERT_OK(parse_owner("0:0", &uid, &gid));
        ASSERT_EQ(uid, 0);
        ASSERT_EQ(gid, 0);

        /* Numbers are accepted whether or not a user or group has them, with an explicit group. */
        ASSERT_OK(parse_owner("4242:4343", &uid, &gid));
        ASSERT_EQ(uid, 4242);
        ASSERT_EQ(gid, 4343);

        /* Name lookups agree with the passwd and group databases. */
        pw = getpwuid(getuid());
        if (pw) {
                ASSERT_OK(parse_owner(pw->pw_name, &uid, &gid));
                ASSERT_EQ(uid, pw->pw_uid);
                ASSERT_EQ(gid, pw->pw_gid);
        }
        gr = getgrgid(0);
        if (gr) {
                char buf[256];

                (void) snprintf(buf, sizeof(buf), "1234:%s", gr->gr_name);
                ASSERT_OK(parse_owner(buf, &uid, &gid));
                ASSERT_EQ(uid, 1234);
                ASSERT_EQ(gid, gr->gr_gid);
        }

        uid = 99;
        ASSERT_ERROR(parse_owner("no-such-user-certkeeper", &uid, &gid), ESRCH);
        ASSERT_ERROR(parse_owner("root:no-such-group-certkeeper", &uid, &gid), ESRCH);
        ASSERT_ERROR(parse_owner("", &uid, &gid), EINVAL);
        ASSERT_ERROR(parse_owner(":0", &uid, &gid), EINVAL);
        ASSERT_ERROR(parse_owner("root:", &uid, &gid), EINVAL);
        ASSERT_ERROR(parse_owner("4294967295", &uid, &gid), EINVAL);
        ASSERT_EQ(uid, 99);
}

TEST(dns_name_is_valid) {
        char label63[64], label64[65], long_name[300];

        ASSERT_TRUE(dns_name_is_valid("example.com"));
        ASSERT_TRUE(dns_name_is_valid("a"));
        ASSERT_TRUE(dns_name_is_valid("localhost"));
        ASSERT_TRUE(dns_name_is_valid("xn--bcher-kva.example"));
        ASSERT_TRUE(dns_name_is_valid("a-b.c-d.E9"));
        ASSERT_TRUE(dns_name_is_valid("*.example.com"));
        ASSERT_TRUE(dns_name_is_valid("123.example"));

        ASSERT_FALSE(dns_name_is_valid(""));
        ASSERT_FALSE(dns_name_is_valid(NULL));
        ASSERT_FALSE(dns_name_is_valid("-a.com"));
        ASSERT_FALSE(dns_name_is_valid("a-.com"));
        ASSERT_FALSE(dns_name_is_valid("a..b"));
        ASSERT_FALSE(dns_name_is_valid(".a"));
        ASSERT_FALSE(dns_name_is_valid("a."));
        ASSERT_FALSE(dns_name_is_valid("exa mple.com"));
        ASSERT_FALSE(dns_name_is_valid("exa_mple.com"));
        ASSERT_FALSE(dns_name_is_valid("*"));
        ASSERT_FALSE(dns_name_is_valid("*."));
        ASSERT_FALSE(dns_name_is_valid("*.*.example.com"));
        ASSERT_FALSE(dns_name_is_valid("a.*.example.com"));
        ASSERT_FALSE(dns_name_is_valid("*example.com"));
        ASSERT_FALSE(dns_name_is_valid("ex\xc3\xa4mple.com"));
        ASSERT_FALSE(dns_name_is_valid("a/b"));

        memset(label63, 'a', 63);
        label63[63] = '\0';
        memset(label64, 'a', 64);
        label64[64] = '\0';
        ASSERT_TRUE(dns_name_is_valid(label63));
        ASSERT_FALSE(dns_name_is_valid(label64));

        /* 4 labels of 63 plus 3 dots: 255 characters, too long; one label shorter by 2: 253, fine. */
        (void) snprintf(long_name, sizeof(long_name), "%s.%s.%s.%s", label63, label63, label63, label63);
        ASSERT_EQ(strlen(long_name), 255);
        ASSERT_FALSE(dns_name_is_valid(long_name));
        long_name[253] = '\0';
        ASSERT_TRUE(dns_name_is_valid(long_name));
}

static void check_ip(const char *in, const char *out) {
        _cleanup_free_ char *n = NULL;

        ASSERT_OK(ip_address_normalize(in, &n));
        ASSERT_STREQ(n, out);
}

TEST(ip_address_normalize) {
        char *n = NULL;

        check_ip("192.0.2.1", "192.0.2.1");
        check_ip("0.0.0.0", "0.0.0.0");
        check_ip("2001:DB8:0:0:0:0:0:1", "2001:db8::1");
        check_ip("2001:db8:0000::0001", "2001:db8::1");
        check_ip("::1", "::1");
        check_ip("::ffff:192.0.2.1", "::ffff:192.0.2.1");

        ASSERT_ERROR(ip_address_normalize("192.0.2", &n), EINVAL);
        ASSERT_ERROR(ip_address_normalize("192.0.2.256", &n), EINVAL);
        ASSERT_ERROR(ip_address_normalize("1.2.3.4 ", &n), EINVAL);
        ASSERT_ERROR(ip_address_normalize("example.com", &n), EINVAL);
        ASSERT_ERROR(ip_address_normalize("2001:db8::1::2", &n), EINVAL);
        ASSERT_ERROR(ip_address_normalize("", &n), EINVAL);
        ASSERT_NULL(n);
}

TEST(email_is_valid) {
        ASSERT_TRUE(email_is_valid("user@example.com"));
        ASSERT_TRUE(email_is_valid("first.last+tag@mail.example.org"));
        ASSERT_TRUE(email_is_valid("a@b.c"));

        ASSERT_FALSE(email_is_valid(""));
        ASSERT_FALSE(email_is_valid(NULL));
        ASSERT_FALSE(email_is_valid("user"));
        ASSERT_FALSE(email_is_valid("@example.com"));
        ASSERT_FALSE(email_is_valid("user@"));
        ASSERT_FALSE(email_is_valid("us er@example.com"));
        ASSERT_FALSE(email_is_valid("user@exa mple.com"));
        ASSERT_FALSE(email_is_valid("user@-example.com"));
        ASSERT_FALSE(email_is_valid("user@example..com"));
        ASSERT_FALSE(email_is_valid("user@*.example.com"));
        ASSERT_FALSE(email_is_valid("a@b@example.com"));
        ASSERT_FALSE(email_is_valid(".user@example.com"));
        ASSERT_FALSE(email_is_valid("us..er@example.com"));
        ASSERT_FALSE(email_is_valid("user\n@example.com"));
}

TEST(parse_time_spec) {
        const int64_t now = 1767225600; /* 2026-01-01T00:00:00Z */
        int64_t v = 0;

        ASSERT_OK(parse_time_spec("1700000000", now, &v));
        ASSERT_EQ(v, 1700000000);
        ASSERT_OK(parse_time_spec("0", now, &v));
        ASSERT_EQ(v, 0);
        ASSERT_OK(parse_time_spec("2026-01-01T00:00:00Z", now, &v));
        ASSERT_EQ(v, now);
        ASSERT_OK(parse_time_spec("2025-12-31", now, &v));
        ASSERT_EQ(v, now - 86400);
        ASSERT_OK(parse_time_spec("1h", now, &v));
        ASSERT_EQ(v, now - 3600);
        ASSERT_OK(parse_time_spec("2d", now, &v));
        ASSERT_EQ(v, now - 2 * 86400);
        ASSERT_OK(parse_time_spec("1d 12h", now, &v));
        ASSERT_EQ(v, now - 36 * 3600);

        v = 7;
        ASSERT_ERROR(parse_time_spec("", now, &v), EINVAL);
        ASSERT_ERROR(parse_time_spec("yesterday", now, &v), EINVAL);
        ASSERT_ERROR(parse_time_spec("2025-13-01", now, &v), EINVAL);
        ASSERT_ERROR(parse_time_spec("-5", now, &v), EINVAL);
        ASSERT_ERROR(parse_time_spec("99999999999999999999", now, &v), ERANGE);
        ASSERT_ERROR(parse_time_spec("100y", now, &v), ERANGE);
        ASSERT_EQ(v, 7);
}

TEST_MAIN();
