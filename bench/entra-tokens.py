#!/usr/bin/env python3
"""Token issuance per second: memsim's Entra token endpoint against a peer signing the same JWT
(issue 12), in one run on one machine.

- memsim: `memsim up` (release build), client-credentials requests (the Contoso reporting app,
  Graph `.default`) over one keep-alive HTTPS connection through the world's proxy, as MSAL
  sends them; every answer checked for an access token, one verified against the world's JWKS.
  Each request is a whole token issuance: form parsing, client authentication, claims, an
  RS256 signature over RSA-2048.
- peer: PyJWT (`jwt.encode`, RS256, the `cryptography` package, i.e. OpenSSL) signing the very
  claims and header of a memsim token with an RSA-2048 key, in a loop, in one process; and
  `openssl speed rsa2048` as the raw signing floor.

Bounded: N requests (default 2000) and N signatures, each loop at most 60 s; loopback only.
Usage: bench/entra-tokens.py [N]   (needs: pip install PyJWT cryptography; a release build)
Prints a ratio line and one JSON line.
"""
import base64
import http.client
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time

import jwt  # PyJWT
from cryptography.hazmat.primitives.asymmetric import rsa

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
LIMIT_S = 60
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
MEMSIM = os.environ.get("MEMSIM_BIN", os.path.join(TARGET, "release", "memsim"))


def b64json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def main():
    if "MEMSIM_BIN" not in os.environ:
        subprocess.run(["cargo", "build", "-q", "--release", "-p", "harness"], cwd=ROOT, check=True)
    state = tempfile.mkdtemp(prefix="memsim-entra-bench-")
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY") and k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    up = subprocess.Popen([MEMSIM, "up", "--state-dir", state], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    try:
        ready = json.loads(up.stdout.readline())
        world = json.load(open(ready["world"]))
        entra = world["entra"]
        app = next(a for a in entra["apps"] if a.get("client_secret"))
        tid = entra["tenant_id"]
        proxy_host, proxy_port = world["proxy_url"][len("http://"):].rstrip("/").rsplit(":", 1)
        ctx = ssl.create_default_context(cafile=world["ca_bundle"])
        conn = http.client.HTTPSConnection(proxy_host, int(proxy_port), context=ctx, timeout=30)
        conn.set_tunnel("login.microsoftonline.com", 443)
        body = (
            "grant_type=client_credentials&client_id=" + app["client_id"]
            + "&client_secret=" + app["client_secret"].replace("~", "%7E")
            + "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded"}

        def token():
            conn.request("POST", f"/{tid}/oauth2/v2.0/token", body=body, headers=headers)
            r = conn.getresponse()
            data = r.read()
            if r.status != 200:
                raise SystemExit(f"memsim answered {r.status}: {data[:300]!r}")
            return json.loads(data)["access_token"]

        first = token()  # the world makes its signing key on first use: not timed
        conn.request("GET", f"/{tid}/discovery/v2.0/keys")
        jwks = json.loads(conn.getresponse().read())
        key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == jwt.get_unverified_header(first)["kid"]))
        jwt.decode(first, key.key, algorithms=["RS256"], audience="https://graph.microsoft.com")

        done, t0 = 0, time.perf_counter()
        while done < N and time.perf_counter() - t0 < LIMIT_S:
            token()
            done += 1
        memsim_s = time.perf_counter() - t0
        memsim_rate = done / memsim_s

        # The same client and connection fetching the OpenID configuration (no signature): what
        # the HTTP path alone costs, so the signing share of a token is visible.
        fetched, t0 = 0, time.perf_counter()
        while fetched < N and time.perf_counter() - t0 < LIMIT_S:
            conn.request("GET", f"/{tid}/v2.0/.well-known/openid-configuration")
            conn.getresponse().read()
            fetched += 1
        http_rate = fetched / (time.perf_counter() - t0)

        # The peer: the same header and claims, RS256 with an RSA-2048 key, PyJWT.
        head_b64, claims_b64, _ = first.split(".")
        header, claims = b64json(head_b64), b64json(claims_b64)
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        signed, t0 = 0, time.perf_counter()
        while signed < N and time.perf_counter() - t0 < LIMIT_S:
            jwt.encode(claims, private, algorithm="RS256", headers={"kid": header["kid"], "x5t": header["x5t"]})
            signed += 1
        pyjwt_rate = signed / (time.perf_counter() - t0)

        openssl_rate = None
        if shutil.which("openssl"):
            out = subprocess.run(["openssl", "speed", "-seconds", "3", "-mr", "rsa2048"], capture_output=True, text=True, timeout=120).stdout
            m = re.search(r"\+F2:\d+:2048:([0-9.]+):", out)  # -mr: signatures per second
            openssl_rate = float(m.group(1)) if m else None

        ratio = memsim_rate / pyjwt_rate
        print(
            f"entra tokens: memsim {memsim_rate:.0f} tokens/s ({done} over HTTPS through the proxy, keep-alive, each signed RS256); "
            f"PyJWT {pyjwt_rate:.0f} signatures/s of the same JWT; ratio memsim/PyJWT {ratio:.2f}; "
            f"the same client fetching the OpenID configuration: {http_rate:.0f}/s"
            + (f"; openssl rsa2048 sign floor {openssl_rate:.0f}/s" if openssl_rate else "")
        )
        print(json.dumps({"bench": "entra-tokens", "n": done, "memsim_tokens_per_s": round(memsim_rate, 1), "pyjwt_signs_per_s": round(pyjwt_rate, 1),
                          "ratio": round(ratio, 3), "http_only_per_s": round(http_rate, 1), "openssl_rsa2048_signs_per_s": round(openssl_rate, 1) if openssl_rate else None}))
    finally:
        up.terminate()
        up.wait(timeout=10)
        shutil.rmtree(state, ignore_errors=True)


main()
