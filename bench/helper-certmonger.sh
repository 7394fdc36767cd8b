#!/usr/bin/env bash
# certmonger's own CA helper, /usr/lib/certmonger/local-submit, driven by certmonger and by
# certkeeperd side by side, in the same run: N (100) EC P-256 certificates with files in a
# temporary directory, timed from the first request until all are MONITORING. Each daemon has the
# helper as an EXTERNAL CA ("getcert add-ca" / "certkeeper add-ca", the same command line, a CA
# directory of its own) and is driven the same way: one `getcert request` / `certkeeper request`
# process per certificate, PAR (8) at a time (xargs -P), then `list` is polled. certkeeperd is
# also driven through its API (bench/lib/ckload.py), as bench/issuance.sh does.
#
#   bench/helper-certmonger.sh BUILD_DIR [N]      env: PAR (8), HELPER_WORKERS ([helpers] workers, 8)
source "$(dirname "$0")/lib/common.sh"
N=${2:-100}
PAR=${PAR:-8}
HELPER_WORKERS=${HELPER_WORKERS:-8}
CM_HELPER=${CM_HELPER:-/usr/lib/certmonger/local-submit}
printf '[helpers]\nworkers = %s\n' "$HELPER_WORKERS" >>"$CONF"

echo "== certmonger vs certkeeper through the same CA helper ($CM_HELPER): $N x EC P-256, $PAR requests at a time"
echo "settings:  certkeeperd [daemon] workers = ${WORKERS:-0} (0: two per CPU), [helpers] workers = $HELPER_WORKERS"
machine_info
[ -x "$CM_HELPER" ] || { echo "no $CM_HELPER (Debian package certmonger)" >&2; exit 1; }
rate() { python3 -c "import sys; print('%.1f' % (int(sys.argv[1]) / (int(sys.argv[2]) / 1000)))" "$1" "$2"; }

# ---- the helper alone, in a loop: what it costs by itself (bench/lib/spawnrate.c) -----------------
cc -O2 -std=gnu17 -o "$T/spawnrate" "$BENCH_LIB/spawnrate.c"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=alone.example \
        -keyout "$T/alone.key" -out "$T/alone.csr" 2>/dev/null
mkdir -p "$T/alone-ca"
CERTMONGER_OPERATION=SUBMIT CERTMONGER_CSR=$(cat "$T/alone.csr") "$CM_HELPER" -d "$T/alone-ca" >/dev/null
alone=$(CERTMONGER_OPERATION=SUBMIT CERTMONGER_CSR=$(cat "$T/alone.csr") "$T/spawnrate" -t 3 -p 2 -c "$CM_HELPER" -d "$T/alone-ca")
alone_rate=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["per_s"])' "$alone")
echo "helper alone (SUBMIT, one CSR, 2 in parallel): $alone"

# ---- certmonger, as a private daemon (as bench/certmonger.sh): no bus, a private socket ----------
CM="$T/cm"
mkdir -p "$CM"/{requests,cas,config,tmp,local,home,files,helper-ca}
cat >"$CM/driver.sh" <<'DRV'
#!/usr/bin/env bash
# Runs under `certmonger -L -P SOCK -n -c`, which sets CERTMONGER_PVT_ADDRESS for getcert.
set -euo pipefail
getcert add-ca -c bench-helper -e "$CM_HELPER -d $CM/helper-ca" >/dev/null
# Let certmonger ask the new CA for its data first (as certkeeper's side does), outside the timing.
for _ in $(seq 200); do
        getcert list-cas -c bench-helper 2>/dev/null | grep -q 'Root certificate' && break
        sleep 0.05
done
t0=$(date +%s%N)
seq -f 'cm%06.0f' 0 $((N - 1)) | xargs -P "$PAR" -I{} \
        getcert request -c bench-helper -G EC -g 256 -I {} -f "$CM/files/{}.crt" -k "$CM/files/{}.key" >/dev/null
t1=$(date +%s%N)
while :; do
        n=$(getcert list | grep -c 'status: MONITORING' || true)
        [ "$n" -ge "$N" ] && break
        if [ $(( ($(date +%s%N) - t0) / 1000000000 )) -gt 600 ]; then echo "timeout: $n of $N" >&2; break; fi
        sleep 0.05
done
t2=$(date +%s%N)
echo "CM_RESULT $n $(( (t1 - t0) / 1000000 )) $(( (t2 - t0) / 1000000 ))"
DRV
# certmonger gives the -c command a clean environment: bake the values in.
sed -i "2i N=$N PAR=$PAR CM='$CM' CM_HELPER='$CM_HELPER'" "$CM/driver.sh"
chmod +x "$CM/driver.sh"
cm_result=
if ! command -v certmonger >/dev/null || ! command -v getcert >/dev/null; then
        cm_why="certmonger or getcert is not installed (Debian package certmonger)"
