"""Fixtures for the sync agent: an independent SCIM server and a sync configuration."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ostiary.sync.config import load_config
from ostiary.sync.ldap_source import ldap3_module
from ostiary.sync.runner import Agent
from tests.sync.scimserver import TOKEN, scim2_server

ldap3_module()  # imported once, its import-time DeprecationWarning silenced

FIELDS = ["employee_id", "email", "first", "last", "dept", "status", "groups"]

MAPPING = """
[users.attributes]
userName = { column = "email", transforms = ["trim", "lower"] }
externalId = "employee_id"
"name.givenName" = "first"
"name.familyName" = "last"
displayName = { column = "first" }
"emails[work]" = { column = "email", transforms = ["trim", "lower"] }
"enterprise:department" = "dept"
active = { column = "status", map = { active = true, leaver = false }, default = true }

[groups]
column = "groups"
split = ";"
transforms = ["trim"]
"""


def person(n: int, **over: Any) -> dict[str, str]:
    row = {
        "employee_id": f"E{n:06d}",
        "email": f"User{n}@Example.com ",
        "first": f"First{n}",
        "last": f"Last{n}",
        "dept": "R&D" if n % 2 else "Sales",
        "status": "active",
        "groups": "everyone;" + ("odd" if n % 2 else "even"),
    }
    row.update(over)
    return row


def write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)


def write_config(
    tmp: Path,
    url: str,
    *,
    source: str | None = None,
    target_extra: str = "",
    safety: str = "",
    mapping: str = MAPPING,
) -> Path:
    source = source or '[source]\ntype = "csv"\npath = "people.csv"\n'
    text = (
        f'{source}\n[target]\nurl = "{url}"\ntoken = {{ env = "SYNC_TEST_TOKEN" }}\n'
        f"concurrency = 4\n{target_extra}\n{safety}\n{mapping}"
    )
    path = tmp / "sync.toml"
    path.write_text(text)
    return path


@pytest.fixture
def token_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SYNC_TEST_TOKEN", TOKEN)
    return TOKEN


@pytest.fixture
def scim_url(tmp_path: Path) -> Iterator[str]:
    with scim2_server(tmp_path) as url:
        yield url


AGENTS: list[Agent] = []


@pytest.fixture(autouse=True)
def _close_agents() -> Iterator[None]:
    """Close the agents ``make_agent`` made, in whichever module the test is: an agent
    left open keeps its keep-alive connections to the end of the run (a ResourceWarning
    "unclosed socket" at interpreter exit)."""
    yield
    while AGENTS:
        AGENTS.pop().close()


def make_agent(tmp: Path, url: str, **kw: str) -> Agent:
    """An agent for ``write_config(tmp, url, **kw)``, closed after the test."""
    agent = Agent(load_config(write_config(tmp, url, **kw)), tmp / "state")
    AGENTS.append(agent)
    return agent


def sync_once(agent: Agent, **kw: bool) -> tuple[dict[str, int], list[str]]:
    """Plan and apply once: (the plan's counts, the apply's failures)."""
    journal = agent.journal()
    plan = agent.plan(delete=kw.pop("delete", False), journal=journal)
    summary = agent.apply(plan, journal, **kw)
    return plan.counts(), summary.failures
