#!/usr/bin/env bash
# PKI build for the whole catalog against the signing floor of `openssl speed ecdsap256`:
# the floor is (certificates in one world) / (OpenSSL P-256 signatures per second), i.e. the
# time OpenSSL alone would need just to sign them. Goal: memsim's build at most 2x the floor.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}
memsim=$(RUNS=$RUNS cargo bench -q -p mock-cloud --bench pki_build 2>/dev/null | grep '"bench":"pki_build"')
sign_per_s=$(openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/nistp256/ {print $(NF-1)}')
python3 - "$memsim" "$sign_per_s" <<'PY'
import json, sys
m = json.loads(sys.argv[1]); rate = float(sys.argv[2])
floor_ms = m["certificates"] / rate * 1000
print(f"certificates per world      {m['certificates']}")
print(f"memsim PKI build (median)   {m['median_ms']:.2f} ms  (min {m['min_ms']:.2f}, p90 {m['p90_ms']:.2f}, {m['runs']} runs)")
print(f"openssl ecdsap256 sign/s    {rate:.0f}")
print(f"signing floor               {floor_ms:.2f} ms")
print(f"ratio memsim / floor        {m['median_ms'] / floor_ms:.2f}x   (goal <= 2x)")
PY
