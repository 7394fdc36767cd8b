#!/usr/bin/env bash
# Rebind latency: N renewals (resubmit through the API, one after another) of one certificate
# bound to a real nginx on 127.0.0.1 (a private one in the temp dir, started with its own
# configuration; reloaded with "nginx -s reload"), each timed from the resubmit until event 1103
# "rebound" is listed: issued, saved, written, nginx tested and reloaded, and the new certificate
# seen over TLS at the endpoint. Also until 1001 "replaced" (issuance and save alone). Prints the
# median and p99 of both. The deploy waits for its batch window first ([bindings]
# batch_window_ms, 500 by default, docs/BINDINGS.md).
#
#   bench/rebind.sh BUILD_DIR [N=50]      env: BATCH_WINDOW_MS (the daemon's default if unset)
source "$(dirname "$0")/lib/common.sh"
N=${2:-50}
if [ -n "${BATCH_WINDOW_MS:-}" ]; then printf '[bindings]\nbatch_window_ms = %s\n' "$BATCH_WINDOW_MS" >>"$CONF"; fi
. "$BENCH_LIB/../../test/integration/lib-nginx.sh"
[ -x "$NGINX" ] || { echo "nginx is not installed" >&2; exit 1; }

echo "== rebind latency: $N renewals of one certificate served by nginx on 127.0.0.1 (batch window: ${BATCH_WINDOW_MS:-default})"
machine_info
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nginx_conf "a:$PORT"
stop_nginx() { [ -s "$NP/nginx.pid" ] && kill -QUIT "$(cat "$NP/nginx.pid")" 2>/dev/null || true; }
trap 'stop_nginx; bench_cleanup' EXIT

start_daemon
"$CERTKEEPER_BIN" request -I a -f "$T/certs/a.pem" -k "$T/certs/a.key" -N CN=a.test -D a.test -G EC -g 256 -w >/dev/null
$NGX
"$CERTKEEPER_BIN" bind -i a nginx --config "$NC" --test-command "$NGX -t -q" \
        --reload-command "$NGX -s reload" --endpoint "127.0.0.1:$PORT/a.test" >/dev/null

out=$(python3 "$BENCH_LIB/rebind-loop.py" "$RUN/api.sock" a "$N")
served=$(openssl s_client -connect "127.0.0.1:$PORT" -servername a.test </dev/null 2>/dev/null |
         openssl x509 -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)
want=$(curl -s --unix-socket "$RUN/api.sock" http://localhost/api/v1/certificates/a | python3 -c 'import json,sys; print(json.load(sys.stdin)["sha256"].lower())')
[ "$served" = "$want" ] || { echo "nginx serves $served, not the last certificate $want" >&2; exit 1; }
python3 - "$out" "$N" <<'PY'
import json, statistics, sys
d, n = json.loads(sys.argv[1]), int(sys.argv[2])
def p(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q / 100 * (len(xs) - 1))))]
for k, what in (("replaced_ms", "resubmit to 1001 replaced (issued and saved)"),
                ("rebound_ms", "resubmit to 1103 rebound (served by nginx, verified)")):
    xs = d[k]
    print("RESULT rebind %s: n=%d median=%.0f ms p99=%.0f ms min=%.0f max=%.0f" %
          (what, len(xs), statistics.median(xs), p(xs, 99), min(xs), max(xs)))
PY
