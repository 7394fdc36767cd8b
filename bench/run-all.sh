#!/usr/bin/env bash
# Runs every benchmark against BUILD_DIR (make bench: bench/run-all.sh build) and prints their
# output; the RESULT lines are what bench/RESULTS.md records. Benchmarks are scripts, never tests.
#   bench/run-all.sh BUILD_DIR        env: ISSUANCE_N (2000), STORE_N (100000), IDLE (60), CM_N (100),
#                                          HELPER_N (1000), HELPER_CM_N (100), ACME_N (100)
set -uo pipefail
BUILD_DIR=${1:?usage: $0 BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
rc=0
for b in "issuance.sh $BUILD_DIR ${ISSUANCE_N:-2000}" \
         "large-store.sh $BUILD_DIR ${STORE_N:-100000} ${IDLE:-60}" \
         "certmonger.sh $BUILD_DIR ${CM_N:-100}" \
         "helper.sh $BUILD_DIR ${HELPER_N:-1000}" \
         "helper-certmonger.sh $BUILD_DIR ${HELPER_CM_N:-100}" \
         "acme.sh $BUILD_DIR ${ACME_N:-100}" \
         "fanout.sh $BUILD_DIR ${FANOUT_N:-10000}" \
         "rebind.sh $BUILD_DIR ${REBIND_N:-50}"; do
        echo "######## bench/$b"
        # shellcheck disable=SC2086
        "$here"/$b || { echo "######## bench/$b FAILED"; rc=1; }
        echo
done
exit $rc
