"""Issue 12: an Entra device join with python3's standard library and the openssl CLI only, as a
Linux client does it (protocols.md §6): a DRS token by the password grant, Discover for the
domain, nonce, join with an RSA-2048 PKCS#10 made by `openssl req`, and the device certificate
written out as PEM for `openssl verify`. Everything goes through the world's proxy, trusting
the world's CA only (SSL_CERT_FILE). Prints one JSON line: what the test asserts on.

argv: proxy_url tenant_id domain upn password workdir
"""
import base64
import json
import os
import ssl
import struct
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

proxy, tenant, domain, upn, password, workdir = sys.argv[1:7]
ctx = ssl.create_default_context(cafile=os.environ["SSL_CERT_FILE"])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({"https": proxy}), urllib.request.HTTPSHandler(context=ctx))


def call(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


form = urllib.parse.urlencode({
    "grant_type": "password", "client_id": "29d9ed98-a469-4536-ade2-f981bc1d605e",
    "scope": "01cb2876-7ebd-4aa4-9cc9-d28bd4d359a9/.default openid profile offline_access",
    "username": upn, "password": password,
}).encode()
status, token = call("POST", f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token", form,
                     {"Content-Type": "application/x-www-form-urlencoded"})
if status != 200:
    print(json.dumps({"step": "token", "status": status, "body": token}))
    sys.exit(0)
bearer = {"Authorization": "Bearer " + token["access_token"]}

status, doc = call("GET", f"https://enterpriseregistration.windows.net/{domain}/Discover?api-version=1.9&managed=True",
                   headers={"ocp-adrs-client-name": "drs_join.py", "ocp-adrs-client-version": "1"})
nonce_url = doc["NonceService"]["Endpoint"] + "?api-version=" + doc["NonceService"]["ServiceVersion"]
n_status, nonce = call("GET", nonce_url, headers=bearer)

key, csr = os.path.join(workdir, "device.key"), os.path.join(workdir, "device.csr")
subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-sha256",
                "-subj", "/CN=7E980AD9-B86D-4306-9425-9AC066FB014A", "-outform", "DER", "-out", csr],
               check=True, capture_output=True)
modulus = subprocess.run(["openssl", "rsa", "-in", key, "-noout", "-modulus"], check=True, capture_output=True,
                         text=True).stdout.strip().split("=", 1)[1]
n, e = bytes.fromhex(modulus), (65537).to_bytes(3, "big")
blob = b"RSA1" + struct.pack("<IIIII", 2048, len(e), len(n), 0, 0) + e + n
with open(csr, "rb") as f:
    csr_der = f.read()
join = {
    "CertificateRequest": {"Type": "pkcs10", "Data": base64.b64encode(csr_der).decode()},
    "TransportKey": base64.b64encode(blob).decode(), "TargetDomain": domain, "DeviceType": "Linux",
    "OSVersion": "Debian 12", "DeviceDisplayName": "drs-join-py", "JoinType": 0,
    "Attributes": {"ReuseDevice": "true", "ReturnClientSid": "true"},
}
join_url = doc["DeviceJoinService"]["JoinEndpoint"] + "?api-version=" + doc["DeviceJoinService"]["ServiceVersion"]
j_status, answer = call("POST", join_url, json.dumps(join).encode(), dict(bearer, **{"Content-Type": "application/json"}))
out = {"step": "join", "discover": status, "nonce": n_status, "nonce_value": bool(nonce.get("Value")),
       "reponse_status": "ReponseStatus" in nonce, "join": j_status, "endpoints": [
           doc["DeviceJoinService"]["JoinEndpoint"], nonce_url, doc["KeyProvisioningService"]["KeyProvisionEndpoint"],
           doc["AuthenticationService"]["OAuth2"]["TokenEndpoint"]], "answer": answer}
if j_status == 200:
    raw = answer["Certificate"]["RawBody"]
    with open(os.path.join(workdir, "device.pem"), "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\n" + "\n".join(raw[i:i + 64] for i in range(0, len(raw), 64)) + "\n-----END CERTIFICATE-----\n")
print(json.dumps(out))
