#!/usr/bin/env python3
"""The journal under load (issue 11, defect 5): memory, SIGTERM and SIGKILL of a `memsim up`
world after a million DNS queries and a million HTTP requests, every one journaled.

Goals: RSS <= 64 MB after the load; SIGTERM to exit <= 1 s in every case (after the load, and
in the middle of it); after SIGKILL, journal.jsonl holds every event up to the last 100 ms.

Phases, each on a fresh world:
  1. load: DNS_QUERIES UDP queries (dnsperf) then HTTP_REQUESTS keep-alive requests to the HTTP
     front (h2load --h1); RSS (VmRSS, and the peak VmHWM) before and after; then SIGTERM, timed.
  2. SIGTERM while dnsperf is still sending, timed.
  3. SIGKILL: a client asks q<N>.<tenant domain> one at a time and notes when each answer came;
     the world is killed -9; every query answered more than 100 ms before the kill must be in
     the journal file. Reported: answered, in the file, lost (the goal: 0 lost).

Usage: bench/journal-load.py [DNS_QUERIES] [HTTP_REQUESTS]    (default 1000000 each)
Needs: a release build (cargo build --release -p harness), dnsperf and h2load
(apt-get install -y dnsperf nghttp2-client). Every packet goes to 127.0.0.1 only; every load
is bounded in count and in time (dnsperf -l, h2load -D is not used: -n bounds it, and the
whole run is killed after LIMIT seconds).
"""
import json, os, signal, socket, struct, subprocess, sys, tempfile, threading, time

DNS_QUERIES = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
HTTP_REQUESTS = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMSIM = os.environ.get("MEMSIM_BIN", os.path.join(ROOT, "target", "release", "memsim"))
LIMIT = 600  # seconds any one load may take


def up(state):
    p = subprocess.Popen([MEMSIM, "up", "--state-dir", state], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ready = json.loads(p.stdout.readline())
    assert ready["event"] == "ready", ready
    return p, ready


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) / 1024
    return out


def stop(p, sig=signal.SIGTERM):
    t0 = time.monotonic()
    p.send_signal(sig)
    code = p.wait(timeout=60)
    return time.monotonic() - t0, code


def journal_lines(state):
    files = sorted((f for f in os.listdir(state) if f.startswith("journal") and f.endswith(".jsonl")), key=lambda f: -int(f.split(".")[1]) if f.count(".") == 2 else 0)
    total, sizes = 0, {}
    for f in files:
        with open(os.path.join(state, f), "rb") as fh:
            data = fh.read()
        sizes[f] = len(data)
        total += data.count(b"\n")
    return total, sizes


def dns_names(world):
    names = [h.replace("*.", "bench.") for h in world["hosts"]]
    names += [f"EnterpriseEnrollment.{d}" for d in world["tenant"]["domains"]]
    return names


