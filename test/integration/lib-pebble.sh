# shellcheck shell=bash
# Pebble (the ACME test CA) and pebble-challtestsrv (its mock DNS) on loopback, for integration
# tests. Sourced, after lib.sh or on its own:
#
#   start_pebble [VAR=value ...]   starts both with the given extra environment for pebble
#                                  (PEBBLE_ALTERNATE_ROOTS=1, PEBBLE_WFE_NONCEREJECT=50, ...).
#                                  PEBBLE_EAB=1 among them requires external account binding with
#                                  the MAC keys of Debian's example configuration.
#                                  PEBBLE_VALIDITY=SECONDS sets certificateValidityPeriod (the
#                                  lifetime of the certificates it issues; 518400 = 6 days).
#                                  PEBBLE_DNS=ADDR:PORT makes Pebble's VA resolve through that DNS
#                                  server (a real one started by the test) instead of challtestsrv.
#   stop_pebble                    stops both, by pid.
#   kill_pebble                    kills Pebble alone (SIGKILL, by pid), in the middle of whatever
#                                  it is doing; its mock DNS stays.
#   restart_pebble                 starts Pebble again on the same ports with the same settings and
#                                  HTTPS identity (a new CA inside: Pebble keeps no state).
#   pebble_require                 exits 77 (skipped) without Pebble; otherwise makes the EXIT trap
#                                  stop Pebble before lib.sh's cleanup.
#
# start_pebble exports PEBBLE_DIR_URL, PEBBLE_CA (the CA bundle of Pebble's own HTTPS), PEBBLE_MGMT
# (https://127.0.0.1:<port> of the management API), PEBBLE_HTTP_PORT and PEBBLE_TLS_PORT (where
# Pebble's VA connects for http-01 and tls-alpn-01), CHALLTEST_MGMT (http://127.0.0.1:<port>) and
# PEBBLE_EAB_EXAMPLE (the example configuration). Everything listens on 127.0.0.1 only; ports are
# chosen by the kernel. Pebble keeps no state: each start is a new CA with new roots.

PEBBLE_EAB_EXAMPLE=/usr/share/doc/pebble/examples/pebble-config-external-account-bindings.json
PEBBLE_PID=
CHALLTEST_PID=

if ! declare -F free_port >/dev/null; then
        free_port() {
                python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
        }
fi

pebble_available() {
        command -v pebble >/dev/null && command -v pebble-challtestsrv >/dev/null
}

# Makes Pebble's HTTPS identity once per test directory: a throw-away CA and a server certificate for
# localhost and 127.0.0.1. Never added to any trust store.
_pebble_tls_identity() {
        local d=$1
        [ -f "$d/ca.pem" ] && return 0
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/ca.key" \
                -out "$d/ca.pem" -days 2 -subj "/CN=certkeeper test pebble TLS CA" \
                -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
                2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/key.pem" \
                -out "$d/server.csr" -subj "/CN=localhost" 2>/dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' \
                >"$d/server.ext"
        openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
                -out "$d/cert.pem" -days 2 -extfile "$d/server.ext" 2>/dev/null
}

pebble_require() {
        if ! pebble_available; then
                echo "pebble or pebble-challtestsrv not installed: skipping"
                exit 77
        fi
        # lib.sh's cleanup() reads the exit status from $?: set it again after stop_pebble, with
        # errexit off, which would otherwise end the trap at '(exit 1)' before cleanup() runs.
        trap 'rc=$?; stop_pebble; set +e; (exit $rc); cleanup' EXIT
}

