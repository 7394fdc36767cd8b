/* SPDX-License-Identifier: MIT */
/* Feeds arbitrary bytes to what reads a CA helper's output: helper_submit_outcome() and
 * helper_data_error() (the first byte picks the exit status, a signal or a timeout, how the rest is
 * split between stdout and stderr, and the truncation flags), helper_parse_roots() with
 * helper_roots_pem(), and helper_parse_names(). Nothing may crash, leak or read out of bounds, and
 * every message must be one printable line. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "helper-protocol.h"
#include "string-util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_message(const char *m) {
        if (!m || !startswith(m, "CA helper '"))
                abort();
        for (const unsigned char *p = (const unsigned char *) m; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        abort();
        /* Two capped quotes and our own words. */
        if (strlen(m) > 1024)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const int statuses[] = { 0, 1, 2, 3, 4, 5, 6, 16, 17, 7, 0, 1, 5, 0, 5, 255 };
        _cleanup_free_ char *buf = NULL, *roots_pem = NULL, *err = NULL, *data_msg = NULL;
        _cleanup_(helper_outcome_done) HelperOutcome o = {};
        _cleanup_(helper_roots_done) HelperRoots roots = {};
        _cleanup_strv_free_ char **names = NULL;
        HelperRun run;
        size_t split;
        uint8_t sel;
        int r;

        if (size < 1 || size > 1024 * 1024)
                return 0;
        sel = data[0];
        data++;
        size--;

        /* Outputs are NUL-terminated, as spawn_run_full() gives them; the NUL is not counted. */
        buf = malloc(size + 2);
        if (!buf)
                return 0;
        memcpy(buf, data, size);
        buf[size] = '\0';
        buf[size + 1] = '\0';

        /* Bit 6: the second half is stderr, with its own NUL (the byte at split is overwritten). */
        split = (sel & 0x40) ? size / 2 : size;
        run = (HelperRun) {
                .program = "fuzz-helper",
                .exit_status = statuses[sel & 0x0f],
                .signaled = (sel & 0x30) == 0x10,
                .term_signal = 11,
                .timed_out = (sel & 0x20) != 0,
                .timeout_sec = (sel & 0x10) ? 30 : 0,
                .out = buf,
                .out_len = split,
                .out_truncated = (sel & 0x80) != 0,
        };
        if (sel & 0x40) {
                buf[split] = '\0';
                run.err = buf + split + 1;
                run.err_len = size > split ? size - split - 1 : 0;
                run.err_truncated = (sel & 0x80) != 0;
        }

        r = helper_submit_outcome(&run, &o);
        if (r >= 0) {
                check_message(o.message);
                if (o.result == HELPER_ISSUED && !o.cert_pem)
                        abort();
                if (o.result == HELPER_WAIT && (!o.cookie || o.delay == 0 || o.delay < -1))
                        abort();
        }

        r = helper_data_error((HelperOp) (sel % _HELPER_OP_MAX), &run, &data_msg);
        if (r >= 0)
                check_message(data_msg);

        /* The parsers get the whole input. */
        memcpy(buf, data, size);
        if (helper_parse_roots(buf, size, &roots, &err) >= 0) {
                if (roots.n_roots + roots.n_other_roots == 0)
                        abort();
                if (helper_roots_pem(&roots, &roots_pem) < 0)
                        abort();
        }

        if (helper_parse_names(buf, size, &names) >= 0)
                STRV_FOREACH(n, names)
                        if (isempty(*n) || strpbrk(*n, ",\r\n"))
                                abort();

        ERR_clear_error();
        return 0;
}
