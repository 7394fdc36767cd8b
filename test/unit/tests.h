/* SPDX-License-Identifier: MIT */
#pragma once

/* Minimal systemd-style assertions for unit tests. Each test program is a list of TEST() functions
 * run by main() from TEST_MAIN(); a failed assertion prints where and aborts the program. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ASSERT_TRUE(expr)                                                                         \
        do {                                                                                      \
                if (!(expr)) {                                                                    \
                        fprintf(stderr, "%s:%i: assertion failed: %s\n", __FILE__, __LINE__, #expr); \
                        abort();                                                                  \
                }                                                                                 \
        } while (0)

#define ASSERT_FALSE(expr) ASSERT_TRUE(!(expr))

#define ASSERT_OK(expr)                                                                           \
        do {                                                                                      \
                long long _r_ = (long long) (expr);                                              \
                if (_r_ < 0) {                                                                    \
                        fprintf(stderr, "%s:%i: %s failed: %s (%lld)\n", __FILE__, __LINE__, #expr, \
                                strerror((int) -_r_), _r_);                                       \
                        abort();                                                                  \
                }                                                                                 \
        } while (0)

#define ASSERT_ERROR(expr, err)                                                                   \
        do {                                                                                      \
                long long _r_ = (long long) (expr);                                              \
                if (_r_ != -(long long) (err)) {                                                  \
                        fprintf(stderr, "%s:%i: %s returned %lld, expected -%s\n", __FILE__, __LINE__, \
                                #expr, _r_, #err);                                                \
                        abort();                                                                  \
                }                                                                                 \
        } while (0)

#define ASSERT_EQ(a, b)                                                                           \
        do {                                                                                      \
                long long _a_ = (long long) (a), _b_ = (long long) (b);                          \
                if (_a_ != _b_) {                                                                 \
                        fprintf(stderr, "%s:%i: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, \
                                #a, #b, _a_, _b_);                                                \
                        abort();                                                                  \
                }                                                                                 \
        } while (0)

#define ASSERT_STREQ(a, b)                                                                        \
        do {                                                                                      \
                const char *_a_ = (a), *_b_ = (b);                                                \
                if (!_a_ || !_b_ || strcmp(_a_, _b_) != 0) {                                      \
                        fprintf(stderr, "%s:%i: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
                                #a, #b, _a_ ? _a_ : "(null)", _b_ ? _b_ : "(null)");              \
                        abort();                                                                  \
                }                                                                                 \
        } while (0)

#define ASSERT_NULL(p) ASSERT_TRUE((p) == NULL)
#define ASSERT_NOT_NULL(p) ASSERT_TRUE((p) != NULL)

typedef struct TestCase {
        const char *name;
        void (*func)(void);
} TestCase;

#define TEST(n)                                                                                   \
        static void test_##n(void);                                                              \
        static const TestCase test_case_##n __attribute__((used, section("test_cases"), aligned(8))) = { \
                .name = #n, .func = test_##n };                                                   \
        static void test_##n(void)

extern const TestCase __start_test_cases[] __attribute__((weak));
extern const TestCase __stop_test_cases[] __attribute__((weak));

#define TEST_MAIN()                                                                               \
        int main(int argc, char **argv) {                                                         \
                unsigned n = 0;                                                                   \
                for (const TestCase *t = __start_test_cases; t < __stop_test_cases; t++) {      \
                        if (argc > 1 && strcmp(argv[1], t->name) != 0)                            \
                                continue;                                                         \
                        fprintf(stderr, "/* %s */\n", t->name);                                   \
                        t->func();                                                                \
                        n++;                                                                      \
                }                                                                                 \
                fprintf(stderr, "%u test(s) ok\n", n);                                            \
                return n > 0 ? 0 : 1;                                                             \
        }
