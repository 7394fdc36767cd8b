#!/bin/bash
# EXTERNAL CAs through certmonger's helper protocol, with the shell helper test/integration/helpers/
# test-helper.sh: every exit status and each kind of misbehaviour ends in the right state with
# words in ca-error, while the daemon keeps serving other certificates; the environment a helper
# gets; POLL with the cookie; exit 17 limited; requirements and templates checked; FETCH-ROOTS
# into -F files; add-ca refusing bad command lines; restart keeping each request's schedule.
. "$(dirname "$0")/lib.sh"

HELPER="$(cd "$(dirname "$0")" && pwd)/helpers/test-helper.sh"
H="$T/helper"
mkdir -p "$H" "$T/certs"
chmod 0755 "$T/certs"
cp "$HELPER" "$H/helper.sh"
chmod 0755 "$H/helper.sh"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$H/ca.key" -out "$H/ca.pem" \
        -subj "/CN=Test External CA" -days 30 2>/dev/null

cat >>"$CONF" <<CONF
[helpers]
timeout = 3s
rekey_delay = 1s
rekey_limit = 2
workers = 4
CONF
start_daemon

# add_ca NAME MODE: an EXTERNAL CA whose helper answers in MODE, with a directory of its own.
add_ca() {
        mkdir -p "$H/$1"
        cp "$H/ca.pem" "$H/ca.key" "$H/$1/"
        ck add-ca -c "$1" -e "$H/helper.sh '$H/$1' $2" >/dev/null || fail "add-ca $1 failed"
}

# req NAME CA [ARGS...]: a request through that CA.
req() {
        local n=$1 ca=$2; shift 2
        ck request -I "$n" -c "$ca" -f "$T/certs/$n.pem" -k "$T/certs/$n.key" -N "CN=$n.test" -D "$n.test" "$@" \
                >/dev/null || fail "request $n failed"
}

ca_error() { cert_field "$1" ca_error; }

expect_error() { # expect_error NICK TEXT
        local e
        e=$(ca_error "$1")
        case "$e" in
        *"$2"*) ;;
        *) fail "ca-error of '$1' is '$e', expected it to contain '$2'" ;;
        esac
}

# ---- add-ca refuses bad command lines, with words ----
out=$(ck add-ca -c bad1 -e "$H/helper.sh 'unterminated" 2>&1) && fail "add-ca accepted an unterminated quote"
grep -qi "quot" <<<"$out" || fail "no words about the quote: $out"
out=$(ck add-ca -c bad2 -e "$T/no-such-helper" 2>&1) && fail "add-ca accepted a missing program"
grep -q "no-such-helper" <<<"$out" || fail "the missing program is not named: $out"
out=$(ck add-ca -c bad3 -e "relative/helper" 2>&1) && fail "add-ca accepted a relative path"
grep -q "absolute" <<<"$out" || fail "no words about the relative path: $out"
out=$(api POST /api/v1/cas '{"name": "bad4", "type": "EXTERNAL", "helper": ""}')
[ "$(echo "$out" | tail -n1)" = 400 ] || fail "the API accepted an empty helper: $out"

