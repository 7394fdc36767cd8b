/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "dynbuf.h"
#include "pki-csr.h"
#include "macro.h"
#include "store.h"

/* The JSON shapes of docs/API.md: certificate and CA objects out, request fields in.
 *
 * The *_apply_json() functions change the record only on success (all fields are checked before
 * anything is applied). Their errors:
 *   -EINVAL  a field has a wrong type or a bad value (reterr names the field, the value and what to do)
 *   -ENOENT  the body has a field that is not a request field (reterr names it)
 *   -ENODATA a required field is missing (reterr names it)
 *   -ENOMEM
 */

/* Nesting and size caps of API bodies. */
#define CERT_JSON_MAX_DEPTH 32U
#define CERT_JSON_MAX_ITEMS 1000U /* entries per SAN/KU/EKU array */

/* Parses a request body: at most CERT_JSON_MAX_DEPTH levels of nesting, duplicate keys refused,
 * must be an object (an empty body gives an empty object). -EINVAL with the parse error's line
 * and column in reterr. */
int cert_json_parse_body(const void *data, size_t size, json_t **ret, char **reterr) _warn_unused_result_;

/* The certificate object. csr_pem and issued_pem are never exposed. */
int cert_record_to_json(const CertRecord *r, json_t **ret) _warn_unused_result_;

/* The same object as cert_record_to_json(), written as compact JSON text straight into out, without
 * building a json_t: for long lists. -E2BIG if out's cap is reached. */
int cert_record_append_json(const CertRecord *r, DynBuf *out) _warn_unused_result_;

/* Applies the request fields of body onto r; template_json is merged, so only the given template
 * fields change. */
int cert_record_apply_json(CertRecord *r, json_t *body, char **reterr) _warn_unused_result_;

/* The requested template with every key present (defaults for the missing ones), as stored. */
int cert_template_normalize(const char *template_json, char **ret) _warn_unused_result_;

/* A stored template (template_json) as a CertTemplate. *t is always initialised (cert_template_done()
 * it); a NULL or non-object o gives an empty template. -EINVAL with words for an unknown key usage. */
int cert_template_from_json(json_t *o, CertTemplate *t, char **reterr) _warn_unused_result_;

/* The CA object; roots_path may be NULL. */
int ca_record_to_json(const CARecord *r, const char *roots_path, json_t **ret) _warn_unused_result_;

/* create: POST (name and type required); otherwise PATCH (name and type may only repeat the
 * current values). */
int ca_record_apply_json(CARecord *r, json_t *body, bool create, char **reterr) _warn_unused_result_;

/* A JSON string for stored text that may not be UTF-8 (hook output, paths): if s is not valid
 * UTF-8, its non-ASCII bytes become '?'. NULL gives JSON null. Returns NULL only on OOM. */
json_t *cert_json_text(const char *s);
