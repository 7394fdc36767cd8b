/* SPDX-License-Identifier: MIT */
#include <stdlib.h>

#include "certkeeperd-scheduler.h"

typedef struct Entry {
        int64_t at;
        int64_t id;
} Entry;

struct Scheduler {
        Entry *heap;
        size_t n, allocated;
        uint32_t *pos; /* pos[id] = index + 1 in heap, 0 = absent */
        size_t pos_allocated;
};

Scheduler *scheduler_new(void) {
        return calloc(1, sizeof(Scheduler));
}

Scheduler *scheduler_free(Scheduler *s) {
        if (!s)
                return NULL;
        free(s->heap);
        free(s->pos);
        free(s);
        return NULL;
}

static void place(Scheduler *s, size_t i, Entry e) {
        s->heap[i] = e;
        s->pos[e.id] = (uint32_t) i + 1;
}

static void sift_up(Scheduler *s, size_t i) {
        Entry e = s->heap[i];

        while (i > 0) {
                size_t parent = (i - 1) / 2;
                if (s->heap[parent].at <= e.at)
                        break;
                place(s, i, s->heap[parent]);
                i = parent;
        }
        place(s, i, e);
}

static void sift_down(Scheduler *s, size_t i) {
        Entry e = s->heap[i];

        for (;;) {
                size_t l = 2 * i + 1, r = l + 1, m = i;
                int64_t best = e.at;

                if (l < s->n && s->heap[l].at < best) {
                        m = l;
                        best = s->heap[l].at;
                }
                if (r < s->n && s->heap[r].at < best)
                        m = r;
                if (m == i)
                        break;
                place(s, i, s->heap[m]);
                i = m;
        }
        place(s, i, e);
}

static int ensure_pos(Scheduler *s, int64_t id) {
        size_t need;

        if (id <= 0 || id > UINT32_MAX)
                return -ERANGE;
        need = (size_t) id + 1;
        if (need <= s->pos_allocated)
                return 0;
        size_t n = MAX(need, s->pos_allocated * 2);
        n = MAX(n, (size_t) 1024);
        uint32_t *p = realloc(s->pos, n * sizeof(uint32_t));
        if (!p)
                return -ENOMEM;
        memset(p + s->pos_allocated, 0, (n - s->pos_allocated) * sizeof(uint32_t));
        s->pos = p;
        s->pos_allocated = n;
        return 0;
}

void scheduler_remove(Scheduler *s, int64_t id) {
        size_t i;

        if (id <= 0 || (size_t) id >= s->pos_allocated || s->pos[id] == 0)
                return;
        i = s->pos[id] - 1;
        s->pos[id] = 0;
        s->n--;
        if (i == s->n)
                return;
        Entry moved = s->heap[s->n];
        place(s, i, moved);
        sift_up(s, i);
        if (s->pos[moved.id] - 1 == i)
                sift_down(s, i);
}

int scheduler_set(Scheduler *s, int64_t id, int64_t at) {
        int r;

        if (at <= 0) {
                scheduler_remove(s, id);
                return 0;
        }

        r = ensure_pos(s, id);
        if (r < 0)
                return r;

        if (s->pos[id] != 0) {
                size_t i = s->pos[id] - 1;
                int64_t old = s->heap[i].at;
                s->heap[i].at = at;
                if (at < old)
                        sift_up(s, i);
                else
                        sift_down(s, i);
                return 0;
        }

        if (s->n == s->allocated) {
                size_t n = MAX(s->allocated * 2, (size_t) 1024);
                Entry *h = realloc(s->heap, n * sizeof(Entry));
                if (!h)
                        return -ENOMEM;
                s->heap = h;
                s->allocated = n;
        }
        place(s, s->n, (Entry) { .at = at, .id = id });
        s->n++;
        sift_up(s, s->n - 1);
        return 0;
}

int64_t scheduler_peek(Scheduler *s, int64_t *ret_id) {
        if (s->n == 0)
                return 0;
        if (ret_id)
                *ret_id = s->heap[0].id;
        return s->heap[0].at;
}

int64_t scheduler_pop_due(Scheduler *s, int64_t now) {
        int64_t id;

        if (s->n == 0 || s->heap[0].at > now)
                return 0;
        id = s->heap[0].id;
        scheduler_remove(s, id);
        return id;
}

size_t scheduler_size(Scheduler *s) {
        return s->n;
}
