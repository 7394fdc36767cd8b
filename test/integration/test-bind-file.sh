#!/bin/bash
# File bindings: the key and certificate written in each layout (cert, chain, fullchain, key,
# combined, pkcs12) with their owner and mode, the replaced version kept as .prev, a rollback that
# writes the previous pair again when the binding's test fails, a pkcs12 file protected by the
# password of a password file, and a deploy that waits for a free worker. Owners need root.
. "$(dirname "$0")/lib-bind.sh"

if [ "$(id -u)" != 0 ]; then
        echo "SKIP: file owners need root"
        exit 77
fi
OWNER=nobody:nogroup
getent group nogroup >/dev/null || OWNER=nobody:nobody

OUT="$T/out"
mkdir -p "$OUT" "$T/certs"
start_daemon
out=$(api POST /api/v1/certificates "{\"nickname\":\"a\",\"subject\":\"CN=a.test\",\"dns\":[\"a.test\"],
        \"cert_path\":\"$T/certs/a.pem\",\"key_path\":\"$T/certs/a.key\",\"chain_path\":\"$T/certs/a-chain.pem\"}")
[ "$(tail -n1 <<<"$out")" = 201 ] || fail "request a: $out"
wait_until 30 test -s "$T/certs/a.pem"
wait_until 30 test -s "$T/certs/a-chain.pem"

# Refused with words.
out=$(ck bind -i a file 2>&1) && fail "a file binding without --path was accepted"
grep -q -- "--path" <<<"$out" || fail "no path: $out"
out=$(ck bind -i a file --path "$OUT/x.pem" --layout pkcs7 2>&1) && fail "layout pkcs7 was accepted"
grep -q "Layout 'pkcs7' is unknown" <<<"$out" || fail "bad layout: $out"
out=$(ck bind -i a file --path "$OUT/x.pem" --mode 0999 2>&1) && fail "mode 0999 was accepted"
grep -q "octal" <<<"$out" || fail "bad mode: $out"
out=$(ck bind -i a file --path "$OUT/x.pem" --owner no-such-user-ck 2>&1) && fail "an unknown owner was accepted"
grep -q "not a known USER" <<<"$out" || fail "bad owner: $out"
out=$(ck bind -i a file --path "$T/no/such/dir/x.pem" 2>&1) && fail "a missing directory was accepted"
grep -q "does not exist" <<<"$out" || fail "missing directory: $out"
out=$(ck bind -i a file --path relative.pem 2>&1) && fail "a relative path was accepted"
out=$(api POST /api/v1/certificates/a/bindings "{\"kind\":\"file\",\"path\":\"$OUT/x.pem\",\"mode\":416}")
[ "$(tail -n1 <<<"$out")" = 400 ] && grep -q "octal digits" <<<"$out" || fail "a numeric mode through the API: $out"

# One binding a layout; the combined one owned by nobody, 0640; the test of the last one fails
# while $T/break exists.
for l in cert chain fullchain key pkcs12; do
        ck bind -i a file --path "$OUT/$l.pem" --layout "$l" >/dev/null || fail "bind $l"
done
ck bind -i a file --path "$OUT/combined.pem" --layout combined --owner "$OWNER" --mode 0640 \
        --test-command "test ! -e '$T/break'" --reload-command "echo reloaded >>'$T/reloads'" >/dev/null ||
        fail "bind combined"
ck bindings -i a | grep -q "path: $OUT/combined.pem (combined, owner $OWNER, mode 0640)" ||
        fail "bindings: $(ck bindings -i a)"

