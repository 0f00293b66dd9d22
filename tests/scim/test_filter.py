"""Filter binding (RFC 7644 section 3.4.2.2): the grammar, the attribute catalogue, the
type rules and the case rules, without a database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ostiary.scim.errors import InvalidFilter, InvalidValue
from ostiary.scim.filter import And, AnyOf, Cmp, Const, Neg, Or, Pr, bind, sort_ref
from ostiary.scim.filter_eval import matches
from ostiary.scim.filter_schema import GROUP, USER
from ostiary.store.substring import like_escape

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.mark.parametrize("op", ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"])
def test_every_comparison_operator_binds_on_a_string(op: str):
    node = bind(f'userName {op} "bjensen"', USER)
    assert node == Cmp(node.ref, op, "bjensen")  # type: ignore[union-attr]
    assert node.ref.path == ("userName",)  # type: ignore[union-attr]


def test_and_binds_tighter_than_or_and_parentheses_override():
    node = bind('title pr or userName eq "a" and active eq true', USER)
    assert isinstance(node, Or) and isinstance(node.terms[1], And)
    node = bind('(title pr or userName eq "a") and active eq true', USER)
    assert isinstance(node, And) and isinstance(node.terms[0], Or)


def test_not_and_operator_names_are_case_insensitive():
    node = bind('NOT (userName EQ "a") AND title PR', USER)
    assert isinstance(node, And) and isinstance(node.terms[0], Neg)
    assert isinstance(node.terms[1], Pr)


def test_attribute_names_resolve_case_insensitively_to_canonical_paths():
    node = bind('NAME.GIVENNAME eq "x"', USER)
    assert isinstance(node, Cmp) and node.ref.path == ("name", "givenName")


def test_urn_qualified_core_and_extension_attributes():
    core = bind('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"', USER)
    assert isinstance(core, Cmp) and core.ref.path == ("userName",)
    emp = bind(f'{ENT}:employeeNumber eq "701984"', USER)
    assert isinstance(emp, Cmp) and emp.ref.path == (ENT, "employeeNumber")
    mgr = bind(f'{ENT}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"', USER)
    assert isinstance(mgr, Cmp) and mgr.ref.path == (ENT, "manager", "value")


def test_value_paths_sub_attributes_and_bare_multi_valued_are_one_shape():
    """emails[...], emails.value and bare emails all mean 'some element matches'."""
    vp = bind('emails[type eq "work" and value co "@example.com"]', USER)
    assert isinstance(vp, AnyOf) and isinstance(vp.cond, And)
    assert [t.ref.path for t in vp.cond.terms] == [("type",), ("value",)]  # type: ignore[union-attr]
    sub = bind('emails.value co "@x"', USER)
    bare = bind('emails co "@x"', USER)
    assert sub == bare and isinstance(sub, AnyOf)


def test_entra_value_path_with_a_trailing_sub_attribute():
    node = bind('emails[type eq "work"].value eq "a@x"', USER)
    assert isinstance(node, AnyOf) and isinstance(node.cond, And)


@pytest.mark.parametrize(
    "text",
    [
        'nosuch eq "x"',
        'name.nosuch eq "x"',
        'urn:example:unknown:Thing:attr eq "x"',
        f"{ENT}:nosuch pr",
        'emails[nosuch eq "x"]',
        'employeeNumber eq "1"',  # an extension attribute needs its URN
        'members.value eq "x"',  # a Group attribute, not a User one
    ],
)
def test_unknown_attribute_is_invalid_filter(text: str):
    with pytest.raises(InvalidFilter) as info:
        bind(text, USER)
    assert info.value.scim_type == "invalidFilter" and info.value.status == 400


@pytest.mark.parametrize(
    "text",
    [
        "active gt true",  # ordering on a boolean (section 3.4.2.2)
        'active eq "true"',  # a string for a boolean
        'meta.created co "2020"',  # substring on a dateTime
        'meta.created gt "yesterday"',  # not an xsd:dateTime
        "userName eq 5",
        "userName eq null",
        'name eq "x"',  # a complex attribute compared whole
        'password eq "secret"',  # returned: never, so never an oracle
        'x509Certificates.value gt "a"',  # ordering on binary
        'userName eq "unterminated',
        "userName eq",
        "(userName pr",
        'emails[type eq "work"',
        'userName[type eq "x"]',  # value path on a single-valued attribute
    ],
)
def test_operator_value_and_syntax_errors_are_invalid_filter(text: str):
    with pytest.raises(InvalidFilter):
        bind(text, USER)


def test_root_search_binding_turns_unknown_attributes_into_false():
    node = bind('displayName eq "x" or userName eq "y"', GROUP, unknown_is_false=True)
    assert isinstance(node, Or) and node.terms[1] == Const(False)


def test_datetime_values_are_parsed_to_utc():
    node = bind('meta.lastModified gt "2011-05-13T04:42:34+02:00"', USER)
    assert isinstance(node, Cmp)
    assert node.value == datetime(2011, 5, 13, 2, 42, 34, tzinfo=UTC)


USER_DOC = {
    "id": "2819c223",
    "userName": "BJensen@Example.com",
    "externalId": "Ext-1",
    "active": True,
    "title": "Tour Guide",
    "emails": [
        {"value": "bjensen@example.com", "type": "work", "primary": True},
        {"value": "babs@jensen.org", "type": "home"},
    ],
    ENT: {"employeeNumber": "701984", "manager": {"value": "m-1"}},
    "meta": {"created": "2011-08-01T18:29:49.793Z", "lastModified": "2011-08-01T18:29:49.793Z"},
}


@pytest.mark.parametrize(
    "text, expected",
    [
        ('userName eq "bjensen@example.com"', True),  # caseExact false
        ('externalId eq "ext-1"', False),  # caseExact true
        ('externalId eq "Ext-1"', True),
        ('id eq "2819C223"', False),
        ('title co "GUIDE"', True),
        ('title sw "tour" and title ew "IDE"', True),
        ('emails[type eq "work" and value co "@example.com"]', True),
        ('emails[type eq "home" and value co "@example.com"]', False),
        ('emails.primary eq true and emails.type eq "home"', True),  # any element, each
        ('nickName ne "x"', True),  # unassigned is "not equal"
        ("nickName pr", False),
        ('meta.created lt "2011-08-01T18:29:50Z"', True),
        ('meta.created eq "2011-08-01T20:29:49.793+02:00"', True),
        (f'{ENT}:manager.value eq "m-1" and {ENT}:employeeNumber sw "70"', True),
        ('not (active eq true) or userName gt "bj"', True),
    ],
)
def test_evaluator_follows_the_case_and_presence_rules(text: str, expected: bool):
    assert matches(bind(text, USER), USER_DOC) is expected


def test_like_wildcards_are_escaped():
    assert like_escape("50%_off\\") == "50\\%\\_off\\\\"


def test_sort_by_resolves_or_is_invalid_value():
    assert sort_ref(USER, "name.familyName").path == ("name", "familyName")
    assert sort_ref(USER, "emails").path == ("emails",)
    for bad in ("nosuch", "name", "password", "emails.type"):
        with pytest.raises(InvalidValue):
            sort_ref(USER, bad)


def test_a_patch_value_path_binds_to_an_element_condition():
    """RFC 7644 section 3.5.2: valuePath selects elements of a multi-valued attribute."""
    from scim2_models.path import ScimFilter, ValuePath

    from ostiary.scim.filter import bind_value_path

    vp = ScimFilter('emails[type eq "WORK" and primary eq true]').ast
    assert isinstance(vp, ValuePath)
    bound = bind_value_path(USER, vp)
    picked = [e for e in USER_DOC["emails"] if matches(bound.cond, e)]  # type: ignore[arg-type]
    assert bound.ref.path == ("emails",) and picked == [USER_DOC["emails"][0]]
