#!/bin/bash
# Lifecycle events from the real daemon: installed (1006) on a first issuance; replaced (1001, old
# and new thumbprints matching the files) and archived (1005) on a resubmit; about-to-expire (1003)
# then expired (1002) for a short certificate not renewed; deleted (1004) on stop-tracking;
# renewal-failed (1101) and stuck (1102) from an EXTERNAL CA that rejects (exit 2). Then the
# filters of 'certkeeper events' and of GET /api/v1/events, and callers the API refuses.
. "$(dirname "$0")/lib.sh"

HELPER="$(cd "$(dirname "$0")" && pwd)/helpers/test-helper.sh"
H="$T/helper"
mkdir -p "$H/ext" "$T/certs"
chmod 0755 "$T/certs"
cp "$HELPER" "$H/helper.sh"
chmod 0755 "$H/helper.sh"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$H/ext/ca.key" \
        -out "$H/ext/ca.pem" -subj "/CN=Test External CA" -days 30 2>/dev/null

# An expiry notice 20 s before expiry, and one at expiry.
cat >>"$CONF" <<CONF
[renewal]
notify_ttls = 20s
[events]
keep = 30d
CONF
start_daemon

thumb() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
lower() { tr 'A-F' 'a-f'; }

# events_json [QUERY]: the items of GET /api/v1/events?QUERY.
events_json() {
        local out
        out=$(api GET "/api/v1/events?limit=1000&$1")
        [ "$(echo "$out" | tail -n1)" = 200 ] || fail "GET /api/v1/events?$1: $out"
        echo "$out" | head -n -1
}
# count_events QUERY: how many events match.
count_events() { events_json "$1" | json_get "len(d['items'])"; }
# has_event NICK ID: at least one such event of that request.
has_event() { [ "$(count_events "cert=$1&id=$2")" -ge 1 ]; }

# ---- installed (1006), then replaced (1001) and archived (1005) ----
ck request -I web -f "$T/certs/web.pem" -k "$T/certs/web.key" -N CN=web.test -D web.test >/dev/null ||
        fail "request web"
wait_state web MONITORING 30
wait_until 10 has_event web 1006
first=$(thumb "$T/certs/web.pem")
p=$(events_json "cert=web&id=installed" | json_get "d['items'][0]['payload']")
echo "$p" | json_get "d['sha256']" | lower | grep -qx "$first" || fail "1006: sha256 is not the file's: $p"
echo "$p" | json_get "d['paths']['cert']" | grep -qx "$T/certs/web.pem" || fail "1006: no cert path: $p"
echo "$p" | json_get "d['sans']['dns']" | grep -q web.test || fail "1006: no SANs: $p"
echo "$p" | json_get "d['subject']" | grep -q web.test || fail "1006: no subject: $p"
[ "$(count_events "cert=web&id=1001")" = 0 ] || fail "a first issuance raised 'replaced'"

ck resubmit -i web >/dev/null || fail "resubmit web"
wait_until 30 has_event web 1001
wait_state web MONITORING 30
second=$(thumb "$T/certs/web.pem")
[ "$first" != "$second" ] || fail "resubmit did not replace the certificate"
p=$(events_json "cert=web&id=replaced" | json_get "d['items'][0]['payload']")
echo "$p" | json_get "d['old_sha256']" | lower | grep -qx "$first" || fail "1001: old_sha256 is not the old file's: $p"
echo "$p" | json_get "d['sha256']" | lower | grep -qx "$second" || fail "1001: sha256 is not the new file's: $p"
p=$(events_json "cert=web&id=archived" | json_get "d['items'][0]['payload']")
archived=$(echo "$p" | json_get "d['archived'][0]")
[ -f "$archived" ] || fail "1005: the archived file '$archived' does not exist: $p"
[ "$(thumb "$archived")" = "$first" ] || fail "1005: the archive is not the previous certificate"
grep -q "replacing" "$LOG" || fail "no log line for the replacement"
grep -q "\[da803ff7122d4d64a6cf549546f0cfa8\]" "$LOG" || fail "the log line has no MESSAGE_ID"

# ---- a short certificate not renewed: about-to-expire (1003), then expired (1002) ----
ck request -I short -R -f "$T/certs/short.pem" -k "$T/certs/short.key" -N CN=short.test --validity 30 \
        >/dev/null || fail "request short"
wait_state short MONITORING 30
wait_until 30 has_event short 1003
wait_until 40 has_event short 1002
[ "$(count_events "cert=short&id=1003")" = 1 ] || fail "more than one about-to-expire for one threshold"

# ---- an EXTERNAL CA that rejects: stuck (1102) for a new request, renewal-failed (1101) ----
ck add-ca -c ext -e "$H/helper.sh '$H/ext' issue" >/dev/null || fail "add-ca ext"
ck request -I extok -c ext -f "$T/certs/extok.pem" -k "$T/certs/extok.key" -N CN=extok.test >/dev/null ||
        fail "request extok"
