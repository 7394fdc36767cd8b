#!/bin/bash
# certkeeper-local-submit, the local CA as a certmonger CA helper (man/certkeeper-local-submit.8),
# run from the build directory: every operation and exit status, FETCH-ROOTS in certmonger's format
# and a certificate that verifies against what it printed, 20 helpers signing at once in a new CA
# directory (one CA, 20 serial numbers), the CA's lock held elsewhere, and finally real certmonger
# (a private daemon on a private socket, no bus) driving the helper to MONITORING. That last part is
# skipped, with a SKIP line, where certmonger is not installed.
. "$(dirname "$0")/lib.sh"

HELPER="$BUILD_DIR/src/helper/certkeeper-local-submit"
[ -x "$HELPER" ] || fail "$HELPER is not built"
VERSION=$(sed -n 's/^#define PACKAGE_VERSION "\(.*\)"$/\1/p' "$BUILD_DIR/config.h")
[ -n "$VERSION" ] || fail "no PACKAGE_VERSION in $BUILD_DIR/config.h"

LOCKER=
stop_locker() {
        if [ -n "$LOCKER" ]; then
                kill "$LOCKER" 2>/dev/null || true
                wait "$LOCKER" 2>/dev/null || true
                LOCKER=
        fi
}
trap 'rc=$?; stop_locker; (exit $rc); cleanup' EXIT

# helper [VAR=VALUE...] -- ARGS...: runs the helper with a clean environment plus the variables
# given; stdout in $T/out, stderr in $T/err, the exit status in $RC.
helper() {
        local envs=()
        while [ "$1" != "--" ]; do envs+=("$1"); shift; done
        shift
        RC=0
        env -i PATH=/usr/bin:/bin "${envs[@]}" "$HELPER" "$@" >"$T/out" 2>"$T/err" || RC=$?
}

# expect_rc WANT WHAT: checks $RC, and for a failure that stdout holds no certificate.
expect_rc() {
        [ "$RC" = "$1" ] || fail "$2: exit status $RC, expected $1 (stderr: $(cat "$T/err"))"
        if [ "$1" != 0 ] && grep -q -- '-----BEGIN CERTIFICATE-----' "$T/out"; then
                fail "$2: a certificate on stdout with exit status $RC"
        fi
}

# expect_words WHAT PATTERN: the reason is on stderr (the log) and on stdout (certmonger's ca-error).
expect_words() {
        grep -qi -- "$2" "$T/err" || fail "$1: stderr does not say '$2': $(cat "$T/err")"
        grep -qi -- "$2" "$T/out" || fail "$1: stdout does not say '$2': $(cat "$T/out")"
}

# make_csr NAME: a fresh EC key and request for CN=NAME with NAME as DNS name, in $T/csr/NAME.*
mkdir -p "$T/csr"
make_csr() {
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/csr/$1.key" \
                -subj "/CN=$1" -addext "subjectAltName=DNS:$1" -out "$T/csr/$1.csr" 2>/dev/null ||
                fail "openssl req for $1"
}

CA="$T/ca"

# ---- IDENTIFY, the requirements, unsupported operations ------------------------------------------
helper CERTMONGER_OPERATION=IDENTIFY -- -d "$CA"
expect_rc 0 IDENTIFY
[ "$(cat "$T/out")" = "certkeeper local CA (certkeeper $VERSION)" ] || fail "IDENTIFY printed: $(cat "$T/out")"
[ "$(wc -l <"$T/out")" = 1 ] || fail "IDENTIFY: not one line"
[ ! -e "$CA" ] || fail "IDENTIFY created the CA directory"

for op in GET-NEW-REQUEST-REQUIREMENTS GET-RENEW-REQUEST-REQUIREMENTS get-new-request-requirements; do
        helper CERTMONGER_OPERATION=$op -- -d "$CA"
        expect_rc 0 "$op"
        [ ! -s "$T/out" ] || fail "$op printed: $(cat "$T/out")"
done

for op in GET-SUPPORTED-TEMPLATES GET-DEFAULT-TEMPLATE FETCH-SCEP-CA-CAPS NO-SUCH-OPERATION; do
        helper CERTMONGER_OPERATION=$op -- -d "$CA"
        expect_rc 6 "$op"
        [ ! -s "$T/out" ] || fail "$op printed: $(cat "$T/out")"
