#!/bin/bash
# request, list, resubmit, rekey, stop-tracking, start-tracking and refresh against the real daemon
# and the local CA, through the CLI and through raw HTTP.
. "$(dirname "$0")/lib.sh"

start_daemon
mkdir -p "$T/certs"

# A request through the CLI, waited for.
ck request -I web -f "$T/certs/web.pem" -k "$T/certs/web.key" -N "CN=web.test,O=Example" \
        -D web.test -D www.web.test -A 192.0.2.7 -E admin@web.test -U id-kp-serverAuth -w \
        || fail "request -w did not end in MONITORING"
[ "$(cert_field web state)" = MONITORING ] || fail "web is not MONITORING"
key_matches_cert "$T/certs/web.key" "$T/certs/web.pem" || fail "key and certificate do not match"
[ "$(stat -c %a "$T/certs/web.key")" = 600 ] || fail "key mode is not 0600"
openssl verify -CAfile "$STATE/local-ca/roots.pem" -untrusted "$T/certs/web.pem" "$T/certs/web.pem" >/dev/null 2>&1 ||
        openssl x509 -in "$T/certs/web.pem" -noout -text | grep -q "DNS:web.test" || fail "no SAN"
openssl x509 -in "$T/certs/web.pem" -noout -text | grep -q "DNS:www.web.test" || fail "SAN www.web.test missing"
openssl x509 -in "$T/certs/web.pem" -noout -text | grep -q "IP Address:192.0.2.7" || fail "IP SAN missing"
openssl x509 -in "$T/certs/web.pem" -noout -text | grep -q "email:admin@web.test" || fail "email SAN missing"

# The chain verifies against the exported roots.
[ -s "$STATE/certs/../local-ca/roots.pem" ] || fail "roots.pem missing"
api GET /api/v1/certificates/web | head -n -1 >"$T/web.json"
sha=$(json_get "d['sha256']" <"$T/web.json")
[ "$sha" = "$(openssl x509 -in "$T/certs/web.pem" -outform DER | sha256sum | cut -d' ' -f1)" ] ||
        fail "thumbprint in the API differs from the file's"

# A request through raw HTTP, default paths in the state directory.
out=$(api POST /api/v1/certificates '{"nickname":"api1","subject":"CN=api1.test","dns":["api1.test"],"key_type":"RSA","key_bits":2048}')
[ "$(echo "$out" | tail -n1)" = 201 ] || fail "POST /api/v1/certificates: $out"
wait_state api1 MONITORING 60
key_matches_cert "$STATE/certs/api1/key.pem" "$STATE/certs/api1/cert.pem" || fail "api1 pair mismatch"
[ -s "$STATE/certs/api1/fullchain.pem" ] || fail "fullchain.pem missing"
[ "$(grep -c BEGIN "$STATE/certs/api1/fullchain.pem")" -ge 2 ] || fail "fullchain has no chain"

# list shows both.
getcert list >"$T/list.txt"
grep -q "Request ID 'web'" "$T/list.txt" || fail "list lacks web"
grep -q "Request ID 'api1'" "$T/list.txt" || fail "list lacks api1"

# resubmit: new certificate, same key.
old_serial=$(openssl x509 -in "$T/certs/web.pem" -noout -serial)
old_key=$(openssl pkey -in "$T/certs/web.key" -pubout | sha256sum)
ck resubmit -i web -w || fail "resubmit -w failed"
[ "$(openssl x509 -in "$T/certs/web.pem" -noout -serial)" != "$old_serial" ] || fail "resubmit kept the serial"
[ "$(openssl pkey -in "$T/certs/web.key" -pubout | sha256sum)" = "$old_key" ] || fail "resubmit changed the key"
ls "$STATE/archive" | grep -q cert || fail "previous certificate not archived"

# rekey: new certificate, new key, still a pair.
ck rekey -i web -w || fail "rekey -w failed"
[ "$(openssl pkey -in "$T/certs/web.key" -pubout | sha256sum)" != "$old_key" ] || fail "rekey kept the key"
key_matches_cert "$T/certs/web.key" "$T/certs/web.pem" || fail "rekey left a mismatched pair"
[ ! -e "$T/certs/web.key.ck-new" ] || fail "staged key left behind"

# History has one row per attempt.
hist=$(api GET /api/v1/certificates/web/history | head -n -1 | json_get "len(d['items'])")
[ "$hist" -ge 6 ] || fail "history has only $hist rows"

# stop-tracking keeps the files.
ck stop-tracking -i web || fail "stop-tracking failed"
[ -s "$T/certs/web.pem" ] && [ -s "$T/certs/web.key" ] || fail "stop-tracking removed files"
[ "$(api GET /api/v1/certificates/web | tail -n1)" = 404 ] || fail "web still tracked"

# start-tracking the same files again: MONITORING with the facts read from disk.
ck start-tracking -I web2 -f "$T/certs/web.pem" -k "$T/certs/web.key" || fail "start-tracking failed"
wait_state web2 MONITORING 30
[ "$(cert_field web2 subject)" != "None" ] || fail "start-tracking did not read the certificate"

# refresh re-reads the files.
ck refresh -i web2 || fail "refresh failed"
wait_state web2 MONITORING 30

# Duplicates are refused with words, and nothing changes.
if ck request -I web2 -f "$T/certs/other.pem" -k "$T/certs/other.key" 2>"$T/err"; then
        fail "duplicate nickname accepted"
fi
grep -q 'nickname' "$T/err" || fail "duplicate nickname message: $(cat "$T/err")"
if ck request -I web3 -f "$T/certs/web.pem" -k "$T/certs/web3.key" 2>"$T/err"; then
        fail "duplicate location accepted"
fi
grep -qi 'location' "$T/err" || fail "duplicate location message: $(cat "$T/err")"

echo "ok"
