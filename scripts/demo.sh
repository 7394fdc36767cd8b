#!/bin/bash
# make demo: the main job on embedded defaults (SQLite, the local CA), without root, in a
# directory of its own. Starts the daemon, requests two certificates with a one-minute lifetime,
# shows them issued and listed, waits until the daemon renews each of them once by itself, then
# stops the daemon and says where everything is.
set -euo pipefail
BUILD=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
bin="$top/$BUILD/src"
demo="$top/demo"
CK="$bin/cli/certkeeper --run-dir $demo/run"

rm -rf "$demo"
mkdir -p "$demo/state" "$demo/run" "$demo/certs"
cat >"$demo/certkeeper.conf" <<CONF
[api]
port = 19696
[daemon]
workers = 2
CONF

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Starting certkeeperd (state in demo/state, API socket in demo/run)"
"$bin/daemon/certkeeperd" --foreground --config "$demo/certkeeper.conf" \
        --state-dir "$demo/state" --run-dir "$demo/run" 2>"$demo/certkeeperd.log" &
daemon=$!
trap 'kill $daemon 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$demo/run/api.sock" ] && [ -f "$demo/run/api.json" ] && break; sleep 0.1; done
$CK version

say "Requesting two certificates from the local CA, valid for one minute each"
$CK request -I web -f "$demo/certs/web.pem" -k "$demo/certs/web.key" -N CN=web.demo.test \
        -D web.demo.test -D www.demo.test --validity 60 -w
$CK request -I api -f "$demo/certs/api.pem" -k "$demo/certs/api.key" -N CN=api.demo.test \
        -D api.demo.test -A 127.0.0.1 -G RSA -g 2048 --validity 60 -w

say "Tracked certificates"
$CK list

first_web=$(openssl x509 -in "$demo/certs/web.pem" -noout -serial)
first_api=$(openssl x509 -in "$demo/certs/api.pem" -noout -serial)
echo "web: $first_web"
echo "api: $first_api"

say "Waiting for the daemon to renew both by itself (at half of the one-minute lifetime)"
for i in $(seq 90); do
        now_web=$(openssl x509 -in "$demo/certs/web.pem" -noout -serial)
        now_api=$(openssl x509 -in "$demo/certs/api.pem" -noout -serial)
        if [ "$now_web" != "$first_web" ] && [ "$now_api" != "$first_api" ]; then
                break
        fi
        sleep 1
        printf '.'
done
echo
if [ "$now_web" = "$first_web" ] || [ "$now_api" = "$first_api" ]; then
        echo "The certificates were not renewed in time; see $demo/certkeeperd.log" >&2
        exit 1
fi
echo "web renewed: $first_web -> $now_web"
echo "api renewed: $first_api -> $now_api"
say "The renewed certificate verifies against the local CA's exported roots"
openssl verify -CAfile "$demo/state/local-ca/roots.pem" -untrusted "$demo/state/local-ca/issuing-cert.pem" "$demo/certs/web.pem"

say "After renewal"
$CK list

say "What the daemon said"
grep -E "issued by CA and saved|due for renewal" "$demo/certkeeperd.log" || true

say "Stopping the daemon"
kill -TERM $daemon
wait $daemon || true
trap - EXIT
cat <<MSG

Files:
  certificates and keys   $demo/certs/
  previous versions       $demo/state/archive/
  local CA (roots.pem)    $demo/state/local-ca/
  database                $demo/state/certkeeper.db (backup: certkeeper.db.bak)
  daemon log              $demo/certkeeperd.log
MSG
