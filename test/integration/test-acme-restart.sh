#!/bin/bash
# An ACME CA that dies in the middle of orders and comes back on the same address, against a real
# Pebble on loopback; and a certificate's own ACME settings over its CA's.
#
# The CA answers http-01 by default; four certificates ask for dns-01 through a hook of their own
# (request --challenge dns-01 --dns01-hook, no propagation check: Pebble's mock DNS is no zone's
# server). The hook sets the TXT record in Pebble's mock DNS and
# then holds each order until the test lets it go, so that Pebble is killed (SIGKILL) with all four
# orders in flight. They must end in CA_UNREACHABLE with words, and all be issued, without any
# command, once Pebble is back on the same ports: a new Pebble, which knows neither the account nor
# the orders. [renewal] retry_delay = 2s keeps the backoff short enough for a test. Then the CA's
# pace: with --order-rate 2/15s, four new orders take at least two windows.
# shellcheck source=test/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/integration/lib-pebble.sh
. "$(dirname "$0")/lib-pebble.sh"

pebble_require

start_pebble || fail "pebble did not start"
printf '[renewal]\nretry_delay = 2s\n' >>"$CONF"
start_daemon
mkdir -p "$T/certs"

ck add-ca -c pebble --acme "$PEBBLE_DIR_URL" --agree-tos --ca-bundle "$PEBBLE_CA" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP_PORT" >/dev/null || fail "add-ca --acme failed"

# The CA's own setting: http-01.
ck request -I plain -c pebble -f "$T/certs/plain.pem" -k "$T/certs/plain.key" -D plain.example.test >/dev/null ||
        fail "request failed"
wait_state plain MONITORING 60

# ---- a certificate's own settings: refusals with words ----
out=$(ck request -I x1 -c pebble -f "$T/certs/x1.pem" -k "$T/certs/x1.key" -D x1.example.test \
        --eab-kid kid-1 2>&1) && fail "request accepted an account setting"
grep -q "modify-ca" <<<"$out" || fail "no words about where account settings go: $out"
out=$(ck request -I x2 -c pebble -f "$T/certs/x2.pem" -k "$T/certs/x2.key" -D x2.example.test \
        --challenge dns-02 2>&1) && fail "request accepted an unknown challenge"
grep -q "dns-02" <<<"$out" || fail "no words about the challenge: $out"
out=$(ck request -I x3 -c pebble -f "$T/certs/x3.pem" -k "$T/certs/x3.key" -D x3.example.test \
        --challenge dns-01 2>&1) && fail "request accepted dns-01 without a way to answer it"
grep -q "dns01" <<<"$out" || fail "no words about the dns-01 hook: $out"
out=$(ck request -I x4 -c local -f "$T/certs/x4.pem" -k "$T/certs/x4.key" -D x4.example.test \
        --challenge dns-01 2>&1) && fail "a local CA request accepted ACME settings"
grep -q "ACME CA" <<<"$out" || fail "no words about ACME CAs: $out"
for n in x1 x2 x3 x4; do
        [ "$(api GET "/api/v1/certificates/$n" | tail -n1)" = 404 ] || fail "refused request $n was kept"
done

# ---- four orders in flight when Pebble dies ----
cat >"$T/hold-hook.sh" <<EOF
#!/bin/sh
case "\$1" in
begin)
        curl -sf -X POST -d "{\"host\":\"\$CERTKEEPER_ACME_TXT_NAME.\",\"value\":\"\$CERTKEEPER_ACME_TXT_VALUE\"}" \
                "$CHALLTEST_MGMT/set-txt" || exit 1
        touch "$T/begun.\$2"
        i=0
        while [ ! -e "$T/go" ] && [ \$i -lt 300 ]; do sleep 0.1; i=\$((i + 1)); done ;;
*) curl -sf -X POST -d "{\"host\":\"\$CERTKEEPER_ACME_TXT_NAME.\"}" "$CHALLTEST_MGMT/clear-txt" ;;
esac
exit 0
EOF
chmod 0755 "$T/hold-hook.sh"
for i in 1 2 3 4; do
        ck request -I "held$i" -c pebble -f "$T/certs/held$i.pem" -k "$T/certs/held$i.key" -D "held$i.example.test" \
                --challenge dns-01 --dns01-hook "$T/hold-hook.sh" --dns01-propagation-timeout 0 >/dev/null ||
                fail "request held$i failed"
