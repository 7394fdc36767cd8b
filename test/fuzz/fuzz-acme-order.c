/* SPDX-License-Identifier: MIT */
/* Feeds arbitrary bytes to the parsers of ACME orders, authorizations and challenges (the first byte
 * picks which ones). Nothing may crash, leak or read out of bounds; every URL taken must be valid
 * and every token base64url only. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acme-parse.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_problem(const AcmeProblem *p) {
        _cleanup_free_ char *s = NULL;

        if (!p)
                return;
        if (!p->type)
                abort();
        s = acme_problem_summary(p);
        if (s && strlen(s) >= 1024)
                abort();
}

static void check_challenge(const AcmeChallenge *c) {
        if (!c->type || !acme_url_is_valid(c->url))
                abort();
        if (c->token && (!acme_token_is_valid(c->token) || strpbrk(c->token, "./%\\")))
                abort();
        if (c->status < 0 || c->status >= _ACME_STATUS_MAX)
                abort();
        check_problem(c->error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *body;
        uint8_t sel;

        if (size < 1 || size > 2 * ACME_BODY_MAX)
                return 0;
        sel = data[0];
        body = (const char *) data + 1;
        size--;

        if (sel & 1) {
                _cleanup_(acme_order_done) AcmeOrder o = {};
                if (acme_parse_order(body, size, &o, NULL) >= 0) {
                        if (o.n_identifiers == 0 || o.n_identifiers > ACME_LIST_MAX || !acme_url_is_valid(o.finalize))
                                abort();
                        for (size_t i = 0; i < o.n_identifiers; i++)
                                if (!o.identifiers[i].type || !o.identifiers[i].value)
                                        abort();
                        STRV_FOREACH(u, o.authorizations)
                                if (!acme_url_is_valid(*u))
                                        abort();
                        if (o.certificate && !acme_url_is_valid(o.certificate))
                                abort();
                        check_problem(o.error);
                }
        }
        if (sel & 2) {
                _cleanup_(acme_authorization_done) AcmeAuthorization a = {};
                if (acme_parse_authorization(body, size, &a, NULL) >= 0) {
                        if (!a.identifier.value || a.n_challenges > ACME_LIST_MAX)
                                abort();
                        for (size_t i = 0; i < a.n_challenges; i++)
                                check_challenge(&a.challenges[i]);
                }
        }
        if (sel & 4) {
                _cleanup_(acme_challenge_done) AcmeChallenge c = {};
                if (acme_parse_challenge(body, size, &c, NULL) >= 0)
                        check_challenge(&c);
        }
        return 0;
}
