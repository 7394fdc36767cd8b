/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cert-json.h"
#include "parse-util.h"
#include "pki-csr.h"
#include "pki-key.h"
#include "string-util.h"

#define STRING_MAX 4096U     /* paths, commands, subjects */
#define NAME_MAX_LEN 256U    /* nicknames, CA names */
#define QUOTE_MAX 64U        /* bad values echoed in error words */

/* ---- error words ---- */

/* A bad value as it is echoed in words: printable ASCII only, truncated. Never NULL (falls back to
 * a static string on OOM, so the caller frees only what it got from here). */
static char *value_quote(const char *s) {
        size_t n = strlen(s), k = MIN(n, (size_t) QUOTE_MAX);
        char *q = malloc(k + 4);

        if (!q)
                return NULL;
        for (size_t i = 0; i < k; i++) {
                unsigned char c = (unsigned char) s[i];
                q[i] = (c >= 0x20 && c < 0x7f) ? (char) c : '?';
        }
        if (n > k) {
                memcpy(q + k, "...", 4);
        } else
                q[k] = '\0';
        return q;
}

/* ---- output ---- */

static bool utf8_is_valid(const char *s) {
        const unsigned char *p = (const unsigned char *) s;

        while (*p) {
                unsigned n;
                uint32_t cp;

                if (*p < 0x80) {
                        p++;
                        continue;
                } else if ((*p & 0xe0) == 0xc0) {
                        n = 1;
                        cp = *p & 0x1f;
                } else if ((*p & 0xf0) == 0xe0) {
                        n = 2;
                        cp = *p & 0x0f;
                } else if ((*p & 0xf8) == 0xf0) {
                        n = 3;
                        cp = *p & 0x07;
                } else
                        return false;

                for (unsigned i = 1; i <= n; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (p[i] & 0x3f);
                }
                if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
                    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                        return false;
                p += n + 1;
        }
        return true;
}

/* JSON text the daemon itself stored from jansson: a cheap check of its ends guards against a
 * hand-edited or damaged row without parsing every row of a list. */
static bool stored_object_looks_whole(const char *s) {
        size_t l = s ? strlen(s) : 0;

        return l >= 2 && s[0] == '{' && s[l - 1] == '}' && utf8_is_valid(s);
}

/* A JSON string for a stored text that may not be UTF-8 (hook output, paths): invalid bytes become
 * '?'. NULL -> JSON null. Returns NULL only on OOM. */
json_t *cert_json_text(const char *s) {
        _cleanup_free_ char *copy = NULL;

        if (!s)
                return json_null();
        if (utf8_is_valid(s))
                return json_string(s);

        copy = strdup(s);
        if (!copy)
                return NULL;
        for (char *p = copy; *p; p++)
                if ((unsigned char) *p >= 0x80)
                        *p = '?';
        return json_string(copy);
}

static int object_add(json_t *o, const char *key, json_t *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_set_new(o, key, v) < 0)
                return -ENOMEM;
        return 0;
}

static json_t *parse_stored_object(const char *s) {
        json_t *v;

        if (!s)
                return NULL;
        v = json_loads(s, 0, NULL);
        if (v && !json_is_object(v)) {
                json_decref(v);
                return NULL;
        }
        return v;
}

static const char *const template_arrays[] = { "dns", "ip", "email", "principal", "key_usage", "eku" };

/* The requested template with every key present, whatever was stored. */
static int template_to_json(const char *template_json, json_t **ret) {
        json_auto_t *stored = parse_stored_object(template_json);
        json_auto_t *t = json_object();
        int r;

        if (!t)
                return -ENOMEM;

        r = object_add(t, "subject", json_null());
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(template_arrays); i++) {
                r = object_add(t, template_arrays[i], json_array());
                if (r < 0)
                        return r;
        }
        r = object_add(t, "is_ca", json_false());
        if (r < 0)
                return r;
        r = object_add(t, "path_len", json_integer(-1));
        if (r < 0)
                return r;
        r = object_add(t, "profile", json_null());
        if (r < 0)
                return r;
        r = object_add(t, "ca_issuer", json_null());
        if (r < 0)
                return r;
        r = object_add(t, "ca_options", json_object());
        if (r < 0)
                return r;

        if (stored) {
                const char *key;
                json_t *v;

                /* Only keys we know, with the types we know, override the defaults. */
                json_object_foreach(stored, key, v) {
                        json_t *def = json_object_get(t, key);

                        if (!def)
                                continue;
                        if (json_typeof(def) != json_typeof(v) &&
                            !(json_is_null(def) && json_is_string(v)) &&
                            !(json_is_boolean(def) && json_is_boolean(v)))
                                continue;
                        if (json_object_set(t, key, v) < 0)
                                return -ENOMEM;
                }
        }

        *ret = TAKE_PTR(t);
        return 0;
}

int cert_template_normalize(const char *template_json, char **ret) {
        json_auto_t *t = NULL;
        char *out;
        int r;

        r = template_to_json(template_json, &t);
        if (r < 0)
                return r;
        out = json_dumps(t, JSON_COMPACT);
        if (!out)
                return -ENOMEM;
        *ret = out;
        return 0;
}

