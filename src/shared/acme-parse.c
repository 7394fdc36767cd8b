/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "acme-parse.h"
#include "parse-util.h"
#include "string-util.h"
#include "time-util.h"

#define ACME_ERROR_PREFIX "urn:ietf:params:acme:error:"
#define ACME_STRING_MAX 4096U /* any other string field */

static const char *const status_table[_ACME_STATUS_MAX] = {
        [ACME_STATUS_PENDING] = "pending",
        [ACME_STATUS_READY] = "ready",
        [ACME_STATUS_PROCESSING] = "processing",
        [ACME_STATUS_VALID] = "valid",
        [ACME_STATUS_INVALID] = "invalid",
        [ACME_STATUS_EXPIRED] = "expired",
        [ACME_STATUS_REVOKED] = "revoked",
        [ACME_STATUS_DEACTIVATED] = "deactivated",
};

const char *acme_status_to_string(AcmeStatus s) {
        if (s < 0 || s >= _ACME_STATUS_MAX)
                return NULL;
        return status_table[s];
}

AcmeStatus acme_status_from_string(const char *s) {
        if (!s)
                return _ACME_STATUS_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(status_table); i++)
                if (streq(status_table[i], s))
                        return (AcmeStatus) i;
        return _ACME_STATUS_INVALID;
}

char *acme_printable(const char *s, size_t max) {
        size_t n, i;
        char *r;

        if (!s)
                return NULL;
        if (max < 4)
                max = 4;
        n = strlen(s);
        r = malloc(MIN(n, max) + 1);
        if (!r)
                return NULL;
        for (i = 0; i < n && i < max; i++) {
                unsigned char ch = (unsigned char) s[i];
                r[i] = ch >= 0x20 && ch < 0x7f ? (char) ch : (ch == '\n' || ch == '\t' ? ' ' : '?');
        }
        r[i] = '\0';
        if (n > max)
                memcpy(r + max - 3, "...", 3);
        return r;
}

/* ---- JSON helpers ---- */

/* Returns r with the words "Malformed <what>." in *reterr, or bare when it is -ENOMEM. */
static int malformed(int r, const char *what, char **reterr) {
        if (r == -ENOMEM)
                return r;
        return errorf(reterr, r, "Malformed %s.", what);
}

static int load_json(const char *body, size_t len, json_t **ret, char **reterr) {
        json_error_t e;
        json_t *j;

        if (!body)
                return errorf(reterr, -EINVAL, "No response body.");
        if (len > ACME_BODY_MAX)
                return errorf(reterr, -E2BIG, "Response body of %zu bytes is larger than the %u byte limit.", len,
                              ACME_BODY_MAX);
        j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
        if (!j) {
                _cleanup_free_ char *t = acme_printable(e.text, 120);
                return errorf(reterr, -EBADMSG, "Response is not valid JSON (line %d: %s).", e.line, strna(t));
        }
        if (!json_is_object(j)) {
                json_decref(j);
                return errorf(reterr, -EBADMSG, "Response is not a JSON object.");
        }
        *ret = j;
        return 0;
}

/* An optional string member: 0 and NULL if missing or null, -EBADMSG if of another type or too long
 * or with control characters. */
static int get_string(json_t *o, const char *key, size_t max, char **ret) {
        json_t *v = json_object_get(o, key);
        const char *s;
        size_t n;

        if (!v || json_is_null(v)) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v))
                return -EBADMSG;
        s = json_string_value(v);
        n = json_string_length(v);
        if (n > max || strlen(s) != n)
                return -EBADMSG;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
                        return -EBADMSG;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int get_url(json_t *o, const char *key, bool required, char **ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = get_string(o, key, ACME_URL_MAX, &s);
        if (r < 0)
                return r;
        if (!s)
                return required ? -EBADMSG : (*ret = NULL, 0);
        if (!acme_url_is_valid(s))
                return -EBADMSG;
        *ret = TAKE_PTR(s);
        return 0;
}

/* A free-text member: kept printable and capped, never an error except OOM. */
static int get_text(json_t *o, const char *key, char **ret) {
        json_t *v = json_object_get(o, key);

        if (!json_is_string(v)) {
                *ret = NULL;
                return 0;
        }
        *ret = acme_printable(json_string_value(v), ACME_DETAIL_MAX);
        return *ret ? 0 : -ENOMEM;
}

