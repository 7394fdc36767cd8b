/* SPDX-License-Identifier: MIT */
/* Worker ops that run an EXTERNAL CA's helper program (certmonger's protocol): "submit" (SUBMIT or
 * POLL for one request) and "ca-data" (IDENTIFY, FETCH-ROOTS and the requirement and template
 * queries for one CA, then the roots written to the requests' -F files). These run in the helper
 * worker pool, so a helper that hangs until its timeout never holds up keys, signing or saving. */
#include <errno.h>
#include <string.h>

#include "cert-json.h"
#include "certkeeperd-jobs-private.h"
#include "fs-util.h"
#include "helper-protocol.h"
#include "process-util.h"
#include "string-util.h"
#include "time-util.h"

#define CERT_FILE_MAX (1024 * 1024)

typedef struct HelperCall {
        SpawnResult spawn;
        HelperRun run;
        char **argv;
} HelperCall;

static void helper_call_done(HelperCall *c) {
        spawn_result_done(&c->spawn);
        strv_free(c->argv);
        *c = (HelperCall) {};
}

/* Runs the CA's helper for one operation. Fills c->run however it ended (exec errors included);
 * a negative return is only for failures of our own (OOM, a bad request). */
static int helper_call(json_t *job, const HelperRequest *req, HelperCall *c, char **reterr) {
        _cleanup_strv_free_ char **envp = NULL;
        int64_t timeout = jint(job, "timeout");
        SpawnOptions opts = {
                .timeout = timeout > 0 ? (usec_t) timeout * USEC_PER_SEC : USEC_INFINITY,
                .output_cap = (size_t) MAX(jint(job, "output_max"), (int64_t) 4096),
                .separate_stderr = true,
        };
        int r;

        r = strv_split_shell(strempty(jstr(job, "helper")), &c->argv);
        if (r < 0 || strv_length(c->argv) == 0) {
                (void) asprintf(reterr, "the CA's helper command line '%s' is empty or badly quoted; fix it "
                                "with 'certkeeper modify-ca -c %s -e COMMAND'", strempty(jstr(job, "helper")),
                                strempty(req->ca_nickname));
                return r < 0 ? r : -EINVAL;
        }
        r = helper_env(req, &envp, reterr);
        if (r < 0)
                return r;

        r = spawn_run_full(c->argv, envp, &opts, &c->spawn);
        c->run = (HelperRun) {
                .program = c->argv[0],
                .timeout_sec = timeout,
        };
        if (r < 0) {
                if (r == -ENOMEM)
                        return r;
                c->run.exec_error = r;
                return 0;
        }
        c->run.exit_status = c->spawn.exit_status;
        c->run.term_signal = c->spawn.term_signal;
        c->run.signaled = c->spawn.signaled;
        c->run.timed_out = c->spawn.timed_out;
        c->run.out = strempty(c->spawn.output);
        c->run.out_len = c->spawn.output_len;
        c->run.out_truncated = c->spawn.output_truncated;
        c->run.err = c->spawn.err_output;
        c->run.err_len = c->spawn.err_output_len;
        c->run.err_truncated = c->spawn.err_output_truncated;
        return 0;
}

static bool helper_call_ok(const HelperCall *c) {
        return !c->run.exec_error && !c->run.signaled && !c->run.timed_out && c->run.exit_status == 0;
}

/* job: helper, ca, op ("SUBMIT"/"POLL"), csr_pem, cookie, spkac, cert_path (its certificate, if any,
 * goes in CERTMONGER_CERTIFICATE), profile, issuer, home, timeout, output_max.
 * Reply: ok with issued_pem, or not ok with result = the outcome's name and error = its words;
 * "waiting" also has cookie and delay (-1: none given). */
