#!/bin/bash
# Pre-save (-B) and post-save (-C) commands: run at each save, with a clean environment that has
# CERTKEEPER_* but nothing of ours, their output in the history; a post-save command longer than
# [hooks] timeout is killed (with its children) and recorded as failed, and the certificate is
# still saved.
. "$(dirname "$0")/lib.sh"

cat >>"$CONF" <<CONF
[hooks]
timeout = 2s
CONF

export CK_TEST_SECRET="visible-$$"
start_daemon
mkdir -p "$T/certs"

# hook_rows NICK STAGE: "result<TAB>message" for each history row of that stage, one per line
# (newlines in the message as \n).
hook_rows() {
        api GET "/api/v1/certificates/$1/history?limit=1000" | head -n -1 | python3 -c "
import json, sys
for i in json.load(sys.stdin)['items']:
    if i['stage'] == '$2':
        print('%s\t%s' % (i['result'], (i['message'] or '').replace('\n', '\\\\n')))"
}

pre='echo "pre cert=$CERTKEEPER_CERT_FILE hook=$CERTKEEPER_HOOK secret=${CK_TEST_SECRET:-unset} nick=$CERTKEEPER_NICKNAME"; echo pre >>'"$T/calls"
post='echo "post key=$CERTKEEPER_KEY_FILE hook=$CERTKEEPER_HOOK secret=${CK_TEST_SECRET:-unset} pwd=$(pwd)"; test -s "$CERTKEEPER_CERT_FILE" && echo post >>'"$T/calls"
ck request -I h -f "$T/certs/h.pem" -k "$T/certs/h.key" -N CN=h.test -B "$pre" -C "$post" -w >/dev/null ||
        fail "request h"
[ "$(cert_field h pre_save_cmd)" = "$pre" ] || fail "pre_save_cmd not stored"
[ "$(cert_field h post_save_cmd)" = "$post" ] || fail "post_save_cmd not stored"
[ "$(cat "$T/calls" | tr '\n' ' ')" = "pre post " ] || fail "hooks ran as: $(cat "$T/calls" 2>/dev/null)"

hook_rows h pre-save >"$T/pre"
hook_rows h post-save >"$T/post"
[ "$(wc -l <"$T/pre")" = 1 ] && [ "$(wc -l <"$T/post")" = 1 ] || fail "expected one pre-save and one post-save row"
grep -q "^ok	.*pre cert=$T/certs/h.pem hook=pre-save secret=unset nick=h" "$T/pre" ||
        fail "pre-save history: $(cat "$T/pre")"
grep -q "^ok	.*post key=$T/certs/h.key hook=post-save secret=unset pwd=/" "$T/post" ||
        fail "post-save history: $(cat "$T/post")"
grep -q "$CK_TEST_SECRET" "$T/pre" "$T/post" && fail "the test shell's environment leaked into a hook"

# Each save runs them again.
ck resubmit -i h -w >/dev/null || fail "resubmit h"
[ "$(cat "$T/calls" | tr '\n' ' ')" = "pre post pre post " ] || fail "hooks after resubmit: $(cat "$T/calls")"
[ "$(hook_rows h post-save | grep -c '^ok')" = 2 ] || fail "no second post-save row"

# A failing pre-save command is recorded, and the certificate is still saved.
ck request -I f -f "$T/certs/f.pem" -k "$T/certs/f.key" -N CN=f.test -B 'echo nope >&2; exit 3' -w >/dev/null ||
        fail "request f"
hook_rows f pre-save | grep -q "^failed	.*nope" || fail "failing pre-save: $(hook_rows f pre-save)"
key_matches_cert "$T/certs/f.key" "$T/certs/f.pem" || fail "f not saved after a failing pre-save command"

# A post-save command past the timeout: killed with its child, recorded as failed, certificate
# saved and MONITORING.
slow='sleep 30 & echo $! >'"$T/child.pid"'; echo started; sleep 30; echo never'
start=$(date +%s)
ck request -I s -f "$T/certs/s.pem" -k "$T/certs/s.key" -N CN=s.test -C "$slow" -w --wait-timeout=20 >/dev/null ||
        fail "request s did not end in MONITORING"
elapsed=$(( $(date +%s) - start ))
[ "$elapsed" -lt 15 ] || fail "the slow post-save command was not cut at the 2 s timeout (took ${elapsed}s)"
[ "$(cert_field s state)" = MONITORING ] || fail "s is not MONITORING"
key_matches_cert "$T/certs/s.key" "$T/certs/s.pem" || fail "s: the certificate was not saved"
[ "$(cert_field s issued_count)" = 1 ] || fail "s: issued_count is not 1"
rows=$(hook_rows s post-save)
grep -q "^failed	" <<<"$rows" || fail "timed-out post-save not recorded as failed: $rows"
grep -q "started" <<<"$rows" || fail "timed-out post-save output not kept: $rows"
grep -q "never" <<<"$rows" && fail "the post-save command ran to its end"
dur=$(api GET "/api/v1/certificates/s/history" | head -n -1 |
      json_get "[i['duration_ms'] for i in d['items'] if i['stage'] == 'post-save'][0]")
[ "$dur" -ge 1500 ] && [ "$dur" -lt 10000 ] || fail "post-save duration ${dur} ms, expected about 2000"
child=$(cat "$T/child.pid")
[ -n "$child" ] || fail "the hook did not record its child"
wait_until 5 sh -c "! kill -0 $child"

echo "ok"
