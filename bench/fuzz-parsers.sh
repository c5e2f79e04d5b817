#!/usr/bin/env bash
# Every parser that takes outside input, driven by proptest far past CI's counts (issue 11):
# the scenario TOML (and its durations and host patterns), DNS messages through hickory's
# decoder over UDP/TCP/DoH, OCSP requests, HTTP Range headers, the proxy's request heads, and
# the control endpoint's JSON, Entra's token requests, sealed grants and client assertions
# (issue 12), and the enrollment services' SOAP reader, WS-Security tokens and PKCS#10 requests
# (issue 14). CI runs each property 256-512 times; this runs >= 1,000,000
# cases in all and prints the count per target. Loopback only; each target stops by itself.
#
# Usage: bench/fuzz-parsers.sh [SCALE]   (SCALE 1 = the counts below, ~2.2M cases; 0.01 for a smoke run)
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1}

total=0
run() { # run NAME CASES_PER_PROPERTY PROPERTIES CARGO_TEST_ARGS…
    local name=$1 per=$2 props=$3
    shift 3
    per=$(python3 -c "print(max(1, int($per * $scale)))")
    local start=$SECONDS
    PROPTEST_CASES=$per cargo test --locked -q "$@" >/tmp/memsim-fuzz-$$.log 2>&1 || {
        echo "$name: FAILED (see below)"
        tail -40 /tmp/memsim-fuzz-$$.log
        exit 1
    }
    grep -q 'test result: ok' /tmp/memsim-fuzz-$$.log || { echo "$name: no test ran"; exit 1; }
    local n=$((per * props))
    total=$((total + n))
    printf '%-34s %9d cases  %4d s\n' "$name" "$n" "$((SECONDS - start))"
}

run "scenario TOML, durations, hosts" 100000 6 -p scenarios --test parsers_never_panic
run "HTTP Range / If-Range" 100000 2 -p mock-cloud --lib content::range::tests::
run "OCSP requests (POST and GET)" 50000 2 -p mock-cloud --lib services::ocsp::tests::
run "DNS over UDP, TCP and DoH" 20000 2 -p mock-dns --test fuzz
run "proxy heads, targets, Host, echo" 50000 4 -p harness --lib proxy::tests::issue11::props::
run "control endpoint JSON" 50000 1 -p mock-cloud --lib services::control::tests::props::
run "enrollment SOAP, BST tokens, PKCS#10" 250000 4 -p mock-cloud --lib services::enrollment::soap::tests::
run "Entra token forms, grants, assertions" 20000 6 -p mock-cloud --lib services::entra::
rm -f /tmp/memsim-fuzz-$$.log
echo "total                              $total cases, no panic, every answer protocol-correct"
echo "{\"bench\": \"fuzz-parsers\", \"cases\": $total, \"goal_cases\": 1000000, \"seconds\": $SECONDS, \"panics\": 0}"
