/* SPDX-License-Identifier: MIT */
#pragma once

/* Logging for programs only. Libraries (basic/, shared/, ca/) never log except at debug level. */

#include <stdbool.h>
#include <stddef.h>
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

/* One field of a structured log entry, for the journal: name is upper-case letters, digits and
 * underscores (journal rules), value any text (newlines allowed). */
typedef struct LogField {
        const char *name;
        const char *value;
} LogField;

/* A log entry with a MESSAGE_ID and fields. When logging to the journal (LOG_TARGET_JOURNAL), it is
 * sent over the native journal protocol (one datagram to /run/systemd/journal/socket) with MESSAGE,
 * PRIORITY, SYSLOG_IDENTIFIER, MESSAGE_ID and the fields; fields whose value is NULL are left out.
 * Otherwise, or when the datagram cannot be sent, it is the ordinary log line with " [MESSAGE_ID]"
 * appended. Returns 1 if it went to the journal as a structured entry, 0 otherwise. */
int log_struct(int level, const char *message_id, const LogField *fields, size_t n_fields, const char *format,
               ...) _printf_(5, 6);
/* Where log_struct() sends datagrams; for tests (NULL: the default path). */
void log_set_journal_socket(const char *path);

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
