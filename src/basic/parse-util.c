/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "parse-util.h"
#include "string-util.h"
#include "time-util.h"

#define DNS_NAME_MAX 253
#define DNS_LABEL_MAX 63

/* After strtoull() or strtoll() read s up to end: overflow is -ERANGE, trailing garbage -EINVAL. */
static int strto_result(const char *end) {
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0)
                return -errno;
        if (!end || *end != '\0')
                return -EINVAL;
        return 0;
}

/* All the whole-string integer parsers go through these two: no leading whitespace, no trailing
 * garbage, overflow and values above max (or below min) reported as -ERANGE. */
static int parse_u64_base(const char *s, unsigned base, uint64_t max, uint64_t *ret) {
        unsigned long long v;
        char *end = NULL;
        int r;

        if (isempty(s))
                return -EINVAL;
        /* strtoull() silently accepts whitespace and a minus sign (negating the value). */
        if (!isdigit((unsigned char) s[0]))
                return -EINVAL;

        errno = 0;
        v = strtoull(s, &end, (int) base);
        r = strto_result(end);
        if (r < 0)
                return r;
        if (v > max)
                return -ERANGE;

        *ret = (uint64_t) v;
        return 0;
}

static int parse_i64(const char *s, int64_t min, int64_t max, int64_t *ret) {
        long long v;
        char *end = NULL;
        int r;

        if (isempty(s))
                return -EINVAL;
        if (!isdigit((unsigned char) s[0]) && !((s[0] == '-' || s[0] == '+') && isdigit((unsigned char) s[1])))
                return -EINVAL;

        errno = 0;
        v = strtoll(s, &end, 10);
        r = strto_result(end);
        if (r < 0)
                return r;
        if (v < min || v > max)
                return -ERANGE;

        *ret = (int64_t) v;
        return 0;
}

int safe_atou64(const char *s, uint64_t *ret) {
        if (!ret)
                return -EINVAL;

        return parse_u64_base(s, 10, UINT64_MAX, ret);
}

int safe_atou(const char *s, unsigned *ret) {
        uint64_t v = 0;
        int r;

        if (!ret)
                return -EINVAL;

        r = parse_u64_base(s, 10, UINT_MAX, &v);
        if (r < 0)
                return r;

        *ret = (unsigned) v;
        return 0;
}

int safe_atoi64(const char *s, int64_t *ret) {
        if (!ret)
                return -EINVAL;

        return parse_i64(s, INT64_MIN, INT64_MAX, ret);
}

int safe_atoi(const char *s, int *ret) {
        int64_t v = 0;
        int r;

        if (!ret)
                return -EINVAL;

        r = parse_i64(s, INT_MIN, INT_MAX, &v);
        if (r < 0)
                return r;

        *ret = (int) v;
        return 0;
}

int parse_boolean(const char *s) {
        static const char *const yes[] = { "yes", "y", "true", "t", "on", "1" };
        static const char *const no[] = { "no", "n", "false", "f", "off", "0" };

        if (!s)
                return -EINVAL;

        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0)
                        return 0;

        return -EINVAL;
}

static const struct {
        const char *suffix;
        int64_t seconds;
} duration_units[] = {
        /* Longest first where one suffix is a prefix of another. Case matters: "M" is a month, "m"
         * a minute. */
        { "years",   365 * 86400 },
        { "year",    365 * 86400 },
        { "y",       365 * 86400 },
        { "months",  30 * 86400 },
        { "month",   30 * 86400 },
        { "M",       30 * 86400 },
        { "weeks",   7 * 86400 },
        { "week",    7 * 86400 },
        { "w",       7 * 86400 },
        { "days",    86400 },
        { "day",     86400 },
        { "d",       86400 },
        { "hours",   3600 },
        { "hour",    3600 },
        { "h",       3600 },
        { "minutes", 60 },
        { "minute",  60 },
        { "min",     60 },
        { "m",       60 },
        { "seconds", 1 },
        { "second",  1 },
        { "sec",     1 },
        { "s",       1 },
};

