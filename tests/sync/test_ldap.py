"""LDAP as a source, against a real OpenLDAP slapd the test starts (RFC 4511 search,
RFC 4519/2798 inetOrgPerson, groupOfNames); deltas by modifyTimestamp (RFC 4512 s3.4)."""

from __future__ import annotations

import time

import ldap3
import pytest

from ostiary.scim import schemas
from ostiary.sync.config import load_config
from ostiary.sync.ldap_source import LdapSource
from ostiary.sync.runner import Agent
from tests.sync.conftest import write_config
from tests.sync.scimserver import list_all
from tests.sync.slapd import ROOT_DN, ROOT_PW, SUFFIX, slapd

SOURCE = f"""[source]
type = "ldap"
url = "{{url}}"
bind_dn = "{ROOT_DN}"
password = {{{{ env = "SYNC_LDAP_PW" }}}}
base_dn = "ou=people,{SUFFIX}"
filter = "(objectClass=inetOrgPerson)"
group_base_dn = "ou=groups,{SUFFIX}"
"""

MAPPING = """
[users.attributes]
userName = { column = "mail", transforms = ["first", "lower"] }
externalId = "employeeNumber"
"name.givenName" = "givenName"
"name.familyName" = "sn"
"enterprise:department" = "departmentNumber"

[groups]
column = "groups"
"""


