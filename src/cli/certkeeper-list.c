/* SPDX-License-Identifier: MIT */
/* list and list-cas. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certkeeper-common.h"
#include "certkeeper-format.h"
#include "string-util.h"

enum {
        ARG_STATE = _ARG_COMMON_MAX,
};

static int total_count(CliContext *c, int64_t *ret) {
        _cleanup_(api_response_done) ApiResponse a = {};
        json_t *t;
        int r;

        r = cli_call(c, "GET", "/api/v1/certificates?limit=1", NULL, &a);
        if (r < 0)
                return r;
        if (a.status >= 400)
                return cli_report_problem(c, &a), api_status_to_errno(a.status);
        t = json_object_get(a.body, "total");
        if (!json_is_integer(t))
                return cli_fail(c, "The daemon's answer has no total count."), -EBADMSG;
        *ret = json_integer_value(t);
        return 0;
}

static int append_query(char **q, const char *key, const char *value) {
        _cleanup_free_ char *e = NULL;
        char *n;

        if (api_client_escape(value, &e) < 0)
                return -ENOMEM;
        n = strjoin(strempty(*q), *q ? "&" : "", key, "=", e);
        if (!n)
                return -ENOMEM;
        free(*q);
        *q = n;
        return 0;
}

typedef enum ListMode {
        LIST_JSON,  /* --json: the API's {"items": [...], "total": N}, compact */
        LIST_TABLE, /* certkeeper's table */
        LIST_LONG,  /* getcert's "Request ID" blocks */
} ListMode;

/* What verb_list prints, a page at a time. */
typedef struct ListPrinter {
        /* Filters the daemon may not apply, applied again here (harmless if it did). */
        const char *ca;
        const char *state;
        bool requests_only;
        bool tracking_only;

        ListMode mode;
        bool utc;
        int64_t total;           /* the count line and the JSON "total"; -1: the first page's */
        bool started;            /* prologue printed */
        size_t printed;          /* certificates printed */
        CliTableWidths widths;
        char *buf;               /* one item as compact JSON, reused */
        size_t buf_size;
} ListPrinter;

static void list_printer_done(ListPrinter *p) {
        if (!p)
                return;
        free(p->buf);
        p->buf = NULL;
        p->buf_size = 0;
}

static bool list_keep(const ListPrinter *p, json_t *v) {
        const char *st = strempty(json_string_value(json_object_get(v, "state")));

        if (p->ca && !streq(strempty(json_string_value(json_object_get(v, "ca"))), p->ca))
                return false;
        if (p->state && !streq(st, p->state))
                return false;
        if (p->requests_only && streq(st, "MONITORING"))
                return false;
        if (p->tracking_only && !streq(st, "MONITORING"))
                return false;
        return true;
}