# deploy: the files as they are now.
ck deploy -i a >/dev/null || fail "deploy -i a"
wait_until 30 has_event a rebound
cur=$(sha a)
check_files() { # check_files SHA
        [ "$(file_sha "$OUT/cert.pem")" = "$1" ] || fail "cert.pem does not hold $1"
        cmp -s "$OUT/cert.pem" "$T/certs/a.pem" || fail "cert.pem is not the certificate"
        cmp -s "$OUT/chain.pem" "$T/certs/a-chain.pem" || fail "chain.pem is not the chain"
        cmp -s "$OUT/fullchain.pem" <(cat "$T/certs/a.pem" "$T/certs/a-chain.pem") || fail "fullchain.pem"
        cmp -s "$OUT/key.pem" "$T/certs/a.key" || fail "key.pem is not the key"
        cmp -s "$OUT/combined.pem" <(cat "$T/certs/a.key" "$T/certs/a.pem" "$T/certs/a-chain.pem") ||
                fail "combined.pem is not key, certificate, chain"
        key_matches_cert "$OUT/key.pem" "$OUT/cert.pem" || fail "key.pem does not match cert.pem"
        # PKCS#12, empty password: the certificate, the chain's certificates, the key.
        openssl pkcs12 -in "$OUT/pkcs12.pem" -passin pass: -nokeys -clcerts -out "$T/p12-cert.pem" 2>/dev/null ||
                fail "pkcs12.pem cannot be read"
        [ "$(file_sha "$T/p12-cert.pem")" = "$1" ] || fail "pkcs12.pem does not hold $1"
        openssl pkcs12 -in "$OUT/pkcs12.pem" -passin pass: -nocerts -nodes -out "$T/p12-key.pem" 2>/dev/null ||
                fail "pkcs12.pem has no key"
        key_matches_cert "$T/p12-key.pem" "$T/certs/a.pem" || fail "the key of pkcs12.pem does not match"
        [ "$(openssl pkcs12 -in "$OUT/pkcs12.pem" -passin pass: -nokeys -cacerts 2>/dev/null | grep -c 'BEGIN CERT')" = \
          "$(grep -c 'BEGIN CERT' "$T/certs/a-chain.pem")" ] || fail "pkcs12.pem does not hold the chain"
}
check_files "$cur"
[ "$(stat -c %a "$OUT/cert.pem")" = 644 ] || fail "cert.pem is $(stat -c %a "$OUT/cert.pem"), not 644"
[ "$(stat -c %a "$OUT/fullchain.pem")" = 644 ] || fail "fullchain.pem is not 644"
[ "$(stat -c %a "$OUT/key.pem")" = 600 ] || fail "key.pem is $(stat -c %a "$OUT/key.pem"), not 600"
[ "$(stat -c %a "$OUT/pkcs12.pem")" = 600 ] || fail "pkcs12.pem is not 600"
[ "$(stat -c %a "$OUT/combined.pem")" = 640 ] || fail "combined.pem is not 640"
[ "$(stat -c %U:%G "$OUT/combined.pem")" = "$OWNER" ] || fail "combined.pem is owned by $(stat -c %U:%G "$OUT/combined.pem")"
[ ! -e "$OUT/cert.pem.prev" ] || fail "a .prev was made without a previous file"
[ "$(wc -l <"$T/reloads")" = 1 ] || fail "the reload command ran $(wc -l <"$T/reloads") times"

# A renewal: every file holds the new pair, the previous one kept as .prev with the same mode.
ck resubmit -i a -w >/dev/null || fail "resubmit a"
two_rebound() { [ "$(count_events a rebound)" -ge 2 ]; }
wait_until 30 two_rebound
[ "$(sha a)" != "$cur" ] || fail "a was not renewed"
check_files "$(sha a)"
[ "$(file_sha "$OUT/cert.pem.prev")" = "$cur" ] || fail "cert.pem.prev is not the previous certificate"
# The key did not change (a renewal without rekey): key.pem was left alone.
[ ! -e "$OUT/key.pem.prev" ] || fail "key.pem was replaced by the same key"
[ "$(stat -c %a:%U:%G "$OUT/combined.pem.prev")" = "640:$OWNER" ] || fail "combined.pem.prev attributes"

# A failing test: every file is written with the previous pair again, 1104.
good=$(sha a)
touch "$T/break"
ck resubmit -i a -w >/dev/null || fail "resubmit a with a failing test"
wait_until 30 has_event a rebind-failed
[ "$(sha a)" = "$good" ] || fail "the record does not say the previous certificate is back"
check_files "$good"
[ "$(stat -c %a:%U:%G "$OUT/combined.pem")" = "640:$OWNER" ] || fail "combined.pem attributes after the rollback"
ck bindings -i a | grep -q "last deploy: failed: test" || fail "last deploy: $(ck bindings -i a)"
# The test failed: nothing took the new files, nothing is reloaded.
[ "$(wc -l <"$T/reloads")" = 2 ] || fail "the reload command ran $(wc -l <"$T/reloads") times, not 2"

