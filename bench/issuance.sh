#!/usr/bin/env bash
# Issuance throughput: N certificates (EC P-256, local CA, durable: key and certificate fsynced,
# database committed) requested through the API with several requests in flight, timed from the
# first POST until all N are MONITORING. Also openssl's raw ECDSA P-256 speed, for the ratio.
#
#   bench/issuance.sh BUILD_DIR [N]        env: WORKERS (0 = the default, two per CPU),
#                                               CONCURRENCY (HTTP requests in flight, 16)
source "$(dirname "$0")/lib/common.sh"
N=${2:-2000}
CONCURRENCY=${CONCURRENCY:-16}

echo "== issuance: $N x EC P-256 from the local CA, through the API (workers=${WORKERS:-0} -> default if 0, $CONCURRENCY requests in flight)"
machine_info
start_daemon
workers=$(curl -s --unix-socket "$RUN/api.sock" http://localhost/api/v1/system/health |
          python3 -c 'import json,sys; print(json.load(sys.stdin)["workers"])')
echo "daemon:    pid $DAEMON_PID, $workers workers, state dir $STATE"

# CPU used by the daemon and its workers during the run (clock ticks).
wp=$(worker_pids | tr '\n' ' ')
main0=$(cpu_ticks "$DAEMON_PID"); work0=$(cpu_ticks $wp)
out=$($CKLOAD issue "$RUN/api.sock" "$N" --concurrency "$CONCURRENCY")
main1=$(cpu_ticks "$DAEMON_PID"); work1=$(cpu_ticks $wp)
echo "result:    $out"
certs_per_s=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["certs_per_s"])' "$out")
secs=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["all_monitoring_s"])' "$out")
tck=$(getconf CLK_TCK)
python3 - "$N" "$main0" "$main1" "$work0" "$work1" "$tck" "$secs" <<'PY'
import sys
n, m0, m1, w0, w1, tck, secs = int(sys.argv[1]), *map(int, sys.argv[2:7]), float(sys.argv[7])
print("cpu:       main process %.2f s (%.2f ms/cert, %.0f%% of one core), workers %.2f s (%.2f ms/cert)"
      % ((m1 - m0) / tck, (m1 - m0) / tck / n * 1000, (m1 - m0) / tck / secs * 100,
         (w1 - w0) / tck, (w1 - w0) / tck / n * 1000))
PY
# Spot check: the last certificate's key matches its certificate on disk.
last=$(printf 'b%06d' $((N - 1)))
a=$(openssl pkey -in "$STATE/certs/$last/key.pem" -pubout | openssl sha256)
b=$(openssl x509 -in "$STATE/certs/$last/cert.pem" -noout -pubkey | openssl sha256)
[ "$a" = "$b" ] || { echo "FAIL: $last: key and certificate do not match" >&2; exit 1; }
stop_daemon

echo "openssl:   openssl speed -seconds 3 ecdsap256 ($(openssl version | cut -d' ' -f1-2))"
speed=$(openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/ecdsa \(nistp256\)/ {print $(NF-1), $NF}')
sign=${speed% *}; verify=${speed#* }
echo "           sign/s $sign, verify/s $verify; keygen/s: not measured (openssl speed in 3.0 has no ecdsa keygen test)"
echo
echo "RESULT issuance: $certs_per_s certificates/s ($N in ${secs}s, workers=$workers); ecdsap256 sign/s $sign, verify/s $verify; certs/s / sign/s = $(python3 -c "print('%.5f' % ($certs_per_s / $sign))")"
python3 -c "import sys; r=float(sys.argv[1]); print('target >= 1000 certificates/s:', 'MET' if r >= 1000 else 'NOT MET')" "$certs_per_s"
