/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "certkeeper-format.h"
#include "dynbuf.h"
#include "json-get.h"
#include "parse-util.h"
#include "string-util.h"
#include "time-util.h"

#define FORMAT_MAX (16U * 1024U * 1024U)

static const char *yes_no(bool b) {
        return b ? "yes" : "no";
}

/* Appends "\tLABEL: a,b\n" if the array has at least one string. */
static int append_list(DynBuf *b, const char *label, json_t *array) {
        size_t i;
        json_t *v;
        bool first = true;
        int r;

        if (!json_is_array(array) || json_array_size(array) == 0)
                return 0;

        r = dynbuf_printf(b, "\t%s: ", label);
        if (r < 0)
                return r;
        json_array_foreach(array, i, v) {
                if (!json_is_string(v))
                        continue;
                r = dynbuf_printf(b, "%s%s", first ? "" : ",", json_string_value(v));
                if (r < 0)
                        return r;
                first = false;
        }
        return dynbuf_append(b, "\n", 1);
}

static int append_time(DynBuf *b, const char *label, json_t *cert, const char *key, bool utc) {
        char buf[64];
        int64_t t = jint(cert, key);

        if (t <= 0 || format_timestamp_getcert(t, utc, buf, sizeof(buf)) < 0)
                return dynbuf_printf(b, "\t%s: unknown\n", label);
        return dynbuf_printf(b, "\t%s: %s\n", label, buf);
}

