#!/bin/bash
# When ACME certificates are renewed, without waiting for it:
#  - 6-day certificates from a real Pebble (certificateValidityPeriod 518400) get their renewal time
#    at half of their lifetime, read back from the API against not_before/not_after. Pebble 2.4.0
#    has no renewalInfo, so this is also the "CA without ARI" case: the lifetime rule stays and no
#    further renewal information check is scheduled.
#  - ACME Renewal Information (RFC 9773) against test/acme/ari-server.py, a small stand-in that only
#    serves a directory with renewalInfo and the renewalInfo answers (window, explanationURL,
#    Retry-After) that this test writes. It is a test server because Debian's Pebble 2.4.0 has no
#    ARI; it issues nothing, so the certificate it is asked about is a copy of one Pebble issued.
#    Checked: the certificate id asked for (AKI.serial), the time drawn inside the window and kept
#    while the window stays, drawn again when it moves, Retry-After for the next check, the
#    explanation URL in the API and in list, and a window in the past starting a renewal whose order
#    says which certificate it replaces.
# shellcheck source=test/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/integration/lib-pebble.sh
. "$(dirname "$0")/lib-pebble.sh"

if ! pebble_available; then
        echo "pebble or pebble-challtestsrv not installed: skipping"
        exit 77
fi
ARI_PID=
stop_ari() {
        if [ -n "$ARI_PID" ] && kill -0 "$ARI_PID" 2>/dev/null; then
                kill -TERM "$ARI_PID" 2>/dev/null || true
                wait "$ARI_PID" 2>/dev/null || true
        fi
        ARI_PID=
}
trap 'rc=$?; stop_ari; stop_pebble; (exit $rc); cleanup' EXIT

start_pebble PEBBLE_VALIDITY=518400 || fail "pebble did not start"
start_daemon
mkdir -p "$T/certs"

field() { cert_field "$1" "$2"; }

# ---- 6-day certificates: renewed at half of their lifetime ----
ck add-ca -c pebble --acme "$PEBBLE_DIR_URL" --agree-tos --ca-bundle "$PEBBLE_CA" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP_PORT" >/dev/null || fail "add-ca --acme failed"
ck request -I web -c pebble -f "$T/certs/web.pem" -k "$T/certs/web.key" -D web.example.test >/dev/null ||
        fail "request failed"
wait_state web MONITORING 60
nb=$(field web not_before)
na=$(field web not_after)
lifetime=$((na - nb))
[ "$lifetime" -ge 518000 ] && [ "$lifetime" -le 518400 ] || fail "not a 6-day certificate: lifetime ${lifetime}s"
# Renewal when half of the lifetime is left, minus a jitter of at most an hour (2% of 6 days is more).
half=$((na - lifetime / 2))
wait_until 10 sh -c "[ \"\$(curl -s --unix-socket '$RUN/api.sock' http://localhost/api/v1/certificates/web |
        python3 -c 'import json,sys; print(json.load(sys.stdin)[\"ari_next_at\"])')\" = 0 ]"
renew_at=$(field web renew_at)
[ "$renew_at" -le "$half" ] && [ "$renew_at" -ge $((half - 3600)) ] ||
        fail "renew_at $renew_at is not half of the lifetime ($half, minus at most an hour)"
# No ARI at Pebble 2.4.0: no window, nothing scheduled but the renewal itself.
[ "$(field web ari_start)" = 0 ] || fail "a window from a CA without renewalInfo"
[ "$(field web next_action_at)" = "$renew_at" ] || fail "something other than the renewal is scheduled"

# ---- ARI: the test server ----
echo '{}' >"$T/ari-control.json"
python3 "$SOURCE_DIR/test/acme/ari-server.py" "$T/ari-control.json" "$T/ari.log" "$T/ari.port" &
ARI_PID=$!
wait_until 10 test -s "$T/ari.port"
ARI_URL="http://127.0.0.1:$(cat "$T/ari.port")/dir"

now=$(date +%s)
ari_window() { # ari_window START END [RETRY_AFTER]
        printf '{"start": %s, "end": %s, "explanation_url": "https://ca.example/why/%s", "retry_after": %s}\n' \
                "$1" "$2" "$1" "${3:-0}" >"$T/ari-control.json"
}
ari_window $((now + 2 * 86400)) $((now + 3 * 86400))

cp "$T/certs/web.pem" "$T/certs/copy.pem"
cp "$T/certs/web.key" "$T/certs/copy.key"
ck add-ca -c ari --acme "$ARI_URL" --agree-tos >/dev/null || fail "add-ca for the ARI server failed"
ck start-tracking -I copy -c ari -f "$T/certs/copy.pem" -k "$T/certs/copy.key" -D web.example.test >/dev/null ||
        fail "start-tracking failed"