int job_submit(json_t *job, json_t **ret) {
        _cleanup_(helper_call_done) HelperCall c = {};
        _cleanup_(helper_outcome_done) HelperOutcome o = {};
        _cleanup_free_ char *err = NULL, *cert = NULL;
        usec_t start = now_usec(CLOCK_MONOTONIC);
        const char *cert_path = jstr(job, "cert_path");
        HelperRequest req = {
                .op = helper_op_from_string(jstr(job, "helper_op")),
                .ca_nickname = jstr(job, "ca"),
                .csr_pem = jstr(job, "csr_pem"),
                .cookie = jstr(job, "cookie"),
                .profile = jstr(job, "profile"),
                .issuer = jstr(job, "issuer"),
                .spkac = jstr(job, "spkac"),
                .home = jstr(job, "home"),
        };
        int r;

        if (!IN_SET(req.op, HELPER_SUBMIT, HELPER_POLL) || isempty(req.csr_pem))
                return reply_error(ret, "guidance", -EINVAL, "invalid submit job");

        /* The current certificate, for helpers that renew by serial number. A file that cannot be
         * read is simply not passed: the renewal goes on as a new request. */
        if (cert_path && fs_read_file(cert_path, CERT_FILE_MAX, &cert, NULL) >= 0 && strstr(cert, "-----BEGIN"))
                req.cert_pem = cert;

        r = helper_call(job, &req, &c, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return reply_error(ret, "guidance", r, "%s", strna(err));

        r = helper_submit_outcome(&c.run, &o);
        if (r < 0)
                return r;

        if (o.result == HELPER_ISSUED)
                *ret = json_pack("{s:b, s:s, s:s, s:s, s:I}", "ok", 1, "result", "issued", "issued_pem", o.cert_pem,
                                 "csr_pem", req.csr_pem, "duration_ms", (json_int_t) elapsed_ms(start));
        else
                *ret = json_pack("{s:b, s:s, s:s, s:s?, s:I, s:I}", "ok", 0, "result", helper_result_to_string(o.result),
                                 "error", o.message, "cookie", o.cookie, "delay", (json_int_t) o.delay, "duration_ms",
                                 (json_int_t) elapsed_ms(start));
        return *ret ? 0 : -ENOMEM;
}

static json_t *names_json(char **l) {
        json_t *a = json_array();

        STRV_FOREACH(s, l)
                if (json_array_append_new(a, json_string(*s)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

static json_t *certs_json(const HelperCert *l, size_t n) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < n; i++)
                if (json_array_append_new(a, json_pack("{s:s, s:s}", "nickname", l[i].nickname, "pem", l[i].pem)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

/* IDENTIFY's answer: its first line, free text (commas included), printable. */
static int identify_line(const char *out, char ***ret) {
        _cleanup_free_ char *line = strndup(out, strcspn(out, "\r\n"));

        if (!line)
                return -ENOMEM;
        for (const unsigned char *p = (const unsigned char *) line; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return -EBADMSG;
        return strv_extend(ret, line);
}

/* One CA-data operation. Its result goes into data under key; an error into errors under the
 * operation's name. Unsupported operations (exit 6) are neither: the CA simply doesn't offer them. */
static int ca_data_op(json_t *job, HelperOp op, json_t *data, json_t *errors) {
        _cleanup_(helper_call_done) HelperCall c = {};
        _cleanup_free_ char *err = NULL, *msg = NULL;
        const char *name = helper_op_to_string(op);
        HelperRequest req = {
                .op = op,
                .ca_nickname = jstr(job, "ca"),
                .home = jstr(job, "home"),
        };
        int r;

        r = helper_call(job, &req, &c, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return json_object_set_new(errors, name, json_string(strna(err)));

        if (!helper_call_ok(&c)) {
                r = helper_data_error(op, &c.run, &msg);
                if (r == -EOPNOTSUPP)
                        return 0;
                if (r < 0)
                        return r;
                return json_object_set_new(errors, name, json_string(msg));
        }

        if (op == HELPER_FETCH_ROOTS) {
                _cleanup_(helper_roots_done) HelperRoots roots = {};
                _cleanup_free_ char *pem = NULL;

                r = helper_parse_roots(c.run.out, c.run.out_len, &roots, &err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        (void) asprintf(&msg, "The CA's helper '%s' printed roots that cannot be read (%s). Check "
                                        "its FETCH-ROOTS output.", c.run.program, strna(err));
                        return json_object_set_new(errors, name, json_string(strna(msg)));
                }
                r = helper_roots_pem(&roots, &pem);
                if (r < 0)
                        return r;
                if (json_object_set_new(data, "roots", certs_json(roots.roots, roots.n_roots)) < 0 ||
                    json_object_set_new(data, "other_roots", certs_json(roots.other_roots, roots.n_other_roots)) < 0 ||
                    json_object_set_new(data, "other_certs", certs_json(roots.others, roots.n_others)) < 0 ||
                    json_object_set_new(data, "roots_pem", json_string(pem)) < 0)
                        return -ENOMEM;
                return 0;
        }

        _cleanup_strv_free_ char **names = NULL;
        /* IDENTIFY is one line of free text (it may hold commas); the others are lists. */
        if (op == HELPER_IDENTIFY)
                r = identify_line(c.run.out, &names);
        else
                r = helper_parse_names(c.run.out, c.run.out_len, &names);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                (void) asprintf(&msg, "The CA's helper '%s' answered %s with unprintable bytes; ignoring it.",
                                c.run.program, name);
                return json_object_set_new(errors, name, json_string(strna(msg)));
        }
        switch (op) {
        case HELPER_IDENTIFY:
                return json_object_set_new(data, "identify", cert_json_text(names ? names[0] : ""));
        case HELPER_GET_NEW_REQUEST_REQUIREMENTS:
                return json_object_set_new(data, "new_requirements", names_json(names));
        case HELPER_GET_RENEW_REQUEST_REQUIREMENTS:
                return json_object_set_new(data, "renew_requirements", names_json(names));
        case HELPER_GET_SUPPORTED_TEMPLATES:
                return json_object_set_new(data, "templates", names_json(names));
        case HELPER_GET_DEFAULT_TEMPLATE:
                return json_object_set_new(data, "default_template", names && names[0] ? json_string(names[0]) : json_null());
        default:
                return 0;
        }
}

/* Writes the roots to each -F file whose content differs. Returns the files' errors as words. */
static int write_ca_files(json_t *files, const char *roots_pem, json_t *written, json_t *errors) {
        size_t i, len = strlen(roots_pem);
        json_t *f;

        json_array_foreach(files, i, f) {
                _cleanup_free_ char *cur = NULL, *err = NULL, *msg = NULL;
                const char *path = jstr(f, "path");
                FileAttrs attrs;
                int r;

                if (isempty(path))
                        continue;
                if (fs_read_file(path, CERT_FILE_MAX, &cur, NULL) >= 0 && streq(cur, roots_pem))
                        continue;
                r = attrs_from_job(f, "owner", "mode", 0644, &attrs, &err);
                if (r >= 0)
                        r = fs_write_atomic(path, roots_pem, len, &attrs);
                if (r < 0) {
                        (void) asprintf(&msg, "cannot write the CA's roots to '%s': %s", path, err ? err : strerror(-r));
                        if (json_array_append_new(errors, json_string(strna(msg))) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (json_array_append_new(written, json_string(path)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* job: helper, ca, home, timeout, output_max, ca_files [{path, owner, mode}], roots_pem (the roots
 * known before, written to ca_files if this refresh cannot fetch them).
 * Reply: ok, data {identify, roots, other_roots, other_certs, roots_pem, new_requirements,
 * renew_requirements, templates, default_template} with only what the helper answered, errors
 * {OPERATION: words}, files_written [...], file_errors [...]. */
int job_ca_data(json_t *job, json_t **ret) {
        static const HelperOp ops[] = {
                HELPER_IDENTIFY,
                HELPER_FETCH_ROOTS,
                HELPER_GET_NEW_REQUEST_REQUIREMENTS,
                HELPER_GET_RENEW_REQUEST_REQUIREMENTS,
                HELPER_GET_SUPPORTED_TEMPLATES,
                HELPER_GET_DEFAULT_TEMPLATE,
        };
        json_auto_t *data = json_object(), *errors = json_object(), *written = json_array(), *ferrors = json_array();
        usec_t start = now_usec(CLOCK_MONOTONIC);
        const char *roots_pem;
        int r;

        if (!data || !errors || !written || !ferrors)
                return -ENOMEM;

        for (size_t i = 0; i < ELEMENTSOF(ops); i++) {
                r = ca_data_op(job, ops[i], data, errors);
                if (r < 0)
                        return r;
        }

        roots_pem = jstr(data, "roots_pem") ?: jstr(job, "roots_pem");
        if (!isempty(roots_pem)) {
                r = write_ca_files(json_object_get(job, "ca_files"), roots_pem, written, ferrors);
                if (r < 0)
                        return r;
        }

        *ret = json_pack("{s:b, s:O, s:O, s:O, s:O, s:I}", "ok", 1, "data", data, "errors", errors, "files_written",
                         written, "file_errors", ferrors, "duration_ms",
                         (json_int_t) elapsed_ms(start));
        return *ret ? 0 : -ENOMEM;
}