# A file that cannot be written (its directory removed since): the write stage fails, the
# request's files are the previous pair again, nothing is reloaded.
rm -f "$T/break"
mkdir "$OUT/gone"
ck bind -i a file --path "$OUT/gone/x.pem" --layout cert >/dev/null || fail "bind gone/x.pem"
rmdir "$OUT/gone"
n=$(count_events a rebind-failed)
ck resubmit -i a -w >/dev/null || fail "resubmit a with an unwritable file"
more_failed() { [ "$(count_events a rebind-failed)" -gt "$n" ]; }
wait_until 30 more_failed
[ "$(sha a)" = "$good" ] || fail "the record does not say the previous certificate is back after the write failed"
check_files "$good"
ck bindings -i a | grep -q "last deploy: failed: write: cannot write '$OUT/gone/x.pem'" ||
        fail "last deploy of the unwritable file: $(ck bindings -i a)"
[ "$(wc -l <"$T/reloads")" = 2 ] || fail "the reload command ran after a failed write"

# A pkcs12 binding with a password file (the first line of it, read at each deploy).
ck request -I p -f "$T/certs/p.pem" -k "$T/certs/p.key" -N CN=p.test -w >/dev/null || fail "request p"
PW="$T/p12.pass"
printf 'first s3cret\nnot the password\n' >"$PW"
: >"$T/empty.pass"
bind_p12() { ck bind -i p file --path "$OUT/p.p12" --layout pkcs12 --password-file "$@" 2>&1; }
out=$(ck bind -i p file --path "$OUT/p.pem" --layout cert --password-file "$PW" 2>&1) &&
        fail "a password file with the cert layout was accepted"
grep -q "for the pkcs12 layout only, and the layout is 'cert': give --layout pkcs12" <<<"$out" ||
        fail "password file, layout cert: $out"
out=$(ck bind -i p command --command true --password-file "$PW" 2>&1) &&
        fail "a password file on a command binding was accepted"
grep -q -- "--password-file are for file bindings only" <<<"$out" || fail "password file, command: $out"
out=$(bind_p12 p12.pass) && fail "a relative password file was accepted"
grep -q "The password file 'p12.pass' is not absolute; give a full path" <<<"$out" || fail "relative: $out"
out=$(bind_p12 "$T/no-such.pass") && fail "a missing password file was accepted"
grep -q "The password file '$T/no-such.pass' cannot be read by the daemon: No such file" <<<"$out" ||
        fail "missing password file: $out"
out=$(bind_p12 "$T/empty.pass") && fail "an empty password file was accepted"
grep -q "has an empty first line; write the password on its first line" <<<"$out" || fail "empty: $out"
out=$(bind_p12 "$PW") || fail "bind p.p12: $out"
ck bindings -i p | grep -q "password file: $PW" || fail "bindings -i p: $(ck bindings -i p)"
ck bindings -i p --json | grep -q "\"password_file\": *\"$PW\"" || fail "bindings --json: $(ck bindings -i p --json)"

# p12_check PASSWORD-FILE: the file opens with that password and holds p's certificate and key.
p12_check() {
        openssl pkcs12 -in "$OUT/p.p12" -passin "file:$1" -nodes -out "$T/p12-all.pem" 2>/dev/null ||
                fail "p.p12 does not open with the password of $1"
        [ "$(file_sha "$T/p12-all.pem")" = "$(sha p)" ] || fail "p.p12 does not hold p's certificate"
        key_matches_cert "$T/p12-all.pem" "$T/certs/p.pem" || fail "the key of p.p12 does not match"
}
n=$(count_events p rebound)
ck deploy -i p >/dev/null || fail "deploy p"
more_p_rebound() { [ "$(count_events p rebound)" -gt "$n" ]; }
wait_until 30 more_p_rebound
p12_check "$PW"
[ "$(stat -c %a "$OUT/p.p12")" = 600 ] || fail "p.p12 is $(stat -c %a "$OUT/p.p12"), not 600"
for wrong in pass:wrong pass: "pass:not the password"; do
        openssl pkcs12 -in "$OUT/p.p12" -passin "$wrong" -nodes >/dev/null 2>&1 && fail "p.p12 opens with $wrong"
