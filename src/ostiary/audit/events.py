"""Audit events: who did what to which target, how they authenticated, and the outcome.

Every state change and security decision writes one of these in the same transaction as
the change (``ostiary.store.repositories.audit.AuditLog.append``). Before/after documents
pass through :func:`redact` so secrets and password hashes never reach the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson

REDACTED = "[REDACTED]"
_SECRET_FIELDS = frozenset(
    {
        "password",
        "password_hash",
        "passwordhash",
        "secret",
        "client_secret",
        "secret_hmac",
        "token",
        "key",
        "private_key",
    }
)
# How a secret field's key looks in compact JSON (after lowering ASCII letters).
_SECRET_KEY = re.compile(b'"(?:%s)":' % b"|".join(n.encode() for n in sorted(_SECRET_FIELDS)))
# Every match of _SECRET_KEY contains "password", "secret", "token" or 'key":' (each
# name holds one of the first three or ends in "key"): ``has_no_secrets`` looks for these
# first.


# The frozen classes below build every request's actor and facts and every event. A frozen
# dataclass's generated ``__init__`` sets each field through ``object.__setattr__`` (about
# 1,300 instructions a field; 23,000 for an event against 8,900 unfrozen), so each spells
# out an ``__init__`` that sets the instance ``__dict__`` once, to a new dict of the fields
# (about 12,600 for an event). Filling the existing ``self.__dict__`` item by item costs
# 1,500 less but leaves a dict that attribute reads cannot specialise on (~280 more a
# read; the append reads ~30). They stay frozen: assignment after ``__init__`` still
# raises. The parameters are the fields, in order, with the same defaults:
# tests/audit/test_event_init.py checks each against the dataclass-generated ``__init__``.
_setattr = object.__setattr__


@dataclass(frozen=True, init=False)
class Actor:
    """Who acted. ``kind`` is ``key``, ``user``, ``client``, ``admin``, ``cli`` or ``system``.

    ``auth`` says how they proved it (``bearer_key``, ``client_secret_basic``,
    ``private_key_jwt``, ``dpop``, ``password``, ``password+totp``, ``local``);
    ``key_version`` is the provisioning key secret version that matched;
    ``jkt`` is the DPoP key thumbprint when the call was sender-constrained."""

    kind: str
    id: str
    auth: str | None = None
    key_version: int | None = None
    client_id: str | None = None
    jkt: str | None = None

    def __init__(
        self,
        kind: str,
        id: str,
        auth: str | None = None,
        key_version: int | None = None,
        client_id: str | None = None,
        jkt: str | None = None,
    ) -> None:
        _setattr(
            self,
            "__dict__",
            {
                "kind": kind,
                "id": id,
                "auth": auth,
                "key_version": key_version,
                "client_id": client_id,
                "jkt": jkt,
            },
        )

    def as_dict(self) -> dict[str, Any]:
        """The fields that are set, in field order. Spelled out: every audited write
        builds one, and this is half the cost of a comprehension over ``__dict__``
        (tests/audit/test_scim_create_entry.py checks the two agree)."""
        out: dict[str, Any] = {}
        if self.kind is not None:  # typed str, but a caller may pass None
            out["kind"] = self.kind
        if self.id is not None:
            out["id"] = self.id
        if self.auth is not None:
            out["auth"] = self.auth
        if self.key_version is not None:
            out["key_version"] = self.key_version
        if self.client_id is not None:
            out["client_id"] = self.client_id
        if self.jkt is not None:
            out["jkt"] = self.jkt
        return out

    def as_json(self) -> orjson.Fragment:
        """``as_dict()`` as canonical JSON (sorted keys), for embedding in an entry. Kept
        on the instance after the first call: a key's actor is shared by its requests
        (``web.audit.key_actor``), and building and serialising the dict per event cost
        ~3,100 instructions more than this look-up (docs/performance.md, audit11). Not a
        field (equality, hashing, ``repr`` and ``fields`` ignore it); the fields it is made
        of cannot change after ``__init__`` (frozen)."""
        kept: orjson.Fragment | None = self.__dict__.get("_json")
        if kept is None:
            kept = orjson.Fragment(orjson.dumps(self.as_dict(), option=orjson.OPT_SORT_KEYS))
            self.__dict__["_json"] = kept
        return kept


SYSTEM = Actor(kind="system", id="ostiary")


@dataclass(frozen=True, init=False)
class RequestInfo:
    source_ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    def __init__(
        self,
        source_ip: str | None = None,
        user_agent: str | None = None,
        request_id: str | None = None,
    ) -> None:
        _setattr(
            self,
            "__dict__",
            {"source_ip": source_ip, "user_agent": user_agent, "request_id": request_id},
        )

    def as_dict(self) -> dict[str, Any]:
        """The fields that are set, in field order (spelled out, as ``Actor.as_dict``)."""
        out: dict[str, Any] = {}
        if self.source_ip is not None:
            out["source_ip"] = self.source_ip
        if self.user_agent is not None:
            out["user_agent"] = self.user_agent
        if self.request_id is not None:
            out["request_id"] = self.request_id
        return out


# An event's default ``request``: frozen, so one instance serves every event without one.
NO_REQUEST = RequestInfo()


@dataclass(frozen=True, init=False)
class AuditEvent:
    action: str  # dotted: "scim.user.create", "key.revoke", "auth.key.refused", ...
    actor: Actor
    outcome: str = "success"  # "success" | "failure" | "denied"
    target_type: str | None = None
    target_id: str | None = None
    request: RequestInfo = field(default_factory=RequestInfo)
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    # ``after`` as canonical JSON (sorted keys, exactly ``orjson.dumps(after,
    # option=OPT_SORT_KEYS)``) when the caller has those bytes anyway (a SCIM create
    # answers with them): the append embeds them instead of serialising ``after`` again.
    after_json: bytes | None = None
    # The caller proved that ``after`` has no key, at any depth, that ``redact`` replaces
    # (a User rendered under a schema configuration with no secret-named attribute:
    # ``scim.users.renders_no_secrets`` over ``ResourceKind.secret_paths``), so the append
    # skips the secret-key search.
    after_clean: bool = False

    def __init__(
        self,
        action: str,
        actor: Actor,
        outcome: str = "success",
        target_type: str | None = None,
        target_id: str | None = None,
        request: RequestInfo = NO_REQUEST,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        detail: dict[str, Any] | None = None,
        after_json: bytes | None = None,
        after_clean: bool = False,
    ) -> None:
        _setattr(
            self,
            "__dict__",
            {
                "action": action,
                "actor": actor,
                "outcome": outcome,
                "target_type": target_type,
                "target_id": target_id,
                "request": request,
                "before": before,
                "after": after,
                "detail": {} if detail is None else detail,  # the field's default_factory
                "after_json": after_json,
                "after_clean": after_clean,
            },
        )


def is_secret_field(name: str) -> bool:
    """Whether :func:`redact` replaces the value of a key named ``name`` (any case)."""
    return name.lower() in _SECRET_FIELDS


def redact(doc: Any) -> Any:
    """``doc`` with every secret-bearing field replaced (at any depth): a copy if anything
    was replaced, else ``doc`` itself (callers serialise it and never modify it)."""
    return _redacted(doc) if _may_hold_secrets(doc) else doc


def _may_hold_secrets(doc: Any) -> bool:
    """False only when no key, at any depth, is a secret field's name. Serialising in C
    and searching the bytes is several times cheaper than walking the document in Python,
    and every audited write passes its documents through here. A quote inside a JSON
    string is escaped, so '"name":' only matches a key; non-ASCII text takes the exact
    walk (``str.lower`` can map a non-ASCII key onto an ASCII name)."""
    if not isinstance(doc, dict | list):
        return False
    try:
        raw = orjson.dumps(doc)
    except TypeError:  # not JSON-serialisable (non-str keys, ...): let the walk decide
        return True
    return not has_no_secrets(raw)


def has_no_secrets(raw: bytes) -> bool:
    """True only when the serialised JSON ``raw`` has no key, at any depth, that is a
    secret field's name: ASCII (non-ASCII text takes the exact walk) and no match."""
    if not raw.isascii():
        return False
    low = raw.lower()
    # A substring search (C) costs a few hundred instructions; the regex tries its nine
    # names at every quote (~12,000 for a rendered SCIM user), so it runs only when a
    # part is present. ``find``, not ``in``: bytes ``__contains__`` first tries its
    # argument as an integer, raising and clearing a TypeError each time.
    find = low.find
    if find(b"password") < 0 and find(b"secret") < 0 and find(b"token") < 0 and find(b'key":') < 0:
        return True
    return _SECRET_KEY.search(low) is None


def _redacted(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {
            k: (REDACTED if k.lower() in _SECRET_FIELDS else _redacted(v)) for k, v in doc.items()
        }
    if isinstance(doc, list):
        return [_redacted(v) for v in doc]
    return doc
