#!/usr/bin/env python3
"""The world's DNS (`memsim up`, journaling every query) against dnsmasq serving the same
names, both driven by the same load tool (dnsperf) in one run, runs interleaved.
Goal: memsim's queries per second at least 1.0x dnsmasq's, and zero lost queries.

The names: every emulated host of the world (a name below each wildcard), the tenant CNAMEs
of seed 003 for every domain, the CMG CNAME (A questions), and the management point SRV
record. dnsmasq gets them from the same world.json: host-record / address (wildcards) /
cname / srv-host lines, no upstream (no-resolv), loopback only.

Usage: bench/dns-vs-dnsmasq.py [RUNS] [SECONDS]
Needs: a release build (cargo build --release -p harness), dnsperf and dnsmasq
(apt-get install -y dnsperf dnsmasq-base). Every query goes to 127.0.0.1 only.
"""
import json, os, re, shutil, socket, statistics, subprocess, sys, tempfile, time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
SECONDS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMSIM = os.environ.get("MEMSIM_BIN", os.path.join(ROOT, "target", "release", "memsim"))
# Same load for both: one dnsperf thread, 4 clients (sockets), 100 queries in flight.
DNSPERF = ["dnsperf", "-T", "1", "-c", "4", "-q", "100", "-t", "2"]


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


def dnsperf(port, names_file):
    out = subprocess.run(DNSPERF + ["-s", "127.0.0.1", "-p", str(port), "-d", names_file, "-l", str(SECONDS)],
                         capture_output=True, text=True, check=True).stdout
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
    sent = int(re.search(r"Queries sent:\s+(\d+)", out).group(1))
    lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
    codes = re.search(r"Response codes:\s+(.*)", out).group(1)
    return qps, sent, lost, codes


def main():
    tmp = tempfile.mkdtemp(prefix="dns-bench-")
    memsim = subprocess.Popen([MEMSIM, "up", "--state-dir", f"{tmp}/world"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    json.loads(memsim.stdout.readline())
    world = json.load(open(f"{tmp}/world/world.json"))
    memsim_port = int(world["dns_addr"].rsplit(":", 1)[1])
    questions = world_names(world)
    with open(f"{tmp}/names.txt", "w") as f:
        f.writelines(f"{n} {q}\n" for n, q in questions)
    dm_port = free_port()
    dnsmasq_conf(world, dm_port, f"{tmp}/dnsmasq.conf")
    dnsmasq = subprocess.Popen(["dnsmasq", "-k", f"--conf-file={tmp}/dnsmasq.conf", "--pid-file="],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):  # dnsmasq has no readiness line: poll with a real question, bounded
            if dig_short(dm_port, "EnterpriseEnrollment.contoso.com", "A"):
                break
            time.sleep(0.05)
        # Same answers before any timing (the last line of a chain is the address).
        for n, q in questions:
            a, b = dig_short(memsim_port, n, q), dig_short(dm_port, n, q)
            assert a and b and a[-1] == b[-1], f"{n} {q}: memsim {a} dnsmasq {b}"
        results = {"memsim": [], "dnsmasq": []}
        for _ in range(RUNS):
            results["memsim"].append(dnsperf(memsim_port, f"{tmp}/names.txt"))
            results["dnsmasq"].append(dnsperf(dm_port, f"{tmp}/names.txt"))
    finally:
        memsim.terminate(); memsim.wait()
        dnsmasq.terminate(); dnsmasq.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    version = subprocess.run(["dnsmasq", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(f"names {len(questions)}; {RUNS} interleaved runs of {SECONDS} s; load: {' '.join(DNSPERF)}")
    print(f"peer: {version}")
    for who, rs in results.items():
        for qps, sent, lost, codes in rs:
            print(f"  {who:8} {qps:10.0f} qps  sent {sent:8}  lost {lost}  {codes}")
    m = statistics.median(r[0] for r in results["memsim"])
    d = statistics.median(r[0] for r in results["dnsmasq"])
    lost = sum(r[2] for r in results["memsim"])
    print(f"memsim median   {m:10.0f} qps (lost {lost} in all runs)")
    print(f"dnsmasq median  {d:10.0f} qps (lost {sum(r[2] for r in results['dnsmasq'])})")
    print(f"ratio memsim / dnsmasq  {m / d:.2f}x   (goal >= 1.0x, zero lost)")


if __name__ == "__main__":
    main()
