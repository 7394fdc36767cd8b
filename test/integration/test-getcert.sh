#!/bin/bash
# The getcert personality against golden files written from certmonger's formats
# (/work/shared/reference/certmonger.md §2.8 list, §2.9 status, §2.10 list-cas, §3.4 exit codes).
# Only what changes from run to run is replaced before comparing: the temporary directory, dates
# and the local CA's generated name suffix. UPDATE_GOLDEN=1 rewrites the golden files (review them
# against the reference before keeping them).
. "$(dirname "$0")/lib.sh"

GOLDEN="$(cd "$(dirname "$0")" && pwd)/golden"

normalize() {
        sed -E -e "s|$T|@T@|g" \
               -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}/@DATE@/g' \
               -e 's/(local (issuing|root) CA) [0-9a-fA-F]+/\1 @ID@/g'
}

# golden NAME: compares stdin, normalized, with golden/NAME.
golden() {
        local name=$1
        normalize >"$T/$name"
        if [ -n "${UPDATE_GOLDEN:-}" ]; then
                cp "$T/$name" "$GOLDEN/$name"
                return 0
        fi
        diff -u "$GOLDEN/$name" "$T/$name" >&2 || fail "output differs from golden/$name (see the diff above)"
}

# run CMD...: prints the command's stdout and stderr, then "rc=N".
run() {
        local rc=0
        "$@" 2>&1 || rc=$?
        echo "rc=$rc"
}

start_daemon
mkdir -p "$T/certs"

{
        echo '$ getcert request -I web ... -w'
        run getcert request -I web -f "$T/certs/web.pem" -k "$T/certs/web.key" -N "CN=web.test,O=Example" \
                -D web.test -D www.web.test -A 192.0.2.7 -E admin@web.test -K host/web.test@EXAMPLE.TEST \
                -u digitalSignature -u keyEncipherment -U id-kp-serverAuth -U id-kp-clientAuth \
                -T webprofile -B "/bin/true pre-save" -C "/bin/true post-save" -w
        echo '$ getcert start-tracking -I orphan -f missing.pem'
        run getcert start-tracking -I orphan -f "$T/certs/missing.pem"
} >"$T/msg1"
wait_state web MONITORING 5
wait_state orphan NEED_GUIDANCE 30

# list in local time (a zone without daylight saving, so the name is fixed) and in UTC.
TZ=Asia/Tokyo getcert list | golden list.txt
TZ=Asia/Tokyo getcert list | grep -q '^	issued: .* JST$' || fail "list does not print local time"
TZ=Asia/Tokyo getcert list -u | golden list-u.txt
getcert list-cas | golden list-cas.txt
getcert list-cas -v | golden list-cas-v.txt

# The dates are real: list -u prints the certificate's notBefore/notAfter.
nb=$(date -u -d "$(openssl x509 -in "$T/certs/web.pem" -noout -startdate | cut -d= -f2)" '+%Y-%m-%d %H:%M:%S UTC')
na=$(date -u -d "$(openssl x509 -in "$T/certs/web.pem" -noout -enddate | cut -d= -f2)" '+%Y-%m-%d %H:%M:%S UTC')
getcert list -u -i web | grep -qxF "	issued: $nb" || fail "list -u: issued is not $nb"
getcert list -u -i web | grep -qxF "	expires: $na" || fail "list -u: expires is not $na"

