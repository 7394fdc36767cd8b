#!/bin/bash
# EXTERNAL CAs with real helper programs: certmonger's own local-submit (Debian package certmonger;
# that part is skipped, with a SKIP line, where it is not installed) and certkeeper's
# certkeeper-local-submit. For each: add-ca, IDENTIFY in "list-cas -v", a request to MONITORING
# whose certificate verifies against the -F file written from FETCH-ROOTS, resubmit (new serial,
# same key), rekey (new key, 0600), and a daemon restart that keeps everything MONITORING and
# refreshes the CA data again.
# Golden files (in the style of test-getcert.sh, formats of /work/shared/reference/certmonger.md
# §2.10): golden/external-add-ca.txt, external-list-cas.txt, external-list-cas-v.txt and
# external-add-ca-errors.txt. Only the temporary directory, the build directory and the helpers'
# versions are replaced before comparing. UPDATE_GOLDEN=1 rewrites them (review them against the
# reference before keeping them).
. "$(dirname "$0")/lib.sh"

GOLDEN="$(cd "$(dirname "$0")" && pwd)/golden"
HELPER="$BUILD_DIR/src/helper/certkeeper-local-submit"
CM_HELPER=/usr/lib/certmonger/local-submit
[ -x "$HELPER" ] || fail "$HELPER is not built"
VERSION=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$BUILD_DIR/config.h")
[ -n "$VERSION" ] || fail "no PACKAGE_VERSION in $BUILD_DIR/config.h"

HAVE_CM=1
if [ ! -x "$CM_HELPER" ]; then
        HAVE_CM=
        echo "SKIP: certmonger part: $CM_HELPER is not installed (Debian package certmonger)"
        [ -z "${UPDATE_GOLDEN:-}" ] || fail "UPDATE_GOLDEN=1 needs $CM_HELPER: the golden files include its CA"
fi

normalize() {
        sed -E -e "s|$BUILD_DIR|@BUILD_DIR@|g" \
               -e "s|$T|@T@|g" \
               -e 's/\((certmonger|certkeeper) [0-9][^)]*\)/(\1 @VERSION@)/g'
}

# drop_cm: without certmonger's helper, the parts of a golden file about the CA 'cmlocal' (a
# "CA 'cmlocal':" block, a "$ ... -c cmlocal ..." command with its output) are not expected.
drop_cm() {
        if [ -n "$HAVE_CM" ]; then
                cat
        else
                awk '/^(CA .cmlocal.:|\$ .* -c cmlocal( |$))/ { skip = 1; next } /^(CA |\$ )/ { skip = 0 } !skip'
        fi
}

# golden NAME: compares stdin, normalized, with golden/NAME.
golden() {
        local name=$1
        normalize >"$T/$name"
        if [ -n "${UPDATE_GOLDEN:-}" ]; then
                cp "$T/$name" "$GOLDEN/$name"
                return 0
        fi
        drop_cm <"$GOLDEN/$name" >"$T/$name.expected"
        diff -u "$T/$name.expected" "$T/$name" >&2 || fail "output differs from golden/$name (see the diff above)"
}

# run CMD...: the command's stdout, its stderr with "[stderr] " before each line, then "rc=N".
# certmonger's getcert prints everything, errors included, on stdout.
run() {
        local rc=0
        "$@" >"$T/run.out" 2>"$T/run.err" || rc=$?
        cat "$T/run.out"
        sed 's/^/[stderr] /' "$T/run.err"
        echo "rc=$rc"
}

ca_json() { api GET "/api/v1/cas/$1" | head -n -1; }
ca_data() { ca_json "$1" | json_get "(d.get('data') or {}).get('$2')"; }

# has_identity CA: list-cas -v shows what IDENTIFY said.
has_identity() { getcert list-cas -c "$1" -v | grep -q "^	self-identifies as: ."; }

# refreshed_since CA SECONDS: the CA's data was fetched at or after SECONDS (epoch).
refreshed_since() {
        local t
        t=$(ca_data "$1" refreshed_at)
        [ "$t" != None ] && [ "$t" -ge "$2" ]
}

start_daemon
mkdir -p "$T/certs" "$T/ck-ca" "$T/ca dir"
chmod 0755 "$T/certs"
CAS=(cklocal ckspace)
if [ -n "$HAVE_CM" ]; then
        # certmonger's local-submit wants its directory to exist (it makes the CA in it on first use).
        mkdir -m 0700 "$T/cm-ca"
        CAS+=(cmlocal)
