#!/usr/bin/env bash
# Every benchmark of bench/, one after another in one session (issue 20's acceptance: one run of
# all of them, recorded in bench/RESULTS.md). Builds the release binary once, runs each script
# with the arguments bench/README.md gives, keeps each script's whole output in OUT
# (default target/bench-all/<UTC time>/NAME.txt) and ends with every script's JSON line, its
# exit status and its wall time. A script that fails is reported and the run goes on.
#
# Usage: bench/all.sh [NAME ...]   (names as below, e.g. `bench/all.sh dns startup`; none = all)
# Needs root (ocsp and reliability use a network namespace of their own) and the peers each
# script names: apt-get install -y nginx-light nghttp2-client dnsperf dnsmasq-base tinyproxy
# apache2-utils tcpdump iproute2; entra-tokens needs PyJWT and cryptography (PYTHON=…, default:
# the venv .ci/run makes under target/entra-clients, else python3). Loopback only; every script
# is bounded in count and time. Run it on a quiet machine: the figures are only as good as that.
set -uo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
out=${OUT:-$target/bench-all/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
py=${PYTHON:-}
[ -n "$py" ] || { [ -x "$target/entra-clients/venv/bin/python" ] && py="$target/entra-clients/venv/bin/python"; } || py=python3

# name | command (run from the repository's root)
benches=(
  "startup|python3 bench/startup.py 20"
  "pki|bench/pki-vs-openssl.sh"
  "https|bench/https-vs-nginx.sh"
  "dns|python3 bench/dns-vs-dnsmasq.py 3 10"
  "proxy|bench/proxy-vs-tinyproxy.sh"
  "ocsp|bench/ocsp-vs-openssl.sh"
  "cdn|python3 bench/cdn-throughput.py 5"
  "enroll|bench/enroll.sh"
  "entra-tokens|$py bench/entra-tokens.py 2000"
  "journal-load|python3 bench/journal-load.py 1000000 1000000"
  "catalog|bench/catalog.sh"
  "reliability|python3 bench/reliability.py"
  "fuzz-parsers|bench/fuzz-parsers.sh"
)

echo "bench/all.sh: $(date -u +%FT%TZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), output in $out"
echo "building the release binary (cargo build --release -p harness)"
cargo build -q --release -p harness || { echo "release build failed" >&2; exit 2; }

summary=()
for entry in "${benches[@]}"; do
  name=${entry%%|*}; cmd=${entry#*|}
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
  echo
  echo "== $name: $cmd   (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  start=$(date +%s.%N)
  bash -c "$cmd" 2>&1 | tee "$out/$name.txt"
  rc=${PIPESTATUS[0]}
  secs=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" "$start" "$(date +%s.%N)")
  json=$(grep -E '^\{"bench"' "$out/$name.txt" | tail -1)
  summary+=("$name|$rc|$secs|${json:-"(no JSON line)"}")
done

echo
echo "== summary ($(date -u +%FT%TZ)): name, exit status, wall seconds, JSON line"
for s in "${summary[@]}"; do
  IFS='|' read -r name rc secs json <<<"$s"
  printf '%-13s exit %-3s %5s s  %s\n' "$name" "$rc" "$secs" "$json"
done | tee "$out/summary.txt"
