#!/bin/bash
# Bad input to the CLI and bad files under tracked certificates: each refused or parked with a
# message that names the bad value and says what to do, nothing changed by a refused command,
# the daemon serving the other certificates, and a resubmit recovering once the file is fixed.
. "$(dirname "$0")/lib.sh"

start_daemon
mkdir -p "$T/certs"
C="$T/certs"

count() { api GET /api/v1/certificates | head -n -1 | json_get "d['total']"; }

ck request -I web -f "$C/web.pem" -k "$C/web.key" -N CN=web.test -D web.test -w >/dev/null || fail "request web"
ck list --json >"$T/list-before.json"

# refused WORD... -- ARGS...: the CLI must fail (exit status 1), print each WORD (fixed strings) on
# stderr, print nothing on stdout, and change nothing.
refused() {
        local words=() rc=0
        while [ "$1" != -- ]; do words+=("$1"); shift; done
        shift
        "$CERTKEEPER_BIN" "$@" >"$T/out" 2>"$T/err" || rc=$?
        [ $rc -ne 0 ] || fail "accepted: certkeeper $*"
        [ $rc -eq 1 ] || fail "exit status $rc (not 1) for: certkeeper $*"
        [ ! -s "$T/out" ] || fail "printed on stdout for: certkeeper $*: $(cat "$T/out")"
        for w in "${words[@]}"; do
                grep -qF -- "$w" "$T/err" || fail "certkeeper $*: message lacks '$w': $(cat "$T/err")"
        done
        [ "$(count)" = 1 ] || fail "the number of requests changed after: certkeeper $*"
        [ ! -e "$C/a.key" ] && [ ! -e "$C/a.pem" ] || fail "files written after: certkeeper $*"
}

A=(-I a -f "$C/a.pem" -k "$C/a.key")
refused "Unknown verb 'frobnicate'" "--help" -- frobnicate
refused "'--frobnicate'" "--help" -- request --frobnicate "${A[@]}"
refused '"bad..name"' 'www.example.com' -- request "${A[@]}" -D 'bad..name'
refused '"300.1.1.1"' '192.0.2.1' -- request "${A[@]}" -A 300.1.1.1
refused '"nope"' 'admin@example.com' -- request "${A[@]}" -E nope
refused '1024' '2048 to 8192' -- request "${A[@]}" -G RSA -g 1024
refused '300' '256, 384 or 521' -- request "${A[@]}" -G EC -g 300
refused '/nonexistent-dir' 'mkdir' -- request -I a -f /nonexistent-dir/x.pem -k "$C/a.key"
refused '/nonexistent-dir' 'mkdir' -- request -I a -f "$C/a.pem" -k /nonexistent-dir/x.key
refused 'There is already a request with the nickname "web".' -- request -I web -f "$C/a.pem" -k "$C/a.key"
refused 'Certificate at same location is already used by request with nickname "web".' -- \
        request -I a -f "$C/web.pem" -k "$C/a.key"
refused 'No CA with name "nope" found.' 'list-cas' -- request "${A[@]}" -c nope
refused '"/nonexistent/helper"' 'cannot be run' -- add-ca -c ext -e /nonexistent/helper
refused 'unterminated quote' -- add-ca -c ext -e "/bin/true 'unterminated"
[ "$(api GET /api/v1/cas/ext | tail -n1)" = 404 ] || fail "a refused add-ca added a CA"
ck list --json >"$T/list-after.json"
diff -u "$T/list-before.json" "$T/list-after.json" >&2 || fail "refused commands changed the list"

# A fresh request must still reach MONITORING while the other certificates are parked.
fresh=0
fresh_request() {
        fresh=$((fresh + 1))
        ck request -I "fresh$fresh" -f "$C/fresh$fresh.pem" -k "$C/fresh$fresh.key" -N "CN=fresh$fresh.test" -w \
                >/dev/null || fail "a fresh request did not reach MONITORING ($1)"
}

