#!/usr/bin/env python3
"""Content CDN throughput: curl downloading the same large package from memsim (HTTPS front,
HTTP front, and HTTPS through the world's proxy) and from nginx serving the very same bytes from
a file (HTTPS and HTTP, sendfile on), interleaved in one run on this machine. Also memsim's
world start (exec -> ready) with the content library (seed 0's digests are recorded data).

memsim generates the package's bytes on the fly (SplitMix64, never stored); nginx reads a file
from the page cache. Both serve on loopback only; every curl is bounded (--max-time).
Usage: bench/cdn-throughput.py [RUNS]   (needs nginx: apt-get install -y nginx-light; curl)
"""
import json, os, shutil, socket, statistics, subprocess, sys, tempfile, time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMSIM = os.environ.get("MEMSIM_BIN", os.path.join(ROOT, "target", "release", "memsim"))
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


def memsim_up():
    state = tempfile.mkdtemp(prefix="memsim-cdn-")
    t0 = time.perf_counter()
    p = subprocess.Popen([MEMSIM, "up", "--state-dir", state], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
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
  server {{ listen 127.0.0.1:{https} ssl; listen 127.0.0.1:{http}; server_name {host};
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
    mb = lambda xs: statistics.median(xs) / 1e6
    print(f"package                        {pkg['name']} ({size >> 20} MiB), {RUNS} runs each, median")
    for name in cases:
        print(f"{name:30} {mb(speeds[name]):8.0f} MB/s")
    print(f"ratio HTTPS memsim / nginx     {mb(speeds['memsim HTTPS front']) / mb(speeds['nginx HTTPS (sendfile)']):.2f}x")
    print(f"ratio HTTP  memsim / nginx     {mb(speeds['memsim HTTP front']) / mb(speeds['nginx HTTP (sendfile)']):.2f}x")
    print(f"ratio via proxy / direct HTTPS {mb(speeds['memsim HTTPS via proxy']) / mb(speeds['memsim HTTPS front']):.2f}x")
    print(f"memsim up exec -> ready        {statistics.median(starts) * 1000:7.2f} ms (median of {len(starts)}; default worlds hash no content)")


if __name__ == "__main__":
    main()