static int finish(DynBuf *b, char **ret) {
        char *s = dynbuf_steal(b, NULL);

        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int cli_format_count_line(int64_t total, char **ret) {
        char buf[96];
        char *s;

        (void) snprintf(buf, sizeof(buf), "Number of certificates and requests being tracked: %" PRIi64 ".\n",
                        total);
        s = strdup(buf);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int cli_format_request(json_t *cert, bool utc, char **ret) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(FORMAT_MAX);
        json_t *info, *tmpl;
        const char *s;
        int r;

        if (!json_is_object(cert) || !ret)
                return -EINVAL;

        info = json_object_get(cert, "cert");
        if (!json_is_object(info))
                info = NULL;
        tmpl = json_object_get(cert, "template");
        if (!json_is_object(tmpl))
                tmpl = NULL;

        r = dynbuf_printf(&b, "Request ID '%s':\n", strempty(jstr(cert, "nickname")));
        if (r < 0)
                return r;
        r = dynbuf_printf(&b, "\tstatus: %s\n", strempty(jstr(cert, "state")));
        if (r < 0)
                return r;
        s = jstr(cert, "ca_error");
        if (!isempty(s)) {
                r = dynbuf_printf(&b, "\tca-error: %s\n", s);
                if (r < 0)
                        return r;
        }
        /* Only for a request with bindings: the outcome of its last deploy (docs/BINDINGS.md). */
        s = jstr(cert, "stage_deploy");
        if (!isempty(s)) {
                r = dynbuf_printf(&b, "\tdeploy: %s\n", s);
                if (r < 0)
                        return r;
        }
        r = dynbuf_printf(&b, "\tstuck: %s\n", yes_no(jbool(cert, "stuck")));
        if (r < 0)
                return r;

        s = jstr(cert, "key_path");
        if (!isempty(s))
                r = dynbuf_printf(&b, "\tkey pair storage: type=FILE,location='%s'\n", s);
        else
                r = dynbuf_printf(&b, "\tkey pair storage: type=NONE\n");
        if (r < 0)
                return r;

        s = jstr(cert, "cert_path");
        if (!isempty(s))
                r = dynbuf_printf(&b, "\tcertificate: type=FILE,location='%s'\n", s);
        else
                r = dynbuf_printf(&b, "\tcertificate: type=NONE\n");
        if (r < 0)
                return r;

        s = jstr(cert, "ca");
        if (!isempty(s)) {
                r = dynbuf_printf(&b, "\tCA: %s\n", s);
                if (r < 0)
                        return r;
        }

        r = dynbuf_printf(&b, "\tissuer: %s\n", strempty(jstr(cert, "issuer")));
        if (r < 0)
                return r;
        r = dynbuf_printf(&b, "\tsubject: %s\n", strempty(jstr(cert, "subject")));
        if (r < 0)
                return r;
        r = append_time(&b, "issued", cert, "not_before", utc);
        if (r < 0)
                return r;
        r = append_time(&b, "expires", cert, "not_after", utc);
        if (r < 0)
                return r;

        if (info) {
                r = append_list(&b, "email", json_object_get(info, "email"));
                if (r >= 0)
                        r = append_list(&b, "dns", json_object_get(info, "dns"));
                if (r >= 0)
                        r = append_list(&b, "principal name", json_object_get(info, "principal"));
                if (r >= 0)
                        r = append_list(&b, "IP address", json_object_get(info, "ip"));
                if (r >= 0)
                        r = append_list(&b, "key usage", json_object_get(info, "key_usage"));
                if (r >= 0)
                        r = append_list(&b, "eku", json_object_get(info, "eku"));
                if (r < 0)
                        return r;
                s = jstr(info, "template_name");
                if (!isempty(s)) {
                        r = dynbuf_printf(&b, "\tcertificate template/profile: %s\n", s);
                        if (r < 0)
                                return r;
                }
        }

        s = tmpl ? jstr(tmpl, "profile") : NULL;
        if (!isempty(s)) {
                r = dynbuf_printf(&b, "\tprofile: %s\n", s);
                if (r < 0)
                        return r;
        }
        s = tmpl ? jstr(tmpl, "ca_issuer") : NULL;
        if (!isempty(s)) {
                r = dynbuf_printf(&b, "\tissuer template: %s\n", s);
                if (r < 0)
                        return r;
        }
        if (json_object_size(json_object_get(tmpl, "ca_options")) > 0) {
                const char *key, *sep = "";
                json_t *v;

                r = dynbuf_printf(&b, "\tCA settings of this certificate:");
                json_object_foreach(json_object_get(tmpl, "ca_options"), key, v) {
                        if (r >= 0)
                                r = dynbuf_printf(&b, "%s %s=%s", sep, key, strempty(json_string_value(v)));
                        sep = ",";
                }
                if (r >= 0)
                        r = dynbuf_printf(&b, "\n");
                if (r < 0)
                        return r;
        }

        r = dynbuf_printf(&b, "\tpre-save command: %s\n", strempty(jstr(cert, "pre_save_cmd")));
        if (r < 0)
                return r;
        r = dynbuf_printf(&b, "\tpost-save command: %s\n", strempty(jstr(cert, "post_save_cmd")));
        if (r < 0)
                return r;
        r = dynbuf_printf(&b, "\ttrack: %s\n", yes_no(jbool(cert, "track")));
        if (r < 0)
                return r;
        r = dynbuf_printf(&b, "\tauto-renew: %s\n", yes_no(jbool(cert, "autorenew")));
        if (r < 0)
                return r;

        /* ACME Renewal Information: the CA's window for this certificate and its explanation. */
        if (json_integer_value(json_object_get(cert, "ari_start")) > 0) {
                r = append_time(&b, "renewal window start", cert, "ari_start", utc);
                if (r >= 0)
                        r = append_time(&b, "renewal window end", cert, "ari_end", utc);
                if (r < 0)
                        return r;
        }
        s = jstr(cert, "ari_explanation_url");
        if (!isempty(s)) {
                r = dynbuf_printf(&b, "\trenewal information: %s\n", s);
                if (r < 0)
                        return r;
        }

        return finish(&b, ret);
}

int cli_format_ca(json_t *ca, bool verbose, char **ret) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(FORMAT_MAX);
        json_t *config;
        const char *type, *s;
        int r;

        if (!json_is_object(ca) || !ret)
                return -EINVAL;

        config = json_object_get(ca, "config");
        if (!json_is_object(config))
                config = NULL;
        type = strempty(jstr(ca, "type"));

        r = dynbuf_printf(&b, "CA '%s':\n", strempty(jstr(ca, "name")));
        if (r < 0)
                return r;

        s = jstr(ca, "aka");
        if (verbose && !isempty(s)) {
                r = dynbuf_printf(&b, "\tself-identifies as: %s\n", s);
                if (r < 0)
                        return r;
        }

        r = dynbuf_printf(&b, "\tis-default: %s\n", yes_no(jbool(ca, "is_default")));
        if (r < 0)
                return r;
        r = dynbuf_printf(&b, "\tca-type: %s\n", type);
        if (r < 0)
                return r;

        s = jstr(ca, "helper");
        if (!isempty(s)) {
                r = dynbuf_printf(&b, "\thelper-location: %s\n", s);
                if (r < 0)
                        return r;
        }

        if (config) {
                json_t *serial = json_object_get(config, "next_serial_number");

                if (json_is_string(serial))
                        r = dynbuf_printf(&b, "\tnext-serial-number: %s\n", json_string_value(serial));
                else if (json_is_integer(serial))
                        r = dynbuf_printf(&b, "\tnext-serial-number: %" PRIX64 "\n",
                                          (uint64_t) json_integer_value(serial));
                if (r < 0)
                        return r;

                s = jstr(config, "default_profile");
                if (isempty(s))
                        s = jstr(json_object_get(ca, "data"), "default_template");
                if (!isempty(s)) {
                        r = dynbuf_printf(&b, "\tdefault profile/template/certtype: %s\n", s);
                        if (r < 0)
                                return r;
                }
        }

        s = jstr(json_object_get(ca, "data"), "default_template");
        if (!config && !isempty(s)) {
                r = dynbuf_printf(&b, "\tdefault profile/template/certtype: %s\n", s);
                if (r < 0)
                        return r;
        }

        return finish(&b, ret);
}

