/* SPDX-License-Identifier: MIT */
/* events: the lifecycle events the daemon recorded (docs/EVENTS.md), newest first. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "certkeeper-common.h"
#include "dynbuf.h"
#include "parse-util.h"
#include "string-util.h"

enum {
        ARG_SINCE = _ARG_COMMON_MAX,
        ARG_ID,
        ARG_CERT,
        ARG_LIMIT,
        ARG_FOLLOW,
};

#define EVENTS_PAGE 1000U

/* One line: time, id, name, nickname, message. */
static void print_event(json_t *e) {
        char when[64] = "-";
        json_t *payload = json_object_get(e, "payload");

        (void) format_timestamp_rfc3339(json_integer_value(json_object_get(e, "at")), when, sizeof(when));
        printf("%s %" JSON_INTEGER_FORMAT " %-15s %-20s %s\n", when, json_integer_value(json_object_get(e, "event_id")),
               strna(json_string_value(json_object_get(e, "event"))),
               isempty(json_string_value(json_object_get(e, "nickname"))) ? "-"
                                                                          : json_string_value(json_object_get(e, "nickname")),
               strempty(json_string_value(json_object_get(payload, "message"))));
}

/* "since=...&id=...&cert=..." from the options, escaped. */
static int query_append(DynBuf *q, const char *key, const char *value) {
        _cleanup_free_ char *esc = NULL;

        if (!value)
                return 0;
        if (api_client_escape(value, &esc) < 0)
                return -ENOMEM;
        return dynbuf_printf(q, "&%s=%s", key, esc);
}

typedef struct FollowState {
        CliContext *cli;
        char last_id[32];
        bool lost;
} FollowState;

static int follow_event(const char *id, const char *event, const char *data, void *userdata) {
        FollowState *fs = userdata;
        json_auto_t *e = NULL;

        if (id && strlen(id) < sizeof(fs->last_id))
                strcpy(fs->last_id, id);
        if (fs->lost) {
                cli_warn(fs->cli, "Connected to certkeeperd again.");
                fs->lost = false;
        }
        e = json_loads(data, 0, NULL);
        if (!json_is_object(e)) {
                cli_warn(fs->cli, "The daemon sent event %s that is not a JSON object; skipped.", strna(id));
                return 0;
        }
        if (fs->cli->json) {
                _cleanup_free_ char *line = json_dumps(e, JSON_COMPACT);
                if (line)
                        puts(line);
        } else
                print_event(e);
        fflush(stdout);
        return 0;
}

/* --follow: the events as they come, from GET /api/v1/events/stream; after a lost connection
 * (the daemon restarting), again from the last one received. */
static int follow(CliContext *c, const char *query, bool since) {
        _cleanup_(api_response_done) ApiResponse first = {};
        _cleanup_free_ char *path = NULL, *check = NULL;
        FollowState fs = { .cli = c };
        json_t *items;
        int r;

        /* The filters are checked (and the daemon reached) by the list first; its newest matching
         * event is where the stream starts, unless --since asks for older ones. */
        if (asprintf(&check, "/api/v1/events?limit=1%s", query) < 0 ||
            asprintf(&path, "/api/v1/events/stream?%s", query[0] ? query + 1 : "") < 0)
                return cli_fail(c, "Out of memory.");
        if (cli_call_checked(c, "GET", check, NULL, &first) != CLI_EXIT_OK)
                return CLI_EXIT_FAILURE;
        items = json_object_get(first.body, "items");
        /* No matching event yet: every one that comes counts, even before the stream is open. */
        if (!since)
                (void) snprintf(fs.last_id, sizeof(fs.last_id), "%" JSON_INTEGER_FORMAT,
                                json_array_size(items) > 0
                                ? json_integer_value(json_object_get(json_array_get(items, 0), "id")) : 0);

        for (;;) {
                _cleanup_(api_response_done) ApiResponse a = {};
                _cleanup_free_ char *err = NULL;
                ApiStreamHandler h = {
                        .last_event_id = fs.last_id[0] ? fs.last_id : NULL,
                        .on_event = follow_event,
                        .userdata = &fs,
                };

                r = api_client_stream(c->api, path, &h, &a, &err);
                if (r >= 0 && a.status >= 400)
                        return cli_report_problem(c, &a);
                if (r == -ENOMEM || r == -E2BIG)
                        return cli_fail(c, "%s", err ?: strerror(-r));
                if (!fs.lost) {
                        cli_warn(c, "Lost the event stream of certkeeperd (%s); reconnecting every second.",
                                 r < 0 ? (err ?: strerror(-r)) : "the daemon ended it");
                        fs.lost = true;
                }
                (void) sleep(1);
        }
}