start_pebble() {
        local base=${T:-$(mktemp -d /tmp/certkeeper-pebble.XXXXXX)}
        local d="$base/pebble" eab=0 validity= dns= acme_port mgmt_port dns_port cts_mgmt_port macs='{}'
        local -a env=()
        for a in "$@"; do
                case $a in
                PEBBLE_EAB=1) eab=1 ;;
                PEBBLE_DNS=*) dns=${a#PEBBLE_DNS=} ;;
                PEBBLE_VALIDITY=*) validity=", \"certificateValidityPeriod\": ${a#PEBBLE_VALIDITY=}" ;;
                *=*) env+=("$a") ;;
                *) echo "start_pebble: bad argument '$a'" >&2; return 1 ;;
                esac
        done
        mkdir -p "$d"
        _pebble_tls_identity "$d"

        acme_port=$(free_port)
        mgmt_port=$(free_port)
        dns_port=$(free_port)
        cts_mgmt_port=$(free_port)
        PEBBLE_HTTP_PORT=$(free_port)
        PEBBLE_TLS_PORT=$(free_port)
        if [ "$eab" = 1 ]; then
                macs=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["pebble"]["externalAccountMACKeys"]))' \
                        "$PEBBLE_EAB_EXAMPLE")
        fi
        cat >"$d/pebble-config.json" <<EOF
{ "pebble": {
    "listenAddress": "127.0.0.1:$acme_port",
    "managementListenAddress": "127.0.0.1:$mgmt_port",
    "certificate": "$d/cert.pem",
    "privateKey": "$d/key.pem",
    "httpPort": $PEBBLE_HTTP_PORT,
    "tlsPort": $PEBBLE_TLS_PORT,
    "ocspResponderURL": "",
    "externalAccountBindingRequired": $([ "$eab" = 1 ] && echo true || echo false),
    "externalAccountMACKeys": $macs$validity
} }
EOF
        pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" -dns01 "127.0.0.1:$dns_port" \
                -http01 "" -https01 "" -tlsalpn01 "" -management "127.0.0.1:$cts_mgmt_port" \
                >"$d/challtestsrv.log" 2>&1 &
        CHALLTEST_PID=$!
        _PEBBLE_D=$d
        _PEBBLE_DNS=${dns:-127.0.0.1:$dns_port}
        _PEBBLE_ENV=("${env[@]}")
        _pebble_run

        PEBBLE_DIR_URL="https://127.0.0.1:$acme_port/dir"
        PEBBLE_CA="$d/ca.pem"
        PEBBLE_MGMT="https://127.0.0.1:$mgmt_port"
        CHALLTEST_MGMT="http://127.0.0.1:$cts_mgmt_port"
        export PEBBLE_DIR_URL PEBBLE_CA PEBBLE_MGMT PEBBLE_HTTP_PORT PEBBLE_TLS_PORT CHALLTEST_MGMT PEBBLE_EAB_EXAMPLE

        for _ in $(seq 200); do
                if curl -sf --cacert "$PEBBLE_CA" "$PEBBLE_DIR_URL" >/dev/null 2>&1 &&
                   curl -s -o /dev/null -X POST -d '{}' "$CHALLTEST_MGMT/clear-request-history" 2>/dev/null; then
                        return 0
                fi
                if ! kill -0 "$PEBBLE_PID" 2>/dev/null || ! kill -0 "$CHALLTEST_PID" 2>/dev/null; then
                        echo "pebble or pebble-challtestsrv exited during start-up:" >&2
                        tail -n 20 "$d/pebble.log" "$d/challtestsrv.log" >&2
                        stop_pebble
                        return 1
                fi
                sleep 0.05
        done
        echo "pebble did not become ready" >&2
        stop_pebble
        return 1
}

_pebble_run() {
        env PEBBLE_VA_NOSLEEP=1 "${_PEBBLE_ENV[@]}" pebble -config "$_PEBBLE_D/pebble-config.json" \
                -dnsserver "$_PEBBLE_DNS" >>"$_PEBBLE_D/pebble.log" 2>&1 &
        PEBBLE_PID=$!
}

kill_pebble() {
        if [ -n "$PEBBLE_PID" ] && kill -0 "$PEBBLE_PID" 2>/dev/null; then
                kill -KILL "$PEBBLE_PID" 2>/dev/null || true
                wait "$PEBBLE_PID" 2>/dev/null || true
        fi
        PEBBLE_PID=
}

restart_pebble() {
        kill_pebble
        _pebble_run
        for _ in $(seq 200); do
                curl -sf --cacert "$PEBBLE_CA" "$PEBBLE_DIR_URL" >/dev/null 2>&1 && return 0
                kill -0 "$PEBBLE_PID" 2>/dev/null || break
                sleep 0.05
        done
        echo "pebble did not come back:" >&2
        tail -n 20 "$_PEBBLE_D/pebble.log" >&2
        return 1
}

stop_pebble() {
        local p
        for p in $PEBBLE_PID $CHALLTEST_PID; do
                if kill -0 "$p" 2>/dev/null; then
                        kill -TERM "$p" 2>/dev/null || true
                        wait "$p" 2>/dev/null || true
                fi
        done
        PEBBLE_PID=
        CHALLTEST_PID=
}
