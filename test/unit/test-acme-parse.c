/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

#include "acme-parse.h"
#include "string-util.h"
#include "tests.h"

#define P(s) (s), strlen(s)

static const char pebble_directory[] =
        "{\n"
        "   \"keyChange\": \"https://127.0.0.1:14000/rollover-account-key\",\n"
        "   \"meta\": {\n"
        "      \"externalAccountRequired\": false,\n"
        "      \"termsOfService\": \"data:text/plain,Do%20what%20thou%20wilt\"\n"
        "   },\n"
        "   \"newAccount\": \"https://127.0.0.1:14000/sign-me-up\",\n"
        "   \"newNonce\": \"https://127.0.0.1:14000/nonce-plz\",\n"
        "   \"newOrder\": \"https://127.0.0.1:14000/order-plz\",\n"
        "   \"revokeCert\": \"https://127.0.0.1:14000/revoke-cert\"\n"
        "}\n";

static const char le_directory[] =
        "{\"keyChange\":\"https://acme.test/acme/key-change\",\"newAccount\":\"https://acme.test/acme/new-acct\","
        "\"newNonce\":\"https://acme.test/acme/new-nonce\",\"newOrder\":\"https://acme.test/acme/new-order\","
        "\"renewalInfo\":\"https://acme.test/acme/renewal-info\",\"revokeCert\":\"https://acme.test/acme/revoke-cert\","
        "\"Xq3w9zXk\":\"https://community.test/adding-random-entries\","
        "\"meta\":{\"caaIdentities\":[\"letsencrypt.org\"],\"profiles\":{\"classic\":\"default\",\"shortlived\":"
        "\"6 days\",\"bad name!\":\"x\"},\"termsOfService\":\"https://acme.test/tos.pdf\",\"website\":"
        "\"https://acme.test\",\"externalAccountRequired\":true}}";

TEST(directory) {
        _cleanup_(acme_directory_done) AcmeDirectory d = {}, e = {};

        ASSERT_OK(acme_parse_directory(P(pebble_directory), &d, NULL));
        ASSERT_STREQ(d.new_nonce, "https://127.0.0.1:14000/nonce-plz");
        ASSERT_STREQ(d.new_account, "https://127.0.0.1:14000/sign-me-up");
        ASSERT_STREQ(d.new_order, "https://127.0.0.1:14000/order-plz");
        ASSERT_STREQ(d.key_change, "https://127.0.0.1:14000/rollover-account-key");
        ASSERT_STREQ(d.terms_of_service, "data:text/plain,Do%20what%20thou%20wilt");
        ASSERT_NULL(d.renewal_info);
        ASSERT_NULL(d.profiles);
        ASSERT_FALSE(d.external_account_required);

        ASSERT_OK(acme_parse_directory(P(le_directory), &e, NULL));
        ASSERT_STREQ(e.renewal_info, "https://acme.test/acme/renewal-info");
        ASSERT_TRUE(e.external_account_required);
        ASSERT_EQ(strv_length(e.profiles), 2);
        ASSERT_TRUE(strv_contains(e.profiles, "classic"));
        ASSERT_TRUE(strv_contains(e.profiles, "shortlived"));
        ASSERT_TRUE(strv_contains(e.caa_identities, "letsencrypt.org"));
}

