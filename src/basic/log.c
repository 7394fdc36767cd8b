/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"

static int max_level = LOG_INFO;
static LogTarget target = LOG_TARGET_STDERR;

void log_open(const char *ident, LogTarget t, bool foreground) {
        if (t == LOG_TARGET_AUTO) {
                if (getenv("JOURNAL_STREAM"))
                        t = LOG_TARGET_JOURNAL;
                else if (foreground || isatty(STDERR_FILENO))
                        t = LOG_TARGET_STDERR;
                else
                        t = LOG_TARGET_SYSLOG;
        }
        target = t;
        if (target == LOG_TARGET_SYSLOG)
                openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_max_level(int level) {
        max_level = level;
}

int log_get_max_level(void) {
        return max_level;
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

        return -abs(error);
}