int cert_record_to_json(const CertRecord *rec, json_t **ret) {
        json_auto_t *o = NULL;
        json_t *v;
        int r;

        if (!rec || !ret)
                return -EINVAL;

        o = json_object();
        if (!o)
                return -ENOMEM;

        r = object_add(o, "id", json_integer(rec->id));
        if (r < 0)
                return r;

#define SKIP_FIELD(n) (streq(#n, "csr_pem") || streq(#n, "spkac") || streq(#n, "issued_pem") || \
                       streq(#n, "template_json") || streq(#n, "cert_info_json"))
#define OUT_TEXT(n) object_add(o, #n, cert_json_text(rec->n))
#define OUT_INT(n) object_add(o, #n, json_integer(rec->n))
#define OUT_BOOL(n) object_add(o, #n, json_boolean(rec->n))
#define OUT_STATE(n)                                                                            \
        (object_add(o, #n, cert_state_to_string(rec->n) ? json_string(cert_state_to_string(rec->n)) \
                                                        : json_null()) ?:                      \
         object_add(o, "stuck", json_boolean(cert_state_is_stuck(rec->n))))
#define OUT_FIELD(type, n)                      \
        if (!SKIP_FIELD(n)) {                   \
                r = OUT_##type(n);              \
                if (r < 0)                      \
                        return r;               \
        }
        CERT_RECORD_COLUMNS(OUT_FIELD)
#undef OUT_FIELD
#undef OUT_STATE
#undef OUT_BOOL
#undef OUT_INT
#undef OUT_TEXT
#undef SKIP_FIELD

        r = template_to_json(rec->template_json, &v);
        if (r < 0)
                return r;
        r = object_add(o, "template", v);
        if (r < 0)
                return r;

        v = parse_stored_object(rec->cert_info_json);
        r = object_add(o, "cert", v ?: json_null());
        if (r < 0)
                return r;

        *ret = TAKE_PTR(o);
        return 0;
}

/* ---- direct writer ---- */

static int append_str(DynBuf *out, const char *s) {
        return dynbuf_append(out, s, strlen(s));
}

/* A JSON string literal; text that is not UTF-8 gets the same '?' replacement as cert_json_text(). */
static int append_string(DynBuf *out, const char *s) {
        static const char hex[] = "0123456789abcdef";
        bool valid;
        const char *p, *run;
        int r;

        if (!s)
                return append_str(out, "null");

        valid = utf8_is_valid(s);
        r = dynbuf_append(out, "\"", 1);
        if (r < 0)
                return r;

        for (p = run = s;; p++) {
                unsigned char c = (unsigned char) *p;
                char esc[6];
                size_t n = 0;

                if (c >= 0x20 && c != '"' && c != '\\' && (c < 0x80 || valid))
                        continue;

                if (p > run) {
                        r = dynbuf_append(out, run, (size_t) (p - run));
                        if (r < 0)
                                return r;
                }
                if (c == '\0')
                        break;

                if (c >= 0x80)
                        esc[n++] = '?';
                else if (c == '"' || c == '\\') {
                        esc[n++] = '\\';
                        esc[n++] = (char) c;
                } else if (c == '\n') {
                        esc[n++] = '\\';
                        esc[n++] = 'n';
                } else if (c == '\t') {
                        esc[n++] = '\\';
                        esc[n++] = 't';
                } else if (c == '\r') {
                        esc[n++] = '\\';
                        esc[n++] = 'r';
                } else {
                        memcpy(esc, "\\u00", 4);
                        esc[4] = hex[c >> 4];
                        esc[5] = hex[c & 0xf];
                        n = 6;
                }
                r = dynbuf_append(out, esc, n);
                if (r < 0)
                        return r;
                run = p + 1;
        }

        return dynbuf_append(out, "\"", 1);
}

static int append_int(DynBuf *out, int64_t v) {
        char buf[24], *p = buf + sizeof(buf);
        uint64_t u = v < 0 ? (uint64_t) 0 - (uint64_t) v : (uint64_t) v;

        do {
                *--p = (char) ('0' + u % 10);
                u /= 10;
        } while (u > 0);
        if (v < 0)
                *--p = '-';
        return dynbuf_append(out, p, (size_t) (buf + sizeof(buf) - p));
}

/* Compact JSON text of a parsed value. json_dumpb() is avoided on purpose: its loop detection
 * formats a pointer with snprintf() for every container, which dominated long lists. */
static int append_json(DynBuf *out, json_t *v, unsigned depth) {
        const char *key;
        size_t i;
        json_t *e;
        bool first = true;
        int r;

        if (depth > CERT_JSON_MAX_DEPTH)
                return -ELOOP;

        switch (json_typeof(v)) {
        case JSON_NULL:
                return append_str(out, "null");
        case JSON_TRUE:
                return append_str(out, "true");
        case JSON_FALSE:
                return append_str(out, "false");
        case JSON_INTEGER:
                return append_int(out, json_integer_value(v));
        case JSON_STRING:
                /* jansson strings are valid UTF-8; an embedded NUL cannot come out of our parser. */
                return append_string(out, json_string_value(v));
        case JSON_ARRAY:
                r = dynbuf_append(out, "[", 1);
                if (r < 0)
                        return r;
                json_array_foreach(v, i, e) {
                        if (i > 0) {
                                r = dynbuf_append(out, ",", 1);
                                if (r < 0)
                                        return r;
                        }
                        r = append_json(out, e, depth + 1);
                        if (r < 0)
                                return r;
                }
                return dynbuf_append(out, "]", 1);
        case JSON_OBJECT:
                r = dynbuf_append(out, "{", 1);
                if (r < 0)
                        return r;
                json_object_foreach(v, key, e) {
                        r = dynbuf_append(out, first ? "" : ",", first ? 0 : 1);
                        if (r < 0)
                                return r;
                        first = false;
                        r = append_string(out, key);
                        if (r < 0)
                                return r;
                        r = dynbuf_append(out, ":", 1);
                        if (r < 0)
                                return r;
                        r = append_json(out, e, depth + 1);
                        if (r < 0)
                                return r;
                }
                return dynbuf_append(out, "}", 1);
        default: {
                /* Reals: rare, let jansson format them. */
                char buf[64];
                size_t n = json_dumpb(v, buf, sizeof(buf), JSON_ENCODE_ANY);

                if (n == 0 || n > sizeof(buf))
                        return -EINVAL;
                return dynbuf_append(out, buf, n);
        }
        }
}

/* A string literal, its length known at compile time. */
#define APPEND_LIT(lit) dynbuf_append(out, lit, sizeof(lit) - 1)

int cert_record_append_json(const CertRecord *rec, DynBuf *out) {
        int r;

        if (!rec || !out)
                return -EINVAL;

        r = append_str(out, "{\"id\":");
        if (r < 0)
                return r;
        r = append_int(out, rec->id);
        if (r < 0)
                return r;

#define SKIP_FIELD(n) (streq(#n, "csr_pem") || streq(#n, "spkac") || streq(#n, "issued_pem") || \
                       streq(#n, "template_json") || streq(#n, "cert_info_json"))
#define OUT_TEXT(n) append_string(out, rec->n)
#define OUT_INT(n) append_int(out, rec->n)
#define OUT_BOOL(n) append_str(out, rec->n ? "true" : "false")
#define OUT_STATE(n)                                                            \
        (append_string(out, cert_state_to_string(rec->n)) ?:                   \
         (cert_state_is_stuck(rec->n) ? APPEND_LIT(",\"stuck\":true")          \
                                      : APPEND_LIT(",\"stuck\":false")))
#define OUT_FIELD(type, n)                                      \
        if (!SKIP_FIELD(n)) {                                   \
                r = APPEND_LIT(",\"" #n "\":");                 \
                if (r < 0)                                      \
                        return r;                               \
                r = OUT_##type(n);                              \
                if (r < 0)                                      \
                        return r;                               \
        }
        CERT_RECORD_COLUMNS(OUT_FIELD)
#undef OUT_FIELD
#undef OUT_STATE
#undef OUT_BOOL
#undef OUT_INT
#undef OUT_TEXT
#undef SKIP_FIELD

        r = APPEND_LIT(",\"template\":");
        if (r < 0)
                return r;
        if (!rec->template_json)
                r = append_str(out, "{\"subject\":null,\"dns\":[],\"ip\":[],\"email\":[],\"principal\":[],"
                                    "\"key_usage\":[],\"eku\":[],\"is_ca\":false,\"path_len\":-1,\"profile\":null,\"ca_issuer\":null,\"ca_options\":{}}");
        else if (stored_object_looks_whole(rec->template_json) && strstr(rec->template_json, "\"ca_options\":"))
                /* Stored normalized (cert_template_normalize()): copied as it is. */
                r = append_str(out, rec->template_json);
        else {
                json_auto_t *t = NULL;

                r = template_to_json(rec->template_json, &t);
                if (r < 0)
                        return r;
                r = append_json(out, t, 0);
        }
        if (r < 0)
                return r;

        r = APPEND_LIT(",\"cert\":");
        if (r < 0)
                return r;
        /* Written by the daemon from jansson, so copied as it is (parsing it for every row was a
         * third of the time of a list). */
        r = append_str(out, stored_object_looks_whole(rec->cert_info_json) ? rec->cert_info_json : "null");
        if (r < 0)
                return r;

        return dynbuf_append(out, "}", 1);
}

#undef APPEND_LIT

int cert_template_from_json(json_t *o, CertTemplate *t, char **reterr) {
        json_t *v;
        size_t i;
        int r;

        *t = (CertTemplate) { .path_len = -1 };
        if (!json_is_object(o))
                return 0;

#define STRV_FIELD(name)                                                               \
        json_array_foreach(json_object_get(o, #name), i, v)                            \
                if (json_is_string(v)) {                                               \
                        r = strv_extend(&t->name, json_string_value(v));               \
                        if (r < 0)                                                     \
                                return r;                                              \
                }
        STRV_FIELD(dns);
        STRV_FIELD(ip);
        STRV_FIELD(email);
        STRV_FIELD(principal);
        STRV_FIELD(eku);
#undef STRV_FIELD

        json_array_foreach(json_object_get(o, "key_usage"), i, v) {
                unsigned bit = key_usage_from_string(json_string_value(v) ?: "");
                if (bit == 0) {
                        (void) asprintf(reterr, "unknown key usage '%s'", strempty(json_string_value(v)));
                        return -EINVAL;
                }
                t->key_usage |= bit;
        }
        if (json_string_value(json_object_get(o, "subject"))) {
                t->subject = strdup(json_string_value(json_object_get(o, "subject")));
                if (!t->subject)
                        return -ENOMEM;
        }
        if (json_string_value(json_object_get(o, "profile"))) {
                t->profile = strdup(json_string_value(json_object_get(o, "profile")));
                if (!t->profile)
                        return -ENOMEM;
        }
        t->is_ca = json_is_true(json_object_get(o, "is_ca"));
        if (json_is_integer(json_object_get(o, "path_len")))
                t->path_len = (int) json_integer_value(json_object_get(o, "path_len"));
        return 0;
}

int ca_record_to_json(const CARecord *rec, const char *roots_path, json_t **ret) {
        json_auto_t *o = NULL;
        json_t *config;
        int r;

        if (!rec || !ret)
                return -EINVAL;

        o = json_object();
        if (!o)
                return -ENOMEM;

        r = object_add(o, "name", cert_json_text(rec->name));
        if (r < 0)
                return r;
        r = object_add(o, "type", cert_json_text(rec->type));
        if (r < 0)
                return r;
        r = object_add(o, "helper", cert_json_text(rec->helper));
        if (r < 0)
                return r;
        r = object_add(o, "aka", cert_json_text(rec->aka));
        if (r < 0)
                return r;
        r = object_add(o, "is_default", json_boolean(rec->is_default));
        if (r < 0)
                return r;
        r = object_add(o, "roots_path", cert_json_text(roots_path));
        if (r < 0)
                return r;
        config = parse_stored_object(rec->config_json);
        /* Secrets never leave the daemon: only whether they are set. */
        if (config && json_object_get(config, "eab_hmac"))
                (void) json_object_set_new(config, "eab_hmac", json_string("(set)"));
        r = object_add(o, "config", config ?: json_object());
        if (r < 0)
                return r;
        r = object_add(o, "created_at", json_integer(rec->created_at));
        if (r < 0)
                return r;
        /* What an EXTERNAL CA's helper reported; null until its first refresh. */
        r = object_add(o, "data", parse_stored_object(rec->data_json) ?: json_null());
        if (r < 0)
                return r;

        *ret = TAKE_PTR(o);
        return 0;
}

/* ---- input ---- */

static bool json_depth_ok(const char *p, size_t n, unsigned max) {
        unsigned depth = 0;
        bool in_string = false, escaped = false;

        for (size_t i = 0; i < n; i++) {
                char c = p[i];

                if (in_string) {
                        if (escaped)
                                escaped = false;
                        else if (c == '\\')
                                escaped = true;
                        else if (c == '"')
                                in_string = false;
                        continue;
                }

                if (c == '"')
                        in_string = true;
                else if (c == '[' || c == '{') {
                        if (++depth > max)
                                return false;
                } else if ((c == ']' || c == '}') && depth > 0)
                        depth--;
        }
        return true;
}

int cert_json_parse_body(const void *data, size_t size, json_t **ret, char **reterr) {
        json_auto_t *v = NULL;
        json_error_t error;
        bool blank = true;

        if (!ret || (!data && size > 0))
                return -EINVAL;

        for (size_t i = 0; i < size; i++)
                if (!strchr(" \t\r\n", ((const char *) data)[i]) || ((const char *) data)[i] == '\0') {
                        blank = false;
                        break;
                }
        if (blank) {
                v = json_object();
                if (!v)
                        return -ENOMEM;
                *ret = TAKE_PTR(v);
                return 0;
        }

        if (!json_depth_ok(data, size, CERT_JSON_MAX_DEPTH))
                return errorf(reterr, -EINVAL,
                            "The JSON body is nested deeper than %u levels. Send a flat object of request fields.",
                            CERT_JSON_MAX_DEPTH);

        v = json_loadb(data, size, JSON_REJECT_DUPLICATES, &error);
        if (!v)
                return errorf(reterr, -EINVAL,
                            "Malformed JSON at line %d, column %d: %s. Send one JSON object, e.g. {\"nickname\": \"web\"}.",
                            error.line, error.column, error.text);
        if (!json_is_object(v))
                return errorf(reterr, -EINVAL,
                            "The body must be a JSON object of request fields, e.g. {\"nickname\": \"web\"}, not a JSON %s.",
                            json_is_array(v) ? "array" : json_is_string(v) ? "string" : "scalar");

        *ret = TAKE_PTR(v);
        return 0;
}

/* Reads a string field. NULL in *ret means JSON null (only if nullable). Refuses empty strings,
 * embedded NULs and strings longer than max. */
static int get_string(json_t *v, const char *field, bool nullable, size_t max, const char **ret, char **reterr) {
        const char *s = NULL;
        size_t n;

        if (json_is_null(v) && nullable) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v))
                return errorf(reterr, -EINVAL, "Field '%s' must be a string%s, not %s.", field,
                            nullable ? " or null" : "",
                            json_is_null(v) ? "null" : json_is_array(v) ? "an array" :
                            json_is_object(v) ? "an object" : json_is_boolean(v) ? "a boolean" : "a number");

        s = json_string_value(v);
        n = json_string_length(v);
        if (n != strlen(s))
                return errorf(reterr, -EINVAL, "Field '%s' contains a NUL character. Remove it.", field);
        if (n == 0)
                return errorf(reterr, -EINVAL, "Field '%s' must not be empty%s.", field,
                            nullable ? "; send null to unset it" : "");
        if (n > max)
                return errorf(reterr, -EINVAL, "Field '%s' is %zu bytes long; at most %zu are allowed.", field, n, max);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
                        return errorf(reterr, -EINVAL,
                                    "Field '%s' contains a control character at position %zu. Remove it.", field, i);

        *ret = s;
        return 0;
}

static int get_integer(json_t *v, const char *field, json_int_t min, json_int_t max, json_int_t *ret, char **reterr) {
        json_int_t i = 0;

        if (!json_is_integer(v))
                return errorf(reterr, -EINVAL, "Field '%s' must be an integer%s.", field,
                            json_is_string(v) ? " (without quotes)" : "");
        i = json_integer_value(v);
        if (i < min || i > max)
                return errorf(reterr, -EINVAL, "Field '%s' is %" JSON_INTEGER_FORMAT "; it must be between %"
                            JSON_INTEGER_FORMAT " and %" JSON_INTEGER_FORMAT ".", field, i, min, max);
        *ret = i;
        return 0;
}

static int get_boolean(json_t *v, const char *field, bool *ret, char **reterr) {
        if (!json_is_boolean(v))
                return errorf(reterr, -EINVAL, "Field '%s' must be true or false%s.", field,
                            json_is_string(v) ? " (without quotes)" : "");
        *ret = json_is_true(v);
        return 0;
}

static int set_text(char **field, const char *value) {
        char *c = NULL;

        if (value) {
                c = strdup(value);
                if (!c)
                        return -ENOMEM;
        }
        free(*field);
        *field = c;
        return 0;
}

/* The working state of one apply: a copy of the record and the template object. */
typedef struct Apply {
        CertRecord rec;
        json_t *template;
        bool template_changed;
        bool key_changed;
} Apply;

typedef int (*FieldHandler)(Apply *a, const char *field, json_t *v, char **reterr);

static int apply_text_plain(char **dst, const char *field, json_t *v, bool nullable, size_t max, char **reterr) {
        const char *s = NULL;
        int r;

        r = get_string(v, field, nullable, max, &s, reterr);
        if (r < 0)
                return r;
        return set_text(dst, s);
}

static int field_nickname(Apply *a, const char *field, json_t *v, char **reterr) {
        _cleanup_free_ char *q = NULL;
        const char *s = NULL;
        int64_t dummy;
        int r;

        r = get_string(v, field, false, NAME_MAX_LEN, &s, reterr);
        if (r < 0)
                return r;

        q = value_quote(s);
        if (safe_atoi64(s, &dummy) >= 0)
                return errorf(reterr, -EINVAL,
                            "Field 'nickname' is '%s', a number; numbers name certificates by id. Use a name with at least one letter, e.g. 'web-%s'.",
                            strna(q), strna(q));
        if (strchr(s, '/') || s[0] == ' ' || s[strlen(s) - 1] == ' ')
                return errorf(reterr, -EINVAL,
                            "Field 'nickname' is '%s'; a nickname must not contain '/' or start or end with a space. Choose another.",
                            strna(q));
        return set_text(&a->rec.nickname, s);
}

static int field_ca(Apply *a, const char *field, json_t *v, char **reterr) {
        return apply_text_plain(&a->rec.ca, field, v, false, NAME_MAX_LEN, reterr);
}

static int apply_path(char **dst, const char *field, json_t *v, bool nullable, char **reterr) {
        _cleanup_free_ char *q = NULL;
        const char *s = NULL;
        int r;

        r = get_string(v, field, nullable, PATH_MAX - 1, &s, reterr);
        if (r < 0)
                return r;
        if (s && s[0] != '/') {
                q = value_quote(s);
                return errorf(reterr, -EINVAL,
                            "Field '%s' is '%s', a relative path. Give an absolute path (starting with '/').",
                            field, strna(q));
        }
        return set_text(dst, s);
}

static int field_cert_path(Apply *a, const char *field, json_t *v, char **reterr) {
        return apply_path(&a->rec.cert_path, field, v, false, reterr);
}
static int field_key_path(Apply *a, const char *field, json_t *v, char **reterr) {
        return apply_path(&a->rec.key_path, field, v, true, reterr);
}
static int field_chain_path(Apply *a, const char *field, json_t *v, char **reterr) {
        return apply_path(&a->rec.chain_path, field, v, true, reterr);
}
static int field_fullchain_path(Apply *a, const char *field, json_t *v, char **reterr) {
        return apply_path(&a->rec.fullchain_path, field, v, true, reterr);
}
static int field_ca_file(Apply *a, const char *field, json_t *v, char **reterr) {
        return apply_path(&a->rec.ca_file, field, v, true, reterr);
}

static int field_key_type(Apply *a, const char *field, json_t *v, char **reterr) {
        _cleanup_free_ char *q = NULL;
        const char *s = NULL;
        KeyType t;
        int r;

        r = get_string(v, field, false, NAME_MAX_LEN, &s, reterr);
        if (r < 0)
                return r;
        t = key_type_from_string(s);
        if (t < 0) {
                q = value_quote(s);
                return errorf(reterr, -EINVAL, "Field 'key_type' is '%s'. Use \"RSA\", \"EC\" or \"ED25519\".", strna(q));
        }
        a->key_changed = true;
        return set_text(&a->rec.key_type, key_type_to_string(t));
}

static int field_key_bits(Apply *a, const char *field, json_t *v, char **reterr) {
        json_int_t i = 0;
        int r;

        r = get_integer(v, field, 0, 65536, &i, reterr);
        if (r < 0)
                return r;
        a->rec.key_bits = i;
        a->key_changed = true;
        return 0;
}

static int apply_owner(char **dst, const char *field, json_t *v, char **reterr) {
        _cleanup_free_ char *q = NULL;
        const char *s = NULL;
        uid_t uid;
        gid_t gid;
        int r;

        r = get_string(v, field, true, NAME_MAX_LEN, &s, reterr);
        if (r < 0)
                return r;
        if (s) {
                r = parse_owner(s, &uid, &gid);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        q = value_quote(s);
                        return errorf(reterr, -EINVAL,
                                    "Field '%s' is '%s', which is not a known \"user[:group]\" on this host. Give an existing user name or number, optionally with ':group'.",
                                    field, strna(q));
                }
        }
        return set_text(dst, s);
}

static int field_key_owner(Apply *a, const char *field, json_t *v, char **reterr) {
        return apply_owner(&a->rec.key_owner, field, v, reterr);
}
static int field_cert_owner(Apply *a, const char *field, json_t *v, char **reterr) {
        return apply_owner(&a->rec.cert_owner, field, v, reterr);
}

static int apply_mode(int64_t *dst, const char *field, json_t *v, char **reterr) {
        json_int_t i = 0;

        if (json_is_integer(v) && (json_integer_value(v) < 0 || json_integer_value(v) > 07777))
                return errorf(reterr, -EINVAL,
                            "Field '%s' is %" JSON_INTEGER_FORMAT "; a file mode is a number from 0 to 4095 (07777), e.g. 384 for 0600.",
                            field, json_integer_value(v));
        if (get_integer(v, field, 0, 07777, &i, reterr) < 0)
                return -EINVAL;
        *dst = i;
        return 0;
}

static int field_key_mode(Apply *a, const char *field, json_t *v, char **reterr) {
        return apply_mode(&a->rec.key_mode, field, v, reterr);
}
static int field_cert_mode(Apply *a, const char *field, json_t *v, char **reterr) {
        return apply_mode(&a->rec.cert_mode, field, v, reterr);
}

static int apply_command(char **dst, const char *field, json_t *v, char **reterr) {
        _cleanup_strv_free_ char **argv = NULL;
        const char *s = NULL;
        int r;

        r = get_string(v, field, true, STRING_MAX, &s, reterr);
        if (r < 0)
                return r;
        if (s) {
                r = strv_split_shell(s, &argv);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 || strv_length(argv) == 0)
                        return errorf(reterr, -EINVAL,
                                    "Field '%s' is not a usable command line (an unterminated quote, or no command). Quote arguments with '...' or \"...\"; no shell is run.",
                                    field);
        }
        return set_text(dst, s);
}

static int field_pre_save_cmd(Apply *a, const char *field, json_t *v, char **reterr) {
        return apply_command(&a->rec.pre_save_cmd, field, v, reterr);
}
static int field_post_save_cmd(Apply *a, const char *field, json_t *v, char **reterr) {
        return apply_command(&a->rec.post_save_cmd, field, v, reterr);
}

static int field_autorenew(Apply *a, const char *field, json_t *v, char **reterr) {
        return get_boolean(v, field, &a->rec.autorenew, reterr);
}

static int field_validity(Apply *a, const char *field, json_t *v, char **reterr) {
        json_int_t i = 0;
        int r;

        if (json_is_null(v)) {
                a->rec.validity = 0;
                return 0;
        }
        if (json_is_integer(v) && json_integer_value(v) <= 0)
                return errorf(reterr, -EINVAL,
                            "Field 'validity' is %" JSON_INTEGER_FORMAT "; give the requested lifetime in seconds (> 0), e.g. 7776000 for 90 days, or null for the CA's default.",
                            json_integer_value(v));
        r = get_integer(v, field, 1, (json_int_t) 100 * 366 * 24 * 3600, &i, reterr);
        if (r < 0)
                return r;
        a->rec.validity = i;
        return 0;
}

static int field_renew_before(Apply *a, const char *field, json_t *v, char **reterr) {
        _cleanup_free_ char *q = NULL;
        const char *s = NULL;
        size_t n;
        int r;

        r = get_string(v, field, true, 64, &s, reterr);
        if (r < 0)
                return r;
        if (s) {
                bool ok;

                n = strlen(s);
                if (s[n - 1] == '%') {
                        _cleanup_free_ char *num = strndup(s, n - 1);
                        unsigned pct;

                        if (!num)
                                return -ENOMEM;
                        ok = safe_atou(num, &pct) >= 0 && pct >= 1 && pct <= 99;
                } else {
                        int64_t sec;

                        ok = parse_duration_sec(s, &sec) >= 0 && sec > 0;
                }
                if (!ok) {
                        q = value_quote(s);
                        return errorf(reterr, -EINVAL,
                                    "Field 'renew_before' is '%s'. Use a time before expiry such as \"14d\" or \"12h\", or a share of the lifetime from \"1%%\" to \"99%%\", or null for the default rule.",
                                    strna(q));
                }
        }
        return set_text(&a->rec.renew_before, s);
}

/* Template fields. */

static int template_set(Apply *a, const char *field, json_t *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_set_new(a->template, field, v) < 0)
                return -ENOMEM;
        a->template_changed = true;
        return 0;
}

