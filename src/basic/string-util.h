/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* NULL-terminated string vectors. */
char **strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char *const *l);
int strv_extend(char ***l, const char *value) _warn_unused_result_;     /* appends a copy */
int strv_consume(char ***l, char *value) _warn_unused_result_;         /* appends, takes ownership */
char **strv_copy(char *const *l);
bool strv_contains(char *const *l, const char *value);
char *strv_join(char *const *l, const char *separator);
/* Splits on any of the separator characters, dropping empty items and trimming whitespace. */
int strv_split(const char *s, const char *separators, char ***ret) _warn_unused_result_;

/* Splits a command line with shell-like quoting ('single', "double" with \ escapes, backslash)
 * into argv, without running a shell. -EINVAL on an unterminated quote or an empty command. */
int strv_split_shell(const char *s, char ***ret) _warn_unused_result_;

/* Erases a secret string (a password) before freeing it; for _cleanup_(erase_freep). */
void erase_freep(char **p);

char *strjoin_real(const char *first, ...) __attribute__((sentinel));
#define strjoin(...) strjoin_real(__VA_ARGS__, NULL)

bool startswith(const char *s, const char *prefix);
bool endswith(const char *s, const char *suffix);
char *strstrip(char *s); /* trims leading and trailing whitespace in place */

/* base64url without padding */
int base64url_encode(const void *data, size_t len, char **ret) _warn_unused_result_;
bool base64url_is_valid(const char *s);

int hex_encode(const void *data, size_t len, bool upper, char **ret) _warn_unused_result_;

#define STRV_FOREACH(s, l) for (char *const *s = (l); s && *s; s++)

/* Sets *reterr (when reterr is not NULL) to the formatted words, freeing what it held, and returns
 * r: "return errorf(reterr, -EINVAL, "...", ...);". If the words cannot be allocated *reterr
 * becomes NULL; the error code still tells what happened. */
int errorf(char **reterr, int r, const char *fmt, ...) _printf_(3, 4);
