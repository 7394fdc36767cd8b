#!/usr/bin/env bash
# ACME issuance: N certificates from Pebble (Let's Encrypt's test CA, on loopback, PEBBLE_VA_NOSLEEP=1,
# its default 5 % of nonces rejected), http-01, EC P-256, DNS names c1.example.test ... (Pebble's
# mock DNS answers 127.0.0.1 for every name).
#   1. certkeeperd: requested through the API (lib/ckload.py, --ca pebble), timed from the first POST
#      until all N are MONITORING; the answers to http-01 come from the daemon's built-in responder.
#      CPU of Pebble, of the daemon's main process and of its workers during the run.
#   2. uacme, the same number one after another, the way its users run it: one `uacme issue` per
#      certificate, http-01 through its stock hook (/usr/share/uacme/uacme.sh) writing into a webroot
#      served by `python3 -m http.server` on the http-01 port. uacme 1.7.4 (GnuTLS) has no option
#      for a CA file: the loop runs in a private mount namespace where the system bundle plus
#      Pebble's CA is bind-mounted over /etc/ssl/certs/ca-certificates.crt (root only; invisible
#      outside). Its account is made (`uacme new`) before the timing.
#   3. Memory with N orders in flight: Pebble started again with its random validation delay
#      (PEBBLE_VA_SLEEPTIME=MEM_SLEEP, so 0..MEM_SLEEP-1 s per validation; kept under the 5 s after
#      which an order is handed back to the loop, see RESULTS.md) and the daemon again with
#      [helpers] workers = MEM_HELPER_WORKERS (N), so that every order sits in a helper worker: N
#      more requests, RSS of the main process and the sum over its worker processes sampled every
#      20 ms (lib/procmem.py) until all are MONITORING.
# One certificate is issued by certkeeperd before its timing as well (account created, responder
# tried), as uacme's account is.
#
#   bench/acme.sh BUILD_DIR [N=100]   env: HELPER_WORKERS (32), WORKERS (0 = two per CPU),
#                                          CONCURRENCY (16), MEM_HELPER_WORKERS (N), MEM_SLEEP (4),
#                                          UACME_N (N), PERF=1 (perf record -g of the daemon's
#                                          processes during run 1, report in the temp dir, kept)
source "$(dirname "$0")/lib/common.sh"
# shellcheck source=test/integration/lib-pebble.sh
. "$BENCH_LIB/../../test/integration/lib-pebble.sh"
N=${2:-100}
UACME_N=${UACME_N:-$N}
HELPER_WORKERS=${HELPER_WORKERS:-32}
CONCURRENCY=${CONCURRENCY:-16}
MEM_HELPER_WORKERS=${MEM_HELPER_WORKERS:-$N}
MEM_SLEEP=${MEM_SLEEP:-4}
UACME_HOOK=/usr/share/uacme/uacme.sh
WEB_PID=
SAMPLER_PID=

