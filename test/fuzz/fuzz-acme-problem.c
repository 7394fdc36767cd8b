/* SPDX-License-Identifier: MIT */
/* Feeds arbitrary bytes to the problem document parser, its summary and its classification. The
 * summary must be one printable line under 1 KiB. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acme-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(acme_problem_done) AcmeProblem p = {};
        _cleanup_free_ char *s = NULL, *words = NULL;
        AcmeProblemClass c;

        if (size > 2 * ACME_BODY_MAX)
                return 0;
        if (acme_parse_problem((const char *) data, size, &p, &words) < 0)
                return 0;
        if (!p.type || p.n_subproblems > ACME_LIST_MAX || (p.detail && strlen(p.detail) > ACME_DETAIL_MAX))
                abort();
        c = acme_problem_classify(p.type, p.status);
        if (c < 0 || c >= _ACME_PROBLEM_CLASS_MAX)
                abort();
        s = acme_problem_summary(&p);
        if (!s || strlen(s) >= 1024)
                abort();
        for (const unsigned char *q = (const unsigned char *) s; *q; q++)
                if (*q < 0x20 || *q >= 0x7f)
                        abort();
        return 0;
}
