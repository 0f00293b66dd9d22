"""The SCIM create's audit event from the bytes of its answer (issue 5 point 6: the audit
adds under 10% to a create; docs/performance.md, auditpy): the rendered User is
serialised once, sorted, for the entry and the response, and its secret-key search is
skipped when the configured User schemas declare no secret-named attribute the renderer
emits. The entry stays byte-for-byte the reference ``canonical(chain(event_document(...)))``
and, once a configured extension declares such an attribute, is redacted as before."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from starlette.testclient import TestClient

from ostiary.audit.entries import canonical, chain, event_document, place
from ostiary.audit.events import REDACTED, Actor, AuditEvent, RequestInfo
from ostiary.scim.registry import build_registry
from ostiary.scim.users import build_user, canonical_body, render_user, renders_no_secrets
from ostiary.web.app import create_app
from tests.audit.support import hashed_document
from tests.support.deploy import Deployment, deploy
from tests.web.scim_support import ALL_SCOPES, ENTERPRISE, USER, auth, user_body

EXT = "urn:example:params:scim:schemas:extension:vault:1.0:User"
# RFC 7643 section 7 schema with attributes whose names audit redaction replaces: a
# top-level ``token`` returned "never" and a ``secret`` inside a complex attribute.
SECRET_EXTENSION = {
    "id": EXT,
    "name": "Vault",
    "resourceType": "User",
    "attributes": [
        {"name": "label"},
        {"name": "token", "returned": "never"},
        {"name": "wallet", "type": "complex", "subAttributes": [{"name": "Secret"}]},
    ],
}
RICH = {
    "schemas": [USER, ENTERPRISE],
    "userName": "zoë@example.com",
    "externalId": "ext-1",
    "name": {"givenName": "Zoë", "familyName": "Ångström", "formatted": "Zoë Ångström"},
    "displayName": "Zoë",
    "nickName": "z",
    "profileUrl": "https://example.com/z",
    "title": "Key keeper",  # "key" in a value, not a key: no secret
    "userType": "Employee",
    "preferredLanguage": "fr",
    "locale": "fr-FR",
    "timezone": "Europe/Paris",
    "active": True,
    "password": "correct horse",
    "emails": [{"value": "zoë@example.com", "type": "work", "primary": True}],
    "phoneNumbers": [{"value": "+33 1", "type": "work"}],
    "ims": [{"value": "zz", "type": "xmpp"}],
    "photos": [{"value": "https://example.com/p.png", "type": "photo"}],
    "addresses": [{"locality": "Paris", "country": "FR", "type": "work"}],
    "entitlements": [{"value": "e"}],
    "roles": [{"value": "r"}],
    "x509Certificates": [{"value": "TUlJ"}],
    ENTERPRISE: {
        "employeeNumber": "7",
        "costCenter": "c",
        "organization": "o",
        "division": "d",
        "department": "token",
        "manager": {"value": "mgr-1"},
    },
}


def _event(out: dict[str, Any], **fast: Any) -> AuditEvent:
    return AuditEvent(
        action="scim.user.create",
        actor=Actor(kind="key", id="k1", auth="bearer_key", key_version=1),
        target_type="User",
        target_id=out["id"],
        request=RequestInfo(source_ip="192.0.2.1", user_agent="ua", request_id="r1"),
        after=out,
        **fast,
    )


def test_default_schemas_take_the_fast_path_with_identical_entry_bytes() -> None:
    """The default User schemas (core and enterprise) declare one secret-named attribute,
    ``password``, which the renderer never emits; a rendered User with every attribute,
    non-ASCII text, groups and a manager gives the same entry from its answer's bytes
    without the search as the reference (redact, serialise)."""
    kind = build_registry().user
    assert kind.secret_paths == (("password",),)
    assert renders_no_secrets(kind)
    doc = canonical_body(kind, RICH)
    user = build_user(doc, user_id="u-1", hash_password=lambda p: "$argon2id$x", now=START)
    groups = [{"value": "g1", "$ref": "https://x/Groups/g1", "display": "G", "type": "direct"}]
    out = render_user(user, "https://x/scim/v2", groups)
    assert "password" not in out and out[ENTERPRISE]["manager"]["$ref"]
    raw = orjson.dumps(out, option=orjson.OPT_SORT_KEYS)
    fast = hashed_document(_event(out, after_json=raw, after_clean=True), "e-1", START_TEXT)
    slow = hashed_document(_event(out), "e-1", START_TEXT)
    reference = canonical(chain(event_document(_event(out), "e-1", START), 5, None))
    assert place(fast, 5, None) == place(slow, 5, None) == reference
    assert raw in reference  # the answer's bytes, embedded as they are


def test_a_secret_named_extension_attribute_turns_the_fast_path_off() -> None:
    kind = build_registry(json.dumps([SECRET_EXTENSION])).user
    assert kind.secret_paths == (("password",), (EXT, "token"), (EXT, "wallet", "Secret"))
    assert not renders_no_secrets(kind)
    # Any spelling redaction folds onto a secret name counts (the Kelvin sign lowers to k).
    odd = {**SECRET_EXTENSION, "attributes": [{"name": "to\u212aen"}]}
    assert not renders_no_secrets(build_registry(json.dumps([odd])).user)
    # A secret name declared by a Group extension does not concern rendered Users.
    group_ext = {**SECRET_EXTENSION, "resourceType": "Group"}
    assert renders_no_secrets(build_registry(json.dumps([group_ext])).user)


def _entries(dep: Deployment) -> list[bytes]:
    with dep.db.read() as conn:
        rows = conn.execute(
            text("SELECT entry FROM audit_events WHERE action = 'scim.user.create' ORDER BY seq")
        )
        return [r[0].encode() if isinstance(r[0], str) else bytes(r[0]) for r in rows]


def test_create_answers_with_the_bytes_its_entry_embeds(
    deployment: Deployment, client: TestClient
) -> None:
    key = deployment.make_key(ALL_SCOPES).token
    rich = {**RICH, ENTERPRISE: {k: v for k, v in RICH[ENTERPRISE].items() if k != "manager"}}
    resp = client.post("/scim/v2/Users", json=rich, headers=auth(key))
    assert resp.status_code == 201, resp.text
    (entry,) = _entries(deployment)
    assert resp.content in entry and entry == canonical(orjson.loads(entry))
    assert orjson.loads(entry)["after"] == resp.json()
    # Asked-for attributes still shape the answer (RFC 7644 section 3.9); the entry is whole.
    body = user_body("ada@example.com")
    resp = client.post("/scim/v2/Users?attributes=title", json=body, headers=auth(key))
    assert set(resp.json()) == {"schemas", "id", "meta", "userName"}
    assert orjson.loads(_entries(deployment)[1])["after"]["emails"][0]["value"] == body["userName"]


@pytest.fixture
def vault_client(database_url: str, tmp_path: Path) -> Iterator[tuple[Deployment, TestClient]]:
    dep = deploy(database_url, tmp_path, scim_extensions=json.dumps([SECRET_EXTENSION]))
    app = create_app(dep.settings)
    with TestClient(app, base_url="http://testserver") as tc:
        yield dep, tc
    app.state.ctx.db.dispose()
    dep.db.dispose()


def test_a_secret_named_extension_attribute_is_still_redacted(
    vault_client: tuple[Deployment, TestClient],
) -> None:
    """Issue 5: secrets never reach the log, whatever the configured schemas declare."""
    dep, client = vault_client
    key = dep.make_key(ALL_SCOPES).token
    body = user_body("ada@example.com")
    body["schemas"] = [USER, EXT]
    body[EXT] = {"label": "l", "token": "tok-123", "wallet": {"Secret": "s-456"}}
    resp = client.post("/scim/v2/Users", json=body, headers=auth(key))
    assert resp.status_code == 201, resp.text
    assert resp.json()[EXT] == {"label": "l", "wallet": {"Secret": "s-456"}}  # "never" left
    (entry,) = _entries(dep)
    assert b"tok-123" not in entry and b"s-456" not in entry
    after = orjson.loads(entry)["after"]
    assert after[EXT] == {"label": "l", "token": REDACTED, "wallet": {"Secret": REDACTED}}
    assert entry == canonical(orjson.loads(entry))


START = datetime(2026, 3, 1, 12, 0, 0, 250, tzinfo=UTC)
START_TEXT = START.isoformat()


MAYBE = st.none() | st.text(max_size=3) | st.integers(0, 3)


@settings(max_examples=200, deadline=None)
@given(actor=st.builds(Actor, MAYBE, MAYBE, MAYBE, MAYBE, MAYBE, MAYBE))
def test_spelled_out_as_dict_is_the_set_fields_in_order(actor: Actor) -> None:
    """Actor and RequestInfo spell ``as_dict`` out (cheaper in every write): the same
    keys, values and order as the comprehension over the dataclass fields."""
    info = RequestInfo(*(getattr(actor, n) for n in ("auth", "id", "jkt")))
    for value in (actor, info):
        expected = {f.name: getattr(value, f.name) for f in fields(value)}
        expected = {k: v for k, v in expected.items() if v is not None}
        assert list(value.as_dict().items()) == list(expected.items())
