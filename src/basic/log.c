/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dynbuf.h"
#include "log.h"

#define JOURNAL_SOCKET "/run/systemd/journal/socket"
/* Larger entries are logged as a plain line: a datagram this size always fits the journal's
 * socket buffer. */
#define JOURNAL_ENTRY_MAX (96U * 1024U)

static int max_level = LOG_INFO;
static LogTarget target = LOG_TARGET_STDERR;
static char ident[64] = "certkeeper";
static const char *journal_socket = JOURNAL_SOCKET;
static int journal_fd = -1;

void log_open(const char *ident_, LogTarget t, bool foreground) {
        if (t == LOG_TARGET_AUTO) {
                if (getenv("JOURNAL_STREAM"))
                        t = LOG_TARGET_JOURNAL;
                else if (foreground || isatty(STDERR_FILENO))
                        t = LOG_TARGET_STDERR;
                else
                        t = LOG_TARGET_SYSLOG;
        }
        target = t;
        if (ident_)
                (void) snprintf(ident, sizeof(ident), "%s", ident_);
        if (target == LOG_TARGET_SYSLOG)
                openlog(ident_, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
}

static void log_line(int level, const char *buf) {
        switch (target) {
        case LOG_TARGET_SYSLOG:
                syslog(level, "%s", buf);
                break;
        case LOG_TARGET_JOURNAL:
                fprintf(stderr, "<%i>%s\n", level, buf);
                break;
        default:
                fprintf(stderr, "%s\n", buf);
                break;
        }
}

int log_internal(int level, int error, const char *file, int line, const char *func, const char *format, ...) {
        char buf[2048];
        va_list ap;

        (void) file;
        (void) line;
        (void) func;

        if (error != 0)
                errno = abs(error);

        va_start(ap, format);
        vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);

        log_line(level, buf);
        return -abs(error);
}

void log_set_journal_socket(const char *path) {
        journal_socket = path ?: JOURNAL_SOCKET;
        if (journal_fd >= 0)
                (void) close(journal_fd);
        journal_fd = -1;
}

/* One field of the native protocol: "NAME=value\n", or, for a value with a newline, "NAME\n", its
 * length as 64-bit little endian, the value, "\n" (systemd's journal-send protocol). */
static int journal_append(DynBuf *b, const char *name, const char *value) {
        size_t len = strlen(value);
        int r;

        if (!strchr(value, '\n'))
                return dynbuf_printf(b, "%s=%s\n", name, value);

        uint8_t le[8];
        for (unsigned i = 0; i < 8; i++)
                le[i] = (uint8_t) ((uint64_t) len >> (8 * i));
        r = dynbuf_printf(b, "%s\n", name);
        if (r >= 0)
                r = dynbuf_append(b, le, sizeof(le));
        if (r >= 0)
                r = dynbuf_append(b, value, len);
        if (r >= 0)
                r = dynbuf_append(b, "\n", 1);
        return r;
}

static int journal_send(int level, const char *message_id, const LogField *fields, size_t n_fields,
                        const char *message) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(JOURNAL_ENTRY_MAX);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char prio[16];
        int r;

        if (strlen(journal_socket) >= sizeof(sa.sun_path))
                return -EINVAL;
        memcpy(sa.sun_path, journal_socket, strlen(journal_socket) + 1);

        (void) snprintf(prio, sizeof(prio), "%i", level);
        r = journal_append(&b, "MESSAGE", message);
        if (r >= 0)
                r = journal_append(&b, "PRIORITY", prio);
        if (r >= 0)
                r = journal_append(&b, "SYSLOG_IDENTIFIER", ident);
        if (r >= 0 && message_id)
                r = journal_append(&b, "MESSAGE_ID", message_id);
        for (size_t i = 0; r >= 0 && i < n_fields; i++)
                if (fields[i].name && fields[i].value)
                        r = journal_append(&b, fields[i].name, fields[i].value);
        if (r < 0)
                return r;

        if (journal_fd < 0) {
                journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
                if (journal_fd < 0)
                        return -errno;
        }
        if (sendto(journal_fd, b.data, b.len, MSG_NOSIGNAL, (const struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        return 0;
}

int log_struct(int level, const char *message_id, const LogField *fields, size_t n_fields, const char *format,
               ...) {
        char buf[2048];
        va_list ap;

        if (level > max_level)
                return 0;

        va_start(ap, format);
        vsnprintf(buf, sizeof(buf), format, ap);
        va_end(ap);

        if (target == LOG_TARGET_JOURNAL && journal_send(level, message_id, fields, n_fields, buf) >= 0)
                return 1;

        if (!message_id) {
                log_line(level, buf);
                return 0;
        }
        char line[2048 + 40];
        (void) snprintf(line, sizeof(line), "%s [%s]", buf, message_id);
        log_line(level, line);
        return 0;
}