static int field_subject(Apply *a, const char *field, json_t *v, char **reterr) {
        _cleanup_(X509_NAME_freep) X509_NAME *name = NULL;
        _cleanup_free_ char *words = NULL, *q = NULL;
        const char *s = NULL;
        int r;

        r = get_string(v, field, true, STRING_MAX, &s, reterr);
        if (r < 0)
                return r;
        if (s) {
                r = pki_name_parse(s, &name, &words);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        q = value_quote(s);
                        return errorf(reterr, -EINVAL,
                                    "Field 'subject' is '%s', which is not a distinguished name%s%s. Write it as \"CN=web,O=Example\".",
                                    strna(q), words ? ": " : "", strempty(words));
                }
        }
        return template_set(a, field, s ? json_string(s) : json_null());
}

typedef int (*ItemCheck)(const char *field, size_t idx, const char *s, char **ret_canonical, char **reterr);

/* The error of a list item that is not what field takes: what names the kind and says how to
 * write one. */
static int item_refuse(const char *field, size_t idx, const char *s, const char *what, char **reterr) {
        _cleanup_free_ char *q = value_quote(s);

        return errorf(reterr, -EINVAL, "Field '%s' item %zu '%s' is not %s", field, idx, strna(q), what);
}

static int item_copy(const char *s, char **ret) {
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int item_dns(const char *field, size_t idx, const char *s, char **ret, char **reterr) {
        if (!dns_name_is_valid(s))
                return item_refuse(field, idx, s,
                                   "a valid DNS name. Use letters, digits and hyphens in dot-separated labels (e.g. \"www.example.com\"), optionally starting with \"*.\", without a trailing dot.",
                                   reterr);
        return item_copy(s, ret);
}

static int item_ip(const char *field, size_t idx, const char *s, char **ret, char **reterr) {
        int r;

        r = ip_address_normalize(s, ret);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return item_refuse(field, idx, s,
                                   "an IP address. Give an IPv4 (\"192.0.2.1\") or IPv6 (\"2001:db8::1\") address.",
                                   reterr);
        return 0;
}

static int item_email(const char *field, size_t idx, const char *s, char **ret, char **reterr) {
        if (!email_is_valid(s))
                return item_refuse(field, idx, s, "an e-mail address. Give one like \"admin@example.com\".",
                                   reterr);
        return item_copy(s, ret);
}

static int item_principal(const char *field, size_t idx, const char *s, char **ret, char **reterr) {
        if (strpbrk(s, " \t") || !strchr(s, '@') || s[0] == '@' || endswith(s, "@"))
                return item_refuse(field, idx, s,
                                   "a Kerberos principal. Give one like \"host/web.example.com@EXAMPLE.COM\".",
                                   reterr);
        return item_copy(s, ret);
}

static int item_key_usage(const char *field, size_t idx, const char *s, char **ret, char **reterr) {
        unsigned ku;

        ku = key_usage_from_string(s);
        if (ku == 0)
                return item_refuse(field, idx, s,
                                   "a key usage. Use digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment, keyAgreement, keyCertSign, cRLSign, encipherOnly or decipherOnly.",
                                   reterr);
        *ret = key_usage_to_string(ku);
        return *ret ? 0 : -ENOMEM;
}

static int item_eku(const char *field, size_t idx, const char *s, char **ret, char **reterr) {
        int r;

        r = eku_normalize(s, ret);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return item_refuse(field, idx, s,
                                   "an extended key usage. Use a name such as id-kp-serverAuth or id-kp-clientAuth, or a dotted OID such as 1.3.6.1.5.5.7.3.1.",
                                   reterr);
        return 0;
}

static int apply_array(Apply *a, const char *field, json_t *v, ItemCheck check, char **reterr) {
        json_auto_t *out = NULL;
        size_t idx;
        json_t *item;
        int r;

        out = json_array();
        if (!out)
                return -ENOMEM;

        if (json_is_null(v))
                return template_set(a, field, TAKE_PTR(out));
        if (!json_is_array(v))
                return errorf(reterr, -EINVAL, "Field '%s' must be an array of strings, e.g. [\"%s\"].", field,
                            streq(field, "dns") ? "www.example.com" : "...");
        if (json_array_size(v) > CERT_JSON_MAX_ITEMS)
                return errorf(reterr, -EINVAL, "Field '%s' has %zu items; at most %u are allowed.", field,
                            json_array_size(v), CERT_JSON_MAX_ITEMS);

        json_array_foreach(v, idx, item) {
                _cleanup_free_ char *canonical = NULL, *name = NULL;
                const char *s = NULL;
                bool dup = false;
                size_t j;
                json_t *prev;

                if (asprintf(&name, "%s[%zu]", field, idx) < 0)
                        return -ENOMEM;
                r = get_string(item, name, false, STRING_MAX, &s, reterr);
                if (r < 0)
                        return r;
                r = check(field, idx, s, &canonical, reterr);
                if (r < 0)
                        return r;

                /* Duplicates are dropped silently: a SAN listed twice means the same thing. */
                json_array_foreach(out, j, prev)
                        if (streq(json_string_value(prev), canonical)) {
                                dup = true;
                                break;
                        }
                if (dup)
                        continue;

                if (json_array_append_new(out, json_string(canonical)) < 0)
                        return -ENOMEM;
        }

        return template_set(a, field, TAKE_PTR(out));
}

static int field_dns(Apply *a, const char *field, json_t *v, char **reterr) {
        return apply_array(a, field, v, item_dns, reterr);
}
static int field_ip(Apply *a, const char *field, json_t *v, char **reterr) {
        return apply_array(a, field, v, item_ip, reterr);
}
static int field_email(Apply *a, const char *field, json_t *v, char **reterr) {
        return apply_array(a, field, v, item_email, reterr);
}
static int field_principal(Apply *a, const char *field, json_t *v, char **reterr) {
        return apply_array(a, field, v, item_principal, reterr);
}
static int field_key_usage(Apply *a, const char *field, json_t *v, char **reterr) {
        return apply_array(a, field, v, item_key_usage, reterr);
}
static int field_eku(Apply *a, const char *field, json_t *v, char **reterr) {
        return apply_array(a, field, v, item_eku, reterr);
}

static int field_is_ca(Apply *a, const char *field, json_t *v, char **reterr) {
        bool b = false;
        int r;

        r = get_boolean(v, field, &b, reterr);
        if (r < 0)
                return r;
        return template_set(a, field, json_boolean(b));
}

static int field_path_len(Apply *a, const char *field, json_t *v, char **reterr) {
        json_int_t i = 0;
        int r;

        if (json_is_null(v))
                return template_set(a, field, json_integer(-1));
        r = get_integer(v, field, -1, 1000, &i, reterr);
        if (r < 0)
                return r;
        return template_set(a, field, json_integer(i));
}

static int field_template_name(Apply *a, const char *field, json_t *v, char **reterr) {
        const char *s = NULL;
        int r;

        r = get_string(v, field, true, NAME_MAX_LEN, &s, reterr);
        if (r < 0)
                return r;
        return template_set(a, field, s ? json_string(s) : json_null());
}

/* Per-certificate settings for the CA (ACME: challenge, responders, hooks, profile, chain), merged
 * over the CA's own: a string sets a key, null removes it. Which keys a CA type takes is the
 * daemon's to check; here only the shape. */
static int field_ca_options(Apply *a, const char *field, json_t *v, char **reterr) {
        json_auto_t *merged = NULL;
        const char *key;
        json_t *value;
        int r;

        if (json_is_null(v))
                return template_set(a, field, json_object());
        if (!json_is_object(v))
                return errorf(reterr, -EINVAL, "Field '%s' must be an object of settings, such as "
                              "{\"challenge\": \"dns-01\"}.", field);
        merged = json_deep_copy(json_object_get(a->template, field));
        if (!json_is_object(merged)) {
                json_decref(merged);
                merged = json_object();
                if (!merged)
                        return -ENOMEM;
        }
        json_object_foreach(v, key, value) {
                _cleanup_free_ char *name = strjoin(field, ".", key);
                const char *s = NULL;

                if (!name)
                        return -ENOMEM;
                if (strlen(key) > NAME_MAX_LEN)
                        return errorf(reterr, -EINVAL, "Field '%s' has a setting name of %zu bytes.", field, strlen(key));
                r = get_string(value, name, true, STRING_MAX, &s, reterr);
                if (r < 0)
                        return r;
                if (!s)
                        (void) json_object_del(merged, key); /* absent already is fine */
                else if (json_object_set_new(merged, key, json_string(s)) < 0)
                        return -ENOMEM;
        }
        if (json_object_size(merged) > 32)
                return errorf(reterr, -EINVAL, "Field '%s' has more than 32 settings.", field);
        return template_set(a, field, TAKE_PTR(merged));
}

static const struct {
        const char *name;
        FieldHandler handler;
} cert_fields[] = {
        { "nickname",       field_nickname       },
        { "ca",             field_ca             },
        { "cert_path",      field_cert_path      },
        { "key_path",       field_key_path       },
        { "chain_path",     field_chain_path     },
        { "fullchain_path", field_fullchain_path },
        { "ca_file",        field_ca_file        },
        { "subject",        field_subject        },
        { "dns",            field_dns            },
        { "ip",             field_ip             },
        { "email",          field_email          },
        { "principal",      field_principal      },
        { "key_usage",      field_key_usage      },
        { "eku",            field_eku            },
        { "is_ca",          field_is_ca          },
        { "path_len",       field_path_len       },
        { "profile",        field_template_name  },
        { "ca_issuer",      field_template_name  },
        { "ca_options",     field_ca_options     },
        { "key_type",       field_key_type       },
        { "key_bits",       field_key_bits       },
        { "autorenew",      field_autorenew      },
        { "pre_save_cmd",   field_pre_save_cmd   },
        { "post_save_cmd",  field_post_save_cmd  },
        { "key_owner",      field_key_owner      },
        { "cert_owner",     field_cert_owner     },
        { "key_mode",       field_key_mode       },
        { "cert_mode",      field_cert_mode      },
        { "validity",       field_validity       },
        { "renew_before",   field_renew_before   },
};

/* Fields of the certificate object that the daemon sets. */
static const char *const cert_read_only[] = {
        "id", "state", "stuck", "track", "rekey_pending", "next_action_at", "renew_at", "backoff_step",
        "ca_error", "ca_cookie", "stage_issue", "stage_save", "stage_deploy", "issuer", "serial",
        "not_before", "not_after", "sha1", "sha256", "cert", "template", "issued_count",
        "last_notified_at", "created_at", "updated_at", "csr_pem", "spkac", "issued_pem", "template_json",
        "cert_info_json", "ari_start", "ari_end", "ari_next_at", "ari_explanation_url",
};

static int cert_record_copy(const CertRecord *src, CertRecord *dst) {
        int r = 0;

        *dst = *src;
#define NULL_TEXT(n) dst->n = NULL;
#define NULL_INT(n)
#define NULL_BOOL(n)
#define NULL_STATE(n)
#define NULL_FIELD(type, n) NULL_##type(n)
        CERT_RECORD_COLUMNS(NULL_FIELD)
#undef NULL_FIELD
#define COPY_TEXT(n)                                    \
        if (r >= 0 && src->n) {                         \
                dst->n = strdup(src->n);                \
                if (!dst->n)                            \
                        r = -ENOMEM;                    \
        }
#define COPY_INT(n)
#define COPY_BOOL(n)
#define COPY_STATE(n)
#define COPY_FIELD(type, n) COPY_##type(n)
        CERT_RECORD_COLUMNS(COPY_FIELD)
#undef COPY_FIELD
        if (r < 0)
                cert_record_done(dst);
        return r;
}

static void apply_done(Apply *a) {
        cert_record_done(&a->rec);
        json_decref(a->template);
        a->template = NULL;
}

static char *known_fields_list(void) {
        _cleanup_strv_free_ char **l = NULL;

        for (size_t i = 0; i < ELEMENTSOF(cert_fields); i++)
                if (strv_extend(&l, cert_fields[i].name) < 0)
                        return NULL;
        return strv_join(l, ", ");
}

int cert_record_apply_json(CertRecord *rec, json_t *body, char **reterr) {
        _cleanup_(apply_done) Apply a = {};
        const char *key;
        json_t *v;
        int r;

        if (!rec || !json_is_object(body))
                return -EINVAL;

        r = cert_record_copy(rec, &a.rec);
        if (r < 0)
                return r;
        a.template = parse_stored_object(rec->template_json);
        if (!a.template) {
                a.template = json_object();
                if (!a.template)
                        return -ENOMEM;
        }

        json_object_foreach(body, key, v) {
                FieldHandler handler = NULL;

                for (size_t i = 0; i < ELEMENTSOF(cert_fields); i++)
                        if (streq(cert_fields[i].name, key)) {
                                handler = cert_fields[i].handler;
                                break;
                        }

                if (!handler) {
                        _cleanup_free_ char *q = value_quote(key), *known = NULL;

                        for (size_t i = 0; i < ELEMENTSOF(cert_read_only); i++)
                                if (streq(cert_read_only[i], key))
                                        return errorf(reterr, -EINVAL,
                                                    "Field '%s' is set by the daemon and cannot be changed. Remove it from the request.",
                                                    key);
                        known = known_fields_list();
                        return errorf(reterr, -ENOENT, "Unknown field '%s'. The request fields are: %s.", strna(q),
                                    strna(known));
                }

                r = handler(&a, key, v, reterr);
                if (r < 0)
                        return r;
        }

        if (a.key_changed) {
                _cleanup_free_ char *words = NULL;
                unsigned bits;
                KeyType t;

                if (!a.rec.key_type) {
                        if (a.rec.key_bits != 0)
                                return errorf(reterr, -EINVAL,
                                            "Field 'key_bits' is %" PRIi64 " but no key type is set. Add \"key_type\": \"RSA\", \"EC\" or \"ED25519\".",
                                            a.rec.key_bits);
                } else {
                        t = key_type_from_string(a.rec.key_type);
                        r = pki_key_params_check(t, (unsigned) a.rec.key_bits, &bits, &words);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                return errorf(reterr, -EINVAL,
                                            "Fields 'key_type'/'key_bits' (%s, %" PRIi64 ") do not fit%s%s. RSA takes 2048 to 8192 bits, EC 256, 384 or 521, ED25519 none (0).",
                                            a.rec.key_type, a.rec.key_bits, words ? ": " : "", strempty(words));
                        /* ED25519 has no size choice; keep what is stored meaningful. */
                        if (t == KEY_TYPE_ED25519)
                                a.rec.key_bits = 0;
                }
        }

        if (a.template_changed) {
                _cleanup_free_ char *partial = json_dumps(a.template, JSON_COMPACT);
                char *s = NULL;

                /* Stored with every key, so that lists can copy it as it is. */
                if (!partial || cert_template_normalize(partial, &s) < 0)
                        return -ENOMEM;
                free(a.rec.template_json);
                a.rec.template_json = s;
        }

        cert_record_done(rec);
        *rec = a.rec;
        a.rec = (CertRecord) {};
        return 0;
}

/* ---- CAs ---- */

static const char *const ca_types[] = { "INTERNAL:SELF", "INTERNAL:LOCAL", "EXTERNAL", "ACME" };

int ca_record_apply_json(CARecord *rec, json_t *body, bool create, char **reterr) {
        _cleanup_free_ char *name = NULL, *type = NULL, *helper = NULL, *config = NULL, *aka = NULL;
        bool is_default = rec ? rec->is_default : false;
        bool helper_set = false, config_set = false, aka_set = false;
        const char *key;
        json_t *v;
        int r;

        if (!rec || !json_is_object(body))
                return -EINVAL;

        json_object_foreach(body, key, v) {
                const char *s = NULL;

                if (streq(key, "name") || streq(key, "type")) {
                        char **dst = streq(key, "name") ? &name : &type;

                        r = get_string(v, key, false, NAME_MAX_LEN, &s, reterr);
                        if (r < 0)
                                return r;
                        if (!create) {
                                const char *cur = streq(key, "name") ? rec->name : rec->type;

                                if (!cur || !streq(cur, s)) {
                                        _cleanup_free_ char *q = value_quote(s);
                                        return errorf(reterr, -EINVAL,
                                                    "Field '%s' of an existing CA cannot be changed (to '%s'). Remove the CA and add it again instead.",
                                                    key, strna(q));
                                }
                                continue;
                        }
                        if (streq(key, "name") && (strchr(s, '/') || s[0] == ' ')) {
                                _cleanup_free_ char *q = value_quote(s);
                                return errorf(reterr, -EINVAL,
                                            "Field 'name' is '%s'; a CA name must not contain '/' or start with a space.",
                                            strna(q));
                        }
                        *dst = strdup(s);
                        if (!*dst)
                                return -ENOMEM;
                } else if (streq(key, "helper")) {
                        r = get_string(v, key, true, STRING_MAX, &s, reterr);
                        if (r < 0)
                                return r;
                        free(helper);
                        helper = s ? strdup(s) : NULL;
                        if (s && !helper)
                                return -ENOMEM;
                        helper_set = true;
                } else if (streq(key, "aka")) {
                        r = get_string(v, key, true, NAME_MAX_LEN, &s, reterr);
                        if (r < 0)
                                return r;
                        free(aka);
                        aka = s ? strdup(s) : NULL;
                        if (s && !aka)
                                return -ENOMEM;
                        aka_set = true;
                } else if (streq(key, "is_default")) {
                        r = get_boolean(v, key, &is_default, reterr);
                        if (r < 0)
                                return r;
                } else if (streq(key, "config")) {
                        if (json_is_null(v))
                                config = mfree(config);
                        else if (!json_is_object(v))
                                return errorf(reterr, -EINVAL,
                                            "Field 'config' must be a JSON object of CA settings, e.g. {\"url\": \"...\"}.");
                        else {
                                /* PATCH merges into the current settings (a null value removes a key). */
                                json_auto_t *merged = create ? NULL : parse_stored_object(rec->config_json);
                                const char *k;
                                json_t *kv;

                                if (!merged && !(merged = json_object()))
                                        return -ENOMEM;
                                json_object_foreach(v, k, kv) {
                                        if (json_is_null(kv))
                                                (void) json_object_del(merged, k);
                                        else if (json_object_set(merged, k, kv) < 0)
                                                return -ENOMEM;
                                }
                                free(config);
                                config = json_dumps(merged, JSON_COMPACT | JSON_SORT_KEYS);
                                if (!config)
                                        return -ENOMEM;
                        }
                        config_set = true;
                } else {
                        _cleanup_free_ char *q = value_quote(key);

                        if (streq(key, "roots_path") || streq(key, "created_at"))
                                return errorf(reterr, -EINVAL,
                                            "Field '%s' is set by the daemon and cannot be changed. Remove it from the request.",
                                            key);
                        return errorf(reterr, -ENOENT,
                                    "Unknown field '%s'. The CA fields are: name, type, helper, aka, is_default, config.",
                                    strna(q));
                }
        }

        if (create) {
                if (!name)
                        return errorf(reterr, -ENODATA, "Field 'name' is missing. Name the new CA, e.g. {\"name\": \"corp\", ...}.");
                if (!type)
                        return errorf(reterr, -ENODATA,
                                    "Field 'type' is missing. Use \"INTERNAL:SELF\", \"INTERNAL:LOCAL\", \"EXTERNAL\" or \"ACME\".");
        }

        {
                const char *t = type ?: rec->type;
                const char *h = helper_set ? helper : rec->helper;
                bool known = false;

                if (type) {
                        for (size_t i = 0; i < ELEMENTSOF(ca_types); i++)
                                if (streq(ca_types[i], type))
                                        known = true;
                        if (!known) {
                                _cleanup_free_ char *q = value_quote(type);
                                return errorf(reterr, -EINVAL,
                                            "Field 'type' is '%s'. Use \"INTERNAL:SELF\", \"INTERNAL:LOCAL\", \"EXTERNAL\" or \"ACME\".",
                                            strna(q));
                        }
                }

                if (t && streq(t, "EXTERNAL")) {
                        _cleanup_strv_free_ char **argv = NULL;

                        if (!h)
                                return errorf(reterr, create ? -ENODATA : -EINVAL,
                                            "Field 'helper' is required for an EXTERNAL CA: give the helper's command line, e.g. \"/usr/libexec/certmonger/ipa-submit -k EXAMPLE.COM\".");
                        r = strv_split_shell(h, &argv);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0 || strv_length(argv) == 0)
                                return errorf(reterr, -EINVAL,
                                            "Field 'helper' is not a usable command line (an unterminated quote, or no command). Quote arguments with '...' or \"...\"; no shell is run.");
                        if (strchr(argv[0], '/') && argv[0][0] != '/') {
                                _cleanup_free_ char *q = value_quote(argv[0]);
                                return errorf(reterr, -EINVAL,
                                            "The helper program '%s' is a relative path; the helper runs in '/'. Give its absolute path, or a bare name found in /usr/bin, /bin, /usr/sbin or /sbin.",
                                            strna(q));
                        }
                } else if (helper_set && helper)
                        return errorf(reterr, -EINVAL,
                                    "Field 'helper' is only used by EXTERNAL CAs, and this CA is of type '%s'. Remove it.",
                                    strna(t));
        }

        if (create) {
                free(rec->name);
                rec->name = TAKE_PTR(name);
                free(rec->type);
                rec->type = TAKE_PTR(type);
        }
        if (helper_set) {
                free(rec->helper);
                rec->helper = TAKE_PTR(helper);
        }
        if (aka_set) {
                free(rec->aka);
                rec->aka = TAKE_PTR(aka);
        }
        if (config_set) {
                free(rec->config_json);
                rec->config_json = TAKE_PTR(config);
        }
        rec->is_default = is_default;
        return 0;
}
