"""Ostiary as a source (issue 8 points 1 and 6): each SCIM write in a served Ostiary is
pushed from the transactional outbox to a downstream SCIM 2.0 server (scim2-server, behind
a gateway that can fail), as it happens. RFC 7644 s3.3 (create), s3.5.2 (PATCH), s3.14
(ETags); deactivation rather than deletion (issue 8 point 3); retries after an outage."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from ostiary.scim import schemas
from tests.support.server import OSTIARY, run_cli, served
from tests.support.services import scratch_postgres_database
from tests.sync.gateway import Behaviour, Gateway
from tests.sync.scimserver import TOKEN, list_all, scim2_server

DOWNSTREAM_ENV = "OSTIARY_TEST_DOWNSTREAM_TOKEN"


@dataclass
class Served:
    scim: str  # Ostiary's SCIM base
    key: str
    env: dict[str, str]
    cwd: Path

    def http(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        resp = httpx.request(
            method,
            f"{self.scim}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self.key}"},
            timeout=30,
        )
        assert resp.status_code < 300, resp.text
        return resp.json() if resp.content else {}

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [OSTIARY, *args],
            env={**os.environ, **self.env},
            cwd=self.cwd,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ostiary(request, tmp_path: Path) -> Iterator[Served]:
    """A served Ostiary whose environment holds the downstream token (a --token-env ref)."""
    cm = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ostiary.db'}"
    else:
        cm = scratch_postgres_database()
        url = cm.__enter__()
    env = {
        "OSTIARY_DATABASE_URL": url,
        "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "master.key"),
        "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
        DOWNSTREAM_ENV: TOKEN,
    }
    try:
        init = run_cli("init", "--bootstrap-key", env=env, cwd=tmp_path)
        assert init.returncode == 0, init.stderr
        key = re.search(r"ost_pk_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}", init.stdout)
        assert key
        with served(env, tmp_path, tmp_path / "serve.log") as (base, _):
            yield Served(f"{base}/scim/v2", key.group(0), env, tmp_path)
    finally:
        if cm is not None:
            cm.__exit__(None, None, None)


@pytest.fixture
def downstream(tmp_path: Path) -> Iterator[tuple[str, Gateway]]:
    """scim2-server (the real downstream app) and a gateway in front that can fail."""
    with (
        scim2_server(tmp_path) as url,
        Gateway(url.removesuffix("/v2"), Behaviour(upstream_token=TOKEN)) as gw,
    ):
        yield url, gw


def eventually(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Wait for the outbox worker: delivery is asynchronous by design."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("the downstream server never reached the expected state")
        time.sleep(0.2)


def copy_of(url: str, ostiary_id: str) -> dict[str, Any] | None:
    """The downstream user whose externalId is the Ostiary id."""
    return next((u for u in list_all(url, "Users") if u.get("externalId") == ostiary_id), None)


def group_named(url: str, name: str) -> dict[str, Any] | None:
    return next((g for g in list_all(url, "Groups") if g["displayName"] == name), None)


def status(o: Served) -> dict[str, dict[str, Any]]:
    done = o.cli("sync", "targets", "status", "--json")
    assert done.returncode == 0, done.stderr
    return {row["name"]: row for row in json.loads(done.stdout)}


def user(user_name: str, **extra: Any) -> dict[str, Any]:
    return {"schemas": [schemas.USER], "userName": user_name, **extra}


def patch(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [schemas.PATCH_OP], "Operations": list(ops)}


def test_user_writes_are_pushed_as_they_happen_and_survive_an_outage(ostiary, downstream):
    """Create, update, deactivate over SCIM in Ostiary; the downstream copy follows. During
    an outage the pushes wait in the outbox (pending) and the latest state lands after."""
    url, gw = downstream
    added = ostiary.cli(
        "sync", "targets", "add", "app", "--url", gw.scim_url, "--token-env", DOWNSTREAM_ENV
    )
    assert added.returncode == 0, added.stderr
    ada = ostiary.http("POST", "/Users", user("ada@example.com", name={"givenName": "Ada"}))
    got = eventually(lambda: copy_of(url, ada["id"]))
    assert got["userName"] == "ada@example.com" and got["name"]["givenName"] == "Ada"
    assert got["active"] is True

    ostiary.http(
        "PATCH",
        f"/Users/{ada['id']}",
        patch({"op": "replace", "path": "title", "value": "Countess"}),
    )
    eventually(lambda: (copy_of(url, ada["id"]) or {}).get("title") == "Countess")

    gw.b.fail = 10**6  # the downstream app is down
    ostiary.http(
        "PATCH",
        f"/Users/{ada['id']}",
        patch({"op": "replace", "path": "title", "value": "Analyst"}),
    )
    ostiary.http(
        "PATCH",
        f"/Users/{ada['id']}",
        patch({"op": "replace", "path": "displayName", "value": "Ada L"}),
    )
    eventually(lambda: status(ostiary)["app"]["pending"] == 2 and len(gw.requests()) > 2)
    assert copy_of(url, ada["id"])["title"] == "Countess"  # nothing got through
    gw.b.fail = 0  # recovery: the outbox's retries deliver, newest state wins
    eventually(lambda: status(ostiary)["app"]["pending"] == 0, timeout=90)
    got = copy_of(url, ada["id"])
    assert got["title"] == "Analyst" and got["displayName"] == "Ada L"
    assert status(ostiary)["app"]["dead"] == 0

    ostiary.http(
        "PATCH", f"/Users/{ada['id']}", patch({"op": "replace", "path": "active", "value": False})
    )
    eventually(lambda: (copy_of(url, ada["id"]) or {}).get("active") is False)
    ostiary.http("DELETE", f"/Users/{ada['id']}")
    eventually(lambda: status(ostiary)["app"]["pending"] == 0)
    # Deleted in Ostiary: deactivated downstream, not deleted (no --delete-users).
    left = copy_of(url, ada["id"])
    assert left is not None and left["active"] is False
    assert len(list_all(url, "Users")) == 1


def test_groups_are_pushed_with_their_members(ostiary, downstream):
    """Group create, member add/remove, delete (RFC 7644 s3.5.2 members PATCH) reach the
    downstream group, with members resolved to the downstream users' ids."""
    url, gw = downstream
    added = ostiary.cli(
        "sync", "targets", "add", "app", "--url", gw.scim_url, "--token-stdin", stdin=TOKEN + "\n"
    )
    assert added.returncode == 0, added.stderr
    bob = ostiary.http("POST", "/Users", user("bob@example.com"))
    cy = ostiary.http("POST", "/Users", user("cy@example.com"))
    eng = ostiary.http(
        "POST",
        "/Groups",
        {"schemas": [schemas.GROUP], "displayName": "eng", "members": [{"value": bob["id"]}]},
    )

    def members() -> set[str]:
        g = group_named(url, "eng") or {}
        return {m["value"] for m in g.get("members") or []}

    eventually(lambda: copy_of(url, bob["id"]) and members() == {copy_of(url, bob["id"])["id"]})
    ostiary.http(
        "PATCH",
        f"/Groups/{eng['id']}",
        patch(
            {"op": "add", "path": "members", "value": [{"value": cy["id"]}]},
            {"op": "remove", "path": f'members[value eq "{bob["id"]}"]'},
        ),
    )
    eventually(lambda: members() == {(copy_of(url, cy["id"]) or {}).get("id")})
    ostiary.http("DELETE", f"/Groups/{eng['id']}")
    eventually(lambda: members() == set())
    assert status(ostiary)["app"]["dead"] == 0
    listed = ostiary.cli("sync", "targets", "list", "--json")
    assert json.loads(listed.stdout)[0]["credential"] == "sealed"
    assert TOKEN not in listed.stdout


