/* SPDX-License-Identifier: MIT */
/* The getcert list / list-cas text of JSON fixtures, compared with hand-written golden files. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "certkeeper-format.h"
#include "fs-util.h"
#include "string-util.h"
#include "tests.h"

static char *data_path(const char *name) {
        const char *dir = getenv("TEST_DATA_DIR");

        return strjoin(dir ? dir : "test/data", "/cli/", name);
}

static json_t *load_json(const char *name) {
        _cleanup_free_ char *p = data_path(name);
        json_error_t err;
        json_t *j;

        ASSERT_NOT_NULL(p);
        j = json_load_file(p, 0, &err);
        if (!j)
                fprintf(stderr, "%s:%d: %s\n", p, err.line, err.text);
        ASSERT_NOT_NULL(j);
        return j;
}

static char *load_text(const char *name) {
        _cleanup_free_ char *p = data_path(name);
        char *text = NULL;
        size_t len;

        ASSERT_NOT_NULL(p);
        ASSERT_OK(fs_read_file(p, 1024 * 1024, &text, &len));
        return text;
}

static void set_utc(void) {
        ASSERT_OK(setenv("TZ", "UTC", 1));
        tzset();
}

static void check_request(const char *fixture, const char *golden) {
        json_auto_t *j = load_json(fixture);
        _cleanup_free_ char *expected = load_text(golden), *utc = NULL, *local = NULL;

        set_utc();
        ASSERT_OK(cli_format_request(j, true, &utc));
        ASSERT_STREQ(utc, expected);

        /* Local time in TZ=UTC reads the same. */
        ASSERT_OK(cli_format_request(j, false, &local));
        ASSERT_STREQ(local, expected);
}

TEST(monitoring) {
        check_request("monitoring.json", "monitoring.expected");
}

TEST(acme_renewal_information) {
        check_request("acme-ari.json", "acme-ari.expected");
}

TEST(need_guidance) {
        check_request("need-guidance.json", "need-guidance.expected");
}

TEST(local_time_zone) {
        json_auto_t *j = load_json("monitoring.json");
        _cleanup_free_ char *text = NULL;

        ASSERT_OK(setenv("TZ", "EST5", 1));
        tzset();
        ASSERT_OK(cli_format_request(j, false, &text));
        ASSERT_NOT_NULL(strstr(text, "\tissued: 2023-11-14 17:13:20 EST\n"));
        ASSERT_NOT_NULL(strstr(text, "\texpires: 2024-11-14 17:13:20 EST\n"));
        free(text);
        text = NULL;

        /* -u wins over the local zone. */
        ASSERT_OK(cli_format_request(j, true, &text));
        ASSERT_NOT_NULL(strstr(text, "\tissued: 2023-11-14 22:13:20 UTC\n"));
        set_utc();
}

TEST(optional_lines) {
        json_auto_t *j = load_json("monitoring.json");
        _cleanup_free_ char *text = NULL;

        /* Without SANs in the certificate the lines go; an empty ca-error prints nothing. */
        ASSERT_OK(json_object_set_new(json_object_get(j, "cert"), "ip", json_array()));
        ASSERT_OK(json_object_set_new(json_object_get(j, "cert"), "template_name", json_string("WebServer")));
        ASSERT_OK(json_object_set_new(j, "ca_error", json_string("")));
        ASSERT_OK(json_object_set_new(j, "ca", json_null()));
        set_utc();
        ASSERT_OK(cli_format_request(j, true, &text));
        ASSERT_NULL(strstr(text, "IP address"));
        ASSERT_NULL(strstr(text, "ca-error"));
        ASSERT_NULL(strstr(text, "\tCA: "));
        ASSERT_NOT_NULL(strstr(text, "\teku: id-kp-serverAuth,id-kp-clientAuth\n"
                                     "\tcertificate template/profile: WebServer\n"
                                     "\tprofile: webserver\n"));
}

TEST(list_cas) {
        json_auto_t *j = load_json("cas.json");
        _cleanup_free_ char *expected = load_text("cas.expected"), *expected_v = load_text("cas-verbose.expected");
        _cleanup_free_ char *all = NULL, *all_v = NULL;
        json_t *items = json_object_get(j, "items"), *v;
        size_t i;

        json_array_foreach(items, i, v) {
                _cleanup_free_ char *t = NULL, *tv = NULL;
                char *n;

                ASSERT_OK(cli_format_ca(v, false, &t));
                ASSERT_OK(cli_format_ca(v, true, &tv));
                n = strjoin(strempty(all), t);
                ASSERT_NOT_NULL(n);
                free(all);
                all = n;
                n = strjoin(strempty(all_v), tv);
                ASSERT_NOT_NULL(n);
                free(all_v);
                all_v = n;
        }
        ASSERT_STREQ(all, expected);
        ASSERT_STREQ(all_v, expected_v);
}

TEST(count_line) {
        _cleanup_free_ char *t = NULL;

        ASSERT_OK(cli_format_count_line(12, &t));
        ASSERT_STREQ(t, "Number of certificates and requests being tracked: 12.\n");
}

TEST(table) {
        json_auto_t *a = json_array();
        _cleanup_free_ char *t = NULL;
        char *second;

        ASSERT_OK(json_array_append_new(a, load_json("monitoring.json")));
        ASSERT_OK(json_array_append_new(a, load_json("need-guidance.json")));
        set_utc();
        ASSERT_OK(cli_format_table(a, true, &t));
        ASSERT_TRUE(startswith(t, "ID     NICKNAME"));
        ASSERT_NOT_NULL(strstr(t, "\n7      web "));
        second = strstr(t, "\n8      20240101120000 NEED_GUIDANCE! SelfSign ");
        ASSERT_NOT_NULL(second);
        ASSERT_NOT_NULL(strstr(t, "2024-11-14 22:13:20 UTC /etc/pki/tls/certs/web.pem\n"));
        ASSERT_NOT_NULL(strstr(second, " - "));
        ASSERT_ERROR(cli_format_table(json_object_get(json_array_get(a, 0), "cert"), true, &t), EINVAL);
}

