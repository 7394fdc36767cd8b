#!/bin/bash
# Outside changes made while the daemon was stopped are seen at start-up, as changes seen live:
# a certificate replaced by another tool (with its key) raises 1001 with both thumbprints and the
# store takes it; a deleted one raises 1004; an untouched one and one never issued raise nothing.
. "$(dirname "$0")/lib.sh"

mkdir -p "$T/certs" "$T/out"
start_daemon

thumb() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1 | tr 'a-f' 'A-F'; }
upper() { tr 'a-f' 'A-F'; }
events_json() { api GET "/api/v1/events?limit=1000&$1" | head -n -1; }
count_events() { events_json "$1" | json_get "len(d['items'])"; }
newest_payload() { events_json "$1" | json_get "d['items'][0]['payload']['$2']"; }

for n in swapped deleted kept; do
        ck request -I "$n" -f "$T/certs/$n.pem" -k "$T/certs/$n.key" -N "CN=$n.test" -D "$n.test" >/dev/null ||
                fail "request $n"
done
# Never issued (its CA says no): no certificate file, nothing to compare.
printf '#!/bin/sh\necho "the test CA says no"\nexit 2\n' >"$T/out/reject.sh"
chmod +x "$T/out/reject.sh"
ck add-ca -c refuses -e "$T/out/reject.sh" >/dev/null || fail "add-ca"
ck request -I unissued -c refuses -f "$T/certs/unissued.pem" -k "$T/certs/unissued.key" -N CN=unissued.test \
        >/dev/null || fail "request unissued"
for n in swapped deleted kept; do wait_state "$n" MONITORING 30; done
wait_state unissued CA_REJECTED 10
[ "$(cert_field unissued sha256)" = None ] || fail "unissued has a certificate"
n_kept=$(count_events "cert=kept")
n_unissued=$(count_events "cert=unissued")
n_1001=$(count_events "cert=swapped&id=replaced")
n_1004=$(count_events "cert=deleted&id=deleted")
kept_sha=$(cert_field kept sha256 | upper)
[ "$kept_sha" = "$(thumb "$T/certs/kept.pem")" ] || fail "the stored thumbprint is not the file's"
stop_daemon

# ---- while stopped: another certificate and key at the same paths, a certificate deleted ----
old=$(thumb "$T/certs/swapped.pem")
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/out/swapped.key" \
        -subj /CN=swapped.test -days 20 -out "$T/out/swapped.pem" 2>/dev/null || fail "openssl req"
cp "$T/out/swapped.key" "$T/certs/swapped.key"
cp "$T/out/swapped.pem" "$T/certs/swapped.pem"
new=$(thumb "$T/certs/swapped.pem")
[ "$old" != "$new" ] || fail "the new certificate is the old one"
rm "$T/certs/deleted.pem"

start_daemon
more() { [ "$(count_events "$1")" -gt "$2" ]; }
wait_until 20 more "cert=swapped&id=replaced" "$n_1001"
[ "$(newest_payload "cert=swapped&id=replaced" sha256 | upper)" = "$new" ] || fail "1001: sha256 is not the new one"
[ "$(newest_payload "cert=swapped&id=replaced" old_sha256 | upper)" = "$old" ] || fail "1001: old_sha256 is not the old one"
newest_payload "cert=swapped&id=replaced" message | grep -q "replaced on disk" || fail "1001: the message"
wait_state swapped MONITORING 10
[ "$(cert_field swapped sha256 | upper)" = "$new" ] || fail "the store has not the new thumbprint"
[ "$(cert_field swapped not_after)" = "$(date -d "$(openssl x509 -in "$T/out/swapped.pem" -noout -enddate | cut -d= -f2)" +%s)" ] ||
        fail "the store has not the new expiry"
cmp -s "$T/certs/swapped.pem" "$T/out/swapped.pem" || fail "the replacement was overwritten"

wait_until 20 more "cert=deleted&id=deleted" "$n_1004"
newest_payload "cert=deleted&id=deleted" message | grep -q "deleted on disk" || fail "1004: the message"

# The pass is done and said how many files it compared (the unissued one is not among them).
wait_until 20 grep -q "Compared 3 certificate file(s) with the store at start-up in [0-9]* ms: 2 changed" "$LOG"
sleep 1 # the settle delay and a read, if one were wrongly made
[ "$(count_events "cert=kept")" = "$n_kept" ] || fail "the untouched certificate raised an event"
[ "$(cert_field kept state)" = MONITORING ] || fail "kept is $(cert_field kept state)"
[ "$(cert_field kept sha256 | upper)" = "$kept_sha" ] || fail "kept's thumbprint changed"
[ "$(count_events "cert=unissued")" = "$n_unissued" ] || fail "the never issued request raised an event"
[ "$(cert_field unissued state)" = CA_REJECTED ] || fail "unissued went to $(cert_field unissued state)"
echo ok