int verb_events(CliContext *c, int argc, char *argv[]) {
        static const struct option options[] = {
                CLI_COMMON_LONG_OPTIONS,
                { "since", required_argument, NULL, ARG_SINCE },
                { "id", required_argument, NULL, ARG_ID },
                { "cert", required_argument, NULL, ARG_CERT },
                { "limit", required_argument, NULL, ARG_LIMIT },
                { "follow", no_argument, NULL, ARG_FOLLOW },
                {}
        };
        _cleanup_(dynbuf_done) DynBuf q = DYNBUF_INIT(4096);
        json_auto_t *all = NULL;
        const char *since = NULL, *id = NULL, *cert = NULL;
        unsigned limit = 0, n = 0;
        bool follow_mode = false;
        int64_t after = 0;
        int opt;

        optind = 0;
        opterr = 0;
        while ((opt = getopt_long(argc, argv, ":hi:f", options, NULL)) >= 0) {
                if (cli_common_option(c, opt, optarg))
                        continue;
                switch (opt) {
                case 'h':
                        printf("Usage: certkeeper events [options]\n"
                               "Lists the lifecycle events the daemon recorded, newest first: time, event id,\n"
                               "name, request nickname, message.\n\n"
                               "  --since=T          only events at or after T: unix seconds, a date\n"
                               "                     (2026-01-31, 2026-01-31T12:00:00Z) or a time ago (1h, 2d)\n"
                               "  --id=N             only this event: a number (1001) or a name (replaced)\n"
                               "  --cert=ID|NICK     only this certificate (-i NICK); a removed one by its id\n"
                               "  --limit=N          at most N events\n"
                               "  -f, --follow       print events as they come, oldest first (with --since,\n"
                               "                     those since T first); reconnects after a daemon restart\n"
                               "                     without losing events\n"
                               "  --json             the API's event objects, as one JSON array (with\n"
                               "                     --follow: one object per line)\n");
                        return CLI_EXIT_OK;
                case ARG_SINCE:
                        since = optarg;
                        break;
                case ARG_ID:
                        id = optarg;
                        break;
                case 'i':
                case ARG_CERT:
                        cert = optarg;
                        break;
                case 'f':
                case ARG_FOLLOW:
                        follow_mode = true;
                        break;
                case ARG_LIMIT:
                        if (safe_atou(optarg, &limit) < 0 || limit == 0)
                                return cli_fail(c, "--limit is '%s'; give a number above 0.", optarg);
                        break;
                default:
                        return cli_bad_option(c, opt, argv);
                }
        }
        if (cli_extra_args(c, argc, argv) != 0)
                return CLI_EXIT_FAILURE;

        if (query_append(&q, "since", since) < 0 || query_append(&q, "id", id) < 0 ||
            query_append(&q, "cert", cert) < 0)
                return cli_fail(c, "Out of memory.");
        if (follow_mode) {
                if (limit > 0)
                        return cli_fail(c, "--limit does not go with --follow, which prints events until stopped.");
                return follow(c, strempty(q.data), since != NULL);
        }
        if (c->json) {
                all = json_array();
                if (!all)
                        return cli_fail(c, "Out of memory.");
        }

        /* Page by page, so that memory does not grow with the number of events. */
        for (;;) {
                _cleanup_(api_response_done) ApiResponse a = {};
                _cleanup_free_ char *path = NULL;
                unsigned page = limit > 0 ? MIN(EVENTS_PAGE, limit - n) : EVENTS_PAGE;
                json_t *items, *e, *next;
                size_t i;

                if (asprintf(&path, "/api/v1/events?limit=%u&after=%" PRIi64 "%s", page, after, strempty(q.data)) < 0)
                        return cli_fail(c, "Out of memory.");
                if (cli_call_checked(c, "GET", path, NULL, &a) != CLI_EXIT_OK)
                        return CLI_EXIT_FAILURE;
                items = json_object_get(a.body, "items");
                if (!json_is_array(items))
                        return cli_fail(c, "The daemon's answer has no list of events.");
                json_array_foreach(items, i, e) {
                        if (all)
                                json_array_append(all, e);
                        else
                                print_event(e);
                        n++;
                }
                next = json_object_get(a.body, "next_after");
                if (!json_is_integer(next) || (limit > 0 && n >= limit))
                        break;
                after = json_integer_value(next);
        }
        if (all)
                return cli_print_json(all);
        return CLI_EXIT_OK;
}
