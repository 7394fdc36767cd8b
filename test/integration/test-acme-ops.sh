#!/bin/bash
# Revocation and the ACME account through the daemon and the CLI, against a real Pebble on
# loopback: revoke (CLI and API) checked through Pebble's management API, a second revocation
# refused with the CA's words, a certificate of a non-ACME CA refused, the history row; the
# account's contact updated; the account key rolled over (the old key kept, 0600) with new orders
# still issued by every helper worker; and a deactivated account, after which an order needs a
# person, with words.
# shellcheck source=test/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/integration/lib-pebble.sh
. "$(dirname "$0")/lib-pebble.sh"

pebble_require

# Pebble's view of a certificate: Valid or Revoked (and the reason code).
pebble_status() { # pebble_status CERT FIELD
        local serial
        serial=$(openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
        curl -sf --cacert "$PEBBLE_CA" "$PEBBLE_MGMT/cert-status-by-serial/$serial" | json_get "d.get('$2')"
}

# Several helper workers, so that each caches a client of the CA before the rollover.
printf '[helpers]\nworkers = 3\n' >>"$CONF"
start_pebble || fail "pebble did not start"
start_daemon
mkdir -p "$T/certs"
ck add-ca -c pebble --acme "$PEBBLE_DIR_URL" --agree-tos --email admin@example.test --ca-bundle "$PEBBLE_CA" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP_PORT" >/dev/null || fail "add-ca --acme failed"

# Three orders at once: the helper workers each make a client of the CA.
for n in 1 2 3; do
        ck request -I "web$n" -c pebble -f "$T/certs/web$n.pem" -k "$T/certs/web$n.key" -D "web$n.example.test" \
                >/dev/null || fail "request web$n failed"
done
for n in 1 2 3; do wait_state "web$n" MONITORING 60; done
[ "$(pebble_status "$T/certs/web1.pem" Status)" = Valid ] || fail "Pebble does not know web1 as valid"

# ---- revoke through the CLI, with a reason by name ----
out=$(ck revoke -i web1 --reason keyCompromise 2>&1) || fail "revoke failed: $out"
grep -q "revoked by CA 'pebble' (reason keyCompromise)" <<<"$out" || fail "revoke said: $out"
grep -q "rekey -i web1" <<<"$out" || fail "revoke does not say how to replace the certificate: $out"
[ "$(pebble_status "$T/certs/web1.pem" Status)" = Revoked ] || fail "Pebble does not know web1 as revoked"
[ "$(pebble_status "$T/certs/web1.pem" Reason)" = 1 ] || fail "Pebble has another reason than keyCompromise"
api GET /api/v1/certificates/web1/history | head -n1 |
        json_get "[i for i in d['items'] if i['stage'] == 'revoke'][0]['result']" | grep -qx ok ||
        fail "no history row for the revocation"
[ "$(cert_field web1 state)" = MONITORING ] || fail "revocation changed the state"

# Again: the CA refuses, in its own words, and the history says so.
out=$(ck revoke -i web1 2>&1) && fail "a second revocation succeeded"
grep -qi "alreadyRevoked\|already revoked" <<<"$out" || fail "no CA words for a second revocation: $out"
api GET /api/v1/certificates/web1/history | head -n1 | json_get "d['items'][0]['result']" | grep -qx rejected ||
        fail "no history row for the refused revocation"

# ---- revoke through the API, with a reason by number ----
res=$(api POST /api/v1/certificates/web2/revoke '{"reason": 4}')
[ "$(echo "$res" | tail -n1)" = 200 ] || fail "API revoke: $res"
echo "$res" | head -n1 | json_get "d['reason']" | grep -qx superseded || fail "API revoke answer: $res"
[ "$(pebble_status "$T/certs/web2.pem" Reason)" = 4 ] || fail "Pebble does not know web2 as superseded"

# ---- refusals, with words ----
out=$(ck revoke -i web3 --reason stolen 2>&1) && fail "accepted a reason that is not a CRLReason"
grep -q "keyCompromise" <<<"$out" || fail "no words about reasons: $out"
[ "$(pebble_status "$T/certs/web3.pem" Status)" = Valid ] || fail "web3 was revoked anyway"
ck request -I loc -c local -f "$T/certs/loc.pem" -k "$T/certs/loc.key" -N CN=loc >/dev/null || fail "local request"
wait_state loc MONITORING 30
out=$(ck revoke -i loc 2>&1) && fail "revoked a certificate of the local CA"
grep -q "not ACME" <<<"$out" || fail "no words for a non-ACME CA: $out"
out=$(ck acme-account -c local --rollover 2>&1) && fail "account operation on the local CA"
grep -q "not ACME" <<<"$out" || fail "no words for a non-ACME CA: $out"
out=$(ck acme-account -c pebble --rollover --deactivate 2>&1) && fail "accepted two account actions"
grep -q "exactly one" <<<"$out" || fail "no words for two actions: $out"
out=$(ck acme-account -c nosuch --rollover 2>&1) && fail "account operation on a missing CA"
grep -q 'No CA with name "nosuch"' <<<"$out" || fail "no words for a missing CA: $out"

# ---- the contact ----
out=$(ck acme-account -c pebble --email ops@example.test 2>&1) || fail "email update failed: $out"
grep -q "contact was updated" <<<"$out" || fail "email update said: $out"
api GET /api/v1/cas/pebble | head -n1 | json_get "d['config']['email']" | grep -qx ops@example.test ||
        fail "the CA's email setting did not follow"

# ---- key rollover: the old key kept, new orders issued by every helper worker ----
K="$STATE/acme/pebble/account.key"
before=$(sha256sum <"$K")
out=$(ck acme-account -c pebble --rollover 2>&1) || fail "rollover failed: $out"
grep -q "rolled over" <<<"$out" || fail "rollover said: $out"
[ "$(sha256sum <"$K")" != "$before" ] || fail "the account key did not change"
[ "$(sha256sum <"$K.old")" = "$before" ] || fail "the previous key is not kept as account.key.old"
[ "$(stat -c %a "$K")" = 600 ] && [ "$(stat -c %a "$K.old")" = 600 ] || fail "account keys are not 0600"
openssl pkey -in "$K" -noout -text 2>/dev/null | grep -q "prime256v1\|P-256" || fail "the new key is not EC P-256"
for n in 4 5 6; do
        ck request -I "web$n" -c pebble -f "$T/certs/web$n.pem" -k "$T/certs/web$n.key" -D "web$n.example.test" \
                >/dev/null || fail "request web$n failed"
done
for n in 4 5 6; do wait_state "web$n" MONITORING 60; done
# The same account: it may revoke web3, which the old key ordered.
ck revoke -i web3 >/dev/null 2>&1 || fail "the rolled-over account cannot revoke its older certificate"
[ "$(pebble_status "$T/certs/web3.pem" Status)" = Revoked ] || fail "web3 not revoked after the rollover"

# ---- deactivation: later orders need a person, with words ----
out=$(ck acme-account -c pebble --deactivate 2>&1) || fail "deactivate failed: $out"
grep -q "deactivated" <<<"$out" || fail "deactivate said: $out"
[ ! -e "$K" ] && [ -s "$K.deactivated" ] || fail "the deactivated account's key was not moved aside"
ck request -I late -c pebble -f "$T/certs/late.pem" -k "$T/certs/late.key" -D late.example.test >/dev/null
wait_state late NEED_GUIDANCE 60
cert_field late ca_error | grep -q "deactivated" || fail "no words for a deactivated account: $(cert_field late ca_error)"
out=$(ck acme-account -c pebble --rollover 2>&1) && fail "rollover of a deactivated account succeeded"
grep -q "deactivated" <<<"$out" || fail "no words for a rollover after deactivation: $out"
echo ok
