/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "string-util.h"
#include "tests.h"

TEST(strv_basic) {
        _cleanup_strv_free_ char **l = NULL, **c = NULL;
        _cleanup_free_ char *j = NULL, *j2 = NULL;

        ASSERT_EQ(strv_length(NULL), 0);
        ASSERT_OK(strv_extend(&l, "a"));
        ASSERT_OK(strv_extend(&l, "bb"));
        ASSERT_OK(strv_consume(&l, strdup("ccc")));
        ASSERT_EQ(strv_length(l), 3);
        ASSERT_STREQ(l[2], "ccc");
        ASSERT_NULL(l[3]);
        ASSERT_ERROR(strv_consume(&l, NULL), EINVAL);

        ASSERT_TRUE(strv_contains(l, "bb"));
        ASSERT_FALSE(strv_contains(l, "b"));
        ASSERT_FALSE(strv_contains(NULL, "b"));

        c = strv_copy(l);
        ASSERT_NOT_NULL(c);
        ASSERT_EQ(strv_length(c), 3);
        ASSERT_TRUE(c[0] != l[0]);
        ASSERT_STREQ(c[1], "bb");

        j = strv_join(l, ", ");
        ASSERT_STREQ(j, "a, bb, ccc");
        j2 = strv_join(NULL, ",");
        ASSERT_STREQ(j2, "");

        ASSERT_NULL(strv_free(NULL));
}

TEST(strv_split) {
        _cleanup_strv_free_ char **l = NULL, **e = NULL;

        ASSERT_OK(strv_split(" a, b ,,c;  d ", ",;", &l));
        ASSERT_EQ(strv_length(l), 4);
        ASSERT_STREQ(l[0], "a");
        ASSERT_STREQ(l[1], "b");
        ASSERT_STREQ(l[2], "c");
        ASSERT_STREQ(l[3], "d");

        ASSERT_OK(strv_split(" , ", ",", &e));
        ASSERT_NOT_NULL(e);
        ASSERT_EQ(strv_length(e), 0);
}

static void check_shell(const char *s, const char *const *expected) {
        _cleanup_strv_free_ char **l = NULL;
        size_t n = 0;

        ASSERT_OK(strv_split_shell(s, &l));
        while (expected[n])
                n++;
        if (strv_length(l) != n) {
                _cleanup_free_ char *j = strv_join(l, "|");
                fprintf(stderr, "split of <%s> gave <%s>\n", s, j);
        }
        ASSERT_EQ(strv_length(l), n);
        for (size_t i = 0; i < n; i++)
                ASSERT_STREQ(l[i], expected[i]);
}

#define CHECK_SHELL(s, ...) check_shell((s), (const char *const[]) { __VA_ARGS__, NULL })

TEST(strv_split_shell) {
        char **l = NULL;

        CHECK_SHELL("/usr/libexec/helper", "/usr/libexec/helper");
        CHECK_SHELL("  a   b\tc\n", "a", "b", "c");
        CHECK_SHELL("helper -x 'a b' \"c d\"", "helper", "-x", "a b", "c d");
        CHECK_SHELL("'it''s'", "its");
        CHECK_SHELL("a'b'\"c\"d", "abcd");
        CHECK_SHELL("'' \"\" x", "", "", "x");
        CHECK_SHELL("'a \\ \" $x'", "a \\ \" $x");
        CHECK_SHELL("\"a\\\"b\\\\c\\$d\\`e\"", "a\"b\\c$d`e");
        CHECK_SHELL("\"a\\nb\"", "a\\nb");
        CHECK_SHELL("a\\ b c\\'d \\\\", "a b", "c'd", "\\");
        CHECK_SHELL("a\\\nb", "ab");
        CHECK_SHELL("\"multi\nline\"", "multi\nline");

        ASSERT_ERROR(strv_split_shell("", &l), EINVAL);
        ASSERT_ERROR(strv_split_shell("   \t ", &l), EINVAL);
        ASSERT_ERROR(strv_split_shell("'unterminated", &l), EINVAL);
        ASSERT_ERROR(strv_split_shell("a \"unterminated", &l), EINVAL);
        ASSERT_ERROR(strv_split_shell("\"a\\\"", &l), EINVAL);
        ASSERT_ERROR(strv_split_shell("trailing\\", &l), EINVAL);
        ASSERT_ERROR(strv_split_shell(NULL, &l), EINVAL);
        ASSERT_NULL(l);
}

TEST(strjoin) {
        _cleanup_free_ char *a = NULL, *b = NULL;

        a = strjoin("a", "", "bc", "/", "d");
        ASSERT_STREQ(a, "abc/d");
        b = strjoin("only");
        ASSERT_STREQ(b, "only");
}

TEST(startswith_endswith) {
        ASSERT_TRUE(startswith("foobar", "foo"));
        ASSERT_TRUE(startswith("foobar", ""));
        ASSERT_FALSE(startswith("fo", "foo"));
        ASSERT_FALSE(startswith(NULL, "foo"));
        ASSERT_TRUE(endswith("foobar", "bar"));
        ASSERT_TRUE(endswith("foobar", "foobar"));
        ASSERT_FALSE(endswith("ar", "bar"));
        ASSERT_FALSE(endswith("foobar", "foo"));
}

TEST(strstrip) {
        char a[] = "  \t hello world \n ";
        char b[] = "   ";
        char c[] = "x";

        ASSERT_STREQ(strstrip(a), "hello world");
        ASSERT_STREQ(strstrip(b), "");
        ASSERT_STREQ(strstrip(c), "x");
}

TEST(base64url) {
        /* RFC 4648 test vectors, in the URL alphabet without padding. */
        static const struct {
                const char *in, *out;
        } v[] = {
                { "", "" },         { "f", "Zg" },          { "fo", "Zm8" },          { "foo", "Zm9v" },
                { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
        };
        static const unsigned char bin[] = { 0xfb, 0xff, 0xbf, 0x3e };
        _cleanup_free_ char *s = NULL;

        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
                _cleanup_free_ char *e = NULL;

                ASSERT_OK(base64url_encode(v[i].in, strlen(v[i].in), &e));
                ASSERT_STREQ(e, v[i].out);
                if (v[i].out[0])
                        ASSERT_TRUE(base64url_is_valid(e));
        }

        /* Bytes that need '-' and '_' (standard base64 would give "+/+/Pg"). */
        ASSERT_OK(base64url_encode(bin, sizeof(bin), &s));
        ASSERT_STREQ(s, "-_-_Pg");

        ASSERT_TRUE(base64url_is_valid("abc-_09"));
        ASSERT_FALSE(base64url_is_valid(""));
        ASSERT_FALSE(base64url_is_valid(NULL));
        ASSERT_FALSE(base64url_is_valid("ab+c"));
        ASSERT_FALSE(base64url_is_valid("ab/c"));
        ASSERT_FALSE(base64url_is_valid("Zg=="));
        ASSERT_FALSE(base64url_is_valid("../etc"));
        ASSERT_FALSE(base64url_is_valid("abcde"));
}

TEST(hex_encode) {
        static const unsigned char d[] = { 0x00, 0x1f, 0xab, 0xff };
        _cleanup_free_ char *lower = NULL, *upper = NULL, *empty = NULL;

        ASSERT_OK(hex_encode(d, sizeof(d), false, &lower));
        ASSERT_STREQ(lower, "001fabff");
        ASSERT_OK(hex_encode(d, sizeof(d), true, &upper));
        ASSERT_STREQ(upper, "001FABFF");
        ASSERT_OK(hex_encode(NULL, 0, false, &empty));
        ASSERT_STREQ(empty, "");
}

TEST_MAIN();
