/* SPDX-License-Identifier: MIT */
/* libFuzzer entry point for strv_split_shell(), the parser of helper command lines. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *s = NULL;

        /* Command lines come from a config file: keep inputs to a sane size. */
        if (size > 64 * 1024)
                return 0;

        s = malloc(size + 1);
        if (!s)
                return 0;
        memcpy(s, data, size);
        s[size] = '\0';

        if (strv_split_shell(s, &l) < 0)
                return 0;

        /* Success means a non-empty argv; quoting only removes characters, so no word can be longer
         * than the input. */
        if (strv_length(l) == 0)
                abort();
        for (char **i = l; *i; i++)
                if (strlen(*i) > strlen(s))
                        abort();

        return 0;
}
