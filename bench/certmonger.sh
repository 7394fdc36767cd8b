#!/usr/bin/env bash
# certmonger's local CA and certkeeper side by side, in the same run: N (100) EC P-256
# certificates with files in a temporary directory, timed from the first request until all are
# MONITORING. Both are driven the same way: one `getcert request` / `certkeeper request` process
# per certificate, PAR (8) at a time (xargs -P), then `list` is polled.
# certkeeper is also driven through its API (bench/lib/ckload.py), as bench/issuance.sh does.
#
#   bench/certmonger.sh BUILD_DIR [N]
source "$(dirname "$0")/lib/common.sh"
N=${2:-100}
PAR=${PAR:-8}

echo "== certmonger vs certkeeper: $N x EC P-256 from each one's local CA, $PAR requests at a time"
machine_info

# ---- certmonger, as a private daemon: no bus, a private socket, directories in $T/cm ----------
CM="$T/cm"
mkdir -p "$CM"/{requests,cas,config,tmp,local,home,files}
cat >"$CM/driver.sh" <<'DRV'
#!/usr/bin/env bash
# Runs under `certmonger -L -P SOCK -n -c`, which sets CERTMONGER_PVT_ADDRESS for getcert.
set -euo pipefail
t0=$(date +%s%N)
seq -f 'cm%06.0f' 0 $((N - 1)) | xargs -P "$PAR" -I{} \
        getcert request -c local -G EC -g 256 -I {} -f "$CM/files/{}.crt" -k "$CM/files/{}.key" >/dev/null
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
sed -i "2i N=$N PAR=$PAR CM='$CM'" "$CM/driver.sh"
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
        # Spot check: certmonger's last key matches its certificate.
        last=$(printf 'cm%06d' $((N - 1)))
        [ "$(openssl pkey -in "$CM/files/$last.key" -pubout | openssl sha256)" = \
          "$(openssl x509 -in "$CM/files/$last.crt" -noout -pubkey | openssl sha256)" ] ||
                echo "WARNING: certmonger's $last key and certificate do not match"
        cm_rate=$(python3 -c "import sys; print('%.1f' % (int(sys.argv[1]) / (int(sys.argv[2]) / 1000)))" "$cm_n" "$cm_all_ms")
        echo "certmonger $(certmonger -v 2>&1 | head -1): $cm_n MONITORING in $cm_all_ms ms (requests accepted in $cm_req_ms ms): $cm_rate certificates/s"
else
        cm_rate=n/a
        echo "certmonger could not run here: $cm_why"
fi

# ---- certkeeper, the same way (CLI, one process per request, PAR at a time) ------------------
start_daemon
mkdir -p "$T/ck-files"
t0=$(date +%s%N)
seq -f 'ck%06.0f' 0 $((N - 1)) | xargs -P "$PAR" -I{} \
        "$CERTKEEPER_BIN" request -c local -G EC -g 256 -I {} -f "$T/ck-files/{}.crt" -k "$T/ck-files/{}.key" >/dev/null
t1=$(date +%s%N)
while :; do
        n=$($CKLOAD count "$RUN/api.sock" MONITORING)
        [ "$n" -ge "$N" ] && break
        sleep 0.05
done
t2=$(date +%s%N)
ck_req_ms=$(( (t1 - t0) / 1000000 )); ck_all_ms=$(( (t2 - t0) / 1000000 ))
ck_rate=$(python3 -c "import sys; print('%.1f' % (int(sys.argv[1]) / (int(sys.argv[2]) / 1000)))" "$N" "$ck_all_ms")
echo "certkeeper (CLI): $n MONITORING in $ck_all_ms ms (requests accepted in $ck_req_ms ms): $ck_rate certificates/s"
last=$(printf 'ck%06d' $((N - 1)))
[ "$(openssl pkey -in "$T/ck-files/$last.key" -pubout | openssl sha256)" = \
  "$(openssl x509 -in "$T/ck-files/$last.crt" -noout -pubkey | openssl sha256)" ] ||
        { echo "FAIL: certkeeper's $last key and certificate do not match" >&2; exit 1; }

# ---- certkeeper through the API ---------------------------------------------------------------
api_out=$($CKLOAD issue "$RUN/api.sock" "$N" --concurrency "$PAR" --prefix api)
api_rate=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["certs_per_s"])' "$api_out")
echo "certkeeper (API, $PAR in flight): $api_out"
stop_daemon

echo
echo "RESULT certmonger-vs-certkeeper ($N certificates, EC P-256, local CA, $PAR at a time): certmonger $cm_rate/s; certkeeper (CLI) $ck_rate/s; certkeeper (API) $api_rate/s"
