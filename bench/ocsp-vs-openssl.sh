#!/usr/bin/env bash
# Sustained OCSP answers per second: memsim's responder (oneocsp.microsoft.com on a `memsim up`
# world's HTTP front) against `openssl ocsp` acting as a responder (`-index … -port …`), in
# one run, with the same load tool (ApacheBench: HTTP/1.0 POSTs, one per connection, as
# CryptoAPI and `openssl ocsp` send them), the same request shape (one SHA-1 CertID, no nonce)
# and the same signature (ECDSA P-256, SHA-256). Both answer "good" for a known certificate.
# memsim serves its pre-produced answer (RFC 5019 §2.2: signed once per window, as the public
# CAs' CDNs do); `openssl ocsp` signs every answer. Last two lines: the ratio, then one JSON line.
#
# Bounded (ROUNDS x REQUESTS per peer, at most 60 s a round) and loopback only: the whole run happens in a
# fresh network namespace whose only interface is `lo` (openssl binds its port on every
# interface of that namespace, i.e. on loopback alone).
# Usage: bench/ocsp-vs-openssl.sh   (needs root for unshare, ab: apt-get install -y apache2-utils)
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-10000}
CONCURRENCY=${CONCURRENCY:-16}
ROUNDS=${ROUNDS:-3}
# The binary measured (MEMSIM_BIN, default the release build); MEMSIM_BASE, when set, is a
# second binary (e.g. main's) measured in the same rounds, for an A/B figure.
MEMSIM_BIN=${MEMSIM_BIN:-target/release/memsim}
MEMSIM_BASE=${MEMSIM_BASE:-}
if [ -z "${MEMSIM_BENCH_NETNS:-}" ]; then
    [ -n "${MEMSIM_BENCH_NO_BUILD:-}" ] || cargo build -q --release -p harness
    exec unshare -n env MEMSIM_BENCH_NETNS=1 REQUESTS="$REQUESTS" CONCURRENCY="$CONCURRENCY" ROUNDS="$ROUNDS" \
        MEMSIM_BIN="$MEMSIM_BIN" MEMSIM_BASE="$MEMSIM_BASE" bash "$0" "$@"
fi
ip link set lo up
# Every request is a new connection (HTTP/1.0, as real clients): give this namespace's loopback
# the ports and TIME_WAIT reuse for ROUNDS x REQUESTS x 2 of them.
sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1 2>/dev/null || true
d=$(mktemp -d)
pids=()
# openssl's -multi parent ignores SIGTERM: its children (by parent id) and it are killed.
cleanup() {
    for p in "${pids[@]}"; do kill -KILL $(pgrep -P "$p") 2>/dev/null || true; kill -TERM "$p" 2>/dev/null || true; kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$d"
}
trap cleanup EXIT

# --- memsim: a healthy world; the CMG leaf and its issuer from the control endpoint ---------
# world BIN DIR: start a world, wait for it; its HTTP front's address in $addr, and (in DIR)
# the CMG leaf, its issuer and an OCSP request for it (each world has its own keys).
world() {
    "$1" up --state-dir "$2" >"$2.out" 2>/dev/null &
    pids+=($!)
    for _ in $(seq 200); do [ -f "$2/world.json" ] && break; sleep 0.05; done
    local control
    control=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["addr"])' "$2/control.json")
    curl -sf -H "Authorization: Bearer $(cat "$2/control.token")" "http://$control/v1/certificates/granitefalls.cloudapp.net" >"$2/cert.json"
    python3 - "$2" <<'PY'
import json, sys
d = sys.argv[1]; c = json.load(open(f"{d}/cert.json"))
open(f"{d}/leaf.pem", "w").write(c["pem"]); open(f"{d}/issuer.pem", "w").write(c["issuer_pem"])
PY
    openssl ocsp -issuer "$2/issuer.pem" -cert "$2/leaf.pem" -no_nonce -reqout "$2/m.req" >/dev/null
    addr=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http_addr"])' "$2/world.json")
}
world "$MEMSIM_BIN" "$d/world"
http=$addr
if [ -n "$MEMSIM_BASE" ]; then world "$MEMSIM_BASE" "$d/base"; base_http=$addr; fi

# --- openssl: its own P-256 CA and leaf, an index with the leaf valid -----------------------
o="$d/openssl"; mkdir -p "$o"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$o/ca.key" -out "$o/ca.pem" \
    -days 2 -subj "/CN=Bench OCSP CA" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$o/leaf.key" -subj "/CN=bench.example" -out "$o/leaf.csr" 2>/dev/null
