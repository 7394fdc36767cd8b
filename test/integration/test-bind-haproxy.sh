#!/bin/bash
# Bindings against a real haproxy (master-worker, in the test directory, on 127.0.0.1): the
# combined PEM (key, certificate, chain) is written beside the key, tested with haproxy -c,
# reloaded (USR2 to the master) and seen over TLS (1103); a broken configuration rolls back the
# certificate and the combined PEM (1104); 'certkeeper deploy' after the fix rebinds. Skipped
# without haproxy.
. "$(dirname "$0")/lib-bind.sh"

HAPROXY=$(command -v haproxy || true)
[ -n "$HAPROXY" ] || HAPROXY=/usr/sbin/haproxy
if [ ! -x "$HAPROXY" ]; then
        echo "SKIP: haproxy is not installed"
        exit 77
fi

HP="$T/haproxy"
HC="$HP/haproxy.cfg"
PA=$(free_port)
mkdir -p "$HP" "$T/certs"
PEM="$T/certs/a.haproxy.pem"

stop_haproxy() { stop_pidfile TERM "$HP/haproxy.pid"; }
stop_servers_with stop_haproxy

write_conf() {
        cat >"$HC" <<CONF
global
        pidfile $HP/haproxy.pid
defaults
        mode http
        timeout connect 2s
        timeout client 5s
        timeout server 5s
frontend fe
        bind 127.0.0.1:$PA ssl crt $PEM
        http-request return status 200 content-type text/plain string "a"
CONF
}

TEST_CMD="$HAPROXY -c -q -f $HC"
RELOAD_CMD="kill -USR2 \$(cat $HP/haproxy.pid)"

start_daemon
ck request -I a -f "$T/certs/a.pem" -k "$T/certs/a.key" -N CN=a.test -D a.test -w >/dev/null || fail "request a"

# Refused with words: an unreadable configuration, --layout on a haproxy binding.
out=$(ck bind -i a haproxy --config "$T/nope.cfg" --reload-command true 2>&1) &&
        fail "a missing haproxy configuration was accepted"
grep -q "cannot be read" <<<"$out" || fail "missing configuration: $out"
write_conf
out=$(ck bind -i a haproxy --config "$HC" --layout key --reload-command true 2>&1) && fail "--layout was accepted"
grep -q "file bindings only" <<<"$out" || fail "--layout on haproxy: $out"

# The combined PEM as an administrator would make it at first, then haproxy.
cat "$T/certs/a.key" "$T/certs/a.pem" >"$PEM"
"$HAPROXY" -W -D -f "$HC" || fail "haproxy did not start"
wait_until 10 test -s "$HP/haproxy.pid"
wait_until 10 served "$PA" a.test
[ "$(served "$PA" a.test)" = "$(sha a)" ] || fail "haproxy does not serve a's certificate at start"

ck bind -i a haproxy --config "$HC" --reload-command "$RELOAD_CMD" --endpoint "127.0.0.1:$PA/a.test" >/dev/null ||
        fail "bind a"
# The defaults: haproxy -c on the configuration, the combined PEM beside the key.
ck bindings -i a --json | json_get 'd[0]["test_command"]' | grep -qx "\(/usr/sbin/\)\?haproxy -c -q -f '$HC'" ||
        fail "default test command: $(ck bindings -i a)"
[ "$(ck bindings -i a --json | json_get 'd[0]["path"]')" = "$PEM" ] || fail "default path: $(ck bindings -i a)"
ck bindings -i a | grep -q "path: $PEM (combined)" || fail "bindings shows no path: $(ck bindings -i a)"
# The default reload: systemd's, or none without systemd (haproxy has no reload command of its own).
if [ -d /run/systemd/system ]; then
        ck bind -i a haproxy --config "$HC" >/dev/null || fail "bind with the default reload"
        ck bindings -i a --json | json_get 'd[1]["reload_command"]' | grep -qx "systemctl reload haproxy" ||
                fail "default reload: $(ck bindings -i a)"
        ck unbind -i a --binding "$(ck bindings -i a --json | json_get 'd[1]["id"]')" >/dev/null || fail "unbind"
else
        out=$(ck bind -i a haproxy --config "$HC" 2>&1) && fail "haproxy without a reload command was accepted"
        grep -q -- "give --reload-command" <<<"$out" || fail "no reload command: $out"
fi

# 1. A renewal: the combined PEM holds the new key and certificate, haproxy serves it.
old_a=$(sha a)
ck resubmit -i a -w >/dev/null || fail "resubmit a"
wait_until 30 has_event a rebound
[ "$(sha a)" != "$old_a" ] || fail "a was not renewed"
[ "$(served "$PA" a.test)" = "$(sha a)" ] || fail "haproxy serves $(served "$PA" a.test), not a's new $(sha a)"
[ "$(file_sha "$PEM")" = "$(sha a)" ] || fail "the combined PEM does not hold the new certificate"
key_matches_cert "$PEM" "$PEM" || fail "the combined PEM's key does not match its certificate"
[ "$(stat -c %a "$PEM")" = 600 ] || fail "the combined PEM is mode $(stat -c %a "$PEM"), not 600"
[ "$(file_sha "$PEM.prev")" = "$old_a" ] || fail "the previous combined PEM was not kept as .prev"
ck bindings -i a | grep -q "last deploy: ok" || fail "last deploy of a: $(ck bindings -i a)"

# 2. A broken configuration: the test fails; the certificate, key and combined PEM are the
# previous ones again, haproxy still serves it, 1104.
good_a=$(sha a)
echo "this is not haproxy" >>"$HC"
ck resubmit -i a -w >/dev/null || fail "resubmit a with a broken configuration"
wait_until 30 has_event a rebind-failed
[ "$(served "$PA" a.test)" = "$good_a" ] || fail "haproxy does not serve the previous certificate after the rollback"
[ "$(file_sha "$PEM")" = "$good_a" ] || fail "the combined PEM was not rolled back"
key_matches_cert "$PEM" "$PEM" || fail "the combined PEM's key does not match after the rollback"
[ "$(sha a)" = "$good_a" ] || fail "the record does not say the previous certificate is back"
ck bindings -i a | grep -q "last deploy: failed: test" || fail "last deploy of a: $(ck bindings -i a)"

# 3. Fixed, deploy again: rebound without a new certificate.
write_conf
n=$(count_events a rebound)
ck deploy -i a >/dev/null || fail "deploy -i a"
more_rebound() { [ "$(count_events a rebound)" -gt "$n" ]; }
wait_until 30 more_rebound
[ "$(served "$PA" a.test)" = "$good_a" ] || fail "not served after deploy"

echo "PASS"
