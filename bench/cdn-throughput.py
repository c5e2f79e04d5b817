#!/usr/bin/env python3
"""Content CDN throughput: curl downloading the same large package from memsim (HTTPS front,
HTTP front, and HTTPS through the world's proxy) and from nginx serving the very same bytes from
a file (HTTPS and HTTP, sendfile on), interleaved in one run on this machine. Also memsim's
world start (exec -> ready) with the content library (seed 0's digests are recorded data).

Goals (issue 20): memsim HTTP >= 1.0x nginx sendfile, memsim HTTPS >= 1.0x nginx HTTPS.

memsim generates the package's bytes on the fly (SplitMix64, never stored); nginx reads a file
from the page cache. Both offer h2 on HTTPS (curl picks it by ALPN from either), HTTP/1.1 on
HTTP, so the protocol is the same on each pair compared. Both serve on loopback only; every curl is bounded (--max-time).
MEMSIM_BIN picks the binary (default target/release/memsim); MEMSIM_BASE_BIN, if set, starts a
second world from another binary (say, main's) and interleaves its two fronts in the same
rounds, for an A/B. Ends with the ratio line and one JSON line.
Usage: bench/cdn-throughput.py [RUNS]   (needs nginx: apt-get install -y nginx-light; curl)
"""
import json, os, shutil, socket, statistics, subprocess, sys, tempfile, time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMSIM = os.environ.get("MEMSIM_BIN", os.path.join(ROOT, "target", "release", "memsim"))
BASE = os.environ.get("MEMSIM_BASE_BIN")
CLEAN = {k: v for k, v in os.environ.items() if k.lower() not in ("https_proxy", "http_proxy", "all_proxy", "no_proxy", "curl_ca_bundle", "ssl_cert_file")}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def curl(args, url):
    """Download `url` to /dev/null; returns bytes per second (curl's own measure)."""
    out = subprocess.run(["curl", "-sS", "--max-time", "120", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{speed_download}"] + args + [url],
                         capture_output=True, text=True, env=CLEAN)
    code, size, speed = out.stdout.split()
    assert code == "200", f"{url}: HTTP {code} {out.stderr}"
    return int(size), float(speed)


def memsim_up(binary=MEMSIM):
    state = tempfile.mkdtemp(prefix="memsim-cdn-")
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "up", "--state-dir", state], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    ready = json.loads(p.stdout.readline())
    return p, state, time.perf_counter() - t0, json.load(open(os.path.join(state, "world.json")))