fi

# ---- add-ca, with the golden output ---------------------------------------------------------------
{
        echo "\$ getcert add-ca -c cklocal -e '$HELPER -d $T/ck-ca'"
        run getcert add-ca -c cklocal -e "$HELPER -d $T/ck-ca"
        echo "\$ getcert add-ca -c ckspace -e \"$HELPER -d '$T/ca dir'\""
        run getcert add-ca -c ckspace -e "$HELPER -d '$T/ca dir'"
        if [ -n "$HAVE_CM" ]; then
                echo "\$ getcert add-ca -c cmlocal -e '$CM_HELPER -d $T/cm-ca'"
                run getcert add-ca -c cmlocal -e "$CM_HELPER -d $T/cm-ca"
        fi
} | golden external-add-ca.txt
for ca in "${CAS[@]}"; do
        [ "$(api GET "/api/v1/cas/$ca" | tail -n1)" = 200 ] || fail "CA '$ca' was not added"
        [ "$(ca_json "$ca" | json_get "d['type']")" = EXTERNAL ] || fail "CA '$ca' is not EXTERNAL"
done
# The command line is stored as given, quotes included.
[ "$(ca_json ckspace | json_get "d['helper']")" = "$HELPER -d '$T/ca dir'" ] ||
        fail "ckspace's helper command was not stored as given: $(ca_json ckspace | json_get "d['helper']")"

# ---- IDENTIFY: list-cas -v "self-identifies as", exactly what the helper says ---------------------
for ca in "${CAS[@]}"; do
        wait_until 30 has_identity "$ca"
done
ck_id=$(env -i PATH=/usr/bin:/bin CERTMONGER_OPERATION=IDENTIFY "$HELPER" -d "$T/ck-ca")
[ "$ck_id" = "certkeeper local CA (certkeeper $VERSION)" ] || fail "certkeeper-local-submit IDENTIFY: '$ck_id'"
for ca in cklocal ckspace; do
        getcert list-cas -c "$ca" -v | grep -qxF "	self-identifies as: $ck_id" ||
                fail "list-cas -v for $ca: $(getcert list-cas -c "$ca" -v)"
done
if [ -n "$HAVE_CM" ]; then
        cm_id=$(env -i PATH=/usr/bin:/bin CERTMONGER_OPERATION=IDENTIFY "$CM_HELPER" -d "$T/cm-ca")
        case "$cm_id" in
        "Local Signing Authority (certmonger "[0-9]*")") ;;
        *) fail "certmonger's local-submit IDENTIFY: '$cm_id'" ;;
        esac
        getcert list-cas -c cmlocal -v | grep -qxF "	self-identifies as: $cm_id" ||
                fail "list-cas -v for cmlocal: $(getcert list-cas -c cmlocal -v)"
fi
# Without -v there is no "self-identifies as" (certmonger prints it with -v only).
if getcert list-cas | grep -q 'self-identifies'; then
        fail "list-cas without -v shows self-identifies"
fi
# The roots from FETCH-ROOTS are in the CA data before any request.
for ca in "${CAS[@]}"; do
        wait_until 30 sh -c "[ \"\$(curl -s --unix-socket '$RUN/api.sock' http://localhost/api/v1/cas/$ca |
                python3 -c 'import json,sys; print(len(json.load(sys.stdin)[\"data\"][\"roots\"]))')\" -ge 1 ]"
done

getcert list-cas | golden external-list-cas.txt
getcert list-cas -v | golden external-list-cas-v.txt
# -c NAME prints that CA's block of the whole list, and nothing else.
for ca in "${CAS[@]}"; do
        getcert list-cas -v >"$T/all-cas"
        awk -v n="CA '$ca':" '/^CA / { on = ($0 == n) } on' "$T/all-cas" >"$T/one-ca.expected"
        getcert list-cas -v -c "$ca" >"$T/one-ca"
        [ -s "$T/one-ca" ] || fail "list-cas -v -c $ca printed nothing"
        cmp -s "$T/one-ca" "$T/one-ca.expected" || fail "list-cas -v -c $ca: $(cat "$T/one-ca")"
done

