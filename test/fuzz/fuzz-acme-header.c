/* SPDX-License-Identifier: MIT */
/* Feeds arbitrary bytes, as header lines the way libcurl hands them over, to the header parsers:
 * the line splitter, then Link (up, alternate, index), Retry-After, Replay-Nonce, Location and
 * Content-Type on each value. Nothing may crash, leak or read out of bounds, and what is taken
 * must be valid. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acme-parse.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_value(const char *v) {
        _cleanup_strv_free_ char **links = NULL;
        _cleanup_free_ char *nonce = NULL, *loc = NULL;
        int64_t s = -1;

        if (acme_parse_link(v, "up", &links) >= 0 && acme_parse_link(v, "alternate", &links) >= 0 &&
            acme_parse_link(v, "index", &links) >= 0) {
                if (strv_length(links) > ACME_LIST_MAX)
                        abort();
                STRV_FOREACH(l, links)
                        if (!acme_url_is_valid(*l))
                                abort();
        }
        if (acme_parse_retry_after(v, 1700000000, &s) >= 0 && (s < 0 || s > ACME_RETRY_AFTER_MAX))
                abort();
        if (acme_parse_nonce(v, &nonce) >= 0 && (!base64url_is_valid(nonce) || strlen(nonce) > ACME_NONCE_MAX))
                abort();
        if (acme_parse_location(v, &loc) >= 0 && !acme_url_same_origin(loc, loc))
                abort();
        if ((unsigned) acme_parse_content_type(v) >= _ACME_CONTENT_TYPE_MAX)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *p = (const char *) data, *end = p + size;

        if (size > 256 * 1024)
                return 0;
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t len = nl ? (size_t) (nl - p) + 1 : (size_t) (end - p);
                _cleanup_free_ char *name = NULL, *value = NULL;

                if (acme_parse_header_line(p, len, &name, &value) > 0) {
                        if (!name || !value || strlen(name) == 0)
                                abort();
                        check_value(value);
                }
                p += len;
        }
        return 0;
}