else
        cm_out=$(env CERTMONGER_REQUESTS_DIR="$CM/requests" CERTMONGER_CAS_DIR="$CM/cas" \
                 CERTMONGER_CONFIG_DIR="$CM/config" CERTMONGER_TMPDIR="$CM/tmp" \
                 CERTMONGER_LOCAL_CA_DIR="$CM/local" HOME="$CM/home" \
                 timeout 900 certmonger -s -L -P "$CM/sock" -n -c "$CM/driver.sh" 2>&1) || true
        cm_result=$(grep '^CM_RESULT' <<<"$cm_out" || true)
        cm_why=$(tail -n 5 <<<"$cm_out")
fi
if [ -n "$cm_result" ]; then
        read -r _ cm_n cm_req_ms cm_all_ms <<<"$cm_result"
        last=$(printf 'cm%06d' $((N - 1)))
        [ "$(openssl pkey -in "$CM/files/$last.key" -pubout | openssl sha256)" = \
          "$(openssl x509 -in "$CM/files/$last.crt" -noout -pubkey | openssl sha256)" ] ||
                echo "WARNING: certmonger's $last key and certificate do not match"
        cm_rate=$(rate "$cm_n" "$cm_all_ms")
        echo "certmonger $(certmonger -v 2>&1 | head -1): $cm_n MONITORING in $cm_all_ms ms (requests accepted in $cm_req_ms ms): $cm_rate certificates/s; issuer: $(openssl x509 -in "$CM/files/$last.crt" -noout -issuer)"
else
        cm_rate=n/a
        echo "certmonger could not run here: $cm_why"
fi

# ---- certkeeperd, the same helper, the same way (CLI, one process per request, PAR at a time) ----
start_daemon
mkdir -p "$T/ck-files" "$T/ck-helper-ca"
"$CERTKEEPER_BIN" add-ca -c bench-helper -e "$CM_HELPER -d $T/ck-helper-ca" >/dev/null
for _ in $(seq 600); do
        curl -s --unix-socket "$RUN/api.sock" http://localhost/api/v1/cas/bench-helper |
                python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("data") else 1)' && break
        sleep 0.05
done
t0=$(date +%s%N)
seq -f 'ck%06.0f' 0 $((N - 1)) | xargs -P "$PAR" -I{} \
        "$CERTKEEPER_BIN" request -c bench-helper -G EC -g 256 -I {} -f "$T/ck-files/{}.crt" -k "$T/ck-files/{}.key" >/dev/null
t1=$(date +%s%N)
while :; do
        n=$($CKLOAD count "$RUN/api.sock" MONITORING)
        [ "$n" -ge "$N" ] && break
        if [ $(( ($(date +%s%N) - t0) / 1000000000 )) -gt 600 ]; then echo "timeout: $n of $N" >&2; exit 1; fi
        sleep 0.05
done
t2=$(date +%s%N)
ck_req_ms=$(( (t1 - t0) / 1000000 )); ck_all_ms=$(( (t2 - t0) / 1000000 ))
ck_rate=$(rate "$N" "$ck_all_ms")
last=$(printf 'ck%06d' $((N - 1)))
[ "$(openssl pkey -in "$T/ck-files/$last.key" -pubout | openssl sha256)" = \
  "$(openssl x509 -in "$T/ck-files/$last.crt" -noout -pubkey | openssl sha256)" ] ||
        { echo "FAIL: certkeeper's $last key and certificate do not match" >&2; exit 1; }
echo "certkeeper (CLI): $n MONITORING in $ck_all_ms ms (requests accepted in $ck_req_ms ms): $ck_rate certificates/s; issuer: $(openssl x509 -in "$T/ck-files/$last.crt" -noout -issuer)"

# ---- certkeeperd through the API ------------------------------------------------------------------
api_out=$($CKLOAD issue "$RUN/api.sock" "$N" --concurrency "$PAR" --prefix api --ca bench-helper)
api_rate=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["certs_per_s"])' "$api_out")
echo "certkeeper (API, $PAR in flight): $api_out"
stop_daemon

ratio() { python3 -c "import sys; print('%.1f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2" 2>/dev/null || echo n/a; }
echo
echo "RESULT helper-certmonger ($N certificates, EC P-256, $CM_HELPER, $PAR at a time): certmonger $cm_rate/s; certkeeper (CLI) $ck_rate/s ($(ratio "$ck_rate" "$cm_rate")x); certkeeper (API) $api_rate/s ($(ratio "$api_rate" "$cm_rate")x); the helper alone $alone_rate/s (2 in parallel)"
