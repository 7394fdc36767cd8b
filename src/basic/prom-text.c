/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "prom-text.h"

/* Appends s with '\\' and newlines escaped, and '"' too when quote is set (label values). */
static int append_escaped(DynBuf *b, const char *s, bool quote) {
        const char *run = s;
        int r;

        for (const char *p = s; *p; p++) {
                const char *esc = *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : quote && *p == '"' ? "\\\"" : NULL;

                if (!esc)
                        continue;
                r = dynbuf_append(b, run, (size_t) (p - run));
                if (r < 0)
                        return r;
                r = dynbuf_append(b, esc, 2);
                if (r < 0)
                        return r;
                run = p + 1;
        }
        return dynbuf_append(b, run, strlen(run));
}

int prom_text_family(DynBuf *b, const char *name, const char *type, const char *help) {
        int r;

        if (!b || !name || !type || !help)
                return -EINVAL;
        r = dynbuf_printf(b, "# HELP %s ", name);
        if (r < 0)
                return r;
        r = append_escaped(b, help, false);
        if (r < 0)
                return r;
        return dynbuf_printf(b, "\n# TYPE %s %s\n", name, type);
}

int prom_text_sample(DynBuf *b, const char *name, const char *const *labels, int64_t value) {
        int r;

        if (!b || !name)
                return -EINVAL;
        r = dynbuf_append(b, name, strlen(name));
        if (r < 0)
                return r;
        for (size_t i = 0; labels && labels[i]; i += 2) {
                r = dynbuf_printf(b, "%s%s=\"", i == 0 ? "{" : ",", labels[i]);
                if (r < 0)
                        return r;
                r = append_escaped(b, labels[i + 1] ?: "", true);
                if (r < 0)
                        return r;
                r = dynbuf_append(b, "\"", 1);
                if (r < 0)
                        return r;
        }
        return dynbuf_printf(b, "%s %" PRId64 "\n", labels && labels[0] ? "}" : "", value);
}
