/* SPDX-License-Identifier: MIT */
/* The worker op "deliver": one lifecycle event to one subscription (docs/EVENTS.md), a command run
 * with the event in its environment, or a webhook, a signed JSON POST. It runs in the helper worker
 * pool, so a subscriber that hangs until its timeout holds up neither the event loop nor the other
 * subscriptions (each has at most one delivery in flight). */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "certkeeperd-jobs-private.h"
#include "process-util.h"
#include "string-util.h"

/* What a webhook answers is not used; its start goes into the error of a failure. */
#define RESPONSE_KEEP 256

static int env_add(char ***env, const char *name, const char *value) {
        char *e;

        if (isempty(value))
                return 0;
        if (asprintf(&e, "%s=%s", name, value) < 0)
                return -ENOMEM;
        return strv_consume(env, e);
}

static int env_add_int(char ***env, const char *name, int64_t v) {
        char s[32];

        (void) snprintf(s, sizeof(s), "%" PRIi64, v);
        return env_add(env, name, s);
}

/* CERTKEEPER_* from the event's payload. */
static int event_env(json_t *event, const char *payload, int64_t row, char ***ret) {
        static const struct {
                const char *name, *key;
                bool path; /* under "paths" */
        } texts[] = {
                { "CERTKEEPER_EVENT_NAME", "event" },
                { "CERTKEEPER_NICKNAME", "nickname" },
                { "CERTKEEPER_SUBJECT", "subject" },
                { "CERTKEEPER_OLD_THUMBPRINT", "old_sha256" },
                { "CERTKEEPER_NEW_THUMBPRINT", "sha256" },
                { "CERTKEEPER_CERT_FILE", "cert", true },
                { "CERTKEEPER_KEY_FILE", "key", true },
                { "CERTKEEPER_CA", "ca" },
                { "CERTKEEPER_MESSAGE", "message" },
        };
        _cleanup_strv_free_ char **extra = NULL;
        json_t *paths = json_object_get(event, "paths");
        char **env;
        int r;

        r = env_add_int(&extra, "CERTKEEPER_EVENT_ID", jint(event, "event_id"));
        if (r >= 0)
                r = env_add_int(&extra, "CERTKEEPER_EVENT_ROW", row);
        if (r >= 0)
                r = env_add_int(&extra, "CERTKEEPER_EVENT_AT", jint(event, "at"));
        if (r >= 0)
                r = env_add_int(&extra, "CERTKEEPER_CERT_ID", jint(event, "cert_id"));
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(texts); i++)
                r = env_add(&extra, texts[i].name, jstr(texts[i].path ? paths : event, texts[i].key));
        if (r >= 0)
                r = env_add(&extra, "CERTKEEPER_EVENT_JSON", payload);
        if (r < 0)
                return r;
        env = spawn_clean_env(extra);
        if (!env)
                return -ENOMEM;
        *ret = env;
        return 0;
}

static int deliver_command(json_t *job, json_t *event, const char *payload, char **reterr) {
        _cleanup_strv_free_ char **argv = NULL, **envp = NULL;
        _cleanup_(spawn_result_done) SpawnResult res = {};
        _cleanup_free_ char *how = NULL;
        int64_t timeout = jint(job, "timeout");
        SpawnOptions opts = {
                .timeout = timeout > 0 ? (usec_t) timeout * USEC_PER_SEC : USEC_INFINITY,
                .output_cap = (size_t) MAX(jint(job, "output_max"), (int64_t) 4096),
        };
        int r;

        r = strv_split_shell(strempty(jstr(job, "target")), &argv);
        if (r < 0 || strv_length(argv) == 0)
                return errorf(reterr, r < 0 ? r : -EINVAL, "the command line '%s' is empty or badly quoted",
                              strempty(jstr(job, "target")));
        r = event_env(event, payload, jint(job, "row"), &envp);
        if (r < 0)
                return r;

        r = spawn_run_full(argv, envp, &opts, &res);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return errorf(reterr, r, "cannot run '%s': %s", argv[0], strerror(-r));
        if (!res.signaled && !res.timed_out && res.exit_status == 0)
                return 0;
        if (spawn_result_describe(&res, &how) < 0)
                return -ENOMEM;
        /* The last line of its output says why, usually. */
        if (res.output_len > 0) {
                char *o = strstrip(res.output), *nl = strrchr(o, '\n');
                return errorf(reterr, -EPROTO, "'%s' %s: %.200s", argv[0], how, nl ? nl + 1 : o);
        }
        return errorf(reterr, -EPROTO, "'%s' %s", argv[0], how);
}

static size_t response_cb(char *data, size_t size, size_t n, void *userdata) {
        char *buf = userdata;
        size_t have = strlen(buf), len = size * n;

        if (have < RESPONSE_KEEP)
                strncat(buf, data, MIN(len, (size_t) RESPONSE_KEEP - have));
        return len;
}

