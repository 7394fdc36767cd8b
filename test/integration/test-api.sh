#!/bin/bash
# The local API's authentication and its answers to bad requests: who may call on the socket and
# over TCP, every error as application/problem+json, the documented status codes, no change of
# state from a GET or from a refused request, and a daemon that keeps serving afterwards.
. "$(dirname "$0")/lib.sh"

t0=$(date +%s)
start_daemon
mkdir -p "$T/certs"

# One certificate, so "nothing changed" has something to compare.
ck request -I web -f "$T/certs/web.pem" -k "$T/certs/web.key" -N CN=web.test -D web.test -w >/dev/null ||
        fail "request -w failed"

snapshot() { # the whole list and the history, minus nothing: any change shows
        api GET /api/v1/certificates | head -n -1
        api GET /api/v1/certificates/web/history | head -n -1
        api GET /api/v1/cas | head -n -1
}
snapshot >"$T/before.json"

# check_problem STATUS TYPE [WORD]: reads "curl -i" output on stdin (headers, body); the status,
# the content type, the RFC 7807 members and, if given, a word the detail must contain.
check_problem() {
        local want=$1 type=$2 word=${3:-} out status ctype body
        out=$(tr -d '\r')
        status=$(head -n1 <<<"$out" | awk '{print $2}')
        ctype=$(grep -i '^content-type:' <<<"$out" | head -n1 | cut -d: -f2- | tr -d ' ')
        body=$(sed '1,/^$/d' <<<"$out")
        [ "$status" = "$want" ] || fail "expected HTTP $want, got $status: $out"
        [ "$ctype" = "application/problem+json" ] || fail "HTTP $want is '$ctype', not application/problem+json: $out"
        python3 -c '
import json, sys
d = json.loads(sys.argv[1])
want_status, want_type, word = int(sys.argv[2]), sys.argv[3], sys.argv[4]
for k in ("type", "title", "status", "detail"):
    assert k in d, "no %r member" % k
assert isinstance(d["title"], str) and d["title"], "empty title"
assert isinstance(d["detail"], str) and len(d["detail"]) > 10, "no useful detail"
assert d["status"] == want_status, "status member %r" % d["status"]
assert d["type"] == "urn:certkeeper:problem:" + want_type, "type %r" % d["type"]
assert word in d["detail"], "detail does not mention %r" % word
' "$body" "$want" "$type" "$word" || fail "bad problem document for HTTP $want: $body"
}

# curl_sock [CURL ARGS...] PATH: curl -i on the Unix socket.
curl_sock() {
        local path=${*: -1}
        curl -s -i --unix-socket "$RUN/api.sock" "${@:1:$#-1}" "http://localhost$path"
}

# --- The Unix socket: uid 0 is allowed, nobody is not. -----------------------------------------
[ "$(stat -c %a "$RUN/api.sock")" = 666 ] || fail "socket mode is $(stat -c %a "$RUN/api.sock")"
as_nobody() {
        if command -v setpriv >/dev/null; then
                setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
        else
                runuser -u nobody -- "$@"
        fi
}
# Switching to nobody needs root; as another user, the daemon's own uid is the only one tried.
if [ "$(id -u)" = 0 ]; then
        as_nobody id -u | grep -qx 65534 || fail "cannot run as nobody"
        as_nobody curl -s -i --unix-socket "$RUN/api.sock" http://localhost/api/v1/certificates |
                check_problem 403 forbidden "65534"
        as_nobody curl -s -i --unix-socket "$RUN/api.sock" -X POST -H 'Content-Type: application/json' \
                --data-binary '{"nickname":"evil"}' http://localhost/api/v1/certificates | check_problem 403 forbidden
        if as_nobody "$CERTKEEPER_BIN" list >"$T/out" 2>"$T/err"; then
                fail "the CLI run as nobody succeeded"
        fi
        grep -q 'may not use' "$T/err" || fail "CLI as nobody: unclear message: $(cat "$T/err")"
        grep -Eq 'sudo|admin_group' "$T/err" || fail "CLI as nobody does not say what to do: $(cat "$T/err")"
        if as_nobody "$CERTKEEPER_BIN" request -I evil -f "$T/evil.pem" -k "$T/evil.key" 2>"$T/err"; then
                fail "request as nobody succeeded"
        fi
        [ ! -s "$T/out" ] || fail "the CLI as nobody printed a list: $(cat "$T/out")"
