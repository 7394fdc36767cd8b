# shellcheck shell=bash
# Shared helpers for the integration tests: each test runs the real certkeeperd in a temporary
# directory of its own, on loopback, and talks to it through the real CLI and through curl.
set -euo pipefail

: "${BUILD_DIR:?BUILD_DIR must point at the meson build directory}"
CERTKEEPERD="$BUILD_DIR/src/daemon/certkeeperd"
CERTKEEPER_BIN="$BUILD_DIR/src/cli/certkeeper"

T=$(mktemp -d /tmp/certkeeper-test.XXXXXX)
chmod 0755 "$T"
STATE="$T/state"
RUN="$T/run"
CONF="$T/certkeeper.conf"
LOG="$T/certkeeperd.log"
DAEMON_PID=
export CERTKEEPER_RUN_DIR="$RUN"
export CERTKEEPER_STATE_DIR="$STATE"
export TZ=UTC

# A free TCP port on 127.0.0.1, chosen by the kernel.
free_port() {
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

API_PORT=$(free_port)
cat >"$CONF" <<CONF
[api]
port = $API_PORT
[daemon]
workers = 2
log_level = debug
CONF

cleanup() {
        local rc=$?
        if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
                kill -TERM "$DAEMON_PID" 2>/dev/null || true
                wait "$DAEMON_PID" 2>/dev/null || true
        fi
        if [ $rc -ne 0 ]; then
                echo "---- last daemon log lines ($LOG) ----" >&2
                tail -n 60 "$LOG" >&2 2>/dev/null || true
        fi
        if [ -z "${KEEP_TEST_DIR:-}" ]; then
                rm -rf "$T"
        fi
        exit $rc
}
trap cleanup EXIT

fail() {
        echo "FAIL: $*" >&2
        exit 1
}

ck() { "$CERTKEEPER_BIN" "$@"; }

getcert() {
        ln -sf "$CERTKEEPER_BIN" "$T/getcert"
        "$T/getcert" "$@"
}

start_daemon() {
        "$CERTKEEPERD" --foreground --config "$CONF" --state-dir "$STATE" --run-dir "$RUN" "$@" >>"$LOG" 2>&1 &
        DAEMON_PID=$!
        for _ in $(seq 200); do
                if [ -S "$RUN/api.sock" ] && [ -f "$RUN/api.json" ] &&
                   grep -q "\"pid\": *$DAEMON_PID" "$RUN/api.json" 2>/dev/null; then
                        return 0
                fi
                kill -0 "$DAEMON_PID" 2>/dev/null || fail "certkeeperd exited during start-up"
                sleep 0.05
        done
        fail "certkeeperd did not become ready"
}

stop_daemon() {
        kill -TERM "$DAEMON_PID"
        wait "$DAEMON_PID" || true
        DAEMON_PID=
}

kill9_daemon() {
        kill -KILL "$DAEMON_PID"
        wait "$DAEMON_PID" 2>/dev/null || true
        DAEMON_PID=
}

# api METHOD PATH [BODY]: raw HTTP over the Unix socket; prints the body, then the status on the
# last line.
api() {
        local method=$1 path=$2 body=${3:-}
        if [ -n "$body" ]; then
                curl -s --unix-socket "$RUN/api.sock" -X "$method" -H 'Content-Type: application/json' \
                        --data-binary "$body" -w '\n%{http_code}\n' "http://localhost$path"
        else
                curl -s --unix-socket "$RUN/api.sock" -X "$method" -w '\n%{http_code}\n' "http://localhost$path"
        fi
}

# json_get FILTER: reads JSON on stdin, prints the value at a python expression over 'd'.
json_get() {
        python3 -c "import json,sys; d=json.load(sys.stdin); v=$1; print(v if not isinstance(v,(dict,list)) else json.dumps(v))"
}

cert_field() { # cert_field NICK FIELD
        api GET "/api/v1/certificates/$1" | head -n -1 | json_get "d['$2']"
}

# wait_state NICK STATE [SECONDS]
wait_state() {
        local nick=$1 want=$2 secs=${3:-30} s=
        for _ in $(seq $((secs * 10))); do
                s=$(cert_field "$nick" state 2>/dev/null || true)
                [ "$s" = "$want" ] && return 0
                sleep 0.1
        done
        fail "request '$nick' is in state '$s', expected '$want' within ${secs}s"
}

# wait_until SECONDS COMMAND...: retries a command until it succeeds.
wait_until() {
        local secs=$1; shift
        for _ in $(seq $((secs * 10))); do
                if "$@" >/dev/null 2>&1; then return 0; fi
                sleep 0.1
        done
        fail "timed out after ${secs}s waiting for: $*"
}

key_matches_cert() { # key_matches_cert KEY CERT
        local a b
        a=$(openssl pkey -in "$1" -pubout 2>/dev/null | openssl sha256)
        b=$(openssl x509 -in "$2" -noout -pubkey 2>/dev/null | openssl sha256)
        [ -n "$a" ] && [ "$a" = "$b" ]
}
