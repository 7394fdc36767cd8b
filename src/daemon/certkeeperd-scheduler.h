/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* Certificates ordered by next action time: a binary min-heap of (time, id) with a position
 * index by id, so that insert, update, remove and pop are O(log n). 16 bytes per entry plus
 * 4 bytes per id: 100,000 certificates take about 2 MB. */
typedef struct Scheduler Scheduler;

Scheduler *scheduler_new(void);
Scheduler *scheduler_free(Scheduler *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Scheduler *, scheduler_free);

/* Sets (adds or moves) the time of id; at <= 0 removes it. */
int scheduler_set(Scheduler *s, int64_t id, int64_t at) _warn_unused_result_;
void scheduler_remove(Scheduler *s, int64_t id);
/* Earliest time, or 0 if empty. */
int64_t scheduler_peek(Scheduler *s, int64_t *ret_id);
/* Removes and returns the earliest id whose time is <= now; 0 if none is due. */
int64_t scheduler_pop_due(Scheduler *s, int64_t now);
size_t scheduler_size(Scheduler *s);