else
        echo "not root: skipping the checks as nobody" >&2
fi

# --- TCP: a bearer token from a 0600 file. ----------------------------------------------------
tcp=$(json_get "d['tcp']" <"$RUN/api.json")
token_file=$(json_get "d['token_file']" <"$RUN/api.json")
[ "$(json_get "d['pid']" <"$RUN/api.json")" = "$DAEMON_PID" ] || fail "api.json names another pid"
[ "$tcp" = "127.0.0.1:$API_PORT" ] || fail "TCP endpoint is $tcp, configured 127.0.0.1:$API_PORT"
[ "$(stat -c %a "$token_file")" = 600 ] || fail "token file mode is $(stat -c %a "$token_file")"
[ "$(stat -c %u "$token_file")" = "$(id -u)" ] || fail "token file is not owned by the daemon's user"
token=$(cat "$token_file")
[ ${#token} -ge 32 ] || fail "token is only ${#token} characters"
if [ "$(id -u)" = 0 ] && as_nobody cat "$token_file" >/dev/null 2>&1; then
        fail "nobody can read the token"
fi

curl -s -i "http://$tcp/api/v1/certificates" | check_problem 401 unauthorized "Authorization"
curl -s -i -H 'Authorization: Bearer wrong' "http://$tcp/api/v1/certificates" | check_problem 401 unauthorized
curl -s -i -H "Authorization: Bearer ${token}x" "http://$tcp/api/v1/certificates" | check_problem 401 unauthorized
curl -s -i -H "Authorization: Bearer ${token%?}" "http://$tcp/api/v1/certificates" | check_problem 401 unauthorized
curl -s -i -H "Authorization: Basic $token" "http://$tcp/api/v1/certificates" | check_problem 401 unauthorized
curl -s -i -X POST -H 'Content-Type: application/json' --data-binary '{"nickname":"evil"}' \
        "http://$tcp/api/v1/certificates" | check_problem 401 unauthorized
out=$(curl -s -H "Authorization: Bearer $token" -w '\n%{http_code}' "http://$tcp/api/v1/certificates")
[ "$(tail -n1 <<<"$out")" = 200 ] || fail "the right token is refused: $out"
[ "$(head -n -1 <<<"$out" | json_get "d['total']")" = 1 ] || fail "TCP list: $out"

# --- System routes. ---------------------------------------------------------------------------
out=$(api GET /api/system/appversion)
[ "$(tail -n1 <<<"$out")" = 200 ] || fail "appversion: $out"
[ "$(head -n -1 <<<"$out" | json_get 'd')" = "$(json_get "d['version']" <"$RUN/api.json")" ] ||
        fail "appversion is not a JSON string of the version: $out"
out=$(curl -s -H "Authorization: Bearer $token" "http://$tcp/api/system/appversion")
[ "$out" = "$(api GET /api/system/appversion | head -n -1)" ] || fail "appversion over TCP: $out"

# --- Bad bodies. -------------------------------------------------------------------------------
post() { curl_sock -X "${3:-POST}" -H 'Content-Type: application/json' --data-binary "$2" "$1"; }
post /api/v1/certificates '{"nickname":' | check_problem 400 malformed-json
post /api/v1/certificates 'not json at all' | check_problem 400 malformed-json
post /api/v1/certificates '[1,2]' | check_problem 400 malformed-json
post /api/v1/certificates '{"nickname":5}' | check_problem 400 invalid-field nickname
post /api/v1/certificates '{"nickname":"x","dns":"a.test"}' | check_problem 400 invalid-field dns
post /api/v1/certificates '{"nickname":"x","key_bits":"big"}' | check_problem 400 invalid-field key_bits
post /api/v1/certificates '{"nickname":"x","autorenew":"yes"}' | check_problem 400 invalid-field autorenew
post /api/v1/certificates '{"nickname":"x","bogus_field":1}' | check_problem 400 unknown-field bogus_field
post /api/v1/certificates/track '{"nickname":"x"}' | check_problem 400 missing-field cert_path
post /api/v1/certificates/web '{"dsn":["a.test"]}' PATCH | check_problem 400 unknown-field dsn
python3 -c 'print("{\"nickname\":\"" + "a" * 70000 + "\"}")' >"$T/big.json"
curl_sock -X POST -H 'Content-Type: application/json' --data-binary @"$T/big.json" /api/v1/certificates |
        check_problem 413 body-too-large
# The same without a Content-Length: chunked.
curl_sock -X POST -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
        --data-binary @"$T/big.json" /api/v1/certificates | check_problem 413 body-too-large

# --- Unknown things and wrong methods. -----------------------------------------------------------
curl_sock /api/v1/certificates/nope | check_problem 404 not-found nope
curl_sock /api/v1/certificates/99999 | check_problem 404 not-found 99999
curl_sock -X POST /api/v1/certificates/nope/resubmit | check_problem 404 not-found nope
curl_sock /api/v1/cas/nope | check_problem 404 not-found nope
curl_sock /api/v1/nothing | check_problem 404 not-found
curl_sock /nothing | check_problem 404 not-found
curl_sock -X DELETE /api/v1/cas | check_problem 405 method-not-allowed DELETE
curl_sock -X PUT /api/v1/certificates | check_problem 405 method-not-allowed PUT
curl_sock /api/v1/certificates/web/resubmit | check_problem 405 method-not-allowed GET
curl_sock /api/v1/certificates/web/rekey | check_problem 405 method-not-allowed GET
curl_sock -X POST /api/system/appversion | check_problem 405 method-not-allowed

# --- GETs change nothing. -----------------------------------------------------------------------
for p in /api/v1/certificates /api/v1/certificates/web /api/v1/certificates/1 /api/v1/certificates/web/history \
         /api/v1/cas /api/v1/cas/local /api/v1/system/health /api/v1/system/version /api/system/appversion \
         /metrics /api/v1/metrics; do
        out=$(api GET "$p")
        [ "$(tail -n1 <<<"$out")" = 200 ] || fail "GET $p: $out"
done

# --- Still serving, and nothing changed. -------------------------------------------------------
kill -0 "$DAEMON_PID" || fail "the daemon died"
snapshot >"$T/after.json"
diff -u "$T/before.json" "$T/after.json" >&2 || fail "state changed after bad requests and GETs"
[ "$(api GET /api/v1/certificates | head -n -1 | json_get "d['total']")" = 1 ] || fail "the count changed"
[ ! -e "$T/evil.pem" ] && [ ! -e "$T/evil.key" ] || fail "a refused request wrote files"
ck request -I after -f "$T/certs/after.pem" -k "$T/certs/after.key" -N CN=after.test -w >/dev/null ||
        fail "a request after the bad ones did not reach MONITORING"

# --- /metrics: Prometheus text format. --------------------------------------------------------
# A stuck request whose nickname has a quote and a backslash (the label escapes; nicknames have no
# control characters, so the newline escape is the unit test's).
out=$(api POST /api/v1/certificates/track '{"nickname": "st\"uck\\1", "cert_path": "'"$T"'/certs/none.pem"}')
[ "$(tail -n1 <<<"$out")" = 201 ] || fail "track without files: $out"
stuck_id=$(head -n -1 <<<"$out" | json_get "d['id']")
stuck_ca=$(head -n -1 <<<"$out" | json_get "d['ca']")
wait_state "$stuck_id" NEED_GUIDANCE 30

curl_sock /metrics | tr -d '\r' >"$T/metrics.http"
sed '1,/^$/d' "$T/metrics.http" >"$T/metrics"
head -n1 "$T/metrics.http" | grep -q ' 200' || fail "GET /metrics: $(head -n1 "$T/metrics.http")"
grep -qix 'content-type: text/plain; version=0.0.4; charset=utf-8' "$T/metrics.http" ||
        fail "/metrics content type: $(grep -i '^content-type' "$T/metrics.http")"

# metric NAME{LABELS}: the value of the one sample with exactly that name and those labels.
metric() {
        K=$1 awk 'BEGIN { k = ENVIRON["K"] } substr($0, 1, length(k) + 1) == k " " { print $NF; n++ }
                  END { exit n != 1 }' "$T/metrics" ||
                fail "/metrics has not exactly one sample '$1': $(grep -F "${1%%\{*}" "$T/metrics")"
}

# Every line parses: HELP/TYPE comments, or NAME{LABELS} VALUE; each family's TYPE comes first.
if command -v promtool >/dev/null; then
        promtool check metrics <"$T/metrics" || fail "promtool rejects /metrics"
fi
bad=$(grep -Ev '^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* ' "$T/metrics" |
        grep -Ev '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [0-9eE+.-]+$' || true)
[ -z "$bad" ] || fail "/metrics lines that do not parse: $bad"
awk '/^# TYPE / { typed[$3] = 1; next } /^#/ { next }
     { n = $1; sub(/\{.*/, "", n); if (!(n in typed)) { print "untyped " n; exit 1 }
       if (n != last && (n in seen)) { print "interleaved " n; exit 1 } seen[n] = 1; last = n }' "$T/metrics" ||
        fail "/metrics families are not grouped after their TYPE line"

# Expiry and renewal of web: its certificate's notAfter, and the API's renew_at.
web_id=$(cert_field web id)
web_ca=$(cert_field web ca)
not_after=$(date -d "$(openssl x509 -enddate -noout -in "$T/certs/web.pem" | cut -d= -f2)" +%s)
[ "$(metric "certkeeper_certificate_not_after_seconds{id=\"$web_id\",nickname=\"web\",ca=\"$web_ca\"}")" = "$not_after" ] ||
        fail "web's not_after metric is not the certificate's notAfter $not_after"
[ "$(metric "certkeeper_certificate_renew_at_seconds{id=\"$web_id\",nickname=\"web\",ca=\"$web_ca\"}")" = \
  "$(cert_field web renew_at)" ] || fail "web's renew_at metric is not the API's renew_at"
! grep -q "^certkeeper_certificate_not_after_seconds{id=\"$stuck_id\"" "$T/metrics" ||
        fail "a request without a certificate has a not_after sample"

# Per-state counts, from the list, for every state.
list=$(api GET /api/v1/certificates | head -n -1)
for st in MONITORING NEED_GUIDANCE CA_REJECTED NEED_TO_SUBMIT; do
        want=$(json_get "sum(1 for c in d['items'] if c['state'] == '$st')" <<<"$list")
        [ "$(metric "certkeeper_certificates{state=\"$st\"}")" = "$want" ] || fail "certificates{state=$st} is not $want"
done
[ "$(grep -c '^certkeeper_certificates{state=' "$T/metrics")" = 16 ] || fail "not one count per state"
[ "$(metric certkeeper_certificates_stuck)" = "$(json_get "sum(1 for c in d['items'] if c['stuck'])" <<<"$list")" ] ||
        fail "certificates_stuck is not the number of stuck requests"
[ "$(metric "certkeeper_certificate_stuck{id=\"$stuck_id\",nickname=\"st\\\"uck\\\\1\",ca=\"$stuck_ca\",state=\"NEED_GUIDANCE\"}")" = 1 ] ||
        fail "the stuck request's sample is missing or its nickname is not escaped"
[ "$(grep -c '^certkeeper_certificate_stuck{' "$T/metrics")" = 1 ] || fail "a request that is not stuck has a stuck sample"

# Events: the counts of what the events list holds (nothing was pruned yet).
installed=$(api GET '/api/v1/events?id=installed&limit=10000' | head -n -1 | json_get "len(d['items'])")
[ "$installed" -ge 1 ] || fail "no installed event to count"
[ "$(metric 'certkeeper_events_total{event_id="1006",event="installed"}')" = "$installed" ] ||
        fail "events_total for installed is not $installed"

# The daemon.
[ "$(metric "certkeeper_build_info{version=\"$(json_get "d['version']" <"$RUN/api.json")\"}")" = 1 ] || fail "build_info"
health=$(api GET /api/v1/system/health | head -n -1)
[ "$(metric certkeeper_workers)" = "$(json_get "d['workers']" <<<"$health")" ] || fail "workers is not health's"
start=$(metric certkeeper_start_time_seconds)
[ "$start" -ge "$t0" ] && [ "$start" -le "$(stat -c %Y "$RUN/api.json")" ] ||
        fail "start time $start is not when the daemon started"

# The same under /api/v1, the same access rules, and no other method.
api GET /api/v1/metrics | grep -qF "certkeeper_certificate_not_after_seconds{id=\"$web_id\"" || fail "/api/v1/metrics"
curl -s -i "http://$tcp/metrics" | check_problem 401 unauthorized
curl -s -H "Authorization: Bearer $token" "http://$tcp/metrics" | grep -q '^certkeeper_certificates_stuck 1$' ||
        fail "/metrics over TCP with the token"
if [ "$(id -u)" = 0 ]; then
        as_nobody curl -s -i --unix-socket "$RUN/api.sock" http://localhost/metrics | check_problem 403 forbidden
fi
curl_sock -X POST /metrics | check_problem 405 method-not-allowed POST

echo "ok"