TEST(table_in_pages) {
        json_auto_t *a = json_array(), *p1 = json_array(), *p2 = json_array();
        _cleanup_free_ char *whole = NULL, *header = NULL, *rows1 = NULL, *rows2 = NULL, *joined = NULL,
                            *empty = NULL;
        CliTableWidths w = {};

        ASSERT_OK(json_array_append_new(a, load_json("monitoring.json")));
        ASSERT_OK(json_array_append_new(a, load_json("need-guidance.json")));
        ASSERT_OK(json_array_append(p1, json_array_get(a, 0)));
        ASSERT_OK(json_array_append(p2, json_array_get(a, 1)));
        set_utc();
        ASSERT_OK(cli_format_table(a, true, &whole));

        /* Widths fitted to all pages give the same text as the whole table. */
        cli_table_widths_fit(&w, p1);
        cli_table_widths_fit(&w, p2);
        ASSERT_OK(cli_format_table_header(&w, &header));
        ASSERT_OK(cli_format_table_rows(p1, &w, true, &rows1));
        ASSERT_OK(cli_format_table_rows(p2, &w, true, &rows2));
        joined = strjoin(header, rows1, rows2);
        ASSERT_NOT_NULL(joined);
        ASSERT_STREQ(joined, whole);

        json_array_clear(p1);
        ASSERT_OK(cli_format_table_rows(p1, &w, true, &empty));
        ASSERT_STREQ(empty, "");
}

TEST(list_page_scan) {
        static const char page[] =
                " {\"items\": [{\"id\":1,\"a\":[1,-2.5e3,true,false,null,{}],\"s\":\"x\\\"\\u00e9]\"}, {\"id\":2}],"
                "\"total\": 7, \"next_after\": 2} ";
        static const char *const bad[] = {
                "",
                "[]",
                "{}",
                "{\"items\":{}}",
                "{\"items\":[1,]}",
                "{\"items\":[01]}",
                "{\"items\":[\"a\\x\"]}",
                "{\"items\":[],\"total\":1.5}",
                "{\"items\":[],\"total\":\"7\"}",
                "{\"items\":[]} x",
                "{\"items\":[tru]}",
                "{\"items\":[{\"a\" 1}]}",
                "{\"items\":[\"\n\"]}",
        };
        static const char empty_page[] = "{\"items\":[ ],\"next_after\":null}";
        char deep[200];
        CliListPage p = {};

        ASSERT_OK(cli_list_page_scan(page, strlen(page), &p));
        ASSERT_EQ(p.n_items, (size_t) 2);
        ASSERT_EQ(p.total, (int64_t) 7);
        ASSERT_EQ(p.next_after, (int64_t) 2);
        ASSERT_TRUE(p.items_len > 0 && p.items[0] == '{' && p.items[p.items_len - 1] == '}');

        ASSERT_OK(cli_list_page_scan(empty_page, strlen(empty_page), &p));
        ASSERT_EQ(p.n_items, (size_t) 0);
        ASSERT_EQ(p.total, (int64_t) -1);
        ASSERT_EQ(p.next_after, (int64_t) 0);

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ASSERT_ERROR(cli_list_page_scan(bad[i], strlen(bad[i]), &p), EBADMSG);

        /* Nesting is capped. */
        memset(deep, '[', sizeof(deep));
        memcpy(deep, "{\"items\":", 9);
        ASSERT_ERROR(cli_list_page_scan(deep, sizeof(deep), &p), EBADMSG);
}

TEST(status_codes) {
        ASSERT_EQ(cli_status_code("MONITORING", false), 0);
        ASSERT_EQ(cli_status_code("CA_REJECTED", true), 2);
        ASSERT_EQ(cli_status_code("CA_UNREACHABLE", false), 3);
        ASSERT_EQ(cli_status_code("NEED_GUIDANCE", true), 4);
        ASSERT_EQ(cli_status_code("CA_UNCONFIGURED", true), 4);
        ASSERT_EQ(cli_status_code("NEED_CA", true), 4);
        ASSERT_EQ(cli_status_code("CA_WORKING", false), 5);
        ASSERT_EQ(cli_status_code("SUBMITTING", false), 5);
        ASSERT_EQ(cli_status_code("NEED_KEY_PAIR", false), 5);
        ASSERT_EQ(cli_status_code(NULL, false), 5);

        ASSERT_TRUE(cli_state_is_final("MONITORING", false));
        ASSERT_TRUE(cli_state_is_final("CA_WORKING", false));
        ASSERT_TRUE(cli_state_is_final("CA_UNREACHABLE", false));
        ASSERT_TRUE(cli_state_is_final("NEED_GUIDANCE", true));
        ASSERT_TRUE(cli_state_is_final("SOMETHING_NEW", true));
        ASSERT_FALSE(cli_state_is_final("SUBMITTING", false));
        ASSERT_FALSE(cli_state_is_final("GENERATING_KEY_PAIR", false));
        ASSERT_FALSE(cli_state_is_final(NULL, false));
}

TEST(bad_input) {
        json_auto_t *s = json_string("x");
        char *t = NULL;

        ASSERT_ERROR(cli_format_request(s, true, &t), EINVAL);
        ASSERT_ERROR(cli_format_ca(s, true, &t), EINVAL);
        ASSERT_NULL(t);
}

TEST_MAIN();