def nginx_start(d, filename, host):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", f"{d}/key.pem", "-out", f"{d}/cert.pem", "-days", "2", "-subj", f"/CN={host}",
                    "-addext", f"subjectAltName=DNS:{host}"], check=True, capture_output=True)
    https, http = free_port(), free_port()
    conf = f"""daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{ access_log off; sendfile on; tcp_nopush on; client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp;
  fastcgi_temp_path {d}/tmp; uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp; default_type application/octet-stream;
  server {{ listen 127.0.0.1:{https} ssl http2; listen 127.0.0.1:{http}; server_name {host};
    ssl_certificate {d}/cert.pem; ssl_certificate_key {d}/key.pem; root {d}/www; }} }}"""
    open(f"{d}/nginx.conf", "w").write(conf)
    p = subprocess.Popen(["nginx", "-c", f"{d}/nginx.conf", "-p", d], stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:  # bounded: wait for the listener
        try:
            socket.create_connection(("127.0.0.1", http), timeout=1).close()
            return p, https, http
        except OSError:
            time.sleep(0.01)
    p.kill()
    sys.exit("nginx did not start; see " + d)


def main():
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    os.environ["PATH"] += os.pathsep + os.path.dirname(nginx)
    starts = []
    for _ in range(max(RUNS, 5)):
        p, state, t, _ = memsim_up()
        starts.append(t)
        p.terminate(); p.wait(); shutil.rmtree(state, ignore_errors=True)
    p, state, _, world = memsim_up()
    pkg = max(world["content"], key=lambda c: c["size"])
    url, size = pkg["url"], pkg["size"]
    host, path = url[len("https://"):].split("/", 1)
    hs, hp = world["https_addr"].rsplit(":", 1)[1], world["http_addr"].rsplit(":", 1)[1]
    ca, proxy = world["ca_bundle"], world["proxy_url"]
    d = tempfile.mkdtemp(prefix="nginx-cdn-")
    target = os.path.join(d, "www", path)
    os.makedirs(os.path.dirname(target))
    subprocess.run(["curl", "-sS", "--cacert", ca, "--connect-to", f"{host}:443:127.0.0.1:{hs}", "-o", target, url], check=True, env=CLEAN)
    assert os.path.getsize(target) == size
    for root, dirs, _ in os.walk(d):  # nginx's worker may run as nobody: let it read the file
        os.chmod(root, 0o755)
    os.chmod(target, 0o644)
    ng, ns, nh = nginx_start(d, target, host)
    cases = {
        "memsim HTTPS front": (["--cacert", ca, "--connect-to", f"{host}:443:127.0.0.1:{hs}"], url),
        "memsim HTTP front": (["--connect-to", f"{host}:80:127.0.0.1:{hp}"], f"http://{host}/{path}"),
        "memsim HTTPS via proxy": (["--cacert", ca, "-x", proxy], url),
        "nginx HTTPS (sendfile)": (["--cacert", f"{d}/cert.pem", "--connect-to", f"{host}:443:127.0.0.1:{ns}"], url),
        "nginx HTTP (sendfile)": (["--connect-to", f"{host}:80:127.0.0.1:{nh}"], f"http://{host}/{path}"),
    }
    base = None
    if BASE:  # the same package from another binary's world (same seed, same bytes), same rounds
        base = memsim_up(BASE)
        bw = base[3]
        bs, bh = bw["https_addr"].rsplit(":", 1)[1], bw["http_addr"].rsplit(":", 1)[1]
        cases["base HTTPS front"] = (["--cacert", bw["ca_bundle"], "--connect-to", f"{host}:443:127.0.0.1:{bs}"], url)
        cases["base HTTP front"] = (["--connect-to", f"{host}:80:127.0.0.1:{bh}"], f"http://{host}/{path}")
    speeds = {k: [] for k in cases}
    try:
        for _ in range(RUNS):  # interleaved, so every server sees the same machine state
            for name, (args, u) in cases.items():
                got, speed = curl(args, u)
                assert got == size, f"{name}: {got} bytes"
                speeds[name].append(speed)
    finally:
        ng.terminate(); ng.wait(); p.terminate(); p.wait()
        shutil.rmtree(d, ignore_errors=True); shutil.rmtree(state, ignore_errors=True)
        if base:
            base[0].terminate(); base[0].wait(); shutil.rmtree(base[1], ignore_errors=True)
    load = os.getloadavg()[0]
    mb = lambda xs: statistics.median(xs) / 1e6
    print(f"package                        {pkg['name']} ({size >> 20} MiB), {RUNS} runs each, median; load average {load:.1f}")
    for name in cases:
        print(f"{name:30} {mb(speeds[name]):8.0f} MB/s")
    https = mb(speeds['memsim HTTPS front']) / mb(speeds['nginx HTTPS (sendfile)'])
    http = mb(speeds['memsim HTTP front']) / mb(speeds['nginx HTTP (sendfile)'])
    proxied = mb(speeds['memsim HTTPS via proxy']) / mb(speeds['memsim HTTPS front'])
    start_ms = statistics.median(starts) * 1000
    print(f"ratio via proxy / direct HTTPS {proxied:.2f}x")
    print(f"memsim up exec -> ready        {start_ms:7.2f} ms (median of {len(starts)}; default worlds hash no content)")
    result = {"bench": "cdn", "ratio": round(min(http, https), 3), "goal": 1.0, "http_ratio": round(http, 3), "https_ratio": round(https, 3),
              "via_proxy_ratio": round(proxied, 3), "mb_s": {k: round(mb(v), 1) for k, v in speeds.items()}, "runs": RUNS,
              "package_mib": size >> 20, "up_ms": round(start_ms, 2), "load_avg_1m": round(load, 2)}
    if base:
        ab = (mb(speeds['memsim HTTP front']) / mb(speeds['base HTTP front']), mb(speeds['memsim HTTPS front']) / mb(speeds['base HTTPS front']))
        print(f"A/B memsim / base              HTTP {ab[0]:.2f}x  HTTPS {ab[1]:.2f}x")
        result["ab_http"], result["ab_https"] = round(ab[0], 3), round(ab[1], 3)
    print(f"ratio memsim / nginx           HTTP {http:.2f}x  HTTPS {https:.2f}x   (goal >= 1.0x both, issue 20)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
