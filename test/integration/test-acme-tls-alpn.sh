#!/bin/bash
# tls-alpn-01 (RFC 8737) through the daemon's built-in responder, against a real Pebble on loopback:
# refusals of bad --tls-alpn01-listen values, a DNS name and an IP address (RFC 8738) validated by
# Pebble's VA on the responder's port, the responder listening only while an order is in flight and
# its challenge certificates removed afterwards. While an order is held in flight (by a directory
# that never answers), the responder is probed with openssl s_client: it completes a handshake only
# for "acme-tls/1" with an SNI name it holds a certificate for. A taken listen port needs guidance.
# shellcheck source=test/integration/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/integration/lib-pebble.sh
. "$(dirname "$0")/lib-pebble.sh"

pebble_require

start_pebble || fail "pebble did not start"
start_daemon
mkdir -p "$T/certs"

listening() { # listening PORT: something accepts TCP connections on 127.0.0.1:PORT
        python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2).close()' "$1" \
                2>/dev/null
}

# handshake PORT SNI ALPN: a TLS handshake with the responder; prints what openssl says.
handshake() {
        local -a alpn=()
        [ -n "$3" ] && alpn=(-alpn "$3")
        timeout 10 openssl s_client -connect "127.0.0.1:$1" -servername "$2" "${alpn[@]}" </dev/null 2>&1
}

# ---- add-ca: refusals with words ----
for bad in nope 127.0.0.1:0 127.0.0.1:99999 example.test:443; do
        out=$(ck add-ca -c nope --acme "$PEBBLE_DIR_URL" --agree-tos --challenge tls-alpn-01 \
                --tls-alpn01-listen "$bad" 2>&1) && fail "accepted --tls-alpn01-listen $bad"
        grep -q -- "--tls-alpn01-listen '$bad'" <<<"$out" || fail "no words about --tls-alpn01-listen $bad: $out"
done
ck list-cas 2>/dev/null | grep -q nope && fail "a refused CA was added"

ck add-ca -c alpn --acme "$PEBBLE_DIR_URL" --agree-tos --ca-bundle "$PEBBLE_CA" --challenge tls-alpn-01 \
        --tls-alpn01-listen "127.0.0.1:$PEBBLE_TLS_PORT" >/dev/null || fail "add-ca --challenge tls-alpn-01 failed"
listening "$PEBBLE_TLS_PORT" && fail "the tls-alpn-01 responder listens with no order in flight"

# ---- a DNS name ----
ck request -I dns -c alpn -f "$T/certs/dns.pem" -k "$T/certs/dns.key" -D alpn.example.test >/dev/null ||
        fail "request failed"
wait_state dns MONITORING 60
openssl x509 -in "$T/certs/dns.pem" -noout -ext subjectAltName | grep -q "DNS:alpn.example.test" || fail "SAN missing"
key_matches_cert "$T/certs/dns.key" "$T/certs/dns.pem" || fail "key and certificate do not match"
grep -q "tls-alpn-01 responder listening on 127.0.0.1:$PEBBLE_TLS_PORT" "$LOG" || fail "the responder did not start"
grep -q "presenting the challenge certificate for 'alpn.example.test'" "$LOG" ||
        fail "Pebble's VA did not get the challenge certificate"
# Stopped, and its challenge certificate removed, once no order is in flight.
wait_until 10 sh -c "! python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $PEBBLE_TLS_PORT), 2)'"
grep -q "tls-alpn-01 responder on 127.0.0.1:$PEBBLE_TLS_PORT stopped" "$LOG" || fail "no word of the stop"
[ -z "$(ls -A "$RUN/acme-tls-alpn")" ] || fail "challenge certificates left behind: $(ls "$RUN/acme-tls-alpn")"

# ---- an IP address: Pebble asks by the reverse-DNS name ----
ck request -I ip -c alpn -f "$T/certs/ip.pem" -k "$T/certs/ip.key" -A 127.0.0.1 >/dev/null || fail "IP request failed"
wait_state ip MONITORING 60
openssl x509 -in "$T/certs/ip.pem" -noout -ext subjectAltName | grep -q "IP Address:127.0.0.1" || fail "no IP SAN"
grep -q "presenting the challenge certificate for '1.0.0.127.in-addr.arpa'" "$LOG" ||
        fail "Pebble's VA did not ask for the reverse-DNS name"
wait_until 10 sh -c "! python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $PEBBLE_TLS_PORT), 2)'"