TEST(directory_hostile) {
        AcmeDirectory d = {};
        _cleanup_free_ char *words = NULL, *big = NULL;

        ASSERT_ERROR(acme_parse_directory(P("{\"newAccount\":\"https://a/x\",\"newOrder\":\"https://a/o\"}"), &d, &words),
                     EBADMSG);
        ASSERT_NOT_NULL(strstr(words, "newNonce"));
        ASSERT_ERROR(acme_parse_directory(P("[]"), &d, NULL), EBADMSG);
        ASSERT_ERROR(acme_parse_directory(P("{"), &d, NULL), EBADMSG);
        ASSERT_ERROR(acme_parse_directory(P(""), &d, NULL), EBADMSG);
        ASSERT_ERROR(acme_parse_directory(P("{\"newNonce\":\"javascript:alert(1)\",\"newAccount\":\"https://a/\","
                                            "\"newOrder\":\"https://a/\"}"),
                                          &d, NULL),
                     EBADMSG);
        ASSERT_ERROR(acme_parse_directory(P("{\"newNonce\":\"https://user@evil/\",\"newAccount\":\"https://a/\","
                                            "\"newOrder\":\"https://a/\"}"),
                                          &d, NULL),
                     EBADMSG);
        ASSERT_ERROR(acme_parse_directory(P("{\"newNonce\":42,\"newAccount\":\"https://a/\",\"newOrder\":\"https://a/\"}"),
                                          &d, NULL),
                     EBADMSG);
        /* Duplicate keys are refused: which one wins is ambiguous. */
        ASSERT_ERROR(acme_parse_directory(P("{\"newNonce\":\"https://a/\",\"newNonce\":\"https://b/\","
                                            "\"newAccount\":\"https://a/\",\"newOrder\":\"https://a/\"}"),
                                          &d, NULL),
                     EBADMSG);
        /* Embedded NUL. */
        ASSERT_ERROR(acme_parse_directory(P("{\"newNonce\":\"https://a/\\u0000x\",\"newAccount\":\"https://a/\","
                                            "\"newOrder\":\"https://a/\"}"),
                                          &d, NULL),
                     EBADMSG);
        big = malloc(ACME_BODY_MAX + 2);
        memset(big, ' ', ACME_BODY_MAX + 1);
        big[ACME_BODY_MAX + 1] = '\0';
        ASSERT_ERROR(acme_parse_directory(big, ACME_BODY_MAX + 1, &d, NULL), E2BIG);
        /* Deep nesting is an error, not a stack overflow. */
        {
                size_t n = 100000;
                _cleanup_free_ char *deep = malloc(2 * n + 1);
                memset(deep, '[', n);
                memset(deep + n, ']', n);
                deep[2 * n] = '\0';
                ASSERT_ERROR(acme_parse_directory(deep, 2 * n, &d, NULL), EBADMSG);
        }
}

static const char order_pending[] =
        "{\"status\":\"pending\",\"expires\":\"2026-11-30T10:00:00Z\",\"identifiers\":[{\"type\":\"dns\",\"value\":"
        "\"www.example.test\"},{\"type\":\"ip\",\"value\":\"127.0.0.1\"}],\"authorizations\":[\"https://ca.test/"
        "authz/1\",\"https://ca.test/authz/2\"],\"finalize\":\"https://ca.test/order/1/finalize\"}";

TEST(order) {
        _cleanup_(acme_order_done) AcmeOrder o = {}, v = {}, bad = {};

        ASSERT_OK(acme_parse_order(P(order_pending), &o, NULL));
        ASSERT_EQ(o.status, ACME_STATUS_PENDING);
        ASSERT_EQ(o.expires, 1796032800);
        ASSERT_EQ(o.n_identifiers, 2);
        ASSERT_STREQ(o.identifiers[1].type, "ip");
        ASSERT_STREQ(o.identifiers[1].value, "127.0.0.1");
        ASSERT_EQ(strv_length(o.authorizations), 2);
        ASSERT_STREQ(o.finalize, "https://ca.test/order/1/finalize");
        ASSERT_NULL(o.certificate);
        ASSERT_NULL(o.error);

        ASSERT_OK(acme_parse_order(P("{\"status\":\"valid\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
                                     "\"authorizations\":[],\"finalize\":\"https://ca.test/f\",\"certificate\":"
                                     "\"https://ca.test/cert/1\",\"profile\":\"shortlived\"}"),
                                   &v, NULL));
        ASSERT_EQ(v.status, ACME_STATUS_VALID);
        ASSERT_STREQ(v.certificate, "https://ca.test/cert/1");
        ASSERT_STREQ(v.profile, "shortlived");

        ASSERT_OK(acme_parse_order(
                P("{\"status\":\"invalid\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],\"authorizations\":"
                  "[],\"finalize\":\"https://ca.test/f\",\"error\":{\"type\":\"urn:ietf:params:acme:error:caa\","
                  "\"detail\":\"CAA forbids\",\"status\":403}}"),
                &bad, NULL));
        ASSERT_EQ(bad.status, ACME_STATUS_INVALID);
        ASSERT_NOT_NULL(bad.error);
        ASSERT_STREQ(bad.error->type, "caa");
        ASSERT_STREQ(bad.error->detail, "CAA forbids");
        ASSERT_EQ(bad.error->status, 403);
}