pebble_available || { echo "pebble or pebble-challtestsrv not installed (scripts/install-deps)" >&2; exit 1; }
command -v uacme >/dev/null || { echo "uacme not installed (scripts/install-deps)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "uacme's trust of Pebble's CA needs a private mount namespace: run as root" >&2; exit 1; }

# On every exit, also after a failure: errexit off first, or a failing kill or wait (or the
# "(exit rc)" that hands the status on) would end the trap before the daemon is stopped.
acme_cleanup() {
        local rc=$? p
        set +e
        for p in $SAMPLER_PID $WEB_PID; do
                kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null
        done
        stop_pebble
        (exit $rc)
        bench_cleanup
}
trap acme_cleanup EXIT

write_helper_conf() { # write_helper_conf HELPER_WORKERS
        write_conf "${WORKERS:-0}"
        printf '[helpers]\nworkers = %s\n' "$1" >>"$CONF"
}

now() { date +%s.%N; }
tck=$(getconf CLK_TCK)

# wait_port_free PORT: until nothing listens on 127.0.0.1:PORT.
wait_port_free() {
        for _ in $(seq 200); do
                curl -s -o /dev/null "http://127.0.0.1:$1/" 2>/dev/null || return 0
                sleep 0.05
        done
        echo "127.0.0.1:$1 still answers" >&2
        return 1
}

echo "== ACME issuance from Pebble: $N x EC P-256, http-01 (certkeeperd: [helpers] workers = $HELPER_WORKERS, [daemon] workers = ${WORKERS:-0}, $CONCURRENCY requests in flight; uacme: $UACME_N one after another)"
machine_info
echo "versions:  pebble $(dpkg-query -W -f='${Version}' pebble 2>/dev/null), $(uacme -V 2>&1 | head -n1), $(python3 --version)"

# ---------------------------------------------------------------- 1. certkeeperd
start_pebble
echo "pebble:    pid $PEBBLE_PID, $PEBBLE_DIR_URL, http-01 on 127.0.0.1:$PEBBLE_HTTP_PORT (PEBBLE_VA_NOSLEEP=1, nonce rejection 5 %)"
write_helper_conf "$HELPER_WORKERS"
start_daemon
"$CERTKEEPER_BIN" add-ca -c pebble --acme "$PEBBLE_DIR_URL" --agree-tos --ca-bundle "$PEBBLE_CA" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP_PORT" >/dev/null
$CKLOAD issue "$RUN/api.sock" 1 --ca pebble --prefix w --dns 'w%d.example.test' --timeout 60 >/dev/null ||
        { echo "the warm-up certificate was not issued" >&2; exit 1; }
workers=$(curl -s --unix-socket "$RUN/api.sock" http://localhost/api/v1/system/health |
          python3 -c 'import json,sys; print(json.load(sys.stdin)["workers"])')
wp=$(worker_pids | tr '\n' ' ')
echo "daemon:    pid $DAEMON_PID, $workers workers + $HELPER_WORKERS helper workers ($(echo "$wp" | wc -w) child processes)"

perf_pid=
if [ -n "${PERF:-}" ]; then
        export KEEP_BENCH_DIR=1
        # shellcheck disable=SC2086
        perf record -q -g -F 999 -o "$T/perf.data" -p "$(echo "$DAEMON_PID" $wp | tr ' ' ',')" >/dev/null 2>&1 &
        perf_pid=$!
        sleep 1
fi
p0=$(cpu_ticks "$PEBBLE_PID"); m0=$(cpu_ticks "$DAEMON_PID"); w0=$(cpu_ticks $wp); t0=$(now)
busy0=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat)
out=$($CKLOAD issue "$RUN/api.sock" "$N" --ca pebble --prefix c --dns 'c%d.example.test' \
        --concurrency "$CONCURRENCY" --timeout 300) || { echo "certkeeperd: $out" >&2; exit 1; }
p1=$(cpu_ticks "$PEBBLE_PID"); m1=$(cpu_ticks "$DAEMON_PID"); w1=$(cpu_ticks $wp); t1=$(now)
busy1=$(awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat)
if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true
        perf report -i "$T/perf.data" --no-children --sort comm,dso,symbol --stdio 2>/dev/null | head -n 80 >"$T/perf-report.txt"
        echo "perf:      $T/perf.data, $T/perf-report.txt"
fi
echo "result:    $out"
ck_rate=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["certs_per_s"])' "$out")
ck_secs=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["all_monitoring_s"])' "$out")
pebble_share=$(python3 -c 'import sys; p,tck,s=map(float,sys.argv[1:]); print("%.0f" % (p / tck / s * 100))' \
        $((p1 - p0)) "$tck" "$(python3 -c "print($t1 - $t0)")")
python3 - "$N" "$tck" "$(python3 -c "print($t1 - $t0)")" $((p1 - p0)) $((m1 - m0)) $((w1 - w0)) $((busy1 - busy0)) "$(nproc)" <<'PY'
import sys
n, tck, wall = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
p, m, w, busy, ncpu = (int(x) for x in sys.argv[4:9])
print("cpu:       pebble %.2f s (%.1f ms/cert, %.0f%% of one core), main process %.2f s (%.1f ms/cert), "
      "workers and helper workers %.2f s (%.1f ms/cert); whole machine busy %.0f%% of %d CPUs"
      % (p / tck, p / tck / n * 1000, p / tck / wall * 100, m / tck, m / tck / n * 1000,
         w / tck, w / tck / n * 1000, busy / tck / wall / ncpu * 100, ncpu))
