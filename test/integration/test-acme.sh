#!/bin/bash
# ACME CAs through the daemon, against a real Pebble on loopback: add-ca with the ACME options and
# their refusals, http-01 through the daemon's built-in responder (a DNS name, an IP address), the
# chain and full chain saved beside the certificate, the account key kept 0600 and reused, a
# renewal, dns-01 for a wildcard through a hook program (which sets the TXT record in Pebble's mock
# DNS), a high badNonce rate, a CA that is down (CA_UNREACHABLE, then issued once it is back), and a
# validation the CA refuses (CA_REJECTED with the CA's words, no retry loop).
# shellcheck source=test/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/integration/lib-pebble.sh
. "$(dirname "$0")/lib-pebble.sh"

pebble_require

start_pebble PEBBLE_WFE_NONCEREJECT=50 || fail "pebble did not start"
start_daemon
mkdir -p "$T/certs"

# ---- add-ca: refusals with words ----
out=$(ck add-ca -c nope --acme "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA" 2>&1) && fail "accepted without --agree-tos"
grep -q -- "--agree-tos" <<<"$out" || fail "no words about the terms of service: $out"
out=$(ck add-ca -c nope --acme ftp://example.test --agree-tos 2>&1) && fail "accepted an ftp directory"
grep -q "directory URL" <<<"$out" || fail "no words about the URL: $out"
out=$(ck add-ca -c nope --acme http://acme.example.test/dir --agree-tos 2>&1) && fail "accepted plain http"
grep -q "https" <<<"$out" || fail "no words about https: $out"
out=$(ck add-ca -c nope --acme "$PEBBLE_DIR_URL" --agree-tos --eab-kid kid-1 2>&1) && fail "accepted half an EAB"
grep -q -- "--eab-hmac" <<<"$out" || fail "no words about EAB: $out"
out=$(ck add-ca -c nope --acme "$PEBBLE_DIR_URL" --agree-tos --http01-listen 127.0.0.1:99999 2>&1) &&
        fail "accepted a bad port"
grep -q "65535" <<<"$out" || fail "no words about the port: $out"

ck add-ca -c pebble --acme "$PEBBLE_DIR_URL" --agree-tos --email admin@example.test --ca-bundle "$PEBBLE_CA" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP_PORT" >/dev/null || fail "add-ca --acme failed"
ck list-cas -c pebble | grep -q "ca-type: ACME" || fail "list-cas does not show the ACME CA"
api GET /api/v1/cas/pebble | head -n1 | grep -q '"directory"' || fail "the API does not show the directory"

# ---- http-01 through the built-in responder, default paths: chain and full chain saved ----
ck request -I web -c pebble -N CN=web.example.test -D web.example.test -D www.example.test >/dev/null ||
        fail "request failed"
wait_state web MONITORING 60
D="$STATE/certs/web"
for f in cert.pem key.pem chain.pem fullchain.pem; do
        [ -s "$D/$f" ] || fail "no $f beside the certificate"
done
curl -sf --cacert "$PEBBLE_CA" "$PEBBLE_MGMT/roots/0" >"$T/pebble-root.pem" || fail "cannot fetch Pebble's root"
openssl verify -CAfile "$T/pebble-root.pem" -untrusted "$D/chain.pem" "$D/cert.pem" >/dev/null ||
        fail "the certificate does not verify against Pebble's root with the saved chain"
key_matches_cert "$D/key.pem" "$D/cert.pem" || fail "key and certificate do not match"
openssl x509 -in "$D/cert.pem" -noout -ext subjectAltName | grep -q "www.example.test" || fail "SAN missing"
[ "$(stat -c %a "$STATE/acme/pebble/account.key")" = 600 ] || fail "the account key is not 0600"
grep -q "http-01 responder listening on 127.0.0.1:$PEBBLE_HTTP_PORT" "$LOG" || fail "the responder did not start"
# Not serving anything now that no order is in flight.
wait_until 10 sh -c "! curl -s -o /dev/null http://127.0.0.1:$PEBBLE_HTTP_PORT/.well-known/acme-challenge/x"

# An IP address identifier.
ck request -I ip -c pebble -f "$T/certs/ip.pem" -k "$T/certs/ip.key" -A 127.0.0.1 >/dev/null || fail "IP request failed"
wait_state ip MONITORING 60
openssl x509 -in "$T/certs/ip.pem" -noout -ext subjectAltName | grep -q "IP Address:127.0.0.1" || fail "no IP SAN"

# Renewal: a new certificate, the same account (no second account key).
old=$(cert_field web serial)
ck resubmit -i web >/dev/null
wait_until 60 sh -c "[ \"\$(curl -s --unix-socket '$RUN/api.sock' http://localhost/api/v1/certificates/web |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[\"state\"], d[\"serial\"])')\" != 'MONITORING $old' ] &&
        curl -s --unix-socket '$RUN/api.sock' http://localhost/api/v1/certificates/web | grep -q '\"MONITORING\"'"
[ "$(cert_field web serial)" != "$old" ] || fail "resubmit did not renew"
[ "$(ls "$STATE/acme/pebble" | grep -c key)" = 1 ] || fail "a second account key appeared"

# ---- dns-01 for a wildcard through a hook ----
cat >"$T/dns-hook.sh" <<EOF
#!/bin/sh
# method identifier token key-authorization; the TXT name and value are in the environment.
echo "\$1 \$2 \$CERTKEEPER_ACME_TXT_NAME" >>"$T/dns-hook.log"
case "\$1" in
begin) curl -sf -X POST -d "{\"host\":\"\$CERTKEEPER_ACME_TXT_NAME.\",\"value\":\"\$CERTKEEPER_ACME_TXT_VALUE\"}" \
        "$CHALLTEST_MGMT/set-txt" ;;
done) curl -sf -X POST -d "{\"host\":\"\$CERTKEEPER_ACME_TXT_NAME.\"}" "$CHALLTEST_MGMT/clear-txt" ;;
esac
EOF
chmod 0755 "$T/dns-hook.sh"
ck add-ca -c pebbledns --acme "$PEBBLE_DIR_URL" --agree-tos --ca-bundle "$PEBBLE_CA" --challenge dns-01 \
        --dns01-hook "$T/dns-hook.sh" --dns01-propagation-timeout 0 >/dev/null || fail "add-ca dns-01 failed"
