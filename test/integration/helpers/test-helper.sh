#!/bin/sh
# A CA helper for the tests, speaking certmonger's helper protocol. Usage:
#   test-helper.sh DIR MODE
# DIR holds a test CA (ca.pem, ca.key; made by the test) and gets a log line per run (runs.log)
# and, for each SUBMIT/POLL, the whole environment (env.N), argv (argv.N), cwd and stdin (io.N).
# MODE says how it answers SUBMIT and POLL:
#   issue          exit 0, the certificate signed by DIR's CA, with noise around it
#   wait-then-issue exit 5 "5\ncookie-1" on SUBMIT; POLL with that cookie issues
#   wait           exit 1 with a cookie
#   exit:N         exit N with a message on stderr
#   rekey-then-issue exit 17 on the first SUBMIT, issue after (a new key each time)
#   garbage        exit 0 with no certificate
#   bad-delay      exit 5 with "soon\ncookie"
#   hang           sleeps for an hour (the daemon's timeout must kill it, and its child)
#   flood          exit 0 after printing 100 MB of junk
#   crash          killed by SIGSEGV
# The CA-data operations: IDENTIFY prints "Test CA ($MODE)"; FETCH-ROOTS prints DIR's CA;
# GET-NEW-REQUEST-REQUIREMENTS prints DIR/new-reqs if present; GET-SUPPORTED-TEMPLATES prints
# DIR/templates if present; GET-DEFAULT-TEMPLATE the first of them; others exit 6.
dir=$1
mode=$2
op=${CERTMONGER_OPERATION:-SUBMIT}
echo "$op ${CERTMONGER_CA_COOKIE:-}" >>"$dir/runs.log"

issue() {
        printf '%s\n' "$CERTMONGER_CSR" >"$dir/req.$$.pem"
        echo "some noise before the certificate"
        openssl x509 -req -in "$dir/req.$$.pem" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -days 2 \
                -copy_extensions copy -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" 2>/dev/null
        rc=$?
        rm -f "$dir/req.$$.pem"
        echo "and some after it"
        exit $rc
}

case "$op" in
IDENTIFY)
        echo "Test CA ($mode)"
        exit 0 ;;
FETCH-ROOTS)
        echo "Test Root"
        cat "$dir/ca.pem"
        exit 0 ;;
GET-NEW-REQUEST-REQUIREMENTS)
        [ -f "$dir/new-reqs" ] && cat "$dir/new-reqs"
        exit 0 ;;
GET-RENEW-REQUEST-REQUIREMENTS)
        exit 0 ;;
GET-SUPPORTED-TEMPLATES)
        [ -f "$dir/templates" ] || exit 6
        cat "$dir/templates"
        exit 0 ;;
GET-DEFAULT-TEMPLATE)
        [ -f "$dir/templates" ] || exit 6
        head -n1 "$dir/templates" | cut -d, -f1
        exit 0 ;;
SUBMIT|POLL)
        n=$(wc -l <"$dir/runs.log")
        env >"$dir/env.$n"
        printf '%s\n' "$0" "$@" >"$dir/argv.$n"
        { echo "cwd=$(pwd)"; echo "stdin=$(readlink /proc/self/fd/0)"; } >"$dir/io.$n"
        ;;
*)
        exit 6 ;;
esac

case "$mode" in
issue)
        issue ;;
wait-then-issue)
        if [ "$op" = POLL ] && [ "$CERTMONGER_CA_COOKIE" = cookie-1 ]; then
                issue
        fi
        printf '5\ncookie-1\n'
        exit 5 ;;
wait)
        echo "cookie-wait"
        exit 1 ;;
exit:*)
        echo "the test CA says no (exit ${mode#exit:})" >&2
        exit "${mode#exit:}" ;;
rekey-then-issue)
        if [ ! -f "$dir/rekeyed" ]; then
                touch "$dir/rekeyed"
                echo "key too weak, make a new one" >&2
                exit 17
        fi
        issue ;;
garbage)
        echo "this is not a certificate"
        exit 0 ;;
bad-delay)
        printf 'soon\ncookie\n'
        exit 5 ;;
hang)
        sleep 3600 &
        echo $! >"$dir/hang-child.pid"
        sleep 3600
        exit 0 ;;
flood)
        head -c 100000000 /dev/zero | tr '\0' 'x'
        exit 0 ;;
crash)
        kill -SEGV $$
        exit 0 ;;
esac
exit 99
