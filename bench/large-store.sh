#!/usr/bin/env bash
# 100,000 tracked certificates: start-up time, the start-up check of their files, memory,
# `certkeeper list --json`, one `curl` of /metrics, idle wake-ups.
#
#   bench/large-store.sh BUILD_DIR [TOTAL] [IDLE_SECONDS]
#
# Population: REAL (100) certificates are issued through the API; the daemon is stopped; the other
# rows are inserted with sqlite3 by copying those MONITORING rows (all columns) with new ids,
# nicknames and paths. Each new path is a hard link to the issued files it copies, so every row
# names a real key and certificate that match, and its facts (serial, validity, renewal time
# months away) are true. The daemon is then started on that database and measured.
source "$(dirname "$0")/lib/common.sh"
TOTAL=${2:-100000}
IDLE=${3:-60}
REAL=${REAL:-100}

echo "== large store: $TOTAL tracked certificates"
machine_info

start_daemon
$CKLOAD issue "$RUN/api.sock" "$REAL" --concurrency 8 >/dev/null
stop_daemon

t0=$(date +%s.%N)
mkdir -p "$STATE/bulk"
python3 - "$STATE" "$REAL" "$TOTAL" <<'PY'
import os, sqlite3, sys
state, real, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
db = sqlite3.connect(os.path.join(state, "certkeeper.db"))
cols = [r[1] for r in db.execute("PRAGMA table_info(certs)")]
src = db.execute("SELECT %s FROM certs WHERE state = 'MONITORING' ORDER BY id" % ",".join(cols)).fetchall()
assert len(src) == real, (len(src), real)
idx = {c: i for i, c in enumerate(cols)}
rows = []
for k in range(total - real):
        row = list(src[k % real])
        nick = "bulk%06d" % k
        row[idx["id"]] = None
        row[idx["nickname"]] = nick
        for col, ext in (("cert_path", "crt"), ("key_path", "key"), ("chain_path", "chain.pem"),
                         ("fullchain_path", "fullchain.pem")):
                if row[idx[col]]:
                        p = os.path.join(state, "bulk", "%s.%s" % (nick, ext))
                        os.link(row[idx[col]], p)
                        row[idx[col]] = p
        rows.append(row)
db.execute("BEGIN")
db.executemany("INSERT INTO certs (%s) VALUES (%s)" % (",".join(cols), ",".join("?" * len(cols))), rows)
db.commit()
print("rows:", db.execute("SELECT count(*), sum(state = 'MONITORING'), min(next_action_at) - strftime('%s','now') FROM certs").fetchone())
db.close()
PY
echo "populate:  $(python3 -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(date +%s.%N)") s (database $(du -h "$STATE/certkeeper.db" | cut -f1))"
sync

