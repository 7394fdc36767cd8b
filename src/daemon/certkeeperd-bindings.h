/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "certkeeperd-manager.h"
#include "store.h"

/* Adds a binding to a request, from the API's fields (kind, config, test_command, reload_command,
 * command, endpoint), with the kind's defaults filled in. -EINVAL/-ENOENT/-EOPNOTSUPP with words. */
int manager_binding_add(Manager *m, int64_t cert_id, json_t *spec, int64_t *ret_id, char **reterr);
/* id 0: all of the request's bindings. */
int manager_binding_remove(Manager *m, int64_t cert_id, int64_t id, char **reterr);
/* cert_id 0: all bindings. */
int manager_bindings_json(Manager *m, int64_t cert_id, json_t **ret);
int binding_record_to_json(const BindingRecord *b, json_t **ret);
/* Deploys the current certificate to its bindings again (no rollback: nothing was replaced).
 * Returns 0 when it runs, 1 when it waits for a free worker. */
int manager_deploy(Manager *m, int64_t cert_id, char **reterr);
