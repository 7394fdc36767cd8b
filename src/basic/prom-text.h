/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

#include "dynbuf.h"
#include "macro.h"

/* The Prometheus text exposition format, version 0.0.4: one family is its HELP and TYPE lines
 * followed by its samples, never interleaved with another family's. */
#define PROM_TEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* "# HELP name help" and "# TYPE name type" (type: "gauge", "counter", ...); the help text gets
 * its backslashes and newlines escaped. */
int prom_text_family(DynBuf *b, const char *name, const char *type, const char *help) _warn_unused_result_;

/* One sample: "name{l1="v1",l2="v2"} value". labels holds name/value pairs and ends with a NULL
 * name (NULL or empty for no labels); a NULL value is written as "". Label values get their
 * backslashes, double quotes and newlines escaped. */
int prom_text_sample(DynBuf *b, const char *name, const char *const *labels, int64_t value) _warn_unused_result_;
