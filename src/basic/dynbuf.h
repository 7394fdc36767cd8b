/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include "macro.h"

/* A growable buffer with a mandatory cap. Always NUL-terminated after the data. */
typedef struct DynBuf {
        char *data;
        size_t len;
        size_t allocated;
        size_t cap;
} DynBuf;

#define DYNBUF_INIT(c) ((DynBuf) { .cap = (c) })

void dynbuf_done(DynBuf *b);
/* -E2BIG if appending would exceed the cap; the buffer is unchanged then. */
int dynbuf_append(DynBuf *b, const void *data, size_t len) _warn_unused_result_;
int dynbuf_printf(DynBuf *b, const char *fmt, ...) _printf_(2, 3) _warn_unused_result_;
char *dynbuf_steal(DynBuf *b, size_t *ret_len);