@pytest.mark.parametrize("ostiary", ["sqlite"], indirect=True)
def test_group_filter_backfill_and_the_ostiary_source_agree(ostiary, downstream, tmp_path):
    """A target limited to one group: backfill (full reconciliation from Ostiary's store)
    pushes only its members; joining the group pushes a user, leaving it deactivates the
    copy. `ostiary sync plan` with `type = "ostiary"` uses the same mapping (no spurious
    updates). Issue 8 points 1, 3 and 6."""
    url, gw = downstream
    u1, u2, u3 = (ostiary.http("POST", "/Users", user(f"u{n}@example.com")) for n in (1, 2, 3))
    staff = ostiary.http(
        "POST",
        "/Groups",
        {"schemas": [schemas.GROUP], "displayName": "staff", "members": [{"value": u1["id"]}]},
    )
    add = ("sync", "targets", "add", "app", "--url", gw.scim_url, "--group", "staff")
    added = ostiary.cli(*add, "--token-env", DOWNSTREAM_ENV)
    assert added.returncode == 0, added.stderr
    state = ("--state-dir", str(tmp_path / "state"))
    shown = ostiary.cli("sync", "targets", "backfill", "app", *state)
    assert shown.returncode == 0, shown.stderr
    assert "create=1 update=0" in shown.stdout and list_all(url, "Users") == []
    done = ostiary.cli("sync", "targets", "backfill", "app", "--apply", *state)
    assert done.returncode == 0, done.stderr + done.stdout
    assert [u["externalId"] for u in list_all(url, "Users")] == [u1["id"]]
    again = ostiary.cli("sync", "targets", "backfill", "app", *state)
    assert "create=0 update=0 deactivate=0" in again.stdout, again.stdout

    ostiary.http(
        "PATCH",
        f"/Groups/{staff['id']}",
        patch({"op": "add", "path": "members", "value": [{"value": u2["id"]}]}),
    )
    eventually(lambda: copy_of(url, u2["id"]))
    ostiary.http(
        "PATCH",
        f"/Groups/{staff['id']}",
        patch({"op": "remove", "path": f'members[value eq "{u1["id"]}"]'}),
    )
    eventually(lambda: (copy_of(url, u1["id"]) or {}).get("active") is False)
    eventually(lambda: status(ostiary)["app"]["pending"] == 0)
    group = group_named(url, "staff") or {}
    assert {m["value"] for m in group.get("members") or []} == {copy_of(url, u2["id"])["id"]}
    assert copy_of(url, u3["id"]) is None

    (tmp_path / "sync.toml").write_text(
        f'[source]\ntype = "ostiary"\n\n[target]\nurl = "{url}"\n'
        f'token = {{ env = "{DOWNSTREAM_ENV}" }}\n'
    )
    planned = ostiary.cli("sync", "plan", "-c", str(tmp_path / "sync.toml"), "--json", *state)
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert [c["userName"] for c in plan["creates"]] == ["u3@example.com"]
    # u2 is identical downstream; u1 only differs by being out of the filtered target.
    assert [(u["userName"], [c["path"] for c in u["changes"]]) for u in plan["updates"]] == [
        ("u1@example.com", ["active"])
    ]