# status: silent without -v; exit codes 0 (MONITORING), 4 (NEED_GUIDANCE), 1 (unknown).
[ -z "$(getcert status -i web)" ] || fail "status without -v is not silent"
issued_before=$(cert_field web issued_count)
{
        cat "$T/msg1"
        echo '$ getcert status -i web -v'
        run getcert status -i web -v
        echo '$ getcert status -i orphan -v'
        run getcert status -i orphan -v
        echo '$ getcert status -i nope -v'
        run getcert status -i nope -v
        echo '$ getcert start-tracking -I orphan2 -f missing2.pem -w'
        run getcert start-tracking -I orphan2 -f "$T/certs/missing2.pem" -w
        echo '$ getcert resubmit -i web'
        run getcert resubmit -i web
} >"$T/msg2"
reissued() { [ "$(cert_field web issued_count)" -gt "$issued_before" ]; }
wait_until 30 reissued
wait_state web MONITORING 30
{
        cat "$T/msg2"
        echo '$ getcert refresh -i web'
        run getcert refresh -i web
        echo '$ getcert stop-tracking -i orphan'
        run getcert stop-tracking -i orphan
        echo '$ getcert stop-tracking -i orphan'
        run getcert stop-tracking -i orphan
        echo '$ getcert list-cas -c nope'
        run getcert list-cas -c nope
} | golden messages.txt
wait_state web MONITORING 30
[ "$(api GET /api/v1/certificates/orphan | tail -n1)" = 404 ] || fail "orphan is still tracked"
[ -s "$T/certs/web.pem" ] || fail "web.pem is gone"

# The Kerberos principal is in the certificate twice, as certmonger encodes it: a Microsoft UPN
# otherName (1.3.6.1.4.1.311.20.2.3, a UTF8String) and a KRB5PrincipalName otherName
# (1.3.6.1.5.2.2: realm and name components as GeneralStrings).
san_hex=$(openssl asn1parse -in "$T/certs/web.pem" | grep -A1 ':X509v3 Subject Alternative Name' |
          sed -n 's/.*\[HEX DUMP\]://p')
[ -n "$san_hex" ] || fail "no subjectAltName extension"
echo "$san_hex" | xxd -r -p >"$T/san.der"
openssl asn1parse -inform DER -in "$T/san.der" -i >"$T/san.txt" || fail "the SAN does not parse"
grep -Eq 'OBJECT +:(1\.3\.6\.1\.4\.1\.311\.20\.2\.3|Microsoft (User|Universal) Principal Name)$' "$T/san.txt" ||
        fail "no UPN otherName: $(cat "$T/san.txt")"
grep -q 'UTF8STRING *:host/web.test@EXAMPLE.TEST$' "$T/san.txt" || fail "UPN value missing: $(cat "$T/san.txt")"
grep -Eq 'OBJECT +:1\.3\.6\.1\.5\.2\.2$' "$T/san.txt" || fail "no KRB5PrincipalName otherName: $(cat "$T/san.txt")"
# openssl does not print GeneralStrings: check their DER bytes. KRB5PrincipalName ::= SEQUENCE {
# realm [0] GeneralString, principalName [1] SEQUENCE { name-type [0] INTEGER (1, NT-PRINCIPAL),
# name-string [1] SEQUENCE OF GeneralString } }.
hexof() { printf '%s' "$1" | xxd -p | tr -d '\n' | tr a-f A-F; }
krb5="A00E1B0C$(hexof EXAMPLE.TEST)A11B3019A003020101A11230101B04$(hexof host)1B08$(hexof web.test)"
san_hex=$(tr a-f A-F <<<"$san_hex")
grep -q "06062B0601050202A02F302D$krb5" <<<"$san_hex" || fail "KRB5PrincipalName is not encoded as expected: $san_hex"
grep -q "060A2B060104018237140203A01C0C1A$(hexof host/web.test@EXAMPLE.TEST)" <<<"$san_hex" ||
        fail "UPN is not encoded as expected: $san_hex"
openssl x509 -in "$T/certs/web.pem" -noout -ext subjectAltName | grep -q 'UPN::host/web.test@EXAMPLE.TEST' ||
        fail "openssl does not read the UPN"

# The rest of the requested template is in the certificate too.
text=$(openssl x509 -in "$T/certs/web.pem" -noout -text)
for want in 'DNS:web.test' 'DNS:www.web.test' 'IP Address:192.0.2.7' 'email:admin@web.test' \
            'Digital Signature, Key Encipherment' 'TLS Web Server Authentication, TLS Web Client Authentication'; do
        grep -qF "$want" <<<"$text" || fail "certificate lacks '$want'"
done

echo "ok"
