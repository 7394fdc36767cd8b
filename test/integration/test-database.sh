#!/bin/bash
# A damaged database: restored from the backup at start-up, loudly; without a usable backup the
# daemon refuses to start and leaves the file alone. And `certkeeper db check|backup|restore|
# recover` on the file, with the daemon stopped (restore/recover refused while it runs).
. "$(dirname "$0")/lib.sh"

DB="$STATE/certkeeper.db"

# corrupt FILE: a few KB of random bytes in the middle; the WAL and shared memory files removed.
corrupt() {
        local size
        size=$(stat -c %s "$1")
        [ "$size" -ge 16384 ] || fail "$1 is only $size bytes"
        dd if=/dev/urandom of="$1" bs=1024 seek=$((size / 2048)) count=4 conv=notrunc status=none
        rm -f "$1-wal" "$1-shm"
}
listed() { api GET "/api/v1/certificates?limit=1000" | head -n -1 | json_get "' '.join(sorted(i['nickname'] for i in d['items']))"; }

start_daemon
mkdir -p "$T/certs"
for n in one two three; do
        ck request -I "$n" -f "$T/certs/$n.pem" -k "$T/certs/$n.key" -N "CN=$n.test" -w >/dev/null || fail "request $n"
done
want=$(listed)
[ "$want" = "one three two" ] || fail "listed: '$want'"

# A daemon that runs: restore and recover are refused, check and backup work.
if ck db restore --state-dir "$STATE" >"$T/out" 2>&1; then fail "db restore accepted while the daemon runs"; fi
grep -qi "running\|stop" "$T/out" || fail "db restore refusal does not say why: $(cat "$T/out")"
if ck db recover --state-dir "$STATE" >"$T/out" 2>&1; then fail "db recover accepted while the daemon runs"; fi
grep -qi "running\|stop" "$T/out" || fail "db recover refusal does not say why: $(cat "$T/out")"
stop_daemon

# The start-up backup (in the background) holds the three requests once the daemon has started
# with them: start again and wait for it (the previous backup becomes .bak.1).
rm -f "$DB.bak" "$DB.bak.1"
start_daemon
wait_until 20 test -s "$DB.bak"
wait_until 20 grep -q "Database backed up to" "$LOG"
stop_daemon
[ "$(sqlite3 "$DB.bak" 'SELECT count(*) FROM certs')" = 3 ] || fail "the backup lacks the requests"

# CLI: check on a good file, an explicit backup.
ck db check --state-dir "$STATE" >"$T/out" 2>&1 || fail "db check on a good database: $(cat "$T/out")"
ck db backup --state-dir "$STATE" --output "$T/manual.bak" >"$T/out" 2>&1 || fail "db backup: $(cat "$T/out")"
[ "$(sqlite3 "$T/manual.bak" 'SELECT count(*) FROM certs')" = 3 ] || fail "db backup --output lacks the requests"

# Damaged: the daemon starts, says so loudly, moves the file aside, and serves the backup.
corrupt "$DB"
if ck db check --state-dir "$STATE" >"$T/out" 2>&1; then fail "db check passed a damaged database"; fi
start_daemon
# Found at once when opening touches the damage, or by the background check right after start-up,
# which makes the daemon restart itself (same pid) to restore.
wait_until 30 grep -q "DATABASE DAMAGED" "$LOG"
# When the background check finds it, the file is moved aside by the restart that follows the log line.
wait_until 30 sh -c "ls '$STATE'/certkeeper.db.corrupt-* >/dev/null 2>&1"
listed_is_want() { [ "$(listed 2>/dev/null)" = "$want" ]; }
wait_until 30 listed_is_want
[ "$(cert_field one state)" = MONITORING ] || fail "one is not MONITORING after the restore"
stop_daemon

# Damaged and no usable backup: refuse to start, say what to do, leave the file alone.
rm -f "$DB.bak" "$DB.bak.1"
corrupt "$DB"
sum=$(sha256sum <"$DB")
rc=0
"$CERTKEEPERD" --foreground --config "$CONF" --state-dir "$STATE" --run-dir "$RUN" >"$T/refuse.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "certkeeperd started on a damaged database without a backup"
grep -q "db recover" "$T/refuse.log" || fail "the refusal does not say what to do: $(cat "$T/refuse.log")"
[ "$(sha256sum <"$DB")" = "$sum" ] || fail "the damaged database was changed"
[ ! -e "$DB.bak" ] || fail "a backup of the damaged file was made"

# A backup that is itself damaged does not count as usable.
cp "$T/manual.bak" "$DB.bak"
corrupt "$DB.bak"
rc=0
"$CERTKEEPERD" --foreground --config "$CONF" --state-dir "$STATE" --run-dir "$RUN" >"$T/refuse2.log" 2>&1 || rc=$?
[ "$rc" != 0 ] || fail "certkeeperd started from a damaged backup"
[ "$(sha256sum <"$DB")" = "$sum" ] || fail "the damaged database was changed (damaged backup)"

# db restore --from a good backup puts it in place and moves the damaged file aside.
ck db restore --state-dir "$STATE" --from "$T/manual.bak" >"$T/restore.out" 2>&1 ||
        fail "db restore: $(cat "$T/restore.out")"
ck db check --state-dir "$STATE" >"$T/out" 2>&1 || fail "db check after restore: $(cat "$T/out")"
[ "$(sqlite3 "$DB" 'SELECT count(*) FROM certs')" = 3 ] || fail "restored database lacks the requests"
aside=$(sed -n "s/.*The previous file was moved to '\([^']*\)'.*/\1/p" "$T/restore.out")
[ -n "$aside" ] && [ -f "$aside" ] || fail "db restore did not keep the previous file: $(cat "$T/restore.out")"
[ "$(sha256sum <"$aside")" = "$sum" ] || fail "the file moved aside by db restore is not the damaged one"

# db recover salvages a damaged file into a working one.
corrupt "$DB"
if ck db check --state-dir "$STATE" >/dev/null 2>&1; then fail "db check passed a damaged database"; fi
ck db recover --state-dir "$STATE" >"$T/out" 2>&1 || fail "db recover: $(cat "$T/out")"
ck db check --state-dir "$STATE" >"$T/out" 2>&1 || fail "db check after recover: $(cat "$T/out")"
start_daemon
[ "$(api GET /api/v1/system/health | head -n -1 | json_get "d['database']")" = ok ] || fail "health after recover"
stop_daemon

echo "ok"
