"""Schemas, custom extensions from configuration, and validation (RFC 7643 sections 2, 7)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scim2_models import Schema

from ostiary.core.errors import ConfigError
from ostiary.scim.document import check_immutable, normalise
from ostiary.scim.errors import InvalidValue, Mutability
from ostiary.scim.registry import build_registry

URN = "urn:example:params:scim:schemas:extension:acme:2.0:User"
EXTENSION = {
    "id": URN,
    "name": "AcmeUser",
    "resourceType": "User",
    "attributes": [
        {"name": "badge", "type": "integer", "required": True},
        {"name": "clearance", "type": "string", "canonicalValues": ["low", "high"]},
        {"name": "tags", "type": "string", "multiValued": True},
        {"name": "hiredOn", "type": "dateTime", "mutability": "immutable"},
    ],
}
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def _kind():  # type: ignore[no-untyped-def]
    return build_registry(json.dumps([EXTENSION])).user


def test_schema_documents_parse_with_scim2_models():
    """Every /Schemas document is a valid RFC 7643 section 7 Schema."""
    registry = build_registry(json.dumps([EXTENSION]))
    for schema in registry.schema_defs():
        parsed = Schema.model_validate(schema.document("http://x/scim/v2"))
        assert parsed.id == schema.urn


def test_extension_from_a_file(tmp_path: Path):
    path = tmp_path / "ext.json"
    path.write_text(json.dumps([EXTENSION]))
    assert build_registry(str(path)).user.extension(URN) is not None


@pytest.mark.parametrize(
    "bad",
    [
        "[{]",
        json.dumps([{**EXTENSION, "resourceType": "Device"}]),
        json.dumps([{**EXTENSION, "id": "not-a-urn"}]),
        json.dumps([{**EXTENSION, "attributes": [{"name": "x", "type": "float"}]}]),
        "/does/not/exist.json",
    ],
)
def test_bad_extension_configuration_is_a_config_error(bad: str):
    with pytest.raises(ConfigError):
        build_registry(bad)


def _body(**ext: object) -> dict[str, object]:
    return {"schemas": [USER, URN], "userName": "u", URN: ext}


def test_extension_values_are_validated():
    """Types, required, multiValued and canonicalValues of a configured extension."""
    kind = _kind()
    doc = normalise(kind, _body(badge=7, clearance="high", tags="solo"), extra_urns=set())
    assert doc[URN] == {"badge": 7, "clearance": "high", "tags": ["solo"]}
    for bad in (
        {"badge": "7"},
        {"badge": 7, "clearance": "medium"},
        {"badge": 7, "hiredOn": "yesterday"},
        {"badge": 7, "unknown": 1},
        {"clearance": "low"},
    ):
        with pytest.raises(InvalidValue):
            normalise(kind, _body(**bad), extra_urns=set())


def test_immutable_value_cannot_change_once_set():
    """RFC 7643 section 2.2 mutability immutable: 400 mutability."""
    kind = _kind()
    old = normalise(kind, _body(badge=1, hiredOn="2024-01-01T00:00:00Z"), extra_urns=set())
    same = normalise(kind, _body(badge=2, hiredOn="2024-01-01T00:00:00Z"), extra_urns=set())
    check_immutable(kind, old, same)
    changed = normalise(kind, _body(badge=1, hiredOn="2025-01-01T00:00:00Z"), extra_urns=set())
    with pytest.raises(Mutability):
        check_immutable(kind, old, changed)


def test_read_only_and_null_input_is_dropped_and_booleans_coerced():
    kind = _kind()
    body = {
        "schemas": [USER],
        "userName": "u",
        "id": "x",
        "groups": [{"value": "g"}],
        "displayName": None,
        "active": "False",
        "meta": {},
    }
    assert normalise(kind, body, extra_urns=set()) == {"userName": "u", "active": False}


def test_filters_resolve_against_the_schemas_that_discovery_serves():
    """RFC 7643 section 7: one catalogue. What a filter, sortBy or attributes resolves is
    the very attribute /Schemas documents (so caseExact and returned cannot drift), the
    configured extensions included."""
    registry = build_registry(json.dumps([EXTENSION]))
    view = registry.user.search
    for schema in registry.schema_defs():
        attrs = view.core if schema.urn == USER else dict(view.extensions).get(schema.urn)
        if attrs is None:
            continue  # a Group schema: checked through the group view below
        for attr in schema.attrs:
            assert attrs[attr.name.lower()] is attr
    group = registry.group
    for attr in group.core.attrs:
        assert group.search.core[attr.name.lower()] is attr
    members = group.core.attr("members")
    assert members is not None and members.child("value").document()["caseExact"] is True  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "bad",
    [
        {"id": 'urn:x:"quoted"', "resourceType": "User", "attributes": [{"name": "a"}]},
        {"id": "urn:x:y", "resourceType": "User", "attributes": [{"name": "not a name"}]},
    ],
)
def test_extension_names_a_filter_path_cannot_carry_are_refused(bad):  # type: ignore[no-untyped-def]
    """RFC 7643 section 2.1 ATTRNAME: an attribute a filter could never name, or a URN a
    JSON path cannot quote, stops start-up instead of failing queries later."""
    with pytest.raises(ConfigError):
        build_registry(json.dumps([bad]))