/* The items of a page that pass the filters: the page itself (a new reference) when all do. */
static int list_filter(const ListPrinter *p, json_t *items, json_t **ret) {
        json_auto_t *kept = NULL;
        size_t i;
        json_t *v;

        json_array_foreach(items, i, v)
                if (!list_keep(p, v))
                        break;
        if (i >= json_array_size(items)) {
                *ret = json_incref(items);
                return 0;
        }

        kept = json_array();
        if (!kept)
                return -ENOMEM;
        json_array_foreach(items, i, v)
                if (list_keep(p, v) && json_array_append(kept, v) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(kept);
        return 0;
}

/* One certificate object as compact JSON, with the comma that separates it from the one before. */
static int list_print_json_item(ListPrinter *p, json_t *v) {
        size_t n;

        n = json_dumpb(v, p->buf, p->buf_size, JSON_COMPACT);
        if (n == 0)
                return -ENOMEM;
        if (n > p->buf_size) {
                size_t sz = MAX(n, p->buf_size * 2);
                char *b = realloc(p->buf, sz);

                if (!b)
                        return -ENOMEM;
                p->buf = b;
                p->buf_size = sz;
                n = json_dumpb(v, p->buf, p->buf_size, JSON_COMPACT);
                if (n == 0 || n > p->buf_size)
                        return -ENOMEM;
        }
        if (p->printed > 0)
                fputc(',', stdout);
        fwrite(p->buf, 1, n, stdout);
        return 0;
}

static int list_print_page(CliContext *c, json_t *items, int64_t total, void *userdata) {
        ListPrinter *p = userdata;
        json_auto_t *page = NULL;
        size_t i;
        json_t *v;
        int r;

        r = list_filter(p, items, &page);
        if (r < 0)
                return cli_fail(c, "Out of memory."), r;

        if (!p->started) {
                p->started = true;
                if (p->total < 0)
                        p->total = total;

                switch (p->mode) {
                case LIST_JSON:
                        fputs("{\"items\":[", stdout);
                        break;
                case LIST_TABLE: {
                        _cleanup_free_ char *t = NULL;

                        cli_table_widths_fit(&p->widths, page);
                        if (cli_format_table_header(&p->widths, &t) < 0)
                                return cli_fail(c, "Out of memory."), -ENOMEM;
                        fputs(t, stdout);
                        break;
                }
                case LIST_LONG: {
                        _cleanup_free_ char *t = NULL;

                        if (cli_format_count_line(p->total, &t) < 0)
                                return cli_fail(c, "Out of memory."), -ENOMEM;
                        fputs(t, stdout);
                        break;
                }
                }
        }

        switch (p->mode) {
        case LIST_JSON:
                json_array_foreach(page, i, v) {
                        if (list_print_json_item(p, v) < 0)
                                return cli_fail(c, "Out of memory."), -ENOMEM;
                        p->printed++;
                }
                break;
        case LIST_TABLE: {
                _cleanup_free_ char *t = NULL;

                /* Later pages can only widen the columns (up to their caps). */
                cli_table_widths_fit(&p->widths, page);
                if (cli_format_table_rows(page, &p->widths, p->utc, &t) < 0)
                        return cli_fail(c, "Out of memory."), -ENOMEM;
                fputs(t, stdout);
                p->printed += json_array_size(page);
                break;
        }
        case LIST_LONG:
                json_array_foreach(page, i, v) {
                        _cleanup_free_ char *t = NULL;

                        if (cli_format_request(v, p->utc, &t) < 0)
                                return cli_fail(c, "Out of memory."), -ENOMEM;
                        fputs(t, stdout);
                        p->printed++;
                }
                break;
        }

        if (ferror(stdout))
                return cli_fail(c, "Failed to write the list: %s", strerror(errno)), -EIO;
        return 0;
}

/* list --json without a selector: the daemon applied the filters, and each page's items are copied
 * through as the daemon wrote them (compact), without building objects. */
static int list_print_raw_page(CliContext *c, const CliListPage *page, int64_t total, void *userdata) {
        ListPrinter *p = userdata;

        if (!p->started) {
                p->started = true;
                if (p->total < 0)
                        p->total = total;
                fputs("{\"items\":[", stdout);
        }
        if (page->n_items > 0) {
                if (p->printed > 0)
                        fputc(',', stdout);
                fwrite(page->items, 1, page->items_len, stdout);
                p->printed += page->n_items;
        }
        if (ferror(stdout))
                return cli_fail(c, "Failed to write the list: %s", strerror(errno)), -EIO;
        return 0;
}

static int list_print_end(const CliContext *c, ListPrinter *p) {
        if (p->mode == LIST_JSON)
                printf("],\"total\":%" PRIi64 "}\n", p->total < 0 ? (int64_t) 0 : p->total);
        if (fflush(stdout) != 0 || ferror(stdout))
                return cli_fail(c, "Failed to write the list: %s", strerror(errno));
        return CLI_EXIT_OK;
}

int verb_list(CliContext *c, int argc, char *argv[]) {
        static const struct option options[] = {
                CLI_COMMON_LONG_OPTIONS,
                { "ca", required_argument, NULL, 'c' },
                { "requests-only", no_argument, NULL, 'r' },
                { "tracking-only", no_argument, NULL, 't' },
                { "utc", no_argument, NULL, 'u' },
                { "id", required_argument, NULL, 'i' },
                { "dbdir", required_argument, NULL, 'd' },
                { "nickname", required_argument, NULL, 'n' },
                { "certfile", required_argument, NULL, 'f' },
                { "verbose", no_argument, NULL, 'v' },
                { "state", required_argument, NULL, ARG_STATE },
                { "long", no_argument, NULL, 'l' },
                {}
        };
        _cleanup_(cli_selector_done) CliSelector sel = {};
        _cleanup_(list_printer_done) ListPrinter printer = {};
        _cleanup_free_ char *query = NULL;
        const char *ca = NULL, *state = NULL;
        bool requests_only = false, tracking_only = false, utc = false, lng = c->getcert;
        int opt, r;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hc:rtui:d:n:f:vl", options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                switch (opt) {
                case 'h':
                        printf("Usage: %s list [options]\n"
                               "Lists the requests and tracked certificates.\n\n"
                               "  -c CA              only those of this CA\n"
                               "  -r                 only requests (not in MONITORING)\n"
                               "  -t                 only tracked certificates (in MONITORING)\n"
                               "  -i NAME, -f FILE   only this request\n"
                               "  -u, --utc          times in UTC\n"
                               "  --state=STATE      only requests in this state\n"
                               "  -l, --long         getcert's long format (the default for getcert)\n"
                               "  --json             the API's JSON\n",
                               c->getcert ? "getcert" : "certkeeper");
                        return CLI_EXIT_OK;
                case 'c':
                        ca = optarg;
                        break;
                case 'r':
                        requests_only = true;
                        break;
                case 't':
                        tracking_only = true;
                        break;
                case 'u':
                        utc = true;
                        break;
                case 'v':
                        c->verbose++;
                        break;
                case 'l':
                        lng = true;
                        break;
                case ARG_STATE:
                        state = optarg;
                        break;
                case 'i':
                case 'f':
                case 'd':
                case 'n':
                        if (cli_selector_option(c, &sel, opt, optarg) < 0)
                                return CLI_EXIT_FAILURE;
                        break;
                default:
                        return cli_bad_option(c, opt, argv);
                }
        }
        if (cli_extra_args(c, argc, argv) != 0)
                return CLI_EXIT_FAILURE;
        if (requests_only && tracking_only)
                return cli_fail(c, "-r (requests only) and -t (tracking only) exclude each other; give one.");

        if (ca && cli_check_ca(c, ca) < 0)
                return CLI_EXIT_FAILURE;

        printer = (ListPrinter) {
                .ca = ca,
                .state = state,
                .requests_only = requests_only,
                .tracking_only = tracking_only,
                .mode = c->json ? LIST_JSON : lng ? LIST_LONG : LIST_TABLE,
                .utc = utc,
                .total = -1,
        };

        if (cli_selector_is_set(&sel)) {
                json_auto_t *one = NULL, *items = NULL;

                r = cli_selector_find(c, &sel, &one);
                if (r < 0)
                        return CLI_EXIT_FAILURE;
                items = json_array();
                if (!items || json_array_append(items, one) < 0)
                        return cli_fail(c, "Out of memory.");
                if (printer.mode != LIST_TABLE && total_count(c, &printer.total) < 0)
                        return CLI_EXIT_FAILURE;
                if (list_print_page(c, items, printer.total, &printer) < 0)
                        return CLI_EXIT_FAILURE;
                return list_print_end(c, &printer);
        }

        if ((ca && append_query(&query, "ca", ca) < 0) ||
            (state && append_query(&query, "state", state) < 0) ||
            (requests_only && append_query(&query, "tracking", "requests") < 0) ||
            (tracking_only && append_query(&query, "tracking", "monitoring") < 0))
                return cli_fail(c, "Out of memory.");

        /* getcert's count line counts everything, even when filtered; the first page's total (which
         * --json prints, as the API does) counts only what matches. */
        if (query && printer.mode == LIST_LONG && total_count(c, &printer.total) < 0)
                return CLI_EXIT_FAILURE;

        /* Each page is printed as it arrives and freed before the next is fetched. */
        if (printer.mode == LIST_JSON)
                r = cli_list_certs_raw(c, query, list_print_raw_page, &printer);
        else
                r = cli_list_certs(c, query, list_print_page, &printer);
        if (r < 0) {
                /* What was printed stays; an interrupted --json list is left unterminated (not valid). */
                (void) fflush(stdout);
                return CLI_EXIT_FAILURE;
        }
        return list_print_end(c, &printer);
}

