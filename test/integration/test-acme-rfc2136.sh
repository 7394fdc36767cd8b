#!/bin/bash
# dns-01 over RFC 2136 with TSIG, against a real authoritative DNS server (knotd) on loopback, with
# Pebble's VA resolving through it: a certificate for a name and one for a wildcard and its apex,
# the TXT records gone afterwards (and the records of others at the same name kept), a TXT answer
# too big for UDP (the TCP fallback), a key the server does not know (BADKEY words in the CA
# error), an unsigned update knot refuses, a name in no zone of the server, no server at all, bad
# key files refused by add-ca, and the propagation check after a hook (one that updates knot, and
# one that does not: the lagging server named), and validation delegated with a CNAME
# (_acme-challenge.cname.example.test -> cname.acme.test, another zone, whose key may update only
# that zone) over RFC 2136 and through a hook, and a CNAME loop. Nothing leaves 127.0.0.1:
# certkeeper's resolver and the name servers' port are the knot server's; Pebble resolves through
# test/acme/cname-resolver.py, which chases the CNAMEs knot does not follow across zones.
# shellcheck source=test/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/integration/lib-pebble.sh
. "$(dirname "$0")/lib-pebble.sh"

if ! command -v knotd >/dev/null || ! command -v kdig >/dev/null || ! command -v knsupdate >/dev/null; then
        echo "knotd, kdig or knsupdate not installed: skipping"
        exit 77
fi
pebble_require

KNOT_PID=
RESOLVER_PID=
stop_knot() {
        local p
        for p in "$RESOLVER_PID" "$KNOT_PID"; do
                if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
                        kill -TERM "$p" 2>/dev/null || true
                        wait "$p" 2>/dev/null || true
                fi
        done
        KNOT_PID= RESOLVER_PID=
}
trap 'rc=$?; stop_pebble; stop_knot; set +e; (exit $rc); cleanup' EXIT

K="$T/knot"
mkdir -p "$K/zones" "$K/db" "$T/certs"
KPORT=$(free_port)
SECRET=$(openssl rand -base64 32)
CNAME_SECRET=$(openssl rand -base64 32)
cat >"$K/knot.conf" <<EOF
server:
    rundir: "$K"
    pidfile: "$K/knot.pid"
    listen: 127.0.0.1@$KPORT
database:
    storage: "$K/db"
log:
  - target: stderr
    any: info
key:
  - id: certkeeper-test.
    algorithm: hmac-sha256
    secret: $SECRET
  - id: certkeeper-cname.
    algorithm: hmac-sha256
    secret: $CNAME_SECRET
acl:
  - id: update
    key: certkeeper-test.
    action: update
    update-type: TXT
  - id: update-cname
    key: certkeeper-cname.
    action: update
    update-type: TXT
zone:
  - domain: example.test
    storage: "$K/zones"
    file: example.test.zone
    acl: update
    zonefile-sync: -1
  - domain: locked.test
    storage: "$K/zones"
    file: locked.test.zone
  - domain: acme.test
    storage: "$K/zones"
    file: acme.test.zone
    acl: [update, update-cname]
    zonefile-sync: -1
EOF
cat >"$K/zones/example.test.zone" <<EOF
\$ORIGIN example.test.
\$TTL 60
@     SOA ns1 hostmaster 1 3600 600 86400 60
@     NS  ns1
ns1   A   127.0.0.1
EOF
sed 's/example\.test\./locked.test./' "$K/zones/example.test.zone" >"$K/zones/locked.test.zone"
sed 's/example\.test\./acme.test./' "$K/zones/example.test.zone" >"$K/zones/acme.test.zone"
# Validation delegated to acme.test, and a loop.
cat >>"$K/zones/example.test.zone" <<EOF
_acme-challenge.cname      CNAME cname.acme.test.
_acme-challenge.hookcname  CNAME hookcname.acme.test.
_acme-challenge.loop       CNAME loop2
loop2                      CNAME _acme-challenge.loop
EOF
knotd -c "$K/knot.conf" >"$K/knotd.log" 2>&1 &
KNOT_PID=$!
wait_until 10 sh -c "kdig -p $KPORT @127.0.0.1 +short example.test SOA | grep -q hostmaster" ||
        { cat "$K/knotd.log"; fail "knotd did not start"; }