TEST(order_hostile) {
        AcmeOrder o = {};

        ASSERT_ERROR(acme_parse_order(P("{\"status\":\"weird\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a\"}],"
                                        "\"authorizations\":[],\"finalize\":\"https://ca.test/f\"}"),
                                      &o, NULL),
                     EBADMSG);
        ASSERT_ERROR(acme_parse_order(P("{\"status\":\"pending\",\"identifiers\":[],\"authorizations\":[],"
                                        "\"finalize\":\"https://ca.test/f\"}"),
                                      &o, NULL),
                     EBADMSG);
        ASSERT_ERROR(acme_parse_order(P("{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a\"}],"
                                        "\"authorizations\":[\"file:///etc/passwd\"],\"finalize\":\"https://ca.test/f\"}"),
                                      &o, NULL),
                     EBADMSG);
        ASSERT_ERROR(acme_parse_order(P("{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a\"}],"
                                        "\"authorizations\":[]}"),
                                      &o, NULL),
                     EBADMSG);
        ASSERT_ERROR(acme_parse_order(P("{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\"}],"
                                        "\"authorizations\":[],\"finalize\":\"https://ca.test/f\"}"),
                                      &o, NULL),
                     EBADMSG);
        ASSERT_ERROR(acme_parse_order(P("{\"status\":\"pending\",\"identifiers\":[{\"type\":\"dns\",\"value\":\"a\"}],"
                                        "\"authorizations\":{},\"finalize\":\"https://ca.test/f\"}"),
                                      &o, NULL),
                     EBADMSG);
        ASSERT_EQ(o.status, 0); /* untouched */
}

static const char authz_wildcard[] =
        "{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":\"example.test\"},\"wildcard\":true,"
        "\"expires\":\"2026-11-30T10:00:00Z\",\"challenges\":[{\"type\":\"dns-01\",\"url\":\"https://ca.test/chal/1\","
        "\"token\":\"evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA\",\"status\":\"pending\"},{\"type\":\"dns-account-01\","
        "\"url\":\"https://ca.test/chal/2\",\"status\":\"pending\"}]}";

