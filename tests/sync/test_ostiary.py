"""The agent against Ostiary itself, served as a real process (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ostiary.scim import schemas
from ostiary.sync.apply import Applier
from ostiary.sync.auth import BearerAuth
from ostiary.sync.client import ScimClient
from ostiary.sync.config import load_config
from ostiary.sync.journal import Journal
from ostiary.sync.plan import make_plan
from ostiary.sync.runner import Agent
from ostiary.sync.sources import desired_state
from tests.support.server import run_cli, served
from tests.support.services import scratch_postgres_database
from tests.sync.conftest import person, write_config, write_csv
from tests.sync.scimserver import TOKEN, list_all


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ostiary(request, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(SCIM base URL, provisioning key) of a served Ostiary."""
    if request.param == "sqlite":
        db: Iterator[str] = iter([f"sqlite:///{tmp_path / 'ostiary.db'}"])
        cm = None
    else:
        cm = scratch_postgres_database()
        db = iter([cm.__enter__()])
    env = {
        "OSTIARY_DATABASE_URL": next(db),
        "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "master.key"),
        "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
    }
    try:
        init = run_cli("init", "--bootstrap-key", env=env, cwd=tmp_path)
        assert init.returncode == 0, init.stderr
        token = re.search(r"ost_pk_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}", init.stdout)
        assert token
        with served(env, tmp_path, tmp_path / "serve.log") as (base, _):
            yield f"{base}/scim/v2", token.group(0)
    finally:
        if cm is not None:
            cm.__exit__(None, None, None)


def test_creates_reach_ostiary_with_a_provisioning_key(tmp_path, ostiary):
    """Works on main today: the agent's create path (POST, RFC 7644 s3.3) with a bearer
    provisioning key, journalled ids that GET /Users/{id} returns."""
    url, key = ostiary
    write_csv(tmp_path / "people.csv", [person(n) for n in range(1, 6)])
    cfg = load_config(write_config(tmp_path, url, mapping=MAPPING_NO_GROUPS))
    from ostiary.sync.sources import CsvSource

    users, _ = desired_state(CsvSource(tmp_path / "people.csv").records(), cfg.mapping)
    plan = make_plan(users, [], [], [], compare_paths=cfg.mapping.compare_paths)
    client = ScimClient(url, auth=BearerAuth(key))
    journal = Journal.open(tmp_path / "state", url)
    try:
        summary = Applier(client, journal, use_bulk=False).run(plan)
        assert summary.failures == [] and summary.done == {"create": 5}
        for ext, rid in Journal.open(tmp_path / "state", url).users.items():
            got = httpx.get(f"{url}/Users/{rid}", headers={"Authorization": f"Bearer {key}"})
            assert got.status_code == 200 and got.json()["externalId"] == ext
            assert got.json()[schemas.ENTERPRISE_USER]["department"] in ("R&D", "Sales")
    finally:
        client.close()


def test_csv_to_ostiary_converges_and_second_apply_is_a_no_op(tmp_path, ostiary, monkeypatch):
    url, key = ostiary
    monkeypatch.setenv("SYNC_TEST_TOKEN", key)
    rows = [person(n) for n in range(1, 21)]
    write_csv(tmp_path / "people.csv", rows)
    agent = Agent(load_config(write_config(tmp_path, url)), tmp_path / "state")
    try:
        journal = agent.journal()
        assert agent.apply(agent.plan(journal=journal), journal).failures == []
        rows[0] = person(1, last="Changed")
        write_csv(tmp_path / "people.csv", rows[:-1])
        journal = agent.journal()
        plan = agent.plan(journal=journal)
        assert plan.counts()["update"] == 1 and plan.counts()["deactivate"] == 1
        assert agent.apply(plan, journal, allow_mass_deprovision=True).failures == []
        assert agent.plan(journal=agent.journal()).empty
        users = list_all(url, "Users", token=key)
        assert len(users) == 20 and len({u["userName"] for u in users}) == 20
    finally:
        agent.close()


