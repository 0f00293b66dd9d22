"""Issue 5 point 3: an action prefix ("scim.user.*") is searched through the
``(action, seq)`` index, on SQLite and PostgreSQL, and finds exactly the actions that
start with it. As ``LIKE 'scim.user.%'`` it could use no index (SQLite's LIKE is
case-insensitive, PostgreSQL's needs the "C" collation), so at 10 million events a rare
prefix read them all; it is now a code-point range (migration 0028 gives PostgreSQL's
column and index the "C" collation)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ostiary.audit.events import SYSTEM, AuditEvent
from ostiary.store.repositories.audit import (
    INDEX_BATCH,
    AuditLog,
    AuditQuery,
    AuditReader,
)
from ostiary.store.repositories.audit_query import after_prefix
from tests.audit.support import START, plan_of, statements
from tests.support.deploy import Deployment

# Actions around "scim.user." in code-point order: the prefix must take the first four
# and none of the others ('/' follows '.', '2' and 'x' follow both).
ACTIONS = [
    "scim.user.create",
    "scim.user.replace",
    "scim.user.zoë",
    "scim.user.",
    "scim.user/x",
    "scim.user2.create",
    "scim.userx",
    "scim.usEr.create",  # SQLite's LIKE ignored case: it took this one
    "scim.group.create",
    "a%b_c",
]


def _append(dep: Deployment, actions: list[str]) -> None:
    events = [(AuditEvent(action=a, actor=SYSTEM, target_id=f"t{i}"), START)
              for i, a in enumerate(actions)]  # fmt: skip
    with dep.db.begin() as conn:
        AuditLog(conn).append_many(events)


def _found(dep: Deployment, action: str) -> list[str]:
    with dep.db.read() as conn:
        hits, _ = AuditReader(conn).search(AuditQuery(action=action, limit=1000))
    return [e["action"] for e in hits]


def test_a_prefix_finds_exactly_the_actions_that_start_with_it(deployment: Deployment):
    """Both in audit_search (the first batch) and in the tail not indexed yet."""
    dep = deployment
    _append(dep, ACTIONS + ["x.fill"] * (INDEX_BATCH - len(ACTIONS)))
    _append(dep, ACTIONS)
    expected = [a for a in ACTIONS if a.startswith("scim.user.")] * 2
    assert _found(dep, "scim.user.*") == expected
    assert _found(dep, "scim.user*") == [a for a in ACTIONS if a.startswith("scim.user")] * 2
    assert _found(dep, "a%*") == ["a%b_c", "a%b_c"]  # no LIKE wildcards
    assert _found(dep, "a*") == ["a%b_c", "a%b_c"]
    assert _found(dep, "scim.user.create") == ["scim.user.create"] * 2
    assert len(_found(dep, "*")) == INDEX_BATCH + len(ACTIONS)


def test_the_bound_after_a_prefix():
    assert after_prefix("scim.user.") == "scim.user/"
    assert after_prefix("a\U0010ffff") == "b"
    assert after_prefix("\U0010ffff") is None
    assert after_prefix("\ud7ff") == "\ue000"  # past the surrogates
    assert after_prefix("") is None


def test_a_rare_prefix_is_a_range_of_the_action_index(deployment: Deployment):
    """Thousands of one action and a few of a rare one: the rare prefix's page is read
    through ix_audit_search_action as a range (the plan of the reader's own statement)."""
    dep = deployment
    _append(dep, ["scim.user.create"] * (4 * INDEX_BATCH - 3) + ["key.rotate"] * 3)
    seen = statements(dep, "audit_search", lambda: _found(dep, "key.*"))
    assert len(seen) == 1
    plan = plan_of(dep, *seen[0])
    pg = dep.settings.database_url.startswith("postgresql")
    assert "ix_audit_search_action" in plan, plan
    if pg:
        assert "Index Cond: ((action >= " in plan, plan
    else:
        assert "ix_audit_search_action (action>? AND action<?)" in plan, plan


@pytest.mark.postgres
def test_postgres_searches_actions_in_the_c_collation(pg_deployment: Deployment):
    with pg_deployment.db.read() as conn:
        collation = conn.execute(
            text(
                "SELECT collation_name FROM information_schema.columns "
                "WHERE table_name = 'audit_search' AND column_name = 'action'"
            )
        ).scalar_one()
    assert collation == "C"