int verb_list_cas(CliContext *c, int argc, char *argv[]) {
        static const struct option options[] = {
                CLI_COMMON_LONG_OPTIONS,
                { "ca", required_argument, NULL, 'c' },
                { "verbose", no_argument, NULL, 'v' },
                {}
        };
        _cleanup_(api_response_done) ApiResponse a = {};
        const char *name = NULL;
        json_t *items, *v;
        bool found = false;
        size_t i;
        int opt;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hc:v", options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                switch (opt) {
                case 'h':
                        printf("Usage: %s list-cas [options]\n"
                               "Lists the CAs.\n\n"
                               "  -c NAME            only this CA\n"
                               "  -v                 more details\n"
                               "  --json             the API's JSON\n",
                               c->getcert ? "getcert" : "certkeeper");
                        return CLI_EXIT_OK;
                case 'c':
                        name = optarg;
                        break;
                case 'v':
                        c->verbose++;
                        break;
                default:
                        return cli_bad_option(c, opt, argv);
                }
        }
        if (cli_extra_args(c, argc, argv) != 0)
                return CLI_EXIT_FAILURE;

        if (cli_call_checked(c, "GET", "/api/v1/cas", NULL, &a) != CLI_EXIT_OK)
                return CLI_EXIT_FAILURE;
        items = json_object_get(a.body, "items");
        if (!json_is_array(items))
                return cli_fail(c, "The daemon's answer has no list of CAs.");

        if (c->json) {
                if (!name)
                        return cli_print_json(a.body);
                json_array_foreach(items, i, v)
                        if (streq(strempty(json_string_value(json_object_get(v, "name"))), name))
                                return cli_print_json(v);
                return cli_fail(c, "No CA with name \"%s\" found.", name);
        }

        json_array_foreach(items, i, v) {
                _cleanup_free_ char *t = NULL;

                if (name && !streq(strempty(json_string_value(json_object_get(v, "name"))), name))
                        continue;
                found = true;
                if (cli_format_ca(v, c->verbose > 0, &t) < 0)
                        return cli_fail(c, "Out of memory.");
                fputs(t, stdout);
                if (c->verbose > 0 && !c->getcert) {
                        _cleanup_free_ char *d = NULL;
                        if (cli_format_ca_data(v, false, &d) < 0)
                                return cli_fail(c, "Out of memory.");
                        fputs(d, stdout);
                }
        }
        if (name && !found)
                return cli_fail(c, "No CA with name \"%s\" found.", name);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}
