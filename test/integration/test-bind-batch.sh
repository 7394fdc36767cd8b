#!/bin/bash
# Deploy batches: two certificates served by one nginx (two server blocks), renewed together, are
# tested and reloaded once, then each verified (1103 for both). When one of them fails its
# verification, only that one is rolled back, and nginx is reloaded once more for it; the other
# keeps its new certificate. Command bindings run for each certificate. Skipped without nginx.
. "$(dirname "$0")/lib-bind.sh"

nginx_required
PA=$(free_port)
PB=$(free_port)
stop_servers_with nginx_stop
mkdir -p "$T/certs"

# The commands log each run: one line a test, one a reload.
TEST_CMD="echo test >>'$T/runs'; $NGX -t -q"
RELOAD_CMD="echo reload >>'$T/runs'; $NGX -s reload"
runs() { grep -c "^$1\$" "$T/runs" 2>/dev/null || true; }

start_daemon
ck request -I a -f "$T/certs/a.pem" -k "$T/certs/a.key" -N CN=a.test -D a.test -w >/dev/null || fail "request a"
ck request -I b -f "$T/certs/b.pem" -k "$T/certs/b.key" -N CN=b.test -D b.test -w >/dev/null || fail "request b"
nginx_write_conf
$NGX || fail "nginx did not start: $(tail -5 "$NP/logs/error.log")"
wait_until 10 test -s "$NP/nginx.pid"

bind_b() { # bind_b ENDPOINT
        ck bind -i b nginx --config "$NC" --test-command "$TEST_CMD" --reload-command "$RELOAD_CMD" \
                --endpoint "$1" >/dev/null || fail "bind b"
}
ck bind -i a nginx --config "$NC" --test-command "$TEST_CMD" --reload-command "$RELOAD_CMD" \
        --endpoint "127.0.0.1:$PA/a.test" >/dev/null || fail "bind a"
bind_b "127.0.0.1:$PB/b.test"
# Command bindings run for each certificate, even with the same command: it may act on its own.
for n in a b; do
        ck bind -i $n command --command "echo \$CERTKEEPER_NICKNAME >>'$T/commands'" >/dev/null || fail "bind $n command"
done

# 1. Both renewed together: one test, one reload, both verified.
old_a=$(sha a)
old_b=$(sha b)
ck resubmit -i a >/dev/null || fail "resubmit a"
ck resubmit -i b >/dev/null || fail "resubmit b"
wait_until 30 has_event a rebound
wait_until 30 has_event b rebound
[ "$(sha a)" != "$old_a" ] && [ "$(sha b)" != "$old_b" ] || fail "a and b were not both renewed"
[ "$(served "$PA" a.test)" = "$(sha a)" ] || fail "nginx does not serve a's new certificate"
[ "$(served "$PB" b.test)" = "$(sha b)" ] || fail "nginx does not serve b's new certificate"
[ "$(runs test)" = 1 ] || fail "the batch ran the test $(runs test) times, not once: $(cat "$T/runs")"
[ "$(runs reload)" = 1 ] || fail "the batch reloaded nginx $(runs reload) times, not once: $(cat "$T/runs")"
[ "$(sort "$T/commands" | tr '\n' ' ')" = "a b " ] || fail "the command bindings ran for: $(cat "$T/commands")"

# 2. b's endpoint serves a's certificate: b fails its verification. Only b is rolled back (and
# nginx reloaded once more for it); a keeps its new certificate.
ck unbind -i b >/dev/null || fail "unbind b"
bind_b "127.0.0.1:$PA/a.test"
good_b=$(sha b)
: >"$T/runs"
ck resubmit -i a >/dev/null || fail "resubmit a again"
ck resubmit -i b >/dev/null || fail "resubmit b again"
wait_until 40 has_event b rebind-failed
two_rebound() { [ "$(count_events a rebound)" -ge 2 ]; }
wait_until 30 two_rebound
[ "$(sha b)" = "$good_b" ] || fail "b was not rolled back"
[ "$(file_sha "$T/certs/b.pem")" = "$good_b" ] || fail "b's previous certificate was not restored"
[ "$(served "$PB" b.test)" = "$good_b" ] || fail "nginx does not serve b's previous certificate"
[ "$(served "$PA" a.test)" = "$(sha a)" ] || fail "a's new certificate is not served after b's rollback"
[ "$(file_sha "$T/certs/a.pem")" = "$(sha a)" ] || fail "a's new certificate was rolled back too"
[ "$(runs test)" = 1 ] || fail "the test ran $(runs test) times, not once: $(cat "$T/runs")"
[ "$(runs reload)" = 2 ] || fail "nginx was reloaded $(runs reload) times, not twice (deploy, rollback)"
ck bindings -i b | grep -q "last deploy: failed: verify" || fail "last deploy of b: $(ck bindings -i b)"
ck bindings -i a | grep -q "last deploy: ok" || fail "last deploy of a: $(ck bindings -i a)"

echo "PASS"
