#!/bin/bash
# certkeeper export (event 1007): PEM without and with the key, PKCS#12 read back by openssl with
# its password; files written atomically, 0600 when they hold the key; the event names the path;
# bad input gets words; the daemon never writes where the caller says.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/certs" "$T/out"
start_daemon
ck request -I web -f "$T/certs/web.pem" -k "$T/certs/web.key" -N CN=web.test -D web.test >/dev/null ||
        fail "request web"
wait_state web MONITORING 30
thumb() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
mode() { stat -c %a "$1"; }
events_json() { api GET "/api/v1/events?limit=1000&$1" | head -n -1; }
n1007() { events_json "cert=web&id=exported" | json_get "len(d['items'])"; }

# ---- PEM, certificate only ----
ck export -i web --out "$T/out/web-cert.pem" >/dev/null || fail "export PEM"
[ "$(thumb "$T/out/web-cert.pem")" = "$(thumb "$T/certs/web.pem")" ] || fail "the exported certificate is not web's"
grep -q PRIVATE "$T/out/web-cert.pem" && fail "the key was exported without --with-key"
[ "$(mode "$T/out/web-cert.pem")" = 644 ] || fail "certificate only: mode $(mode "$T/out/web-cert.pem")"
[ "$(n1007)" = 1 ] || fail "no 1007 event"
p=$(events_json "cert=web&id=exported" | json_get "d['items'][0]['payload']")
echo "$p" | json_get "d['export_path']" | grep -qx "$T/out/web-cert.pem" || fail "1007 does not name the path: $p"
echo "$p" | json_get "d['export_with_key']" | grep -qx False || fail "1007 with_key: $p"

# ---- PEM with the key, over an existing file: replaced atomically, 0600 ----
echo old >"$T/out/web-full.pem"
chmod 0644 "$T/out/web-full.pem"
ck export -i web --out "$T/out/web-full.pem" --with-key >/dev/null || fail "export PEM with key"
[ "$(mode "$T/out/web-full.pem")" = 600 ] || fail "with the key: mode $(mode "$T/out/web-full.pem")"
key_matches_cert "$T/out/web-full.pem" "$T/out/web-full.pem" || fail "the exported key does not match"
ls "$T/out" | grep -v '^web-' && fail "a temporary file was left behind"

# ---- PKCS#12 ----
printf 's3cret pass\nignored\n' >"$T/pw"
ck export -i web --out "$T/out/web.p12" --format pkcs12 --password-file "$T/pw" --with-key >/dev/null ||
        fail "export PKCS#12"
[ "$(mode "$T/out/web.p12")" = 600 ] || fail "PKCS#12: mode $(mode "$T/out/web.p12")"
openssl pkcs12 -info -in "$T/out/web.p12" -passin "pass:s3cret pass" -noout 2>/dev/null ||
        fail "openssl cannot read the PKCS#12 file with its password"
openssl pkcs12 -in "$T/out/web.p12" -passin "pass:s3cret pass" -nokeys -clcerts 2>/dev/null |
        openssl x509 -outform DER | sha256sum | cut -d' ' -f1 | grep -qx "$(thumb "$T/certs/web.pem")" ||
        fail "the PKCS#12 certificate is not web's"
openssl pkcs12 -in "$T/out/web.p12" -passin "pass:s3cret pass" -nocerts -nodes 2>/dev/null >"$T/out/p12.key"
key_matches_cert "$T/out/p12.key" "$T/certs/web.pem" || fail "the PKCS#12 key does not match"
openssl pkcs12 -info -in "$T/out/web.p12" -passin pass:wrong -noout 2>/dev/null && fail "a wrong password opened it"
[ "$(n1007)" = 3 ] || fail "$(n1007) export events for 3 exports"

# ---- bad input: words, no file, no event ----
out=$(ck export -i web --out "$T/out/x.p12" --format pkcs12 2>&1) && fail "PKCS#12 without a password"
grep -q "password" <<<"$out" || fail "no words for a missing password: $out"
out=$(ck export -i web --out "$T/out/x" --format der 2>&1) && fail "format der accepted"
grep -q "pem or pkcs12" <<<"$out" || fail "bad format: $out"
out=$(ck export -i nosuch --out "$T/out/x" 2>&1) && fail "an unknown request"
[ ! -e "$T/out/x" ] && [ ! -e "$T/out/x.p12" ] || fail "a file was written for bad input"
out=$(api POST /api/v1/certificates/web/export '{"path": "relative.pem"}')
[ "$(echo "$out" | tail -n1)" = 400 ] || fail "a relative path: $out"
out=$(api POST /api/v1/certificates/web/export "{\"path\": \"$T/out/api.pem\", \"colour\": 1}")
[ "$(echo "$out" | tail -n1)" = 400 ] || fail "an unknown field: $out"
out=$(api POST /api/v1/certificates/web/export "{\"path\": \"$T/out/api.pem\"}")
[ "$(echo "$out" | tail -n1)" = 200 ] || fail "API export: $out"
[ ! -e "$T/out/api.pem" ] || fail "the daemon wrote the caller's path itself"
[ "$(n1007)" = 4 ] || fail "$(n1007) export events for 4 exports"
if [ "$(id -u)" = 0 ]; then
        if command -v setpriv >/dev/null; then
                as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"; }
        else
                as_nobody() { runuser -u nobody -- "$@"; }
        fi
        out=$(as_nobody curl -s -m 5 -w '\n%{http_code}' --unix-socket "$RUN/api.sock" -X POST \
                -H 'Content-Type: application/json' --data "{\"path\": \"/tmp/x.pem\", \"with_key\": true}" \
                http://localhost/api/v1/certificates/web/export)
        [ "$(echo "$out" | tail -n1)" = 403 ] || fail "nobody exporting the key: $out"
        grep -q PRIVATE <<<"$out" && fail "nobody was given the key"
fi
echo ok