done

# ---- SUBMIT and POLL ----------------------------------------------------------------------------
make_csr one.example
csr=$(cat "$T/csr/one.example.csr")

# Unset operation = SUBMIT; the request in CERTMONGER_CSR.
t0=$(date +%s)
helper "CERTMONGER_CSR=$csr" -- -d "$CA" -V 3600
expect_rc 0 "SUBMIT (operation unset)"
grep -q 'created or renewed' "$T/err" || fail "the first run did not say it created the CA: $(cat "$T/err")"
cp "$T/out" "$T/one.pem"
[ "$(grep -c -- '-----BEGIN CERTIFICATE-----' "$T/one.pem")" = 1 ] || fail "SUBMIT: not exactly one certificate"
openssl x509 -in "$T/one.pem" -noout -subject | grep -q 'CN *= *one.example' || fail "SUBMIT: subject not copied"
openssl x509 -in "$T/one.pem" -noout -ext subjectAltName | grep -q 'DNS:one.example' || fail "SUBMIT: SAN not copied"
key_matches_cert "$T/csr/one.example.key" "$T/one.pem" || fail "SUBMIT: the certificate is not for the request's key"
na=$(date -u -d "$(openssl x509 -in "$T/one.pem" -noout -enddate | cut -d= -f2)" +%s)
[ $((na - t0)) -ge 3590 ] && [ $((na - t0)) -le 3700 ] || fail "-V 3600: notAfter is $((na - t0)) s away"
[ -f "$CA/roots.pem" ] && [ -f "$CA/issuing-cert.pem" ] || fail "the CA directory was not set up"

# The same with the operation named, the request from a file, and as a POLL.
for op in SUBMIT submit POLL; do
        helper CERTMONGER_OPERATION=$op -- -d "$CA" "$T/csr/one.example.csr"
        expect_rc 0 "$op from a file"
        openssl x509 -in "$T/out" -noout -subject | grep -q 'CN *= *one.example' || fail "$op: wrong certificate"
done
# The file wins over CERTMONGER_CSR, as with certmonger's local-submit.
helper CERTMONGER_OPERATION=SUBMIT CERTMONGER_CSR=garbage -- -d "$CA" "$T/csr/one.example.csr"
expect_rc 0 "SUBMIT with a file and a bad CERTMONGER_CSR"

# Default validity: one year (the daemon's [local] validity).
helper "CERTMONGER_CSR=$csr" -- -d "$CA"
expect_rc 0 "SUBMIT with the default validity"
na=$(date -u -d "$(openssl x509 -in "$T/out" -noout -enddate | cut -d= -f2)" +%s)
[ $((na - t0)) -ge $((365 * 86400 - 60)) ] && [ $((na - t0)) -le $((365 * 86400 + 600)) ] ||
        fail "default validity: notAfter is $((na - t0)) s away"

# ---- FETCH-ROOTS --------------------------------------------------------------------------------
helper CERTMONGER_OPERATION=FETCH-ROOTS -- -d "$CA"
expect_rc 0 FETCH-ROOTS
cp "$T/out" "$T/fetch-roots.out"
# Split as certmonger does (cadata.c): "nickname\nPEM" entries; a blank line ends a section and
# every blank line after it is skipped.
python3 - "$T/fetch-roots.out" "$T/fr" <<'PY' || fail "FETCH-ROOTS output is not in certmonger's format: $(cat "$T/fetch-roots.out")"
import sys
text = open(sys.argv[1]).read()
out = sys.argv[2]
p = 0
sections = []
for _ in range(3):
    items = []
    while True:
        q = text.find("\n", p)
        if q < 0:
            q = len(text)
        if q == p:
            break
        nick = text[p:q]
        p = q + 1
        assert text.startswith("-----BEGIN CERTIFICATE-----\n", p), "no PEM after nickname " + nick
        e = text.index("-----END CERTIFICATE-----\n", p) + len("-----END CERTIFICATE-----\n")
        items.append((nick, text[p:e]))
        p = e
        if text.startswith("\n", p):
            while text.startswith("\n", p):
                p += 1
            break
    sections.append(items)
