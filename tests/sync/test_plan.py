"""The plan is a pure diff (no I/O): matching by journal id, externalId, then userName
(case-insensitive, RFC 7643 s4.1.1); attribute-level changes; deprovisioning and safety."""

from __future__ import annotations

import pytest

from ostiary.sync.config import Safety
from ostiary.sync.errors import SafetyRefused
from ostiary.sync.mapping import DesiredGroup, DesiredUser
from ostiary.sync.plan import check_safety, make_plan

PATHS = ("userName", "externalId", "name.givenName", "active", "emails")


def _want(n: int, **doc) -> DesiredUser:
    base = {
        "userName": f"u{n}@x",
        "externalId": f"e{n}",
        "name": {"givenName": f"G{n}"},
        "active": True,
    }
    return DesiredUser(f"e{n}", base | doc)


def _have(n: int, **doc) -> dict:
    base = {
        "id": f"id{n}",
        "userName": f"u{n}@x",
        "externalId": f"e{n}",
        "name": {"givenName": f"G{n}", "familyName": "unmanaged"},
        "active": True,
        "meta": {"version": f'W/"{n}"'},
    }
    return base | doc


def test_in_sync_is_empty_and_unmanaged_attributes_are_ignored():
    plan = make_plan([_want(1)], [], [_have(1, title="x")], [], compare_paths=PATHS)
    assert plan.empty and plan.matched == {"e1": "id1"}


def test_attribute_level_changes_and_equivalent_values():
    """Entra-style "True" equals true; reordered emails and omitted primary=false are equal."""
    emails = [{"type": "work", "value": "a"}, {"type": "home", "value": "b"}]
    want = _want(1, name={"givenName": "New"}, emails=emails)
    have = _have(
        1,
        active="True",
        emails=[{"type": "home", "value": "b", "primary": False}, {"type": "work", "value": "a"}],
    )
    plan = make_plan([want], [], [have], [], compare_paths=PATHS)
    (update,) = plan.updates
    assert [(c.path, c.old, c.new) for c in update.changes] == [("name.givenName", "G1", "New")]
    assert update.version == 'W/"1"'


def test_matching_order_and_no_double_match():
    """externalId beats userName; one remote user is never matched twice."""
    remote = [_have(1, externalId=None, userName="U2@x"), _have(2, userName="other")]
    plan = make_plan([_want(2)], [], remote, [], compare_paths=PATHS, scope="all")
    assert plan.matched == {"e2": "id2"}
    assert [d.id for d in plan.deprovisions] == ["id1"]
    plan = make_plan([_want(2)], [], remote[:1], [], compare_paths=PATHS)
    assert plan.matched == {"e2": "id1"}  # adopted by userName, case-insensitive
    plan = make_plan(
        [_want(7, userName="renamed")],
        [],
        [_have(7)],
        [],
        compare_paths=PATHS,
        known_users={"e7": "id7"},
    )
    assert plan.matched == {"e7": "id7"} and plan.updates[0].changes[0].path == "userName"


def test_deprovision_scope_and_delete():
    remote = [_have(1), _have(2), _have(3, externalId=None), _have(4, active=False)]
    plan = make_plan([_want(1)], [], remote, [], compare_paths=PATHS)
    assert [d.id for d in plan.deprovisions] == ["id2"]  # 3 is not ours, 4 already inactive
    plan = make_plan([_want(1)], [], remote, [], compare_paths=PATHS, delete=True)
    assert [(d.id, d.delete) for d in plan.deprovisions] == [("id2", True), ("id4", True)]
    plan = make_plan([_want(1)], [], remote, [], compare_paths=PATHS, scope="all")
    assert [d.id for d in plan.deprovisions] == ["id2", "id3"]


def test_memberships():
    groups = [DesiredGroup("eng", frozenset({"e1", "e9"})), DesiredGroup("new", frozenset({"e1"}))]
    remote_groups = [
        {"id": "g1", "displayName": "eng", "members": [{"value": "id1"}, {"value": "id5"}]}
    ]
    plan = make_plan(
        [_want(1), _want(9)], groups, [_have(1), _have(5)], remote_groups, compare_paths=PATHS
    )
    eng = next(m for m in plan.memberships if m.group == "eng")
    assert (eng.group_id, eng.add, eng.remove) == ("g1", ("e9",), ("id5",))
    assert plan.group_creates == ["new"]
    assert plan.counts()["membership_add"] == 2


@pytest.mark.parametrize(
    "managed, gone, allowed",
    [
        (1000, 50, True),
        (1000, 51, False),  # 5% = 50
        (100, 5, True),
        (100, 6, False),  # 5% = 5
        (5000, 50, True),
        (5000, 51, False),  # capped at 50
    ],
)
def test_safety_threshold_is_min_of_five_percent_and_fifty(managed, gone, allowed):
    desired = [_want(n) for n in range(managed - gone)]
    remote = [_have(n) for n in range(managed)]
    plan = make_plan(desired, [], remote, [], compare_paths=PATHS)
    assert len(plan.deprovisions) == gone and plan.managed_active == managed
    if allowed:
        check_safety(plan, Safety(), allow_mass_deprovision=False)
    else:
        with pytest.raises(SafetyRefused):
            check_safety(plan, Safety(), allow_mass_deprovision=False)
        check_safety(plan, Safety(), allow_mass_deprovision=True)


def test_bulk_batches_respect_max_operations_and_payload():
    """RFC 7644 s3.7.4: maxOperations and maxPayloadSize bound each Bulk request."""
    import json

    from ostiary.sync.ops import Op, chunks

    ops = [Op("POST", "/Users", {"userName": "x" * 1000}, None, "") for _ in range(25)]
    assert [len(b) for b in chunks(ops, 10, 0)] == [10, 10, 5]
    batches = list(chunks(ops, 1000, 5000))
    assert sum(len(b) for b in batches) == 25
    for batch in batches:
        body = json.dumps([{"method": o.method, "path": o.path, "data": o.body} for o in batch])
        assert len(body) < 5000