# ---- add-ca refusals, with the golden output --------------------------------------------------------
printf '#!/bin/sh\nexit 6\n' >"$T/not-executable"
chmod 0644 "$T/not-executable"
n_cas=$(api GET /api/v1/cas | head -n -1 | json_get "len(d['items'])")
{
        echo '$ getcert add-ca -c nohelper'
        run getcert add-ca -c nohelper
        echo "\$ getcert add-ca -c badquote -e \"$HELPER -d '$T/unterminated\""
        run getcert add-ca -c badquote -e "$HELPER -d '$T/unterminated"
        printf '%s\n' "\$ getcert add-ca -c backslash -e '$HELPER -d \\'"
        run getcert add-ca -c backslash -e "$HELPER -d \\"
        echo "\$ getcert add-ca -c empty -e ''"
        run getcert add-ca -c empty -e ''
        echo "\$ getcert add-ca -c missing -e '$T/no-such-helper -d $T/x'"
        run getcert add-ca -c missing -e "$T/no-such-helper -d $T/x"
        echo "\$ getcert add-ca -c notinpath -e 'no-such-helper-program -d $T/x'"
        run getcert add-ca -c notinpath -e "no-such-helper-program -d $T/x"
        echo "\$ getcert add-ca -c relative -e 'relative/helper'"
        run getcert add-ca -c relative -e "relative/helper"
        echo "\$ getcert add-ca -c notexec -e '$T/not-executable'"
        run getcert add-ca -c notexec -e "$T/not-executable"
        echo "\$ getcert add-ca -c cklocal -e '$HELPER -d $T/other-ca'"
        run getcert add-ca -c cklocal -e "$HELPER -d $T/other-ca"
        echo "\$ getcert add-ca -c local -e '$HELPER'"
        run getcert add-ca -c local -e "$HELPER"
        echo "\$ getcert add-ca -e '$HELPER'"
        run getcert add-ca -e "$HELPER"
} >"$T/errors"
golden external-add-ca-errors.txt <"$T/errors"
# Every one of them failed, and nothing was added or changed.
[ "$(grep -c '^rc=' "$T/errors")" = 11 ] || fail "not 11 add-ca runs: $(cat "$T/errors")"
[ "$(grep -c '^rc=1$' "$T/errors")" = 11 ] || fail "an add-ca that should fail did not exit 1: $(cat "$T/errors")"
for ca in nohelper badquote backslash empty missing notinpath relative notexec; do
        [ "$(api GET "/api/v1/cas/$ca" | tail -n1)" = 404 ] || fail "the refused CA '$ca' exists"
done
[ "$(api GET /api/v1/cas | head -n -1 | json_get "len(d['items'])")" = "$n_cas" ] ||
        fail "a refused add-ca changed the number of CAs"
[ "$(ca_json cklocal | json_get "d['helper']")" = "$HELPER -d $T/ck-ca" ] ||
        fail "a duplicate add-ca changed cklocal's helper"
[ "$(ca_json local | json_get "d['type']")" = INTERNAL:LOCAL ] || fail "a duplicate add-ca changed the CA 'local'"
[ ! -e "$T/other-ca" ] || fail "the refused duplicate's helper was run"

# ---- a request through each CA -----------------------------------------------------------------------
# ca_others CA: the CA's other (chain) certificates from FETCH-ROOTS, into $T/CA-others.pem.
ca_others() {
        ca_json "$1" | python3 -c '
import json, sys
for c in json.load(sys.stdin)["data"]["other_certs"]:
    sys.stdout.write(c["pem"] if c["pem"].endswith("\n") else c["pem"] + "\n")' >"$T/$1-others.pem"
}

pubkey_of_key() { openssl pkey -in "$1" -pubout | openssl sha256; }
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | tr 'a-f' 'A-F' | sed 's/^0*//'; }

