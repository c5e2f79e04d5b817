#!/usr/bin/env bash
# memsim's proxy against tinyproxy in one run, on loopback (issues 4 and 20): added latency per
# request on a reused tunnel (goal <= 50 us p50), new tunnels per second (goal >= tinyproxy), bulk
# throughput through a tunnel against direct loopback (goal, issue 20: >= 0.7x). For the bulk
# breakdown the same run measures memsim with splice off (the user-space copy), a minimal blocking
# relay that copies and one that splices (the floors on this machine), with CPU seconds per GiB.
# Ends with the ratio line and one JSON line ("ratio" is memsim bulk / direct). Needs tinyproxy
# (`apt-get install -y tinyproxy`); the benchmark starts its own instance on a free port.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v tinyproxy >/dev/null || { echo "tinyproxy not found: apt-get install -y tinyproxy" >&2; exit 2; }
tinyproxy -v
cargo bench -q -p harness --bench proxy