TEST(authorization) {
        _cleanup_(acme_authorization_done) AcmeAuthorization a = {}, inv = {};

        ASSERT_OK(acme_parse_authorization(P(authz_wildcard), &a, NULL));
        ASSERT_EQ(a.status, ACME_STATUS_PENDING);
        ASSERT_STREQ(a.identifier.value, "example.test");
        ASSERT_TRUE(a.wildcard);
        ASSERT_EQ(a.n_challenges, 2);
        ASSERT_STREQ(a.challenges[0].type, "dns-01");
        ASSERT_STREQ(a.challenges[0].token, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA");
        ASSERT_NULL(a.challenges[1].token);

        ASSERT_OK(acme_parse_authorization(
                P("{\"status\":\"invalid\",\"identifier\":{\"type\":\"dns\",\"value\":\"x.test\"},\"challenges\":[{"
                  "\"type\":\"http-01\",\"url\":\"https://ca.test/c\",\"token\":\"abcd\",\"status\":\"invalid\",\"error\":"
                  "{\"type\":\"urn:ietf:params:acme:error:connection\",\"detail\":\"Connection refused\\u001b[31m\"}}]}"),
                &inv, NULL));
        ASSERT_STREQ(inv.challenges[0].error->type, "connection");
        /* The escape character never reaches a terminal or a log. */
        ASSERT_STREQ(inv.challenges[0].error->detail, "Connection refused?[31m");
}

TEST(authorization_hostile_tokens) {
        static const char *const tokens[] = { "../../../etc/passwd", "a/b", "a.b", "a%2fb", "", "a b", "a\\\\b" };
        AcmeAuthorization a = {};
        AcmeChallenge c = {};
        _cleanup_free_ char *long_token = NULL;

        for (size_t i = 0; i < ELEMENTSOF(tokens); i++) {
                _cleanup_free_ char *j = strjoin("{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":"
                                                 "\"x.test\"},\"challenges\":[{\"type\":\"http-01\",\"url\":"
                                                 "\"https://ca.test/c\",\"status\":\"pending\",\"token\":\"",
                                                 tokens[i], "\"}]}");
                ASSERT_ERROR(acme_parse_authorization(P(j), &a, NULL), EBADMSG);
        }
        long_token = malloc(ACME_TOKEN_MAX + 2);
        memset(long_token, 'A', ACME_TOKEN_MAX + 1);
        long_token[ACME_TOKEN_MAX + 1] = '\0';
        ASSERT_FALSE(acme_token_is_valid(long_token));
        long_token[ACME_TOKEN_MAX] = '\0';
        ASSERT_TRUE(acme_token_is_valid(long_token));

        ASSERT_ERROR(acme_parse_authorization(P("{\"status\":\"pending\",\"identifier\":{\"type\":\"dns\",\"value\":"
                                                "\"x\"},\"wildcard\":\"yes\",\"challenges\":[]}"),
                                              &a, NULL),
                     EBADMSG);
        ASSERT_ERROR(acme_parse_authorization(P("{\"status\":\"pending\",\"challenges\":[]}"), &a, NULL), EBADMSG);

        ASSERT_OK(acme_parse_challenge(P("{\"type\":\"http-01\",\"url\":\"https://ca.test/c\",\"status\":\"valid\","
                                         "\"token\":\"abc_-0\"}"),
                                       &c, NULL));
        ASSERT_EQ(c.status, ACME_STATUS_VALID);
        acme_challenge_done(&c);
        ASSERT_ERROR(acme_parse_challenge(P("{\"type\":\"http-01\",\"status\":\"valid\"}"), &c, NULL), EBADMSG);
}

TEST(account) {
        _cleanup_(acme_account_done) AcmeAccount a = {};
        AcmeAccount b = {};

        ASSERT_OK(acme_parse_account(P("{\"status\":\"valid\",\"contact\":[\"mailto:a@example.test\"],\"orders\":"
                                       "\"https://ca.test/orders/1\",\"key\":{}}"),
                                     &a, NULL));
        ASSERT_EQ(a.status, ACME_STATUS_VALID);
        ASSERT_STREQ(a.contact[0], "mailto:a@example.test");
        ASSERT_ERROR(acme_parse_account(P("{\"contact\":[]}"), &b, NULL), EBADMSG);
}

TEST(problem_mapping) {
        static const struct {
                const char *type;
                long status;
                AcmeProblemClass class;
        } t[] = {
                { "urn:ietf:params:acme:error:badNonce", 400, ACME_PROBLEM_BAD_NONCE },
                { "badNonce", 400, ACME_PROBLEM_BAD_NONCE },
                { "urn:ietf:params:acme:error:rateLimited", 429, ACME_PROBLEM_RATELIMITED },
                { "urn:ietf:params:acme:error:unauthorized", 403, ACME_PROBLEM_REJECTED },
                { "urn:ietf:params:acme:error:rejectedIdentifier", 400, ACME_PROBLEM_REJECTED },
                { "urn:ietf:params:acme:error:caa", 403, ACME_PROBLEM_REJECTED },
                { "urn:ietf:params:acme:error:dns", 400, ACME_PROBLEM_REJECTED },
                { "urn:ietf:params:acme:error:connection", 400, ACME_PROBLEM_REJECTED },
                { "urn:ietf:params:acme:error:incorrectResponse", 403, ACME_PROBLEM_REJECTED },
                { "urn:ietf:params:acme:error:badCSR", 400, ACME_PROBLEM_REJECTED },
                { "urn:ietf:params:acme:error:malformed", 400, ACME_PROBLEM_REJECTED },
                { "urn:ietf:params:acme:error:tls", 400, ACME_PROBLEM_REJECTED },
                { "urn:ietf:params:acme:error:serverInternal", 500, ACME_PROBLEM_UNREACHABLE },
                { "urn:ietf:params:acme:error:externalAccountRequired", 401, ACME_PROBLEM_CONFIG },
                { "urn:ietf:params:acme:error:userActionRequired", 403, ACME_PROBLEM_CONFIG },
                { "urn:ietf:params:acme:error:accountDoesNotExist", 400, ACME_PROBLEM_CONFIG },
                { "urn:ietf:params:acme:error:badSignatureAlgorithm", 400, ACME_PROBLEM_CONFIG },
                { "urn:example:unknown", 503, ACME_PROBLEM_UNREACHABLE },
                { "urn:example:unknown", 429, ACME_PROBLEM_RATELIMITED },
                { "urn:example:unknown", 400, ACME_PROBLEM_REJECTED },
                { NULL, 502, ACME_PROBLEM_UNREACHABLE },
                { NULL, 0, ACME_PROBLEM_UNREACHABLE },
                /* A prefix alone is no type. */
                { "urn:ietf:params:acme:error:", 400, ACME_PROBLEM_REJECTED },
        };

        for (size_t i = 0; i < ELEMENTSOF(t); i++)
                ASSERT_EQ(acme_problem_classify(t[i].type, t[i].status), t[i].class);
}

TEST(problem_document) {
        _cleanup_(acme_problem_done) AcmeProblem p = {}, q = {};
        _cleanup_free_ char *summary = NULL, *qs = NULL;

        ASSERT_OK(acme_parse_problem(
                P("{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":\"Some identifiers were "
                  "rejected\",\"status\":400,\"subproblems\":[{\"type\":\"urn:ietf:params:acme:error:malformed\","
                  "\"detail\":\"Invalid underscore in DNS name\",\"identifier\":{\"type\":\"dns\",\"value\":"
                  "\"_example.test\"}},{\"type\":\"urn:ietf:params:acme:error:rejectedIdentifier\",\"detail\":"
                  "\"This CA will not issue for \\\"example.net\\\"\",\"identifier\":{\"type\":\"dns\",\"value\":"
                  "\"example.net\"}},42]}"),
                &p, NULL));
        ASSERT_STREQ(p.type, "rejectedIdentifier");
        ASSERT_EQ(p.status, 400);
        ASSERT_EQ(p.n_subproblems, 2);
        ASSERT_STREQ(p.subproblems[0].type, "malformed");
        ASSERT_STREQ(p.subproblems[0].identifier, "dns:_example.test");
        summary = acme_problem_summary(&p);
        ASSERT_STREQ(summary, "Some identifiers were rejected (rejectedIdentifier): dns:_example.test Invalid "
                              "underscore in DNS name (malformed); dns:example.net This CA will not issue for "
                              "\"example.net\" (rejectedIdentifier)");

        /* No type, a huge detail with control characters: kept printable and capped. */
        {
                size_t n = 5000;
                _cleanup_free_ char *detail = malloc(n + 1), *json = NULL;
                memset(detail, 'x', n);
                detail[10] = '\\';
                detail[11] = 'n';
                detail[n] = '\0';
                json = strjoin("{\"detail\":\"", detail, "\"}");
                ASSERT_OK(acme_parse_problem(P(json), &q, NULL));
                ASSERT_STREQ(q.type, "about:blank");
                ASSERT_EQ(strlen(q.detail), ACME_DETAIL_MAX);
                ASSERT_TRUE(endswith(q.detail, "..."));
                ASSERT_EQ(q.detail[10], ' ');
                qs = acme_problem_summary(&q);
                ASSERT_TRUE(strlen(qs) < 1024);
        }
}

TEST(link) {
        _cleanup_strv_free_ char **up = NULL, **alt = NULL, **idx = NULL, **none = NULL;

        ASSERT_EQ(acme_parse_link("<https://ca.test/cert/1/1>;rel=\"alternate\", <https://ca.test/cert/1/2>; "
                                  "title=\"a, b; c\"; rel=alternate, <https://ca.test/issuer>;rel=\"up\"",
                                  "alternate", &alt),
                  2);
        ASSERT_STREQ(alt[0], "https://ca.test/cert/1/1");
        ASSERT_STREQ(alt[1], "https://ca.test/cert/1/2");
        ASSERT_EQ(acme_parse_link("<https://ca.test/issuer>;rel=\"up\"", "up", &up), 1);
        ASSERT_EQ(acme_parse_link("<https://ca.test/dir>;REL=\"index up\"", "index", &idx), 1);
        ASSERT_EQ(acme_parse_link("<https://ca.test/dir>;REL=\"index up\"", "up", &up), 1);
        ASSERT_EQ(strv_length(up), 2);

        /* Hostile ones. */
        ASSERT_EQ(acme_parse_link("<https://ca.test/x>;rel=\"upx\"", "up", &none), 0);
        ASSERT_EQ(acme_parse_link("<https://ca.test/x y>;rel=up", "up", &none), 0);
        ASSERT_EQ(acme_parse_link("<javascript:x>;rel=up", "up", &none), 0);
        ASSERT_EQ(acme_parse_link("<https://ca.test/x;rel=up", "up", &none), 0);
        ASSERT_EQ(acme_parse_link("https://ca.test/x;rel=up", "up", &none), 0);
        ASSERT_EQ(acme_parse_link("<https://ca.test/x>;rel=\"up", "up", &none), 1); /* unterminated quote: to the end */
        ASSERT_EQ(acme_parse_link("", "up", &none), 0);
        ASSERT_EQ(acme_parse_link(";;;,,,<>;rel=", "up", &none), 0);
        ASSERT_NULL(none == NULL ? NULL : none[1]);

        /* Capped in number. */
        {
                _cleanup_strv_free_ char **many = NULL;
                for (int i = 0; i < 30; i++)
                        ASSERT_TRUE(acme_parse_link("<https://a/1>;rel=up,<https://a/2>;rel=up,<https://a/3>;rel=up,"
                                                    "<https://a/4>;rel=up,<https://a/5>;rel=up",
                                                    "up", &many) >= 0);
                ASSERT_EQ(strv_length(many), ACME_LIST_MAX);
        }
}

TEST(retry_after) {
        int64_t s = -1;
        const int64_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */

        ASSERT_OK(acme_parse_retry_after("120", now, &s));
        ASSERT_EQ(s, 120);
        ASSERT_OK(acme_parse_retry_after(" 0 ", now, &s));
        ASSERT_EQ(s, 0);
        ASSERT_OK(acme_parse_retry_after("99999999999999999999999", now, &s));
        ASSERT_EQ(s, ACME_RETRY_AFTER_MAX);
        ASSERT_OK(acme_parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now, &s));
        ASSERT_EQ(s, 60);
        ASSERT_OK(acme_parse_retry_after("Sun, 06 Nov 1994 08:40:00 GMT", now, &s));
        ASSERT_EQ(s, 0);
        ASSERT_OK(acme_parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now, &s));
        ASSERT_EQ(s, ACME_RETRY_AFTER_MAX);

        s = 5;
        ASSERT_ERROR(acme_parse_retry_after("-1", now, &s), EINVAL);
        ASSERT_ERROR(acme_parse_retry_after("1.5", now, &s), EINVAL);
        ASSERT_ERROR(acme_parse_retry_after("12abc", now, &s), EINVAL);
        ASSERT_ERROR(acme_parse_retry_after("", now, &s), EINVAL);
        ASSERT_ERROR(acme_parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now, &s), EINVAL);
        ASSERT_ERROR(acme_parse_retry_after("Sun, 06 Nov 1994 08:49:37 UTC", now, &s), EINVAL);
        ASSERT_ERROR(acme_parse_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", now, &s), EINVAL);
        ASSERT_ERROR(acme_parse_retry_after("Sun, 06 Nov 1994 25:49:37 GMT", now, &s), EINVAL);
        ASSERT_EQ(s, 5);
}