# check_cert NICK CA: the files of a MONITORING request are right.
check_cert() {
        local n=$1 ca=$2 c="$T/certs/$1.pem" k="$T/certs/$1.key" f="$T/certs/$1-roots.pem" api_serial
        local untrusted=()
        [ -s "$c" ] || fail "$n: no certificate file"
        [ -s "$k" ] || fail "$n: no key file"
        key_matches_cert "$k" "$c" || fail "$n: key and certificate do not match"
        [ "$(stat -c %a "$k")" = 600 ] || fail "$n: the key file has mode $(stat -c %a "$k"), expected 600"
        [ -s "$f" ] || fail "$n: the -F file was not written"
        ca_others "$ca"
        [ -s "$T/$ca-others.pem" ] && untrusted=(-untrusted "$T/$ca-others.pem")
        openssl verify -CAfile "$f" "${untrusted[@]}" "$c" >"$T/verify.out" 2>&1 ||
                fail "$n: the certificate does not verify against the -F file: $(cat "$T/verify.out")"
        # The -F file holds the roots FETCH-ROOTS gave, and only them.
        ca_json "$ca" | python3 -c '
import json, sys
for c in json.load(sys.stdin)["data"]["roots"]:
    sys.stdout.write(c["pem"] if c["pem"].endswith("\n") else c["pem"] + "\n")' >"$T/$ca-roots.pem"
        cmp -s "$f" "$T/$ca-roots.pem" || fail "$n: the -F file is not the CA's roots"
        openssl x509 -in "$c" -noout -subject | grep -q "CN *= *$n.test" || fail "$n: wrong subject"
        openssl x509 -in "$c" -noout -ext subjectAltName | grep -q "DNS:$n.test" || fail "$n: no DNS name"
        api_serial=$(cert_field "$n" serial | tr 'a-f' 'A-F' | sed 's/^0*//')
        [ "$(serial_of "$c")" = "$api_serial" ] ||
                fail "$n: the file's serial $(serial_of "$c") is not the daemon's $api_serial"
        getcert list -i "$n" | grep -qx "	CA: $ca" || fail "$n: getcert list does not name CA $ca"
}

# new_cert NICK SERIAL: MONITORING with a certificate of another serial number, saved.
new_cert() {
        [ "$(cert_field "$1" state)" = MONITORING ] && [ "$(serial_of "$T/certs/$1.pem")" != "$2" ] &&
                [ "$(cert_field "$1" serial | tr 'a-f' 'A-F' | sed 's/^0*//')" = "$(serial_of "$T/certs/$1.pem")" ]
}

# exercise NICK CA: request, resubmit, rekey.
exercise() {
        local n=$1 ca=$2 out s1 s2 k1 k2
        out=$(getcert request -c "$ca" -I "$n" -f "$T/certs/$n.pem" -k "$T/certs/$n.key" \
                -F "$T/certs/$n-roots.pem" -N "CN=$n.test" -D "$n.test" 2>&1) || fail "request $n: $out"
        [ "$out" = "New signing request \"$n\" added." ] || fail "request $n said: $out"
        wait_state "$n" MONITORING 60
        check_cert "$n" "$ca"
        s1=$(serial_of "$T/certs/$n.pem")
        k1=$(pubkey_of_key "$T/certs/$n.key")

        # resubmit: a new certificate for the same key.
        out=$(getcert resubmit -i "$n" 2>&1) || fail "resubmit $n: $out"
        [ "$out" = "Resubmitting \"$n\" to \"$ca\"." ] || fail "resubmit $n said: $out"
        wait_until 60 new_cert "$n" "$s1"
        check_cert "$n" "$ca"
        s2=$(serial_of "$T/certs/$n.pem")
        [ "$(pubkey_of_key "$T/certs/$n.key")" = "$k1" ] || fail "resubmit $n changed the key"

        # rekey: a new key and a certificate for it.
        out=$(getcert rekey -i "$n" 2>&1) || fail "rekey $n: $out"
        [ "$out" = "Resubmitting \"$n\" to \"$ca\"." ] || fail "rekey $n said: $out"
        wait_until 60 new_cert "$n" "$s2"
        check_cert "$n" "$ca"
        k2=$(pubkey_of_key "$T/certs/$n.key")
        [ "$k2" != "$k1" ] || fail "rekey $n kept the key"
        [ "$(serial_of "$T/certs/$n.pem")" != "$s1" ] || fail "rekey $n: the first serial number again"
}

exercise ck1 cklocal
# certkeeper-local-submit: root -> issuing CA -> certificate; the -F file is the CA's roots.pem and
# the chain certificate came from FETCH-ROOTS.
cmp -s "$T/certs/ck1-roots.pem" "$T/ck-ca/roots.pem" || fail "ck1: the -F file is not the helper's roots.pem"
cmp -s "$T/cklocal-others.pem" "$T/ck-ca/issuing-cert.pem" || fail "cklocal: FETCH-ROOTS' other certificate is not the issuing CA"
openssl x509 -in "$T/certs/ck1.pem" -noout -issuer | grep -q 'certkeeper local issuing CA' ||
        fail "ck1: issuer $(openssl x509 -in "$T/certs/ck1.pem" -noout -issuer)"