PY
last=$(printf 'c%06d' $((N - 1)))
a=$(openssl pkey -in "$STATE/certs/$last/key.pem" -pubout | openssl sha256)
b=$(openssl x509 -in "$STATE/certs/$last/cert.pem" -noout -pubkey | openssl sha256)
[ "$a" = "$b" ] || { echo "FAIL: $last: key and certificate do not match" >&2; exit 1; }
openssl x509 -in "$STATE/certs/$last/cert.pem" -noout -ext subjectAltName | grep -q "c$N.example.test" ||
        { echo "FAIL: $last: not for c$N.example.test" >&2; exit 1; }
stop_daemon     # frees the http-01 port for uacme's web server

# ---------------------------------------------------------------- 2. uacme
U="$T/uacme"
mkdir -p "$U/conf" "$U/webroot/.well-known/acme-challenge"
cat /etc/ssl/certs/ca-certificates.crt "$PEBBLE_CA" >"$U/bundle.pem"
wait_port_free "$PEBBLE_HTTP_PORT"
python3 -m http.server --bind 127.0.0.1 "$PEBBLE_HTTP_PORT" --directory "$U/webroot" >"$U/web.log" 2>&1 &
WEB_PID=$!
for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$PEBBLE_HTTP_PORT/" && break
        sleep 0.05
done
cat >"$U/run.sh" <<'EOF'
#!/bin/sh
# In a private mount namespace: Pebble's CA joins the system bundle for uacme (GnuTLS, no CA option).
set -e
mount --bind "$U/bundle.pem" /etc/ssl/certs/ca-certificates.crt
uacme -y -t EC -b 256 -a "$PEBBLE_DIR_URL" -c "$U/conf" new >/dev/null
export UACME_CHALLENGE_PATH="$U/webroot/.well-known/acme-challenge"
start=$(date +%s.%N)
i=1
while [ "$i" -le "$UACME_N" ]; do
        uacme -t EC -b 256 -a "$PEBBLE_DIR_URL" -c "$U/conf" -h "$UACME_HOOK" issue "u$i.example.test" ||
                { echo "uacme issue u$i.example.test failed" >&2; exit 1; }
        i=$((i + 1))
done
end=$(date +%s.%N)
echo "$start $end"
EOF
p0=$(cpu_ticks "$PEBBLE_PID"); c0=$(awk '{print $16 + $17}' /proc/$$/stat)
export U PEBBLE_DIR_URL UACME_N UACME_HOOK
times=$(unshare -m sh "$U/run.sh")
p1=$(cpu_ticks "$PEBBLE_PID"); c1=$(awk '{print $16 + $17}' /proc/$$/stat)
kill -TERM "$WEB_PID"; wait "$WEB_PID" 2>/dev/null || true; WEB_PID=
u_secs=$(python3 -c 'import sys; a, b = map(float, sys.argv[1].split()); print("%.3f" % (b - a))' "$times")
u_rate=$(python3 -c 'import sys; print("%.2f" % (int(sys.argv[1]) / float(sys.argv[2])))' "$UACME_N" "$u_secs")
[ "$(find "$U/conf" -name cert.pem | wc -l)" = "$UACME_N" ] || { echo "FAIL: uacme did not save $UACME_N certificates" >&2; exit 1; }
python3 - "$UACME_N" "$u_secs" "$tck" $((p1 - p0)) $((c1 - c0)) <<'PY'
import sys
n, secs, tck = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
p, c = int(sys.argv[4]), int(sys.argv[5])
print("uacme:     %d in %.2f s: %.2f certificates/s (%.0f ms each); pebble %.1f ms CPU/cert (%.0f%% of one core); "
      "uacme, its hooks, sh and the namespace %.1f ms CPU/cert" % (n, secs, n / secs, secs / n * 1000,
      p / tck / n * 1000, p / tck / secs * 100, c / tck / n * 1000))
PY
stop_pebble

