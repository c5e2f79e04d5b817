#!/usr/bin/env bash
# Complete Windows MDM enrollments per second (the `enroll` probe: discovery through the CNAME,
# token, policies, RSA-2048 key and PKCS#10, enrollment, provisioning document, first check-in
# over mutual TLS) beside a plain TLS request on the same front (the `discovery` probe), in one
# run, in one world (issue 14). Prints a table and one JSON line with the ratio. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -q -p harness --bench enroll