int parse_duration_sec(const char *s, int64_t *ret) {
        int64_t total = 0;
        const char *p;
        bool any = false;

        if (!s || !ret)
                return -EINVAL;

        p = s;
        for (;;) {
                uint64_t n = 0;
                int64_t mult = 1;
                size_t k, u;

                p += strspn(p, " \t");
                if (*p == '\0')
                        break;

                k = strspn(p, "0123456789");
                if (k == 0)
                        return -EINVAL;
                for (size_t i = 0; i < k; i++) {
                        if (n > (UINT64_MAX - 9) / 10)
                                return -ERANGE;
                        n = n * 10 + (uint64_t) (p[i] - '0');
                }
                p += k;
                p += strspn(p, " \t");

                u = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
                if (u > 0) {
                        bool found = false;

                        for (size_t i = 0; i < ELEMENTSOF(duration_units); i++)
                                if (strlen(duration_units[i].suffix) == u &&
                                    strneq(p, duration_units[i].suffix, u)) {
                                        mult = duration_units[i].seconds;
                                        found = true;
                                        break;
                                }
                        if (!found)
                                return -EINVAL;
                        p += u;
                } else if (*p != '\0')
                        return -EINVAL;

                if (n > (uint64_t) (INT64_MAX / mult))
                        return -ERANGE;
                if ((int64_t) n * mult > INT64_MAX - total)
                        return -ERANGE;
                total += (int64_t) n * mult;
                any = true;
        }

        if (!any)
                return -EINVAL;

        *ret = total;
        return 0;
}

int parse_mode(const char *s, mode_t *ret) {
        uint64_t v = 0;
        int r;

        if (!ret)
                return -EINVAL;

        r = parse_u64_base(s, 8, 07777, &v);
        if (r < 0)
                return r;

        *ret = (mode_t) v;
        return 0;
}

/* Looks a user up by name or number, with the reentrant getpw*_r() functions. */
static int lookup_user(const char *name, uid_t *ret_uid, gid_t *ret_gid) {
        _cleanup_free_ char *buf = NULL;
        struct passwd pw, *result = NULL;
        size_t bufsize = 4096;
        unsigned id = 0;
        bool numeric;
        int r;

        numeric = safe_atou(name, &id) >= 0;
        if (numeric && id == (unsigned) (uid_t) -1)
                return -EINVAL;

        for (;;) {
                buf = malloc(bufsize);
                if (!buf)
                        return -ENOMEM;

                if (numeric)
                        r = getpwuid_r((uid_t) id, &pw, buf, bufsize, &result);
                else
                        r = getpwnam_r(name, &pw, buf, bufsize, &result);
                if (r != ERANGE || bufsize >= 1024 * 1024)
                        break;

                bufsize *= 2;
                free(TAKE_PTR(buf));
        }

        if (r != 0 && r != ENOENT && r != ESRCH)
                return -r;

        if (!result) {
                /* A number that no user has is still a valid owner, but then there is no primary
                 * group to fall back to. */
                if (!numeric)
                        return -ESRCH;
                *ret_uid = (uid_t) id;
                *ret_gid = (gid_t) -1;
                return 0;
        }

        *ret_uid = pw.pw_uid;
        *ret_gid = pw.pw_gid;
        return 0;
}

static int lookup_group(const char *name, gid_t *ret_gid) {
        _cleanup_free_ char *buf = NULL;
        struct group gr, *result = NULL;
        size_t bufsize = 4096;
        unsigned id = 0;
        int r;

        if (safe_atou(name, &id) >= 0) {
                /* Numbers are taken as they are, whether or not a group has that number. */
                if (id == (unsigned) (gid_t) -1)
                        return -EINVAL;
                *ret_gid = (gid_t) id;
                return 0;
        }

        for (;;) {
                buf = malloc(bufsize);
                if (!buf)
                        return -ENOMEM;

                r = getgrnam_r(name, &gr, buf, bufsize, &result);
                if (r != ERANGE || bufsize >= 1024 * 1024)
                        break;

                bufsize *= 2;
                free(TAKE_PTR(buf));
        }

        if (r != 0 && r != ENOENT && r != ESRCH)
                return -r;
        if (!result)
                return -ESRCH;

        *ret_gid = gr.gr_gid;
        return 0;
}

