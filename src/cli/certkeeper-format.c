/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "certkeeper-format.h"
#include "dynbuf.h"
#include "string-util.h"
#include "time-util.h"

#define FORMAT_MAX (16U * 1024U * 1024U)

static const char *jstr(json_t *o, const char *key) {
        return json_string_value(json_object_get(o, key));
}

static bool jbool(json_t *o, const char *key) {
        return json_is_true(json_object_get(o, key));
}

static int64_t jint(json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);

        return json_is_integer(v) ? (int64_t) json_integer_value(v) : 0;
}

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
                if (!isempty(s)) {
                        r = dynbuf_printf(&b, "\tdefault profile/template/certtype: %s\n", s);
                        if (r < 0)
                                return r;
                }
        }

        return finish(&b, ret);
}

int cli_format_table(json_t *certs, bool utc, char **ret) {
        _cleanup_(dynbuf_done) DynBuf b = DYNBUF_INIT(FORMAT_MAX);
        size_t w_nick = strlen("NICKNAME"), w_state = strlen("STATE"), w_ca = strlen("CA"), i;
        json_t *c;
        int r;

        if (!json_is_array(certs) || !ret)
                return -EINVAL;

        json_array_foreach(certs, i, c) {
                w_nick = MAX(w_nick, strlen(strempty(jstr(c, "nickname"))));
                w_state = MAX(w_state, strlen(strempty(jstr(c, "state"))));
                w_ca = MAX(w_ca, strlen(strempty(jstr(c, "ca"))));
        }
        /* Keep absurdly long names from pushing every column off the screen. */
        w_nick = MIN(w_nick, (size_t) 40);
        w_ca = MIN(w_ca, (size_t) 24);
        w_state += 1; /* room for the "!" that marks a stuck entry */

        r = dynbuf_printf(&b, "%-6s %-*s %-*s %-*s %-23s %s\n", "ID", (int) w_nick, "NICKNAME", (int) w_state,
                          "STATE", (int) w_ca, "CA", "EXPIRES", "CERTIFICATE");
        if (r < 0)
                return r;

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

                r = dynbuf_printf(&b, "%-6" PRIi64 " %-*s %-*s %-*s %-23s %s\n", jint(c, "id"), (int) w_nick,
                                  strempty(jstr(c, "nickname")), (int) w_state, state, (int) w_ca,
                                  isempty(jstr(c, "ca")) ? "-" : jstr(c, "ca"), when,
                                  isempty(jstr(c, "cert_path")) ? "-" : jstr(c, "cert_path"));
                if (r < 0)
                        return r;
        }

        return finish(&b, ret);
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