TEST(nonce_location_content_type) {
        _cleanup_free_ char *n = NULL, *l = NULL;
        char *x = NULL;
        char big[ACME_NONCE_MAX + 2];

        ASSERT_OK(acme_parse_nonce("J2-6m9A0PyFUp1hh8Jx_XA", &n));
        ASSERT_STREQ(n, "J2-6m9A0PyFUp1hh8Jx_XA");
        ASSERT_ERROR(acme_parse_nonce("abc=", &x), EBADMSG);
        ASSERT_ERROR(acme_parse_nonce("a b", &x), EBADMSG);
        ASSERT_ERROR(acme_parse_nonce("", &x), EBADMSG);
        memset(big, 'A', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        ASSERT_ERROR(acme_parse_nonce(big, &x), EBADMSG);

        ASSERT_OK(acme_parse_location("https://ca.test/order/1", &l));
        ASSERT_ERROR(acme_parse_location("/relative", &x), EBADMSG);
        ASSERT_ERROR(acme_parse_location("ftp://ca.test/", &x), EBADMSG);
        ASSERT_ERROR(acme_parse_location("https://ca.test/a#frag", &x), EBADMSG);
        ASSERT_ERROR(acme_parse_location("https:///nohost", &x), EBADMSG);

        ASSERT_EQ(acme_parse_content_type("application/json"), ACME_CONTENT_JSON);
        ASSERT_EQ(acme_parse_content_type("Application/JSON; charset=utf-8"), ACME_CONTENT_JSON);
        ASSERT_EQ(acme_parse_content_type("application/problem+json"), ACME_CONTENT_PROBLEM);
        ASSERT_EQ(acme_parse_content_type("application/pem-certificate-chain; charset=utf-8"), ACME_CONTENT_PEM_CHAIN);
        ASSERT_EQ(acme_parse_content_type("application/jsonx"), ACME_CONTENT_OTHER);
        ASSERT_EQ(acme_parse_content_type("text/html"), ACME_CONTENT_OTHER);
        ASSERT_EQ(acme_parse_content_type(NULL), ACME_CONTENT_NONE);

        ASSERT_TRUE(acme_url_same_origin("https://ca.test:14000/a", "https://CA.test:14000/b?x"));
        ASSERT_FALSE(acme_url_same_origin("https://ca.test:14000/a", "https://ca.test:14001/a"));
        ASSERT_FALSE(acme_url_same_origin("https://ca.test/a", "https://ca.test.evil/a"));
        ASSERT_FALSE(acme_url_same_origin("https://ca.test/a", "http://ca.test/a"));
}

TEST(header_line) {
        _cleanup_free_ char *name = NULL, *value = NULL;
        char *n = NULL, *v = NULL;
        char big[ACME_HEADER_MAX + 10];

        ASSERT_EQ(acme_parse_header_line(P("Replay-Nonce:  abc_DEF \r\n"), &name, &value), 1);
        ASSERT_STREQ(name, "replay-nonce");
        ASSERT_STREQ(value, "abc_DEF");
        ASSERT_EQ(acme_parse_header_line(P("HTTP/1.1 200 OK\r\n"), &n, &v), 0);
        ASSERT_EQ(acme_parse_header_line(P("HTTP/2 201\r\n"), &n, &v), 0);
        ASSERT_EQ(acme_parse_header_line(P("\r\n"), &n, &v), 0);
        ASSERT_EQ(acme_parse_header_line(P(": no name\r\n"), &n, &v), 0);
        ASSERT_EQ(acme_parse_header_line(P("Location: https://a/\001b\r\n"), &n, &v), 0);
        ASSERT_EQ(acme_parse_header_line("X: a\0b", 6, &n, &v), 0);
        memset(big, 'a', sizeof(big));
        big[1] = ':';
        ASSERT_ERROR(acme_parse_header_line(big, sizeof(big), &n, &v), E2BIG);
        ASSERT_NULL(n);
        ASSERT_NULL(v);
}

TEST(renewal_info) {
        _cleanup_(acme_renewal_info_done) AcmeRenewalInfo ri = {};
        AcmeRenewalInfo bad = {};

        ASSERT_OK(acme_parse_renewal_info(P("{\"suggestedWindow\":{\"start\":\"2026-11-30T10:00:00Z\",\"end\":"
                                            "\"2026-12-01T10:00:00Z\"},\"explanationURL\":\"https://ca.test/why\"}"),
                                          &ri, NULL));
        ASSERT_EQ(ri.start, 1796032800);
        ASSERT_EQ(ri.end, 1796032800 + 86400);
        ASSERT_STREQ(ri.explanation_url, "https://ca.test/why");
        ASSERT_ERROR(acme_parse_renewal_info(P("{\"suggestedWindow\":{\"start\":\"2026-12-01T10:00:00Z\",\"end\":"
                                               "\"2026-11-30T10:00:00Z\"}}"),
                                             &bad, NULL),
                     EBADMSG);
        ASSERT_ERROR(acme_parse_renewal_info(P("{}"), &bad, NULL), EBADMSG);
}

TEST(status_strings) {
        for (int i = 0; i < _ACME_STATUS_MAX; i++)
                ASSERT_EQ(acme_status_from_string(acme_status_to_string((AcmeStatus) i)), i);
        ASSERT_EQ(acme_status_from_string("Valid"), _ACME_STATUS_INVALID);
        ASSERT_NULL(acme_status_to_string(_ACME_STATUS_MAX));
}

TEST_MAIN();
