#!/bin/bash
# Bindings against a real Apache (a private one, in the test directory, on 127.0.0.1): a renewal is
# tested (apache2 -t), reloaded gracefully (USR1 to the parent) and seen over TLS (1103); a broken
# configuration is rolled back (1104); 'certkeeper deploy' after the fix rebinds. Skipped without
# Apache.
. "$(dirname "$0")/lib-bind.sh"

APACHE=$(command -v apache2 || true)
[ -n "$APACHE" ] || APACHE=/usr/sbin/apache2
MODS=/usr/lib/apache2/modules
if [ ! -x "$APACHE" ] || [ ! -f "$MODS/mod_ssl.so" ]; then
        echo "SKIP: apache2 with mod_ssl is not installed"
        exit 77
fi

AP="$T/apache"
AC="$AP/apache2.conf"
PA=$(free_port)
mkdir -p "$AP" "$T/certs"

stop_apache() { stop_pidfile TERM "$AP/httpd.pid"; }
stop_servers_with stop_apache

write_conf() {
        cat >"$AC" <<CONF
ServerRoot $AP
DefaultRuntimeDir $AP
PidFile $AP/httpd.pid
ErrorLog $AP/error.log
LogLevel warn
LoadModule mpm_event_module $MODS/mod_mpm_event.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule socache_shmcb_module $MODS/mod_socache_shmcb.so
LoadModule ssl_module $MODS/mod_ssl.so
User nobody
Group nogroup
ServerName a.test
Listen 127.0.0.1:$PA
StartServers 1
<VirtualHost 127.0.0.1:$PA>
        ServerName a.test
        SSLEngine on
        SSLCertificateFile $T/certs/a.pem
        SSLCertificateKeyFile $T/certs/a.key
</VirtualHost>
CONF
}

TEST_CMD="$APACHE -t -f $AC"
RELOAD_CMD="kill -USR1 \$(cat $AP/httpd.pid)"

start_daemon
ck request -I a -f "$T/certs/a.pem" -k "$T/certs/a.key" -N CN=a.test -D a.test -w >/dev/null || fail "request a"

# Refused with words: an unreadable configuration, --command on an apache binding.
out=$(ck bind -i a apache --config "$T/nope.conf" --test-command true --reload-command true 2>&1) &&
        fail "a missing Apache configuration was accepted"
grep -q "apache configuration .* cannot be read" <<<"$out" || fail "missing configuration: $out"
write_conf
out=$(ck bind -i a apache --config "$AC" --command true 2>&1) && fail "--command was accepted"
grep -q "not --command" <<<"$out" || fail "--command on apache: $out"

"$APACHE" -f "$AC" -k start || fail "apache did not start: $(tail -5 "$AP/error.log" 2>/dev/null)"
wait_until 10 test -s "$AP/httpd.pid"
wait_until 10 served "$PA" a.test
[ "$(served "$PA" a.test)" = "$(sha a)" ] || fail "apache does not serve a's certificate at start"

ck bind -i a apache --config "$AC" --test-command "$TEST_CMD" --reload-command "$RELOAD_CMD" \
        --endpoint "127.0.0.1:$PA/a.test" >/dev/null || fail "bind a"
# The default test command of a stock install: apache2ctl -t -f CONFIG.
ck bind -i a apache --config "$AC" >/dev/null || fail "bind a with the default commands"
ck bindings -i a --json | json_get 'd[1]["test_command"]' | grep -q "apache2\?ctl -t -f '$AC'" ||
        fail "default test command: $(ck bindings -i a)"
ck unbind -i a --binding "$(ck bindings -i a --json | json_get 'd[1]["id"]')" >/dev/null || fail "unbind"

# 1. A renewal: tested, reloaded, the new certificate served.
old_a=$(sha a)
ck resubmit -i a -w >/dev/null || fail "resubmit a"
wait_until 30 has_event a rebound
[ "$(sha a)" != "$old_a" ] || fail "a was not renewed"
[ "$(served "$PA" a.test)" = "$(sha a)" ] || fail "apache serves $(served "$PA" a.test), not a's new $(sha a)"
ck bindings -i a | grep -q "last deploy: ok" || fail "last deploy of a: $(ck bindings -i a)"

# 2. A broken configuration: the test fails, the previous certificate is back and served, 1104.
good_a=$(sha a)
echo "NotADirective on" >>"$AC"
ck resubmit -i a -w >/dev/null || fail "resubmit a with a broken configuration"
wait_until 30 has_event a rebind-failed
[ "$(served "$PA" a.test)" = "$good_a" ] || fail "apache does not serve the previous certificate after the rollback"
[ "$(file_sha "$T/certs/a.pem")" = "$good_a" ] || fail "the previous certificate was not restored"
key_matches_cert "$T/certs/a.key" "$T/certs/a.pem" || fail "key and certificate do not match after the rollback"
ck bindings -i a | grep -q "last deploy: failed: test" || fail "last deploy of a: $(ck bindings -i a)"

# 3. Fixed, deploy again: rebound without a new certificate.
write_conf
n=$(count_events a rebound)
ck deploy -i a >/dev/null || fail "deploy -i a"
more_rebound() { [ "$(count_events a rebound)" -gt "$n" ]; }
wait_until 30 more_rebound
[ "$(sha a)" = "$good_a" ] || fail "deploy issued a new certificate"
[ "$(served "$PA" a.test)" = "$good_a" ] || fail "not served after deploy"

echo "PASS"