done
# Modern encryption: PBES2 with AES-256-CBC, and a SHA-256 MAC.
info=$(openssl pkcs12 -in "$OUT/p.p12" -passin "file:$PW" -info -noout 2>&1)
grep -q "MAC: sha256" <<<"$info" && grep -q "PBES2, PBKDF2, AES-256-CBC" <<<"$info" ||
        fail "p.p12 is not AES-256-CBC with a SHA-256 MAC: $info"
# The password is in no record, log or job.
! grep -rqa "first s3cret" "$STATE" "$LOG" || fail "the password was written in $STATE or $LOG"

# A new password in the file is used by the next deploy.
printf 'second s3cret\n' >"$PW"
n=$(count_events p rebound)
ck deploy -i p >/dev/null || fail "deploy p with a new password"
wait_until 30 more_p_rebound
p12_check "$PW"

# The password file emptied: the write stage fails with words, p.p12 is left as it was.
: >"$PW"
printf 'second s3cret\n' >"$T/second.pass"
n=$(count_events p rebind-failed)
ck deploy -i p >/dev/null || fail "deploy p with an empty password file"
more_p_failed() { [ "$(count_events p rebind-failed)" -gt "$n" ]; }
wait_until 30 more_p_failed
ck bindings -i p | grep -q "last deploy: failed: write: the password file '$PW' has an empty first line" ||
        fail "last deploy with an empty password file: $(ck bindings -i p)"
p12_check "$T/second.pass"
rm -f "$PW"
n=$(count_events p rebind-failed)
ck deploy -i p >/dev/null || fail "deploy p without its password file"
wait_until 30 more_p_failed
ck bindings -i p | grep -q "last deploy: failed: write: cannot read the password file '$PW': No such file" ||
        fail "last deploy without the password file: $(ck bindings -i p)"

# One worker: a deploy asked while it runs another one (its test takes 3 s) waits for it, then
# runs; a second deploy of the waiting certificate is refused like one of a running deploy.
stop_daemon
sed -i 's/^workers = .*/workers = 1/' "$CONF"
start_daemon
for n in slow next; do
        ck request -I $n -f "$T/certs/$n.pem" -k "$T/certs/$n.key" -N CN=$n.test -w >/dev/null || fail "request $n"
done
ck bind -i slow file --path "$OUT/slow.pem" --layout cert --test-command "sleep 3" >/dev/null || fail "bind slow"
ck bind -i next file --path "$OUT/next.pem" --layout cert >/dev/null || fail "bind next"
n_slow=$(count_events slow rebound)
ck deploy -i slow >/dev/null || fail "deploy slow"
sleep 1 # the batch window (500 ms) has closed: the worker runs slow's deploy
out=$(ck deploy -i next 2>&1) || fail "deploy next while the worker is busy: $out"
grep -q "waiting for a free worker" <<<"$out" || fail "deploy next did not wait for the worker: $out"
[ "$(cert_field next stage_deploy)" = waiting ] || fail "next: deploy stage $(cert_field next stage_deploy)"
out=$(ck deploy -i next 2>&1) && fail "a second deploy of a waiting certificate was accepted"
grep -q "under way" <<<"$out" || fail "second deploy: $out"
wait_until 30 has_event next rebound
[ "$(count_events slow rebound)" -gt "$n_slow" ] || fail "slow's deploy did not finish"
[ "$(file_sha "$OUT/next.pem")" = "$(sha next)" ] || fail "next: the bound file is not its certificate"
[ "$(cert_field next stage_deploy)" = ok ] || fail "next: deploy stage $(cert_field next stage_deploy)"

echo "PASS"
