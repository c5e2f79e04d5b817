#!/usr/bin/env python3
"""`memsim up` exec -> ready (and -> first HTTPS 200), side by side with nginx exec -> first
HTTPS 200, in one run on this machine. Goal: memsim at most 2x nginx.

nginx serves one TLS host with a P-256 certificate made once before timing; memsim generates
its whole PKI (every emulated host) inside the timed span. Both listen on loopback only.
Usage: bench/startup.py [RUNS]   (needs nginx: apt-get install -y nginx-light)
"""
import json, os, shutil, socket, ssl, statistics, subprocess, sys, tempfile, time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MEMSIM = os.environ.get("MEMSIM_BIN", os.path.join(ROOT, "target", "release", "memsim"))
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


def time_memsim():
    state = tempfile.mkdtemp(prefix="memsim-bench-")
    t0 = time.perf_counter()
    p = subprocess.Popen([MEMSIM, "up", "--state-dir", state], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
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
    m_ready, m_200, n_200 = [], [], []
    for _ in range(RUNS):  # interleaved, so both see the same machine state
        r, f = time_memsim(); m_ready.append(r); m_200.append(f)
        n_200.append(time_nginx(d))
    shutil.rmtree(d, ignore_errors=True)
    med = lambda xs: statistics.median(xs) * 1000
    print(f"runs                           {RUNS}")
    print(f"memsim up exec -> ready        {med(m_ready):7.2f} ms (median)")
    print(f"memsim up exec -> first 200    {med(m_200):7.2f} ms (median)")
    print(f"nginx exec -> first 200        {med(n_200):7.2f} ms (median)")
    print(f"ratio (ready / nginx)          {med(m_ready) / med(n_200):.2f}x   (goal <= 1x, issue 20)")
    print(f"ratio (first 200 / nginx)      {med(m_200) / med(n_200):.2f}x")
    print(json.dumps({"bench": "startup", "ratio": round(med(m_ready) / med(n_200), 3), "goal": 1.0, "runs": RUNS,
                      "memsim_ready_ms": round(med(m_ready), 3), "memsim_first_200_ms": round(med(m_200), 3),
                      "nginx_first_200_ms": round(med(n_200), 3), "first_200_ratio": round(med(m_200) / med(n_200), 3)}))


if __name__ == "__main__":
    main()