# The key file as BIND's tsig-keygen writes it, and the one-liner form for the hook's knsupdate.
cat >"$T/tsig.key" <<EOF
key "certkeeper-test" {
        algorithm hmac-sha256;
        secret "$SECRET";
};
EOF
chmod 0600 "$T/tsig.key"
echo "hmac-sha256:unknown-key:$(openssl rand -base64 32)" >"$T/unknown.key"
echo "hmac-sha256:certkeeper-cname:$CNAME_SECRET" >"$T/cname.key"
chmod 0600 "$T/cname.key"

kdig_txt() { kdig -p "$KPORT" @127.0.0.1 +short "$1" TXT; }

python3 "$SOURCE_DIR/test/acme/cname-resolver.py" "$KPORT" "$T/resolver.port" &
RESOLVER_PID=$!
wait_until 10 test -s "$T/resolver.port" || fail "cname-resolver.py did not start"
start_pebble PEBBLE_DNS="127.0.0.1:$(cat "$T/resolver.port")" || fail "pebble did not start"
start_daemon

DNSOPTS=(--challenge dns-01 --dns01-resolver "127.0.0.1:$KPORT" --dns01-ns-port "$KPORT")

echo "== add-ca refuses a bad key file, an unreadable one, and a server that is not an address"
echo 'key "x" { algorithm hmac-sha256; secret "not base64!"; };' >"$T/bad.key"
out=$(ck add-ca -c nope --acme "$PEBBLE_DIR_URL" --agree-tos --ca-bundle "$PEBBLE_CA" "${DNSOPTS[@]}" \
        --dns01-rfc2136 "127.0.0.1:$KPORT" --tsig-key "$T/bad.key" 2>&1) && fail "accepted a bad key file"
grep -q "TSIG key file '$T/bad.key'.*base64" <<<"$out" || fail "no words about the bad key: $out"
out=$(ck add-ca -c nope --acme "$PEBBLE_DIR_URL" --agree-tos --ca-bundle "$PEBBLE_CA" "${DNSOPTS[@]}" \
        --dns01-rfc2136 "127.0.0.1:$KPORT" --tsig-key "$T/missing.key" 2>&1) && fail "accepted a missing key file"
grep -q "TSIG key file '$T/missing.key' cannot be read" <<<"$out" || fail "no words about the missing key: $out"
out=$(ck add-ca -c nope --acme "$PEBBLE_DIR_URL" --agree-tos --ca-bundle "$PEBBLE_CA" "${DNSOPTS[@]}" \
        --dns01-rfc2136 "dns.example.test:53" --tsig-key "$T/tsig.key" 2>&1) && fail "accepted a host name"
grep -q "RFC 2136 server 'dns.example.test:53' is not ADDRESS" <<<"$out" || fail "no words about the server: $out"

echo "== a name and a wildcard over RFC 2136"
ck add-ca -c knot --acme "$PEBBLE_DIR_URL" --agree-tos --ca-bundle "$PEBBLE_CA" "${DNSOPTS[@]}" \
        --dns01-rfc2136 "127.0.0.1:$KPORT" --tsig-key "$T/tsig.key" >/dev/null || fail "add-ca rfc2136 failed"
ck request -I www -c knot -f "$T/certs/www.pem" -k "$T/certs/www.key" -D www.example.test >/dev/null ||
        fail "request www failed"
ck request -I wild -c knot -f "$T/certs/wild.pem" -k "$T/certs/wild.key" -D '*.example.test' -D example.test \
        >/dev/null || fail "request wildcard failed"
