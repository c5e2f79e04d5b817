#!/usr/bin/env python3
"""memsim's reliability suite (issue 11): memsim tried as a hostile user and a heavy CI user
would, each check printing `held` or `broke` with its figures.

Checks (bounded in count and time; every packet to 127.0.0.1, except the sinkhole check, which
runs memsim inside a network namespace this script makes and removes, with a veth pair of its
own as the only other place a packet could go):

  fuzz          mutated and random input to every listener: HTTPS ClientHello, HTTP front heads,
                proxy heads, DNS over UDP and TCP, OCSP requests, the control endpoint's JSON;
                the world must keep answering and journal no panic
  slowloris     connections that send a head one byte a second to the HTTP and HTTPS fronts,
                the proxy and the control endpoint: each must be cut by the header timeout
  long-polls    10,000 held notification long-polls at once: every one held, the world still
                answering, memory bounded, every poll released when its client goes
  dns-1m        1,000,000 DNS queries (dnsperf): lost queries, queries per second
  http-1m       1,000,000 HTTP requests (h2load, HTTP/1.1, keep-alive) to the HTTP front
  rss           resident memory after dns-1m and http-1m in the same world (goal <= 64 MB)
  sigterm       SIGTERM while h2load is loading the world, after the 2M-request load: exit time
                (goal <= 1 s) and a complete journal.jsonl
  sigkill       SIGKILL under DNS load: journal.jsonl must hold every query answered more than
                100 ms before the kill; `memsim up` on the same state dir then starts (stale lock)
  two-ups       a second `memsim up` on a state dir in use: exit 2 naming the holder's pid,
                and the first world's files untouched
  proxy-leak    2,000 keep-alive clients (two waves under the proxy's connection cap) send one
                absolute-form request through the proxy, idle past its 10 s keep-alive limit,
                then close: no CLOSE-WAIT left, a close event each, and a cap's worth served after
  sinkhole      in a network namespace: the proxy asked for addresses and names outside the
                world (absolute-form, CONNECT, Host tricks) sends nothing off loopback

Usage: bench/reliability.py [CHECK…]          (default: every check; ~6 minutes on 2 cores)
       RELIABILITY_SCALE=0.05 bench/reliability.py   (a quick smoke run with smaller counts)
Needs: a release build (cargo build --release -p harness); dnsperf, h2load, tcpdump, iproute2
(apt-get install -y dnsperf nghttp2-client tcpdump iproute2 curl); root for `sinkhole`.
"""
import json, os, random, re, resource, selectors, shutil, signal, socket, ssl, struct, subprocess, sys, tempfile, threading, time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMSIM = os.environ.get("MEMSIM_BIN", os.path.join(ROOT, "target", "release", "memsim"))
SCALE = float(os.environ.get("RELIABILITY_SCALE", "1"))
RNG = random.Random(int(os.environ.get("RELIABILITY_SEED", "11")))
CRL = ("crl3.digicert.com", "/DigiCertGlobalRootG2.crl")
GATEWAY = "gateway.configmgr.manage.microsoft.com"


def scaled(n):
    return max(1, int(n * SCALE))


def addr(s):
    host, port = s.rsplit(":", 1)
    return host, int(port)


