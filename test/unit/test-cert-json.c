/* SPDX-License-Identifier: MIT */
#include <jansson.h>
#include <string.h>

#include "cert-json.h"
#include "dynbuf.h"
#include "tests.h"

static json_t *parse(const char *s) {
        json_t *v = NULL;
        char *err = NULL;

        ASSERT_OK(cert_json_parse_body(s, strlen(s), &v, &err));
        ASSERT_NULL(err);
        return v;
}

/* Applies body onto rec and expects error (0 for success); if words is given, the error message
 * must contain it. */
static void apply_expect(CertRecord *rec, const char *body, int error, const char *words) {
        json_auto_t *j = parse(body);
        _cleanup_free_ char *err = NULL;
        int r;

        r = cert_record_apply_json(rec, j, &err);
        if (r != error || (words && (!err || !strstr(err, words)))) {
                fprintf(stderr, "body %s: got %i (%s), expected %i with '%s'\n", body, r, strna(err), error,
                        strna(words));
                abort();
        }
        if (r < 0)
                ASSERT_NOT_NULL(err);
}

TEST(parse_body) {
        json_auto_t *v = NULL, *e = NULL;
        _cleanup_free_ char *err = NULL;
        char deep[100];

        /* Empty and blank bodies are an empty object. */
        ASSERT_OK(cert_json_parse_body("", 0, &e, &err));
        ASSERT_TRUE(json_is_object(e) && json_object_size(e) == 0);

        ASSERT_ERROR(cert_json_parse_body("{\"a\":", 5, &v, &err), EINVAL);
        ASSERT_TRUE(strstr(err, "line 1") && strstr(err, "column"));
        err = mfree(err);

        ASSERT_ERROR(cert_json_parse_body("{\"a\":1,\"a\":2}", 13, &v, &err), EINVAL);
        ASSERT_TRUE(strstr(err, "duplicate") != NULL);
        err = mfree(err);

        ASSERT_ERROR(cert_json_parse_body("[1]", 3, &v, &err), EINVAL);
        ASSERT_TRUE(strstr(err, "object") != NULL);
        err = mfree(err);

        ASSERT_ERROR(cert_json_parse_body("{} x", 4, &v, &err), EINVAL);
        err = mfree(err);

        /* Depth cap: 33 levels refused, 32 accepted (brackets in strings do not count). */
        memset(deep, 0, sizeof(deep));
        deep[0] = '{';
        memcpy(deep + 1, "\"a\":", 4);
        for (unsigned i = 0; i < 32; i++)
                deep[5 + i] = '[';
        ASSERT_ERROR(cert_json_parse_body(deep, strlen(deep), &v, &err), EINVAL);
        ASSERT_TRUE(strstr(err, "deeper") != NULL);
        err = mfree(err);

        {
                const char *s = "{\"a\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}";
                ASSERT_OK(cert_json_parse_body(s, strlen(s), &v, &err));
        }
        ASSERT_STREQ(json_string_value(json_object_get(v, "a")), "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
}

TEST(apply_full) {
        _cleanup_(cert_record_done) CertRecord rec = { .autorenew = true };
        json_auto_t *t = NULL;

        apply_expect(&rec,
                     "{\"nickname\":\"web\",\"ca\":\"local\",\"cert_path\":\"/etc/ssl/web.pem\","
                     "\"key_path\":\"/etc/ssl/web.key\",\"subject\":\"CN=web\",\"dns\":[\"web.example\",\"*.web.example\",\"web.example\"],"
                     "\"ip\":[\"2001:DB8:0:0::1\"],\"email\":[\"a@example.com\"],\"principal\":[\"host/web@EX.COM\"],"
                     "\"key_usage\":[\"digitalSignature\"],\"eku\":[\"id-kp-serverAuth\"],\"is_ca\":false,\"path_len\":-1,"
                     "\"key_type\":\"ec\",\"key_bits\":384,\"autorenew\":false,\"pre_save_cmd\":\"/bin/true 'a b'\","
                     "\"key_owner\":\"root\",\"cert_owner\":\"0:0\",\"key_mode\":384,\"cert_mode\":420,"
                     "\"validity\":3600,\"renew_before\":\"33%\",\"ca_file\":\"/etc/ssl/ca.pem\"}",
                     0, NULL);

        ASSERT_STREQ(rec.nickname, "web");
        ASSERT_STREQ(rec.ca, "local");
        ASSERT_STREQ(rec.cert_path, "/etc/ssl/web.pem");
        ASSERT_STREQ(rec.key_type, "EC");
        ASSERT_EQ(rec.key_bits, 384);
        ASSERT_FALSE(rec.autorenew);
        ASSERT_EQ(rec.key_mode, 0600);
        ASSERT_EQ(rec.cert_mode, 0644);
        ASSERT_EQ(rec.validity, 3600);
        ASSERT_STREQ(rec.renew_before, "33%");
        ASSERT_STREQ(rec.pre_save_cmd, "/bin/true 'a b'");
        ASSERT_NOT_NULL(rec.template_json);

        t = json_loads(rec.template_json, 0, NULL);
        ASSERT_NOT_NULL(t);
        ASSERT_STREQ(json_string_value(json_object_get(t, "subject")), "CN=web");
        /* The duplicate SAN is dropped, the IPv6 address normalized. */
        ASSERT_EQ(json_array_size(json_object_get(t, "dns")), 2);
        ASSERT_STREQ(json_string_value(json_array_get(json_object_get(t, "ip"), 0)), "2001:db8::1");
        ASSERT_STREQ(json_string_value(json_array_get(json_object_get(t, "eku"), 0)), "id-kp-serverAuth");

        /* PATCH of one template field keeps the others. */
        apply_expect(&rec, "{\"dns\":[\"other.example\"]}", 0, NULL);
        json_decref(t);
        t = json_loads(rec.template_json, 0, NULL);
        ASSERT_EQ(json_array_size(json_object_get(t, "dns")), 1);
        ASSERT_STREQ(json_string_value(json_object_get(t, "subject")), "CN=web");
        ASSERT_EQ(json_array_size(json_object_get(t, "email")), 1);

        /* null unsets */
        apply_expect(&rec, "{\"renew_before\":null,\"key_owner\":null,\"validity\":null}", 0, NULL);
        ASSERT_NULL(rec.renew_before);
        ASSERT_NULL(rec.key_owner);
        ASSERT_EQ(rec.validity, 0);

        apply_expect(&rec, "{\"renew_before\":\"14d\"}", 0, NULL);
        ASSERT_STREQ(rec.renew_before, "14d");
        apply_expect(&rec, "{\"renew_before\":\"12h\"}", 0, NULL);
        apply_expect(&rec, "{\"renew_before\":\"1w 2d\"}", 0, NULL);
}

TEST(apply_refusals) {
        _cleanup_(cert_record_done) CertRecord rec = {};

        apply_expect(&rec, "{\"nickname\":\"web\",\"cert_path\":\"/a\"}", 0, NULL);

        apply_expect(&rec, "{\"nickname\":\"x\",\"bogus\":1}", -ENOENT, "'bogus'");
        apply_expect(&rec, "{\"state\":\"MONITORING\"}", -EINVAL, "'state'");
        apply_expect(&rec, "{\"nickname\":5}", -EINVAL, "'nickname' must be a string");
        apply_expect(&rec, "{\"nickname\":\"\"}", -EINVAL, "'nickname'");
        apply_expect(&rec, "{\"nickname\":\"123\"}", -EINVAL, "number");
        apply_expect(&rec, "{\"nickname\":\"a/b\"}", -EINVAL, "'/'");
        apply_expect(&rec, "{\"nickname\":\"a\\u0001\"}", -EINVAL, "control");
        apply_expect(&rec, "{\"cert_path\":\"relative.pem\"}", -EINVAL, "absolute");
        apply_expect(&rec, "{\"cert_path\":null}", -EINVAL, "'cert_path'");
        apply_expect(&rec, "{\"dns\":[\"a..b\"]}", -EINVAL, "'a..b' is not a valid DNS name");
        apply_expect(&rec, "{\"dns\":\"a.example\"}", -EINVAL, "array");
        apply_expect(&rec, "{\"dns\":[1]}", -EINVAL, "dns[0]");
        apply_expect(&rec, "{\"ip\":[\"300.1.1.1\"]}", -EINVAL, "'300.1.1.1' is not an IP");
        apply_expect(&rec, "{\"email\":[\"nobody\"]}", -EINVAL, "e-mail");
        apply_expect(&rec, "{\"principal\":[\"no realm\"]}", -EINVAL, "Kerberos");
        apply_expect(&rec, "{\"key_usage\":[\"signEverything\"]}", -EINVAL, "'signEverything'");
        apply_expect(&rec, "{\"eku\":[\"not-an-eku\"]}", -EINVAL, "'not-an-eku'");
        apply_expect(&rec, "{\"key_type\":\"DSA\"}", -EINVAL, "'DSA'");
        apply_expect(&rec, "{\"key_type\":\"RSA\",\"key_bits\":1024}", -EINVAL, "key_bits");
        apply_expect(&rec, "{\"key_type\":\"EC\",\"key_bits\":255}", -EINVAL, "key_bits");
        apply_expect(&rec, "{\"key_bits\":2048}", -EINVAL, "key_type");
        apply_expect(&rec, "{\"key_mode\":4096}", -EINVAL, "'key_mode'");
        apply_expect(&rec, "{\"key_mode\":-1}", -EINVAL, "'key_mode'");
        apply_expect(&rec, "{\"cert_mode\":\"0644\"}", -EINVAL, "without quotes");
        apply_expect(&rec, "{\"key_owner\":\"no-such-user-xyz\"}", -EINVAL, "'no-such-user-xyz'");
        apply_expect(&rec, "{\"renew_before\":\"0%\"}", -EINVAL, "'0%'");
        apply_expect(&rec, "{\"renew_before\":\"100%\"}", -EINVAL, "'100%'");
        apply_expect(&rec, "{\"renew_before\":\"soon\"}", -EINVAL, "'soon'");
        apply_expect(&rec, "{\"renew_before\":\"0d\"}", -EINVAL, "'0d'");
        apply_expect(&rec, "{\"validity\":0}", -EINVAL, "'validity'");
        apply_expect(&rec, "{\"validity\":-5}", -EINVAL, "'validity'");
        apply_expect(&rec, "{\"autorenew\":\"yes\"}", -EINVAL, "'autorenew'");
        apply_expect(&rec, "{\"is_ca\":1}", -EINVAL, "'is_ca'");
        apply_expect(&rec, "{\"path_len\":-2}", -EINVAL, "'path_len'");
        apply_expect(&rec, "{\"pre_save_cmd\":\"/bin/x 'unterminated\"}", -EINVAL, "'pre_save_cmd'");
        apply_expect(&rec, "{\"subject\":\"this is no name\"}", -EINVAL, "'subject'");

        /* A refused body changes nothing, even if earlier fields were fine. */
        apply_expect(&rec, "{\"nickname\":\"changed\",\"dns\":[\"a..b\"]}", -EINVAL, NULL);
        ASSERT_STREQ(rec.nickname, "web");
        ASSERT_NULL(rec.template_json);
}

TEST(to_json) {
        _cleanup_(cert_record_done) CertRecord rec = {
                .id = 7,
                .state = CERT_NEED_GUIDANCE,
                .autorenew = true,
                .key_mode = 384,
                .not_after = 1790000060,
        };
        json_auto_t *j = NULL, *j2 = NULL;
        json_t *t;

        rec.nickname = strdup("web");
        rec.csr_pem = strdup("-----BEGIN CERTIFICATE REQUEST-----");
        rec.issued_pem = strdup("-----BEGIN CERTIFICATE-----");
        rec.ca_error = strdup("bad \xff byte");
        rec.cert_info_json = strdup("{\"dns\":[\"web.example\"],\"is_ca\":false}");
        rec.template_json = strdup("{\"dns\":[\"web.example\"]}");
        ASSERT_TRUE(rec.nickname && rec.csr_pem && rec.issued_pem && rec.ca_error && rec.cert_info_json &&
                    rec.template_json);

        ASSERT_OK(cert_record_to_json(&rec, &j));
        ASSERT_EQ(json_integer_value(json_object_get(j, "id")), 7);
        ASSERT_STREQ(json_string_value(json_object_get(j, "nickname")), "web");
        ASSERT_STREQ(json_string_value(json_object_get(j, "state")), "NEED_GUIDANCE");
        ASSERT_TRUE(json_is_true(json_object_get(j, "stuck")));
        ASSERT_TRUE(json_is_true(json_object_get(j, "autorenew")));
        ASSERT_EQ(json_integer_value(json_object_get(j, "key_mode")), 384);
        ASSERT_EQ(json_integer_value(json_object_get(j, "not_after")), 1790000060);
        ASSERT_TRUE(json_is_null(json_object_get(j, "cert_path")));
        ASSERT_STREQ(json_string_value(json_object_get(j, "ca_error")), "bad ? byte");
        ASSERT_NULL(json_object_get(j, "csr_pem"));
        ASSERT_NULL(json_object_get(j, "issued_pem"));
        ASSERT_NULL(json_object_get(j, "template_json"));
        ASSERT_NULL(json_object_get(j, "cert_info_json"));
        ASSERT_STREQ(json_string_value(json_array_get(json_object_get(json_object_get(j, "cert"), "dns"), 0)),
                     "web.example");

        /* The template has every key, whatever was stored. */
        t = json_object_get(j, "template");
        ASSERT_TRUE(json_is_object(t));
        ASSERT_TRUE(json_is_null(json_object_get(t, "subject")));
        ASSERT_EQ(json_array_size(json_object_get(t, "dns")), 1);
        ASSERT_TRUE(json_is_array(json_object_get(t, "eku")));
        ASSERT_EQ(json_integer_value(json_object_get(t, "path_len")), -1);
        ASSERT_TRUE(json_is_false(json_object_get(t, "is_ca")));

        /* Before issuance "cert" is null; a monitoring certificate is not stuck. */
        rec.cert_info_json = mfree(rec.cert_info_json);
        rec.state = CERT_MONITORING;
        ASSERT_OK(cert_record_to_json(&rec, &j2));
        ASSERT_TRUE(json_is_null(json_object_get(j2, "cert")));
        ASSERT_TRUE(json_is_false(json_object_get(j2, "stuck")));
}

/* The direct writer gives the same object as the json_t builder, for records full and empty. */
static void check_append_same(const CertRecord *rec) {
        _cleanup_(dynbuf_done) DynBuf out = DYNBUF_INIT(1024 * 1024);
        json_auto_t *a = NULL, *b = NULL;
        json_error_t error;

        ASSERT_OK(cert_record_to_json(rec, &a));
        ASSERT_OK(cert_record_append_json(rec, &out));
        b = json_loadb(out.data, out.len, JSON_REJECT_DUPLICATES, &error);
        if (!b)
                fprintf(stderr, "not JSON (%s): %s\n", error.text, out.data);
        ASSERT_NOT_NULL(b);
        ASSERT_TRUE(json_equal(a, b));
}

TEST(append_json) {
        _cleanup_(cert_record_done) CertRecord rec = {};
        _cleanup_(dynbuf_done) DynBuf small = DYNBUF_INIT(100);

        check_append_same(&rec);

        rec.id = -5;
        rec.state = CERT_CA_REJECTED;
        rec.not_after = INT64_MIN;
        rec.not_before = INT64_MAX;
        rec.nickname = strdup("q\"uo\\te\n\t\x01 \xc3\xa9t\xc3\xa9");
        rec.ca_error = strdup("bad \xff byte \"x\"");
        rec.template_json = strdup("{\"dns\":[\"a\\u0000b\",\"\u00e9\"],\"is_ca\":true,\"path_len\":3,\"extra\":1.5,\"ip\":5}");
        rec.cert_info_json = strdup("{\"dns\": [\"x\"], \"n\": 1.25, \"o\": {\"k\": null}}");
        ASSERT_TRUE(rec.nickname && rec.ca_error && rec.template_json && rec.cert_info_json);
        check_append_same(&rec);

        /* Broken stored JSON: defaults and null, still valid output. */
        free(rec.template_json);
        free(rec.cert_info_json);
        rec.template_json = strdup("{\"dns\":");
        rec.cert_info_json = strdup("[1,2]");
        ASSERT_TRUE(rec.template_json && rec.cert_info_json);
        check_append_same(&rec);

        /* The cap is honoured. */
        ASSERT_ERROR(cert_record_append_json(&rec, &small), E2BIG);
}

static int ca_apply(CARecord *rec, const char *body, bool create, char **err) {
        json_auto_t *j = parse(body);
        return ca_record_apply_json(rec, j, create, err);
}

TEST(ca) {
        _cleanup_(ca_record_done) CARecord rec = {};
        _cleanup_free_ char *err = NULL;
        json_auto_t *j = NULL;

        ASSERT_ERROR(ca_apply(&rec, "{\"type\":\"EXTERNAL\"}", true, &err), ENODATA);
        ASSERT_TRUE(strstr(err, "'name'") != NULL);
        err = mfree(err);
        ASSERT_ERROR(ca_apply(&rec, "{\"name\":\"corp\",\"type\":\"ACME-ISH\"}", true, &err), EINVAL);
        ASSERT_TRUE(strstr(err, "ACME-ISH") != NULL);
        err = mfree(err);
        ASSERT_ERROR(ca_apply(&rec, "{\"name\":\"corp\",\"type\":\"EXTERNAL\"}", true, &err), ENODATA);
        ASSERT_TRUE(strstr(err, "helper") != NULL);
        err = mfree(err);
        ASSERT_ERROR(ca_apply(&rec, "{\"name\":\"corp\",\"type\":\"EXTERNAL\",\"helper\":\"/bin/x 'a\"}", true, &err),
                     EINVAL);
        err = mfree(err);
        /* A bare name is looked up in the helper's PATH (by the daemon); a relative path is refused. */
        ASSERT_ERROR(ca_apply(&rec, "{\"name\":\"corp\",\"type\":\"EXTERNAL\",\"helper\":\"bin/x\"}", true, &err),
                     EINVAL);
        ASSERT_TRUE(strstr(err, "absolute") != NULL);
        err = mfree(err);
        ASSERT_ERROR(ca_apply(&rec, "{\"name\":\"corp\",\"type\":\"INTERNAL:LOCAL\",\"helper\":\"/bin/x\"}", true, &err),
                     EINVAL);
        err = mfree(err);
        ASSERT_ERROR(ca_apply(&rec, "{\"name\":\"corp\",\"type\":\"EXTERNAL\",\"helper\":\"/bin/x\",\"url\":1}", true, &err),
                     ENOENT);
        ASSERT_TRUE(strstr(err, "'url'") != NULL);
        err = mfree(err);
        ASSERT_ERROR(ca_apply(&rec, "{\"name\":\"corp\",\"type\":\"EXTERNAL\",\"helper\":\"/bin/x\",\"config\":[]}", true, &err),
                     EINVAL);
        err = mfree(err);
        ASSERT_NULL(rec.name);

        ASSERT_OK(ca_apply(&rec,
                           "{\"name\":\"corp\",\"type\":\"EXTERNAL\",\"helper\":\"/bin/submit -k 'EX COM'\",\"is_default\":true,\"config\":{\"a\":1}}",
                           true, &err));
        ASSERT_STREQ(rec.name, "corp");
        ASSERT_STREQ(rec.type, "EXTERNAL");
        ASSERT_STREQ(rec.helper, "/bin/submit -k 'EX COM'");
        ASSERT_TRUE(rec.is_default);
        ASSERT_STREQ(rec.config_json, "{\"a\":1}");

        /* PATCH: name/type may only repeat; the helper stays required for EXTERNAL. */
        ASSERT_ERROR(ca_apply(&rec, "{\"name\":\"other\"}", false, &err), EINVAL);
        err = mfree(err);
        ASSERT_ERROR(ca_apply(&rec, "{\"helper\":null}", false, &err), EINVAL);
        err = mfree(err);
        ASSERT_OK(ca_apply(&rec, "{\"name\":\"corp\",\"is_default\":false,\"helper\":\"/bin/other\"}", false, &err));
        ASSERT_STREQ(rec.helper, "/bin/other");
        ASSERT_FALSE(rec.is_default);
        ASSERT_STREQ(rec.config_json, "{\"a\":1}");

        ASSERT_OK(ca_record_to_json(&rec, "/var/lib/certkeeper/cas/corp/roots.pem", &j));
        ASSERT_STREQ(json_string_value(json_object_get(j, "name")), "corp");
        ASSERT_STREQ(json_string_value(json_object_get(j, "roots_path")), "/var/lib/certkeeper/cas/corp/roots.pem");
        ASSERT_EQ(json_integer_value(json_object_get(json_object_get(j, "config"), "a")), 1);
        ASSERT_TRUE(json_is_null(json_object_get(j, "aka")));
        ASSERT_TRUE(json_is_false(json_object_get(j, "is_default")));
}

TEST_MAIN()