assert p == len(text), "trailing data"
for name, items in zip(("roots", "other-roots", "others"), sections):
    with open(out + "." + name + ".pem", "w") as f:
        for _, pem in items:
            f.write(pem)
    with open(out + "." + name + ".nicks", "w") as f:
        for nick, _ in items:
            f.write(nick + "\n")
PY
[ "$(grep -c BEGIN "$T/fr.roots.pem")" = 1 ] || fail "FETCH-ROOTS: not one root"
[ "$(grep -c BEGIN "$T/fr.others.pem")" = 1 ] || fail "FETCH-ROOTS: not one other certificate"
cmp -s "$T/fr.roots.pem" "$CA/roots.pem" || fail "FETCH-ROOTS: the root is not roots.pem's"
cmp -s "$T/fr.others.pem" "$CA/issuing-cert.pem" || fail "FETCH-ROOTS: the other certificate is not the issuing CA"
# No earlier root: the current one is repeated (see the man page), so the issuing CA is never
# read as a trusted root.
cmp -s "$T/fr.other-roots.pem" "$T/fr.roots.pem" || fail "FETCH-ROOTS: other roots are not the root again"
grep -qx 'certkeeper local root CA [0-9a-f]*' "$T/fr.roots.nicks" || fail "root nickname: $(cat "$T/fr.roots.nicks")"
grep -qx 'certkeeper local issuing CA [0-9a-f]*' "$T/fr.others.nicks" ||
        fail "issuing CA nickname: $(cat "$T/fr.others.nicks")"
# What FETCH-ROOTS printed is enough to verify what SUBMIT issued.
openssl verify -CAfile "$T/fr.roots.pem" -untrusted "$T/fr.others.pem" "$T/one.pem" >/dev/null ||
        fail "the certificate does not verify against the roots FETCH-ROOTS printed"
# ... and the intermediate is needed: the chain is root -> issuing CA -> certificate.
if openssl verify -CAfile "$T/fr.roots.pem" "$T/one.pem" >/dev/null 2>&1; then
        fail "the certificate verifies without the issuing CA"
fi

# ---- Requests the CA does not take ---------------------------------------------------------------
helper -- -d "$CA"
expect_rc 4 "no request"
expect_words "no request" "Unable to read the signing request"

helper CERTMONGER_OPERATION=SUBMIT CERTMONGER_CSR= -- -d "$CA"
expect_rc 4 "empty CERTMONGER_CSR"
expect_words "empty CERTMONGER_CSR" "Unable to read the signing request"

helper CERTMONGER_OPERATION=SUBMIT "CERTMONGER_CSR=this is not a request" -- -d "$CA"
expect_rc 4 "unparsable request"
expect_words "unparsable request" "cannot be parsed"

# A certificate is not a request.
helper CERTMONGER_OPERATION=SUBMIT -- -d "$CA" "$T/one.pem"
expect_rc 4 "a certificate given as request"
expect_words "a certificate given as request" "cannot be parsed"

helper CERTMONGER_OPERATION=POLL -- -d "$CA" "$T/csr/missing.csr"
expect_rc 4 "missing request file"
expect_words "missing request file" "missing.csr"

# A request altered after it was signed: one byte of the subject changed.
openssl req -in "$T/csr/one.example.csr" -outform DER -out "$T/one.der"
python3 - "$T/one.der" "$T/tampered.csr" <<'PY'
import base64, sys
d = open(sys.argv[1], "rb").read()
i = d.index(b"one.example")
d = d[:i] + b"two" + d[i + 3:]
b = base64.encodebytes(d).decode()
open(sys.argv[2], "w").write("-----BEGIN CERTIFICATE REQUEST-----\n" + b + "-----END CERTIFICATE REQUEST-----\n")
PY
# (openssl req -verify exits 0 either way in OpenSSL 3.0: read what it says.)
openssl req -in "$T/tampered.csr" -noout -verify 2>&1 | grep -q 'verify failure' ||
        fail "the tampered request still verifies: the test is broken"
openssl req -in "$T/tampered.csr" -noout -subject | grep -q 'CN *= *two.example' ||
        fail "the tampered request cannot be parsed: the test is broken"
helper CERTMONGER_OPERATION=SUBMIT "CERTMONGER_CSR=$(cat "$T/tampered.csr")" -- -d "$CA"
expect_rc 2 "tampered request"
expect_words "tampered request" "signature does not verify"

