#!/usr/bin/env bash
# Whole-catalog wall time and compression (simulated time covered / wall time spent in
# scenarios), from memsim's own JSON report. Goals: catalog <= 60 s on 2 cores; timer-bound
# scenarios (time_scale > 1) >= 1000x faster than real time.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p harness
out=$(mktemp)
start=$(date +%s.%N)
./target/release/memsim run --format json --output "$out" "$@" >/dev/null 2>&1 || true
end=$(date +%s.%N)
python3 - "$out" "$start" "$end" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1])); s = doc["summary"]
wall = float(sys.argv[3]) - float(sys.argv[2])
timer = [x for x in doc["scenarios"] if x["time_scale"] > 1]
print(f"scenarios                    {s['total']} ({s['passed']} passed, {s['failed']} failed, {s['errors']} errors)")
print(f"memsim run wall (process)    {wall:.2f} s   (goal <= 60 s on 2 cores)")
print(f"catalog compression          {doc['compression']:.0f}x  (simulated {s['sim_ms']/1000:.0f} s / {s['scenario_wall_ms']/1000:.2f} s in scenarios)")
if timer:
    sim = sum(x["sim_ms"] for x in timer); wall_t = sum(x["wall_ms"] for x in timer)
    print(f"timer-bound scenarios        {len(timer)}: {sim/1000:.0f} s simulated in {wall_t/1000:.2f} s wall = {sim/wall_t:.0f}x  (goal >= 1000x)")
    for x in sorted(timer, key=lambda x: x["name"]):
        print(f"  {x['name']:<40} x{x['time_scale']:<8g} {x['sim_ms']/1000:8.1f} s sim  {x['wall_ms']:8.1f} ms wall")
else:
    print("timer-bound scenarios        none in this catalog yet")
timer_x = round(sum(x["sim_ms"] for x in timer) / sum(x["wall_ms"] for x in timer)) if timer else None
print(json.dumps({"bench": "catalog", "scenarios": s["total"], "passed": s["passed"], "wall_s": round(wall, 2),
                  "goal_wall_s": 60, "compression": round(doc["compression"]), "timer_bound_x": timer_x, "goal_timer_x": 1000}))
PY
rm -f "$out"
