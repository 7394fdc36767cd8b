#!/bin/bash
# Bindings against a real nginx (a private one, in the test directory, on 127.0.0.1): two server
# blocks, each serving a certificate of the local CA. A renewal is tested, reloaded and seen over
# TLS (1103); a broken configuration is rolled back (1104, the old certificate still served, the
# deploy stage failed in list); 'certkeeper deploy' after the fix rebinds; a certificate replaced
# by hand is served too. Skipped without nginx.
. "$(dirname "$0")/lib-bind.sh"

nginx_required
PA=$(free_port)
PB=$(free_port)
stop_servers_with nginx_stop
write_conf() { nginx_write_conf; }
mkdir -p "$T/certs"

TEST_CMD="$NGX -t -q"
RELOAD_CMD="$NGX -s reload"

start_daemon
ck request -I a -f "$T/certs/a.pem" -k "$T/certs/a.key" -N CN=a.test -D a.test -w >/dev/null || fail "request a"
ck request -I b -f "$T/certs/b.pem" -k "$T/certs/b.key" -N CN=b.test -D b.test -w >/dev/null || fail "request b"

write_conf
$NGX || fail "nginx did not start: $(tail -5 "$NP/logs/error.log")"
wait_until 10 test -s "$NP/nginx.pid"
[ "$(served "$PA" a.test)" = "$(sha a)" ] || fail "nginx does not serve a's certificate at start"

# Refused with words: an unreadable configuration, a bad endpoint, one where nothing answers, an unknown kind, a
# command binding without its command.
out=$(ck bind -i a nginx --config "$T/nope.conf" --test-command true --reload-command true 2>&1) &&
        fail "a missing nginx configuration was accepted"
grep -q "cannot be read" <<<"$out" || fail "missing configuration: $out"
out=$(ck bind -i a nginx --config "$NC" --endpoint 127.0.0.1 2>&1) && fail "an endpoint without a port was accepted"
grep -q "HOST:PORT" <<<"$out" || fail "bad endpoint: $out"
out=$(ck bind -i a nginx --config "$NC" --endpoint 127.0.0.1:99999 2>&1) && fail "port 99999 was accepted"
dead=$(free_port)
out=$(ck bind -i a nginx --config "$NC" --test-command true --reload-command true --endpoint "127.0.0.1:$dead" 2>&1) &&
        fail "an endpoint where nothing answers was accepted"
grep -q "Nothing answers at the endpoint" <<<"$out" || fail "dead endpoint: $out"
out=$(ck bind -i a nginx --config "$NC" --test-command true --reload-command true --endpoint "127.0.0.1:$dead" \
        --no-endpoint-check) || fail "--no-endpoint-check was refused"
ck unbind -i a --binding "$(sed -n 's/^Binding \([0-9]*\) added.*/\1/p' <<<"$out")" >/dev/null || fail "unbind the dead endpoint"
out=$(ck bind -i a tomcat 2>&1) && fail "an unknown kind was accepted"
grep -q "unknown" <<<"$out" || fail "unknown kind: $out"
out=$(ck bind -i a command 2>&1) && fail "a command binding without --command was accepted"

ck bind -i a nginx --config "$NC" --test-command "$TEST_CMD" --reload-command "$RELOAD_CMD" \
        --endpoint "127.0.0.1:$PA/a.test" >/dev/null || fail "bind a"
ck bind -i b nginx --config "$NC" --test-command "$TEST_CMD" --reload-command "$RELOAD_CMD" \
        --endpoint "127.0.0.1:$PB/b.test" >/dev/null || fail "bind b"
ck bindings -i a | grep -q "endpoint: 127.0.0.1:$PA/a.test" || fail "bindings -i a: $(ck bindings -i a)"
[ "$(ck bindings --json | json_get 'len(d)')" = 2 ] || fail "bindings: $(ck bindings)"
# The defaults of a stock install.
ck bind -i b nginx --endpoint "127.0.0.1:$PB/b.test" >/dev/null || fail "bind b with the defaults"
ck bindings -i b --json | json_get 'd[1]["test_command"]' | grep -q "nginx -t -q -c '/etc/nginx/nginx.conf'" ||
        [ ! -r /etc/nginx/nginx.conf ] || fail "default test command: $(ck bindings -i b)"
bid=$(ck bindings -i b --json | json_get 'd[1]["id"]')
ck unbind -i b --binding "$bid" >/dev/null || fail "unbind b $bid"
[ "$(ck bindings -i b --json | json_get 'len(d)')" = 1 ] || fail "unbind: $(ck bindings -i b)"