def test_ostiary_as_a_source_provisions_a_downstream_app(tmp_path, ostiary, scim_url, monkeypatch):
    """Outbound provisioning: Ostiary's users pulled over SCIM, pushed to another server."""
    url, key = ostiary
    monkeypatch.setenv("SYNC_SOURCE_TOKEN", key)
    monkeypatch.setenv("SYNC_TEST_TOKEN", TOKEN)
    for n in range(1, 4):
        httpx.post(
            f"{url}/Users",
            headers={"Authorization": f"Bearer {key}"},
            json={"schemas": [schemas.USER], "userName": f"o{n}@example.com"},
        )
    source = f'[source]\ntype = "ostiary"\nurl = "{url}"\ntoken = {{ env = "SYNC_SOURCE_TOKEN" }}\n'
    agent = Agent(
        load_config(write_config(tmp_path, scim_url, source=source, mapping=PASSTHROUGH)),
        tmp_path / "state",
    )
    try:
        journal = agent.journal()
        assert agent.apply(agent.plan(journal=journal), journal).failures == []
    finally:
        agent.close()
    assert sorted(u["userName"] for u in list_all(scim_url, "Users")) == [
        "o1@example.com",
        "o2@example.com",
        "o3@example.com",
    ]


MAPPING_NO_GROUPS = """
[users.attributes]
userName = { column = "email", transforms = ["trim", "lower"] }
externalId = "employee_id"
"name.familyName" = "last"
"enterprise:department" = "dept"
"""

PASSTHROUGH = """
[users.attributes]
userName = "userName"
externalId = "id"
"name.givenName" = "name.givenName"
"name.familyName" = "name.familyName"
active = "active"

[groups]
column = "groups"
"""


def _fetch(url: str, key: str, resource: str, ids: list[str]) -> list[dict]:
    out = []
    for rid in ids:
        got = httpx.get(f"{url}/{resource}/{rid}", headers={"Authorization": f"Bearer {key}"})
        assert got.status_code == 200, got.text
        out.append(got.json())
    return out


def test_bulk_patch_and_groups_against_ostiary_without_listing(tmp_path, ostiary):
    """The apply path against Ostiary (Bulk create, PATCH with If-Match, groups and
    memberships), reading the state back by id from the journal: no listing needed."""
    url, key = ostiary
    rows = [person(n) for n in range(1, 9)]
    write_csv(tmp_path / "people.csv", rows)
    cfg = load_config(write_config(tmp_path, url))
    from ostiary.sync.sources import CsvSource

    client = ScimClient(url, auth=BearerAuth(key))
    try:
        assert client.features().patch and client.features().bulk

        def converge() -> None:
            users, groups = desired_state(CsvSource(tmp_path / "people.csv").records(), cfg.mapping)
            journal = Journal.open(tmp_path / "state", url)
            plan = make_plan(
                users,
                groups,
                _fetch(url, key, "Users", list(journal.users.values())),
                _fetch(url, key, "Groups", list(journal.groups.values())),
                compare_paths=cfg.mapping.compare_paths,
                known_users=journal.users,
                known_groups=journal.groups,
            )
            assert Applier(client, journal).run(plan).failures == []

        converge()
        rows[0] = person(1, last="Byron", groups="everyone")
        write_csv(tmp_path / "people.csv", rows)
        converge()
        journal = Journal.open(tmp_path / "state", url)
        users, groups = desired_state(CsvSource(tmp_path / "people.csv").records(), cfg.mapping)
        remote = _fetch(url, key, "Users", list(journal.users.values()))
        remote_groups = _fetch(url, key, "Groups", list(journal.groups.values()))
        final = make_plan(
            users,
            groups,
            remote,
            remote_groups,
            compare_paths=cfg.mapping.compare_paths,
            known_users=journal.users,
            known_groups=journal.groups,
        )
        assert final.empty, final.to_json()
        odd = next(g for g in remote_groups if g["displayName"] == "odd")
        assert journal.users["E000001"] not in {m["value"] for m in odd.get("members", [])}
    finally:
        client.close()