openssl x509 -req -in "$o/leaf.csr" -CA "$o/ca.pem" -CAkey "$o/ca.key" -set_serial 0x1234 -days 1 -out "$o/leaf.pem" 2>/dev/null
enddate=$(date -u -d "+1 day" +%y%m%d%H%M%SZ)
printf 'V\t%s\t\t1234\tunknown\t/CN=bench.example\n' "$enddate" >"$o/index.txt"
openssl ocsp -issuer "$o/ca.pem" -cert "$o/leaf.pem" -no_nonce -reqout "$o/o.req" >/dev/null
# The responder runs only during its own rounds: after a stall its -multi children were seen
# spinning, which would tax memsim's rounds. Started afresh (and checked) for each round.
start_openssl() {
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    openssl ocsp -index "$o/index.txt" -port "$port" -rsigner "$o/ca.pem" -rkey "$o/ca.key" -CA "$o/ca.pem" \
        -ndays 7 -multi "$(nproc)" >/dev/null 2>&1 &
    opid=$!
    pids+=("$opid")
    ok=""  # openssl's readiness is its first good answer (bounded: 10 s)
    for _ in $(seq 200); do check "http://127.0.0.1:$port/" "127.0.0.1:$port" "$o/o.req" "$o/ca.pem" "$o/leaf.pem" && { ok=1; break; }; sleep 0.05; done
    [ -n "$ok" ] || { echo "openssl did not answer good"; exit 1; }
}
stop_openssl() { kill -KILL $(pgrep -P "$opid") "$opid" 2>/dev/null || true; wait "$opid" 2>/dev/null || true; }

# --- both answer "good" before anything is timed ---------------------------------------------
check() { # url host req issuer cert
    curl -sf --data-binary @"$3" -H "Content-Type: application/ocsp-request" -H "Host: $2" "$1" -o "$d/resp.der"
    openssl ocsp -respin "$d/resp.der" -issuer "$4" -cert "$5" -noverify 2>/dev/null | grep -q ': good'
}
check "http://$http/ocsp" oneocsp.microsoft.com "$d/world/m.req" "$d/world/issuer.pem" "$d/world/leaf.pem" || { echo "memsim did not answer good"; exit 1; }
[ -z "$MEMSIM_BASE" ] || check "http://$base_http/ocsp" oneocsp.microsoft.com "$d/base/m.req" "$d/base/issuer.pem" "$d/base/leaf.pem" || { echo "memsim base did not answer good"; exit 1; }

load() { # url host req
    # -r: a reset connection (openssl's responder under load) is counted, not fatal. "Length"
    # failures are not errors: ECDSA signatures vary in length by a byte or two.
    # A round ab aborts (a peer stalls past -s 10: seen with openssl's -multi children) prints
    # "aborted" and is left out of the median.
    { ab -r -q -t 60 -n "$REQUESTS" -c "$CONCURRENCY" -s 10 -p "$3" -T application/ocsp-request -H "Host: $2" "$1" 2>&1 || echo ABORTED; } |
        awk '/^Complete requests/ {c=$3} /^Non-2xx/ {n=$3} /^Requests per second/ {r=$4} /^Time per request.*\(mean\)/ {t=$4}
             /\(Connect:/ {gsub(/[(),]/, " "); x=$3 + $5 + $9}
             /^ABORTED/ {aborted=1}
             END {if (aborted) {print "aborted"; exit} printf "%9.0f answers/s  %6.2f ms mean  %d complete  %d non-2xx  %d connect/receive errors\n", r, t, c, n, x}'
}
# Interleaved rounds, so both peers see the same machine; the median round of each is reported.
for r in $(seq "$ROUNDS"); do
    load "http://$http/ocsp" oneocsp.microsoft.com "$d/world/m.req" >>"$d/memsim.txt"
    [ -z "$MEMSIM_BASE" ] || load "http://$base_http/ocsp" oneocsp.microsoft.com "$d/base/m.req" >>"$d/base.txt"
    start_openssl
    load "http://127.0.0.1:$port/" "127.0.0.1:$port" "$o/o.req" >>"$d/openssl.txt"
    stop_openssl
done
echo "requests per round           $REQUESTS, $ROUNDS rounds per peer, concurrency $CONCURRENCY, $(nproc) cores, ab HTTP/1.0 POST"
python3 - "$d/memsim.txt" "$d/openssl.txt" "$(nproc)" "$REQUESTS" "$ROUNDS" "$CONCURRENCY" "$d/base.txt" <<'PY'
import json, os, sys
def median_round(path):
    lines = [l for l in open(path) if l.strip()]
    rows = [l for l in lines if not l.startswith("aborted")]
    aborted = f"  ({len(lines) - len(rows)} round(s) aborted)" if len(rows) < len(lines) else ""
    return sorted(rows, key=lambda l: float(l.split()[0]))[len(rows) // 2].rstrip() + aborted
m, s = median_round(sys.argv[1]), median_round(sys.argv[2])
ratio = float(m.split()[0]) / float(s.split()[0])
print(f"memsim oneocsp.microsoft.com {m}")
print(f"openssl ocsp -multi {sys.argv[3]}        {s}")
base = None
if os.path.exists(sys.argv[7]):
    b = median_round(sys.argv[7])
    base = float(b.split()[0])
    print(f"memsim base (MEMSIM_BASE)    {b}")
    print(f"ratio memsim / base          {float(m.split()[0]) / base:.2f}x")
print(f"ratio memsim / openssl       {ratio:.2f}x   (goal >= 2x)")
print(json.dumps({"bench": "ocsp-vs-openssl", "ratio": round(ratio, 3), "goal": 2.0, "memsim_per_s": float(m.split()[0]),
                  "openssl_per_s": float(s.split()[0]), "requests": int(sys.argv[4]), "rounds": int(sys.argv[5]),
                  "concurrency": int(sys.argv[6]), "cores": int(sys.argv[3]), "base_per_s": base}))
PY
