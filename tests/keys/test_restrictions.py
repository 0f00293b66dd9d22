"""Per-key bindings in the domain (issue 4 point 3): CIDR allow-lists, attribute
restrictions for full resources and PatchOps (RFC 7644 section 3.5.2), and the admin
token prefix sharing the key format."""

from __future__ import annotations

import pytest

from ostiary.keys import format as key_format
from ostiary.keys.errors import AttributeNotAllowed, PolicyViolation
from ostiary.keys.models import KeyPrincipal
from ostiary.keys.restrictions import (
    check_write,
    ip_allowed,
    patch_paths,
    resource_paths,
    validate_attributes,
    validate_cidrs,
)


def _principal(attrs: dict[str, list[str]] | None) -> KeyPrincipal:
    return KeyPrincipal(
        key_id="k",
        version=1,
        name="n",
        scopes=frozenset(),
        attributes=validate_attributes(attrs) if attrs else None,
    )


def test_cidr_allow_list():
    cidrs = validate_cidrs(["10.0.0.0/8", "2001:db8::/32"])
    assert ip_allowed(cidrs, "10.200.1.1")
    assert ip_allowed(cidrs, "2001:db8::5")
    assert not ip_allowed(cidrs, "192.0.2.1")
    assert not ip_allowed(cidrs, "not-an-ip")
    assert ip_allowed((), "192.0.2.1")  # no list: anywhere
    with pytest.raises(PolicyViolation):
        validate_cidrs(["10.0.0.0/33"])


def test_full_resource_and_patch_paths_are_checked():
    p = _principal({"User": ["userName", "active", "name"]})
    check_write(
        p, "User", resource_paths({"schemas": [], "userName": "a", "name": {"givenName": "A"}})
    )
    with pytest.raises(AttributeNotAllowed) as err:
        check_write(p, "User", resource_paths({"userName": "a", "emails": [{"value": "x"}]}))
    assert err.value.attributes == ["emails"]
    patch = {
        "Operations": [
            {"op": "replace", "path": "active", "value": False},
            {"op": "replace", "path": 'emails[type eq "work"].value', "value": "x"},
            {"op": "add", "value": {"title": "CEO"}},
        ]
    }
    assert patch_paths(patch) == ["active", "emails.value", "title"]
    with pytest.raises(AttributeNotAllowed) as err:
        check_write(p, "User", patch_paths(patch))
    assert err.value.attributes == ["emails.value", "title"]
    check_write(p, "Group", ["members"])  # Group is unrestricted for this key
    check_write(_principal(None), "User", ["anything"])


def test_unknown_resource_types_are_rejected():
    with pytest.raises(PolicyViolation):
        validate_attributes({"Printer": ["x"]})


def test_admin_tokens_share_the_format_but_not_the_prefix():
    token, parsed = key_format.generate(prefix=key_format.ADMIN_PREFIX)
    assert token.startswith("ost_at_")
    assert key_format.parse(token, key_format.ADMIN_PREFIX) == parsed
    assert key_format.parse(token) is None  # never accepted as a provisioning key
    pk, _ = key_format.generate()
    assert key_format.parse(pk, key_format.ADMIN_PREFIX) is None
