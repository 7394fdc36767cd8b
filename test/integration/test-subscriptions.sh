#!/bin/bash
# Subscriptions to lifecycle events, delivered at least once from the events table: a command
# subscriber (a script appending its environment) and a webhook (a receiver on 127.0.0.1 that
# checks the HMAC signature and refuses the first requests, to test retries); filters by event and
# by certificate; a hanging command and a failing webhook retried and reported while the others
# keep getting events; kill -9 with undelivered events, restart, nothing lost; and a caller the API
# refuses cannot subscribe.
. "$(dirname "$0")/lib.sh"

RECEIVER="$(cd "$(dirname "$0")" && pwd)/helpers/webhook-receiver.py"
RECV_PID=
trap 'rc=$?; set +e; [ -z "$RECV_PID" ] || kill "$RECV_PID" 2>/dev/null; (exit $rc); cleanup' EXIT

mkdir -p "$T/certs" "$T/sub"
chmod 0755 "$T/certs"
cat >>"$CONF" <<CONF
[helpers]
workers = 6
[events]
delivery_timeout = 4s
retry_delay = 1s
CONF

# The command subscriber: one line per event, and the whole environment once per event.
cat >"$T/sub/record.sh" <<'SH'
#!/bin/sh
echo "$CERTKEEPER_EVENT_ROW $CERTKEEPER_EVENT_ID ${CERTKEEPER_NICKNAME:--}" >>"$1"
{ echo "----"; env | grep '^CERTKEEPER_' | grep -v '^CERTKEEPER_EVENT_JSON=' | sort; } >>"$1.env"
SH
# A slow one, so that events wait for it when the daemon is killed.
cat >"$T/sub/slow.sh" <<'SH'
#!/bin/sh
sleep 1.5
echo "$CERTKEEPER_EVENT_ROW $CERTKEEPER_EVENT_ID ${CERTKEEPER_NICKNAME:--}" >>"$1"
SH
chmod 0755 "$T/sub/"*.sh

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/sub/secret"
python3 "$RECEIVER" "$T/sub/secret" "$T/sub/port" "$T/sub/hook.log" 2 &
RECV_PID=$!
wait_until 10 test -s "$T/sub/port"
PORT=$(cat "$T/sub/port")

start_daemon

# rows FILE: the distinct event rows a subscriber got.
rows() { cut -d' ' -f1 "$1" 2>/dev/null | sort -un; }
# events_after CURSOR [QUERY]: the rows of the events after CURSOR (matching QUERY).
events_after() {
        api GET "/api/v1/events?limit=1000&${2:-}" | head -n -1 |
                python3 -c "import json,sys; [print(e['id']) for e in json.load(sys.stdin)['items'] if e['id'] > $1]" |
                sort -un
}
has_line() { grep -q "$2" "$1" 2>/dev/null; }
# got_all FILE CURSOR: the subscriber got every event after CURSOR (duplicates allowed).
got_all() { [ "$(rows "$1")" = "$(events_after "$2")" ]; }
# got_list FILE ROWS: the subscriber got exactly these distinct rows.
got_list() { [ "$(rows "$1")" = "$2" ]; }
# field_ge NAME FIELD N
field_ge() { [ "$(sub_field "$1" "['$2']")" -ge "$3" ]; }
# count_ge FILE PATTERN N
count_ge() { [ "$(grep -c "$2" "$1")" -ge "$3" ]; }
sub_field() { # sub_field NAME EXPR
        api GET /api/v1/subscriptions | head -n -1 |
                json_get "[s for s in d['items'] if s['name'] == '$1'][0]$2"
}

# ---- subscribing; refused without a secret, with a bad URL, twice the same name ----
ck subscribe --command "$T/sub/record.sh $T/sub/all.log" --name all >/dev/null || fail "subscribe all"
ck subscribe --webhook "http://127.0.0.1:$PORT/hook" --secret-file "$T/sub/secret" --name hook >/dev/null ||
        fail "subscribe hook"
ck subscribe --command "$T/sub/record.sh $T/sub/replaced.log" --event replaced --event 1005 \
        --name replaced >/dev/null || fail "subscribe --event"
ck subscribe --webhook "http://127.0.0.1:$PORT/hook" 2>/dev/null && fail "a webhook without a secret was taken"
ck subscribe --webhook "ftp://127.0.0.1/x" --secret-file "$T/sub/secret" 2>/dev/null && fail "an ftp URL was taken"
ck subscribe --command "true" --name all 2>"$T/err" && fail "a duplicate name was taken"
grep -q "exists already" "$T/err" || fail "duplicate name: unclear message: $(cat "$T/err")"
ck subscribe --command "true" --event nosuchevent 2>/dev/null && fail "an unknown event was taken"
out=$(api POST /api/v1/subscriptions '{"command":"true","bogus":1}')
[ "$(echo "$out" | tail -n1)" = 400 ] || fail "an unknown field was taken: $out"
# The secret is never read back.
api GET /api/v1/subscriptions | grep -q "$(cat "$T/sub/secret")" && fail "the API shows the webhook secret"
start_cursor=$(sub_field all "['cursor']")

