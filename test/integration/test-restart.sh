#!/bin/bash
# Restart and resume: MONITORING requests keep their certificate and schedule across a SIGTERM
# restart (nothing is issued again); a request in NEED_GUIDANCE stays there with its reason, also
# after kill -9; SIGHUP reloads the configuration (log_level, notify_ttls).
. "$(dirname "$0")/lib.sh"

start_daemon
mkdir -p "$T/certs"

# snapshot NICK: the facts that must survive a restart, one line.
snapshot() {
        api GET "/api/v1/certificates/$1" | head -n -1 | json_get \
                "'%s %s %s %s %s %s' % (d['state'], d['serial'], d['issued_count'], d['renew_at'], d['sha256'], d['not_after'])"
}
history_len() { api GET "/api/v1/certificates/$1/history" | head -n -1 | json_get "len(d['items'])"; }

# stop_and_check: SIGTERM must end the daemon with status 0.
stop_and_check() {
        local rc=0
        kill -TERM "$DAEMON_PID"
        wait "$DAEMON_PID" || rc=$?
        DAEMON_PID=
        [ "$rc" = 0 ] || fail "certkeeperd exited with status $rc on SIGTERM"
}

ck request -I a -f "$T/certs/a.pem" -k "$T/certs/a.key" -N CN=a.test -w >/dev/null || fail "request a"
ck request -I b -c SelfSign -f "$T/certs/b.pem" -k "$T/certs/b.key" -N CN=b.test -w >/dev/null || fail "request b"
ck request -I c -R -f "$T/certs/c.pem" -k "$T/certs/c.key" -N CN=c.test --validity 30d -w >/dev/null ||
        fail "request c"

# NEED_GUIDANCE: a tracked certificate file that holds garbage.
head -c 600 /dev/urandom | base64 >"$T/certs/bad.pem"
out=$(api POST /api/v1/certificates/track "{\"nickname\":\"bad\",\"cert_path\":\"$T/certs/bad.pem\",\"key_path\":\"$T/certs/bad.key\"}")
[ "$(echo "$out" | tail -n1)" = 201 ] || fail "track bad: $out"
wait_state bad NEED_GUIDANCE 20
bad_err=$(cert_field bad ca_error)
[ -n "$bad_err" ] && [ "$bad_err" != None ] || fail "bad: NEED_GUIDANCE without ca_error"
[ "$(cert_field bad stuck)" = True ] || fail "bad: NEED_GUIDANCE is not stuck"

declare -A snap hist
for n in a b c; do
        snap[$n]=$(snapshot "$n")
        hist[$n]=$(history_len "$n")
        case ${snap[$n]} in MONITORING\ *) ;; *) fail "$n is not MONITORING: ${snap[$n]}" ;; esac
done
sha_a=$(sha256sum <"$T/certs/a.pem")
key_a=$(sha256sum <"$T/certs/a.key")

# SIGTERM restart, twice: nothing changes, nothing is issued again.
for round in 1 2; do
        stop_and_check
        grep -q "Received SIGTERM, stopping" "$LOG" || fail "no stop message in the log"
        start_daemon
        # A new request, waited for, proves the daemon is stepping requests again; anything due
        # at once after the restart would have run by then.
        ck request -I "new$round" -f "$T/certs/new$round.pem" -k "$T/certs/new$round.key" -N "CN=new$round.test" -w \
                >/dev/null || fail "request new$round after restart $round"
        for n in a b c; do
                now=$(snapshot "$n")
                [ "$now" = "${snap[$n]}" ] || fail "$n changed across restart $round: '${snap[$n]}' -> '$now'"
                [ "$(history_len "$n")" = "${hist[$n]}" ] || fail "$n: new history rows after restart $round"
        done
        [ "$(sha256sum <"$T/certs/a.pem")" = "$sha_a" ] || fail "a.pem rewritten by restart $round"
        [ "$(sha256sum <"$T/certs/a.key")" = "$key_a" ] || fail "a.key rewritten by restart $round"
        [ "$(cert_field bad state)" = NEED_GUIDANCE ] || fail "bad left NEED_GUIDANCE after restart $round"
        [ "$(cert_field bad ca_error)" = "$bad_err" ] || fail "bad lost its ca_error after restart $round"
done

# kill -9: still NEED_GUIDANCE with its reason, the others unchanged.
kill9_daemon
start_daemon
[ "$(cert_field bad state)" = NEED_GUIDANCE ] || fail "bad left NEED_GUIDANCE after kill -9"
[ "$(cert_field bad ca_error)" = "$bad_err" ] || fail "bad lost its ca_error after kill -9"
for n in a b c; do
        [ "$(snapshot "$n")" = "${snap[$n]}" ] || fail "$n changed across kill -9"
done

# SIGHUP with log_level = notice: info messages ("Signing request ... added") stop, notices
# ("... issued by CA and saved") go on.
grep -q "Signing request 'new2' added" "$LOG" || fail "info messages are not logged at log_level = debug"
sed -i 's/^log_level = debug/log_level = notice/' "$CONF"
grep -q '^log_level = notice' "$CONF" || fail "could not edit $CONF"
# reloaded_since N: more than N reloads logged (counted anew at every try).
reloaded_since() { [ "$(grep -c "Configuration reloaded" "$LOG")" -gt "$1" ]; }
n_reloaded=$(grep -c "Configuration reloaded" "$LOG" || true)
kill -HUP "$DAEMON_PID"
wait_until 10 reloaded_since "$n_reloaded"
kill -0 "$DAEMON_PID" || fail "certkeeperd died on SIGHUP"
ck request -I new3 -f "$T/certs/new3.pem" -k "$T/certs/new3.key" -N CN=new3.test -w >/dev/null || fail "request new3"
wait_until 10 grep -q "new3.pem\" issued by CA and saved" "$LOG"
! grep -q "Signing request 'new3' added" "$LOG" || fail "log_level = notice after SIGHUP still logs info messages"

# SIGHUP with a new notify_ttls: c (not renewed automatically, 30 days left) is now inside the
# first threshold and gets its notice without waiting for the old one (28 days before expiry).
grep -q "Certificate in file \"$T/certs/c.pem\" will not be valid after" "$LOG" && fail "c noticed too early"
printf '[renewal]\nnotify_ttls = 40d, 1d\n' >>"$CONF"
n_reloaded=$(grep -c "Configuration reloaded" "$LOG")
kill -HUP "$DAEMON_PID"
wait_until 10 reloaded_since "$n_reloaded"
wait_until 10 grep -q "Certificate in file \"$T/certs/c.pem\" will not be valid after" "$LOG"

# A configuration error on reload keeps the previous settings and the daemon.
printf '[daemon]\nlog_level = loud\n' >>"$CONF"
kill -HUP "$DAEMON_PID"
wait_until 10 grep -q "Reload failed, keeping the previous settings" "$LOG"
kill -0 "$DAEMON_PID" || fail "certkeeperd died on a bad configuration at SIGHUP"
[ "$(cert_field a state)" = MONITORING ] || fail "a is not MONITORING after the reloads"

stop_and_check
echo "ok"
