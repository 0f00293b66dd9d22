"""Another SCIM server as the source (pull, RFC 7644 s3.4.2); ``watch`` re-plans when the
file changes and on an interval."""

from __future__ import annotations

import threading
import time

from ostiary.sync.config import load_config
from ostiary.sync.runner import Agent
from ostiary.sync.watch import Cycle, watch
from tests.sync.conftest import person, write_config, write_csv
from tests.sync.scimserver import TOKEN, list_all, post, scim2_server
from tests.sync.test_ostiary import PASSTHROUGH


def test_pull_from_one_scim_server_push_to_another(tmp_path, scim_url, token_env, monkeypatch):
    monkeypatch.setenv("SYNC_SOURCE_TOKEN", TOKEN)
    with scim2_server(tmp_path) as source_url:
        ids = [
            post(
                source_url,
                "Users",
                {
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": f"s{n}@example.com",
                    "name": {"givenName": f"S{n}"},
                },
            )["id"]
            for n in range(1, 4)
        ]
        post(
            source_url,
            "Groups",
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "pulled",
                "members": [{"value": ids[0]}],
            },
        )
        source = (
            f'[source]\ntype = "scim"\nurl = "{source_url}"\n'
            'token = { env = "SYNC_SOURCE_TOKEN" }\n'
        )
        agent = Agent(
            load_config(write_config(tmp_path, scim_url, source=source, mapping=PASSTHROUGH)),
            tmp_path / "state",
        )
        try:
            journal = agent.journal()
            assert agent.apply(agent.plan(journal=journal), journal).failures == []
            assert agent.plan(journal=agent.journal()).empty
        finally:
            agent.close()
    users = {u["externalId"]: u for u in list_all(scim_url, "Users")}
    assert set(users) == set(ids)  # the source's ids are the stable externalIds
    assert users[ids[1]]["name"]["givenName"] == "S2"
    (group,) = list_all(scim_url, "Groups")
    assert group["displayName"] == "pulled"
    assert [m["value"] for m in group["members"]] == [users[ids[0]]["id"]]


def _wait(cycles: list[Cycle], n: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while len(cycles) < n:
        assert time.monotonic() < deadline, cycles
        time.sleep(0.05)


def test_watch_replans_on_file_change_and_on_interval(tmp_path, scim_url, token_env):
    rows = [person(n) for n in range(1, 6)]
    write_csv(tmp_path / "people.csv", rows)
    agent = Agent(load_config(write_config(tmp_path, scim_url)), tmp_path / "state")
    cycles: list[Cycle] = []
    stop = threading.Event()
    thread = threading.Thread(
        target=watch,
        args=(agent,),
        kwargs={"interval": 2.0, "poll": 0.05, "on_cycle": cycles.append, "stop": stop},
    )
    thread.start()
    try:
        _wait(cycles, 1)
        assert cycles[0].reason == "start" and cycles[0].plan.counts()["create"] == 5
        rows[0] = person(1, first="Renamed")
        time.sleep(0.01)
        write_csv(tmp_path / "people.csv", rows)
        _wait(cycles, 2)
        assert cycles[1].reason == "source changed"
        assert cycles[1].plan.counts()["update"] == 1 and not cycles[1].summary.failures
        _wait(cycles, 3)
        assert cycles[2].reason == "interval" and cycles[2].plan.empty
        (tmp_path / "people.csv").write_text("not,a\nvalid")  # a bad cycle does not stop it
        _wait(cycles, 4)
        assert cycles[3].error and "userName" in cycles[3].error
    finally:
        stop.set()
        thread.join(10)
        agent.close()
    users = {u["externalId"]: u for u in list_all(scim_url, "Users")}
    assert users["E000001"]["displayName"] == "Renamed"
