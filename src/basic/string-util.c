/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "string-util.h"

#define WHITESPACE " \t\n\r\f\v"

char **strv_free(char **l) {
        if (!l)
                return NULL;
        for (char **i = l; *i; i++)
                free(*i);
        free(l);
        return NULL;
}

size_t strv_length(char *const *l) {
        size_t n = 0;

        if (!l)
                return 0;
        while (l[n])
                n++;
        return n;
}

int strv_consume(char ***l, char *value) {
        char **c;
        size_t n;

        if (!l || !value) {
                free(value);
                return -EINVAL;
        }

        n = strv_length(*l);
        if (n > SIZE_MAX / sizeof(char *) - 2) {
                free(value);
                return -ENOMEM;
        }

        c = realloc(*l, sizeof(char *) * (n + 2));
        if (!c) {
                free(value);
                return -ENOMEM;
        }

        c[n] = value;
        c[n + 1] = NULL;
        *l = c;
        return 0;
}

int strv_extend(char ***l, const char *value) {
        char *v;

        if (!value)
                return -EINVAL;

        v = strdup(value);
        if (!v)
                return -ENOMEM;

        return strv_consume(l, v);
}

char **strv_copy(char *const *l) {
        _cleanup_strv_free_ char **c = NULL;
        size_t n = strv_length(l);

        c = calloc(n + 1, sizeof(char *));
        if (!c)
                return NULL;

        for (size_t i = 0; i < n; i++) {
                c[i] = strdup(l[i]);
                if (!c[i])
                        return NULL;
        }

        return TAKE_PTR(c);
}

bool strv_contains(char *const *l, const char *value) {
        if (!l || !value)
                return false;
        for (char *const *i = l; *i; i++)
                if (streq(*i, value))
                        return true;
        return false;
}

char *strv_join(char *const *l, const char *separator) {
        size_t n = 0, k, seplen;
        char *r, *p;

        if (!separator)
                separator = " ";
        seplen = strlen(separator);

        k = strv_length(l);
        for (size_t i = 0; i < k; i++)
                n += strlen(l[i]) + (i > 0 ? seplen : 0);

        r = malloc(n + 1);
        if (!r)
                return NULL;

        p = r;
        for (size_t i = 0; i < k; i++) {
                size_t len;

                if (i > 0) {
                        memcpy(p, separator, seplen);
                        p += seplen;
                }
                len = strlen(l[i]);
                memcpy(p, l[i], len);
                p += len;
        }
        *p = '\0';

        return r;
}

int strv_split(const char *s, const char *separators, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        const char *p;
        int r;

        if (!s || !separators || !ret)
                return -EINVAL;

        /* Start with an empty (non-NULL) vector so that the result is never NULL. */
        l = calloc(1, sizeof(char *));
        if (!l)
                return -ENOMEM;

        p = s;
        for (;;) {
                size_t n = strcspn(p, separators);
                _cleanup_free_ char *item = strndup(p, n);

                if (!item)
                        return -ENOMEM;

                strstrip(item);
                if (!isempty(item)) {
                        r = strv_consume(&l, TAKE_PTR(item));
                        if (r < 0)
                                return r;
                }

                if (p[n] == '\0')
                        break;
                p += n + 1;
        }

        *ret = TAKE_PTR(l);
        return 0;
}

/* Appends one character to a growing word. */
static int word_append(char **word, size_t *len, size_t *allocated, char c) {
        if (*len + 2 > *allocated) {
                size_t a = MAX(*allocated * 2, (size_t) 16);
                char *w = realloc(*word, a);

                if (!w)
                        return -ENOMEM;
                *word = w;
                *allocated = a;
        }

        (*word)[(*len)++] = c;
        (*word)[*len] = '\0';
        return 0;
}

int strv_split_shell(const char *s, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *word = NULL;
        size_t len = 0, allocated = 0;
        bool in_word = false;
        enum {
                STATE_BARE,
                STATE_SINGLE,
                STATE_DOUBLE,
        } state = STATE_BARE;
        int r;

        if (!s || !ret)
                return -EINVAL;

        for (const char *p = s;; p++) {
                char c = *p;

                switch (state) {

                case STATE_BARE:
                        if (c == '\0' || strchr(WHITESPACE, c)) {
                                if (in_word) {
                                        /* An empty quoted word ('' or "") still counts as an argument. */
                                        if (!word) {
                                                word = strdup("");
                                                if (!word)
                                                        return -ENOMEM;
                                        }
                                        r = strv_consume(&l, TAKE_PTR(word));
                                        if (r < 0)
                                                return r;
                                        len = allocated = 0;
                                        in_word = false;
                                }
                                if (c == '\0')
                                        goto done;
                        } else if (c == '\'') {
                                state = STATE_SINGLE;
                                in_word = true;
                        } else if (c == '"') {
                                state = STATE_DOUBLE;
                                in_word = true;
                        } else if (c == '\\') {
                                /* A backslash quotes the next character; a trailing one is an error. A
                                 * backslash-newline is a line continuation, as in sh. */
                                if (p[1] == '\0')
                                        return -EINVAL;
                                p++;
                                if (*p == '\n')
                                        continue;
                                r = word_append(&word, &len, &allocated, *p);
                                if (r < 0)
                                        return r;
                                in_word = true;
                        } else {
                                r = word_append(&word, &len, &allocated, c);
                                if (r < 0)
                                        return r;
                                in_word = true;
                        }
                        break;

                case STATE_SINGLE:
                        if (c == '\0')
                                return -EINVAL;
                        if (c == '\'')
                                state = STATE_BARE;
                        else {
                                r = word_append(&word, &len, &allocated, c);
                                if (r < 0)
                                        return r;
                        }
                        break;

                case STATE_DOUBLE:
                        if (c == '\0')
                                return -EINVAL;
                        if (c == '"')
                                state = STATE_BARE;
                        else if (c == '\\' && p[1] != '\0' && strchr("\"\\$`\n", p[1])) {
                                /* Inside double quotes, as in sh, a backslash only escapes " \ $ ` and
                                 * newline (the latter is a line continuation); elsewhere it is literal. */
                                p++;
                                if (*p == '\n')
                                        continue;
                                r = word_append(&word, &len, &allocated, *p);
                                if (r < 0)
                                        return r;
                        } else {
                                r = word_append(&word, &len, &allocated, c);
                                if (r < 0)
                                        return r;
                        }
                        break;
                }
        }

done:
        if (strv_length(l) == 0)
                return -EINVAL;

        *ret = TAKE_PTR(l);
        return 0;
}

