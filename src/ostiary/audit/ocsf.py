"""Audit events as OCSF 1.3 events in the Identity & Access Management category (3).

Classes used: Account Change (3001), Authentication (3002), Entity Management (3004),
User Access Management (3005), Group Management (3006). ``type_uid`` is
``class_uid * 100 + activity_id``; ``time`` is milliseconds since the epoch. What OCSF has
no attribute for goes under ``unmapped.ostiary``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

OCSF_VERSION = "1.3.0"
CATEGORY_IAM = 3
ACCOUNT_CHANGE, AUTHENTICATION, ENTITY_MANAGEMENT, USER_ACCESS, GROUP_MANAGEMENT = (
    3001,
    3002,
    3004,
    3005,
    3006,
)
CLASS_NAMES = {
    ACCOUNT_CHANGE: "Account Change",
    AUTHENTICATION: "Authentication",
    ENTITY_MANAGEMENT: "Entity Management",
    USER_ACCESS: "User Access Management",
    GROUP_MANAGEMENT: "Group Management",
}
OTHER = 99

# Account Change activities (OCSF account_change.activity_id)
_ACCOUNT = {
    "create": 1,
    "enable": 2,
    "password": 3,
    "password_reset": 4,
    "disable": 5,
    "delete": 6,
    "lock": 9,
    "mfa_enable": 10,
    "mfa_disable": 11,
}
_ENTITY = {
    "create": 1,
    "read": 2,
    "update": 3,
    "replace": 3,
    "patch": 3,
    "rotate": 3,
    "disable": 3,
    "enable": 3,
    "delete": 4,
    "revoke": 4,
}
_AUTH = {"login": 1, "signin": 1, "logout": 2, "signout": 2, "token": 3, "issue": 3}
_GROUP = {
    "assign": 1,
    "grant": 1,
    "revoke": 2,
    "member_add": 3,
    "add": 3,
    "member_remove": 4,
    "remove": 4,
}
_SEVERITY = {"success": 1, "failure": 2, "denied": 3}  # Informational, Low, Medium
_STATUS = {"success": (1, "Success"), "failure": (2, "Failure"), "denied": (2, "Failure")}


def classify(action: str) -> tuple[int, int]:
    """(class_uid, activity_id) for a dotted action such as ``scim.user.create``."""
    parts = action.split(".")
    verb = parts[-1]
    noun = parts[-2] if len(parts) > 1 else ""
    if parts[0] in {"auth", "oidc", "login", "session"} or noun in {"login", "session", "token"}:
        if noun == "token" or verb in {"token", "issue"}:
            return AUTHENTICATION, 3  # Authentication Ticket
        return AUTHENTICATION, _AUTH.get(verb, _AUTH.get(noun, OTHER))
    if noun == "user" or parts[0] == "user":
        return ACCOUNT_CHANGE, _ACCOUNT.get(verb, OTHER)
    if noun in {"member", "members"} or (noun == "group" and verb in _GROUP):
        return GROUP_MANAGEMENT, _GROUP.get(f"member_{verb}", _GROUP.get(verb, OTHER))
    if noun in {"role", "roles", "scope", "scopes", "privilege"}:
        return USER_ACCESS, 2 if verb in {"revoke", "remove", "delete"} else 1
    return ENTITY_MANAGEMENT, _ENTITY.get(verb, OTHER)


def _time_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def _actor(actor: dict[str, Any]) -> dict[str, Any]:
    kind = actor.get("kind", "system")
    user: dict[str, Any] = {"uid": str(actor.get("id")), "name": str(actor.get("id"))}
    user["type_id"], user["type"] = {
        "user": (1, "User"),
        "admin": (2, "Admin"),
        "system": (3, "System"),
    }.get(kind, (99, kind.capitalize()))
    if actor.get("key_version") is not None:
        user["credential_uid"] = f"{actor.get('id')}#v{actor['key_version']}"
    out: dict[str, Any] = {"user": user}
    if actor.get("client_id"):
        out["app_uid"] = actor["client_id"]
    return out


def _subject(doc: dict[str, Any]) -> dict[str, Any]:
    target = doc.get("target") or {}
    state = doc.get("after") or doc.get("before") or {}
    name = state.get("userName") or state.get("displayName") or state.get("name")
    out = {"uid": str(target.get("id") or doc["actor"].get("id"))}
    if name:
        out["name"] = str(name)
    return out


def to_ocsf(doc: dict[str, Any], product_version: str) -> dict[str, Any]:
    """One audit event document (as hashed) in OCSF form."""
    class_uid, activity_id = classify(doc["action"])
    outcome = doc.get("outcome", "success")
    status_id, status = _STATUS.get(outcome, (99, "Other"))
    request = doc.get("request") or {}
    event: dict[str, Any] = {
        "category_uid": CATEGORY_IAM,
        "category_name": "Identity & Access Management",
        "class_uid": class_uid,
        "class_name": CLASS_NAMES[class_uid],
        "activity_id": activity_id,
        "type_uid": class_uid * 100 + activity_id,
        "severity_id": _SEVERITY.get(outcome, 0),
        "time": _time_ms(doc["time"]),
        "status_id": status_id,
        "status": status,
        "message": doc["action"],
        "actor": _actor(doc["actor"]),
        "metadata": {
            "version": OCSF_VERSION,
            "uid": doc["id"],
            "original_time": doc["time"],
            "log_name": "ostiary-audit",
            "product": {"name": "Ostiary", "vendor_name": "Ostiary", "version": product_version},
        },
        "unmapped": {
            "ostiary": {k: doc[k] for k in ("action", "position", "detail", "changes") if k in doc}
        },
    }
    if request.get("request_id"):
        event["metadata"]["correlation_uid"] = request["request_id"]
    if request.get("source_ip"):
        event["src_endpoint"] = {"ip": request["source_ip"]}
    if request.get("user_agent") or request.get("request_id"):
        event["http_request"] = {
            k: v
            for k, v in (
                ("user_agent", request.get("user_agent")),
                ("uid", request.get("request_id")),
            )
            if v
        }
    _class_specific(event, class_uid, doc)
    return event


def _class_specific(event: dict[str, Any], class_uid: int, doc: dict[str, Any]) -> None:
    target = doc.get("target") or {}
    if class_uid in {ACCOUNT_CHANGE, USER_ACCESS}:
        event["user"] = {**_subject(doc), "type_id": 1, "type": "User"}
        if class_uid == USER_ACCESS:
            detail = doc.get("detail") or {}
            event["privileges"] = [
                str(p) for p in detail.get("privileges", detail.get("scopes", []))
            ]
    elif class_uid == AUTHENTICATION:
        who = doc["actor"] if not target.get("id") else None
        event["user"] = _actor(who)["user"] if who else _subject(doc)
        event["is_mfa"] = "totp" in str(doc["actor"].get("auth", ""))
        if doc["actor"].get("auth"):
            event["auth_protocol_id"], event["auth_protocol"] = 99, str(doc["actor"]["auth"])
    elif class_uid == GROUP_MANAGEMENT:
        event["group"] = _subject(doc)
        member = (doc.get("detail") or {}).get("member")
        if member:
            event["user"] = {"uid": str(member)}
    else:
        event["entity"] = {**_subject(doc), "type": str(target.get("type") or "Unknown")}
        if doc.get("after") is not None:
            event["entity_result"] = {**event["entity"], "data": doc["after"]}