class World:
    """A `memsim up` process, its ready line and world.json; stopped by `stop`."""

    def __init__(self, state=None, args=(), netns=None):
        self.dir = state or tempfile.mkdtemp(prefix="memsim-rel-")
        self.own_dir = state is None
        self.stderr_path = os.path.join(tempfile.gettempdir(), f"memsim-rel-{os.getpid()}-{RNG.randrange(1 << 30)}.err")
        self.stderr = open(self.stderr_path, "w+")
        cmd = [MEMSIM, "up", "--state-dir", self.dir, *args]
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        self.p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        line = read_line(self.p.stdout, 60)
        if not line:
            self.p.wait(10)
            self.stderr.seek(0)
            raise RuntimeError(f"memsim up gave no ready line (exit {self.p.returncode}): {self.stderr.read()[-400:]}")
        self.ready = json.loads(line)
        with open(self.ready["world"]) as f:
            self.world = json.load(f)
        self.http = addr(self.world["http_addr"])
        self.https = addr(self.world["https_addr"])
        self.dns = addr(self.world["dns_addr"])
        self.proxy = addr(self.world["proxy_url"].removeprefix("http://"))

    def control(self):
        with open(os.path.join(self.dir, "control.json")) as f:
            c = json.load(f)
        with open(os.path.join(self.dir, "control.token")) as f:
            token = f.read().strip()
        a = c.get("addr") or c.get("address") or c.get("url", "").removeprefix("http://")
        return addr(a), token

    def rss_mb(self):
        with open(f"/proc/{self.p.pid}/status") as f:
            kb = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        return kb / 1024

    def alive(self):
        return self.p.poll() is None

    def panicked(self):
        self.stderr.flush()
        with open(self.stderr_path) as f:
            err = f.read()
        return "panicked" in err or any(e.get("what") == "panic" for e in self.journal())

    def journal(self):
        """Every event journal.jsonl (and its rotations) holds so far."""
        events = []
        # Oldest first: journal.<keep>.jsonl … journal.1.jsonl, then journal.jsonl.
        rotated = sorted((n for n in os.listdir(self.dir) if re.fullmatch(r"journal\.\d+\.jsonl", n)), key=lambda n: -int(n.split(".")[1]))
        for name in rotated + ["journal.jsonl"]:
            if os.path.exists(os.path.join(self.dir, name)):
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    for line in f:
                        try:
                            events.append(json.loads(line))
                        except ValueError:
                            pass  # a line cut by SIGKILL
        return events

    def count_until(self, matches, n, seconds):
        """How many journaled events match, once `n` do or `seconds` have passed (the journal
        file is written as events happen; this polls it, bounded)."""
        deadline = time.monotonic() + seconds
        while True:
            count = sum(1 for e in self.journal() if matches(e))
            if count >= n or time.monotonic() >= deadline:
                return count
            time.sleep(0.3)

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signal the world; seconds until it exited."""
        if not self.alive():
            return 0.0
        t = time.monotonic()
        self.p.send_signal(sig)
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return float("inf")
        return time.monotonic() - t

    def close(self):
        self.stop(signal.SIGKILL)
        self.stderr.close()
        os.unlink(self.stderr_path)
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def read_line(stream, seconds):
    sel = selectors.DefaultSelector()
    sel.register(stream, selectors.EVENT_READ)
    if not sel.select(seconds):
        return ""
    return stream.readline()


def http_status(target, host, path, proxy=False, timeout=5):
    """One HTTP/1.1 request on a new connection; the status code, or None."""
    line = f"GET http://{host}{path} HTTP/1.1" if proxy else f"GET {path} HTTP/1.1"
    try:
        with socket.create_connection(target, timeout=timeout) as s:
            s.sendall(f"{line}\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            head = s.recv(64)
        m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        return int(m.group(1)) if m else None
    except OSError:
        return None


def dns_query(name, qtype=1, qid=None):
    qid = RNG.randrange(65536) if qid is None else qid
    q = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    return struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", qtype, 1)


def dns_answers(target, name="crl3.digicert.com"):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.settimeout(3)
        u.sendto(dns_query(name, qid=4242), target)
        try:
            return u.recvfrom(4096)[0][:2] == b"\x10\x92"
        except OSError:
            return False


def healthy(w):
    return http_status(w.http, *CRL) == 200 and dns_answers(w.dns) and http_status(w.proxy, *CRL, proxy=True) == 200


# ---------------------------------------------------------------- fuzz


def mutate(base):
    b = bytearray(base)
    for _ in range(RNG.randint(1, 8)):
        op = RNG.random()
        i = RNG.randrange(len(b) + 1)
        if op < 0.4 and b:
            b[min(i, len(b) - 1)] = RNG.randrange(256)
        elif op < 0.6:
            b[i:i] = bytes(RNG.randrange(256) for _ in range(RNG.randint(1, 16)))
        elif op < 0.75:
            del b[i : i + RNG.randint(1, 16)]
        elif op < 0.85:
            b[i:i] = RNG.choice([b"\r\n", b":", b" ", b"\0", b"%", b"\xff" * 64, b"9" * 30, b"A" * 9000])
        else:
            b = b[:i]
    return bytes(b)


def client_hello(host):
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=host)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def poke(target, payload, udp=False):
    """Send one case; read what comes back for a moment. Returns nothing: the server's health
    afterwards is the verdict."""
    try:
        if udp:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.settimeout(0.05)
                u.sendto(payload[:65000], target)
                try:
                    u.recv(65535)
                except OSError:
                    pass
            return
        with socket.create_connection(target, timeout=0.5) as s:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
    except OSError:
        pass


def check_fuzz():
    w = World()
    try:
        (ctl, token) = w.control()
        per = scaled(3000)
        hello = client_hello("enterpriseenrollment-s.manage.microsoft.com")
        http_head = f"GET {CRL[1]} HTTP/1.1\r\nHost: {CRL[0]}\r\nRange: bytes=0-10\r\n\r\n".encode()
        proxy_heads = [
            f"GET http://{CRL[0]}{CRL[1]} HTTP/1.1\r\nHost: {CRL[0]}\r\nProxy-Authorization: Basic dTpw\r\n\r\n".encode(),
            b"CONNECT enterpriseenrollment-s.manage.microsoft.com:443 HTTP/1.1\r\nHost: enterpriseenrollment-s.manage.microsoft.com:443\r\n\r\n",
            b"POST http://crl3.digicert.com/x HTTP/1.1\r\nHost: crl3.digicert.com\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        ]
        ocsp = lambda body: f"POST / HTTP/1.1\r\nHost: ocsp.digicert.com\r\nContent-Type: application/ocsp-request\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        control = lambda body: f"POST /v1/revoke HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body
        query = dns_query("enterpriseenrollment.contoso.com")
        jsons = [b'{"target":"enterpriseenrollment-s.manage.microsoft.com"}', b'{"target":"crl3.digicert.com","reason":"key_compromise"}']
        cases = {
            "https ClientHello": lambda: (w.https, mutate(hello) if RNG.random() < 0.9 else os.urandom(RNG.randint(1, 600)), False),
            "http front head": lambda: (w.http, mutate(http_head), False),
            "proxy head": lambda: (w.proxy, mutate(RNG.choice(proxy_heads)), False),
            "dns udp": lambda: (w.dns, mutate(query) if RNG.random() < 0.8 else os.urandom(RNG.randint(0, 600)), True),
            "dns tcp": lambda: (w.dns, (lambda q: struct.pack(">H", len(q) if RNG.random() < 0.8 else RNG.randrange(65536)) + q)(mutate(query)), False),
            "ocsp request": lambda: (w.http, ocsp(mutate(b"\x30\x42\x30\x40\xa0\x03\x02\x01\x00\x30\x39" + os.urandom(60))), False),
            "control json": lambda: (ctl, control(mutate(RNG.choice(jsons))), False),
        }
        total = 0
        with ThreadPoolExecutor(64) as pool:
            for name, make in cases.items():
                list(pool.map(lambda _: poke(*make()), range(per)))
                total += per
        ok = w.alive() and healthy(w) and not w.panicked()
        return ok, f"{total} cases over {len(cases)} listeners ({per} each); alive={w.alive()} healthy={ok} panics={w.panicked()}"
    finally:
        w.close()


# ---------------------------------------------------------------- slowloris


def check_slowloris():
    w = World()
    try:
        (ctl, _) = w.control()
        per = scaled(50)
        hello = client_hello("enterpriseenrollment-s.manage.microsoft.com")
        targets = {
            "http": (w.http, f"GET / HTTP/1.1\r\nHost: {CRL[0]}\r\nX-a: " .encode() + b"b" * 4000),
            "https": (w.https, hello),
            "proxy": (w.proxy, b"GET http://crl3.digicert.com/ HTTP/1.1\r\nX-a: " + b"b" * 4000),
            "control": (ctl, b"GET /v1/certificates HTTP/1.1\r\nX-a: " + b"b" * 4000),
        }
        sel = selectors.DefaultSelector()
        conns = []
        for name, (target, payload) in targets.items():
            for _ in range(per):
                s = socket.create_connection(target)
                s.setblocking(False)
                conns.append({"s": s, "name": name, "payload": payload, "sent": 0, "cut": None})
                sel.register(s, selectors.EVENT_READ, conns[-1])
        start = time.monotonic()
        deadline = start + 30
        while time.monotonic() < deadline and any(c["cut"] is None for c in conns):
            for c in conns:
                if c["cut"] is None and c["sent"] < len(c["payload"]):
                    try:
                        c["s"].send(c["payload"][c["sent"] : c["sent"] + 1])
                        c["sent"] += 1
                    except OSError:
                        c["cut"] = time.monotonic() - start
            for key, _ in sel.select(1.0):
                c = key.data
                try:
                    data = c["s"].recv(4096)
                except OSError:
                    data = b""
                if not data and c["cut"] is None:
                    c["cut"] = time.monotonic() - start
                    sel.unregister(c["s"])
        figures = []
        ok = True
        for name in targets:
            cuts = [c["cut"] for c in conns if c["name"] == name]
            held = [x for x in cuts if x is None]
            worst = max((x for x in cuts if x is not None), default=float("nan"))
            figures.append(f"{name}: {len(cuts) - len(held)}/{len(cuts)} cut, last at {worst:.1f} s")
            ok &= not held and worst <= 20
        for c in conns:
            c["s"].close()
        ok &= w.alive() and healthy(w)
        return ok, "; ".join(figures)
    finally:
        w.close()


# ---------------------------------------------------------------- long polls


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def check_long_polls():
    n = scaled(10_000)
    if raise_nofile() < n + 200:
        return False, f"this process cannot open {n} sockets (RLIMIT_NOFILE hard limit)"
    w = World()
    socks = []
    try:
        tenant = w.world["tenant"]["id"]
        req = f"GET /api/gateway/Notification?TenantId={tenant} HTTP/1.1\r\nHost: {GATEWAY}\r\n\r\n".encode()
        t = time.monotonic()
        for _ in range(n):
            s = socket.create_connection(w.http)
            s.sendall(req)
            socks.append(s)
        opened = time.monotonic() - t
        # Every poll is held: the journal says so, and none has been answered yet.
        started = w.count_until(lambda e: e.get("what") == "poll_started", n, 60)
        sel = selectors.DefaultSelector()
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ)
        answered = len(sel.select(0.5))
        sel.close()
        rss = w.rss_mb()
        still = healthy(w)
        for s in socks:
            s.close()
        socks = []
        abandoned = w.count_until(lambda e: e.get("what") == "poll_abandoned", n, 60)
        ok = started >= n and answered == 0 and still and abandoned >= n and w.alive()
        return ok, f"{n} polls opened in {opened:.1f} s; held {started}, answered early {answered}; world answering while held: {still}; RSS {rss:.0f} MB; released {abandoned}"
    finally:
        for s in socks:
            s.close()
        w.close()


# ---------------------------------------------------------------- 2M requests, rss, sigterm

LOADED = {}


def loaded_world():
    if "w" not in LOADED:
        LOADED["w"] = World()
    return LOADED["w"]


def check_dns_1m():
    w = loaded_world()
    n = scaled(1_000_000)
    names = [h.replace("*.", "rel.") for h in w.world["hosts"]] + [f"EnterpriseEnrollment.{d}" for d in w.world["tenant"]["domains"]]
    with tempfile.NamedTemporaryFile("w", suffix=".names", delete=False) as f:
        lines = [f"{RNG.choice(names)} A" for _ in range(min(n, 10_000))]
        f.write("\n".join(lines) + "\n")
    try:
        runs = max(1, n // len(lines))
        out = subprocess.run(["dnsperf", "-s", w.dns[0], "-p", str(w.dns[1]), "-d", f.name, "-n", str(runs), "-c", "4", "-q", "100", "-t", "2", "-l", "300"],
                             capture_output=True, text=True, timeout=400).stdout
    finally:
        os.unlink(f.name)
    sent = int(re.search(r"Queries sent:\s+(\d+)", out).group(1))
    lost = int(re.search(r"Queries lost:\s+(\d+)", out).group(1))
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1))
    return lost == 0 and sent >= n and w.alive(), f"{sent} queries, {lost} lost, {qps:.0f} qps"


def h2load(w, n, clients=32, seconds=None):
    cmd = ["h2load", "--h1", "-c", str(clients), "-t", "2", "-H", f":authority: {CRL[0]}"]
    cmd += ["-D", str(seconds)] if seconds else ["-n", str(n)]
    return subprocess.Popen(cmd + [f"http://{w.http[0]}:{w.http[1]}{CRL[1]}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def check_http_1m():
    w = loaded_world()
    n = scaled(1_000_000)
    out = h2load(w, n).communicate(timeout=400)[0]
    m = re.search(r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    rps = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    status = re.search(r"status codes: (\d+) 2xx", out)
    if not m:
        return False, "h2load: " + out[-300:]
    ok2xx = int(status.group(1)) if status else 0
    return ok2xx >= n and w.alive(), f"{m.group(2)} done, {ok2xx} 2xx, {m.group(4)} failed, {float(rps.group(1)):.0f} req/s"


def check_rss():
    w = loaded_world()
    rss = w.rss_mb()
    return rss <= 64, f"{rss:.1f} MB resident after the DNS and HTTP loads (goal <= 64 MB)"


def check_sigterm():
    w = loaded_world()
    load = h2load(w, 0, clients=16, seconds=5)
    time.sleep(1.0)  # let the load reach full speed: the point is a signal *under* load
    took = w.stop(signal.SIGTERM)
    load.kill()
    load.wait()
    events = w.journal()
    seqs = sorted(e["seq"] for e in events if "seq" in e)
    # The files on disk hold one unbroken run of events ending with the last one recorded; past
    # the rotation cap (320 MiB) the oldest files, with the world's `ready`, are gone by design.
    unbroken = bool(seqs) and seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    capped = os.path.exists(os.path.join(w.dir, "journal.4.jsonl"))
    ready = any(e.get("what") == "ready" for e in events)
    LOADED.pop("w").close()
    ok = took <= 1.0 and unbroken and (ready or capped)
    return ok, f"exit {took * 1000:.0f} ms after SIGTERM under load (goal <= 1 s); journal files: {len(events)} events, seq {seqs[0] if seqs else '-'}..{seqs[-1] if seqs else '-'} unbroken: {unbroken}; rotation cap reached: {capped}; ready kept: {ready}"


# ---------------------------------------------------------------- sigkill, two ups


def check_sigkill():
    state = tempfile.mkdtemp(prefix="memsim-rel-")
    try:
        w = World(state)
        answered = []  # (monotonic time, index)
        stop = threading.Event()

        def load():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.settimeout(1)
                i = 0
                while not stop.is_set():
                    u.sendto(dns_query(f"q{i}.contoso.com", qid=i & 0xFFFF), w.dns)
                    try:
                        u.recv(4096)
                        answered.append((time.monotonic(), i))
                    except OSError:
                        pass
                    i += 1

        t = threading.Thread(target=load)
        t.start()
        time.sleep(3)  # a few seconds of load: the kill must land mid-stream
        killed_at = time.monotonic()
        w.p.send_signal(signal.SIGKILL)
        w.p.wait()
        stop.set()
        t.join()
        must = {i for (at, i) in answered if at < killed_at - 0.1}
        seen = {int(m.group(1)) for e in w.journal() if e.get("component") == "dns" for m in [re.match(r"q(\d+)\.contoso\.com", e.get("host") or "")] if m}
        missing = len(must - seen)
        w.stderr.close()
        os.unlink(w.stderr_path)
        again = World(state)
        restarted = again.alive() and healthy(again)
        again.close()
        return missing == 0 and restarted, f"{len(answered)} queries answered before SIGKILL; {len(must)} answered > 100 ms before it, {missing} of them missing from journal.jsonl; restart on the same state dir: {'ok' if restarted else 'failed'}"
    finally:
        shutil.rmtree(state, ignore_errors=True)


def check_two_ups():
    w = World()
    try:
        before = {n: os.path.getmtime(os.path.join(w.dir, n)) for n in os.listdir(w.dir)}
        second = subprocess.Popen([MEMSIM, "up", "--state-dir", w.dir], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            second.stderr_text = second.communicate(timeout=15)[1]
        except subprocess.TimeoutExpired:
            # It started a second world on a state dir in use: that is the defect.
            second.send_signal(signal.SIGTERM)
            second.stderr_text = "(still running after 15 s: a second world started on the same state dir) " + second.communicate(timeout=15)[1]
        after = {n: os.path.getmtime(os.path.join(w.dir, n)) for n in os.listdir(w.dir) if n in before}
        names_pid = str(w.p.pid) in second.stderr_text
        untouched = all(after.get(n) == t for n, t in before.items() if not n.startswith("journal"))
        ok = second.returncode == 2 and names_pid and untouched and w.alive() and healthy(w)
        return ok, f"second up: exit {second.returncode}, names the holder's pid: {names_pid}, first world's files untouched: {untouched}; stderr: {second.stderr_text.strip()[:160]}"
    finally:
        w.close()


# ---------------------------------------------------------------- proxy leak


def close_wait(port):
    out = subprocess.run(["ss", "-Htan", "state", "close-wait", f"( sport = :{port} )"], capture_output=True, text=True).stdout
    return len([l for l in out.splitlines() if l.strip()])


def check_proxy_leak():
    """2,000 clients in two waves of 1,000 (below the proxy's 1,024-connection cap, so a wave is
    never turned away): each sends one keep-alive request, idles past the keep-alive limit, and
    closes. A leaked slot shows as CLOSE-WAIT, a missing close event, or a third wave refused."""
    n = scaled(2000)
    wave = min(n, 1000)
    raise_nofile()
    w = World()
    socks = []
    try:
        req = f"GET http://{CRL[0]}{CRL[1]} HTTP/1.1\r\nHost: {CRL[0]}\r\n\r\n".encode()
        served = 0
        for start in range(0, n, wave):
            for _ in range(min(wave, n - start)):
                s = socket.create_connection(w.proxy, timeout=5)
                s.sendall(req)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += s.recv(65536)
                head, body = data.split(b"\r\n\r\n", 1)
                m = re.search(rb"(?i)content-length: (\d+)", head)
                while m and len(body) < int(m.group(1)):
                    body += s.recv(65536)
                served += head.startswith(b"HTTP/1.1 200")
                socks.append(s)
            time.sleep(11)  # the defect needs clients idle past the proxy's 10 s keep-alive limit
            for s in socks:
                s.close()
            socks = []
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and close_wait(w.proxy[1]):
            time.sleep(0.2)
        left = close_wait(w.proxy[1])
        closes = w.count_until(lambda e: e.get("component") == "proxy" and e.get("what") == "close", n, 10)
        # A third wave as large as the cap: every slot must be free again.
        third = 0
        for _ in range(wave):
            third += http_status(w.proxy, *CRL, proxy=True) == 200
        ok = served == n and left == 0 and closes >= n and third == wave
        return ok, f"{served}/{n} served in waves of {wave}; {left} CLOSE-WAIT left; {closes} close events; then {third}/{wave} served"
    finally:
        for s in socks:
            s.close()
        w.close()


# ---------------------------------------------------------------- sinkhole


def check_sinkhole():
    if os.geteuid() != 0 or not shutil.which("tcpdump"):
        return None, "skipped: needs root and tcpdump (network namespace and capture)"
    ns = f"memsim-rel-{os.getpid()}"
    run = lambda *a: subprocess.run(["ip", "netns", "exec", ns, *a], capture_output=True, text=True, timeout=30)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    cap = None
    w = None
    try:
        run("ip", "link", "set", "lo", "up")
        # The only place a packet could go besides loopback: a veth pair with both ends in this
        # namespace (10.99.0.1 here; 10.99.0.2 is the address the tricks below name). IPv6 off on
        # it, so the link's own neighbour discovery is not counted as traffic.
        run("ip", "link", "add", "sink0", "type", "veth", "peer", "name", "sink1")
        run("sysctl", "-qw", "net.ipv6.conf.sink0.disable_ipv6=1", "net.ipv6.conf.sink1.disable_ipv6=1")
        run("ip", "addr", "add", "10.99.0.1/24", "dev", "sink0")
        run("ip", "link", "set", "sink0", "up")
        run("ip", "link", "set", "sink1", "up")
        pcap = tempfile.mktemp(suffix=".pcap")
        cap = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-n", "-i", "sink0", "-w", pcap, "-U", "arp or tcp or udp"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1)  # tcpdump attaches
        w = World(netns=ns)
        proxy = f"http://{w.proxy[0]}:{w.proxy[1]}"
        curl = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3", "-x", proxy]
        tries = [
            curl + ["http://10.99.0.2/"],
            curl + ["http://10.99.0.2:8080/", "-H", f"Host: {CRL[0]}"],
            curl + [f"http://{CRL[0]}{CRL[1]}", "-H", "Host: 10.99.0.2"],
            curl + ["-p", "https://10.99.0.2/"],
            curl + ["-p", "https://10.99.0.2:443/", "-H", "Host: enterpriseenrollment-s.manage.microsoft.com"],
            curl + ["http://example.org/"],
            curl + ["-p", "https://example.org/"],
            curl + ["http://[::ffff:10.99.0.2]/"],
            curl + ["http://0x0a630002/"],
        ]
        codes = [run(*t).stdout.strip() for t in tries]
        time.sleep(1)
        cap.terminate()
        err = cap.communicate()[1].decode()
        cap = None
        # The control: a packet this script sends to 10.99.0.2 itself must be seen, or a count
        # of zero above would prove nothing.
        probe = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-n", "-i", "sink0", "-c", "1", "arp or tcp or udp"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(1)
        run("curl", "-s", "--max-time", "1", "http://10.99.0.2/")
        try:
            seen = "1 packet captured" in probe.communicate(timeout=5)[1].decode()
        except subprocess.TimeoutExpired:
            probe.kill()
            seen = False
    finally:
        if w:
            w.close()
        if cap:
            cap.kill()
        subprocess.run(["ip", "netns", "del", ns])
    m = re.search(r"(\d+) packets? captured", err)
    packets = int(m.group(1)) if m else -1
    if os.path.exists(pcap):
        os.unlink(pcap)
    return packets == 0 and seen, f"{len(tries)} attempts to leave the world (proxy answered {' '.join(codes)}); packets off loopback: {packets}; the capture sees a direct packet: {seen}"


CHECKS = {
    "fuzz": check_fuzz,
    "slowloris": check_slowloris,
    "long-polls": check_long_polls,
    "dns-1m": check_dns_1m,
    "http-1m": check_http_1m,
    "rss": check_rss,
    "sigterm": check_sigterm,
    "sigkill": check_sigkill,
    "two-ups": check_two_ups,
    "proxy-leak": check_proxy_leak,
    "sinkhole": check_sinkhole,
}


def main():
    chosen = sys.argv[1:] or list(CHECKS)
    unknown = [c for c in chosen if c not in CHECKS]
    if unknown:
        sys.exit(f"unknown check(s) {unknown}; the checks are: {' '.join(CHECKS)}")
    if not os.path.exists(MEMSIM):
        sys.exit(f"{MEMSIM} missing: cargo build --release -p harness")
    print(f"memsim reliability suite, scale {SCALE}, seed {os.environ.get('RELIABILITY_SEED', '11')}")
    broke = 0
    verdicts = {}
    t0 = time.monotonic()
    for name in chosen:
        t = time.monotonic()
        try:
            held, figures = CHECKS[name]()
        except Exception as e:  # a check that cannot run is a broken check, said plainly
            held, figures = False, f"{type(e).__name__}: {e}"
        verdict = "skipped" if held is None else ("held" if held else "broke")
        broke += held is False
        verdicts[name] = verdict
        print(f"{name:<12} {verdict:<7} {time.monotonic() - t:6.1f} s  {figures}", flush=True)
    if LOADED:
        LOADED.pop("w").close()
    wall = time.monotonic() - t0
    print(f"{len(chosen) - broke}/{len(chosen)} held in {wall:.0f} s")
    print(json.dumps({"bench": "reliability", "held": len(chosen) - broke, "checks": len(chosen), "broke": broke,
                      "wall_s": round(wall, 1), "scale": SCALE, "verdicts": verdicts}))
    sys.exit(1 if broke else 0)


if __name__ == "__main__":
    main()
