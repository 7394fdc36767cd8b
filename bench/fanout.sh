#!/usr/bin/env bash
# Event fan-out: N events delivered to one webhook subscriber on loopback (bench/lib/webhook-recv.py,
# which checks the HMAC signature of each and counts distinct event rows). The events are the
# 1001 "installed" of N certificates issued through the API (lib/ckload.py); the subscription
# (filtered to installed) is made before, so each must be delivered once. Timed from the first
# POST of the load until the receiver has all N, and from the first to the last event received.
# DRAIN=1: the delivery alone. The receiver answers 503 while the certificates are issued (the
# events wait in the outbox, [events] retry_delay = 1s), then takes them all: timed from its first
# accepted event to the last.
#
#   bench/fanout.sh BUILD_DIR [N=10000]     env: CONCURRENCY (16), DRAIN (0), HELPER_WORKERS ([helpers] workers, 0 = default)
source "$(dirname "$0")/lib/common.sh"
N=${2:-10000}
CONCURRENCY=${CONCURRENCY:-16}
if [ "${HELPER_WORKERS:-0}" != 0 ]; then printf '[helpers]\nworkers = %s\n' "$HELPER_WORKERS" >>"$CONF"; fi
printf '[events]\nretry_delay = 1s\n' >>"$CONF"
if [ "${DRAIN:-0}" = 1 ]; then export HOLD_FILE="$T/hold"; touch "$HOLD_FILE"; fi

echo "== fan-out: $N events to one webhook subscriber on 127.0.0.1 (HMAC checked by the receiver; drain mode ${DRAIN:-0})"
machine_info
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
head -c 32 /dev/urandom | base64 >"$T/secret"
chmod 0600 "$T/secret"
python3 "$BENCH_LIB/webhook-recv.py" "$PORT" "$T/secret" "$T/recv.json" "$N" &
RECV_PID=$!
trap 'kill "$RECV_PID" 2>/dev/null || true; bench_cleanup' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done

start_daemon
"$CERTKEEPER_BIN" subscribe --webhook "http://127.0.0.1:$PORT/events" --secret-file "$T/secret" \
        --event installed --name bench >/dev/null

t0=$(date +%s.%N)
out=$($CKLOAD issue "$RUN/api.sock" "$N" --concurrency "$CONCURRENCY")
t_issued=$(date +%s.%N)
echo "issuance:  $out"
rm -f "$T/hold"
# The receiver exits when it has N distinct rows; 10 minutes at most.
for _ in $(seq 6000); do kill -0 "$RECV_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$RECV_PID" 2>/dev/null && { echo "the receiver did not get $N events within 10 min" >&2; kill -TERM "$RECV_PID"; sleep 1; }
wait "$RECV_PID" 2>/dev/null || true
echo "receiver:  $(cat "$T/recv.json")"
"$CERTKEEPER_BIN" subscriptions | sed 's/^/           /'
python3 - "$T/recv.json" "$N" "$t0" "$t_issued" <<'PY'
import json, sys
r, n, t0, t_issued = json.load(open(sys.argv[1])), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
lost = n - r["distinct"]
total = r["last_at"] - t0
after = max(r["last_at"] - t_issued, 0)
print("RESULT fanout events=%d received=%d lost=%d duplicates=%d bad_signature=%d" %
      (n, r["distinct"], lost, r["duplicates"], r["bad_signature"]))
print("RESULT fanout end_to_end_s=%.2f events_per_s=%.0f (first POST of the load to the last event received)" %
      (total, r["distinct"] / total))
print("RESULT fanout receiving_s=%.2f events_per_s_receiving=%.0f (first to last event received); "
      "behind the issuance by %.2f s at the end" %
      (r["last_at"] - r["first_at"], r["distinct"] / max(r["last_at"] - r["first_at"], 1e-9), after))
sys.exit(1 if lost or r["bad_signature"] else 0)
PY
