"""attributes / excludedAttributes (RFC 7644 section 3.4.2.5) and returned (RFC 7643
section 7): always, never, default."""

from __future__ import annotations

import copy

from ostiary.scim.filter_schema import GROUP, USER
from ostiary.scim.projection import parse_list, project, projector, wants

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
USER_DOC = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENT],
    "id": "u1",
    "userName": "bjensen",
    "password": "must never leave",
    "name": {"givenName": "Barbara", "familyName": "Jensen"},
    "emails": [{"value": "a@x", "type": "work"}, {"value": "b@x", "type": "home"}],
    ENT: {"employeeNumber": "7", "department": "Tour"},
    "meta": {"resourceType": "User", "version": 'W/"1"'},
}


def test_no_parameters_returns_defaults_and_never_password():
    out = project(USER_DOC, USER)
    assert "password" not in out and out["userName"] == "bjensen" and ENT in out


def test_attributes_returns_only_those_plus_always():
    out = project(USER_DOC, USER, ["userName"])
    assert set(out) == {"schemas", "id", "meta", "userName"}
    assert out["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:User"]  # no ext left


def test_sub_attributes_and_case_insensitive_names():
    out = project(USER_DOC, USER, ["NAME.givenName", "emails.value"])
    assert out["name"] == {"givenName": "Barbara"}
    assert out["emails"] == [{"value": "a@x"}, {"value": "b@x"}]


def test_urn_qualified_attribute_and_whole_extension():
    out = project(USER_DOC, USER, [f"{ENT}:employeeNumber"])
    assert out[ENT] == {"employeeNumber": "7"} and ENT in out["schemas"]
    assert project(USER_DOC, USER, [ENT])[ENT] == USER_DOC[ENT]


def test_excluded_attributes_drop_default_but_never_always():
    out = project(USER_DOC, USER, excluded=["emails", "id", "meta", "name.familyName"])
    assert "emails" not in out and out["id"] == "u1" and "meta" in out
    assert out["name"] == {"givenName": "Barbara"}


def test_projection_never_modifies_its_input():
    before = copy.deepcopy(USER_DOC)
    project(USER_DOC, USER, excluded=["name.familyName", "emails.type"])
    project(USER_DOC, USER, ["emails.value"])
    assert before == USER_DOC


def test_wants_lets_a_caller_skip_loading_members():
    assert not wants(GROUP, "members", None, ["members"])
    assert wants(GROUP, "members", None, None)
    assert not wants(GROUP, "members", ["displayName"], None)
    assert wants(GROUP, "members", ["members.value"], None)


def test_parse_list_splits_commas():
    assert parse_list("userName, name.givenName,") == ["userName", "name.givenName"]
    assert parse_list("") is None and parse_list(None) is None


def test_a_projector_shapes_a_page_as_project_shapes_each_resource():
    """The list path resolves names once per page (projector); each resource comes out as
    project() gives it, and no resource is changed."""
    other = copy.deepcopy(USER_DOC) | {"id": "u2", "userName": "other", "name": {"givenName": "O"}}
    page = [USER_DOC, other]
    before = copy.deepcopy(page)
    cases = [
        (None, None),
        (["userName", "NAME.givenName", "emails.value", f"{ENT}:department", "unknownAttr"], None),
        (None, ["emails", "name.familyName", "id", ENT]),
        (["name", ENT], ["name.familyName"]),
    ]
    for attributes, excluded in cases:
        shape = projector(USER, attributes, excluded)
        assert [shape(r) for r in page] == [project(r, USER, attributes, excluded) for r in page]
    assert page == before