static int append_names(DynBuf *b, const char *label, json_t *a) {
        size_t i;
        json_t *v;
        int r;

        if (!json_is_array(a))
                return 0;
        r = dynbuf_printf(b, "\t%s:", label);
        json_array_foreach(a, i, v) {
                if (r < 0)
                        return r;
                r = dynbuf_printf(b, "%s %s", i > 0 ? "," : "", strempty(json_string_value(v) ?: jstr(v, "nickname")));
        }
        if (r >= 0 && json_array_size(a) == 0)
                r = dynbuf_printf(b, " (none)");
        return r < 0 ? r : dynbuf_printf(b, "\n");
}

int cli_format_ca_data(json_t *ca, bool utc, char **ret) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(FORMAT_MAX);
        json_t *data = json_object_get(ca, "data"), *errors;
        const char *key;
        json_t *v;
        char when[64];
        int r = 0;

        if (!json_is_object(ca) || !ret)
                return -EINVAL;
        if (!json_is_object(data)) {
                if (streq_ptr(jstr(ca, "type"), "EXTERNAL"))
                        r = dynbuf_printf(&b, "\tdata: not fetched yet\n");
                if (r < 0)
                        return r;
                return finish(&b, ret);
        }

        if (json_is_integer(json_object_get(data, "refreshed_at"))) {
                r = format_timestamp_getcert(json_integer_value(json_object_get(data, "refreshed_at")), utc, when,
                                             sizeof(when));
                if (r >= 0)
                        r = dynbuf_printf(&b, "\tdata refreshed: %s\n", when);
                if (r < 0)
                        return r;
        }
        if ((r = append_names(&b, "roots", json_object_get(data, "roots"))) < 0 ||
            (r = append_names(&b, "other roots", json_object_get(data, "other_roots"))) < 0 ||
            (r = append_names(&b, "other certificates", json_object_get(data, "other_certs"))) < 0 ||
            (r = append_names(&b, "templates", json_object_get(data, "templates"))) < 0 ||
            (r = append_names(&b, "new request requirements", json_object_get(data, "new_requirements"))) < 0 ||
            (r = append_names(&b, "renewal requirements", json_object_get(data, "renew_requirements"))) < 0)
                return r;
        errors = json_object_get(data, "errors");
        json_object_foreach(errors, key, v) {
                r = dynbuf_printf(&b, "\tdata error (%s): %s\n", key, strempty(json_string_value(v)));
                if (r < 0)
                        return r;
        }
        return finish(&b, ret);
}