# ---------------------------------------------------------------- 3. memory, N orders in flight
start_pebble PEBBLE_VA_NOSLEEP=0 "PEBBLE_VA_SLEEPTIME=$MEM_SLEEP"
write_helper_conf "$MEM_HELPER_WORKERS"
start_daemon
"$CERTKEEPER_BIN" modify-ca -c pebble --acme "$PEBBLE_DIR_URL" --ca-bundle "$PEBBLE_CA" \
        --http01-listen "127.0.0.1:$PEBBLE_HTTP_PORT" >/dev/null
base=$($CKLOAD count "$RUN/api.sock" MONITORING)
idle_main=$(status_field "$DAEMON_PID" VmRSS)
idle_kids=0; for p in $(worker_pids); do idle_kids=$((idle_kids + $(status_field "$p" VmRSS))); done
idle_n=$(worker_pids | wc -l)
python3 "$BENCH_LIB/procmem.py" "$DAEMON_PID" "$T/sampler.stop" --socket "$RUN/api.sock" --expect $((base + N)) \
        >"$T/procmem.json" &
SAMPLER_PID=$!
mout=$($CKLOAD issue "$RUN/api.sock" "$N" --ca pebble --prefix m --dns 'm%d.example.test' \
        --concurrency "$CONCURRENCY" --timeout 120) || {
        echo "memory run: $mout" >&2
        curl -s --unix-socket "$RUN/api.sock" "http://localhost/api/v1/certificates?limit=10000" |
                python3 -c 'import json,sys; [print("  ", i["nickname"], i["state"], i["ca_error"], file=sys.stderr) for i in json.load(sys.stdin)["items"] if i["state"] != "MONITORING"]'
        exit 1; }
touch "$T/sampler.stop"; wait "$SAMPLER_PID"; SAMPLER_PID=
mem=$(cat "$T/procmem.json")
echo "memory:    $mem (run: $mout)"
python3 - "$mem" "$idle_main" "$idle_kids" "$idle_n" "$MEM_HELPER_WORKERS" "$N" <<'PY'
import json, sys
m = json.loads(sys.argv[1])
im, ik, inn, hw, n = (int(x) for x in sys.argv[2:7])
print("           idle before (%d children): main %.1f MB, workers %.1f MB in all" % (inn, im / 1024, ik / 1024))
print("           peak, %d orders requested at once (at most %s of them in flight at one sample; [helpers] workers = %d; "
      "the workers keep their memory after the orders): main %.1f MB (VmHWM %.1f MB), %d worker processes %.1f MB "
      "RSS in all (%.2f MB each), total RSS %.1f MB; PSS of all (shared pages counted once) %.1f MB"
      % (n, m["in_flight_max"], hw, m["main_rss_kb_peak"] / 1024, m["main_hwm_kb"] / 1024,
         m["children_at_peak"], m["children_rss_kb_peak"] / 1024,
         m["children_rss_kb_peak"] / 1024 / max(m["children_at_peak"], 1), m["total_rss_kb_peak"] / 1024,
         m["total_pss_kb_peak"] / 1024))
PY
main_mb=$(python3 -c 'import json,sys; print("%.1f" % (json.loads(sys.argv[1])["main_rss_kb_peak"] / 1024))' "$mem")
kids_mb=$(python3 -c 'import json,sys; m=json.loads(sys.argv[1]); print("%.1f MB over %d processes" % (m["children_rss_kb_peak"] / 1024, m["children_at_peak"]))' "$mem")
stop_daemon

ratio=$(python3 -c 'import sys; print("%.1f" % (float(sys.argv[1]) / float(sys.argv[2])))' "$ck_rate" "$u_rate")
echo
echo "RESULT acme: certkeeperd $ck_rate certificates/s ($N in ${ck_secs}s, $workers workers, $HELPER_WORKERS helper workers; pebble ${pebble_share}% of one core); uacme $u_rate certificates/s ($UACME_N in ${u_secs}s); ratio ${ratio}x"
echo "RESULT acme memory: $N orders in flight: main process RSS $main_mb MB; workers $kids_mb"
python3 -c "import sys; r=float(sys.argv[1]); print('target certkeeperd >= 10x uacme:', 'MET' if r >= 10 else 'NOT MET')" "$ratio"