# ---- a good helper: issued, with the environment of the protocol ----
add_ca good issue
wait_until 10 sh -c "\"$CERTKEEPER_BIN\" list-cas -c good -v | grep -q 'self-identifies as: Test CA (issue)'"
req good good -D www.good.test -A 192.0.2.1 -E admin@good.test -F "$T/certs/good-roots.pem"
wait_state good MONITORING 20
openssl verify -CAfile "$H/ca.pem" "$T/certs/good.pem" >/dev/null || fail "the issued certificate does not verify"
key_matches_cert "$T/certs/good.key" "$T/certs/good.pem" || fail "key and certificate do not match"
cmp -s "$T/certs/good-roots.pem" "$H/ca.pem" || fail "-F did not get the CA's roots from FETCH-ROOTS"
env1=$(ls "$H/good"/env.* | head -n1)
n=${env1##*.}
grep -q '^CERTMONGER_OPERATION=SUBMIT$' "$env1" || fail "no CERTMONGER_OPERATION=SUBMIT"
grep -q '^CERTMONGER_CA_NICKNAME=good$' "$env1" || fail "no CERTMONGER_CA_NICKNAME"
grep -q '^CERTMONGER_CSR=-----BEGIN CERTIFICATE REQUEST-----' "$env1" || fail "no CERTMONGER_CSR"
grep -q '^CERTMONGER_REQ_SUBJECT=CN=good.test$' "$env1" || fail "no CERTMONGER_REQ_SUBJECT"
grep -A1 '^CERTMONGER_REQ_HOSTNAME=' "$env1" | grep -q 'www.good.test' ||
        fail "CERTMONGER_REQ_HOSTNAME does not hold both names, newline-separated"
grep -q '^CERTMONGER_REQ_IP_ADDRESS=192.0.2.1$' "$env1" || fail "no CERTMONGER_REQ_IP_ADDRESS"
grep -q '^CERTMONGER_REQ_EMAIL=admin@good.test$' "$env1" || fail "no CERTMONGER_REQ_EMAIL"
grep -q '^CERTMONGER_KEY_TYPE=EC$' "$env1" || fail "no CERTMONGER_KEY_TYPE"
grep -q '^CERTMONGER_SPKI=' "$env1" || fail "no CERTMONGER_SPKI"
grep -q '^PATH=/usr/bin:/bin:/usr/sbin:/sbin$' "$env1" || fail "PATH is not the clean one"
grep -q '^CERTKEEPER_STATE_DIR=' "$env1" && fail "the daemon's environment leaked into the helper"
grep -q 'BEGIN CERTIFICATE REQUEST' "$H/good/argv.$n" && fail "the CSR was passed in argv"
grep -q '^cwd=/$' "$H/good/io.$n" || fail "the helper's cwd is not /"
grep -q '^stdin=/dev/null$' "$H/good/io.$n" || fail "the helper's stdin is not /dev/null"

# Renewal through the helper: the previous certificate is in CERTMONGER_CERTIFICATE.
old=$(cert_field good sha256)
ck resubmit -i good >/dev/null
wait_until 20 sh -c "[ \"\$(curl -s --unix-socket '$RUN/api.sock' http://localhost/api/v1/certificates/good |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[\"state\"], d[\"sha256\"])')\" != 'MONITORING $old' ] &&
        curl -s --unix-socket '$RUN/api.sock' http://localhost/api/v1/certificates/good | grep -q '\"MONITORING\"'"
[ "$(cert_field good sha256)" != "$old" ] || fail "resubmit did not give a new certificate"
grep -q '^CERTMONGER_CERTIFICATE=-----BEGIN CERTIFICATE-----' "$(ls -t "$H/good"/env.* | head -n1)" ||
        fail "a renewal did not pass the current certificate"

# ---- wait with a cookie, then POLL ----
add_ca slow wait-then-issue
req slow slow
wait_state slow CA_WORKING 10
[ "$(cert_field slow ca_cookie)" = cookie-1 ] || fail "the cookie of exit 5 was not kept"
wait_state slow MONITORING 20
grep -q '^POLL cookie-1$' "$H/slow/runs.log" || fail "no POLL with the cookie"
grep -q '^CERTMONGER_CA_COOKIE=cookie-1$' "$(ls -t "$H/slow"/env.* | head -n1)" || fail "no CERTMONGER_CA_COOKIE"

# ---- each exit status and misbehaviour ----
add_ca waiting wait
add_ca rejected exit:2
add_ca unreachable exit:3
add_ca unconfigured exit:4
add_ca unsupported exit:6
add_ca other exit:7
add_ca garbage garbage
add_ca baddelay bad-delay
add_ca hang hang
add_ca flood flood
add_ca crash crash
add_ca rekey rekey-then-issue
add_ca rekeyloop exit:17
add_ca noexec issue
add_ca gone issue
# Not executable / missing after being added: copies of the helper that then change.
cp "$H/helper.sh" "$H/noexec-helper.sh"; chmod 0755 "$H/noexec-helper.sh"
cp "$H/helper.sh" "$H/gone-helper.sh"; chmod 0755 "$H/gone-helper.sh"
ck modify-ca -c noexec -e "$H/noexec-helper.sh '$H/noexec' issue" >/dev/null
ck modify-ca -c gone -e "$H/gone-helper.sh '$H/gone' issue" >/dev/null
chmod 0644 "$H/noexec-helper.sh"
rm -f "$H/gone-helper.sh"

for n in waiting rejected unreachable unconfigured unsupported other garbage baddelay hang flood crash rekey \
         rekeyloop noexec gone; do
        req "$n" "$n"
done
# Meanwhile the local CA goes on issuing.
ck request -I local1 -c local -f "$T/certs/local1.pem" -k "$T/certs/local1.key" -N CN=local1.test >/dev/null
wait_state local1 MONITORING 10

wait_state waiting CA_WORKING 10
[ "$(cert_field waiting ca_cookie)" = cookie-wait ] || fail "the cookie of exit 1 was not kept"
wait_state rejected CA_REJECTED 10
expect_error rejected "the test CA says no (exit 2)"
wait_state unreachable CA_UNREACHABLE 10
expect_error unreachable "the test CA says no (exit 3)"
wait_state unconfigured CA_UNCONFIGURED 10
expect_error unconfigured "the test CA says no (exit 4)"
wait_state unsupported NEED_GUIDANCE 10
wait_state other NEED_GUIDANCE 10
expect_error other "the test CA says no (exit 7)"
wait_state garbage NEED_GUIDANCE 10
expect_error garbage "no certificate"
wait_state baddelay NEED_GUIDANCE 10
expect_error baddelay "soon"
wait_state hang CA_UNREACHABLE 15
expect_error hang "3 s"
if [ -f "$H/hang/hang-child.pid" ]; then
        wait_until 10 sh -c "! kill -0 $(cat "$H/hang/hang-child.pid") 2>/dev/null" ||
                fail "the hung helper's child was not killed with it"
fi
wait_state flood NEED_GUIDANCE 60
expect_error flood "no certificate"
wait_state crash NEED_GUIDANCE 10
expect_error crash "SIGSEGV"
wait_state rekey MONITORING 20
[ "$(grep -c '^SUBMIT' "$H/rekey/runs.log")" -ge 2 ] || fail "exit 17 did not lead to a new submission"
wait_state rekeyloop NEED_GUIDANCE 30
expect_error rekeyloop "new key"
[ "$(grep -c '^SUBMIT' "$H/rekeyloop/runs.log")" -eq 3 ] ||
        fail "exit 17 was followed $(grep -c '^SUBMIT' "$H/rekeyloop/runs.log") times, expected 3 (limit 2)"
wait_state noexec NEED_GUIDANCE 10
expect_error noexec "Permission denied"
wait_state gone NEED_GUIDANCE 10
expect_error gone "No such file"

# getcert list shows the words and stuck.
getcert list -i rejected | grep -q "ca-error: .*the test CA says no (exit 2)" || fail "getcert list has no ca-error"
getcert list -i rejected | grep -q "stuck: yes" || fail "a rejected request is not stuck"
getcert list -i unreachable | grep -q "stuck: no" || fail "an unreachable CA made the request stuck"
# The history has the attempt with its words.
api GET /api/v1/certificates/other/history | grep -q "the test CA says no (exit 7)" || fail "no history row"

# The daemon is still fine, and still issues.
ck request -I local2 -c local -f "$T/certs/local2.pem" -k "$T/certs/local2.key" -N CN=local2.test >/dev/null
wait_state local2 MONITORING 10

# ---- requirements and templates ----
add_ca picky issue
echo "CERTMONGER_REQ_PRINCIPAL" >"$H/picky/new-reqs"
echo "webserver,client" >"$H/picky/templates"
ck refresh-ca -c picky | grep -q "Data for CA 'picky' being refreshed." || fail "refresh-ca said something else"
wait_until 10 sh -c "\"$CERTKEEPER_BIN\" list-cas -c picky -v | grep -q 'templates: webserver, client'"
out=$(ck request -I picky1 -c picky -f "$T/certs/picky1.pem" -k "$T/certs/picky1.key" -N CN=p 2>&1) &&
        fail "a request without the required principal was accepted"
grep -q -- "-K" <<<"$out" || fail "the refusal does not say how to give the principal: $out"
out=$(ck request -I picky2 -c picky -f "$T/certs/picky2.pem" -k "$T/certs/picky2.key" -N CN=p \
        -K host/p@TEST -T nosuch 2>&1) && fail "a template the CA does not offer was accepted"
grep -q "webserver" <<<"$out" || fail "the refusal does not list the templates: $out"
ck request -I picky3 -c picky -f "$T/certs/picky3.pem" -k "$T/certs/picky3.key" -N CN=p -K host/p@TEST \
        -T client -X sub-ca-2 >/dev/null || fail "a request that meets the requirements was refused"
wait_state picky3 MONITORING 10
grep -q '^CERTMONGER_CA_PROFILE=client$' "$(ls -t "$H/picky"/env.* | head -n1)" || fail "no CERTMONGER_CA_PROFILE"
grep -q '^CERTMONGER_CA_ISSUER=sub-ca-2$' "$(ls -t "$H/picky"/env.* | head -n1)" || fail "no CERTMONGER_CA_ISSUER (-X)"
getcert list -i picky3 | grep -q "issuer template: sub-ca-2" || fail "list does not show the requested issuer"
# The SPKAC is made where the key is, signed by it: openssl verifies it and finds the request's key.
sed -n 's/^CERTMONGER_SPKAC=/SPKAC=/p' "$(ls -t "$H/picky"/env.* | head -n1)" >"$T/picky3.spkac"
[ -s "$T/picky3.spkac" ] || fail "no CERTMONGER_SPKAC"
openssl spkac -in "$T/picky3.spkac" -verify -noout 2>&1 | grep -q "Signature OK" || fail "the SPKAC does not verify"
[ "$(openssl spkac -in "$T/picky3.spkac" -pubkey -noout 2>/dev/null | openssl pkey -pubin -outform DER | sha256sum)" = \
  "$(openssl pkey -in "$T/certs/picky3.key" -pubout -outform DER | sha256sum)" ] || fail "the SPKAC is not for the request's key"
grep -q '^CERTMONGER_REQ_PRINCIPAL=host/p@TEST$' "$(ls -t "$H/picky"/env.* | head -n1)" ||
        fail "no CERTMONGER_REQ_PRINCIPAL"
getcert list-cas -c picky | grep -q "default profile/template/certtype: webserver" || fail "no default template"

# ---- the roots in -F files are kept current ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$H/good/ca.key" \
        -out "$H/good/ca.pem" -subj "/CN=Test External CA 2" -days 30 2>/dev/null
ck refresh-ca -a >/dev/null
wait_until 10 cmp -s "$T/certs/good-roots.pem" "$H/good/ca.pem"

# ---- restart: waiting requests keep their schedule ----
polls_before=$(wc -l <"$H/waiting/runs.log")
stop_daemon
start_daemon
sleep 2
wait_state waiting CA_WORKING 5
polls_after=$(grep -c -E '^(SUBMIT|POLL)' "$H/waiting/runs.log")
[ "$polls_after" -le "$(grep -c -E '^(SUBMIT|POLL)' <(head -n "$polls_before" "$H/waiting/runs.log"))" ] ||
        fail "the restart asked the CA again at once for a request that waits for its time"
ck list -i unreachable >/dev/null

# ---- remove-ca: requests go to NEED_CA ----
ck remove-ca -c rejected >/dev/null
wait_state rejected NEED_CA 5
echo "ok"