wait_until 30 sh -c "[ \"\$(curl -s --unix-socket '$RUN/api.sock' http://localhost/api/v1/certificates/copy |
        python3 -c 'import json,sys; print(json.load(sys.stdin)[\"ari_start\"])')\" = $((now + 2 * 86400)) ]"

# The certificate id: base64url(AKI keyIdentifier) "." base64url(serial DER content).
want_id=$(python3 - "$T/certs/copy.pem" <<'EOF'
import base64, subprocess, sys
b64 = lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
aki = subprocess.run(["openssl", "x509", "-in", sys.argv[1], "-noout", "-ext", "authorityKeyIdentifier"],
                     capture_output=True, text=True).stdout.split("\n")[1].strip().replace("keyid:", "")
serial = int(subprocess.run(["openssl", "x509", "-in", sys.argv[1], "-noout", "-serial"],
                            capture_output=True, text=True).stdout.strip().split("=")[1], 16)
sb = serial.to_bytes((serial.bit_length() + 8) // 8, "big")  # a leading zero when the high bit is set
print(b64(bytes.fromhex(aki.replace(":", ""))) + "." + b64(sb))
EOF
)
grep -qx "renewalInfo $want_id" "$T/ari.log" || fail "asked for '$(cat "$T/ari.log")', expected '$want_id'"

drawn=$(field copy renew_at)
[ "$drawn" -ge $((now + 2 * 86400)) ] && [ "$drawn" -le $((now + 3 * 86400)) ] ||
        fail "renew_at $drawn is not inside the suggested window"
[ "$(field copy ari_explanation_url)" = "https://ca.example/why/$((now + 2 * 86400))" ] ||
        fail "the explanation URL is not in the API"
next=$(field copy ari_next_at)
[ "$next" -ge $((now + 12 * 3600)) ] && [ "$next" -le $(($(date +%s) + 12 * 3600)) ] ||
        fail "the next check is not in 12 hours: $next"
ck list -l -i copy | grep -q "renewal information: https://ca.example/why/" ||
        fail "list -l does not show the explanation URL"
getcert list -i copy | grep -q "renewal window start:" || fail "getcert list does not show the window"

# The same window again (refresh asks again), with a Retry-After: the time stays, the next check
# follows Retry-After.
ari_window $((now + 2 * 86400)) $((now + 3 * 86400)) 300
n=$(grep -c renewalInfo "$T/ari.log")
ck refresh -i copy >/dev/null || fail "refresh failed"
wait_until 30 sh -c "[ \$(grep -c renewalInfo '$T/ari.log') -gt $n ]"
wait_state copy MONITORING 10
wait_until 10 sh -c "[ \"\$(curl -s --unix-socket '$RUN/api.sock' http://localhost/api/v1/certificates/copy |
        python3 -c 'import json,sys; print(json.load(sys.stdin)[\"ari_next_at\"])')\" -le \$((\$(date +%s) + 300)) ]"
[ "$(field copy renew_at)" = "$drawn" ] || fail "the same window drew a new time"

# A moved window: drawn again inside it.
ari_window $((now + 4 * 86400)) $((now + 4 * 86400 + 600))
ck refresh -i copy >/dev/null || fail "refresh failed"
wait_until 30 sh -c "[ \"\$(curl -s --unix-socket '$RUN/api.sock' http://localhost/api/v1/certificates/copy |
        python3 -c 'import json,sys; print(json.load(sys.stdin)[\"ari_start\"])')\" = $((now + 4 * 86400)) ]"
drawn=$(field copy renew_at)
[ "$drawn" -ge $((now + 4 * 86400)) ] && [ "$drawn" -le $((now + 4 * 86400 + 600)) ] ||
        fail "renew_at $drawn is not inside the moved window"

# A window in the past: renew now. The order says which certificate it replaces; this server
# refuses it, so the certificate is kept and the renewal backs off.
ari_window $((now - 2 * 86400)) $((now - 86400))
ck refresh -i copy >/dev/null || fail "refresh failed"
wait_until 30 grep -q "newOrder" "$T/ari.log"
grep "newOrder" "$T/ari.log" | grep -q "\"replaces\":\"$want_id\"" ||
        fail "the renewal order does not say what it replaces: $(grep newOrder "$T/ari.log")"
wait_until 30 sh -c "[ \"\$(curl -s --unix-socket '$RUN/api.sock' http://localhost/api/v1/certificates/copy |
        python3 -c 'import json,sys; print(json.load(sys.stdin)[\"backoff_step\"])')\" = 1 ]"
[ "$(field copy state)" = MONITORING ] || fail "the refused renewal did not keep the certificate"

echo "ok"
