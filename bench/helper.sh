#!/usr/bin/env bash
# Issuance through a CA helper (an EXTERNAL CA, certmonger's helper protocol, docs/HELPERS.md):
# N EC P-256 certificates requested through the API as bench/issuance.sh does, timed from the first
# POST until all N are MONITORING. In the same run: the machine's raw fork+exec rate (/bin/true
# started and waited for, from one process and from two) and the helper run alone in a loop, for the
# ratios. Two helpers (MODE):
#
#   local-submit (default)  certkeeper's own certkeeper-local-submit, a small C program signing with a
#                           local CA in a directory of its own (a full OpenSSL program per
#                           certificate), then the same behind a /bin/sh script.
#   trivial                 a helper that costs no more than starting a program: "/bin/cat CERT",
#                           no shell. Before the timing, ONE EC P-256 key and ONE self-signed
#                           certificate for it are made, and that key is copied into every request's
#                           key file, so each request reads its key, needs only a CSR, and the
#                           daemon's check that the issued certificate matches the request's key
#                           passes: a real issuance of a valid certificate for each request's key,
#                           bounded by the daemon's own work and by process spawning. Then the same
#                           behind a /bin/sh script ("exec /bin/cat CERT").
#
#   bench/helper.sh BUILD_DIR [N]      env: MODE (local-submit | trivial),
#                                           HELPER_WORKERS ([helpers] workers, 8),
#                                           WORKERS ([daemon] workers, 0 = two per CPU),
#                                           CONCURRENCY (HTTP requests in flight, 16),
#                                           SHELL_N (certificates through the shell helper, N; 0 = skip)
source "$(dirname "$0")/lib/common.sh"
N=${2:-1000}
CONCURRENCY=${CONCURRENCY:-16}
HELPER_WORKERS=${HELPER_WORKERS:-8}
SHELL_N=${SHELL_N:-$N}
MODE=${MODE:-local-submit}
case $MODE in
local-submit)
        HELPER="$BUILD_DIR/src/helper/certkeeper-local-submit"
        [ -x "$HELPER" ] || { echo "no $HELPER; build first (ninja -C $BUILD_DIR)" >&2; exit 1; }
        HELPER_NAME=certkeeper-local-submit
        PREFIX=h SH_PREFIX=s
        ;;
trivial)
        HELPER=/bin/cat
        HELPER_NAME="/bin/cat CERT"
        PREFIX=t SH_PREFIX=u
        ;;
*) echo "MODE must be local-submit or trivial, not '$MODE'" >&2; exit 2 ;;
esac
printf '[helpers]\nworkers = %s\n' "$HELPER_WORKERS" >>"$CONF"

echo "== helper ($MODE): $N x EC P-256 through an EXTERNAL CA's helper ($HELPER_NAME), through the API"
echo "settings:  [daemon] workers = ${WORKERS:-0} (0: two per CPU), [helpers] workers = $HELPER_WORKERS, $CONCURRENCY requests in flight"
machine_info

# ---- the machine: fork+exec+wait of /bin/true, and the helper alone ---------------------------
cc -O2 -std=gnu17 -o "$T/spawnrate" "$BENCH_LIB/spawnrate.c"
SPAWN="$T/spawnrate -t ${SPAWN_SECONDS:-3}"
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
true1=$($SPAWN /bin/true)
true2=$($SPAWN -p 2 /bin/true)
truep=$($SPAWN -p 2 -c /bin/true)
echo "fork+exec: /bin/true, 1 process:               $true1"
echo "           /bin/true, 2 in parallel:           $true2"
truev=$($SPAWN -p 2 -c -m vfork /bin/true)
echo "           /bin/true, 2 in parallel, pipes:    $truep   (stdout and stderr read to EOF, as the daemon does)"
echo "           the same with vfork (posix_spawn):  $truev   (the daemon's helper workers start helpers with vfork())"

