#!/usr/bin/env python3
"""The world's DNS (`memsim up`, journaling every query) against dnsmasq serving the same
names, both driven by the same load tool (dnsperf) in one run, runs interleaved.
Goals (issue 20): memsim's queries per second at least 1.5x dnsmasq's with zero lost; at least
1.0x dnsmasq in a world WITH DNS faults; zero lost in a burst of 1,000,000 queries.

Three parts, each with its ratio line; then one JSON line:
  1. a healthy world (`memsim up`): RUNS interleaved runs of SECONDS s per server;
  2. a world with DNS faults (`memsim up --scenario FAULTED_SCENARIO`, default
     dns-enrollment-cname-nonpreferred: three tenant CNAMEs point elsewhere, every other name
     answers): the same runs against the same dnsmasq;
  3. a burst: BURST queries (default 1,000,000; dnsperf -n passes over the names, 200 in
     flight as bench/journal-load.py) at the healthy world and at dnsmasq; lost queries counted.

The names: every emulated host of the world (a name below each wildcard), the tenant CNAMEs
of seed 003 for every domain, the CMG CNAME (A questions), and the management point SRV
record. dnsmasq gets them from the same world.json: host-record / address (wildcards) /
cname / srv-host lines, no upstream (no-resolv), loopback only.

Usage: bench/dns-vs-dnsmasq.py [RUNS] [SECONDS]
Environment: MEMSIM_BIN (default target/release/memsim); MEMSIM_BASE, a second memsim binary
measured in the same rounds for an A/B comparison (e.g. a copy of main's); BURST (0 skips the
burst); FAULTED_SCENARIO ("" skips part 2).
Needs: a release build (cargo build --release -p harness), dnsperf and dnsmasq
(apt-get install -y dnsperf dnsmasq-base). Every query goes to 127.0.0.1 only; every load is
bounded in count (-n) and time (-l).
"""
import json, os, re, shutil, socket, statistics, subprocess, sys, tempfile, time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
SECONDS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMSIM = os.environ.get("MEMSIM_BIN", os.path.join(ROOT, "target", "release", "memsim"))
BASE = os.environ.get("MEMSIM_BASE", "")
BURST = int(os.environ.get("BURST", "1000000"))
FAULTED = os.environ.get("FAULTED_SCENARIO", "dns-enrollment-cname-nonpreferred")
GOAL, GOAL_FAULTED = 1.5, 1.0
# Same load for both: one dnsperf thread, 4 clients (sockets), 100 queries in flight.
DNSPERF = ["dnsperf", "-T", "1", "-c", "4", "-q", "100", "-t", "2"]
# The burst: 200 in flight (as bench/journal-load.py), bounded by passes (-n) and time (-l).
BURST_FLAGS = ["dnsperf", "-T", "1", "-c", "4", "-q", "200", "-t", "2"]
BURST_LIMIT = 120