done
api GET /api/v1/certificates/held1 | grep -q '"challenge": *"dns-01"' || fail "the certificate's settings are not shown"
getcert list -i held1 | grep -q "CA settings of this certificate: challenge=dns-01, dns01_hook=$T/hold-hook.sh, dns01_propagation_timeout=0" ||
        fail "list does not show the certificate's CA settings"
wait_until 60 sh -c "ls '$T'/begun.* 2>/dev/null | wc -l | grep -qx 4" || fail "the four orders did not reach their challenges"
kill_pebble
touch "$T/go"
for i in 1 2 3 4; do
        wait_state "held$i" CA_UNREACHABLE 60
        [ -n "$(cert_field "held$i" ca_error)" ] || fail "held$i: no words for the CA that went away"
done
getcert list -i held1 | grep -q "ca-error: " || fail "list shows no ca-error"

# ---- Pebble is back on the same ports: everything completes by itself ----
restart_pebble || fail "pebble did not come back"
for i in 1 2 3 4; do
        wait_state "held$i" MONITORING 90
        openssl x509 -in "$T/certs/held$i.pem" -noout -ext subjectAltName | grep -q "held$i.example.test" ||
                fail "held$i: not the certificate asked for"
done
# The others keep the CA's own settings (http-01), with the CA that came back.
old=$(cert_field plain serial)
ck resubmit -i plain >/dev/null
wait_until 60 sh -c "[ \"\$(curl -s --unix-socket '$RUN/api.sock' http://localhost/api/v1/certificates/plain |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[\"state\"], d[\"serial\"])')\" != 'MONITORING $old' ] &&
        curl -s --unix-socket '$RUN/api.sock' http://localhost/api/v1/certificates/plain | grep -q '\"MONITORING\"'" ||
        fail "plain was not renewed"
# ---- --validity asks for a notAfter ----
ck request -I short -c pebble -f "$T/certs/short.pem" -k "$T/certs/short.key" -D short.example.test \
        --validity 2d >/dev/null || fail "request --validity failed"
wait_state short MONITORING 60
left=$(( $(date -d "$(openssl x509 -in "$T/certs/short.pem" -noout -enddate | cut -d= -f2)" +%s) - $(date +%s) ))
[ "$left" -gt 86400 ] && [ "$left" -le $((2 * 86400 + 60)) ] || fail "notAfter not as asked: ${left}s left"

# ---- pacing: at most 2 new orders per 15 s for this CA ----
out=$(ck modify-ca -c pebble --order-rate 2/soon 2>&1) && fail "a bad --order-rate was accepted"
grep -q "order-rate" <<<"$out" || fail "no words about --order-rate: $out"
ck modify-ca -c pebble --order-rate 2/15s >/dev/null || fail "modify-ca --order-rate failed"
t0=$(date +%s)
for i in 1 2 3 4; do
        ck request -I "paced$i" -c pebble -f "$T/certs/paced$i.pem" -k "$T/certs/paced$i.key" \
                -D "paced$i.example.test" >/dev/null || fail "request paced$i failed"
done
declare -A done_at=()
for _ in $(seq 600); do
        for i in 1 2 3 4; do
                [ -n "${done_at[$i]:-}" ] && continue
                [ "$(cert_field "paced$i" state)" = MONITORING ] && done_at[$i]=$(date +%s)
        done
        [ "${#done_at[@]}" = 4 ] && break
        sleep 0.1
done
[ "${#done_at[@]}" = 4 ] || fail "the paced requests did not all complete: ${!done_at[*]}"
early=0
for i in 1 2 3 4; do [ "${done_at[$i]}" -lt $((t0 + 14)) ] && early=$((early + 1)); done
[ "$early" -le 2 ] || fail "$early orders were issued within the first window of 2 per 15 s"
echo ok