if [ "$MODE" = local-submit ]; then
        CA_DIR="$T/helper-ca"
        # The helper creates its CA on first use; do it now, outside the timing.
        CERTMONGER_OPERATION=FETCH-ROOTS "$HELPER" -d "$CA_DIR" >/dev/null
        HELPER_ARGS=(-d "$CA_DIR")
else
        # One key and one certificate for it; every request gets a copy of the key (below).
        TRIVIAL="$T/trivial"
        mkdir -m 0700 "$TRIVIAL"
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TRIVIAL/key.pem" 2>/dev/null
        openssl req -x509 -new -key "$TRIVIAL/key.pem" -subj /CN=trivial-helper.example -days 30 \
                -addext subjectAltName=DNS:trivial-helper.example -out "$TRIVIAL/cert.pem" 2>/dev/null
        HELPER_ARGS=("$TRIVIAL/cert.pem")
fi
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=alone.example \
        -keyout "$T/alone.key" -out "$T/alone.csr" 2>/dev/null
alone1=$(CERTMONGER_OPERATION=SUBMIT CERTMONGER_CSR=$(cat "$T/alone.csr") $SPAWN -c "$HELPER" "${HELPER_ARGS[@]}")
alone2=$(CERTMONGER_OPERATION=SUBMIT CERTMONGER_CSR=$(cat "$T/alone.csr") $SPAWN -p 2 -c "$HELPER" "${HELPER_ARGS[@]}")
echo "helper alone (SUBMIT, one CSR, pipes), 1 process:     $alone1"
echo "                                     2 in parallel:   $alone2"

# A shell helper: /bin/sh in front of the same program.
cat >"$T/sh-helper" <<SH
#!/bin/sh
# A trivial shell helper: certmonger's protocol is passed through unchanged.
exec "$HELPER" ${HELPER_ARGS[*]} "\$@"
SH
chmod 0755 "$T/sh-helper"

# ---- certkeeperd driving the helper -------------------------------------------------------------
start_daemon
api_add_external_ca bench-helper "$HELPER ${HELPER_ARGS[*]}"
api_add_external_ca bench-sh "$T/sh-helper"
pids=$(worker_pids | sort -n | tr '\n' ' ')
workers=$(curl -s --unix-socket "$RUN/api.sock" http://localhost/api/v1/system/health |
          python3 -c 'import json,sys; print(json.load(sys.stdin)["workers"])')
# The helper pool is started after the ordinary pool: the higher pids.
wp=$(tr ' ' '\n' <<<"$pids" | grep . | head -n "$workers" | tr '\n' ' ')
hp=$(tr ' ' '\n' <<<"$pids" | grep . | tail -n +"$((workers + 1))" | tr '\n' ' ')
echo "daemon:    pid $DAEMON_PID, $workers workers ($wp), $(wc -w <<<"$hp") helper workers ($hp)"

