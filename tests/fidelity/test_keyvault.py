"""azure-identity + azure-keyvault-secrets against the emulator, challenge verification ON."""
import os
import sys

import localhost_dns  # noqa: F401  (RFC 6761 loopback names)
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ClientSecretCredential
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


# REQUESTS_CA_BUNDLE (set by the Rust harness) makes the requests transport trust the emulator CA.
cred = ClientSecretCredential(
    E["EMU_PARTNER_TENANT"], E["EMU_KV_OPERATOR_APP"], E["EMU_KV_OPERATOR_SECRET"],
    authority=E["EMU_AUTHORITY_HOST"], disable_instance_discovery=True,
)
client = SecretClient(E["EMU_VAULT_URL"], cred)  # verify_challenge_resource defaults to True
s = client.set_secret("py-refresh-token", "v1", content_type="text/plain", tags={"app": "csp"})
check("set", s.value == "v1" and s.properties.content_type == "text/plain", s)
client.set_secret("py-refresh-token", "v2")
check("get latest", client.get_secret("py-refresh-token").value == "v2")
check("get version", client.get_secret("py-refresh-token", s.properties.version).value == "v1")
names = [p.name for p in client.list_properties_of_secrets()]
check("list", "py-refresh-token" in names, names)
versions = list(client.list_properties_of_secret_versions("py-refresh-token"))
check("list versions", len(versions) == 2, versions)
deleted = client.begin_delete_secret("py-refresh-token").result()
check("delete", deleted.name == "py-refresh-token" and deleted.recovery_id, deleted)
try:
    client.get_secret("py-refresh-token")
    check("get after delete fails", False)
except ResourceNotFoundError as e:
    check("get after delete fails with SecretNotFound", e.error.code == "SecretNotFound", e)
recovered = client.begin_recover_deleted_secret("py-refresh-token").result()
check("recover", recovered.name == "py-refresh-token")
check("value after recover", client.get_secret("py-refresh-token").value == "v2")

# The least-privilege access app may get and set, not list.
limited = SecretClient(E["EMU_VAULT_URL"], ClientSecretCredential(
    E["EMU_PARTNER_TENANT"], E["EMU_KV_APP"], E["EMU_KV_SECRET"],
    authority=E["EMU_AUTHORITY_HOST"], disable_instance_discovery=True,
))
check("access app can get", limited.get_secret("py-refresh-token").value == "v2")
try:
    list(limited.list_properties_of_secrets())
    check("access app cannot list", False)
except HttpResponseError as e:
    check("access app cannot list (403)", e.status_code == 403, e)

print(f"{passed} passed, 0 failed")