ck request -I wild -c pebbledns -f "$T/certs/wild.pem" -k "$T/certs/wild.key" -D '*.wild.example.test' >/dev/null ||
        fail "wildcard request failed"
wait_state wild MONITORING 60
openssl x509 -in "$T/certs/wild.pem" -noout -ext subjectAltName | grep -q '\*.wild.example.test' || fail "no wildcard SAN"
grep -q "^begin wild.example.test _acme-challenge.wild.example.test$" "$T/dns-hook.log" || fail "hook not begun"
grep -q "^done wild.example.test" "$T/dns-hook.log" || fail "hook cleanup did not run"

# ---- a validation the CA refuses: nobody answers http-01 on this port ----
ck add-ca -c deaf --acme "$PEBBLE_DIR_URL" --agree-tos --ca-bundle "$PEBBLE_CA" \
        --http01-listen "127.0.0.1:$(free_port)" >/dev/null
ck request -I deaf -c deaf -f "$T/certs/deaf.pem" -k "$T/certs/deaf.key" -D deaf.example.test >/dev/null
wait_state deaf CA_REJECTED 60
cert_field deaf ca_error | grep -qi "connect\|refused\|urn\|validation\|challenge" || fail "no CA words: $(cert_field deaf ca_error)"
[ "$(cert_field deaf next_action_at)" = 0 ] || fail "a refused validation is retried: $(cert_field deaf next_action_at)"

# ---- the CA is down: CA_UNREACHABLE with backoff, then issued once it is back ----
stop_pebble
ck request -I down -c pebble -f "$T/certs/down.pem" -k "$T/certs/down.key" -D down.example.test >/dev/null
wait_state down CA_UNREACHABLE 60
[ -n "$(cert_field down ca_error)" ] || fail "no words for an unreachable CA"
start_pebble || fail "pebble did not start again"
ck modify-ca -c pebble --acme "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP_PORT" >/dev/null || fail "modify-ca failed"
ck refresh -i down >/dev/null
wait_state down MONITORING 60
echo ok