void erase_freep(char **p) {
        if (*p) {
                explicit_bzero(*p, strlen(*p));
                *p = mfree(*p);
        }
}

char *strjoin_real(const char *first, ...) {
        va_list ap;
        size_t n = 0;
        char *r, *p;

        va_start(ap, first);
        for (const char *s = first; s; s = va_arg(ap, const char *)) {
                size_t k = strlen(s);

                if (n > SIZE_MAX - k - 1) {
                        va_end(ap);
                        return NULL;
                }
                n += k;
        }
        va_end(ap);

        r = malloc(n + 1);
        if (!r)
                return NULL;

        p = r;
        va_start(ap, first);
        for (const char *s = first; s; s = va_arg(ap, const char *)) {
                size_t k = strlen(s);

                memcpy(p, s, k);
                p += k;
        }
        va_end(ap);
        *p = '\0';

        return r;
}

bool startswith(const char *s, const char *prefix) {
        if (!s || !prefix)
                return false;
        return strneq(s, prefix, strlen(prefix));
}

bool endswith(const char *s, const char *suffix) {
        size_t ls, lx;

        if (!s || !suffix)
                return false;
        ls = strlen(s);
        lx = strlen(suffix);
        if (lx > ls)
                return false;
        return memcmp(s + ls - lx, suffix, lx) == 0;
}

char *strstrip(char *s) {
        char *e;
        size_t skip, n;

        if (!s)
                return NULL;

        skip = strspn(s, WHITESPACE);
        n = strlen(s + skip);
        memmove(s, s + skip, n + 1);

        e = s + n;
        while (e > s && strchr(WHITESPACE, e[-1]))
                e--;
        *e = '\0';

        return s;
}

static const char base64url_table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int base64url_encode(const void *data, size_t len, char **ret) {
        const uint8_t *d = data;
        char *r, *p;
        size_t i;

        if ((!data && len > 0) || !ret)
                return -EINVAL;
        if (len > (SIZE_MAX - 1) / 4 * 3)
                return -ENOMEM;

        r = malloc((len + 2) / 3 * 4 + 1);
        if (!r)
                return -ENOMEM;

        p = r;
        for (i = 0; i + 3 <= len; i += 3) {
                *p++ = base64url_table[d[i] >> 2];
                *p++ = base64url_table[((d[i] & 0x03) << 4) | (d[i + 1] >> 4)];
                *p++ = base64url_table[((d[i + 1] & 0x0f) << 2) | (d[i + 2] >> 6)];
                *p++ = base64url_table[d[i + 2] & 0x3f];
        }

        if (len - i == 1) {
                *p++ = base64url_table[d[i] >> 2];
                *p++ = base64url_table[(d[i] & 0x03) << 4];
        } else if (len - i == 2) {
                *p++ = base64url_table[d[i] >> 2];
                *p++ = base64url_table[((d[i] & 0x03) << 4) | (d[i + 1] >> 4)];
                *p++ = base64url_table[(d[i + 1] & 0x0f) << 2];
        }
        *p = '\0';

        *ret = r;
        return 0;
}

bool base64url_is_valid(const char *s) {
        /* Non-empty, only the base64url alphabet, no padding, and a length that can be decoded (a
         * remainder of 1 character modulo 4 cannot encode a whole byte). */
        size_t n;

        if (isempty(s))
                return false;

        n = strspn(s, base64url_table);
        if (s[n] != '\0')
                return false;

        return n % 4 != 1;
}

int hex_encode(const void *data, size_t len, bool upper, char **ret) {
        const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
        const uint8_t *d = data;
        char *r;

        if ((!data && len > 0) || !ret)
                return -EINVAL;
        if (len > (SIZE_MAX - 1) / 2)
                return -ENOMEM;

        r = malloc(len * 2 + 1);
        if (!r)
                return -ENOMEM;

        for (size_t i = 0; i < len; i++) {
                r[i * 2] = digits[d[i] >> 4];
                r[i * 2 + 1] = digits[d[i] & 0x0f];
        }
        r[len * 2] = '\0';

        *ret = r;
        return 0;
}

int errorf(char **reterr, int r, const char *fmt, ...) {
        va_list ap;
        char *m = NULL;

        if (!reterr)
                return r;
        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        free(*reterr);
        *reterr = m;
        return r;
}
