#!/usr/bin/env bash
# Issuance throughput: N certificates (EC P-256, local CA, durable: key and certificate fsynced,
# database committed) requested through the API with several requests in flight, timed from the
# first POST until all N are MONITORING. Also openssl's raw ECDSA P-256 speed, for the ratio.
#
#   bench/issuance.sh BUILD_DIR [N]        env: WORKERS (0 = the default, two per CPU),
#                                               CONCURRENCY (HTTP requests in flight, 16),
#                                               LAYOUT (default or flat, see below)
#
# LAYOUT=default: no paths in the request, so each certificate gets the daemon's default layout,
#   a directory of its own under STATE_DIR/certs with key.pem, cert.pem, chain.pem, fullchain.pem.
# LAYOUT=flat: each request names its key and certificate files in one shared directory
#   (cert_path, key_path: what `getcert request -k KEY -f CERT` sends); no chain or full chain.
source "$(dirname "$0")/lib/common.sh"
N=${2:-2000}
CONCURRENCY=${CONCURRENCY:-16}
LAYOUT=${LAYOUT:-default}
case "$LAYOUT" in
default) dir_arg=() ;;
flat) FLAT_DIR="$T/flat"; mkdir -m 0700 "$FLAT_DIR"; dir_arg=(--dir "$FLAT_DIR") ;;
*) echo "LAYOUT must be default or flat" >&2; exit 2 ;;
esac

echo "== issuance: $N x EC P-256 from the local CA, through the API (workers=${WORKERS:-0} -> default if 0, $CONCURRENCY requests in flight, layout $LAYOUT)"
machine_info
start_daemon
workers=$(curl -s --unix-socket "$RUN/api.sock" http://localhost/api/v1/system/health |
          python3 -c 'import json,sys; print(json.load(sys.stdin)["workers"])')
echo "daemon:    pid $DAEMON_PID, $workers workers, state dir $STATE"

# CPU used by the daemon and its workers during the run (clock ticks).
wp=$(worker_pids | tr '\n' ' ')
# All the CPU time the machine spent (user, nice, system, irq, softirq, steal), to tell what
# other processes took during the run.
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
main0=$(cpu_ticks "$DAEMON_PID"); work0=$(cpu_ticks $wp); all0=$(busy_ticks); t0=$(date +%s.%N)
out=$($CKLOAD issue "$RUN/api.sock" "$N" --concurrency "$CONCURRENCY" --cpu "${dir_arg[@]}")
main1=$(cpu_ticks "$DAEMON_PID"); work1=$(cpu_ticks $wp); all1=$(busy_ticks); t1=$(date +%s.%N)
echo "result:    $out"
certs_per_s=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["certs_per_s"])' "$out")
secs=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["all_monitoring_s"])' "$out")
tck=$(getconf CLK_TCK)
client_cpu=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_cpu_s"])' "$out")
python3 - "$N" "$main0" "$main1" "$work0" "$work1" "$tck" "$secs" "$client_cpu" "$all0" "$all1" "$t0" "$t1" <<'PY'
import os, sys
n, m0, m1, w0, w1, tck, secs = int(sys.argv[1]), *map(int, sys.argv[2:7]), float(sys.argv[7])
client, a0, a1 = float(sys.argv[8]), int(sys.argv[9]), int(sys.argv[10])
window = float(sys.argv[12]) - float(sys.argv[11])  # the load generator's whole life, with its start
main, work, total = (m1 - m0) / tck, (w1 - w0) / tck, (a1 - a0) / tck
print("cpu:       main process %.2f s (%.2f ms/cert, %.0f%% of one core), workers %.2f s (%.2f ms/cert), "
      "load generator %.2f s (%.2f ms/cert)"
      % (main, main / n * 1000, main / secs * 100, work, work / n * 1000, client, client / n * 1000))
print("machine:   %.0f%% of its %d CPUs busy during the run (%.2f s with the load generator's start); "
      "other processes %.2f s" % (total / window / os.cpu_count() * 100, os.cpu_count(), window,
                                   max(total - main - work - client, 0)))
PY
# Spot check: the last certificate's key matches its certificate on disk.
last=$(printf 'b%06d' $((N - 1)))
if [ "$LAYOUT" = flat ]; then key_file="$FLAT_DIR/$last.key" cert_file="$FLAT_DIR/$last.crt"
else key_file="$STATE/certs/$last/key.pem" cert_file="$STATE/certs/$last/cert.pem"; fi
a=$(openssl pkey -in "$key_file" -pubout | openssl sha256)
b=$(openssl x509 -in "$cert_file" -noout -pubkey | openssl sha256)
[ "$a" = "$b" ] || { echo "FAIL: $last: key and certificate do not match" >&2; exit 1; }
stop_daemon

echo "openssl:   openssl speed -seconds 3 ecdsap256 ($(openssl version | cut -d' ' -f1-2))"
speed=$(openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/ecdsa \(nistp256\)/ {print $(NF-1), $NF}')
sign=${speed% *}; verify=${speed#* }
echo "           sign/s $sign, verify/s $verify; keygen/s: not measured (openssl speed in 3.0 has no ecdsa keygen test)"
echo
echo "RESULT issuance: $certs_per_s certificates/s ($N in ${secs}s, workers=$workers, layout $LAYOUT); ecdsap256 sign/s $sign, verify/s $verify; certs/s / sign/s = $(python3 -c "print('%.5f' % ($certs_per_s / $sign))")"
python3 -c "import sys; r=float(sys.argv[1]); print('target >= 1000 certificates/s:', 'MET' if r >= 1000 else 'NOT MET')" "$certs_per_s"
