/* SPDX-License-Identifier: MIT */
/* libFuzzer entry point for API request bodies: cert_json_parse_body() (size and depth caps,
 * duplicate keys), then cert_record_apply_json() and ca_record_apply_json() on fresh records, as
 * the daemon's POST and PATCH handlers do. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cert-json.h"

#define BODY_MAX (64U * 1024U)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_cert(json_t *body) {
        _cleanup_(cert_record_done) CertRecord rec = { .autorenew = true, .track = true };
        _cleanup_free_ char *err = NULL;
        json_auto_t *out = NULL;
        int r;

        r = cert_record_apply_json(&rec, body, &err);
        if (r < 0) {
                /* Every refusal explains itself. */
                if (r != -ENOMEM && !err)
                        abort();
                return;
        }

        /* What was accepted must serialize, and its template must be an object. */
        if (cert_record_to_json(&rec, &out) < 0)
                abort();
        if (!json_is_object(json_object_get(out, "template")))
                abort();
        if (json_object_get(out, "csr_pem") || json_object_get(out, "issued_pem"))
                abort();

        /* Applying the same body again onto the result must succeed too (PATCH is idempotent). */
        err = mfree(err);
        if (cert_record_apply_json(&rec, body, &err) < 0)
                abort();
}

static void check_ca(json_t *body, bool create) {
        _cleanup_(ca_record_done) CARecord rec = {};
        _cleanup_free_ char *err = NULL;
        json_auto_t *out = NULL;
        int r;

        if (!create) {
                rec.name = strdup("corp");
                rec.type = strdup("EXTERNAL");
                rec.helper = strdup("/usr/bin/true");
                if (!rec.name || !rec.type || !rec.helper)
                        return;
        }

        r = ca_record_apply_json(&rec, body, create, &err);
        if (r < 0) {
                if (r != -ENOMEM && !err)
                        abort();
                return;
        }
        if (create && (!rec.name || !rec.type))
                abort();
        if (ca_record_to_json(&rec, NULL, &out) < 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *err = NULL;
        json_auto_t *body = NULL;

        /* The API refuses larger bodies with 413 before parsing. */
        if (size > BODY_MAX)
                return 0;

        if (cert_json_parse_body(data, size, &body, &err) < 0) {
                if (!err)
                        abort();
                return 0;
        }
        if (!json_is_object(body))
                abort();

        check_cert(body);
        check_ca(body, true);
        check_ca(body, false);
        return 0;
}
