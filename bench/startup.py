#!/usr/bin/env python3
"""`memsim up` exec -> ready (and -> first HTTPS 200), side by side with nginx exec -> first
HTTPS 200, in one run on this machine. Goal (issue 20): memsim's ready at most 1.0x nginx's first
200; memsim's own first 200 is reported beside it.

nginx serves one TLS host with a P-256 certificate made once before timing; memsim generates its
CAs and plans every emulated host's leaf inside the timed span (a leaf is signed on first use, so
"first 200" includes the host's key and certificate). Both listen on loopback only.
Usage: bench/startup.py [RUNS]   (needs nginx: apt-get install -y nginx-light)
MEMSIM_BIN: the binary timed (default target/release/memsim); MEMSIM_BASE: a second binary (say,
main's) timed in the same rounds, interleaved, for an A/B comparison on a busy machine.
"""
import json, os, shutil, socket, ssl, statistics, subprocess, sys, tempfile, time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMSIM = os.environ.get("MEMSIM_BIN", os.path.join(ROOT, "target", "release", "memsim"))
BASE = os.environ.get("MEMSIM_BASE")
HOST = "enterpriseenrollment-s.manage.microsoft.com"
PATH = "/EnrollmentServer/Discovery.svc"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def https_get(port, cafile, host=HOST):
    ctx = ssl.create_default_context(cafile=cafile)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as tls:
            tls.sendall(f"GET {PATH} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            return tls.recv(64).split(b" ")[1].decode()


def time_memsim(binary=MEMSIM):
    state = tempfile.mkdtemp(prefix="memsim-bench-")
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "up", "--state-dir", state], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    ready = json.loads(p.stdout.readline())
    t_ready = time.perf_counter() - t0
    port = int(ready["https_addr"].rsplit(":", 1)[1])
    assert https_get(port, ready["ca_bundle"]) == "200"
    t_200 = time.perf_counter() - t0
    p.terminate(); p.wait(); shutil.rmtree(state, ignore_errors=True)
    return t_ready, t_200


def nginx_setup():
    d = tempfile.mkdtemp(prefix="nginx-bench-")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", f"{d}/key.pem", "-out", f"{d}/cert.pem", "-days", "2", "-subj", f"/CN={HOST}",
                    "-addext", f"subjectAltName=DNS:{HOST}"], check=True, capture_output=True)
    return d


def time_nginx(d):
    port = free_port()
    conf = f"""daemon off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{ access_log off; client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  server {{ listen 127.0.0.1:{port} ssl; server_name {HOST}; ssl_certificate {d}/cert.pem;
    ssl_certificate_key {d}/key.pem; location = {PATH} {{ return 200; }} }} }}"""
    open(f"{d}/nginx.conf", "w").write(conf)
    t0 = time.perf_counter()
    p = subprocess.Popen(["nginx", "-c", f"{d}/nginx.conf", "-p", d], stderr=subprocess.DEVNULL)
    deadline = t0 + 10
    while True:  # bounded: a benchmark stops by itself
        if time.perf_counter() > deadline:
            p.kill()
            sys.exit("nginx did not answer 200 within 10 s; see its error.log in " + d)
        try:
            if https_get(port, f"{d}/cert.pem") == "200":
                break
        except OSError:
            time.sleep(0.0005)
    t = time.perf_counter() - t0
    p.terminate(); p.wait()
    return t


def main():
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    os.environ["PATH"] += os.pathsep + os.path.dirname(nginx)
    d = nginx_setup()
    m_ready, m_200, n_200, b_ready, b_200 = [], [], [], [], []
    load = os.getloadavg()[0]
    for _ in range(RUNS):  # interleaved, so all see the same machine state
        r, f = time_memsim(); m_ready.append(r); m_200.append(f)
        n_200.append(time_nginx(d))
        if BASE:
            r, f = time_memsim(BASE); b_ready.append(r); b_200.append(f)
    shutil.rmtree(d, ignore_errors=True)
    med = lambda xs: statistics.median(xs) * 1000
    print(f"runs                           {RUNS}   (load average {load:.2f} at the start)")
    print(f"memsim up exec -> ready        {med(m_ready):7.2f} ms (median)")
    print(f"memsim up exec -> first 200    {med(m_200):7.2f} ms (median)")
    print(f"nginx exec -> first 200        {med(n_200):7.2f} ms (median)")
    if BASE:
        print(f"base up exec -> ready          {med(b_ready):7.2f} ms (median; MEMSIM_BASE)")
        print(f"base up exec -> first 200      {med(b_200):7.2f} ms (median)")
        print(f"ratio base (ready / nginx)     {med(b_ready) / med(n_200):.2f}x")
    print(f"ratio (ready / nginx)          {med(m_ready) / med(n_200):.2f}x   (goal <= 1x, issue 20)")
    print(f"ratio (first 200 / nginx)      {med(m_200) / med(n_200):.2f}x")
    print(json.dumps({"bench": "startup", "ratio": round(med(m_ready) / med(n_200), 3), "goal": 1.0, "runs": RUNS,
                      "memsim_ready_ms": round(med(m_ready), 3), "memsim_first_200_ms": round(med(m_200), 3),
                      "nginx_first_200_ms": round(med(n_200), 3), "first_200_ratio": round(med(m_200) / med(n_200), 3),
                      "load_average": round(load, 2),
                      **({"base_ready_ms": round(med(b_ready), 3), "base_first_200_ms": round(med(b_200), 3),
                          "base_ratio": round(med(b_ready) / med(n_200), 3)} if BASE else {})}))


if __name__ == "__main__":
    main()