exercise cks ckspace
cmp -s "$T/certs/cks-roots.pem" "$T/ca dir/roots.pem" || fail "cks: the -F file is not the roots.pem of '$T/ca dir'"
if openssl verify -CAfile "$T/certs/ck1-roots.pem" -untrusted "$T/cklocal-others.pem" "$T/certs/cks.pem" \
        >/dev/null 2>&1; then
        fail "cks verifies against the other CA directory's roots: the two CAs are one"
fi

if [ -n "$HAVE_CM" ]; then
        exercise cm1 cmlocal
        openssl x509 -in "$T/certs/cm1.pem" -noout -issuer | grep -q 'Local Signing Authority' ||
                fail "cm1: issuer $(openssl x509 -in "$T/certs/cm1.pem" -noout -issuer)"
        openssl x509 -in "$T/certs/cm1-roots.pem" -noout -subject | grep -q 'Local Signing Authority' ||
                fail "cm1: the -F file holds $(openssl x509 -in "$T/certs/cm1-roots.pem" -noout -subject)"
        [ -s "$T/cm-ca/creds" ] || fail "certmonger's local-submit did not keep its CA in $T/cm-ca"
        # The roots are not interchangeable: the test can tell one CA from the other.
        if openssl verify -CAfile "$T/certs/ck1-roots.pem" -untrusted "$T/cklocal-others.pem" \
                "$T/certs/cm1.pem" >/dev/null 2>&1; then
                fail "cm1 verifies against certkeeper-local-submit's roots"
        fi
        if openssl verify -CAfile "$T/certs/cm1-roots.pem" "$T/certs/ck1.pem" >/dev/null 2>&1; then
                fail "ck1 verifies against certmonger's local-submit roots"
        fi
fi

# ---- restart: everything stays MONITORING, the CA data is fetched again -------------------------------
NICKS=(ck1 cks)
[ -z "$HAVE_CM" ] || NICKS+=(cm1)
declare -A SERIAL ISSUED REFRESHES
for n in "${NICKS[@]}"; do
        SERIAL[$n]=$(cert_field "$n" serial)
        ISSUED[$n]=$(cert_field "$n" issued_count)
done
for ca in "${CAS[@]}"; do
        REFRESHES[$ca]=$(grep -c "Refreshing the data of CA '$ca'" "$LOG" || true)
done
stop_daemon
sleep 1
t_start=$(date +%s)
start_daemon
for n in "${NICKS[@]}"; do
        wait_state "$n" MONITORING 10
done
for ca in "${CAS[@]}"; do
        wait_until 30 refreshed_since "$ca" "$t_start"
        [ "$(grep -c "Refreshing the data of CA '$ca'" "$LOG")" -gt "${REFRESHES[$ca]}" ] ||
                fail "no new refresh of CA '$ca' in the log after the restart"
        [ "$(ca_data "$ca" errors)" = "{}" ] || fail "CA '$ca' has data errors after the restart: $(ca_data "$ca" errors)"
done
getcert list-cas | golden external-list-cas.txt
getcert list-cas -v | golden external-list-cas-v.txt
for n in "${NICKS[@]}"; do
        [ "$(cert_field "$n" state)" = MONITORING ] || fail "$n: $(cert_field "$n" state) after the restart"
        [ "$(cert_field "$n" serial)" = "${SERIAL[$n]}" ] || fail "$n: a new certificate after the restart"
        [ "$(cert_field "$n" issued_count)" = "${ISSUED[$n]}" ] || fail "$n: issued again after the restart"
done
check_cert ck1 cklocal
check_cert cks ckspace
[ -z "$HAVE_CM" ] || check_cert cm1 cmlocal
# And the CAs still issue after the restart.
s=$(serial_of "$T/certs/ck1.pem")
getcert resubmit -i ck1 >/dev/null || fail "resubmit ck1 after the restart"
wait_until 60 new_cert ck1 "$s"
check_cert ck1 cklocal
if [ -n "$HAVE_CM" ]; then
        s=$(serial_of "$T/certs/cm1.pem")
        getcert resubmit -i cm1 >/dev/null || fail "resubmit cm1 after the restart"
        wait_until 60 new_cert cm1 "$s"
        check_cert cm1 cmlocal
fi
echo "ok"