tck=$(getconf CLK_TCK)
# run_through CA PREFIX N: issues N through CA, prints the rate and the CPU split; sets RATE.
run_through() {
        local ca=$1 prefix=$2 n=$3 out m0 m1 w0 w1 h0 h1 c0 c1 secs last
        [ "$MODE" = local-submit ] || precreate_keys "$prefix" "$n"
        # shellcheck disable=SC2086 # the pid lists are split on purpose
        m0=$(cpu_ticks "$DAEMON_PID"); w0=$(cpu_ticks $wp); h0=$(cpu_ticks $hp); c0=$(cpu_child_ticks $hp)
        out=$($CKLOAD issue "$RUN/api.sock" "$n" --concurrency "$CONCURRENCY" --ca "$ca" --prefix "$prefix")
        # shellcheck disable=SC2086
        m1=$(cpu_ticks "$DAEMON_PID"); w1=$(cpu_ticks $wp); h1=$(cpu_ticks $hp); c1=$(cpu_child_ticks $hp)
        echo "result:    $out"
        RATE=$(field "$out" certs_per_s)
        secs=$(field "$out" all_monitoring_s)
        python3 - "$n" "$tck" "$secs" "$m0" "$m1" "$w0" "$w1" "$h0" "$h1" "$c0" "$c1" <<'PY'
import sys
n, tck, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
m, w, h, c = [(int(sys.argv[i + 1]) - int(sys.argv[i])) / tck for i in (4, 6, 8, 10)]
print("cpu:       main process %.2f s (%.2f ms/cert, %.0f%% of one core); workers %.2f s (%.2f ms/cert); "
      "helper workers %.2f s (%.2f ms/cert); helper programs %.2f s (%.2f ms/cert); all %.0f%% of one core"
      % (m, m / n * 1000, m / secs * 100, w, w / n * 1000, h, h / n * 1000, c, c / n * 1000,
         (m + w + h + c) / secs * 100))
PY
        # Spot check: the last certificate's key matches it, and the helper's CA issued it.
        last=$(printf '%s%06d' "$prefix" $((n - 1)))
        [ "$(openssl pkey -in "$STATE/certs/$last/key.pem" -pubout | openssl sha256)" = \
          "$(openssl x509 -in "$STATE/certs/$last/cert.pem" -noout -pubkey | openssl sha256)" ] ||
                { echo "FAIL: $last: key and certificate do not match" >&2; exit 1; }
        if [ "$MODE" = local-submit ]; then
                openssl verify -CAfile "$CA_DIR/roots.pem" -untrusted "$CA_DIR/issuing-cert.pem" \
                        "$STATE/certs/$last/cert.pem" >/dev/null ||
                        { echo "FAIL: $last was not issued by the helper's CA" >&2; exit 1; }
        else
                cmp -s "$STATE/certs/$last/cert.pem" "$TRIVIAL/cert.pem" ||
                        { echo "FAIL: $last does not hold the trivial helper's certificate" >&2; exit 1; }
        fi
}

# precreate_keys PREFIX N: the key of requests PREFIX000000.. in the files the daemon will use
# (STATE/certs/NICKNAME/key.pem, mode 0600), so that they go NEED_CSR with it. Not timed.
precreate_keys() {
        python3 - "$STATE/certs" "$1" "$2" "$TRIVIAL/key.pem" <<'PY'
import os, sys
certs, prefix, n, key = sys.argv[1], sys.argv[2], int(sys.argv[3]), open(sys.argv[4], "rb").read()
os.makedirs(certs, mode=0o700, exist_ok=True)
for i in range(n):
    d = "%s/%s%06d" % (certs, prefix, i)
    os.mkdir(d, 0o700)
    fd = os.open(d + "/key.pem", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    os.write(fd, key)
    os.close(fd)
PY
        sync -f "$STATE/certs"
}

echo "-- $HELPER ${HELPER_ARGS[*]}, $N certificates"
run_through bench-helper "$PREFIX" "$N"
rate_c=$RATE
rate_sh=n/a
if [ "$SHELL_N" -gt 0 ]; then
        echo "-- /bin/sh script exec'ing $HELPER_NAME, $SHELL_N certificates"
        run_through bench-sh "$SH_PREFIX" "$SHELL_N"
        rate_sh=$RATE
fi
stop_daemon

t1=$(field "$true1" per_s); t2=$(field "$true2" per_s); tv=$(field "$truev" per_s); a2=$(field "$alone2" per_s)
echo
echo "RESULT helper ($MODE): $rate_c certificates/s through $HELPER_NAME ($N, [helpers] workers=$HELPER_WORKERS, [daemon] workers=$workers); through a /bin/sh helper: $rate_sh/s ($SHELL_N); fork+exec of /bin/true: $t1/s (1 process), $t2/s (2 in parallel), $tv/s (2, vfork, pipes); helper alone: $a2/s (2 in parallel); certs/s / fork+exec(2) = $(python3 -c "import sys; print('%.3f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$rate_c" "$t2"); certs/s / helper alone(2) = $(python3 -c "import sys; print('%.3f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$rate_c" "$a2")"
python3 -c "import sys; r=float(sys.argv[1]); print('target >= 300 certificates/s:', 'MET' if r >= 300 else 'NOT MET')" "$rate_c"
