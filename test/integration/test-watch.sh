#!/bin/bash
# Outside changes to tracked files, seen with inotify: a certificate replaced by a rename (mv) or
# written in place by another tool raises 1001 with both thumbprints, the request takes the new
# certificate (its expiry) and its bindings are deployed again (1103); a certificate whose key does
# not match is refused with words and not deployed; a deleted one raises 1004 and the request gets
# a new one, as without a certificate. certkeeper's own renewals raise only their own 1001.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/certs" "$T/out"
start_daemon

thumb() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
upper() { tr 'a-f' 'A-F'; }
events_json() { api GET "/api/v1/events?limit=1000&$1" | head -n -1; }
count_events() { events_json "$1" | json_get "len(d['items'])"; }
# newest_payload QUERY FIELD
newest_payload() { events_json "$1" | json_get "d['items'][0]['payload']['$2']"; }
# outside_cert DAYS [KEY]: a certificate for web made by openssl, on stdout.
outside_cert() {
        openssl req -x509 -key "${2:-$T/certs/web.key}" -subj "/CN=web.test" -days "$1" 2>/dev/null
}
enddate() { date -d "$(openssl x509 -in "$1" -noout -enddate | cut -d= -f2)" +%s; }

ck request -I web -f "$T/certs/web.pem" -k "$T/certs/web.key" -N CN=web.test -D web.test >/dev/null ||
        fail "request web"
wait_state web MONITORING 30
# A binding that records the thumbprint of the certificate it was given.
ck bind -i web command --command "openssl x509 -in '$T/certs/web.pem' -outform DER | sha256sum | cut -d' ' -f1 >'$T/out/served'" \
        >/dev/null || fail "bind web"

# ---- replaced by a rename ----
n1001() { count_events "cert=web&id=replaced"; }
n=$(n1001)
old=$(thumb "$T/certs/web.pem")
outside_cert 5 >"$T/certs/.web.new"
new=$(thumb "$T/certs/.web.new")
mv "$T/certs/.web.new" "$T/certs/web.pem"
more_1001() { [ "$(n1001)" -gt "$1" ]; }
wait_until 10 more_1001 "$n"
[ "$(newest_payload "cert=web&id=replaced" sha256 | upper)" = "$(echo "$new" | upper)" ] || fail "mv: 1001 sha256 is not the new one"
[ "$(newest_payload "cert=web&id=replaced" old_sha256 | upper)" = "$(echo "$old" | upper)" ] || fail "mv: 1001 old_sha256 is not the old one"
newest_payload "cert=web&id=replaced" message | grep -q "replaced on disk" || fail "mv: the message does not say so"
[ "$(cert_field web not_after)" = "$(enddate "$T/certs/web.pem")" ] || fail "mv: the store has not the new expiry"
ck list | grep -q "$(date -u -d @"$(enddate "$T/certs/web.pem")" +%Y-%m-%d)" || fail "mv: list does not show the new expiry"
served_new() { [ "$(cat "$T/out/served" 2>/dev/null)" = "$new" ]; }
wait_until 10 served_new
has_rebound() { [ "$(count_events "cert=web&id=rebound")" -ge "$1" ]; }
wait_until 10 has_rebound 1
wait_state web MONITORING 10

# ---- written in place ----
n=$(n1001)
old=$new
outside_cert 7 >"$T/out/inplace.pem"
new=$(thumb "$T/out/inplace.pem")
cat "$T/out/inplace.pem" >"$T/certs/web.pem"
wait_until 10 more_1001 "$n"
[ "$(newest_payload "cert=web&id=replaced" sha256 | upper)" = "$(echo "$new" | upper)" ] || fail "in place: 1001 sha256"
[ "$(newest_payload "cert=web&id=replaced" old_sha256 | upper)" = "$(echo "$old" | upper)" ] || fail "in place: old_sha256"
[ "$(cert_field web not_after)" = "$(enddate "$T/certs/web.pem")" ] || fail "in place: the store has not the new expiry"
wait_until 10 served_new
wait_until 10 has_rebound 2

# ---- a certificate for another key: refused with words, not deployed ----
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/out/other.key" 2>/dev/null
outside_cert 9 "$T/out/other.key" >"$T/out/other.pem"
cp "$T/certs/web.pem" "$T/out/good.pem"
mv "$T/out/other.pem" "$T/certs/web.pem"
wait_state web NEED_GUIDANCE 10
cert_field web ca_error | grep -q "does not match" || fail "a mismatched key: $(cert_field web ca_error)"
sleep 0.5
served_new || fail "a certificate that does not match its key was deployed"
[ "$(count_events "cert=web&id=rebound")" = 2 ] || fail "a mismatched certificate was rebound"
# Put back by hand: seen, and the request is well again.
cp "$T/out/good.pem" "$T/certs/web.pem"
wait_state web MONITORING 10

# ---- deleted ----
n4=$(count_events "cert=web&id=deleted")
rm "$T/certs/web.pem"
more_1004() { [ "$(count_events "cert=web&id=deleted")" -gt "$n4" ]; }
wait_until 10 more_1004
newest_payload "cert=web&id=deleted" message | grep -q "deleted on disk" || fail "1004: the message"
# As without a certificate: with its key, the request gets a new one.
wait_until 30 test -s "$T/certs/web.pem"
wait_state web MONITORING 30
key_matches_cert "$T/certs/web.key" "$T/certs/web.pem" || fail "the new certificate does not match the key"

# ---- our own renewal: its own 1001 only ----
sleep 0.5
n=$(n1001)
ck resubmit -i web >/dev/null || fail "resubmit"
wait_until 30 more_1001 "$n"
wait_state web MONITORING 30
sleep 1.5 # the watcher's settle delay and a read, if it wrongly made one
[ "$(n1001)" = $((n + 1)) ] || fail "a renewal by certkeeper raised $(( $(n1001) - n )) 1001 events"
newest_payload "cert=web&id=replaced" message | grep -q "issued by CA and saved" || fail "the renewal's 1001 message"
on_disk=$(events_json "cert=web&id=replaced" | json_get "sum('replaced on disk' in i['payload']['message'] for i in d['items'])")
[ "$on_disk" = 2 ] || fail "$on_disk outside replacements seen, 2 made"

# ---- a request whose files move elsewhere is watched there ----
mkdir -p "$T/certs2"
cp "$T/certs/web.pem" "$T/certs2/web.pem"
cp "$T/certs/web.key" "$T/certs2/web.key"
api PATCH /api/v1/certificates/web "{\"cert_path\": \"$T/certs2/web.pem\", \"key_path\": \"$T/certs2/web.key\"}" |
        tail -n1 | grep -qx 200 || fail "PATCH the paths"
wait_state web MONITORING 10
n=$(n1001)
outside_cert 3 >"$T/certs2/.new"
mv "$T/certs2/.new" "$T/certs2/web.pem"
wait_until 10 more_1001 "$n"
echo ok
