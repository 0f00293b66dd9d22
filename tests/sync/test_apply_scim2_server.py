"""The agent against an independent SCIM 2.0 server (scim2-server, in its own process).

RFC 7644 s3.3 (create), s3.5.1 (PUT), s3.5.2 (PATCH), s3.7 (Bulk), s3.14 (ETags);
RFC 7643 s4.1 (User), s4.2 (Group), s4.3 (enterprise extension)."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from ostiary.scim import schemas
from ostiary.sync.errors import SafetyRefused
from ostiary.sync.runner import Agent
from tests.sync.conftest import make_agent, person, sync_once, write_csv
from tests.sync.gateway import Behaviour, Gateway
from tests.sync.scimserver import TOKEN, auth, list_all, scim2_server


def _users(url: str) -> dict[str, dict]:
    users = list_all(url, "Users")
    names = Counter(u["userName"] for u in users)
    assert max(names.values(), default=1) == 1, "duplicate users"
    return {u["externalId"]: u for u in users}


def _groups(url: str) -> dict[str, set[str]]:
    groups = list_all(url, "Groups")
    assert len({g["displayName"] for g in groups}) == len(groups), "duplicate groups"
    return {g["displayName"]: {m["value"] for m in g.get("members") or []} for g in groups}


def _bulk_batches(gw: Gateway, agent: Agent) -> list[tuple[str, list[str]]]:
    """(path, externalIds) of each Bulk batch the agent sent: Users batches first, largest
    first (they run concurrently, so arrive in any order). Counted by content, not by
    request: the client retries a request that met a transport error or a 5xx with the
    same bytes (sync/client.py), which a loaded machine can cause; every request beyond
    the distinct batches must be such a retry."""
    batches = gw.bulk_batches()
    sent = len([r for r in gw.requests("POST") if r[1] == "/v2/Bulk"])
    assert sent - len(batches) <= agent.client.stats["retries"]
    out = []
    for ops in batches:
        (path,) = {op["path"] for op in ops}
        out.append((path, [op["data"]["externalId"] for op in ops]))
    return sorted(out, key=lambda b: (b[0] != "/Users", -len(b[1])))


def test_first_apply_creates_then_second_apply_is_a_no_op(tmp_path, scim_url, token_env):
    """Creates users with mapped attributes and groups with members; a second plan is empty."""
    write_csv(tmp_path / "people.csv", [person(n) for n in range(1, 21)])
    agent = make_agent(tmp_path, scim_url)
    counts, failures = sync_once(agent)
    assert failures == []
    assert counts["create"] == 20 and counts["group_create"] == 3
    users = _users(scim_url)
    ada = users["E000001"]
    assert ada["userName"] == "user1@example.com"  # trim + lower
    assert ada["name"] == {"givenName": "First1", "familyName": "Last1"}
    assert ada["emails"][0]["value"] == "user1@example.com" and ada["emails"][0]["primary"]
    assert ada[schemas.ENTERPRISE_USER]["department"] == "R&D"
    groups = _groups(scim_url)
    assert len(groups["everyone"]) == 20
    assert groups["odd"] == {users[f"E{n:06d}"]["id"] for n in range(1, 21, 2)}
    again = agent.plan(journal=agent.journal())
    assert again.empty, again.to_json()


@pytest.mark.parametrize(
    "patch, bulk",
    [(True, False), (False, False), (False, True)],
    ids=["patch", "put", "put-though-bulk-advertised"],
)
def test_changes_are_attribute_level_and_use_patch_or_put(tmp_path, token_env, patch, bulk):
    """PATCH when the ServiceProviderConfig says so, else GET + PUT; If-Match carries the ETag.
    Only the changed attributes are in the plan; unmanaged attributes survive a PUT."""
    with (
        scim2_server(
            tmp_path, patch={"supported": patch}, bulk={"supported": bulk, "maxOperations": 100}
        ) as url,
        Gateway(url.removesuffix("/v2"), Behaviour(upstream_token=TOKEN)) as gw,
    ):
        rows = [person(n) for n in range(1, 6)]
        write_csv(tmp_path / "people.csv", rows)
        agent = make_agent(tmp_path, gw.scim_url)
        sync_once(agent)
        # An attribute we do not map, set by someone else, must survive our updates.
        uid = _users(url)["E000002"]["id"]
        doc = httpx.get(f"{url}/Users/{uid}", headers=auth()).json()
        doc.pop("meta")
        put = httpx.put(f"{url}/Users/{uid}", headers=auth(), json=doc | {"title": "Keeper"})
        assert put.status_code == 200
        rows[1] = person(2, last="Byron", dept="Poetry")
        rows[2] = person(3, status="leaver")
        write_csv(tmp_path / "people.csv", rows)
        plan = agent.plan(journal=agent.journal())
        assert plan.counts()["update"] == 2
        changes = {u.key: {c.path: c.new for c in u.changes} for u in plan.updates}
        assert changes["E000002"] == {
            "name.familyName": "Byron",
            f"{schemas.ENTERPRISE_USER}:department": "Poetry",
        }
        assert changes["E000003"] == {"active": False}
        gw.b.log.clear()
        assert agent.apply(plan, agent.journal()).failures == []
        writes = gw.requests("PATCH" if patch else "PUT")
        assert len(writes) == 2
        assert all(headers.get("If-Match", "").startswith('W/"') for _, _, headers, _ in writes)
        users = _users(url)
        assert users["E000002"]["name"]["familyName"] == "Byron"
        assert users["E000002"]["title"] == "Keeper"
        assert users["E000003"]["active"] is False
        assert agent.plan(journal=agent.journal()).empty


def test_bulk_is_used_when_advertised(tmp_path, token_env):
    """RFC 7644 s3.7: creates go out as Bulk requests of at most maxOperations."""
    with (
        scim2_server(
            tmp_path, bulk={"supported": True, "maxOperations": 25, "maxPayloadSize": 10485760}
        ) as url,
        Gateway(url.removesuffix("/v2"), Behaviour(upstream_token=TOKEN)) as gw,
    ):
        write_csv(tmp_path / "people.csv", [person(n) for n in range(1, 61)])
        agent = make_agent(tmp_path, gw.scim_url)
        counts, failures = sync_once(agent)
        assert failures == [] and counts["create"] == 60
        batches = _bulk_batches(gw, agent)  # 60 user creates / 25 per request, then the groups
        assert [(path, len(keys)) for path, keys in batches] == [
            ("/Users", 25),
            ("/Users", 25),
            ("/Users", 10),
            ("/Groups", 3),
        ]
        assert not [r for r in gw.requests("POST") if r[1] == "/v2/Users"]
        assert len(_users(url)) == 60


@pytest.mark.parametrize("failed", [0, 1], ids=["no-retry", "one-bulk-retried"])
def test_bulk_batch_splits_below_max_operations(tmp_path, token_env, failed):
    """RFC 7644 s3.7: with maxOperations 1000, ``bulk_batch = 20`` sends 60 creates as three
    Bulk requests (run concurrently, each well inside the request timeout). A Bulk request
    that meets a 503 (or a transport error: a loaded machine) is retried, not re-split."""
    behaviour = Behaviour(upstream_token=TOKEN, fail=failed, fail_path="/v2/Bulk")
    with (
        scim2_server(tmp_path) as url,
        Gateway(url.removesuffix("/v2"), behaviour) as gw,
    ):
        write_csv(tmp_path / "people.csv", [person(n) for n in range(1, 61)])
        agent = make_agent(tmp_path, gw.scim_url, target_extra="bulk_batch = 20")
        counts, failures = sync_once(agent)
        assert failures == [] and counts["create"] == 60
        batches = _bulk_batches(gw, agent)
        assert [(path, len(keys)) for path, keys in batches] == [("/Users", 20)] * 3 + [
            ("/Groups", 3)
        ]
        users = [key for path, keys in batches if path == "/Users" for key in keys]
        assert sorted(users) == [f"E{n:06d}" for n in range(1, 61)]  # each in one batch
        assert agent.client.stats["retries"] >= failed  # the old count would have said 5
        assert len(_users(url)) == 60


def test_bulk_update_with_a_stale_etag_is_retried_alone(tmp_path, token_env):
    """RFC 7644 s3.7 + s3.14: a Bulk PATCH whose version is stale gets 412 (someone, or
    our own timed-out first attempt, changed the user since we listed it); that operation
    is retried as one request on the fresh ETag instead of being reported failed."""
    with (
        scim2_server(tmp_path) as url,
        Gateway(url.removesuffix("/v2"), Behaviour(upstream_token=TOKEN)) as gw,
    ):
        rows = [person(n) for n in range(1, 6)]
        write_csv(tmp_path / "people.csv", rows)
        agent = make_agent(tmp_path, gw.scim_url)
        sync_once(agent)
        rows[0] = person(1, last="Byron")
        write_csv(tmp_path / "people.csv", rows)
        plan = agent.plan(journal=agent.journal())
        assert plan.counts()["update"] == 1
        uid = _users(url)["E000001"]["id"]
        doc = httpx.get(f"{url}/Users/{uid}", headers=auth()).json()
        doc.pop("meta")
        assert httpx.put(f"{url}/Users/{uid}", headers=auth(), json=doc | {"title": "X"}).is_success
        gw.b.log.clear()
        assert agent.apply(plan, agent.journal()).failures == []
        assert [r[1] for r in gw.requests("POST")] == ["/v2/Bulk"]
        # The lone PATCH still carries the stale ETag: 412, re-read, PATCH on the new one.
        assert len(gw.requests("PATCH")) == 2
        assert _users(url)["E000001"]["name"]["familyName"] == "Byron"


def test_missing_user_is_deactivated_or_deleted(tmp_path, scim_url, token_env):
    """A user gone from the source is deactivated (active=false), or deleted with --delete."""
    rows = [person(n) for n in range(1, 41)]
    write_csv(tmp_path / "people.csv", rows)
    agent = make_agent(tmp_path, scim_url)
    sync_once(agent)
    write_csv(tmp_path / "people.csv", rows[1:])
    counts, failures = sync_once(agent)
    assert failures == [] and counts["deactivate"] == 1 and counts["membership_remove"] == 2
    users = _users(scim_url)
    assert users["E000001"]["active"] is False and len(users) == 40
    assert users["E000001"]["id"] not in _groups(scim_url)["everyone"]
    counts, _ = sync_once(agent, delete=True)
    assert counts["delete"] == 1
    assert "E000001" not in _users(scim_url)


def test_mass_deprovision_is_refused_without_the_flag(tmp_path, scim_url, token_env):
    """Safety: more than min(5%, 50) deprovisionings needs --allow-mass-deprovision."""
    rows = [person(n) for n in range(1, 41)]
    write_csv(tmp_path / "people.csv", rows)
    agent = make_agent(tmp_path, scim_url)
    sync_once(agent)
    write_csv(tmp_path / "people.csv", rows[:35])  # 5 of 40 = 12.5% > 5%
    with pytest.raises(SafetyRefused, match="5 of 40"):
        sync_once(agent)
    assert all(u["active"] for u in _users(scim_url).values())
    counts, _ = sync_once(agent, allow_mass_deprovision=True)
    assert counts["deactivate"] == 5


def test_users_not_managed_by_the_agent_are_left_alone(tmp_path, scim_url, token_env):
    """scope=externalId: a user without externalId (created by someone else) is never touched."""
    from tests.sync.scimserver import post

    post(scim_url, "Users", {"schemas": [schemas.USER], "userName": "admin@example.com"})
    write_csv(tmp_path / "people.csv", [person(1)])
    counts, _ = sync_once(make_agent(tmp_path, scim_url))
    assert counts["deactivate"] == 0
    admin = next(u for u in list_all(scim_url, "Users") if u["userName"] == "admin@example.com")
    assert admin.get("active") is not False


def test_existing_user_is_matched_by_user_name_not_duplicated(tmp_path, scim_url, token_env):
    """Matching is by externalId, then userName: a pre-existing account is adopted."""
    from tests.sync.scimserver import post

    post(scim_url, "Users", {"schemas": [schemas.USER], "userName": "user1@example.com"})
    write_csv(tmp_path / "people.csv", [person(1)])
    counts, failures = sync_once(make_agent(tmp_path, scim_url))
    assert failures == [] and counts["create"] == 0 and counts["update"] == 1
    users = list_all(scim_url, "Users")
    assert len(users) == 1 and users[0]["externalId"] == "E000001"


def test_a_delete_of_a_user_already_gone_is_not_a_failure(tmp_path, scim_url, token_env):
    """DELETE is idempotent for the agent: a 404 means the goal is reached (RFC 7644 s3.6)."""
    rows = [person(n) for n in range(1, 41)]
    write_csv(tmp_path / "people.csv", rows)
    agent = make_agent(tmp_path, scim_url)
    sync_once(agent)
    write_csv(tmp_path / "people.csv", rows[1:])
    journal = agent.journal()
    plan = agent.plan(delete=True, journal=journal)
    (gone,) = plan.deprovisions
    assert httpx.delete(f"{scim_url}/Users/{gone.id}", headers=auth()).status_code == 204
    assert agent.apply(plan, journal).failures == []
    assert agent.plan(delete=True, journal=agent.journal()).empty


def test_a_large_group_is_created_then_filled_in_parts(tmp_path, token_env, monkeypatch):
    """A group too large for one request body (100,000 members is ~5 MB of JSON; Ostiary
    takes 4 MiB) is created with its first members and completed by PATCH add requests
    (RFC 7644 s3.5.2.1) of at most MEMBERS_PER_REQUEST; the end state is whole."""
    from ostiary.sync import ops

    monkeypatch.setattr(ops, "MEMBERS_PER_REQUEST", 4)
    no_bulk = {"supported": False, "maxOperations": 0, "maxPayloadSize": 0}
    with (
        scim2_server(tmp_path, bulk=no_bulk) as url,
        Gateway(url.removesuffix("/v2"), Behaviour(upstream_token=TOKEN)) as gw,
    ):
        write_csv(tmp_path / "people.csv", [person(n) for n in range(1, 19)])
        agent = make_agent(tmp_path, gw.scim_url)
        counts, failures = sync_once(agent)
        assert failures == [] and counts["group_create"] == 3
        users = _users(url)
        groups = _groups(url)
        assert groups["everyone"] == {u["id"] for u in users.values()}
        assert len(groups["odd"]) == 9 and len(groups["even"]) == 9
        patches = [r for r in gw.requests("PATCH") if "/Groups/" in r[1]]
        # everyone: 4 in the POST + 14 in 4 PATCHes; odd and even: 4 + 5 in 2 PATCHes each
        assert len(patches) == 4 + 2 + 2
        assert agent.plan(journal=agent.journal()).empty