# 1. A renewal of each: the new certificates are served, 1103 raised for each.
old_a=$(sha a)
ck resubmit -i a -w >/dev/null || fail "resubmit a"
ck resubmit -i b -w >/dev/null || fail "resubmit b"
wait_until 30 has_event a rebound
wait_until 30 has_event b rebound
[ "$(sha a)" != "$old_a" ] || fail "a was not renewed"
[ "$(served "$PA" a.test)" = "$(sha a)" ] || fail "nginx serves $(served "$PA" a.test), not a's new $(sha a)"
[ "$(served "$PB" b.test)" = "$(sha b)" ] || fail "nginx does not serve b's new certificate"
ck bindings -i a | grep -q "last deploy: ok" || fail "last deploy of a: $(ck bindings -i a)"
ck list -l | grep -A40 "Request ID 'a'" | grep -q "deploy: ok" || fail "list -l does not show the deploy of a: $(ck list -l)"

# 2. A broken configuration: the test fails, the previous certificate is put back, nginx still
# serves it, 1104 raised, the deploy stage failed in list.
good_a=$(sha a)
echo "this is not nginx;" >>"$NC"
ck resubmit -i a -w >/dev/null || fail "resubmit a with a broken configuration"
wait_until 30 has_event a rebind-failed
[ "$(served "$PA" a.test)" = "$good_a" ] || fail "nginx does not serve the previous certificate after the rollback"
[ "$(openssl x509 -in "$T/certs/a.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr a-f A-F)" = "$good_a" ] ||
        fail "the previous certificate was not restored in $T/certs/a.pem"
key_matches_cert "$T/certs/a.key" "$T/certs/a.pem" || fail "key and certificate do not match after the rollback"
[ "$(sha a)" = "$good_a" ] || fail "the record does not say the previous certificate is back"
ck list | grep -q "deploy failed: test: " || fail "list does not show the failed deploy stage: $(ck list)"
ck list -l | grep -A40 "Request ID 'a'" | grep -q "deploy: failed: test: " ||
        fail "list -l does not show the failed deploy stage: $(ck list -l)"
ck bindings -i a | grep -q "last deploy: failed: test" || fail "last deploy of a: $(ck bindings -i a)"
events_of a rebind-failed | grep -q "restored" || fail "1104 message: $(events_of a rebind-failed)"

# 3. The configuration fixed, deploy again: rebound, without a new certificate.
write_conf
n=$(count_events a rebound)
ck deploy -i a >/dev/null || fail "deploy -i a"
# A second deploy while the first one runs (it waits for its batch window) is refused with words.
out=$(ck deploy -i a 2>&1) && fail "a second deploy during the first was accepted"
grep -q "under way" <<<"$out" || fail "second deploy: $out"
more_rebound() { [ "$(count_events a rebound)" -gt "$n" ]; }
wait_until 30 more_rebound
[ "$(sha a)" = "$good_a" ] || fail "deploy issued a new certificate"
[ "$(served "$PA" a.test)" = "$good_a" ] || fail "not served after deploy"
ck bindings -i a | grep -q "last deploy: ok" || fail "last deploy after the fix: $(ck bindings -i a)"

# 4. b's certificate replaced by hand (another tool, mv): seen by the file watch (1001), and nginx
# serves the new one (1103).
n=$(count_events b rebound)
openssl req -x509 -key "$T/certs/b.key" -subj /CN=b.test -addext subjectAltName=DNS:b.test -days 3 \
        -out "$T/certs/.b.new" 2>/dev/null
outside=$(openssl x509 -in "$T/certs/.b.new" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr a-f A-F)
mv "$T/certs/.b.new" "$T/certs/b.pem"
more_rebound_b() { [ "$(count_events b rebound)" -gt "$n" ]; }
wait_until 30 more_rebound_b
[ "$(sha b)" = "$outside" ] || fail "the record does not have b's outside replacement"
[ "$(served "$PB" b.test)" = "$outside" ] || fail "nginx does not serve b's outside replacement"

# A deploy without bindings is refused with words; unbind removes all.
ck unbind -i a >/dev/null || fail "unbind a"
out=$(ck deploy -i a 2>&1) && fail "a deploy without bindings was accepted"
grep -q "no bindings" <<<"$out" || fail "deploy without bindings: $out"

echo "PASS"