# ---- Bad command lines: under-configured -----------------------------------------------------------
for args in "-x" "-d" "-V 10" "-V soon" "-w 0" "a.csr b.csr"; do
        # shellcheck disable=SC2086
        helper "CERTMONGER_CSR=$csr" -- $args
        expect_rc 4 "command line '$args'"
        [ -s "$T/err" ] || fail "command line '$args': nothing said"
done
helper -- -h
expect_rc 0 "-h"
grep -q 'Usage: certkeeper-local-submit' "$T/out" || fail "-h printed no usage"

# ---- The CA cannot be used: unreachable (3) --------------------------------------------------------
touch "$T/not-a-directory"
helper "CERTMONGER_CSR=$csr" -- -d "$T/not-a-directory/ca"
expect_rc 3 "CA directory under a file"
expect_words "CA directory under a file" "not-a-directory"
helper CERTMONGER_OPERATION=FETCH-ROOTS -- -d "$T/not-a-directory/ca"
expect_rc 3 "FETCH-ROOTS with a CA directory under a file"

# The CA's lock held by another process for longer than -w.
python3 -c '
import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.flock(f, fcntl.LOCK_EX)
open(sys.argv[2], "w").close()
time.sleep(120)' "$CA/lock" "$T/locked" &
LOCKER=$!
wait_until 10 test -f "$T/locked"
s=$(date +%s%N)
helper "CERTMONGER_CSR=$csr" -- -d "$CA" -w 1
e=$(( ($(date +%s%N) - s) / 1000000 ))
expect_rc 3 "lock held elsewhere"
expect_words "lock held elsewhere" "lock"
[ "$e" -ge 1000 ] && [ "$e" -lt 10000 ] || fail "lock held elsewhere: gave up after $e ms, expected about 1 s"
stop_locker
helper "CERTMONGER_CSR=$csr" -- -d "$CA" -w 1
expect_rc 0 "lock released"

# ---- The default directory: $CERTKEEPER_STATE_DIR/local-ca ----------------------------------------
helper "CERTMONGER_CSR=$csr" "CERTKEEPER_STATE_DIR=$T/state-default" --
expect_rc 0 "default directory"
[ -f "$T/state-default/local-ca/roots.pem" ] || fail "default directory: no CA in \$CERTKEEPER_STATE_DIR/local-ca"
# certmonger's own local CA directory is not ours.
helper CERTMONGER_OPERATION=FETCH-ROOTS "CERTMONGER_LOCAL_CA_DIR=$T/cm-local" \
        "CERTKEEPER_STATE_DIR=$T/state-default" --
expect_rc 0 "FETCH-ROOTS with CERTMONGER_LOCAL_CA_DIR set"
[ ! -e "$T/cm-local" ] || fail "CERTMONGER_LOCAL_CA_DIR was used"

# ---- 20 SUBMITs at once into a new CA directory ---------------------------------------------------
N=20
CONC="$T/conc-ca"
mkdir -p "$T/conc"
for i in $(seq $N); do make_csr "c$i.example"; done
pids=()
for i in $(seq $N); do
        env -i PATH=/usr/bin:/bin CERTMONGER_OPERATION=SUBMIT "CERTMONGER_CSR=$(cat "$T/csr/c$i.example.csr")" \
                "$HELPER" -d "$CONC" >"$T/conc/$i.pem" 2>"$T/conc/$i.err" &
        pids+=($!)
done
for i in $(seq $N); do
        rc=0
        wait "${pids[$((i - 1))]}" || rc=$?
        [ "$rc" = 0 ] || fail "concurrent SUBMIT $i: exit status $rc: $(cat "$T/conc/$i.err")"
done
[ "$(grep -l 'created or renewed' "$T"/conc/*.err | wc -l)" = 1 ] || fail "the CA was not created exactly once"
[ ! -e "$CONC/archive" ] || fail "something was made twice: $(ls "$CONC/archive")"
for i in $(seq $N); do
        openssl x509 -in "$T/conc/$i.pem" -noout -serial
done | sort -u >"$T/conc/serials"
[ "$(wc -l <"$T/conc/serials")" = $N ] || fail "$N certificates, $(wc -l <"$T/conc/serials") distinct serial numbers"
for i in $(seq $N); do
        openssl x509 -in "$T/conc/$i.pem" -noout -issuer
