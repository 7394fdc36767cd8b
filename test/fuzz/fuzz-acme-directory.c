/* SPDX-License-Identifier: MIT */
/* Feeds arbitrary bytes to the parsers of an ACME directory, account and renewalInfo. Nothing may
 * crash, leak or read out of bounds, and every URL taken must pass acme_url_is_valid(). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "acme-parse.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_url(const char *u, bool required) {
        if (!u) {
                if (required)
                        abort();
                return;
        }
        if (!acme_url_is_valid(u))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(acme_directory_done) AcmeDirectory d = {};
        _cleanup_(acme_account_done) AcmeAccount a = {};
        _cleanup_(acme_renewal_info_done) AcmeRenewalInfo ri = {};
        _cleanup_free_ char *words = NULL;

        if (size > 2 * ACME_BODY_MAX)
                return 0;

        if (acme_parse_directory((const char *) data, size, &d, &words) >= 0) {
                check_url(d.new_nonce, true);
                check_url(d.new_account, true);
                check_url(d.new_order, true);
                check_url(d.revoke_cert, false);
                check_url(d.key_change, false);
                check_url(d.renewal_info, false);
                if (strv_length(d.profiles) > ACME_LIST_MAX)
                        abort();
        }
        words = mfree(words);
        if (acme_parse_account((const char *) data, size, &a, &words) >= 0) {
                if (a.status < 0 || a.status >= _ACME_STATUS_MAX)
                        abort();
                check_url(a.orders, false);
        }
        words = mfree(words);
        if (acme_parse_renewal_info((const char *) data, size, &ri, &words) >= 0) {
                if (ri.end < ri.start)
                        abort();
                check_url(ri.explanation_url, false);
        }
        return 0;
}
