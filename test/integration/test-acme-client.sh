#!/bin/bash
# The ACME client library (src/ca/acme.c) against a real Pebble on loopback, through test/acme's
# acme-drive: account creation and reuse, http-01 for a DNS name and for 127.0.0.1, dns-01 for a
# wildcard via challtestsrv, revocation, key rollover, contact update, deactivation, external
# account binding, alternate chains with a preferred chain, a high badNonce rate, and ACME_WAIT
# with a resume.
# shellcheck source=test/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/integration/lib-pebble.sh
. "$(dirname "$0")/lib-pebble.sh"

pebble_require

DRIVE="$BUILD_DIR/test/acme/acme-drive"
[ -x "$DRIVE" ] || fail "no $DRIVE"
W="$T/acme"
mkdir -p "$W"

drive() { "$DRIVE" --dir "$PEBBLE_DIR_URL" --ca "$PEBBLE_CA" "$@"; }

# new_csr NAME [SAN]: a P-256 key and a DER CSR in $W/NAME.{key,csr}
new_csr() {
        local name=$1 san=${2:-DNS:$1}
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/$name.key" \
                -subj "/CN=${name#\*.}" -addext "subjectAltName=$san" -outform DER -out "$W/$name.csr" 2>/dev/null
}

# verify NAME ROOT_INDEX: the issued cert for NAME.key, chained to Pebble's root
verify() {
        local name=$1 idx=${2:-0}
        curl -sf --cacert "$PEBBLE_CA" "$PEBBLE_MGMT/roots/$idx" >"$W/root$idx.pem" || fail "no root $idx"
        openssl verify -CAfile "$W/root$idx.pem" -untrusted "$W/$name.chain" "$W/$name.crt" >/dev/null ||
                fail "certificate for $name does not verify against root $idx"
        [ "$(openssl x509 -in "$W/$name.crt" -noout -pubkey)" = "$(openssl pkey -in "$W/$name.key" -pubout)" ] ||
                fail "certificate for $name is not for its key"
}

cert_status() { # cert_status CERT -> Valid|Revoked
        local serial
        serial=$(openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'A-F' 'a-f' | sed 's/^0*//')
        curl -sf --cacert "$PEBBLE_CA" "$PEBBLE_MGMT/cert-status-by-serial/$serial" | json_get "d['Status']"
}

top_issuer_cn() { # the issuer CN of the last certificate of a PEM file
        python3 - "$1" <<'EOF'
import re, subprocess, sys
pems = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", open(sys.argv[1]).read(), re.S)
out = subprocess.run(["openssl", "x509", "-noout", "-issuer", "-nameopt", "multiline"], input=pems[-1].encode(),
                     capture_output=True, check=True).stdout.decode()
print(re.search(r"commonName\s*=\s*(.*)", out).group(1).strip())
EOF
}

start_pebble

echo "== account created, then reused"
drive --key "$W/account.key" --agree-tos --email admin@example.test account >"$W/acct1" || fail "account"
grep -q '^account-url: https://127.0.0.1' "$W/acct1" || fail "no account url"
[ "$(stat -c %a "$W/account.key")" = 600 ] || fail "account key not 0600"
drive --key "$W/account.key" --agree-tos account >"$W/acct2" || fail "account again"
cmp -s "$W/acct1" "$W/acct2" || fail "account not reused"

echo "== terms of service not agreed: ACME_CONFIG"
if drive --key "$W/other.key" account 2>"$W/tos.err"; then fail "account without agreeing to the terms"; fi
grep -q '^outcome: configuration' "$W/tos.err" || fail "no config outcome: $(cat "$W/tos.err")"

echo "== http-01 for a DNS name"
new_csr web.example.test
drive --key "$W/account.key" --agree-tos --csr "$W/web.example.test.csr" --dns web.example.test \
        --http-port "$PEBBLE_HTTP_PORT" --out-cert "$W/web.example.test.crt" --out-chain "$W/web.example.test.chain" \
        issue >"$W/issue1.out" 2>"$W/issue1.err" || { cat "$W/issue1.err"; fail "issue http-01"; }
verify web.example.test
grep -q '^cleanup http-01' "$W/issue1.err" || fail "cleanup did not run"

echo "== http-01 for 127.0.0.1 (with a DNS name), RSA account key"
new_csr ipcert "IP:127.0.0.1,DNS:ip.example.test"
drive --key "$W/account-rsa.key" --key-type RSA --agree-tos --csr "$W/ipcert.csr" --ip 127.0.0.1 \
        --dns ip.example.test --http-port "$PEBBLE_HTTP_PORT" --out-cert "$W/ipcert.crt" --out-chain "$W/ipcert.chain" \
        issue >/dev/null 2>"$W/issue2.err" || { cat "$W/issue2.err"; fail "issue ip"; }
verify ipcert
openssl x509 -in "$W/ipcert.crt" -noout -ext subjectAltName | grep -q "IP Address:127.0.0.1" || fail "no IP SAN"
grep -q "RSA" "$W/account-rsa.key" || openssl pkey -in "$W/account-rsa.key" -noout -text | grep -q "Private-Key: (2048 bit" ||
        fail "RSA account key not RSA"

echo "== dns-01 for a wildcard and its apex"
new_csr '*.example.test' "DNS:*.example.test,DNS:example.test"
drive --key "$W/account.key" --agree-tos --csr "$W/*.example.test.csr" --dns '*.example.test' --dns example.test \
        --challenge dns-01 --challtest "$CHALLTEST_MGMT" --out-cert "$W/*.example.test.crt" \
        --out-chain "$W/*.example.test.chain" issue >/dev/null 2>"$W/issue3.err" || { cat "$W/issue3.err"; fail "issue dns-01"; }
verify '*.example.test'
grep -q '^cleanup dns-01' "$W/issue3.err" || fail "dns cleanup did not run"

echo "== a wildcard with http-01 is refused with words"
new_csr '*.fresh.example.test'
if drive --key "$W/account.key" --agree-tos --csr "$W/*.fresh.example.test.csr" --dns '*.fresh.example.test' \
        --http-port "$PEBBLE_HTTP_PORT" issue >/dev/null 2>"$W/wild.err"; then fail "wildcard over http-01"; fi
grep -q 'wildcards need dns-01' "$W/wild.err" || fail "no wildcard words: $(cat "$W/wild.err")"

echo "== http-01 with nobody answering: ACME_REJECTED with the CA's detail"
new_csr nobody.example.test
if drive --key "$W/account.key" --csr "$W/nobody.example.test.csr" --dns nobody.example.test \
        --http-port "$(free_port)" issue >/dev/null 2>"$W/nobody.err"; then
        fail "issued without an answer"
fi
grep -q '^outcome: rejected' "$W/nobody.err" || fail "not rejected: $(cat "$W/nobody.err")"
grep -q '^message: The CA did not validate dns .nobody.example.test. (http-01): .*(connection)' "$W/nobody.err" ||
        fail "no CA detail: $(cat "$W/nobody.err")"
grep -q '^cleanup http-01' "$W/nobody.err" || fail "cleanup did not run after a failure"

echo "== a challenge handler that fails: ACME_CONFIG, cleanup run"
if drive --key "$W/account.key" --agree-tos --csr "$W/nobody.example.test.csr" --dns nobody.example.test \
        --challenge dns-01 --challtest "http://127.0.0.1:1" issue >/dev/null 2>"$W/nobody.err"; then
        fail "issued without an answer"
fi
grep -q '^outcome: configuration' "$W/nobody.err" || fail "handler failure not reported: $(cat "$W/nobody.err")"
grep -q '^cleanup dns-01' "$W/nobody.err" || fail "cleanup did not run after present() failed"

echo "== revocation"
[ "$(cert_status "$W/web.example.test.crt")" = Valid ] || fail "not valid before revocation"
drive --key "$W/account.key" --agree-tos --cert "$W/web.example.test.crt" --reason 4 revoke >/dev/null ||
        fail "revoke"
[ "$(cert_status "$W/web.example.test.crt")" = Revoked ] || fail "not revoked"
if drive --key "$W/account.key" --agree-tos --cert "$W/web.example.test.crt" revoke 2>"$W/rev2.err" >/dev/null; then
        fail "revoked twice"
fi
grep -q '^outcome: rejected' "$W/rev2.err" || fail "second revocation: $(cat "$W/rev2.err")"

echo "== ARI: Pebble 2.4 has none"
drive --key "$W/account.key" --cert "$W/ipcert.crt" ari >"$W/ari.out" || fail "ari"
grep -q '^ari: unsupported' "$W/ari.out" || fail "ari: $(cat "$W/ari.out")"

echo "== contact update"
drive --key "$W/account.key" --email ops@example.test update >/dev/null || fail "update"

echo "== key rollover"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/new-account.key" 2>/dev/null
drive --key "$W/account.key" --new-key "$W/new-account.key" keychange >"$W/kc.out" || fail "keychange"
old_url=$(sed -n 's/^account-url: //p' "$W/kc.out")
drive --key "$W/new-account.key" account >"$W/kc2.out" || fail "account with the new key"
[ "$(sed -n 's/^account-url: //p' "$W/kc2.out")" = "$old_url" ] || fail "new key has another account"
if drive --key "$W/account.key" account 2>"$W/kc3.err" >/dev/null; then fail "old key still has the account"; fi
grep -q '^type: accountDoesNotExist\|^outcome: configuration' "$W/kc3.err" || fail "old key: $(cat "$W/kc3.err")"

echo "== deactivation"
drive --key "$W/account-rsa.key" deactivate >/dev/null || fail "deactivate"
if drive --key "$W/account-rsa.key" account 2>"$W/deact.err" >/dev/null; then fail "deactivated account still used"; fi

echo "== ACME_WAIT with a tiny poll budget, then resume"
# dns-01 through challtestsrv: the answer outlives the process that returned ACME_WAIT (no cleanup
# on ACME_WAIT), as a daemon's responder would.
new_csr slow.example.test
rc=0
drive --key "$W/new-account.key" --csr "$W/slow.example.test.csr" --dns slow.example.test \
        --challenge dns-01 --challtest "$CHALLTEST_MGMT" --budget-ms 0 issue >"$W/wait.out" 2>"$W/wait.err" || rc=$?
[ $rc = 75 ] || { cat "$W/wait.err"; fail "expected ACME_WAIT (75), got $rc"; }
grep -q '^outcome: wait' "$W/wait.err" || fail "no wait outcome"
order_url=$(sed -n 's/^order-url: //p' "$W/wait.out")
[ -n "$order_url" ] || fail "no order url on ACME_WAIT"
for _ in $(seq 50); do
        rc=0
        drive --key "$W/new-account.key" --csr "$W/slow.example.test.csr" --dns slow.example.test \
                --challenge dns-01 --challtest "$CHALLTEST_MGMT" --order-url "$order_url" --budget-ms 200 \
                --out-cert "$W/slow.example.test.crt" --out-chain "$W/slow.example.test.chain" issue \
                >"$W/resume.out" 2>"$W/resume.err" || rc=$?
        cat "$W/resume.err" >>"$W/resume.all"
        [ $rc = 75 ] || break
done
[ $rc = 0 ] || { cat "$W/resume.err"; fail "resume failed ($rc)"; }
# The answer is removed by the first call if the CA had decided before the budget ran out (it then
# waits for the certificate), and by the resume in any case (it cannot know: cleanup is idempotent).
grep -q '^cleanup dns-01' "$W/resume.all" || fail "no cleanup by the resume"
if grep -q '^outcome: wait' "$W/wait.err" && grep -q 'Validating the challenges' "$W/wait.err"; then
        grep -q '^cleanup' "$W/wait.err" && fail "cleanup ran on ACME_WAIT while the CA validated"
fi
verify slow.example.test
stop_pebble

echo "== 50 % of nonces rejected: badNonce retried"
start_pebble PEBBLE_WFE_NONCEREJECT=50
new_csr nonce.example.test
# About a dozen signed requests, each retried up to 5 times: one runs out of retries in ~1.6 % of
# the cases (0.5^6), so the whole issue fails now and then. That failure must be a transient one
# (badNonce, ACME_UNREACHABLE), and a later try succeeds, as the daemon's retry would.
ok=
for _ in 1 2 3 4 5; do
        if drive --key "$W/nonce-account.key" --agree-tos --csr "$W/nonce.example.test.csr" --dns nonce.example.test \
                --http-port "$PEBBLE_HTTP_PORT" --out-cert "$W/nonce.example.test.crt" \
                --out-chain "$W/nonce.example.test.chain" issue >/dev/null 2>"$W/nonce.err"; then
                ok=1
                break
        fi
        grep -q '^type: badNonce' "$W/nonce.err" && grep -q '^outcome: unreachable' "$W/nonce.err" ||
                { cat "$W/nonce.err"; fail "issue with nonce rejection"; }
done
[ -n "$ok" ] || fail "badNonce retries ran out five times"
verify nonce.example.test
stop_pebble

echo "== alternate roots: the preferred chain"
start_pebble PEBBLE_ALTERNATE_ROOTS=1
curl -sf --cacert "$PEBBLE_CA" "$PEBBLE_MGMT/roots/1" >"$W/root1.pem" || fail "no alternate root"
alt_cn=$(openssl x509 -in "$W/root1.pem" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')
[ -n "$alt_cn" ] || fail "no alternate root CN"
new_csr alt.example.test
drive --key "$W/alt-account.key" --agree-tos --csr "$W/alt.example.test.csr" --dns alt.example.test \
        --http-port "$PEBBLE_HTTP_PORT" --preferred-chain "$alt_cn" --out-cert "$W/alt.example.test.crt" \
        --out-chain "$W/alt.example.test.chain" issue >/dev/null 2>"$W/alt.err" || { cat "$W/alt.err"; fail "issue alt"; }
[ "$(top_issuer_cn "$W/alt.example.test.chain")" = "$alt_cn" ] || fail "preferred chain not chosen"
verify alt.example.test 1
new_csr default.example.test
drive --key "$W/alt-account.key" --csr "$W/default.example.test.csr" --dns default.example.test \
        --http-port "$PEBBLE_HTTP_PORT" --out-cert "$W/default.example.test.crt" \
        --out-chain "$W/default.example.test.chain" issue >/dev/null 2>"$W/def.err" || { cat "$W/def.err"; fail "issue default"; }
verify default.example.test 0
stop_pebble

echo "== external account binding"
start_pebble PEBBLE_EAB=1
hmac=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pebble"]["externalAccountMACKeys"]["kid-1"])' \
        "$PEBBLE_EAB_EXAMPLE")
if drive --key "$W/eab-none.key" --agree-tos account 2>"$W/eab0.err" >/dev/null; then fail "account without EAB"; fi
grep -q '^outcome: configuration' "$W/eab0.err" || fail "no EAB: $(cat "$W/eab0.err")"
if drive --key "$W/eab-bad.key" --agree-tos --eab-kid kid-1 --eab-hmac "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" account \
        2>"$W/eab1.err" >/dev/null; then fail "account with a wrong EAB key"; fi
grep -q '^outcome: configuration' "$W/eab1.err" || fail "wrong EAB key: $(cat "$W/eab1.err")"
drive --key "$W/eab.key" --agree-tos --eab-kid kid-1 --eab-hmac "$hmac" account >/dev/null || fail "account with EAB"
new_csr eab.example.test
drive --key "$W/eab.key" --csr "$W/eab.example.test.csr" --dns eab.example.test --http-port "$PEBBLE_HTTP_PORT" \
        --out-cert "$W/eab.example.test.crt" --out-chain "$W/eab.example.test.chain" issue >/dev/null 2>"$W/eab.err" ||
        { cat "$W/eab.err"; fail "issue with the EAB account"; }
verify eab.example.test
stop_pebble

echo "OK"