done | sort -u >"$T/conc/issuers"
[ "$(wc -l <"$T/conc/issuers")" = 1 ] || fail "concurrent SUBMITs used several issuing CAs: $(cat "$T/conc/issuers")"
openssl verify -CAfile "$CONC/roots.pem" -untrusted "$CONC/issuing-cert.pem" "$T"/conc/*.pem >"$T/conc/verify" ||
        fail "concurrent certificates do not verify: $(cat "$T/conc/verify")"

# ---- Under valgrind, once, when it is installed (not on a sanitizer build) -------------------------
sanitize=$(python3 -c '
import json, sys
for o in json.load(open(sys.argv[1])):
    if o["name"] == "b_sanitize":
        print(o["value"] if isinstance(o["value"], str) else ",".join(o["value"]) or "none")' \
        "$BUILD_DIR/meson-info/intro-buildoptions.json" 2>/dev/null || echo unknown)
if [ "$sanitize" != none ]; then
        echo "SKIP: valgrind part: the build uses sanitizers ($sanitize)"
elif command -v valgrind >/dev/null; then
        for op in SUBMIT FETCH-ROOTS; do
                RC=0
                env -i PATH=/usr/bin:/bin CERTMONGER_OPERATION=$op "CERTMONGER_CSR=$csr" \
                        valgrind -q --leak-check=full --error-exitcode=99 "$HELPER" -d "$CA" >"$T/out" 2>"$T/err" ||
                        RC=$?
                [ "$RC" = 0 ] || fail "valgrind, $op: exit status $RC: $(cat "$T/err")"
        done
        RC=0
        env -i PATH=/usr/bin:/bin CERTMONGER_CSR=junk valgrind -q --leak-check=full --error-exitcode=99 \
                "$HELPER" -d "$CA" >"$T/out" 2>"$T/err" || RC=$?
        [ "$RC" = 4 ] || fail "valgrind, bad request: exit status $RC: $(cat "$T/err")"
else
        echo "SKIP: valgrind part: valgrind is not installed"
fi

# ---- Real certmonger driving the helper ---------------------------------------------------------------
# A private certmonger: no bus (-L, a private socket), its directories in $T/cm, the driver run
# by certmonger itself (-c) with CERTMONGER_PVT_ADDRESS set for getcert; certmonger exits when the
# driver does. certmonger gives the driver a clean environment, so values are written into it.
CM_GETCERT=$(type -P getcert || true)
if ! command -v certmonger >/dev/null || [ -z "$CM_GETCERT" ]; then
        echo "SKIP: certmonger part: certmonger or its getcert is not installed (Debian package certmonger)"
        exit 0
fi
if "$CM_GETCERT" --version 2>&1 | grep -qi certkeeper; then
        echo "SKIP: certmonger part: '$CM_GETCERT' is certkeeper's getcert, not certmonger's"
        exit 0
fi

CM="$T/cm"
mkdir -p "$CM"/{requests,cas,config,tmp,local,home,files}
cat >"$CM/driver.sh" <<DRV
#!/bin/bash
set -u
G='$CM_GETCERT'
"\$G" add-ca -c certkeeper -e '$HELPER -d $T/cm-ca' || { echo "DRIVER add-ca failed"; exit 1; }
# The CA data (IDENTIFY, FETCH-ROOTS, ...) is fetched right after add-ca.
for _ in \$(seq 100); do
        "\$G" list-cas -v -c certkeeper >'$CM/list-cas' 2>&1
        grep -q 'self-identifies as' '$CM/list-cas' && grep -q '^ca_other_certs=' '$CM'/cas/* && break
        sleep 0.1
done
"\$G" request -c certkeeper -I one -f '$CM/files/one.crt' -k '$CM/files/one.key' -F '$CM/files/ca.pem' \\
        -N CN=cm.example -D cm.example -w >'$CM/request.out' 2>&1
for _ in \$(seq 300); do
        "\$G" list -i one >'$CM/list' 2>&1
        grep -q 'status: MONITORING' '$CM/list' && break
        sleep 0.1
done
cp '$CM/files/one.crt' '$CM/first.crt' 2>/dev/null
# Renewal through the helper: resubmit, and wait for a new certificate.
"\$G" resubmit -i one -w >'$CM/resubmit.out' 2>&1
for _ in \$(seq 300); do
        "\$G" list -i one >'$CM/list2' 2>&1
        if grep -q 'status: MONITORING' '$CM/list2' && ! cmp -s '$CM/files/one.crt' '$CM/first.crt'; then
                break
        fi
        sleep 0.1
done
echo DRIVER_DONE
DRV
chmod +x "$CM/driver.sh"

RC=0
env CERTMONGER_REQUESTS_DIR="$CM/requests" CERTMONGER_CAS_DIR="$CM/cas" CERTMONGER_CONFIG_DIR="$CM/config" \
    CERTMONGER_TMPDIR="$CM/tmp" CERTMONGER_LOCAL_CA_DIR="$CM/local" HOME="$CM/home" \
    timeout 300 certmonger -s -L -P "$CM/sock" -n -c "$CM/driver.sh" >"$CM/certmonger.log" 2>&1 || RC=$?
if ! grep -q DRIVER_DONE "$CM/certmonger.log"; then
        if grep -qiE 'dbus|bus|permission|cannot' "$CM/certmonger.log" && [ ! -f "$CM/list" ]; then
                echo "SKIP: certmonger part: certmonger could not run here (exit $RC): $(tail -n 3 "$CM/certmonger.log")"
                exit 0
        fi
        fail "certmonger's driver did not finish (exit $RC): $(tail -n 20 "$CM/certmonger.log")"
fi

grep -q "self-identifies as: certkeeper local CA (certkeeper $VERSION)" "$CM/list-cas" ||
        fail "certmonger did not record IDENTIFY: $(cat "$CM/list-cas")"
grep -q 'status: MONITORING' "$CM/list" || fail "certmonger's request is not MONITORING: $(cat "$CM/list" "$CM/request.out")"
grep -q 'CA: certkeeper' "$CM/list" || fail "certmonger's request is not from our CA: $(cat "$CM/list")"
grep -q 'issuer: CN=certkeeper local issuing CA' "$CM/list" || fail "certmonger lists another issuer: $(cat "$CM/list")"

# How certmonger filed FETCH-ROOTS: the root as root, the issuing CA as an other (not trusted)
# certificate.
cafile=$(grep -l '^id=certkeeper$' "$CM"/cas/*) || fail "certmonger saved no CA file for 'certkeeper'"
grep -q '^ca_root_certs=certkeeper local root CA ' "$cafile" || fail "certmonger's CA roots: $(grep '^ca_' "$cafile")"
grep -q '^ca_other_certs=certkeeper local issuing CA ' "$cafile" ||
        fail "certmonger did not file the issuing CA as an other certificate: $(grep '^ca_' "$cafile")"
if grep -q '^ca_other_root_certs=certkeeper local issuing CA' "$cafile"; then
        fail "certmonger trusts the issuing CA as a root"
fi

# The certificate certmonger saved: for its key, and verifying against the -F file certmonger
# wrote from FETCH-ROOTS, with the issuing CA.
key_matches_cert "$CM/files/one.key" "$CM/files/one.crt" || fail "certmonger's key and certificate do not match"
cmp -s "$CM/files/ca.pem" "$T/cm-ca/roots.pem" || fail "certmonger's -F file is not our roots.pem"
openssl verify -CAfile "$CM/files/ca.pem" -untrusted "$T/cm-ca/issuing-cert.pem" "$CM/files/one.crt" >/dev/null ||
        fail "certmonger's certificate does not verify against its -F file"
openssl x509 -in "$CM/files/one.crt" -noout -ext subjectAltName | grep -q 'DNS:cm.example' ||
        fail "certmonger's certificate lacks its DNS name"
grep -q 'status: MONITORING' "$CM/list2" || fail "after resubmit, not MONITORING: $(cat "$CM/list2" "$CM/resubmit.out")"
if cmp -s "$CM/files/one.crt" "$CM/first.crt"; then
        fail "resubmit through certmonger issued no new certificate"
fi
echo "certmonger $(certmonger -v 2>&1 | head -n 1 | awk '{print $2}') drove certkeeper-local-submit to MONITORING and through a resubmit"