def dnsperf(world, queries, state):
    names = dns_names(world)
    path = os.path.join(state, "..", "dnsperf.txt")
    with open(path, "w") as f:
        f.write("".join(f"{n} A\n" for n in names))
    host, port = world["dns_addr"].rsplit(":", 1)
    rounds = max(1, queries // len(names))
    cmd = ["dnsperf", "-s", host, "-p", port, "-d", path, "-n", str(rounds), "-c", "4", "-q", "200", "-T", "1", "-l", str(LIMIT)]
    return cmd, rounds * len(names)


def run_dnsperf(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=LIMIT + 30).stdout
    got = {}
    for line in out.splitlines():
        line = line.strip()
        for key in ("Queries sent:", "Queries completed:", "Queries lost:", "Queries per second:"):
            if line.startswith(key):
                got[key.rstrip(":")] = line[len(key):].split()[0]
    return got


def h2load(world, requests):
    url = f"http://{world['http_addr']}/EnrollmentServer/Discovery.svc"
    # The front dispatches by Host; h2load's Host is the :authority it is given (a second
    # `host:` header would make the request invalid).
    cmd = ["h2load", "--h1", "-n", str(requests), "-c", "8", "-t", "1", "-H", ":authority: enterpriseenrollment-s.manage.microsoft.com", url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=LIMIT + 30).stdout
    summary = [l.strip() for l in out.splitlines() if l.strip().startswith(("finished in", "requests:", "status codes:"))]
    return summary


def phase_load(tmp):
    state = os.path.join(tmp, "load")
    p, world = up(state)
    before = status(p.pid)
    t0 = time.monotonic()
    cmd, n = dnsperf(world, DNS_QUERIES, state)
    dns = run_dnsperf(cmd)
    t_dns = time.monotonic() - t0
    after_dns = status(p.pid)
    t0 = time.monotonic()
    http = h2load(world, HTTP_REQUESTS)
    t_http = time.monotonic() - t0
    after = status(p.pid)
    took, code = stop(p)
    lines, sizes = journal_lines(state)
    print(f"load: {n} DNS queries in {t_dns:.1f}s: {dns}")
    print(f"load: {HTTP_REQUESTS} HTTP requests in {t_http:.1f}s: {' | '.join(http)}")
    print(f"RSS MB: ready {before['VmRSS']:.1f}; after DNS {after_dns['VmRSS']:.1f}; after HTTP {after['VmRSS']:.1f}; peak (VmHWM) {after['VmHWM']:.1f}")
    print(f"SIGTERM after the load: exit {code} in {took * 1000:.0f} ms")
    print(f"journal files: {sizes} ({lines} lines kept on disk; the cap is 64 MiB x 5 files)")
    return after["VmRSS"], took


def phase_term_under_load(tmp):
    state = os.path.join(tmp, "term")
    p, world = up(state)
    cmd, _ = dnsperf(world, DNS_QUERIES, state)
    load = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Let the load build up (dnsperf needs a moment to start sending), then stop the world under it.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and journal_lines(state)[0] < 50_000:
        time.sleep(0.05)
    took, code = stop(p)
    load.kill()
    load.wait()
    print(f"SIGTERM under load ({journal_lines(state)[0]} events journaled): exit {code} in {took * 1000:.0f} ms")
    return took


def query(i, domain):
    q = struct.pack(">HHHHHH", i & 0xFFFF, 0x0100, 1, 0, 0, 0)
    for label in (f"q{i}." + domain).split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00\x00\x01\x00\x01"


def phase_kill(tmp):
    state = os.path.join(tmp, "kill")
    p, world = up(state)
    domain = world["tenant"]["domains"][0]
    host, port = world["dns_addr"].rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    answered = []  # (i, monotonic time of the answer)
    stop_at = time.monotonic() + 3
    i = 0
    killed_at = None
    while time.monotonic() < stop_at + 1:
        s.sendto(query(i, domain), (host, int(port)))
        try:
            s.recv(512)
        except socket.timeout:
            break
        answered.append((i, time.monotonic()))
        i += 1
        if killed_at is None and time.monotonic() >= stop_at:
            killed_at = time.monotonic()
            p.send_signal(signal.SIGKILL)
            break
    p.wait()
    journaled = set()
    for f in os.listdir(state):
        if f.startswith("journal") and f.endswith(".jsonl"):
            with open(os.path.join(state, f)) as fh:
                for line in fh:
                    e = json.loads(line)
                    h = e.get("host", "")
                    if e["component"] == "dns" and h.startswith("q") and h.endswith(domain.lower()):
                        journaled.add(int(h.split(".")[0][1:]))
    due = [n for n, t in answered if t <= killed_at - 0.100]
    lost = [n for n in due if n not in journaled]
    late = len(answered) - len(due)
    print(f"SIGKILL: {len(answered)} queries answered; {len(due)} more than 100 ms before the kill, of which {len(lost)} missing from the file; "
          f"{len(journaled)} in the file ({late} answered in the last 100 ms)")
    return len(lost)


def main():
    with tempfile.TemporaryDirectory(prefix="memsim-journal-load-") as tmp:
        rss, term_after = phase_load(tmp)
        term_under = phase_term_under_load(tmp)
        lost = phase_kill(tmp)
    ok = rss <= 64 and term_after <= 1 and term_under <= 1 and lost == 0
    print(f"goals: RSS {rss:.1f} MB <= 64; SIGTERM {term_after * 1000:.0f} / {term_under * 1000:.0f} ms <= 1000; lost after SIGKILL {lost} == 0: "
          f"{'held' if ok else 'BROKE'}")
    print(json.dumps({"bench": "journal-load", "held": ok, "rss_mb": round(rss, 1), "rss_goal_mb": 64,
                      "sigterm_after_ms": round(term_after * 1000), "sigterm_under_ms": round(term_under * 1000),
                      "sigterm_goal_ms": 1000, "lost_after_sigkill": lost}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