def free_port():
    """A port free for both UDP and TCP on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket() as t:
                try:
                    t.bind(("127.0.0.1", port))
                    return port
                except OSError:
                    continue


def world_names(world):
    t = world["tenant"]
    questions = []
    for h in world["hosts"]:
        questions.append((h.replace("*.", "bench."), "A"))
    for d in t["domains"]:
        questions += [(f"EnterpriseEnrollment.{d}", "A"), (f"EnterpriseRegistration.{d}", "A"),
                      (f"_mssms_mp_{t['site_code']}._tcp.{d}", "SRV")]
    questions.append((f"{t['cmg_name']}.{t['domains'][0]}", "A"))
    return questions


def dnsmasq_conf(world, port, path):
    """The same names for dnsmasq, from world.json (not from memsim's answers)."""
    t = world["tenant"]
    suffix = ".us" if t["cloud"] == "usgov" else ".com"
    cmg = f"{t['cmg_name']}.{'usgovcloudapp' if t['cloud'] == 'usgov' else 'cloudapp'}.net".lower()
    lines = [f"port={port}", "listen-address=127.0.0.1", "bind-interfaces", "no-resolv", "no-hosts",
             "no-negcache", "log-facility=/dev/null"]
    for h in world["hosts"]:
        lines.append(f"address=/{h[2:]}/127.0.0.1" if h.startswith("*.") else f"host-record={h},127.0.0.1")
    for d in t["domains"]:
        lines.append(f"cname=EnterpriseEnrollment.{d},enterpriseenrollment-s.manage.microsoft{suffix}")
        lines.append(f"cname=EnterpriseRegistration.{d},enterpriseregistration.windows.net")
        lines.append(f"srv-host=_mssms_mp_{t['site_code']}._tcp.{d},{cmg},443,0,0")
    lines.append(f"cname={t['cmg_name']}.{t['domains'][0]},{cmg}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def dig_short(port, name, qtype):
    out = subprocess.run(["dig", "+short", "+time=2", "+tries=1", "-p", str(port), "@127.0.0.1", name, qtype],
                         capture_output=True, text=True)
    return out.stdout.strip().lower().splitlines()


def parse(out):
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
    sent = int(re.search(r"Queries sent:\s+(\d+)", out).group(1))
    lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
    codes = re.search(r"Response codes:\s+(.*)", out)
    return qps, sent, lost, codes.group(1) if codes else ""


def dnsperf(port, names_file):
    out = subprocess.run(DNSPERF + ["-s", "127.0.0.1", "-p", str(port), "-d", names_file, "-l", str(SECONDS)],
                         capture_output=True, text=True, check=True, timeout=SECONDS + 60).stdout
    return parse(out)


def burst(port, names_file, passes):
    out = subprocess.run(BURST_FLAGS + ["-s", "127.0.0.1", "-p", str(port), "-d", names_file, "-n", str(passes),
                                        "-l", str(BURST_LIMIT)],
                         capture_output=True, text=True, check=True, timeout=BURST_LIMIT + 60).stdout
    return parse(out)


def up(binary, state, scenario=None):
    """`memsim up` (with a scenario), ready; its process and world.json."""
    cmd = [binary, "up", "--state-dir", state] + (["--scenario", scenario] if scenario else [])
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    json.loads(p.stdout.readline())
    with open(f"{state}/world.json") as f:
        return p, json.load(f)


def port_of(world):
    return int(world["dns_addr"].rsplit(":", 1)[1])


def median(rs):
    return statistics.median(r[0] for r in rs) if rs else float("nan")


def main():
    tmp = tempfile.mkdtemp(prefix="dns-bench-")
    load_before = os.getloadavg()
    binaries = [("memsim", MEMSIM)] + ([("base", BASE)] if BASE else [])
    procs = []
    try:
        servers = {}  # (who, part) -> port
        world = None
        for who, binary in binaries:
            p, w = up(binary, f"{tmp}/{who}-healthy")
            procs.append(p)
            servers[(who, "healthy")] = port_of(w)
            world = world or w
            if FAULTED:
                p, wf = up(binary, f"{tmp}/{who}-faulted", FAULTED)
                procs.append(p)
                servers[(who, "faulted")] = port_of(wf)
        questions = world_names(world)
        names = f"{tmp}/names.txt"
        with open(names, "w") as f:
            f.writelines(f"{n} {q}\n" for n, q in questions)
        dm_port = free_port()
        dnsmasq_conf(world, dm_port, f"{tmp}/dnsmasq.conf")
        procs.append(subprocess.Popen(["dnsmasq", "-k", f"--conf-file={tmp}/dnsmasq.conf", "--pid-file="],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for _ in range(100):  # dnsmasq has no readiness line: poll with a real question, bounded
            if dig_short(dm_port, "EnterpriseEnrollment.contoso.com", "A"):
                break
            time.sleep(0.05)
        # Same answers before any timing (the last line of a chain is the address); in the
        # faulted world the names its faults hit may differ: counted, not asserted.
        differ = {}
        for (who, part), port in servers.items():
            differ[(who, part)] = 0
            for n, q in questions:
                a, b = dig_short(port, n, q), dig_short(dm_port, n, q)
                if part == "healthy":
                    assert a and b and a[-1] == b[-1], f"{who} {n} {q}: memsim {a} dnsmasq {b}"
                elif not (a and b and a[-1] == b[-1]):
                    differ[(who, part)] += 1
        results = {}
        parts = ["healthy"] + (["faulted"] if FAULTED else [])
        for _ in range(RUNS):
            for part in parts:
                for who, _b in binaries:
                    results.setdefault((who, part), []).append(dnsperf(servers[(who, part)], names))
                results.setdefault(("dnsmasq", part), []).append(dnsperf(dm_port, names))
        bursts = {}
        passes = max(1, BURST // len(questions)) if BURST else 0
        if passes:
            for who, _b in binaries:
                bursts[who] = burst(servers[(who, "healthy")], names, passes)
            bursts["dnsmasq"] = burst(dm_port, names, passes)
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()
    version = subprocess.run(["dnsmasq", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"names {len(questions)}; {RUNS} interleaved runs of {SECONDS} s; load: {' '.join(DNSPERF)}")
    print(f"peer: {version}; memsim: {MEMSIM}" + (f"; base: {BASE}" if BASE else ""))
    print(f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    for (who, part), rs in results.items():
        for qps, sent, lost, codes in rs:
            print(f"  {part:8} {who:8} {qps:10.0f} qps  sent {sent:8}  lost {lost}  {codes}")
    for who, (qps, sent, lost, codes) in bursts.items():
        print(f"  burst    {who:8} {qps:10.0f} qps  sent {sent:8}  lost {lost}  {codes}")
    d = median(results[("dnsmasq", "healthy")])
    m = median(results[("memsim", "healthy")])
    lost = sum(r[2] for r in results[("memsim", "healthy")])
    out = {"bench": "dns-vs-dnsmasq", "ratio": round(m / d, 3), "goal": GOAL, "memsim_qps": round(m), "dnsmasq_qps": round(d),
           "lost": lost, "runs": RUNS, "seconds": SECONDS, "names": len(questions),
           "load_avg": [round(load_before[0], 2), round(load_after[0], 2)]}
    if BASE:
        b = median(results[("base", "healthy")])
        out |= {"base_qps": round(b), "base_ratio": round(b / d, 3)}
        print(f"ratio base   / dnsmasq  {b / d:.2f}x   (A/B: the same rounds)")
    print(f"memsim median   {m:10.0f} qps (lost {lost} in all runs); dnsmasq median {d:10.0f} qps")
    if FAULTED:
        fd = median(results[("dnsmasq", "faulted")])
        fm = median(results[("memsim", "faulted")])
        flost = sum(r[2] for r in results[("memsim", "faulted")])
        out |= {"faulted_scenario": FAULTED, "faulted_ratio": round(fm / fd, 3), "faulted_goal": GOAL_FAULTED,
                "faulted_qps": round(fm), "faulted_lost": flost, "faulted_names_differing": differ[("memsim", "faulted")]}
        if BASE:
            fb = median(results[("base", "faulted")])
            out |= {"faulted_base_ratio": round(fb / fd, 3)}
            print(f"ratio base   / dnsmasq with DNS faults ({FAULTED})  {fb / fd:.2f}x")
        print(f"ratio memsim / dnsmasq with DNS faults ({FAULTED}; {differ[('memsim', 'faulted')]} names answered "
              f"otherwise, as the faults say)  {fm / fd:.2f}x   (goal >= {GOAL_FAULTED}x, lost {flost})")
    if bursts:
        out |= {"burst_queries": bursts["memsim"][1], "burst_lost": bursts["memsim"][2], "burst_goal_lost": 0,
                "burst_dnsmasq_lost": bursts["dnsmasq"][2]}
        if BASE:
            out |= {"burst_base_lost": bursts["base"][2]}
            print(f"burst base   lost {bursts['base'][2]} of {bursts['base'][1]}")
        print(f"burst memsim lost {bursts['memsim'][2]} of {bursts['memsim'][1]} (goal 0; dnsmasq lost "
              f"{bursts['dnsmasq'][2]} of {bursts['dnsmasq'][1]})")
    print(f"ratio memsim / dnsmasq  {m / d:.2f}x   (goal >= {GOAL}x, zero lost)")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
