/* SPDX-License-Identifier: MIT */
#pragma once

/* Logging for programs only. Libraries (basic/, shared/, ca/) never log except at debug level. */

#include <stdbool.h>
#include <syslog.h>

#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_STDERR,  /* plain stderr */
        LOG_TARGET_JOURNAL, /* stderr with <N> priority prefixes (run by systemd) */
        LOG_TARGET_SYSLOG,
        LOG_TARGET_AUTO,    /* journal if JOURNAL_STREAM is set, stderr if a tty or foreground, else syslog */
} LogTarget;

void log_open(const char *ident, LogTarget target, bool foreground);
void log_set_max_level(int level);
int log_get_max_level(void);

/* Logs and returns 'error' (negative errno, or 0). 'error' is made available to %m. */
int log_internal(int level, int error, const char *file, int line, const char *func, const char *format, ...)
        _printf_(6, 7);

#define log_full_errno(level, error, ...)                                                              \
        ({                                                                                             \
                int _l_ = (level), _e_ = (error);                                                      \
                (log_get_max_level() >= _l_) ? log_internal(_l_, _e_, __FILE__, __LINE__, __func__, __VA_ARGS__) \
                                             : -abs(_e_);                                              \
        })

#define log_full(level, ...) (void) log_full_errno((level), 0, __VA_ARGS__)

#define log_debug(...) log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, __VA_ARGS__)
#define log_crit(...) log_full(LOG_CRIT, __VA_ARGS__)

#define log_debug_errno(error, ...) log_full_errno(LOG_DEBUG, error, __VA_ARGS__)
#define log_info_errno(error, ...) log_full_errno(LOG_INFO, error, __VA_ARGS__)
#define log_notice_errno(error, ...) log_full_errno(LOG_NOTICE, error, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, __VA_ARGS__)

#define log_oom() log_error_errno(-ENOMEM, "Out of memory.")
