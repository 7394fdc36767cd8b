/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dynbuf.h"

void dynbuf_done(DynBuf *b) {
        if (!b)
                return;
        free(b->data);
        b->data = NULL;
        b->len = b->allocated = 0;
}

/* Makes room for len more bytes plus the terminating NUL, honouring the cap. */
static int dynbuf_reserve(DynBuf *b, size_t len) {
        size_t need, a;
        char *d;

        if (len > b->cap || b->len > b->cap - len)
                return -E2BIG;

        need = b->len + len + 1;
        if (need <= b->allocated)
                return 0;

        /* Grow geometrically, but never beyond what the cap can ever need. */
        a = MAX(b->allocated, (size_t) 64);
        while (a < need)
                a = a > SIZE_MAX / 2 ? need : a * 2;
        if (b->cap < SIZE_MAX)
                a = MIN(a, b->cap + 1);

        d = realloc(b->data, a);
        if (!d)
                return -ENOMEM;

        b->data = d;
        b->allocated = a;
        return 0;
}

int dynbuf_append(DynBuf *b, const void *data, size_t len) {
        int r;

        if (!b || (!data && len > 0))
                return -EINVAL;

        r = dynbuf_reserve(b, len);
        if (r < 0)
                return r;

        if (len > 0)
                memcpy(b->data + b->len, data, len);
        b->len += len;
        b->data[b->len] = '\0';
        return 0;
}

int dynbuf_printf(DynBuf *b, const char *fmt, ...) {
        va_list ap;
        int n, r;

        if (!b || !fmt)
                return -EINVAL;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;

        r = dynbuf_reserve(b, (size_t) n);
        if (r < 0)
                return r;

        va_start(ap, fmt);
        n = vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
        va_end(ap);
        if (n < 0) {
                b->data[b->len] = '\0';
                return -EINVAL;
        }

        b->len += (size_t) n;
        return 0;
}

char *dynbuf_steal(DynBuf *b, size_t *ret_len) {
        char *d;

        if (!b)
                return NULL;

        /* An empty buffer still yields an allocated empty string, so callers can tell OOM apart. */
        if (!b->data) {
                d = strdup("");
                if (!d)
                        return NULL;
        } else
                d = TAKE_PTR(b->data);

        if (ret_len)
                *ret_len = b->len;

        b->len = b->allocated = 0;
        return d;
}
