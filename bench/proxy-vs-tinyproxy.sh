#!/usr/bin/env bash
# memsim's proxy against tinyproxy in one run, on loopback (issue 4): added latency per request
# on a reused tunnel (goal <= 50 us p50), new tunnels per second (goal >= tinyproxy), bulk
# throughput through a tunnel against direct loopback (goal >= 0.7x). Needs tinyproxy
# (`apt-get install -y tinyproxy`); the benchmark starts its own instance on a free port.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v tinyproxy >/dev/null || { echo "tinyproxy not found: apt-get install -y tinyproxy" >&2; exit 2; }
tinyproxy -v
cargo bench -q -p harness --bench proxy
