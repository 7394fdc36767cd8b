/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

/* Pure text formatting of the API's JSON objects, as certmonger's getcert prints them. No I/O, so
 * that it can be tested against golden files. All results are malloc'd, NUL-terminated text. */

/* "Number of certificates and requests being tracked: N.\n" */
int cli_format_count_line(int64_t total, char **ret) _warn_unused_result_;

/* One certificate object (docs/API.md) as a "Request ID 'NICK':" block of getcert list, each field
 * line tab-indented, ending with a newline. utc selects UTC timestamps (getcert list -u). */
int cli_format_request(json_t *cert, bool utc, char **ret) _warn_unused_result_;

/* One CA object as a "CA 'NAME':" block of getcert list-cas. verbose adds "self-identifies as". */
int cli_format_ca(json_t *ca, bool verbose, char **ret) _warn_unused_result_;
/* certkeeper's extra lines for list-cas -v (not in the getcert personality): when an EXTERNAL CA's
 * data was fetched, its roots, other certificates, templates, requirements and errors. */
int cli_format_ca_data(json_t *ca, bool utc, char **ret) _warn_unused_result_;

/* certkeeper's own compact table of certificate objects (an array): one header line, one line per
 * certificate: ID, NICKNAME, STATE, CA, EXPIRES (UTC date or "-"), CERTIFICATE path. */
int cli_format_table(json_t *certs, bool utc, char **ret) _warn_unused_result_;

/* The same table, a page at a time (certkeeper list prints each page as it arrives). The widths of
 * the NICKNAME, STATE and CA columns; start from {} and widen with each page. */
typedef struct CliTableWidths {
        size_t nick, state, ca;
} CliTableWidths;

/* Widens w for the header words and every certificate of the array (capped as cli_format_table does). */
void cli_table_widths_fit(CliTableWidths *w, json_t *certs);
/* The header line of the table. */
int cli_format_table_header(const CliTableWidths *w, char **ret) _warn_unused_result_;
/* One line per certificate of the array (may be empty: ""). */
int cli_format_table_rows(json_t *certs, const CliTableWidths *w, bool utc, char **ret) _warn_unused_result_;

/* A page of GET /api/v1/certificates ({"items": [...], "total": N, "next_after": ID or null}) read
 * from its bytes without building JSON objects, for list --json, which copies the items through.
 * Pointers point into the scanned text. */
typedef struct CliListPage {
        const char *items;     /* the bytes between the brackets of "items" (may be empty or blank) */
        size_t items_len;
        size_t n_items;        /* elements of "items" */
        int64_t total;         /* -1 when absent */
        int64_t next_after;    /* 0 when null or absent */
} CliListPage;

/* Checks that data is one JSON object (strict syntax, nesting at most 64 deep; UTF-8 is not checked)
 * with an "items" array and, if present, integer "total" and integer-or-null "next_after". -EBADMSG
 * if not. */
int cli_list_page_scan(const char *data, size_t len, CliListPage *ret) _warn_unused_result_;

/* getcert status exit code of a state and its stuck flag (certmonger's evaluate_status): 0 MONITORING,
 * 2 CA_REJECTED, 3 CA_UNREACHABLE, 5 CA_WORKING, 4 any other stuck state, 5 anything else. */
int cli_status_code(const char *state, bool stuck);

/* true when "getcert -w" stops waiting in this state: MONITORING, CA_REJECTED, CA_WORKING,
 * CA_UNREACHABLE or any stuck state. */
bool cli_state_is_final(const char *state, bool stuck);
