"""Property: applying a plan and planning again gives an empty plan (idempotence, issue 8
point 3), for random sources and random target states. The target is modelled in memory
by the PATCH semantics of RFC 7644 s3.5.2 (replace/remove on the planned paths)."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ostiary.sync.mapping import DesiredGroup, DesiredUser
from ostiary.sync.ops import set_path
from ostiary.sync.plan import Plan, make_plan

PATHS = ("userName", "externalId", "name.givenName", "title", "active")
names = st.sampled_from(["ann", "bob", "cy", "dee", "eve", "fay"])
values = st.one_of(st.none(), st.sampled_from(["A", "B", "C"]))


@st.composite
def desired(draw: Any) -> tuple[list[DesiredUser], list[DesiredGroup]]:
    people = draw(st.lists(names, unique=True, max_size=5))
    users = []
    for p in people:
        doc: dict[str, Any] = {"userName": f"{p}@x", "externalId": p, "active": draw(st.booleans())}
        given_name, title = draw(values), draw(values)
        if given_name:
            doc["name"] = {"givenName": given_name}
        if title:
            doc["title"] = title
        users.append(DesiredUser(p, doc))
    groups = (
        [
            DesiredGroup(g, frozenset(draw(st.lists(st.sampled_from(people), unique=True))))
            for g in draw(st.lists(st.sampled_from(["g1", "g2"]), unique=True))
        ]
        if people
        else []
    )
    return users, groups


@st.composite
def remote(draw: Any) -> list[dict[str, Any]]:
    out = []
    for n, p in enumerate(draw(st.lists(names, unique=True, max_size=5))):
        doc: dict[str, Any] = {
            "id": f"r{n}",
            "userName": f"{p.upper()}@x",
            "active": draw(st.booleans()),
        }
        if draw(st.booleans()):
            doc["externalId"] = p
        if draw(st.booleans()):
            doc["name"] = {"givenName": draw(values) or "Z"}
        out.append(doc)
    return out


def _apply(plan: Plan, users: list[dict[str, Any]], groups: list[dict[str, Any]]) -> None:
    ids = dict(plan.matched)
    by_id = {u["id"]: u for u in users}
    counter = itertools.count()
    for c in plan.creates:
        rid = f"new{next(counter)}"
        users.append({"id": rid, **c.doc})
        ids[c.key] = rid
    for u in plan.updates:
        for change in u.changes:
            set_path(by_id[u.id], change.path, change.new)
    for d in plan.deprovisions:
        by_id[d.id]["active"] = False
    for name in plan.group_creates:
        groups.append({"id": f"g-{name}", "displayName": name, "members": []})
    gby_id = {g["id"]: g for g in groups}
    for m in plan.memberships:
        g = gby_id[m.group_id or f"g-{m.group}"]
        kept = [x for x in g["members"] if x["value"] not in m.remove]
        g["members"] = kept + [{"value": ids[k]} for k in m.add]


@settings(max_examples=300, deadline=None)
@given(desired(), remote())
def test_apply_then_plan_is_empty(want: Any, have: list[dict[str, Any]]) -> None:
    users, groups = want
    remote_groups: list[dict[str, Any]] = []
    plan = make_plan(users, groups, have, remote_groups, compare_paths=PATHS)
    _apply(plan, have, remote_groups)
    again = make_plan(users, groups, have, remote_groups, compare_paths=PATHS)
    assert again.empty, again.to_json()
    # No duplicates: one target user per desired user.
    assert len(set(again.matched.values())) == len(users)
