"""Re-sync reading (sync/remote.py) against scim2-server: a user whose desired values and
``meta.version`` (RFC 7644 s3.14) are unchanged since the journal saw them is not compared;
any write to it on the target, or a change in the source, makes it compared again.
Listings ask for attributes (RFC 7644 s3.4.2.5)."""

from __future__ import annotations

import httpx

from ostiary.sync.journal import Journal
from ostiary.sync.remote import MATCH_ATTRIBUTES
from tests.sync.conftest import make_agent, person, sync_once, write_csv
from tests.sync.gateway import Behaviour, Gateway
from tests.sync.scimserver import TOKEN, auth, list_all, scim2_server


def _listings(gw: Gateway) -> list[str]:
    """Per GET /Users: its attributes, or the start of its filter."""
    out = []
    for _, path, _, _ in gw.requests("GET"):
        url = httpx.URL(path)
        if url.path.endswith("/Users"):
            out.append(url.params.get("filter", "")[:5] or url.params.get("attributes", ""))
    return out


def test_unchanged_users_are_not_compared_and_drift_is_seen(tmp_path, token_env):
    with (
        scim2_server(tmp_path) as url,
        Gateway(url.removesuffix("/v2"), Behaviour(upstream_token=TOKEN)) as gw,
    ):
        rows = [person(n) for n in range(1, 11)]
        write_csv(tmp_path / "people.csv", rows)
        agent = make_agent(tmp_path, gw.scim_url)
        assert sync_once(agent)[1] == []
        journal = agent.journal()
        # Bulk results carry each created user's version: all ten are known.
        assert len(journal.seen) == 10
        gw.b.log.clear()
        plan = agent.plan(journal=journal)
        assert plan.empty and set(plan.matched) == set(journal.seen)
        # One listing of what matching reads; no full fetch: nothing to compare.
        users_gets = [p for p in _listings(gw) if p.startswith("userName")]
        assert users_gets == [",".join(MATCH_ATTRIBUTES)]

        # Someone else changes a compared attribute: the version moves, the user is
        # fetched (an id filter) and compared, and the change is undone by the plan.
        uid = next(u for u in list_all(url, "Users") if u["externalId"] == "E000004")["id"]
        doc = httpx.get(f"{url}/Users/{uid}", headers=auth()).json()
        doc.pop("meta")
        doc["name"]["familyName"] = "Drifted"
        assert httpx.put(f"{url}/Users/{uid}", headers=auth(), json=doc).status_code == 200
        # A source change of another user: its hash moves.
        rows[6] = person(7, last="Renamed")
        write_csv(tmp_path / "people.csv", rows)
        gw.b.log.clear()
        plan = agent.plan(journal=agent.journal())
        changed = {u.key: {c.path: c.new for c in u.changes} for u in plan.updates}
        assert changed == {
            "E000004": {"name.familyName": "Last4"},
            "E000007": {"name.familyName": "Renamed"},
        }
        assert any(p.startswith("id eq") for p in _listings(gw))
        assert agent.apply(plan, agent.journal()).failures == []
        assert agent.plan(journal=agent.journal()).empty


def test_seen_entries_survive_compaction_and_forget(tmp_path):
    journal = Journal.open(tmp_path, "http://t")
    journal.append(
        {"t": "user", "key": "a", "id": "1"},
        {"t": "seen", "key": "a", "id": "1", "h": "x", "v": 'W/"2"'},
        {"t": "user", "key": "b", "id": "2"},
        {"t": "seen", "key": "b", "id": "2", "h": "y", "v": 'W/"1"'},
    )
    journal.compact()
    again = Journal.open(tmp_path, "http://t")
    assert again.seen == {"a": ("1", "x", 'W/"2"'), "b": ("2", "y", 'W/"1"')}
    again.append({"t": "forget", "key": "a"})
    assert Journal.open(tmp_path, "http://t").seen == {"b": ("2", "y", 'W/"1"')}


def test_a_write_retried_after_412_is_not_taken_as_holding_our_values(tmp_path, token_env):
    """RFC 7644 s3.14: our PATCH was If-Match the version we compared; when someone wrote
    in between (412), the retried write lands on their change, so its version proves
    nothing about the attributes we did not send: the next plan compares the user."""
    with scim2_server(tmp_path) as url:
        rows = [person(n) for n in range(1, 4)]
        write_csv(tmp_path / "people.csv", rows)
        agent = make_agent(tmp_path, url)
        assert sync_once(agent)[1] == []
        rows[0] = person(1, last="Byron")
        write_csv(tmp_path / "people.csv", rows)
        plan = agent.plan(journal=agent.journal())
        assert [u.key for u in plan.updates] == ["E000001"]
        uid = plan.updates[0].id
        doc = httpx.get(f"{url}/Users/{uid}", headers=auth()).json()
        doc.pop("meta")
        doc["name"]["givenName"] = "Someone"
        assert httpx.put(f"{url}/Users/{uid}", headers=auth(), json=doc).status_code == 200
        assert agent.apply(plan, agent.journal()).failures == []
        again = agent.plan(journal=agent.journal())
        assert {c.path: c.new for u in again.updates for c in u.changes} == {
            "name.givenName": "First1"
        }