void cli_table_widths_fit(CliTableWidths *w, json_t *certs) {
        size_t i;
        json_t *c;

        if (!w)
                return;
        /* Header words first. */
        w->nick = MAX(w->nick, strlen("NICKNAME"));
        w->state = MAX(w->state, strlen("STATE") + 1);
        w->ca = MAX(w->ca, strlen("CA"));

        if (!json_is_array(certs))
                return;
        json_array_foreach(certs, i, c) {
                w->nick = MAX(w->nick, strlen(strempty(jstr(c, "nickname"))));
                /* room for the "!" that marks a stuck entry */
                w->state = MAX(w->state, strlen(strempty(jstr(c, "state"))) + 1);
                w->ca = MAX(w->ca, strlen(strempty(jstr(c, "ca"))));
        }
        /* Keep absurdly long names from pushing every column off the screen. */
        w->nick = MIN(w->nick, (size_t) 40);
        w->ca = MIN(w->ca, (size_t) 24);
}

int cli_format_table_header(const CliTableWidths *w, char **ret) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(FORMAT_MAX);
        int r;

        if (!w || !ret)
                return -EINVAL;

        r = dynbuf_printf(&b, "%-6s %-*s %-*s %-*s %-23s %s\n", "ID", (int) w->nick, "NICKNAME", (int) w->state,
                          "STATE", (int) w->ca, "CA", "EXPIRES", "CERTIFICATE");
        if (r < 0)
                return r;
        return finish(&b, ret);
}

int cli_format_table_rows(json_t *certs, const CliTableWidths *w, bool utc, char **ret) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(FORMAT_MAX);
        size_t i;
        json_t *c;
        int r;

        if (!json_is_array(certs) || !w || !ret)
                return -EINVAL;

        json_array_foreach(certs, i, c) {
                char when[64] = "-";
                int64_t na = jint(c, "not_after");
                const char *state = strempty(jstr(c, "state"));
                _cleanup_free_ char *st = NULL;

                if (na > 0 && format_timestamp_getcert(na, utc, when, sizeof(when)) < 0)
                        (void) snprintf(when, sizeof(when), "-");
                if (jbool(c, "stuck")) {
                        st = strjoin(state, "!");
                        if (!st)
                                return -ENOMEM;
                        state = st;
                }

                r = dynbuf_printf(&b, "%-6" PRIi64 " %-*s %-*s %-*s %-23s %s\n", jint(c, "id"), (int) w->nick,
                                  strempty(jstr(c, "nickname")), (int) w->state, state, (int) w->ca,
                                  isempty(jstr(c, "ca")) ? "-" : jstr(c, "ca"), when,
                                  isempty(jstr(c, "cert_path")) ? "-" : jstr(c, "cert_path"));
                if (r < 0)
                        return r;
                /* A failed deploy to the bindings (docs/BINDINGS.md) is worth a line of its own. */
                if (startswith(strempty(jstr(c, "stage_deploy")), "failed")) {
                        r = dynbuf_printf(&b, "%-6s deploy %s\n", "", jstr(c, "stage_deploy"));
                        if (r < 0)
                                return r;
                }
        }

        return finish(&b, ret);
}

