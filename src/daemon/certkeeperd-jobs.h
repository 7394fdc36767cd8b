/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>

#include "macro.h"

/* The work done in worker processes, outside the event loop: key generation, CSRs, signing by the
 * built-in CAs, saving key and certificate as a pair with the hooks, and reading files. Each job is
 * a JSON object {"op": ..., ...}; each reply is {"ok": true, ...} or {"ok": false, "error": "words",
 * "result": "rejected" | "unreachable" | "guidance" | "failed"}. docs/ARCHITECTURE.md lists the ops. */

int job_run(json_t *job, json_t **ret_reply);

/* Closes cached state (the local CA) of this process. */
void job_cleanup(void);
