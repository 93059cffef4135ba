"""azure-identity ManagedIdentityCredential (App Service protocol) and WorkloadIdentityCredential
against the emulator, unchanged: the Rust driver sets IDENTITY_ENDPOINT / IDENTITY_HEADER as the
platform does, and writes projected service-account token files signed by the issuer it plays."""
import os
import sys
import time

import localhost_dns  # noqa: F401  (RFC 6761 loopback names)
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ManagedIdentityCredential, WorkloadIdentityCredential
from azure.keyvault.secrets import SecretClient

E = os.environ
passed = 0


def check(name, cond, detail=""):
    global passed
    if not cond:
        print(f"FAIL {name}: {detail}")
        print(f"{passed} passed, 1 failed")
        sys.exit(1)
    passed += 1
    print(f"ok {name}")


def refused(credential, scope):
    try:
        credential.get_token(scope)
    except ClientAuthenticationError as e:
        return str(e)
    return None


scope = E["EMU_KV_RESOURCE"] + "/.default"

# System-assigned: no argument, the platform's variables only.
system = ManagedIdentityCredential()
token = system.get_token(scope)
check("system-assigned token", token.token and token.expires_on > time.time(), token.expires_on)
vault = SecretClient(E["EMU_VAULT_URL"], system)  # challenge verification on (default)
vault.set_secret("py-mi-refresh-token", "rt-1")
vault.set_secret("py-mi-refresh-token", "rt-2")
check("system-assigned store, rotate, read", vault.get_secret("py-mi-refresh-token").value == "rt-2")

# User-assigned by client ID.
user = SecretClient(E["EMU_VAULT_URL"], ManagedIdentityCredential(client_id=E["EMU_USER_MI_CLIENT"]))
user.set_secret("py-mi-refresh-token", "rt-3")
check("user-assigned store, rotate, read", user.get_secret("py-mi-refresh-token").value == "rt-3")

# An identity not assigned to the host is refused.
error = refused(ManagedIdentityCredential(client_id="60000000-0000-4000-8000-0000000000ff"), scope)
check("unassigned identity refused", error and "Unable to load the proper Managed Identity" in error, error)

# Workload identity: the projected token file, the app's tenant and client ID.
workload = WorkloadIdentityCredential(
    tenant_id=E["EMU_PARTNER_TENANT"], client_id=E["EMU_KV_APP"],
    token_file_path=E["EMU_SA_TOKEN_FILE"], authority=E["EMU_AUTHORITY_HOST"],
)
wi_vault = SecretClient(E["EMU_VAULT_URL"], workload)
wi_vault.set_secret("py-wi-refresh-token", "rt-1")
wi_vault.set_secret("py-wi-refresh-token", "rt-2")
check("workload identity store, rotate, read", wi_vault.get_secret("py-wi-refresh-token").value == "rt-2")

wrong = WorkloadIdentityCredential(
    tenant_id=E["EMU_PARTNER_TENANT"], client_id=E["EMU_KV_APP"],
    token_file_path=E["EMU_SA_TOKEN_FILE_WRONG_SUBJECT"], authority=E["EMU_AUTHORITY_HOST"],
)
error = refused(wrong, scope)
check("wrong subject refused with AADSTS700213", error and "AADSTS700213" in error, error)

print(f"{passed} passed, 0 failed")
