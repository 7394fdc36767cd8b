/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include "dynbuf.h"
#include "macro.h"
#include "store.h"

/* What /metrics says of the daemon itself. */
typedef struct MetricsDaemon {
        unsigned workers;
        unsigned workers_busy;
        int64_t start_time;   /* unix seconds */
} MetricsDaemon;

/* Appends the metrics of docs/API.md ("Metrics") to out in the Prometheus text format 0.0.4,
 * reading the store's requests a few columns at a time. -E2BIG if out's cap is too small. */
int metrics_render(Store *s, const MetricsDaemon *d, DynBuf *out) _warn_unused_result_;
