"""The role -> permission table (issue 9 points 1 and 3): one vocabulary shared with the
admin-token scopes; an auditor has no key permission; helpdesk is users only."""

from __future__ import annotations

import pytest

from ostiary.keys import admin_tokens as at
from ostiary.keys import scopes as ks
from ostiary.keys.errors import PolicyViolation
from ostiary.keys.roles import PERMISSIONS, ROLES, Roles, validate_role


def test_point1_every_permission_is_an_admin_token_or_provisioning_scope():
    vocabulary = at.ADMIN_SCOPES | ks.ALL_SCOPES | {"roles:manage"}
    for role in ROLES:
        assert PERMISSIONS[role] <= vocabulary, role


def test_point3_auditor_reads_everything_but_keys():
    auditor = Roles.of(["auditor"])
    assert auditor.allows(at.AUDIT_READ) and auditor.allows(ks.USERS_READ)
    assert not auditor.touches_keys and auditor.key_scopes == frozenset()
    for write in (at.KEYS_READ, at.KEYS_WRITE, ks.USERS_WRITE, ks.USERS_DEPROVISION):
        assert not auditor.allows(write)


def test_point3_helpdesk_is_users_only():
    assert Roles.of(["helpdesk"]).permissions == {ks.USERS_READ, ks.USERS_DEPROVISION}


def test_point1_key_roles_and_their_minting_ceiling():
    km = Roles.of(["key-manager"])
    assert km.touches_keys and km.allows(at.KEYS_REVOKE) and not km.allows(ks.USERS_READ)
    assert km.key_scopes == ks.ALL_SCOPES
    assert Roles.of(["owner"]).allows("roles:manage")
    assert not Roles.of(["admin"]).allows("roles:manage")


def test_point1_roles_add_up_and_unknown_names_are_ignored():
    both = Roles.of(["helpdesk", "auditor", "superuser"])
    assert both.names == {"helpdesk", "auditor"}
    assert both.allows(ks.USERS_DEPROVISION) and both.allows(at.AUDIT_READ)
    assert both.sorted() == ["auditor", "helpdesk"]


def test_point1_validate_role():
    assert validate_role(" Owner ") == "owner"
    with pytest.raises(PolicyViolation):
        validate_role("root")