wait_state extok MONITORING 30
ck modify-ca -c ext -e "$H/helper.sh '$H/ext' exit:2" >/dev/null || fail "modify-ca ext"
ck request -I extno -c ext -f "$T/certs/extno.pem" -k "$T/certs/extno.key" -N CN=extno.test >/dev/null ||
        fail "request extno"
wait_state extno CA_REJECTED 30
wait_until 10 has_event extno 1102
ck resubmit -i extok >/dev/null || fail "resubmit extok"
wait_until 30 has_event extok 1101
[ "$(count_events "cert=extok&id=1102")" = 0 ] || fail "a rejected renewal with a certificate kept is 'stuck'"

# ---- deleted (1004): the events stay, under the request's id ----
short_id=$(cert_field short id)
ck stop-tracking -i short >/dev/null || fail "stop-tracking short"
[ "$(count_events "cert=$short_id&id=deleted")" = 1 ] || fail "no 'deleted' event for short"
[ "$(count_events "cert=$short_id")" -ge 3 ] || fail "the events of a removed request are gone"
out=$(api GET "/api/v1/events?cert=short")
[ "$(echo "$out" | tail -n1)" = 404 ] || fail "cert=NICK of a removed request: $out"

# ---- the CLI ----
ck events >"$T/out" || fail "certkeeper events"
grep -Eq '^[0-9-]+T[0-9:]+Z 1006 installed +web +Certificate in file' "$T/out" ||
        fail "no 'installed' line for web: $(cat "$T/out")"
[ "$(wc -l <"$T/out")" = "$(count_events "")" ] || fail "certkeeper events does not print one line per event"
ck events --cert web --id replaced >"$T/out" || fail "events --cert --id"
[ "$(wc -l <"$T/out")" = 1 ] && grep -q " 1001 replaced " "$T/out" || fail "events --cert web --id replaced: $(cat "$T/out")"
ck events --id 1102 --json | json_get "len(d)" | grep -qx 1 || fail "events --id 1102 --json"
ck events -i extok --since 1h | grep -q "renewal-failed" || fail "events -i extok --since 1h"
[ -z "$(ck events --since "2099-01-01")" ] || fail "events --since a future date printed events"
[ "$(ck events --since "$(date -u +%Y-%m-%d)" | wc -l)" = "$(count_events "")" ] || fail "events --since today"
[ "$(ck events --limit 3 | wc -l)" = 3 ] || fail "events --limit 3"
ck events --id nosuch 2>"$T/err" && fail "events --id nosuch succeeded"
grep -q "no event" "$T/err" || fail "events --id nosuch: unclear message: $(cat "$T/err")"
ck events --since yesterday 2>"$T/err" && fail "events --since yesterday succeeded"

# ---- the API: paging newest first; read only; callers it refuses ----
total=$(count_events "")
seen=0 after=0 prev=
while :; do
        page=$(events_json "limit=2&after=$after")
        ids=$(echo "$page" | json_get "' '.join(str(i['id']) for i in d['items'])")
        for i in $ids; do
                [ -z "$prev" ] || [ "$i" -lt "$prev" ] || fail "events are not newest first: $i after $prev"
                prev=$i seen=$((seen + 1))
        done
        after=$(echo "$page" | json_get "d['next_after']")
        [ "$after" != None ] || break
done
[ "$seen" = "$total" ] || fail "paging saw $seen of $total events"
out=$(api POST /api/v1/events '{"event_id": 1001}')
[ "$(echo "$out" | tail -n1)" = 405 ] || fail "POST /api/v1/events: $out"
out=$(api GET "/api/v1/events?bogus=1")
[ "$(echo "$out" | tail -n1)" = 400 ] || fail "unknown query argument: $out"
tcp=$(json_get "d['tcp']" <"$RUN/api.json")
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$tcp/api/v1/events")
[ "$code" = 401 ] || fail "TCP without the token: HTTP $code"
if [ "$(id -u)" = 0 ]; then
        if command -v setpriv >/dev/null; then
                as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
        else
                as_nobody() { runuser -u nobody -- "$@"; }
        fi
        out=$(as_nobody curl -s -w '\n%{http_code}' --unix-socket "$RUN/api.sock" http://localhost/api/v1/events)
        [ "$(echo "$out" | tail -n1)" = 403 ] || fail "nobody on the socket: $out"
        grep -q '"items"' <<<"$out" && fail "nobody was shown events"
        out=$(as_nobody "$CERTKEEPER_BIN" events 2>/dev/null) && fail "certkeeper events as nobody succeeded"
        [ -z "$out" ] || fail "certkeeper events as nobody printed events: $out"
fi

# ---- a restart keeps them ----
stop_daemon
start_daemon
[ "$(count_events "")" = "$total" ] || fail "events lost over a restart"
echo "ok"
