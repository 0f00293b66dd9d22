"""The PATCH engine on canonical documents (RFC 7644 section 3.5.2), no database involved."""

from __future__ import annotations

from typing import Any

import pytest

from ostiary.scim.errors import InvalidFilter, InvalidPath, Mutability, NoTarget, ScimError
from ostiary.scim.patch import Operation, Patcher, equality_seed, parse_operations
from ostiary.scim.registry import build_registry

KIND = build_registry().user
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _doc() -> dict[str, Any]:
    return {
        "userName": "ada",
        "active": True,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [
            {"value": "ada@work.example", "type": "work", "primary": True},
            {"value": "ada@home.example", "type": "home"},
        ],
    }


def _apply(*ops: tuple[str, str | None, Any]) -> dict[str, Any]:
    return Patcher(KIND, _doc()).apply([Operation(o, p, v) for o, p, v in ops])


def test_ops_are_case_insensitive_and_validated():
    """Section 3.5.2: op is add/replace/remove; Entra capitalises them."""
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Replace", "path": "displayName", "value": "x"}],
    }
    assert parse_operations(body)[0].op == "replace"
    with pytest.raises(ScimError):
        parse_operations({**body, "Operations": [{"op": "merge", "path": "x", "value": 1}]})
    with pytest.raises(ScimError):
        parse_operations({**body, "schemas": []})


def test_replace_simple_and_sub_attribute():
    doc = _apply(("replace", "displayName", "Countess"), ("replace", "name.givenName", "A."))
    assert doc["displayName"] == "Countess"
    assert doc["name"] == {"givenName": "A.", "familyName": "Lovelace"}


def test_add_complex_merges_sub_attributes():
    """Section 3.5.2.1: adding a complex value sets the given sub-attributes only."""
    doc = _apply(("add", "name", {"middleName": "King"}))
    assert doc["name"] == {"givenName": "Ada", "familyName": "Lovelace", "middleName": "King"}


def test_add_to_multi_valued_appends_and_moves_primary():
    doc = _apply(("add", "emails", [{"value": "a@new.example", "type": "other", "primary": True}]))
    assert len(doc["emails"]) == 3
    assert [e.get("primary") for e in doc["emails"]] == [False, False, True]


def test_value_filter_path_with_sub_attribute():
    doc = _apply(("replace", 'emails[type eq "work"].value', "ada@new.example"))
    assert doc["emails"][0]["value"] == "ada@new.example"
    assert doc["emails"][1]["value"] == "ada@home.example"


def test_value_filter_is_case_insensitive_for_non_case_exact():
    """RFC 7644 section 3.4.2.2: caseExact false sub-attributes compare ignoring case."""
    doc = _apply(("remove", 'emails[value eq "ADA@HOME.EXAMPLE"]', None))
    assert [e["type"] for e in doc["emails"]] == ["work"]


def test_replace_with_filter_that_matches_nothing_creates_the_value():
    """Entra: Replace emails[type eq "other"].value when the user has none creates one."""
    doc = _apply(("replace", 'emails[type eq "other"].value', "x@other.example"))
    assert doc["emails"][-1] == {"type": "other", "value": "x@other.example"}


def test_complex_filters_and_or_not():
    flt = 'emails[(type eq "work" or type eq "home") and not (value co "home")]'
    doc = _apply(("remove", flt, None))
    assert [e["type"] for e in doc["emails"]] == ["home"]


def test_no_path_replace_with_dotted_and_urn_keys():
    """Entra's no-path replace: {"name.givenName": ..., "urn:...:User:employeeNumber": ...}."""
    doc = _apply(
        (
            "replace",
            None,
            {"name.givenName": "Augusta", f"{ENT}:employeeNumber": "42", "active": "False"},
        )
    )
    assert doc["name"]["givenName"] == "Augusta"
    assert doc[ENT] == {"employeeNumber": "42"}
    assert doc["active"] == "False"  # normalise() turns it into a boolean afterwards


def test_remove_whole_attribute_and_sub_attribute():
    doc = _apply(("remove", "name.familyName", None), ("remove", "emails", None))
    assert doc["name"] == {"givenName": "Ada"}
    assert "emails" not in doc


@pytest.mark.parametrize(
    "op, path, value, error",
    [
        ("remove", None, None, NoTarget),
        ("replace", "nosuch", 1, NoTarget),
        ("replace", "id", "x", Mutability),
        ("remove", "userName", None, Mutability),
        ("replace", 'emails[type eq "work"', "x", InvalidPath),
        ("replace", 'emails[type zz "work"].value', "x", InvalidFilter),
        ("replace", 'emails[type eq "a" or type eq "b"].value', "x", NoTarget),
        ("replace", "urn:example:nope:attr", "x", InvalidPath),
    ],
)
def test_bad_operations_are_scim_errors(op: str, path: str | None, value: Any, error: type):
    with pytest.raises(error):
        _apply((op, path, value))


def test_the_input_document_is_never_mutated():
    """All-or-nothing: a failing later op leaves the caller's document untouched."""
    original = _doc()
    patcher = Patcher(KIND, original)
    with pytest.raises(ScimError):
        patcher.apply([Operation("replace", "displayName", "x"), Operation("remove", None, None)])
    assert original == _doc()


def test_equality_seed():
    assert equality_seed('type eq "work" and primary eq true') == {"type": "work", "primary": True}
    assert equality_seed('type co "w"') is None


def test_case_exact_sub_attributes_compare_exactly():
    """RFC 7643 section 2.2 caseExact true: a value filter compares case-sensitively."""
    import json

    urn = "urn:example:ext:1.0:User"
    ext = {
        "id": urn,
        "resourceType": "User",
        "attributes": [
            {
                "name": "keys",
                "type": "complex",
                "multiValued": True,
                "subAttributes": [{"name": "value", "caseExact": True}, {"name": "type"}],
            }
        ],
    }
    kind = build_registry(json.dumps([ext])).user
    doc = {"userName": "u", urn: {"keys": [{"value": "AbC", "type": "SSH"}]}}
    same = Patcher(kind, doc).apply([Operation("remove", f'{urn}:keys[value eq "abc"]', None)])
    assert same[urn]["keys"] == [{"value": "AbC", "type": "SSH"}]
    gone = Patcher(kind, doc).apply([Operation("remove", f'{urn}:keys[type eq "ssh"]', None)])
    assert urn not in gone


def test_pathological_filters_are_400_not_500():
    deep = "(" * 500 + 'type eq "work"' + ")" * 500
    for flt in (deep, 'type eq "' + "x" * 5000 + '"'):
        with pytest.raises(InvalidFilter):
            _apply(("remove", f"emails[{flt}]", None))


@pytest.mark.parametrize("value", [[[]], [{"value": ["a"]}], [{"value": {"x": 1}}]])
def test_remove_with_a_value_list_of_non_values_is_invalid_value(value: Any):
    """RFC 7644 s3.5.2.2: a remove's value list names items by value; a list or object
    in its place is a 400 invalidValue (found by the PATCH fuzz test as a TypeError)."""
    with pytest.raises(ScimError) as err:
        _apply(("remove", "emails", value))
    assert err.value.scim_type == "invalidValue"