@pytest.fixture
def ldap_url(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNC_LDAP_PW", ROOT_PW)
    with slapd(tmp_path) as url:
        yield url


def _conn(url: str) -> ldap3.Connection:
    return ldap3.Connection(ldap3.Server(url), ROOT_DN, ROOT_PW, auto_bind=True)


def _people(url: str, n: int) -> None:
    conn = _conn(url)
    for i in range(1, n + 1):
        conn.add(
            f"uid=u{i},ou=people,{SUFFIX}",
            ["inetOrgPerson"],
            {
                "uid": f"u{i}",
                "cn": f"User {i}",
                "sn": f"Sn{i}",
                "givenName": f"Gn{i}",
                "mail": f"U{i}@Example.com",
                "employeeNumber": str(1000 + i),
                "departmentNumber": "Ops",
            },
        )
    conn.add(
        f"cn=admins,ou=groups,{SUFFIX}",
        ["groupOfNames"],
        {"cn": "admins", "member": [f"uid=u1,ou=people,{SUFFIX}", f"uid=u2,ou=people,{SUFFIX}"]},
    )
    conn.unbind()


def test_ldap_users_and_groups_reach_the_scim_server(tmp_path, ldap_url, scim_url, token_env):
    _people(ldap_url, 5)
    cfg = load_config(
        write_config(tmp_path, scim_url, source=SOURCE.format(url=ldap_url), mapping=MAPPING)
    )
    agent = Agent(cfg, tmp_path / "state")
    try:
        journal = agent.journal()
        plan = agent.plan(journal=journal)
        assert plan.counts()["create"] == 5 and plan.group_creates == ["admins"]
        assert agent.apply(plan, journal).failures == []
        users = {u["externalId"]: u for u in list_all(scim_url, "Users")}
        assert users["1001"]["userName"] == "u1@example.com"
        assert users["1001"]["name"] == {"givenName": "Gn1", "familyName": "Sn1"}
        assert users["1001"][schemas.ENTERPRISE_USER]["department"] == "Ops"
        (admins,) = list_all(scim_url, "Groups")
        assert {m["value"] for m in admins["members"]} == {users["1001"]["id"], users["1002"]["id"]}
        # A change and a removal in the directory become an update and a deactivation.
        conn = _conn(ldap_url)
        conn.modify(f"uid=u3,ou=people,{SUFFIX}", {"sn": [(ldap3.MODIFY_REPLACE, ["Changed"])]})
        conn.delete(f"uid=u5,ou=people,{SUFFIX}")
        conn.unbind()
        plan = agent.plan(journal=agent.journal())
        assert [(u.key, [c.path for c in u.changes]) for u in plan.updates] == [
            ("1003", ["name.familyName"])
        ]
        assert [d.external_id for d in plan.deprovisions] == ["1005"]
    finally:
        agent.close()


def test_wrong_bind_password_is_a_clear_source_error(tmp_path, ldap_url, monkeypatch):
    from ostiary.sync.errors import SourceError
    from ostiary.sync.secrets import SecretRef

    monkeypatch.setenv("SYNC_LDAP_BAD", "not-the-password")
    source = LdapSource(
        url=ldap_url, base_dn=SUFFIX, bind_dn=ROOT_DN, password=SecretRef("env", "SYNC_LDAP_BAD")
    )
    with pytest.raises(SourceError, match="Credentials") as exc:
        source.records()
    assert "not-the-password" not in str(exc.value)


def test_delta_by_modify_timestamp(ldap_url):
    """The fingerprint moves only when an entry's modifyTimestamp passes the watermark."""
    from ostiary.sync.secrets import SecretRef

    _people(ldap_url, 2)
    source = LdapSource(
        url=ldap_url,
        base_dn=f"ou=people,{SUFFIX}",
        bind_dn=ROOT_DN,
        password=SecretRef("env", "SYNC_LDAP_PW"),
    )
    first = source.fingerprint()
    assert first and source.fingerprint() == first
    time.sleep(1.1)  # GeneralizedTime has one-second resolution
    conn = _conn(ldap_url)
    conn.modify(f"uid=u2,ou=people,{SUFFIX}", {"sn": [(ldap3.MODIFY_REPLACE, ["New"])]})
    conn.unbind()
    assert source.fingerprint() > first


def test_memberof_style_groups_from_an_attribute(tmp_path):
    """AD-style: groups from a multi-valued DN attribute, reduced to the CN."""
    from ostiary.sync.mapping import parse_mapping
    from ostiary.sync.sources import desired_state

    mapping = parse_mapping(
        {
            "attributes": {
                "userName": "sAMAccountName",
                "active": {"column": "userAccountControl", "transforms": ["ad_active"]},
            }
        },
        {"column": "memberOf", "transforms": ["cn"]},
    )
    records = [
        {
            "sAMAccountName": "ada",
            "userAccountControl": "514",
            "memberOf": ["CN=Eng,OU=G,DC=x", "CN=All,OU=G,DC=x"],
        },
        {"sAMAccountName": "bob", "userAccountControl": "512", "memberOf": "CN=All,DC=x"},
    ]
    users, groups = desired_state(records, mapping)
    assert [u.doc["active"] for u in users] == [False, True]  # 514 = 512 | ACCOUNTDISABLE
    assert {g.name: set(g.member_keys) for g in groups} == {"All": {"ada", "bob"}, "Eng": {"ada"}}


def test_delta_by_a_numeric_attribute_orders_as_numbers(ldap_url):
    """Active Directory's uSNChanged is a number: 1000 is newer than 999. slapd has no
    USN, so an integer-ordered attribute (uidNumber, RFC 2307) stands in for it."""
    from ostiary.sync.secrets import SecretRef

    conn = _conn(ldap_url)
    for uid, number in (("a", 999), ("b", 1000)):
        conn.add(
            f"uid={uid},ou=people,{SUFFIX}",
            ["inetOrgPerson", "posixAccount"],
            {
                "uid": uid,
                "cn": uid,
                "sn": uid,
                "uidNumber": number,
                "gidNumber": 1,
                "homeDirectory": f"/home/{uid}",
            },
        )
    source = LdapSource(
        url=ldap_url,
        base_dn=f"ou=people,{SUFFIX}",
        bind_dn=ROOT_DN,
        password=SecretRef("env", "SYNC_LDAP_PW"),
        filter="(objectClass=posixAccount)",
        delta_attribute="uidNumber",
    )
    assert source.fingerprint() == "1000"
    assert source.fingerprint() == "1000"  # nothing newer: unchanged
    conn.modify(f"uid=a,ou=people,{SUFFIX}", {"uidNumber": [(ldap3.MODIFY_REPLACE, [1001])]})
    conn.unbind()
    assert source.fingerprint() == "1001"