# ---- events from a request issued, then resubmitted, reach the command and the webhook ----
ck request -I web -f "$T/certs/web.pem" -k "$T/certs/web.key" -N CN=web.test -D web.test >/dev/null ||
        fail "request web"
wait_state web MONITORING 30
ck subscribe --command "$T/sub/record.sh $T/sub/web.log" --cert web --name web-only >/dev/null ||
        fail "subscribe --cert"
ck request -I other -f "$T/certs/other.pem" -k "$T/certs/other.key" -N CN=other.test >/dev/null ||
        fail "request other"
wait_state other MONITORING 30
ck resubmit -i web >/dev/null || fail "resubmit web"
wait_until 30 has_line "$T/sub/all.log" " 1001 web"
wait_state web MONITORING 30
wait_until 30 has_line "$T/sub/hook.log" " 1001 web"
has_line "$T/sub/all.log" " 1006 web" || fail "the command did not get 'installed' of web"
has_line "$T/sub/all.log" " 1006 other" || fail "the command did not get 'installed' of other"
has_line "$T/sub/hook.log" " 1006 web" || fail "the webhook did not get 'installed' of web"
[ "$(wc -l <"$T/sub/hook.log.refused")" = 2 ] || fail "the receiver did not refuse the first 2 requests"
[ ! -s "$T/sub/hook.log.bad" ] || fail "bad signatures: $(cat "$T/sub/hook.log.bad")"
# In order, none missing: every event after the cursor, once each here (no failure, no restart).
wait_until 20 got_all "$T/sub/all.log" "$start_cursor"
wait_until 20 got_all "$T/sub/hook.log" "$start_cursor"
[ "$(cut -d' ' -f1 "$T/sub/all.log")" = "$(events_after "$start_cursor")" ] ||
        fail "the command got events out of order or twice: $(cat "$T/sub/all.log")"

# The environment of 'replaced'.
thumb() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
awk 'BEGIN { RS = "----\n" } /CERTKEEPER_EVENT_ID=1001\n/ { printf "%s", $0; exit }' "$T/sub/all.log.env" \
        >"$T/sub/env1001"
for v in CERTKEEPER_EVENT_NAME=replaced CERTKEEPER_NICKNAME=web "CERTKEEPER_CERT_FILE=$T/certs/web.pem" \
         "CERTKEEPER_KEY_FILE=$T/certs/web.key" CERTKEEPER_CA=local CERTKEEPER_CERT_ID= CERTKEEPER_SUBJECT= \
         CERTKEEPER_OLD_THUMBPRINT= CERTKEEPER_MESSAGE=; do
        grep -q "^$v" "$T/sub/env1001" || fail "no $v in the command's environment: $(cat "$T/sub/env1001")"
done
grep '^CERTKEEPER_NEW_THUMBPRINT=' "$T/sub/env1001" | head -n1 | cut -d= -f2 | tr 'A-F' 'a-f' |
        grep -qx "$(thumb "$T/certs/web.pem")" || fail "CERTKEEPER_NEW_THUMBPRINT is not the new certificate's"

# ---- filters ----
cut -d' ' -f2 "$T/sub/replaced.log" | sort -u | grep -vxE '1001|1005' && fail "the --event filter let others through"
has_line "$T/sub/replaced.log" " 1001 web" || fail "the --event subscriber did not get 'replaced'"
cut -d' ' -f3 "$T/sub/web.log" | sort -u | grep -vx web && fail "the --cert filter let others through"
has_line "$T/sub/web.log" " 1001 web" || fail "the --cert subscriber did not get web's 'replaced'"
has_line "$T/sub/web.log" " 1006 " && fail "the --cert subscriber got an event from before it subscribed"

# ---- a hanging command and a failing webhook: retried and reported; the others go on ----
ck subscribe --command "sleep 60" --name hang >/dev/null || fail "subscribe hang"
ck subscribe --webhook "http://127.0.0.1:$PORT/fail" --secret-file "$T/sub/secret" --name down >/dev/null ||
        fail "subscribe down"
before=$(wc -l <"$T/sub/all.log")
ck resubmit -i other >/dev/null || fail "resubmit other"
wait_until 30 has_line "$T/sub/all.log" " 1001 other"
wait_until 30 field_ge hang attempts 2
wait_until 30 field_ge down attempts 2
ck subscriptions >"$T/out" || fail "certkeeper subscriptions"
grep -A8 '^hang:' "$T/out" | grep -q 'failed (.*attempts).*timed out' ||
        fail "the hanging command is not reported: $(cat "$T/out")"