static int signature(const char *secret, const char *timestamp, const char *body, char **ret) {
        _cleanup_free_ char *signed_text = strjoin(timestamp, ".", body);
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned md_len = 0;

        if (!signed_text)
                return -ENOMEM;
        if (!HMAC(EVP_sha256(), secret, (int) strlen(secret), (const unsigned char *) signed_text,
                  strlen(signed_text), md, &md_len))
                return -EIO;
        return hex_encode(md, md_len, false, ret);
}

static int deliver_webhook(json_t *job, const char *payload, char **reterr) {
        static bool curl_ready = false;
        _cleanup_free_ char *sig = NULL, *h_ts = NULL, *h_sig = NULL;
        char timestamp[32], response[RESPONSE_KEEP + 1] = "", curl_err[CURL_ERROR_SIZE] = "";
        const char *url = jstr(job, "target"), *secret = jstr(job, "secret");
        int64_t timeout = jint(job, "timeout");
        struct curl_slist *headers = NULL;
        long status = 0;
        CURLcode cc;
        CURL *curl;
        int r;

        if (isempty(url) || isempty(secret))
                return errorf(reterr, -EINVAL, "the webhook has no URL or no secret");
        if (!curl_ready) {
                if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                        return -ENOMEM;
                curl_ready = true;
        }

        (void) snprintf(timestamp, sizeof(timestamp), "%" PRIi64, (int64_t) time(NULL));
        r = signature(secret, timestamp, payload, &sig);
        if (r < 0)
                return r;
        h_ts = strjoin("X-Certkeeper-Timestamp: ", timestamp);
        h_sig = strjoin("X-Certkeeper-Signature: sha256=", sig);
        if (!h_ts || !h_sig)
                return -ENOMEM;

        curl = curl_easy_init();
        if (!curl)
                return -ENOMEM;
        struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json");
        if (l)
                headers = l, l = curl_slist_append(headers, h_ts);
        if (l)
                headers = l, l = curl_slist_append(headers, h_sig);
        if (l)
                headers = l, l = curl_slist_append(headers, "Expect:");
        if (l)
                headers = l;
        if (!l) {
                curl_slist_free_all(headers);
                curl_easy_cleanup(curl);
                return -ENOMEM;
        }

        (void) curl_easy_setopt(curl, CURLOPT_URL, url);
        (void) curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        (void) curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        (void) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        (void) curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
        (void) curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long) strlen(payload));
        (void) curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout > 0 ? (long) timeout : 0L);
        (void) curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, timeout > 0 ? (long) MIN(timeout, 30) : 30L);
        (void) curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, response_cb);
        (void) curl_easy_setopt(curl, CURLOPT_WRITEDATA, response);
        (void) curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
        (void) curl_easy_setopt(curl, CURLOPT_USERAGENT, "certkeeper-webhook");

        cc = curl_easy_perform(curl);
        if (cc == CURLE_OK)
                (void) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(headers);
        curl_easy_cleanup(curl);

        if (cc != CURLE_OK)
                return errorf(reterr, -EHOSTUNREACH, "POST to %s failed: %s", url,
                              curl_err[0] ? curl_err : curl_easy_strerror(cc));
        if (status < 200 || status > 299)
                return errorf(reterr, -EPROTO, "POST to %s answered HTTP %ld%s%.200s", url, status,
                              response[0] ? ": " : "", strstrip(response));
        return 0;
}

/* job: kind ("command" or "webhook"), target (command line or URL), secret (webhooks), payload
 * (the event's JSON text), row (its id), timeout, output_max. What is delivered is the payload with
 * "row" added.
 * Reply: ok, or not ok with error = words; duration_ms. */
int job_deliver(json_t *job, json_t **ret) {
        _cleanup_free_ char *err = NULL, *body = NULL;
        json_auto_t *event = NULL;
        usec_t start = now_usec(CLOCK_MONOTONIC);
        const char *kind = jstr(job, "kind"), *payload = jstr(job, "payload");
        int r;

        if (!kind || !payload)
                return reply_error(ret, "failed", -EINVAL, "invalid deliver job");
        event = json_loads(payload, 0, NULL);
        if (!json_is_object(event))
                return reply_error(ret, "failed", -EBADMSG, "event %" PRIi64 " has no readable payload",
                                   jint(job, "row"));
        /* The row id goes with the event: a subscriber told the same event twice (at least once)
         * knows it by that. */
        if (json_object_set_new(event, "row", json_integer(jint(job, "row"))) < 0)
                return -ENOMEM;
        body = json_dumps(event, JSON_COMPACT);
        if (!body)
                return -ENOMEM;

        if (streq(kind, "command"))
                r = deliver_command(job, event, body, &err);
        else if (streq(kind, "webhook"))
                r = deliver_webhook(job, body, &err);
        else
                r = errorf(&err, -EINVAL, "unknown subscription kind '%s'", kind);
        if (r == -ENOMEM && !err)
                return r;
        if (r < 0)
                return reply_error(ret, "failed", r, "%s", err ? err : strerror(-r));

        *ret = json_pack("{s:b, s:I}", "ok", 1, "duration_ms", (json_int_t) elapsed_ms(start));
        return *ret ? 0 : -ENOMEM;
}
