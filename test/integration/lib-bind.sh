# shellcheck shell=bash
# Helpers of the binding tests (test-bind-*.sh), on top of lib.sh: the thumbprint a service serves
# or a file holds, the events of a request, and a trap that stops the test's own servers first.
. "$(dirname "$0")/lib.sh"

# served PORT SNI: the SHA-256 thumbprint of the certificate served on 127.0.0.1:PORT, upper-case hex.
served() {
        openssl s_client -connect "127.0.0.1:$1" -servername "$2" </dev/null 2>/dev/null |
                openssl x509 -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr a-f A-F
}
# file_sha FILE: the thumbprint of the first certificate in a PEM file.
file_sha() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr a-f A-F; }
sha() { cert_field "$1" sha256 | tr a-f A-F; }
events_of() { ck events --cert "$1" --id "$2"; }
has_event() { [ -n "$(events_of "$1" "$2")" ]; }
count_events() { events_of "$1" "$2" | wc -l; }

# stop_servers_with FUNCTION: on exit, FUNCTION (stops the test's servers by pid), then lib.sh's
# cleanup with the test's exit status.
stop_servers_with() {
        STOP_SERVERS=$1
        trap 'rc=$?; set +e; "$STOP_SERVERS"; (exit "$rc"); cleanup' EXIT
}

# stop_pidfile SIGNAL FILE: signals the pid in FILE and waits up to 5 s for it to be gone.
stop_pidfile() {
        local pid
        [ -s "$2" ] || return 0
        pid=$(cat "$2")
        kill "-$1" "$pid" 2>/dev/null || return 0
        for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || return 0
                sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
}

# A private nginx in $NP (the test directory), serving a.test on $PA with $T/certs/a.{pem,key} and
# b.test on $PB with b's pair. $NGX runs it; $NC is its configuration.
. "$(dirname "$0")/lib-nginx.sh"
nginx_write_conf() { nginx_conf "a:$PA" "b:$PB"; }

nginx_stop() { stop_pidfile QUIT "$NP/nginx.pid"; }

# Skips the test (exit 77) without nginx.
nginx_required() {
        if [ ! -x "$NGINX" ]; then
                echo "SKIP: nginx is not installed"
                exit 77
        fi
}