# parked NICK WORD...: NEED_GUIDANCE, stuck, ca_error with the words, in the API and in list.
parked() {
        local nick=$1 err; shift
        wait_state "$nick" NEED_GUIDANCE 30
        [ "$(cert_field "$nick" stuck)" = True ] || fail "$nick: NEED_GUIDANCE but not stuck"
        err=$(cert_field "$nick" ca_error)
        for w in "$@"; do
                grep -qiF -- "$w" <<<"$err" || fail "$nick: ca_error lacks '$w': $err"
        done
        ck list -l -i "$nick" | grep -qF "	ca-error: $err" || fail "$nick: list does not show the ca-error"
        ck list -l -i "$nick" | grep -qx '	stuck: yes' || fail "$nick: list does not say stuck: yes"
        local rc=0
        ck status -i "$nick" >/dev/null || rc=$?
        [ $rc = 4 ] || fail "$nick: status exit code $rc, not 4"
}

# recovers NICK: resubmit -w after the fix ends in MONITORING with a matching pair.
recovers() {
        ck resubmit -i "$1" -w >/dev/null || fail "$1: resubmit after the fix did not reach MONITORING"
        [ "$(cert_field "$1" stuck)" = False ] || fail "$1: still stuck"
        [ "$(cert_field "$1" ca_error)" = None ] || fail "$1: ca_error kept: $(cert_field "$1" ca_error)"
        key_matches_cert "$C/$1.key" "$C/$1.pem" || fail "$1: key and certificate do not match"
}

# 1. The certificate replaced by garbage.
ck request -I garbage -f "$C/garbage.pem" -k "$C/garbage.key" -N CN=garbage.test -w >/dev/null || fail "request garbage"
cp "$C/garbage.pem" "$T/garbage.save"
echo 'this is not a certificate' >"$C/garbage.pem"
ck refresh -i garbage >/dev/null || fail "refresh garbage"
parked garbage "$C/garbage.pem" "not a certificate" "resubmit"
fresh_request "garbage parked"
[ "$(cat "$C/garbage.pem")" = 'this is not a certificate' ] || fail "the daemon overwrote the garbage on its own"
cp "$T/garbage.save" "$C/garbage.pem"
recovers garbage

# 2. The key replaced by a different key.
ck request -I mismatch -f "$C/mismatch.pem" -k "$C/mismatch.key" -N CN=mismatch.test -w >/dev/null ||
        fail "request mismatch"
cp "$C/mismatch.key" "$T/mismatch.save"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$C/mismatch.key" 2>/dev/null
ck refresh -i mismatch >/dev/null || fail "refresh mismatch"
parked mismatch "$C/mismatch.key" "match"
fresh_request "mismatch parked"
key_matches_cert "$C/mismatch.key" "$C/mismatch.pem" && fail "the daemon replaced the certificate on its own"
cp "$T/mismatch.save" "$C/mismatch.key"
recovers mismatch

# 3. The certificate file replaced by something root cannot read as a file: a directory.
ck request -I unreadable -f "$C/unreadable.pem" -k "$C/unreadable.key" -N CN=unreadable.test -w >/dev/null ||
        fail "request unreadable"
cp "$C/unreadable.pem" "$T/unreadable.save"
rm "$C/unreadable.pem"
mkdir "$C/unreadable.pem"
ck refresh -i unreadable >/dev/null || fail "refresh unreadable"
parked unreadable "$C/unreadable.pem"
fresh_request "unreadable parked"
[ -d "$C/unreadable.pem" ] || fail "the daemon replaced the directory"
rmdir "$C/unreadable.pem"
cp "$T/unreadable.save" "$C/unreadable.pem"
recovers unreadable

# Everything else kept its state.
[ "$(cert_field web state)" = MONITORING ] || fail "web left MONITORING"
for i in $(seq "$fresh"); do
        [ "$(cert_field "fresh$i" state)" = MONITORING ] || fail "fresh$i left MONITORING"
done
kill -0 "$DAEMON_PID" || fail "the daemon died"

echo "ok"