grep -A8 '^down:' "$T/out" | grep -q 'failed (.*attempts).*HTTP 500' ||
        fail "the failing webhook is not reported: $(cat "$T/out")"
grep -A8 '^all:' "$T/out" | grep -q 'last result: delivered' || fail "'all' is not reported delivered: $(cat "$T/out")"
# Still failing, still retried: the others keep getting new events meanwhile.
ck resubmit -i web >/dev/null || fail "resubmit web again"
wait_until 30 count_ge "$T/sub/all.log" ' 1001 web' 2
wait_until 30 count_ge "$T/sub/hook.log" ' 1001 web' 2
[ "$(wc -l <"$T/sub/all.log")" -gt "$before" ] || fail "the others got nothing while one hung"
[ "$(sub_field hang "['delivered']")" = 0 ] || fail "the hanging command counts as delivered"
ck unsubscribe hang >/dev/null || fail "unsubscribe hang"
ck unsubscribe down >/dev/null || fail "unsubscribe down"
ck unsubscribe down 2>/dev/null && fail "unsubscribe of a removed subscription succeeded"

# ---- kill -9 with undelivered events; after the restart every one arrives ----
ck subscribe --command "$T/sub/slow.sh $T/sub/slow.log" --name slow >/dev/null || fail "subscribe slow"
slow_cursor=$(sub_field slow "['cursor']")
hook_cursor=$start_cursor
touch "$T/sub/hook.log.down"
for i in 1 2 3; do
        ck request -I "k$i" -f "$T/certs/k$i.pem" -k "$T/certs/k$i.key" -N "CN=k$i.test" >/dev/null ||
                fail "request k$i"
done
for i in 1 2 3; do wait_state "k$i" MONITORING 30; done
ck resubmit -i k1 >/dev/null || fail "resubmit k1"
k1_replaced() { [ "$(events_after "$slow_cursor" "cert=k1&id=1001" | wc -l)" -ge 1 ]; }
wait_until 30 k1_replaced
want_slow=$(events_after "$slow_cursor")
[ "$(rows "$T/sub/slow.log" | wc -l)" -lt "$(echo "$want_slow" | wc -l)" ] ||
        fail "the slow subscriber had everything before the kill: nothing to test"
kill9_daemon
rm -f "$T/sub/hook.log.down"
start_daemon
wait_until 60 got_list "$T/sub/slow.log" "$want_slow"
wait_until 60 got_all "$T/sub/all.log" "$start_cursor"
wait_until 60 got_all "$T/sub/hook.log" "$hook_cursor"
echo "after the kill: slow got $(wc -l <"$T/sub/slow.log") deliveries of $(echo "$want_slow" | wc -l) events"

# ---- callers the API refuses cannot subscribe ----
if [ "$(id -u)" = 0 ]; then
        if command -v setpriv >/dev/null; then
                as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
        else
                as_nobody() { runuser -u nobody -- "$@"; }
        fi
        chmod 0644 "$T/sub/secret"
        n=$(api GET /api/v1/subscriptions | head -n -1 | json_get "len(d['items'])")
        out=$(as_nobody curl -s -w '\n%{http_code}' --unix-socket "$RUN/api.sock" -X POST \
                -H 'Content-Type: application/json' --data-binary '{"command":"touch /tmp/pwned"}' \
                http://localhost/api/v1/subscriptions)
        [ "$(echo "$out" | tail -n1)" = 403 ] || fail "nobody on the socket: $out"
        as_nobody "$CERTKEEPER_BIN" subscribe --command "touch /tmp/pwned" 2>/dev/null &&
                fail "certkeeper subscribe as nobody succeeded"
        as_nobody "$CERTKEEPER_BIN" unsubscribe all 2>/dev/null && fail "certkeeper unsubscribe as nobody succeeded"
        [ "$(api GET /api/v1/subscriptions | head -n -1 | json_get "len(d['items'])")" = "$n" ] ||
                fail "nobody changed the subscriptions"
else
        echo "not root: skipping the checks as nobody" >&2
fi
# Over TCP without the token.
tcp=$(json_get "d['tcp']" <"$RUN/api.json")
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        --data-binary '{"command":"true"}' "http://$tcp/api/v1/subscriptions")
[ "$code" = 401 ] || fail "POST /api/v1/subscriptions without a token answered $code"
# Events cannot be created through the API.
code=$(api POST /api/v1/events '{"event_id":1001}' | tail -n1)
[ "$code" = 405 ] || fail "POST /api/v1/events answered $code"

echo "test-subscriptions: OK"
