/* SPDX-License-Identifier: MIT */
#pragma once

/* Reading one member of a JSON object: NULL, 0 or false when it is missing or of another type. */

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

static inline const char *jstr(json_t *o, const char *k) {
        return json_string_value(json_object_get(o, k));
}

static inline int64_t jint(json_t *o, const char *k) {
        return json_integer_value(json_object_get(o, k));
}

static inline bool jbool(json_t *o, const char *k) {
        return json_is_true(json_object_get(o, k));
}