wait_state www MONITORING 60
wait_state wild MONITORING 60
openssl x509 -in "$T/certs/www.pem" -noout -ext subjectAltName | grep -q "DNS:www.example.test" || fail "no www SAN"
openssl x509 -in "$T/certs/wild.pem" -noout -ext subjectAltName | grep -q '\*.example.test' || fail "no wildcard SAN"
# Cleanup deleted exactly what was added: no TXT left at either name.
wait_until 10 sh -c "[ -z \"\$(kdig -p $KPORT @127.0.0.1 +short _acme-challenge.www.example.test TXT)\" ] &&
        [ -z \"\$(kdig -p $KPORT @127.0.0.1 +short _acme-challenge.example.test TXT)\" ]" ||
        fail "TXT records left behind: $(kdig_txt _acme-challenge.www.example.test) $(kdig_txt _acme-challenge.example.test)"
# ... and nothing else: a TXT record someone else keeps at the same name survives an order.
knsupdate -y "hmac-sha256:certkeeper-test:$SECRET" <<EOF || fail "knsupdate failed"
server 127.0.0.1 $KPORT
zone example.test.
update add _acme-challenge.keep.example.test. 60 TXT "not-ours"
send
EOF
ck request -I keep -c knot -f "$T/certs/keep.pem" -k "$T/certs/keep.key" -D keep.example.test >/dev/null ||
        fail "request keep failed"
wait_state keep MONITORING 60
[ "$(kdig_txt _acme-challenge.keep.example.test)" = '"not-ours"' ] ||
        fail "the record of someone else was touched: $(kdig_txt _acme-challenge.keep.example.test)"

echo "== a TXT answer too big for UDP: the propagation check asks again over TCP"
# 4 x 200 characters do not fit in 512 octets: knot truncates the answer over UDP. Pebble's VA
# does not retry over TCP, so the CA refuses the validation with its own words; that it was asked
# at all shows that our check saw the record (it would fail with its own words otherwise).
long=$(printf 'x%.0s' $(seq 200))
{
        echo "server 127.0.0.1 $KPORT"
        echo "zone example.test."
        for i in 1 2 3 4; do echo "update add _acme-challenge.big.example.test. 60 TXT \"not-ours-$i-$long\""; done
        echo send
} | knsupdate -y "hmac-sha256:certkeeper-test:$SECRET" || fail "knsupdate failed"
kdig -p "$KPORT" @127.0.0.1 +notcp +noedns +ignore _acme-challenge.big.example.test TXT | grep -qi "flags:.* tc" ||
        fail "knot does not truncate the TXT answer over UDP: the TCP fallback would not be tested"
ck add-ca -c big --acme "$PEBBLE_DIR_URL" --agree-tos --ca-bundle "$PEBBLE_CA" "${DNSOPTS[@]}" \
        --dns01-rfc2136 "127.0.0.1:$KPORT" --tsig-key "$T/tsig.key" --dns01-propagation-timeout 5 >/dev/null ||
        fail "add-ca big failed"
ck request -I big -c big -f "$T/certs/big.pem" -k "$T/certs/big.key" -D big.example.test >/dev/null
wait_state big CA_REJECTED 60
ck list -l -i big | grep -q "ca-error: .*The CA did not validate" || fail "not the CA's refusal: $(ck list -l -i big)"
[ "$(kdig_txt _acme-challenge.big.example.test | grep -c '^"not-ours-')" = 4 ] &&
        [ "$(kdig_txt _acme-challenge.big.example.test | grep -c .)" = 4 ] ||
        fail "not exactly the 4 records of someone else left: $(kdig_txt _acme-challenge.big.example.test | cut -c1-40)"

echo "== a key the server does not know: BADKEY in the CA error"
ck add-ca -c badkey --acme "$PEBBLE_DIR_URL" --agree-tos --ca-bundle "$PEBBLE_CA" "${DNSOPTS[@]}" \
        --dns01-rfc2136 "127.0.0.1:$KPORT" --tsig-key "$T/unknown.key" >/dev/null || fail "add-ca badkey failed"
ck request -I badkey -c badkey -f "$T/certs/badkey.pem" -k "$T/certs/badkey.key" -D badkey.example.test >/dev/null
wait_state badkey NEED_GUIDANCE 60
ck list -l -i badkey | grep -q "ca-error: .*BADKEY" || fail "no BADKEY words: $(ck list -l -i badkey)"
ck list -l -i badkey | grep -q "TSIG key 'unknown-key.'" || fail "the key is not named: $(ck list -l -i badkey)"
[ -z "$(kdig_txt _acme-challenge.badkey.example.test)" ] || fail "a record was added with an unknown key"

echo "== an unsigned update knot refuses, a name in no zone of the server, no server at all"
ck add-ca -c unsigned --acme "$PEBBLE_DIR_URL" --agree-tos --ca-bundle "$PEBBLE_CA" "${DNSOPTS[@]}" \
        --dns01-rfc2136 "127.0.0.1:$KPORT" >/dev/null || fail "add-ca unsigned failed"
ck request -I locked -c unsigned -f "$T/certs/locked.pem" -k "$T/certs/locked.key" -D www.locked.test >/dev/null
ck request -I nozone -c knot -f "$T/certs/nozone.pem" -k "$T/certs/nozone.key" -D www.nowhere.test >/dev/null
ck add-ca -c nobody --acme "$PEBBLE_DIR_URL" --agree-tos --ca-bundle "$PEBBLE_CA" "${DNSOPTS[@]}" \
        --dns01-rfc2136 "127.0.0.1:$(free_port)" --tsig-key "$T/tsig.key" >/dev/null || fail "add-ca nobody failed"
ck request -I nobody -c nobody -f "$T/certs/nobody.pem" -k "$T/certs/nobody.key" -D nobody.example.test >/dev/null
for r in locked nozone; do wait_state "$r" NEED_GUIDANCE 60; done
# No DNS server there is the network's fault, not the settings': tried again with the backoff.
wait_state nobody CA_UNREACHABLE 60
[ "$(cert_field nobody stuck)" = False ] || fail "nobody: stuck although the server may come back"
[ "$(cert_field nobody next_action_at)" -gt "$(date +%s)" ] || fail "nobody: no backoff before the next try"
ck list -l -i locked | grep -q "ca-error: .*answered \(NOTAUTH\|REFUSED\) to the update (add TXT _acme-challenge.www.locked.test.) of zone locked.test." ||
        fail "no words about the refused update: $(ck list -l -i locked)"
ck list -l -i nozone | grep -q "ca-error: .*answered REFUSED to the TXT query for _acme-challenge.www.nowhere.test.: it does not resolve" ||
        fail "no words about the zone: $(ck list -l -i nozone)"
ck list -l -i nobody | grep -q "ca-error: .*connection refused" || fail "no words about the server: $(ck list -l -i nobody)"

echo "== the propagation check after a hook"
cat >"$T/hook.sh" <<EOF
#!/bin/sh
# begin/done IDENTIFIER TOKEN KEYAUTH: the record in knot with knsupdate (in acme.test for a name
# delegated there; done, which gets no value, deletes every TXT record at the name), or (NOOP)
# nowhere.
[ -n "\$NOOP" ] && exit 0
rr="60 TXT \"\$CERTKEEPER_ACME_TXT_VALUE\""
op=add
[ "\$1" = done ] && op=delete rr=TXT
echo "\$1 \$CERTKEEPER_ACME_TXT_NAME \$CERTKEEPER_ACME_TXT_NAME_ORIGINAL" >>"$T/hook-env.log"
zone=example.test.
case "\$CERTKEEPER_ACME_TXT_NAME" in *.acme.test) zone=acme.test. ;; esac
knsupdate -y "hmac-sha256:certkeeper-test:$SECRET" <<EOT
server 127.0.0.1 $KPORT
zone \$zone
update \$op \$CERTKEEPER_ACME_TXT_NAME. \$rr
send
EOT
EOF
sed 's/^\[ -n "\$NOOP" \] && exit 0$/exit 0/' "$T/hook.sh" >"$T/noop-hook.sh"
chmod 0755 "$T/hook.sh" "$T/noop-hook.sh"
ck add-ca -c hook --acme "$PEBBLE_DIR_URL" --agree-tos --ca-bundle "$PEBBLE_CA" "${DNSOPTS[@]}" \
        --dns01-hook "$T/hook.sh" >/dev/null || fail "add-ca hook failed"
ck request -I hooked -c hook -f "$T/certs/hooked.pem" -k "$T/certs/hooked.key" -D hooked.example.test >/dev/null
ck request -I hookcname -c hook -f "$T/certs/hookcname.pem" -k "$T/certs/hookcname.key" \
        -D hookcname.example.test >/dev/null
wait_state hooked MONITORING 60
wait_state hookcname MONITORING 60
grep -qx "begin _acme-challenge.hooked.example.test _acme-challenge.hooked.example.test" "$T/hook-env.log" ||
        fail "the hook's names without a CNAME: $(cat "$T/hook-env.log")"
for m in begin done; do
        grep -qx "$m hookcname.acme.test _acme-challenge.hookcname.example.test" "$T/hook-env.log" ||
                fail "the hook's $m did not get the CNAME's target: $(cat "$T/hook-env.log")"
done
[ -z "$(kdig_txt hookcname.acme.test)" ] && [ -z "$(kdig_txt _acme-challenge.hooked.example.test)" ] ||
        fail "the hook's records left behind: $(kdig_txt hookcname.acme.test) $(kdig_txt _acme-challenge.hooked.example.test)"
ck add-ca -c lag --acme "$PEBBLE_DIR_URL" --agree-tos --ca-bundle "$PEBBLE_CA" "${DNSOPTS[@]}" \
        --dns01-hook "$T/noop-hook.sh" --dns01-propagation-timeout 2 >/dev/null || fail "add-ca lag failed"
ck request -I lag -c lag -f "$T/certs/lag.pem" -k "$T/certs/lag.key" -D lag.example.test >/dev/null
# A secondary behind: tried again later, with the backoff.
wait_state lag CA_UNREACHABLE 60
ck list -l -i lag | grep -q "ca-error: .*not on the authoritative server" || fail "no propagation words: $(ck list -l -i lag)"
ck list -l -i lag | grep -q "127.0.0.1:$KPORT (ns1.example.test.)" || fail "the lagging server is not named: $(ck list -l -i lag)"
[ ! -s "$T/certs/lag.pem" ] || fail "issued although the record was never visible"

echo "== validation delegated with a CNAME to another zone, whose key may update only that zone"
before=$(grep -c "\[acme.test.\] DDNS, processing 1 updates" "$K/knotd.log")
ck add-ca -c cname --acme "$PEBBLE_DIR_URL" --agree-tos --ca-bundle "$PEBBLE_CA" "${DNSOPTS[@]}" \
        --dns01-rfc2136 "127.0.0.1:$KPORT" --tsig-key "$T/cname.key" >/dev/null || fail "add-ca cname failed"
ck request -I cname -c cname -f "$T/certs/cname.pem" -k "$T/certs/cname.key" -D cname.example.test >/dev/null ||
        fail "request cname failed"
ck request -I loop -c cname -f "$T/certs/loop.pem" -k "$T/certs/loop.key" -D loop.example.test >/dev/null
wait_state cname MONITORING 60
wait_state loop NEED_GUIDANCE 60
openssl x509 -in "$T/certs/cname.pem" -noout -ext subjectAltName | grep -q "DNS:cname.example.test" ||
        fail "no cname SAN"
# The key may update only acme.test: issued means the record went there. Added, then deleted:
wait_until 10 sh -c "[ \$(grep -c '\[acme.test.\] DDNS, processing 1 updates' $K/knotd.log) -ge $((before + 2)) ]" ||
        fail "not an add and a delete in the delegated zone: $(grep DDNS "$K/knotd.log")"
wait_until 10 sh -c "[ -z \"\$(kdig -p $KPORT @127.0.0.1 +short cname.acme.test TXT)\" ]" ||
        fail "TXT record left behind in the delegated zone: $(kdig_txt cname.acme.test)"
[ "$(kdig -p "$KPORT" @127.0.0.1 +short _acme-challenge.cname.example.test CNAME)" = cname.acme.test. ] ||
        fail "the CNAME was touched"
ck list -l -i loop | grep -q "ca-error: .*The CNAME chain _acme-challenge.loop.example.test. -> loop2.example.test. -> _acme-challenge.loop.example.test. (as DNS resolver 127.0.0.1:$KPORT answers it) is a loop" ||
        fail "no words about the loop: $(ck list -l -i loop)"

stop_knot
echo ok