static int get_status(json_t *o, bool required, AcmeStatus *ret) {
        json_t *v = json_object_get(o, "status");
        AcmeStatus s;

        if (!v) {
                if (required)
                        return -EBADMSG;
                *ret = _ACME_STATUS_INVALID;
                return 0;
        }
        if (!json_is_string(v))
                return -EBADMSG;
        s = acme_status_from_string(json_string_value(v));
        if (s < 0)
                return -EBADMSG;
        *ret = s;
        return 0;
}

static int get_time(json_t *o, const char *key, int64_t *ret) {
        json_t *v = json_object_get(o, key);

        *ret = 0;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_string(v) || json_string_length(v) > 64)
                return -EBADMSG;
        /* RFC 3339 with fractions is allowed by ACME; our parser may not take every variant: a date we
         * cannot read is not fatal, it is informational for us. */
        if (parse_timestamp_rfc3339(json_string_value(v), ret) < 0)
                *ret = 0;
        return 0;
}

/* An array of URLs (or plain strings when !urls). Missing means empty. */
static int get_string_array(json_t *o, const char *key, bool urls, bool required, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        json_t *a = json_object_get(o, key), *v;
        size_t i;
        int r;

        if (!a || json_is_null(a)) {
                if (required)
                        return -EBADMSG;
                *ret = NULL;
                return 0;
        }
        if (!json_is_array(a) || json_array_size(a) > ACME_LIST_MAX)
                return -EBADMSG;
        json_array_foreach(a, i, v) {
                if (!json_is_string(v) || json_string_length(v) > ACME_URL_MAX ||
                    strlen(json_string_value(v)) != json_string_length(v))
                        return -EBADMSG;
                if (urls && !acme_url_is_valid(json_string_value(v)))
                        return -EBADMSG;
                r = strv_extend(&l, json_string_value(v));
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

static int parse_identifier(json_t *v, AcmeIdentifier *ret) {
        _cleanup_free_ char *type = NULL, *value = NULL;
        int r;

        if (!json_is_object(v))
                return -EBADMSG;
        r = get_string(v, "type", 32, &type);
        if (r < 0)
                return r;
        r = get_string(v, "value", 255, &value);
        if (r < 0)
                return r;
        if (!type || !value)
                return -EBADMSG;
        *ret = (AcmeIdentifier) { .type = TAKE_PTR(type), .value = TAKE_PTR(value) };
        return 0;
}

static void identifier_done(AcmeIdentifier *i) {
        i->type = mfree(i->type);
        i->value = mfree(i->value);
}

/* ---- problems ---- */

static char *short_type(const char *type) {
        if (!type)
                return strdup("about:blank");
        if (startswith(type, ACME_ERROR_PREFIX))
                type += strlen(ACME_ERROR_PREFIX);
        return acme_printable(type, 128);
}

void acme_problem_done(AcmeProblem *p) {
        if (!p)
                return;
        p->type = mfree(p->type);
        p->detail = mfree(p->detail);
        for (size_t i = 0; i < p->n_subproblems; i++) {
                free(p->subproblems[i].type);
                free(p->subproblems[i].detail);
                free(p->subproblems[i].identifier);
        }
        p->subproblems = mfree(p->subproblems);
        p->n_subproblems = 0;
        p->status = 0;
}

static int problem_from_json(json_t *j, AcmeProblem *ret) {
        _cleanup_(acme_problem_done) AcmeProblem p = {};
        json_t *v, *subs;
        size_t i;
        int r;

        if (!json_is_object(j))
                return -EBADMSG;
        v = json_object_get(j, "type");
        p.type = short_type(json_is_string(v) ? json_string_value(v) : NULL);
        if (!p.type)
                return -ENOMEM;
        r = get_text(j, "detail", &p.detail);
        if (r < 0)
                return r;
        v = json_object_get(j, "status");
        if (json_is_integer(v) && json_integer_value(v) >= 100 && json_integer_value(v) <= 599)
                p.status = (int) json_integer_value(v);

        subs = json_object_get(j, "subproblems");
        if (json_is_array(subs) && json_array_size(subs) > 0) {
                size_t n = MIN(json_array_size(subs), (size_t) ACME_LIST_MAX);
                p.subproblems = calloc(n, sizeof(AcmeSubproblem));
                if (!p.subproblems)
                        return -ENOMEM;
                json_array_foreach(subs, i, v) {
                        AcmeSubproblem *s;
                        json_t *t, *id;

                        if (i >= n)
                                break;
                        if (!json_is_object(v))
                                continue;
                        s = &p.subproblems[p.n_subproblems++];
                        t = json_object_get(v, "type");
                        s->type = short_type(json_is_string(t) ? json_string_value(t) : NULL);
                        if (!s->type)
                                return -ENOMEM;
                        r = get_text(v, "detail", &s->detail);
                        if (r < 0)
                                return r;
                        id = json_object_get(v, "identifier");
                        if (json_is_object(id) && json_is_string(json_object_get(id, "type")) &&
                            json_is_string(json_object_get(id, "value"))) {
                                _cleanup_free_ char *x = strjoin(json_string_value(json_object_get(id, "type")), ":",
                                                                 json_string_value(json_object_get(id, "value")));
                                if (!x)
                                        return -ENOMEM;
                                s->identifier = acme_printable(x, 260);
                                if (!s->identifier)
                                        return -ENOMEM;
                        }
                }
        }
        *ret = p;
        p = (AcmeProblem) {};
        return 0;
}

static int get_problem(json_t *o, const char *key, AcmeProblem **ret) {
        _cleanup_free_ AcmeProblem *p = NULL;
        json_t *v = json_object_get(o, key);
        int r;

        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        p = calloc(1, sizeof(AcmeProblem));
        if (!p)
                return -ENOMEM;
        r = problem_from_json(v, p);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(p);
        return 0;
}

static AcmeProblem *problem_free(AcmeProblem *p) {
        acme_problem_done(p);
        return mfree(p);
}

int acme_parse_problem(const char *body, size_t len, AcmeProblem *ret, char **reterr) {
        json_auto_t *j = NULL;
        int r;

        r = load_json(body, len, &j, reterr);
        if (r < 0)
                return r;
        r = problem_from_json(j, ret);
        if (r < 0)
                return errorf(reterr, r, "Malformed problem document.");
        return 0;
}

AcmeProblemClass acme_problem_classify(const char *type, long http_status) {
        static const struct {
                const char *type;
                AcmeProblemClass class;
        } table[] = {
                { "badNonce", ACME_PROBLEM_BAD_NONCE },
                { "rateLimited", ACME_PROBLEM_RATELIMITED },
                { "serverInternal", ACME_PROBLEM_UNREACHABLE },
                { "externalAccountRequired", ACME_PROBLEM_CONFIG },
                { "userActionRequired", ACME_PROBLEM_CONFIG },
                { "accountDoesNotExist", ACME_PROBLEM_CONFIG },
                { "badPublicKey", ACME_PROBLEM_CONFIG },
                { "badSignatureAlgorithm", ACME_PROBLEM_CONFIG },
                { "invalidContact", ACME_PROBLEM_CONFIG },
                { "unsupportedContact", ACME_PROBLEM_CONFIG },
                { "unauthorized", ACME_PROBLEM_REJECTED },
                { "rejectedIdentifier", ACME_PROBLEM_REJECTED },
                { "unsupportedIdentifier", ACME_PROBLEM_REJECTED },
                { "caa", ACME_PROBLEM_REJECTED },
                { "dns", ACME_PROBLEM_REJECTED },
                { "connection", ACME_PROBLEM_REJECTED },
                { "incorrectResponse", ACME_PROBLEM_REJECTED },
                { "tls", ACME_PROBLEM_REJECTED },
                { "badCSR", ACME_PROBLEM_REJECTED },
                { "badRevocationReason", ACME_PROBLEM_REJECTED },
                { "alreadyRevoked", ACME_PROBLEM_REJECTED },
                { "orderNotReady", ACME_PROBLEM_REJECTED },
                { "malformed", ACME_PROBLEM_REJECTED },
                { "compound", ACME_PROBLEM_REJECTED },
        };
        const char *t = type;

        if (t && startswith(t, ACME_ERROR_PREFIX))
                t += strlen(ACME_ERROR_PREFIX);
        if (t)
                for (size_t i = 0; i < ELEMENTSOF(table); i++)
                        if (streq(table[i].type, t))
                                return table[i].class;

        /* Unknown (or no) type: go by the HTTP status. */
        if (http_status == 429)
                return ACME_PROBLEM_RATELIMITED;
        if (http_status >= 500 || http_status == 408 || http_status <= 0)
                return ACME_PROBLEM_UNREACHABLE;
        return ACME_PROBLEM_REJECTED;
}

char *acme_problem_summary(const AcmeProblem *p) {
        char buf[1024];
        size_t n;

        if (!p)
                return NULL;
        n = (size_t) snprintf(buf, sizeof(buf), "%s (%s)", p->detail ? p->detail : "no detail",
                              p->type ? p->type : "about:blank");
        for (size_t i = 0; i < p->n_subproblems && n < sizeof(buf); i++)
                n += (size_t) snprintf(buf + n, sizeof(buf) - n, "%s%s%s%s (%s)", i == 0 ? ": " : "; ",
                                       p->subproblems[i].identifier ? p->subproblems[i].identifier : "",
                                       p->subproblems[i].identifier ? " " : "",
                                       p->subproblems[i].detail ? p->subproblems[i].detail : "no detail",
                                       p->subproblems[i].type);
        return acme_printable(buf, sizeof(buf) - 1);
}

/* ---- directory ---- */

void acme_directory_done(AcmeDirectory *d) {
        if (!d)
                return;
        free(d->new_nonce);
        free(d->new_account);
        free(d->new_order);
        free(d->new_authz);
        free(d->revoke_cert);
        free(d->key_change);
        free(d->renewal_info);
        free(d->terms_of_service);
        free(d->website);
        strv_free(d->caa_identities);
        strv_free(d->profiles);
        *d = (AcmeDirectory) {};
}

int acme_parse_directory(const char *body, size_t len, AcmeDirectory *ret, char **reterr) {
        _cleanup_(acme_directory_done) AcmeDirectory d = {};
        json_auto_t *j = NULL;
        json_t *meta;
        int r;

        r = load_json(body, len, &j, reterr);
        if (r < 0)
                return r;

        struct {
                const char *key;
                char **field;
                bool required;
        } urls[] = {
                { "newNonce", &d.new_nonce, true },     { "newAccount", &d.new_account, true },
                { "newOrder", &d.new_order, true },     { "newAuthz", &d.new_authz, false },
                { "revokeCert", &d.revoke_cert, false }, { "keyChange", &d.key_change, false },
                { "renewalInfo", &d.renewal_info, false },
        };
        for (size_t i = 0; i < ELEMENTSOF(urls); i++) {
                r = get_url(j, urls[i].key, urls[i].required, urls[i].field);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return errorf(reterr, -EBADMSG, "Directory has a missing or invalid '%s'.", urls[i].key);
        }

        meta = json_object_get(j, "meta");
        if (json_is_object(meta)) {
                json_t *v, *profiles;
                const char *k;

                /* Only shown to people, never fetched: any URI (Pebble's is a data: URL). */
                r = get_string(meta, "termsOfService", ACME_URL_MAX, &d.terms_of_service);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return errorf(reterr, -EBADMSG, "Directory has an invalid 'meta.termsOfService'.");
                if (get_string(meta, "website", ACME_URL_MAX, &d.website) == -ENOMEM)
                        return -ENOMEM;
                r = get_string_array(meta, "caaIdentities", false, false, &d.caa_identities);
                if (r == -ENOMEM)
                        return r;
                v = json_object_get(meta, "externalAccountRequired");
                d.external_account_required = json_is_true(v);

                profiles = json_object_get(meta, "profiles");
                if (json_is_object(profiles))
                        json_object_foreach(profiles, k, v) {
                                if (strv_length(d.profiles) >= ACME_LIST_MAX)
                                        break;
                                if (strlen(k) == 0 || strlen(k) > 64 || strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                                                     "abcdefghijklmnopqrstuvwxyz"
                                                                                     "0123456789-_.") != strlen(k))
                                        continue;
                                r = strv_extend(&d.profiles, k);
                                if (r < 0)
                                        return r;
                        }
        }

        *ret = d;
        d = (AcmeDirectory) {};
        return 0;
}

/* ---- account ---- */

void acme_account_done(AcmeAccount *a) {
        if (!a)
                return;
        a->contact = strv_free(a->contact);
        a->orders = mfree(a->orders);
}

int acme_parse_account(const char *body, size_t len, AcmeAccount *ret, char **reterr) {
        _cleanup_(acme_account_done) AcmeAccount a = {};
        json_auto_t *j = NULL;
        int r;

        r = load_json(body, len, &j, reterr);
        if (r < 0)
                return r;
        r = get_status(j, true, &a.status);
        if (r >= 0)
                r = get_string_array(j, "contact", false, false, &a.contact);
        if (r >= 0)
                r = get_url(j, "orders", false, &a.orders);
        if (r < 0)
                return malformed(r, "account object", reterr);
        *ret = a;
        a = (AcmeAccount) {};
        return 0;
}

/* ---- order ---- */

void acme_order_done(AcmeOrder *o) {
        if (!o)
                return;
        for (size_t i = 0; i < o->n_identifiers; i++)
                identifier_done(&o->identifiers[i]);
        free(o->identifiers);
        strv_free(o->authorizations);
        free(o->finalize);
        free(o->certificate);
        free(o->profile);
        problem_free(o->error);
        *o = (AcmeOrder) {};
}

int acme_parse_order(const char *body, size_t len, AcmeOrder *ret, char **reterr) {
        _cleanup_(acme_order_done) AcmeOrder o = {};
        json_auto_t *j = NULL;
        json_t *ids, *v;
        size_t i;
        int r;

        r = load_json(body, len, &j, reterr);
        if (r < 0)
                return r;

        r = get_status(j, true, &o.status);
        if (r >= 0)
                r = get_time(j, "expires", &o.expires);
        if (r >= 0)
                r = get_string_array(j, "authorizations", true, true, &o.authorizations);
        if (r >= 0)
                r = get_url(j, "finalize", true, &o.finalize);
        if (r >= 0)
                r = get_url(j, "certificate", false, &o.certificate);
        if (r >= 0)
                r = get_string(j, "profile", 64, &o.profile);
        if (r >= 0)
                r = get_problem(j, "error", &o.error);
        if (r < 0)
                return malformed(r, "order object", reterr);

        ids = json_object_get(j, "identifiers");
        if (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > ACME_LIST_MAX)
                return errorf(reterr, -EBADMSG, "Malformed order object: bad 'identifiers'.");
        o.identifiers = calloc(json_array_size(ids), sizeof(AcmeIdentifier));
        if (!o.identifiers)
                return -ENOMEM;
        json_array_foreach(ids, i, v) {
                r = parse_identifier(v, &o.identifiers[o.n_identifiers]);
                if (r < 0)
                        return malformed(r, "order object: bad identifier", reterr);
                o.n_identifiers++;
        }

        *ret = o;
        o = (AcmeOrder) {};
        return 0;
}

/* ---- challenge and authorization ---- */

void acme_challenge_done(AcmeChallenge *c) {
        if (!c)
                return;
        free(c->type);
        free(c->url);
        free(c->token);
        problem_free(c->error);
        *c = (AcmeChallenge) {};
}

static int challenge_from_json(json_t *j, AcmeChallenge *ret) {
        _cleanup_(acme_challenge_done) AcmeChallenge c = {};
        int r;

        if (!json_is_object(j))
                return -EBADMSG;
        r = get_string(j, "type", 64, &c.type);
        if (r >= 0 && !c.type)
                r = -EBADMSG;
        if (r >= 0)
                r = get_url(j, "url", true, &c.url);
        if (r >= 0)
                r = get_status(j, true, &c.status);
        if (r >= 0)
                r = get_string(j, "token", ACME_TOKEN_MAX, &c.token);
        if (r >= 0 && c.token && !acme_token_is_valid(c.token))
                r = -EBADMSG;
        if (r >= 0)
                r = get_problem(j, "error", &c.error);
        if (r < 0)
                return r;
        *ret = c;
        c = (AcmeChallenge) {};
        return 0;
}

int acme_parse_challenge(const char *body, size_t len, AcmeChallenge *ret, char **reterr) {
        json_auto_t *j = NULL;
        int r;

        r = load_json(body, len, &j, reterr);
        if (r < 0)
                return r;
        r = challenge_from_json(j, ret);
        if (r < 0)
                return malformed(r, "challenge object", reterr);
        return 0;
}

void acme_authorization_done(AcmeAuthorization *a) {
        if (!a)
                return;
        identifier_done(&a->identifier);
        for (size_t i = 0; i < a->n_challenges; i++)
                acme_challenge_done(&a->challenges[i]);
        free(a->challenges);
        *a = (AcmeAuthorization) {};
}

int acme_parse_authorization(const char *body, size_t len, AcmeAuthorization *ret, char **reterr) {
        _cleanup_(acme_authorization_done) AcmeAuthorization a = {};
        json_auto_t *j = NULL;
        json_t *chs, *v;
        size_t i;
        int r;

        r = load_json(body, len, &j, reterr);
        if (r < 0)
                return r;

        r = get_status(j, true, &a.status);
        if (r >= 0)
                r = parse_identifier(json_object_get(j, "identifier"), &a.identifier);
        if (r >= 0)
                r = get_time(j, "expires", &a.expires);
        if (r < 0)
                return malformed(r, "authorization object", reterr);
        v = json_object_get(j, "wildcard");
        if (v && !json_is_boolean(v))
                return errorf(reterr, -EBADMSG, "Malformed authorization object: bad 'wildcard'.");
        a.wildcard = json_is_true(v);

        chs = json_object_get(j, "challenges");
        if (!json_is_array(chs) || json_array_size(chs) > ACME_LIST_MAX)
                return errorf(reterr, -EBADMSG, "Malformed authorization object: bad 'challenges'.");
        if (json_array_size(chs) > 0) {
                a.challenges = calloc(json_array_size(chs), sizeof(AcmeChallenge));
                if (!a.challenges)
                        return -ENOMEM;
        }
        json_array_foreach(chs, i, v) {
                r = challenge_from_json(v, &a.challenges[a.n_challenges]);
                if (r < 0)
                        return malformed(r, "challenge in authorization", reterr);
                a.n_challenges++;
        }

        *ret = a;
        a = (AcmeAuthorization) {};
        return 0;
}

/* ---- renewalInfo ---- */

void acme_renewal_info_done(AcmeRenewalInfo *i) {
        if (!i)
                return;
        i->explanation_url = mfree(i->explanation_url);
}

int acme_parse_renewal_info(const char *body, size_t len, AcmeRenewalInfo *ret, char **reterr) {
        _cleanup_(acme_renewal_info_done) AcmeRenewalInfo ri = {};
        json_auto_t *j = NULL;
        json_t *w;
        int r;

        r = load_json(body, len, &j, reterr);
        if (r < 0)
                return r;
        w = json_object_get(j, "suggestedWindow");
        if (!json_is_object(w))
                return errorf(reterr, -EBADMSG, "Malformed renewalInfo: no 'suggestedWindow'.");
        r = get_time(w, "start", &ri.start);
        if (r >= 0)
                r = get_time(w, "end", &ri.end);
        if (r >= 0 && (ri.start <= 0 || ri.end < ri.start))
                r = -EBADMSG;
        if (r >= 0)
                r = get_url(j, "explanationURL", false, &ri.explanation_url);
        if (r < 0)
                return malformed(r, "renewalInfo: bad 'suggestedWindow'", reterr);
        *ret = ri;
        ri = (AcmeRenewalInfo) {};
        return 0;
}

/* ---- headers ---- */

AcmeContentType acme_parse_content_type(const char *value) {
        size_t n;

        if (!value)
                return ACME_CONTENT_NONE;
        value += strspn(value, " \t");
        n = strcspn(value, "; \t");
        if (n == strlen("application/json") && strncasecmp(value, "application/json", n) == 0)
                return ACME_CONTENT_JSON;
        if (n == strlen("application/problem+json") && strncasecmp(value, "application/problem+json", n) == 0)
                return ACME_CONTENT_PROBLEM;
        if (n == strlen("application/pem-certificate-chain") &&
            strncasecmp(value, "application/pem-certificate-chain", n) == 0)
                return ACME_CONTENT_PEM_CHAIN;
        return ACME_CONTENT_OTHER;
}

int acme_parse_header_line(const char *line, size_t len, char **ret_name, char **ret_value) {
        const char *colon, *v, *end;
        char *name, *value;

        if (!line || !ret_name || !ret_value)
                return -EINVAL;
        if (len > ACME_HEADER_MAX)
                return -E2BIG;
        if (memchr(line, '\0', len))
                return 0;
        colon = memchr(line, ':', len);
        if (!colon || colon == line)
                return 0;
        for (const char *p = line; p < colon; p++)
                if (!(isalnum((unsigned char) *p) || strchr("!#$%&'*+-.^_`|~", *p)))
                        return 0; /* "HTTP/1.1 200 OK" has a space before any colon */
        v = colon + 1;
        end = line + len;
        while (end > v && strchr(" \t\r\n", end[-1]))
                end--;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        for (const char *p = v; p < end; p++)
                if ((unsigned char) *p < 0x20 && *p != '\t')
                        return 0;

        name = strndup(line, (size_t) (colon - line));
        if (!name)
                return -ENOMEM;
        for (char *p = name; *p; p++)
                *p = (char) tolower((unsigned char) *p);
        value = strndup(v, (size_t) (end - v));
        if (!value) {
                free(name);
                return -ENOMEM;
        }
        *ret_name = name;
        *ret_value = value;
        return 1;
}

/* Does the rel parameter value (already unquoted) list rel? */
static bool rel_matches(const char *list, size_t n, const char *rel) {
        size_t rl = strlen(rel);
        size_t i = 0;

        while (i < n) {
                size_t start, len;
                while (i < n && (list[i] == ' ' || list[i] == '\t'))
                        i++;
                start = i;
                while (i < n && list[i] != ' ' && list[i] != '\t')
                        i++;
                len = i - start;
                if (len == rl && strncasecmp(list + start, rel, rl) == 0)
                        return true;
        }
        return false;
}

int acme_parse_link(const char *value, const char *rel, char ***ret) {
        const char *p;
        int added = 0, r;

        if (!value || !rel || !ret)
                return -EINVAL;
        if (strlen(value) > ACME_HEADER_MAX)
                return -E2BIG;

        p = value;
        for (;;) {
                const char *lt, *gt;
                bool match = false;

                p += strspn(p, " \t,");
                if (*p == '\0')
                        break;
                if (*p != '<')
                        return added; /* malformed: keep what we have */
                lt = p + 1;
                gt = strchr(lt, '>');
                if (!gt)
                        return added;
                p = gt + 1;

                /* Parameters up to the next ',' outside quotes. */
                for (;;) {
                        const char *name, *val;
                        size_t nlen, vlen;

                        p += strspn(p, " \t");
                        if (*p != ';')
                                break;
                        p++;
                        p += strspn(p, " \t");
                        name = p;
                        nlen = strcspn(p, "=;, \t");
                        p += nlen;
                        p += strspn(p, " \t");
                        val = NULL;
                        vlen = 0;
                        if (*p == '=') {
                                p++;
                                p += strspn(p, " \t");
                                if (*p == '"') {
                                        const char *q;
                                        val = ++p;
                                        q = p;
                                        while (*q && *q != '"') {
                                                if (*q == '\\' && q[1])
                                                        q++;
                                                q++;
                                        }
                                        vlen = (size_t) (q - val);
                                        p = *q ? q + 1 : q;
                                } else {
                                        val = p;
                                        vlen = strcspn(p, ";, \t");
                                        p += vlen;
                                }
                        }
                        if (nlen == 3 && strncasecmp(name, "rel", 3) == 0 && val && rel_matches(val, vlen, rel))
                                match = true;
                }
                /* Skip junk up to the next link. */
                p += strcspn(p, ",");

                if (match) {
                        _cleanup_free_ char *url = NULL;

                        if (strv_length(*ret) >= ACME_LIST_MAX)
                                return added;
                        url = strndup(lt, (size_t) (gt - lt));
                        if (!url)
                                return -ENOMEM;
                        if (acme_url_is_valid(url)) {
                                r = strv_consume(ret, TAKE_PTR(url));
                                if (r < 0)
                                        return r;
                                added++;
                        }
                }
        }
        return added;
}

/* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT", parsed without the locale. */
static int parse_http_date(const char *s, int64_t *ret) {
        static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
        static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
        char wd[4], mon[4], gmt[4];
        unsigned d, y, h, mi, se;
        int month = -1, n = 0;
        bool day_ok = false;
        struct tm tm;
        time_t t;

        if (strlen(s) != 29)
                return -EINVAL;
        if (sscanf(s, "%3[A-Za-z], %2u %3[A-Za-z] %4u %2u:%2u:%2u %3[A-Z]%n", wd, &d, mon, &y, &h, &mi, &se, gmt,
                   &n) != 8 ||
            n != 29)
                return -EINVAL;
        for (size_t i = 0; i < ELEMENTSOF(days); i++)
                if (streq(wd, days[i]))
                        day_ok = true;
        for (size_t i = 0; i < ELEMENTSOF(months); i++)
                if (streq(mon, months[i]))
                        month = (int) i;
        if (!day_ok || month < 0 || !streq(gmt, "GMT") || d < 1 || d > 31 || y < 1970 || y > 9999 || h > 23 ||
            mi > 59 || se > 60)
                return -EINVAL;
        tm = (struct tm) {
                .tm_year = (int) y - 1900, .tm_mon = month, .tm_mday = (int) d,
                .tm_hour = (int) h, .tm_min = (int) mi, .tm_sec = (int) se,
        };
        t = timegm(&tm);
        if (t == (time_t) -1)
                return -EINVAL;
        *ret = (int64_t) t;
        return 0;
}

int acme_parse_retry_after(const char *value, int64_t now, int64_t *ret) {
        _cleanup_free_ char *v = NULL;
        uint64_t secs;
        int64_t when;
        int r;

        if (!value || !ret)
                return -EINVAL;
        if (strlen(value) > 64)
                return -EINVAL;
        v = strdup(value);
        if (!v)
                return -ENOMEM;
        strstrip(v);
        if (isempty(v))
                return -EINVAL;

        if (v[0] >= '0' && v[0] <= '9') {
                if (strspn(v, "0123456789") != strlen(v))
                        return -EINVAL;
                r = safe_atou64(v, &secs);
                if (r == -ERANGE || (r >= 0 && secs > (uint64_t) ACME_RETRY_AFTER_MAX))
                        secs = ACME_RETRY_AFTER_MAX;
                else if (r < 0)
                        return -EINVAL;
                *ret = (int64_t) secs;
                return 0;
        }

        r = parse_http_date(v, &when);
        if (r < 0)
                return r;
        *ret = when <= now ? 0 : MIN(when - now, (int64_t) ACME_RETRY_AFTER_MAX);
        return 0;
}

int acme_parse_nonce(const char *value, char **ret) {
        char *n;

        if (!value || !ret)
                return -EINVAL;
        if (strlen(value) > ACME_NONCE_MAX || !base64url_is_valid(value))
                return -EBADMSG;
        n = strdup(value);
        if (!n)
                return -ENOMEM;
        *ret = n;
        return 0;
}

bool acme_url_is_valid(const char *url) {
        const char *host;
        size_t n;

        if (!url)
                return false;
        n = strlen(url);
        if (n == 0 || n > ACME_URL_MAX)
                return false;
        if (startswith(url, "https://"))
                host = url + 8;
        else if (startswith(url, "http://"))
                host = url + 7;
        else
                return false;
        /* A host is required; no userinfo (a classic way to disguise the host). */
        n = strcspn(host, "/?#");
        if (n == 0 || memchr(host, '@', n))
                return false;
        for (const char *p = url; *p; p++)
                if ((unsigned char) *p <= 0x20 || (unsigned char) *p >= 0x7f || strchr("\"<>\\^`{|}#", *p))
                        return false;
        return true;
}

int acme_parse_location(const char *value, char **ret) {
        char *u;

        if (!value || !ret)
                return -EINVAL;
        if (!acme_url_is_valid(value))
                return -EBADMSG;
        u = strdup(value);
        if (!u)
                return -ENOMEM;
        *ret = u;
        return 0;
}

/* The "scheme://host:port" prefix length of a valid URL. */
static size_t origin_len(const char *url) {
        const char *h = strstr(url, "://");
        if (!h)
                return 0;
        h += 3;
        return (size_t) (h - url) + strcspn(h, "/?#");
}

bool acme_url_same_origin(const char *a, const char *b) {
        size_t na, nb;

        if (!acme_url_is_valid(a) || !acme_url_is_valid(b))
                return false;
        na = origin_len(a);
        nb = origin_len(b);
        /* Scheme and host are case-insensitive; an explicit default port is not normalized. */
        return na == nb && strncasecmp(a, b, na) == 0;
}

bool acme_token_is_valid(const char *token) {
        if (!token)
                return false;
        if (strlen(token) > ACME_TOKEN_MAX)
                return false;
        return base64url_is_valid(token);
}