# ---- the responder's refusals, while an order is held in flight ----
# A directory that accepts connections and never answers keeps the order (and the responder) up.
hang_port=$(free_port)
python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8); c=[]
while True: c.append(s.accept())' "$hang_port" &
HANG_PID=$!
trap 'rc=$?; set +e; kill "$HANG_PID" 2>/dev/null; wait "$HANG_PID" 2>/dev/null; stop_pebble; (exit $rc); cleanup' EXIT
wait_until 10 listening "$hang_port"
alpn_port=$(free_port)
ck add-ca -c hang --acme "http://127.0.0.1:$hang_port/dir" --agree-tos --challenge tls-alpn-01 \
        --tls-alpn01-listen "127.0.0.1:$alpn_port" >/dev/null || fail "add-ca hang failed"
ck request -I held -c hang -f "$T/certs/held.pem" -k "$T/certs/held.key" -D held.example.test >/dev/null
wait_until 20 listening "$alpn_port"

# A challenge certificate of our own for known.example.test, where the worker would put one.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/known.key" -out "$T/known.crt" \
        -days 1 -subj "/CN=known.example.test" -addext "subjectAltName=DNS:known.example.test" 2>/dev/null
cat "$T/known.crt" "$T/known.key" >"$RUN/acme-tls-alpn/known.example.test.pem"

out=$(handshake "$alpn_port" known.example.test acme-tls/1) || fail "acme-tls/1 handshake failed: $out"
grep -q "ALPN protocol: acme-tls/1" <<<"$out" || fail "acme-tls/1 not negotiated: $out"
grep -q "subject=CN *= *known.example.test" <<<"$out" || fail "not the certificate for the SNI name: $out"
out=$(handshake "$alpn_port" KNOWN.Example.TEST acme-tls/1) || fail "SNI is not matched without case: $out"

out=$(handshake "$alpn_port" known.example.test h2) && fail "a handshake with ALPN h2 succeeded: $out"
grep -qi "no application protocol\|alert" <<<"$out" || fail "no alert for ALPN h2: $out"
out=$(handshake "$alpn_port" known.example.test "") && fail "a handshake without ALPN succeeded: $out"
out=$(handshake "$alpn_port" known.example.test "h2,http/1.1") && fail "a handshake without acme-tls/1 succeeded"
out=$(handshake "$alpn_port" unknown.example.test acme-tls/1) && fail "a handshake for an unknown name succeeded: $out"
grep -qi "unrecognized name\|alert" <<<"$out" || fail "no alert for an unknown name: $out"
out=$(handshake "$alpn_port" ../known.example.test acme-tls/1) && fail "a path in SNI was followed: $out"
# A client that sends nothing does not hold up the others.
python3 -c 'import socket,sys,time; s=socket.create_connection(("127.0.0.1", int(sys.argv[1]))); time.sleep(30)' \
        "$alpn_port" &
SILENT_PID=$!
sleep 0.2
out=$(handshake "$alpn_port" known.example.test acme-tls/1) || fail "a silent client blocks the responder: $out"
kill "$SILENT_PID" 2>/dev/null || true
wait "$SILENT_PID" 2>/dev/null || true

# A listen address that is taken: the request needs guidance, with words.
ck add-ca -c busy --acme "$PEBBLE_DIR_URL" --agree-tos --ca-bundle "$PEBBLE_CA" --challenge tls-alpn-01 \
        --tls-alpn01-listen "127.0.0.1:$hang_port" >/dev/null || fail "add-ca busy failed"
ck request -I busy -c busy -f "$T/certs/busy.pem" -k "$T/certs/busy.key" -D busy.example.test >/dev/null
wait_state busy NEED_GUIDANCE 30
err=$(cert_field busy ca_error)
grep -q "Cannot listen on 127.0.0.1:$hang_port" <<<"$err" && grep -q -- "--tls-alpn01-listen" <<<"$err" ||
        fail "no words for a taken port: $err"

# The order ends (the directory goes away): the responder stops.
kill "$HANG_PID"
wait "$HANG_PID" 2>/dev/null || true
wait_state held CA_UNREACHABLE 60
wait_until 10 sh -c "! python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $alpn_port), 2)'"
kill -0 "$DAEMON_PID" || fail "the daemon died"
# In a sanitizer build, a leak or an error in the responder's thread shows at the daemon's exit.
stop_daemon
if grep -E "Sanitizer|runtime error" "$LOG" >&2; then fail "the sanitizers found something"; fi
echo ok
