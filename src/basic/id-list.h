/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "macro.h"

/* A growable list of row ids, for collecting rows while iterating and changing them after. */
typedef struct IdList {
        int64_t *ids;
        size_t n, allocated;
} IdList;

static inline int id_list_push(IdList *l, int64_t id) {
        if (l->n == l->allocated) {
                size_t n = MAX(l->allocated * 2, (size_t) 64);
                int64_t *p = realloc(l->ids, n * sizeof(int64_t));
                if (!p)
                        return -ENOMEM;
                l->ids = p;
                l->allocated = n;
        }
        l->ids[l->n++] = id;
        return 0;
}

static inline void id_list_done(IdList *l) {
        free(l->ids);
        *l = (IdList) {};
}