int parse_owner(const char *s, uid_t *ret_uid, gid_t *ret_gid) {
        _cleanup_free_ char *user = NULL;
        const char *colon;
        uid_t uid = (uid_t) -1;
        gid_t gid = (gid_t) -1;
        int r;

        if (isempty(s) || !ret_uid || !ret_gid)
                return -EINVAL;

        colon = strchr(s, ':');
        user = colon ? strndup(s, (size_t) (colon - s)) : strdup(s);
        if (!user)
                return -ENOMEM;
        if (isempty(user))
                return -EINVAL;

        r = lookup_user(user, &uid, &gid);
        if (r < 0)
                return r;

        if (colon) {
                if (isempty(colon + 1))
                        return -EINVAL;
                r = lookup_group(colon + 1, &gid);
                if (r < 0)
                        return r;
        } else if (gid == (gid_t) -1)
                /* A bare number that is no known user: without a group we cannot guess one. */
                return -ESRCH;

        *ret_uid = uid;
        *ret_gid = gid;
        return 0;
}

static bool dns_label_is_valid(const char *s, size_t n) {
        if (n == 0 || n > DNS_LABEL_MAX)
                return false;
        if (s[0] == '-' || s[n - 1] == '-')
                return false;

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
                        return false;
        }

        return true;
}

bool dns_name_is_valid(const char *s) {
        const char *p;
        size_t n;

        /* Certificate names carry no trailing dot (ACME servers reject "example.com."), so none is
         * accepted here. */
        if (isempty(s))
                return false;

        n = strlen(s);
        if (n > DNS_NAME_MAX)
                return false;

        p = s;
        if (strneq(p, "*.", 2)) {
                p += 2;
                n -= 2;
        }

        for (;;) {
                const char *dot = memchr(p, '.', n);
                size_t k = dot ? (size_t) (dot - p) : n;

                /* Also rejects empty labels: "a..b", ".a", "a." and "" after the wildcard. */
                if (!dns_label_is_valid(p, k))
                        return false;
                if (!dot)
                        break;

                p = dot + 1;
                n -= k + 1;
        }

        return true;
}

int ip_address_normalize(const char *s, char **ret) {
        char buf[INET6_ADDRSTRLEN];
        unsigned char addr[sizeof(struct in6_addr)];
        char *r;

        if (isempty(s) || !ret)
                return -EINVAL;

        if (inet_pton(AF_INET, s, addr) == 1) {
                if (!inet_ntop(AF_INET, addr, buf, sizeof(buf)))
                        return negative_errno();
        } else if (inet_pton(AF_INET6, s, addr) == 1) {
                if (!inet_ntop(AF_INET6, addr, buf, sizeof(buf)))
                        return negative_errno();
        } else
                return -EINVAL;

        r = strdup(buf);
        if (!r)
                return -ENOMEM;

        *ret = r;
        return 0;
}

bool email_is_valid(const char *s) {
        const char *at;
        size_t local_len;

        if (isempty(s) || strlen(s) > 254)
                return false;

        at = strrchr(s, '@');
        if (!at || at == s)
                return false;

        local_len = (size_t) (at - s);
        if (local_len > 64)
                return false;

        /* The local part: printable ASCII without spaces, quotes, angle brackets or another '@';
         * no leading, trailing or doubled dots. Quoted local parts are not supported. */
        for (size_t i = 0; i < local_len; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c <= ' ' || c >= 0x7f || strchr("\"(),:;<>@[\\]", c))
                        return false;
                if (c == '.' && (i == 0 || i == local_len - 1 || s[i + 1] == '.'))
                        return false;
        }

        /* The domain: a valid DNS name with at least one dot, no wildcard, no trailing dot. */
        if (at[1] == '*' || !strchr(at + 1, '.'))
                return false;

        return dns_name_is_valid(at + 1);
}

int parse_time_spec(const char *s, int64_t now, int64_t *ret) {
        _cleanup_free_ char *full = NULL;
        int64_t v;

        if (!s || !ret)
                return -EINVAL;

        if (s[0] != '\0' && strspn(s, "0123456789") == strlen(s)) {
                if (safe_atoi64(s, &v) < 0)
                        return -ERANGE;
                *ret = v;
                return 0;
        }
        if (parse_timestamp_rfc3339(s, &v) >= 0) {
                *ret = v;
                return 0;
        }
        if (strlen(s) == 10 && s[4] == '-' && s[7] == '-') {
                full = strjoin(s, "T00:00:00Z");
                if (!full)
                        return -ENOMEM;
                if (parse_timestamp_rfc3339(full, &v) < 0)
                        return -EINVAL;
                *ret = v;
                return 0;
        }
        if (parse_duration_sec(s, &v) < 0)
                return -EINVAL;
        if (v > now)
                return -ERANGE;
        *ret = now - v;
        return 0;
}
