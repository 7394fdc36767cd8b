/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "macro.h"
#include "time-util.h"

usec_t now_usec(clockid_t clock) {
        struct timespec ts;

        if (clock_gettime(clock, &ts) < 0)
                return 0;

        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

/* strftime() returns 0 when the buffer is too small; the formats here never produce "". */
static int strftime_result(size_t n, char *buf, size_t size) {
        if (n == 0) {
                if (size > 0)
                        buf[0] = '\0';
                return -ENOBUFS;
        }

        return 0;
}

int format_timestamp_getcert(int64_t t, bool utc, char *buf, size_t size) {
        time_t tt = (time_t) t;
        struct tm tm;

        if (!buf || size == 0)
                return -EINVAL;
        if ((int64_t) tt != t)
                return -ERANGE;

        if (utc) {
                if (!gmtime_r(&tt, &tm))
                        return -ERANGE;
                /* strftime's %Z says "GMT" for gmtime_r() results; getcert says "UTC". */
                return strftime_result(strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm), buf, size);
        }

        tzset();
        if (!localtime_r(&tt, &tm))
                return -ERANGE;
        return strftime_result(strftime(buf, size, "%Y-%m-%d %H:%M:%S %Z", &tm), buf, size);
}

int format_timestamp_rfc3339(int64_t t, char *buf, size_t size) {
        time_t tt = (time_t) t;
        struct tm tm;

        if (!buf || size == 0)
                return -EINVAL;
        if ((int64_t) tt != t)
                return -ERANGE;
        if (!gmtime_r(&tt, &tm))
                return -ERANGE;
        /* RFC 3339 has four-digit years only. */
        if (tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
                return -ERANGE;

        return strftime_result(strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm), buf, size);
}

/* Reads exactly n decimal digits. */
static int parse_digits(const char **p, size_t n, int *ret) {
        int v = 0;

        for (size_t i = 0; i < n; i++) {
                char c = (*p)[i];

                if (c < '0' || c > '9')
                        return -EINVAL;
                v = v * 10 + (c - '0');
        }

        *p += n;
        *ret = v;
        return 0;
}

static int expect_char(const char **p, const char *accepted) {
        if (**p == '\0' || !strchr(accepted, **p))
                return -EINVAL;
        (*p)++;
        return 0;
}

static bool is_leap_year(int y) {
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m) {
        static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

        return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int y, int m, int d) {
        int64_t era, yoe, doy, doe;

        y -= m <= 2;
        era = (y >= 0 ? y : y - 399) / 400;
        yoe = y - era * 400;
        doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + doe - 719468;
}

int parse_timestamp_rfc3339(const char *s, int64_t *ret) {
        int year, month, day, hour, minute, second, offset = 0;
        const char *p = s;
        int64_t t;
        int r;

        if (!s || !ret)
                return -EINVAL;

        /* full-date "T" full-time, RFC 3339 section 5.6. Lower-case t/z and a space separator are
         * allowed, as the RFC permits. */
        r = parse_digits(&p, 4, &year);
        if (r >= 0)
                r = expect_char(&p, "-");
        if (r >= 0)
                r = parse_digits(&p, 2, &month);
        if (r >= 0)
                r = expect_char(&p, "-");
        if (r >= 0)
                r = parse_digits(&p, 2, &day);
        if (r >= 0)
                r = expect_char(&p, "Tt ");
        if (r >= 0)
                r = parse_digits(&p, 2, &hour);
        if (r >= 0)
                r = expect_char(&p, ":");
        if (r >= 0)
                r = parse_digits(&p, 2, &minute);
        if (r >= 0)
                r = expect_char(&p, ":");
        if (r >= 0)
                r = parse_digits(&p, 2, &second);
        if (r < 0)
                return r;

        if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month))
                return -EINVAL;
        /* 60 is a leap second; it is folded into the next second below. */
        if (hour > 23 || minute > 59 || second > 60)
                return -EINVAL;

        if (*p == '.') {
                /* Fractional seconds are dropped: this type counts whole seconds. */
                p++;
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                while (*p >= '0' && *p <= '9')
                        p++;
        }

        if (*p == 'Z' || *p == 'z')
                p++;
        else if (*p == '+' || *p == '-') {
                int sign = *p == '-' ? -1 : 1, oh, om;

                p++;
                r = parse_digits(&p, 2, &oh);
                if (r >= 0)
                        r = expect_char(&p, ":");
                if (r >= 0)
                        r = parse_digits(&p, 2, &om);
                if (r < 0)
                        return r;
                if (oh > 23 || om > 59)
                        return -EINVAL;
                offset = sign * (oh * 3600 + om * 60);
        } else
                return -EINVAL;

        if (*p != '\0')
                return -EINVAL;

        t = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
        /* Local time = UTC + offset, hence UTC = local time - offset. */
        *ret = t - offset;
        return 0;
}
