#!/usr/bin/env python3
"""A third-party Windows MDM enrollment client, built from the published message shapes only
(MS-MDE2 / MS-XCEP / MS-WSTEP as learn.microsoft.com's federated-authentication-device-enrollment
and mobile-device-enrollment articles show them; protocols.md §1.1-§5), with Python's standard
library (urllib, ssl, xml.etree) and the openssl command line for the key and the PKCS#10.

It discovers (Entra-provisioned route, enrollment.manage.microsoft.com), signs in (the
authority's ROPC grant, or an on-premises UsernameToken), gets the policy, enrolls, decodes the
provisioning document, writes the issued certificate and its CA as PEM files, and opens the
first OMA-DM session with the certificate (mutual TLS). Everything goes through the proxy given.

Prints one JSON object: {"outcome": "enrolled", ...} or {"outcome": "fault", "subcode": ..., "error_type": ...}.

Usage: mde_client.py --proxy URL --ca FILE --out DIR --upn UPN --password PW
                     [--authority URL] [--auth jwt|onpremise] [--key-bits N]
"""

import argparse
import base64
import json
import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET

S = "http://www.w3.org/2003/05/soap-envelope"
A = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WST = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
AC = "http://schemas.xmlsoap.org/ws/2006/12/authorization"
DISC = "http://schemas.microsoft.com/windows/management/2012/01/enrollment"
POL = "http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy"
ENR = "http://schemas.microsoft.com/windows/pki/2009/01/enrollment"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
B64 = WSSE + "#base64binary"
for prefix, ns in [("s", S), ("a", A), ("wsse", WSSE), ("wst", WST), ("ac", AC), ("xsi", XSI)]:
    ET.register_namespace(prefix, ns)


def q(ns, name):
    return "{%s}%s" % (ns, name)


def sub(parent, ns, name, text=None, **attrs):
    e = ET.SubElement(parent, q(ns, name) if ns else name, {k.replace("_", ":", 1) if k.startswith("s_") else k: v for k, v in attrs.items()})
    if text is not None:
        e.text = text
    return e


def envelope(action, to, security=None):
    env = ET.Element(q(S, "Envelope"))
    header = sub(env, S, "Header")
    sub(header, A, "Action", action).set(q(S, "mustUnderstand"), "1")
    sub(header, A, "MessageID", "urn:uuid:" + str(uuid.uuid4()))
    sub(sub(header, A, "ReplyTo"), A, "Address", "http://www.w3.org/2005/08/addressing/anonymous")
    sub(header, A, "To", to).set(q(S, "mustUnderstand"), "1")
    if security is not None:
        header.append(security)
    return env, sub(env, S, "Body")


class Fault(Exception):
    pass


class Client:
    def __init__(self, proxy, ca, cert=None):
        ctx = ssl.create_default_context(cafile=ca)
        if cert:
            ctx.load_cert_chain(*cert)
        handlers = [urllib.request.ProxyHandler({"https": proxy, "http": proxy}), urllib.request.HTTPSHandler(context=ctx)]
        self.opener = urllib.request.build_opener(*handlers)

    def post(self, url, body, content_type):
        req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type, "User-Agent": "mde_client.py"})
        try:
            with self.opener.open(req, timeout=30) as r:
                return r.status, r.headers.get("Content-Type", ""), r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type", ""), e.read()

    def soap(self, url, env):
        status, ctype, body = self.post(url, ET.tostring(env, encoding="utf-8"), "application/soap+xml; charset=utf-8")
        if not ctype.startswith("application/soap+xml"):
            raise Fault({"outcome": "error", "status": status, "content_type": ctype})
        root = ET.fromstring(body)
        fault = root.find("./{%s}Body/{%s}Fault" % (S, S))
        if fault is not None:
            detail = fault.find(".//{%s}DeviceEnrollmentServiceError" % ENR)
            raise Fault({
                "outcome": "fault",
                "status": status,
                "code": fault.findtext("./{%s}Code/{%s}Value" % (S, S)),
                "subcode": fault.findtext("./{%s}Code/{%s}Subcode/{%s}Value" % (S, S, S)),
                "reason": fault.findtext("./{%s}Reason/{%s}Text" % (S, S)),
                "error_type": detail.findtext("{%s}ErrorType" % ENR) if detail is not None else None,
            })
        return root.find("./{%s}Body" % S)


