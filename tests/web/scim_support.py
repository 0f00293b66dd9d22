"""Helpers shared by the SCIM endpoint tests."""

from __future__ import annotations

from typing import Any

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
ALL_SCOPES = [
    "users:read", "users:write", "groups:read", "groups:write", "users:deprovision", "bulk",
]


def auth(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json", **extra}


def user_body(user_name: str, **extra: Any) -> dict[str, Any]:
    return {
        "schemas": [USER],
        "userName": user_name,
        "name": {"givenName": user_name.split("@")[0].title(), "familyName": "Test"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        **extra,
    }


def patch(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH], "Operations": list(ops)}

# Tools that fire hundreds of requests (scim2-tester, hypothesis) run with the per-key and
# per-IP rate limits out of the way; the limits have their own tests in the keys area.
UNLIMITED: dict[str, Any] = {
    "key_rate_per_second": 1e6, "key_rate_burst": 1_000_000,
    "ip_rate_per_second": 1e6, "ip_rate_burst": 1_000_000,
}
