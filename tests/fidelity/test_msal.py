"""MSAL Python against the emulator: auth code (walking the sign-in pages over HTTP),
refresh token, client credentials with a secret and with a certificate."""
import os
import re
import sys
import urllib.parse

import localhost_dns  # noqa: F401  (RFC 6761 loopback names)
import msal
import requests

E = os.environ
CA = E["EMU_CA"]
HOST = E["EMU_AUTHORITY_HOST"]
TENANT = E["EMU_PARTNER_TENANT"]
REDIRECT = "http://127.0.0.1:8080/callback"
passed = 0


def check(name, cond, detail=""):
    global passed
    if not cond:
        print(f"FAIL {name}: {detail}")
        print(f"{passed} passed, 1 failed")
        sys.exit(1)
    passed += 1
    print(f"ok {name}")


def form_field(html, name):
    m = re.search(rf'name="{name}" value="([^"]*)"', html)
    return m.group(1) if m else None


def walk_sign_in(auth_uri, upn, password, mfa_code):
    s = requests.Session()
    s.verify = CA
    r = s.get(auth_uri, allow_redirects=False)
    assert r.status_code == 200, r.text
    tenant = urllib.parse.urlparse(auth_uri).path.split("/")[1]
    flow = form_field(r.text, "flow")
    r = s.post(f"{HOST}/{tenant}/login", data={"flow": flow, "login": upn, "passwd": password}, allow_redirects=False)
    for _ in range(3):
        if r.status_code == 302:
            return dict(urllib.parse.parse_qsl(urllib.parse.urlparse(r.headers["location"]).query))
        flow = form_field(r.text, "flow")
        if 'name="otc"' in r.text:
            r = s.post(f"{HOST}/{tenant}/mfa", data={"flow": flow, "otc": mfa_code}, allow_redirects=False)
        elif 'id="accept"' in r.text:
            r = s.post(f"{HOST}/{tenant}/consent", data={"flow": flow, "action": "accept"}, allow_redirects=False)
        else:
            raise AssertionError(r.text)
    raise AssertionError("no redirect")


# --- Authorization code + refresh token (delegated, the SAM consent) -------------------------
app = msal.ConfidentialClientApplication(
    E["EMU_CSP_APP"], client_credential=E["EMU_CSP_SECRET"], authority=f"{HOST}/organizations",
    instance_discovery=False, verify=CA,
)
flow = app.initiate_auth_code_flow(["https://graph.microsoft.com/.default"], redirect_uri=REDIRECT)
params = walk_sign_in(flow["auth_uri"], E["EMU_ADMIN_UPN"], E["EMU_ADMIN_PASSWORD"], E["EMU_ADMIN_MFA"])
check("redirect carries code and state", "code" in params and params.get("state") == flow["state"], params)
result = app.acquire_token_by_auth_code_flow(flow, params)
check("auth code redeemed", "access_token" in result, result)
check("id token nonce verified by msal", result.get("id_token_claims", {}).get("oid") == E["EMU_ADMIN_OID"], result.get("id_token_claims"))
check("refresh token returned", "refresh_token" in result, result.keys())
pc = app.acquire_token_by_refresh_token(result["refresh_token"], ["https://api.partnercenter.microsoft.com/user_impersonation"])
check("refresh token redeemed for Partner Center", "access_token" in pc, pc)
check("refresh token rotated", pc.get("refresh_token") not in (None, result["refresh_token"]), "")
again = app.acquire_token_by_refresh_token(result["refresh_token"], ["https://graph.microsoft.com/.default"])
check("old refresh token still valid for Graph", "access_token" in again, again)

# --- Client credentials with a secret ---------------------------------------------------------
cc = msal.ConfidentialClientApplication(
    E["EMU_KV_APP"], client_credential=E["EMU_KV_SECRET"], authority=f"{HOST}/{TENANT}",
    instance_discovery=False, verify=CA,
)
r = cc.acquire_token_for_client(["https://vault.azure.net/.default"])
check("client credentials with secret", r.get("token_type") == "Bearer" and "access_token" in r, r)
bad = msal.ConfidentialClientApplication(
    E["EMU_KV_APP"], client_credential="wrong", authority=f"{HOST}/{TENANT}", instance_discovery=False, verify=CA,
)
r = bad.acquire_token_for_client(["https://vault.azure.net/.default"])
check("wrong secret gives invalid_client 7000215", r.get("error") == "invalid_client" and 7000215 in r.get("error_codes", []), r)

# --- Client credentials with a certificate ----------------------------------------------------
key = open(E["EMU_CERT_KEY"]).read()
cert = open(E["EMU_CERT_PEM"]).read()
for label, cred in [
    ("RS256 x5t", {"private_key": key, "thumbprint": E["EMU_CERT_THUMBPRINT"]}),
    ("RS256 x5t with x5c", {"private_key": key, "thumbprint": E["EMU_CERT_THUMBPRINT"], "public_certificate": cert}),
]:
    ca_app = msal.ConfidentialClientApplication(
        E["EMU_CERT_APP"], client_credential=cred, authority=f"{HOST}/{TENANT}", instance_discovery=False, verify=CA,
    )
    r = ca_app.acquire_token_for_client(["https://vault.azure.net/.default"])
    check(f"client credentials with certificate ({label})", "access_token" in r, r)

print(f"{passed} passed, 0 failed")