def token_security(token_b64):
    sec = ET.Element(q(WSSE, "Security"), {q(S, "mustUnderstand"): "1"})
    sub(sec, WSSE, "BinarySecurityToken", token_b64, ValueType="urn:ietf:params:oauth:token-type:jwt", EncodingType=B64)
    return sec


def username_security(upn, password):
    sec = ET.Element(q(WSSE, "Security"), {q(S, "mustUnderstand"): "1"})
    ut = sub(sec, WSSE, "UsernameToken")
    sub(ut, WSSE, "Username", upn)
    sub(ut, WSSE, "Password", password, Type=WSSE.replace("secext", "username-token-profile") + "#PasswordText")
    return sec


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--proxy", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--upn", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--authority")
    p.add_argument("--auth", default="jwt", choices=["jwt", "onpremise"])
    p.add_argument("--key-bits", default="2048")
    p.add_argument("--discovery", default="https://enrollment.manage.microsoft.com/EnrollmentServer/Discovery.svc")
    a = p.parse_args()
    c = Client(a.proxy, a.ca)

    # 1. Discover.
    env, body = envelope(DISC + "/IDiscoveryService/Discover", a.discovery)
    req = sub(sub(body, DISC, "Discover"), DISC, "request")
    for name, value in [("EmailAddress", a.upn), ("RequestVersion", "5.0"), ("DeviceType", "CIMClient_Windows"), ("ApplicationVersion", "10.0.19045.0"), ("OSEdition", "4")]:
        sub(req, DISC, name, value)
    pols = sub(req, DISC, "AuthPolicies")
    sub(pols, DISC, "AuthPolicy", "OnPremise" if a.auth == "onpremise" else "Federated")
    result = c.soap(a.discovery, env).find(".//{%s}DiscoverResult" % DISC)
    policy_url = result.findtext("{%s}EnrollmentPolicyServiceUrl" % DISC)
    enroll_url = result.findtext("{%s}EnrollmentServiceUrl" % DISC)

    # 2. Sign in.
    if a.auth == "jwt":
        form = urllib.parse.urlencode({
            "grant_type": "password", "client_id": "29d9ed98-a469-4536-ade2-f981bc1d605e",
            "scope": "https://enrollment.manage.microsoft.com//.default openid profile offline_access",
            "username": a.upn, "password": a.password,
        }).encode()
        status, _, answer = c.post(a.authority.rstrip("/") + "/oauth2/v2.0/token", form, "application/x-www-form-urlencoded")
        token = json.loads(answer).get("access_token")
        if status != 200 or not token:
            raise Fault({"outcome": "error", "status": status, "token": answer.decode(errors="replace")})
        security = lambda: token_security(base64.b64encode(token.encode()).decode())
    else:
        security = lambda: username_security(a.upn, a.password)

    # 3. GetPolicies.
    env, body = envelope(POL + "/IPolicy/GetPolicies", policy_url, security())
    gp = sub(body, POL, "GetPolicies")
    client = sub(gp, POL, "client")
    sub(client, POL, "lastUpdate").set(q(XSI, "nil"), "true")
    sub(client, POL, "preferredLanguage").set(q(XSI, "nil"), "true")
    sub(gp, POL, "requestFilter").set(q(XSI, "nil"), "true")
    policies = c.soap(policy_url, env)
    min_key = policies.findtext(".//{%s}minimalKeyLength" % POL)

    # 4. Key and PKCS#10 with openssl; RequestSecurityToken.
    device_id = str(uuid.uuid4())
    key, csr = os.path.join(a.out, "device.key"), os.path.join(a.out, "device.csr")
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:" + a.key_bits, "-nodes", "-sha256", "-keyout", key, "-subj", "/CN=" + device_id, "-outform", "DER", "-out", csr], check=True, capture_output=True)
    with open(csr, "rb") as f:
        csr_b64 = base64.b64encode(f.read()).decode()
    env, body = envelope(ENR + "/RST/wstep", enroll_url, security())
    rst = sub(body, WST, "RequestSecurityToken")
    sub(rst, WST, "TokenType", "http://schemas.microsoft.com/5.0.0.0/ConfigurationManager/Enrollment/DeviceEnrollmentToken")
    sub(rst, WST, "RequestType", "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue")
    sub(rst, WSSE, "BinarySecurityToken", csr_b64, ValueType=ENR + "#PKCS10", EncodingType=B64)
    ctx = sub(rst, AC, "AdditionalContext")
    for name, value in [("UXInitiated", "false"), ("EnrollmentType", "Full"), ("DeviceType", "CIMClient_Windows"), ("DeviceID", device_id)]:
        sub(sub(ctx, AC, "ContextItem", Name=name), AC, "Value", value)
    answer = c.soap(enroll_url, env)
    doc_b64 = answer.findtext(".//{%s}RequestedSecurityToken/{%s}BinarySecurityToken" % (WST, WSSE))
    doc = ET.fromstring(base64.b64decode(doc_b64))

    # 5. The provisioning document: My/User/<thumbprint>, CA/System, APPLICATION ADDR.
    def store(*path):
        node = doc
        for kind in path:
            node = next(c for c in node.findall("characteristic") if c.get("type") == kind)
        return node

    def first_cert(node):
        cert = next(c for c in node.findall("characteristic") if c.find("parm[@name='EncodedCertificate']") is not None)
        return cert.get("type"), base64.b64decode(cert.find("parm[@name='EncodedCertificate']").get("value"))

    thumb, der = first_cert(store("CertificateStore", "My", "User"))
    _, ca_der = first_cert(store("CertificateStore", "CA", "System"))
    app = store("APPLICATION")
    addr = app.find("parm[@name='ADDR']").get("value")
    cert_pem, ca_pem = os.path.join(a.out, "device.pem"), os.path.join(a.out, "intermediate.pem")
    for path, blob in [(cert_pem, der), (ca_pem, ca_der)]:
        with open(path, "w") as f:
            f.write(ssl.DER_cert_to_PEM_cert(blob))
    chain = os.path.join(a.out, "chain.pem")
    with open(chain, "w") as f:
        f.write(ssl.DER_cert_to_PEM_cert(der) + ssl.DER_cert_to_PEM_cert(ca_der))

    # 6. The first OMA-DM session with the certificate (mutual TLS).
    syncml = ET.Element("SyncML", xmlns="SYNCML:SYNCML1.2")
    hdr = ET.SubElement(syncml, "SyncHdr")
    for name, value in [("VerDTD", "1.2"), ("VerProto", "DM/1.2"), ("SessionID", "1"), ("MsgID", "1")]:
        ET.SubElement(hdr, name).text = value
    ET.SubElement(ET.SubElement(hdr, "Target"), "LocURI").text = addr
    ET.SubElement(ET.SubElement(hdr, "Source"), "LocURI").text = device_id
    sbody = ET.SubElement(syncml, "SyncBody")
    alert = ET.SubElement(sbody, "Alert")
    ET.SubElement(alert, "CmdID").text = "2"
    ET.SubElement(alert, "Data").text = "1201"
    ET.SubElement(sbody, "Final")
    status, ctype, reply = Client(a.proxy, a.ca, (chain, key)).post(addr, ET.tostring(syncml), "application/vnd.syncml.dm+xml")
    sm = "{SYNCML:SYNCML1.2}"
    statuses = [(s.findtext(sm + "Cmd"), s.findtext(sm + "Data")) for s in ET.fromstring(reply).iter(sm + "Status")] if status == 200 else []
    print(json.dumps({
        "outcome": "enrolled", "min_key_length": min_key, "thumbprint": thumb, "cert": cert_pem, "intermediate": ca_pem,
        "addr": addr, "checkin_status": status, "checkin_statuses": statuses,
    }))


if __name__ == "__main__":
    try:
        main()
    except Fault as f:
        print(json.dumps(f.args[0]))
        sys.exit(2)
