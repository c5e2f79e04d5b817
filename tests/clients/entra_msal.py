"""MSAL Python and azure-identity against a memsim world, with nothing but the world's environment
(`. env.sh`: HTTPS_PROXY, REQUESTS_CA_BUNDLE, SSL_CERT_FILE …; no verify=, no instance-discovery
switch). Reads world.json (MEMSIM_WORLD) and a plan (argv[1], JSON: a list of calls); prints one
JSON object: each call's id -> what the library returned (token or error), for the Rust test to
check. Issue 12, deliverable 7; protocols.md §14."""
import json
import os
import sys

import msal

WORLD = json.load(open(os.environ["MEMSIM_WORLD"]))["entra"]
BROKER = "29d9ed98-a469-4536-ade2-f981bc1d605e"


def msal_result(r):
    keep = ("access_token", "refresh_token", "id_token_claims", "error", "error_codes", "suberror", "token_type", "expires_in", "ext_expires_in")
    return {k: r[k] for k in keep if k in r}


def run_msal(call):
    authority = call.get("authority", WORLD["authority"])
    if call["grant"] == "client_credentials":
        app = msal.ConfidentialClientApplication(call["client_id"], client_credential=call["secret"], authority=authority)
        return msal_result(app.acquire_token_for_client(scopes=[call["scope"]]))
    if call["grant"] == "client_certificate":
        # With `thumbprint`, MSAL signs RS256 naming the SHA-1 `x5t`; with `public_certificate`,
        # PS256 naming `x5t#S256` and sending `x5c` (msal >= 1.35).
        credential = {"private_key": open(call["key"]).read()}
        if "thumbprint" in call:
            credential["thumbprint"] = call["thumbprint"]
        else:
            credential["public_certificate"] = open(call["certificate"]).read()
        app = msal.ConfidentialClientApplication(call["client_id"], client_credential=credential, authority=authority)
        return msal_result(app.acquire_token_for_client(scopes=[call["scope"]]))
    app = msal.PublicClientApplication(BROKER, authority=authority)
    if call["grant"] == "device_code":
        flow = app.initiate_device_flow(scopes=[call["scope"]])
        if "user_code" not in flow:
            return msal_result(flow)
        result = msal_result(app.acquire_token_by_device_flow(flow))
        result["message"] = flow["message"]
        return result
    user = WORLD["users"][call["user"]]
    first = app.acquire_token_by_username_password(user["upn"], user["password"], scopes=[call["scope"]])
    if call["grant"] == "password" or "error" in first:
        return msal_result(first)
    return msal_result(app.acquire_token_by_refresh_token(first["refresh_token"], scopes=[call["refresh_scope"]]))


def run_azure_identity(call):
    from azure.identity import ClientSecretCredential, UsernamePasswordCredential
    from azure.core.exceptions import ClientAuthenticationError
    tenant = WORLD["tenant_id"]
    try:
        if call["grant"] == "client_credentials":
            cred = ClientSecretCredential(tenant, call["client_id"], call["secret"])
        else:
            user = WORLD["users"][call["user"]]
            cred = UsernamePasswordCredential(BROKER, user["upn"], user["password"], tenant_id=tenant)
        return {"access_token": cred.get_token(call["scope"]).token}
    except ClientAuthenticationError as e:
        return {"exception": type(e).__name__, "message": str(e)}


def main():
    plan = json.loads(sys.argv[1])
    out = {}
    for call in plan:
        try:
            out[call["id"]] = run_azure_identity(call) if call.get("library") == "azure-identity" else run_msal(call)
        except Exception as e:  # a library that raises instead of returning: reported, not fatal
            out[call["id"]] = {"exception": type(e).__name__, "message": str(e)}
    print(json.dumps(out))


main()
