/* SPDX-License-Identifier: MIT */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _unused_ __attribute__((unused))
#define _warn_unused_result_ __attribute__((warn_unused_result))
#define _noreturn_ __attribute__((noreturn))
#define _pure_ __attribute__((pure))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define TAKE_PTR(p)                          \
        ({                                   \
                __typeof__(p) _ptr_ = (p);   \
                (p) = NULL;                  \
                _ptr_;                       \
        })

#define TAKE_FD(fd)                          \
        ({                                   \
                int _fd_ = (fd);             \
                (fd) = -EBADF;               \
                _fd_;                        \
        })

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define streq(a, b) (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)

/* Equal strings, where NULL equals only NULL. */
static inline bool streq_ptr(const char *a, const char *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a, b) == 0;
}

static inline const char *strna(const char *s) {
        return s ? s : "n/a";
}

static inline const char *strempty(const char *s) {
        return s ? s : "";
}

static inline bool isempty(const char *s) {
        return !s || s[0] == '\0';
}

static inline void freep(void *p) {
        free(*(void **) p);
}

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

/* Defines a cleanup helper for a pointer to a type freed by a function that accepts NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)         \
        static inline void func##p(type *p) {           \
                if (*p)                                 \
                        func(*p);                       \
        }

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)

/* Errors from errno: always a negative value, never 0, even if errno was clobbered. */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

#define RET_NERRNO(expr)                         \
        ({                                       \
                __typeof__(expr) _r_ = (expr);   \
                _r_ < 0 ? negative_errno() : _r_; \
        })

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

/* Closes fd if valid and returns -EBADF, for "fd = safe_close(fd);". Keeps errno. */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -EBADF;
}

#define _fallthrough_ __attribute__((__fallthrough__))

#define CLAMP(x, lo, hi) MIN(MAX((x), (lo)), (hi))

/* True if x equals one of the following values: IN_SET(errno, EINTR, EAGAIN). */
#define IN_SET(x, ...)                                                         \
        ({                                                                     \
                const __typeof__(x) _in_set_x_ = (x);                          \
                const __typeof__(x) _in_set_v_[] = { __VA_ARGS__ };            \
                bool _in_set_found_ = false;                                   \
                for (size_t _in_set_i_ = 0; _in_set_i_ < ELEMENTSOF(_in_set_v_); _in_set_i_++) \
                        if (_in_set_v_[_in_set_i_] == _in_set_x_) {            \
                                _in_set_found_ = true;                         \
                                break;                                         \
                        }                                                      \
                _in_set_found_;                                                \
        })