int cli_format_table(json_t *certs, bool utc, char **ret) {
        _cleanup_free_ char *header = NULL, *rows = NULL;
        CliTableWidths w = {};
        char *s;
        int r;

        if (!json_is_array(certs) || !ret)
                return -EINVAL;

        cli_table_widths_fit(&w, certs);
        r = cli_format_table_header(&w, &header);
        if (r < 0)
                return r;
        r = cli_format_table_rows(certs, &w, utc, &rows);
        if (r < 0)
                return r;
        s = strjoin(header, rows);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

#define SCAN_DEPTH_MAX 64U

typedef struct Scanner {
        const char *p;
        const char *end;
} Scanner;

static void scan_blank(Scanner *s) {
        while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
                s->p++;
}

static bool scan_char(Scanner *s, char c) {
        scan_blank(s);
        if (s->p >= s->end || *s->p != c)
                return false;
        s->p++;
        return true;
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static bool is_hex(char c) {
        return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A string; ret/ret_len get its raw contents (escapes not decoded). */
static int scan_string(Scanner *s, const char **ret, size_t *ret_len) {
        const char *start;

        if (!scan_char(s, '"'))
                return -EBADMSG;
        start = s->p;
        while (s->p < s->end && *s->p != '"') {
                unsigned char c = (unsigned char) *s->p;

                if (c < 0x20)
                        return -EBADMSG;
                if (c != '\\') {
                        s->p++;
                        continue;
                }
                if (s->end - s->p < 2)
                        return -EBADMSG;
                if (s->p[1] == 'u') {
                        if (s->end - s->p < 6 || !is_hex(s->p[2]) || !is_hex(s->p[3]) || !is_hex(s->p[4]) ||
                            !is_hex(s->p[5]))
                                return -EBADMSG;
                        s->p += 6;
                } else if (strchr("\"\\/bfnrt", s->p[1]) && s->p[1] != '\0')
                        s->p += 2;
                else
                        return -EBADMSG;
        }
        if (s->p >= s->end)
                return -EBADMSG;
        if (ret)
                *ret = start;
        if (ret_len)
                *ret_len = (size_t) (s->p - start);
        s->p++;
        return 0;
}

static void scan_digits(Scanner *s) {
        while (s->p < s->end && is_digit(*s->p))
                s->p++;
}

static int scan_number(Scanner *s, bool *ret_integer) {
        bool integer = true;

        if (s->p < s->end && *s->p == '-')
                s->p++;
        if (s->p >= s->end || !is_digit(*s->p))
                return -EBADMSG;
        if (*s->p == '0')
                s->p++;
        else
                scan_digits(s);
        if (s->p < s->end && *s->p == '.') {
                integer = false;
                s->p++;
                if (s->p >= s->end || !is_digit(*s->p))
                        return -EBADMSG;
                scan_digits(s);
        }
        if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
                integer = false;
                s->p++;
                if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
                        s->p++;
                if (s->p >= s->end || !is_digit(*s->p))
                        return -EBADMSG;
                scan_digits(s);
        }
        if (ret_integer)
                *ret_integer = integer;
        return 0;
}

static bool scan_word(Scanner *s, const char *w) {
        size_t n = strlen(w);

        if ((size_t) (s->end - s->p) < n || memcmp(s->p, w, n) != 0)
                return false;
        s->p += n;
        return true;
}

/* Skips one value of any type. */
static int scan_value(Scanner *s, unsigned depth) {
        int r;

        scan_blank(s);
        if (s->p >= s->end)
                return -EBADMSG;

        switch (*s->p) {
        case '"':
                return scan_string(s, NULL, NULL);
        case '{':
        case '[': {
                char close = *s->p == '{' ? '}' : ']';
                bool object = close == '}';

                if (depth >= SCAN_DEPTH_MAX)
                        return -EBADMSG;
                s->p++;
                if (scan_char(s, close))
                        return 0;
                for (;;) {
                        if (object) {
                                r = scan_string(s, NULL, NULL);
                                if (r < 0)
                                        return r;
                                if (!scan_char(s, ':'))
                                        return -EBADMSG;
                        }
                        r = scan_value(s, depth + 1);
                        if (r < 0)
                                return r;
                        if (scan_char(s, close))
                                return 0;
                        if (!scan_char(s, ','))
                                return -EBADMSG;
                }
        }
        case 't':
                return scan_word(s, "true") ? 0 : -EBADMSG;
        case 'f':
                return scan_word(s, "false") ? 0 : -EBADMSG;
        case 'n':
                return scan_word(s, "null") ? 0 : -EBADMSG;
        default:
                return scan_number(s, NULL);
        }
}

static int scan_int64(Scanner *s, int64_t *ret) {
        const char *start;
        char buf[32];
        bool integer;
        int r;

        scan_blank(s);
        start = s->p;
        r = scan_number(s, &integer);
        if (r < 0)
                return r;
        if (!integer || (size_t) (s->p - start) >= sizeof(buf))
                return -EBADMSG;
        memcpy(buf, start, (size_t) (s->p - start));
        buf[s->p - start] = '\0';
        return safe_atoi64(buf, ret) < 0 ? -EBADMSG : 0;
}

static bool key_is(const char *k, size_t n, const char *word) {
        return n == strlen(word) && memcmp(k, word, n) == 0;
}

int cli_list_page_scan(const char *data, size_t len, CliListPage *ret) {
        Scanner s = { .p = data, .end = data + len };
        CliListPage page = { .total = -1 };
        bool have_items = false;
        int r;

        if (!data || !ret)
                return -EINVAL;

        if (!scan_char(&s, '{'))
                return -EBADMSG;
        if (!scan_char(&s, '}'))
                for (;;) {
                        const char *k;
                        size_t n;

                        r = scan_string(&s, &k, &n);
                        if (r < 0)
                                return r;
                        if (!scan_char(&s, ':'))
                                return -EBADMSG;

                        if (key_is(k, n, "items")) {
                                if (have_items || !scan_char(&s, '['))
                                        return -EBADMSG;
                                have_items = true;
                                page.items = s.p;
                                page.n_items = 0;
                                if (!scan_char(&s, ']'))
                                        for (;;) {
                                                r = scan_value(&s, 2);
                                                if (r < 0)
                                                        return r;
                                                page.n_items++;
                                                if (scan_char(&s, ']'))
                                                        break;
                                                if (!scan_char(&s, ','))
                                                        return -EBADMSG;
                                        }
                                page.items_len = (size_t) (s.p - 1 - page.items);
                        } else if (key_is(k, n, "total")) {
                                r = scan_int64(&s, &page.total);
                                if (r < 0)
                                        return r;
                        } else if (key_is(k, n, "next_after")) {
                                scan_blank(&s);
                                if (scan_word(&s, "null"))
                                        page.next_after = 0;
                                else {
                                        r = scan_int64(&s, &page.next_after);
                                        if (r < 0)
                                                return r;
                                }
                        } else {
                                r = scan_value(&s, 1);
                                if (r < 0)
                                        return r;
                        }

                        if (scan_char(&s, '}'))
                                break;
                        if (!scan_char(&s, ','))
                                return -EBADMSG;
                }
        scan_blank(&s);
        if (s.p != s.end || !have_items)
                return -EBADMSG;

        *ret = page;
        return 0;
}

int cli_status_code(const char *state, bool stuck) {
        if (!state)
                return 5;
        if (streq(state, "MONITORING"))
                return 0;
        if (streq(state, "CA_REJECTED"))
                return 2;
        if (streq(state, "CA_WORKING"))
                return 5;
        if (streq(state, "CA_UNREACHABLE"))
                return 3;
        if (stuck || streq(state, "NEED_GUIDANCE") || streq(state, "CA_UNCONFIGURED") || streq(state, "NEED_CA"))
                return 4;
        return 5;
}

bool cli_state_is_final(const char *state, bool stuck) {
        if (!state)
                return false;
        return stuck || streq(state, "MONITORING") || streq(state, "CA_REJECTED") || streq(state, "CA_WORKING") ||
               streq(state, "CA_UNREACHABLE") || streq(state, "NEED_GUIDANCE") ||
               streq(state, "CA_UNCONFIGURED") || streq(state, "NEED_CA");
}
