#!/bin/bash
# A deploy cut by kill -9 of the daemon (after the new files were written, while nginx's reload
# hangs) runs again at the next start: rebound then (1103), or, when nginx's configuration broke
# meanwhile, rolled back to the previous certificate (1104). Skipped without nginx.
. "$(dirname "$0")/lib-bind.sh"

nginx_required
PA=$(free_port)
PB=$(free_port)
held() { [ -s "$T/held.pid" ]; }
stop_all() {
        if held; then kill "$(cat "$T/held.pid")" 2>/dev/null || true; fi
        nginx_stop
}
stop_servers_with stop_all
mkdir -p "$T/certs"

# While $T/hold exists the reload hangs (its pid in $T/held.pid) without reloading.
RELOAD_CMD="if [ -e '$T/hold' ]; then echo \$\$ >'$T/held.pid'; exec sleep 60; fi; $NGX -s reload"
pending() { sqlite3 "$STATE/certkeeper.db" "SELECT count(*) FROM deploys_pending" 2>/dev/null; }
none_pending() { [ "$(pending)" = 0 ]; }

start_daemon
ck request -I a -f "$T/certs/a.pem" -k "$T/certs/a.key" -N CN=a.test -D a.test -w >/dev/null || fail "request a"
ck request -I b -f "$T/certs/b.pem" -k "$T/certs/b.key" -N CN=b.test -D b.test -w >/dev/null || fail "request b"
nginx_write_conf
$NGX || fail "nginx did not start: $(tail -5 "$NP/logs/error.log")"
wait_until 10 test -s "$NP/nginx.pid"
ck bind -i a nginx --config "$NC" --test-command "$NGX -t -q" --reload-command "$RELOAD_CMD" \
        --endpoint "127.0.0.1:$PA/a.test" >/dev/null || fail "bind a"

# crash_in_reload: a renewal of a, the daemon killed while the reload hangs.
crash_in_reload() {
        rm -f "$T/held.pid"
        touch "$T/hold"
        ck resubmit -i a >/dev/null || fail "resubmit a"
        wait_until 30 held
        [ "$(pending)" = 1 ] || fail "no pending deploy in the store during the deploy"
        kill9_daemon
        kill "$(cat "$T/held.pid")" 2>/dev/null || true
        rm -f "$T/hold" "$T/held.pid"
}

# 1. Interrupted, then resumed at start: the new certificate is served.
old_a=$(sha a)
crash_in_reload
new_a=$(file_sha "$T/certs/a.pem")
[ "$new_a" != "$old_a" ] || fail "the crash came before the new certificate was saved"
[ "$(served "$PA" a.test)" = "$old_a" ] || fail "nginx was reloaded before the crash"
start_daemon
wait_until 30 has_event a rebound
[ "$(served "$PA" a.test)" = "$new_a" ] || fail "after the restart nginx serves $(served "$PA" a.test), not $new_a"
[ "$(sha a)" = "$new_a" ] || fail "the record does not hold the new certificate"
ck list -l | grep -A40 "Request ID 'a'" | grep -q "deploy: ok" || fail "deploy stage after the resume: $(ck list -l)"
grep -q "deploy was interrupted" "$LOG" || fail "the resume was not logged"
wait_until 10 none_pending

# 2. Interrupted, and nginx's configuration broken before the restart: the resumed deploy fails
# its test and rolls back to the certificate nginx still serves.
good_a=$(sha a)
crash_in_reload
echo "this is not nginx;" >>"$NC"
start_daemon
wait_until 30 has_event a rebind-failed
[ "$(file_sha "$T/certs/a.pem")" = "$good_a" ] || fail "the previous certificate was not restored after the crash"
key_matches_cert "$T/certs/a.key" "$T/certs/a.pem" || fail "key and certificate do not match after the rollback"
[ "$(sha a)" = "$good_a" ] || fail "the record does not say the previous certificate is back"
[ "$(served "$PA" a.test)" = "$good_a" ] || fail "nginx does not serve the previous certificate"
wait_until 10 none_pending

echo "PASS"
