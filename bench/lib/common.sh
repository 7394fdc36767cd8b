# shellcheck shell=bash
# Shared helpers of the bench/*.sh scripts. Each script runs the real certkeeperd in a temporary
# directory of its own, on a disk-backed file system (fsync really reaches the device), with the
# API on its Unix socket only.
set -euo pipefail

BUILD_DIR=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
CERTKEEPERD="$BUILD_DIR/src/daemon/certkeeperd"
CERTKEEPER_BIN="$BUILD_DIR/src/cli/certkeeper"
BENCH_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CKLOAD="python3 $BENCH_LIB/ckload.py"
[ -x "$CERTKEEPERD" ] || { echo "no $CERTKEEPERD; build first (ninja -C $BUILD_DIR)" >&2; exit 1; }

# /var/tmp, not /tmp or /dev/shm: must not be tmpfs, or "durable" would mean nothing.
BENCH_TMP=${BENCH_TMP:-/var/tmp}
T=$(mktemp -d "$BENCH_TMP/certkeeper-bench.XXXXXX")
chmod 0755 "$T"
STATE="$T/state"
RUN="$T/run"
CONF="$T/certkeeper.conf"
LOG="$T/certkeeperd.log"
DAEMON_PID=
export CERTKEEPER_RUN_DIR="$RUN" CERTKEEPER_STATE_DIR="$STATE" TZ=UTC

write_conf() { # write_conf WORKERS
        cat >"$CONF" <<CONF
[api]
tcp = no
[daemon]
workers = ${1:-0}
log_level = info
CONF
}
write_conf "${WORKERS:-0}"

bench_cleanup() {
        local rc=$?
        if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
                kill -TERM "$DAEMON_PID" 2>/dev/null || true
                wait "$DAEMON_PID" 2>/dev/null || true
        fi
        if [ $rc -ne 0 ]; then
                echo "---- last daemon log lines ($LOG) ----" >&2
                tail -n 30 "$LOG" >&2 2>/dev/null || true
        fi
        [ -n "${KEEP_BENCH_DIR:-}" ] || rm -rf "$T"
        exit $rc
}
trap bench_cleanup EXIT

machine_info() {
        echo "date:      $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
        echo "machine:   nproc=$(nproc), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
        echo "kernel:    $(uname -r); file system of $BENCH_TMP: $(df -T "$BENCH_TMP" | awk 'NR==2 {print $2}')"
        echo "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min load average at start; other work on the machine skews the numbers)"
        echo "build:     $BUILD_DIR ($(python3 -c "import json,sys; o={x['name']: x['value'] for x in json.load(open(sys.argv[1]))}; print('buildtype=%s, werror=%s' % (o['buildtype'], o['werror']))" "$BUILD_DIR/meson-info/intro-buildoptions.json" 2>/dev/null || echo '?'))"
}

# start_daemon: starts certkeeperd and waits until api.json names it and the socket answers.
start_daemon() {
        "$CERTKEEPERD" --foreground --config "$CONF" --state-dir "$STATE" --run-dir "$RUN" >>"$LOG" 2>&1 &
        DAEMON_PID=$!
        for _ in $(seq 400); do
                if [ -f "$RUN/api.json" ] && grep -q "\"pid\": *$DAEMON_PID" "$RUN/api.json" 2>/dev/null &&
                   curl -sf --unix-socket "$RUN/api.sock" http://localhost/api/system/appversion >/dev/null 2>&1; then
                        return 0
                fi
                kill -0 "$DAEMON_PID" 2>/dev/null || { echo "certkeeperd exited during start-up" >&2; return 1; }
                sleep 0.05
        done
        echo "certkeeperd did not become ready" >&2
        return 1
}

stop_daemon() {
        kill -TERM "$DAEMON_PID"
        wait "$DAEMON_PID" 2>/dev/null || true
        # Not our child (started by a helper): wait until it is gone.
        while kill -0 "$DAEMON_PID" 2>/dev/null; do sleep 0.05; done
        DAEMON_PID=
}

# The daemon's workers: its direct children (the database backup child is short-lived).
worker_pids() { pgrep -P "$DAEMON_PID" || true; }

# cpu_ticks PID...: user+system clock ticks, summed.
cpu_ticks() {
        local t=0 p
        for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
        echo "$t"
}

status_field() { # status_field PID FIELD -> value (kB for memory fields)
        awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"
}

# cpu_child_ticks PID...: user+system clock ticks of the children they have waited for (a helper
# worker's helper programs), summed.
cpu_child_ticks() {
        local t=0 p
        for p in "$@"; do t=$((t + $(awk '{print $16 + $17}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
        echo "$t"
}

# api_add_external_ca NAME HELPER-COMMAND-LINE: adds an EXTERNAL CA through the API and waits until
# its helper has been asked for its data (IDENTIFY, FETCH-ROOTS, ...), so that those runs are not
# timed with the requests.
api_add_external_ca() {
        local body code
        body=$(python3 -c 'import json,sys; print(json.dumps({"name": sys.argv[1], "type": "EXTERNAL", "helper": sys.argv[2]}))' "$1" "$2")
        code=$(curl -s -o "$T/add-ca.out" -w '%{http_code}' --unix-socket "$RUN/api.sock" -X POST \
                    -H 'Content-Type: application/json' -d "$body" http://localhost/api/v1/cas)
        [ "$code" = 201 ] || { echo "adding CA $1 failed: HTTP $code $(cat "$T/add-ca.out")" >&2; return 1; }
        for _ in $(seq 600); do
                curl -s --unix-socket "$RUN/api.sock" "http://localhost/api/v1/cas/$1" |
                        python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin).get("data") else 1)' && return 0
                sleep 0.05
        done
        echo "the helper of CA $1 was not asked for its data within 30 s" >&2
        return 1
}