# (a) start until ready: api.json names the new pid and GET /api/system/appversion answers.
rm -f "$RUN/api.json"
log_from=$(($(wc -l <"$LOG") + 1)) # this start's lines
# The helper starts the daemon itself, so that the time is taken from the exec, not from the
# helper's own start-up; it prints "PID MILLISECONDS".
read -r DAEMON_PID ready_ms < <(python3 - "$CERTKEEPERD" "$CONF" "$STATE" "$RUN" "$LOG" <<'PY'
import json, os, socket, subprocess, sys, time
d, conf, state, run, log = sys.argv[1:6]
t0 = time.monotonic()
p = subprocess.Popen([d, "--foreground", "--config", conf, "--state-dir", state, "--run-dir", run],
                     stdout=open(log, "a"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
while p.poll() is None and time.monotonic() - t0 < 30:
        try:
                if json.load(open(os.path.join(run, "api.json")))["pid"] == p.pid:
                        s = socket.socket(socket.AF_UNIX); s.connect(os.path.join(run, "api.sock"))
                        s.sendall(b"GET /api/system/appversion HTTP/1.0\r\nHost: l\r\n\r\n")
                        if b" 200 " in s.recv(4096):
                                break
        except (OSError, ValueError, KeyError):
                pass
        time.sleep(0.001)
print(p.pid, int((time.monotonic() - t0) * 1000))
PY
)
kill -0 "$DAEMON_PID" || { echo "certkeeperd did not start" >&2; exit 1; }
sched=$(grep -o 'started: [0-9]* request(s) scheduled' "$LOG" | tail -1 || true)
echo "(a) start until ready: ${ready_ms} ms (daemon log: \"$sched\"; includes the start-up integrity check)"

# (a2) the start-up check of every certificate file against the store (outside changes made while
# the daemon was stopped), a chunk per loop turn after the first sync; the daemon logs its length.
for _ in $(seq 1200); do tail -n "+$log_from" "$LOG" | grep -q "Compared [0-9]* certificate file" && break; sleep 0.1; done
scan=$(tail -n "+$log_from" "$LOG" |
        grep -o "Compared [0-9]* certificate file(s) with the store at start-up in [0-9]* ms: [0-9]* changed" || true)
[ -n "$scan" ] || { echo "FAIL: the start-up check of the files did not end within 120 s" >&2; exit 1; }
scan_ms=$(echo "$scan" | sed 's/.* in \([0-9]*\) ms.*/\1/')
echo "(a2) start-up check of the files: \"$scan\" (API answered meanwhile)"

sleep 2 # the start-up backup child ends
mem() {
        local p line="main pid $DAEMON_PID: VmRSS $(status_field "$DAEMON_PID" VmRSS) kB, VmHWM $(status_field "$DAEMON_PID" VmHWM) kB"
        for p in $(worker_pids); do line="$line; worker $p VmRSS $(status_field "$p" VmRSS) kB"; done
        echo "$line"
}
echo "(b) memory after start: $(mem)"

# (c) certkeeper list --json of all of them.
n=$("$CERTKEEPER_BIN" list --json | python3 -c 'import json,sys; d=json.load(sys.stdin); items=d["items"] if isinstance(d,dict) else d; print(len(items))')
echo "(c) certkeeper list --json prints $n items"
[ "$n" = "$TOTAL" ] || { echo "FAIL: expected $TOTAL items" >&2; exit 1; }
hyperfine --warmup 0 --runs 3 --export-json "$T/list.json" "$CERTKEEPER_BIN --run-dir $RUN list --json > /dev/null" | sed 's/^/    /'
list_mean=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.3f s mean, %.3f s max" % (r["mean"], max(r["times"])))' "$T/list.json")
/usr/bin/time -f "    /usr/bin/time: %e s, client max RSS %M kB" "$CERTKEEPER_BIN" list --json >/dev/null

# (c2) one scrape of /metrics: every request's expiry, renewal time and state, from six columns.
curl -s --unix-socket "$RUN/api.sock" -o "$T/metrics" http://localhost/metrics
n=$(grep -c '^certkeeper_certificate_not_after_seconds{' "$T/metrics" || true)
[ "$n" = "$TOTAL" ] || { echo "FAIL: /metrics has $n expiry samples, expected $TOTAL" >&2; exit 1; }
metrics_bytes=$(stat -c %s "$T/metrics")
hyperfine --warmup 1 --runs 5 --export-json "$T/metrics.json" \
        "curl -s --unix-socket $RUN/api.sock -o /dev/null http://localhost/metrics" | sed 's/^/    /'
metrics_mean=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.3f s mean, %.3f s max" % (r["mean"], max(r["times"])))' "$T/metrics.json")
echo "(c2) curl /metrics: $metrics_mean; body $metrics_bytes bytes, $(wc -l <"$T/metrics") lines"
echo "(b) memory after the lists: $(mem)"
rss=$(status_field "$DAEMON_PID" VmRSS); hwm=$(status_field "$DAEMON_PID" VmHWM)

# (d) wake-ups while nothing is due.
wp=$(worker_pids | tr '\n' ' ')
ctx() { local p s=""; for p in "$DAEMON_PID" $wp; do s="$s $(status_field "$p" voluntary_ctxt_switches)/$(status_field "$p" nonvoluntary_ctxt_switches)"; done; echo "$s"; }
c0=$(ctx); cpu0=$(cpu_ticks "$DAEMON_PID" $wp)
sleep "$IDLE"
c1=$(ctx); cpu1=$(cpu_ticks "$DAEMON_PID" $wp)
wake=$(python3 - "$c0" "$c1" <<'PY'
import sys
a = [tuple(map(int, x.split("/"))) for x in sys.argv[1].split()]
b = [tuple(map(int, x.split("/"))) for x in sys.argv[2].split()]
print(" ".join("%d" % (y[0] - x[0] + y[1] - x[1]) for x, y in zip(a, b)))
PY
)
echo "(d) context switches in ${IDLE} s idle (main, then each worker): $wake; CPU ticks $((cpu1 - cpu0))"
main_wake=${wake%% *}
stop_daemon

echo
echo "RESULT large-store ($TOTAL certificates): start-until-ready ${ready_ms} ms (target <= 1000); start-up file check ${scan_ms} ms; main RSS ${rss} kB, HWM ${hwm} kB (target <= 65536 kB); list --json ${list_mean} (target <= 2 s); /metrics ${metrics_mean}, ${metrics_bytes} bytes; wake-ups in ${IDLE} s: main ${main_wake}, all [$wake] (target 0)"
python3 - "$ready_ms" "$hwm" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["mean"])' "$T/list.json")" "$wake" <<'PY'
import sys
ready, hwm, lst, wake = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4].split()
for name, ok in (("start <= 1 s", ready <= 1000), ("RSS (VmHWM) <= 64 MB", hwm <= 65536),
                 ("list --json <= 2 s", lst <= 2.0), ("zero wake-ups", all(w == "0" for w in wake))):
        print("  %-22s %s" % (name, "MET" if ok else "NOT MET"))
PY
