/* SPDX-License-Identifier: MIT */
/* The config file parser on arbitrary input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "certkeeperd-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *text, *err = NULL;
        Config c;

        if (size > 65536)
                return 0;
        text = malloc(size + 1);
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';

        config_init(&c);
        if (config_parse_string(&c, text, "fuzz", false, &err) < 0) {
                free(err);
                err = NULL;
        }
        if (config_parse_string(&c, text, "fuzz", true, &err) < 0)
                free(err);
        config_done(&c);
        free(text);
        return 0;
}
