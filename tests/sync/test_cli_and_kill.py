"""``ostiary sync plan|apply`` as a real process. The journal makes a run killed with
SIGKILL half-way converge on the next run: exactly the intended users and groups, no
duplicates (issue 8 "Done when")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.support.server import OSTIARY, run_cli
from tests.sync.conftest import person, write_config, write_csv
from tests.sync.gateway import Behaviour, Gateway
from tests.sync.scimserver import TOKEN, list_all, scim2_server

ENV = {"SYNC_TEST_TOKEN": TOKEN}


def _cli(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "sync",
        *args,
        "-c",
        str(tmp / "sync.toml"),
        "--state-dir",
        str(tmp / "state"),
        env=ENV,
        cwd=tmp,
    )


def _assert_exact(url: str, rows: list[dict[str, str]]) -> None:
    users = list_all(url, "Users")
    assert Counter(u["externalId"] for u in users) == Counter(r["employee_id"] for r in rows)
    by_ext = {u["externalId"]: u["id"] for u in users}
    groups = list_all(url, "Groups")
    assert sorted(g["displayName"] for g in groups) == ["even", "everyone", "odd"]
    members = {g["displayName"]: sorted(m["value"] for m in g.get("members") or []) for g in groups}
    assert members["everyone"] == sorted(by_ext.values())
    assert members["odd"] == sorted(
        by_ext[r["employee_id"]] for r in rows if int(r["employee_id"][1:]) % 2
    )


def test_plan_json_then_apply_then_nothing_to_do(tmp_path, scim_url):
    rows = [person(n) for n in range(1, 11)]
    write_csv(tmp_path / "people.csv", rows)
    write_config(tmp_path, scim_url)
    planned = _cli(tmp_path, "plan", "--json")
    assert planned.returncode == 0, planned.stderr
    doc = json.loads(planned.stdout)
    assert doc["counts"]["create"] == 10 and doc["counts"]["group_create"] == 3
    assert list_all(scim_url, "Users") == []  # plan changes nothing
    table = _cli(tmp_path, "plan")
    assert "create" in table.stdout and "user1@example.com" in table.stdout
    applied = _cli(tmp_path, "apply", "--quiet")
    assert applied.returncode == 0, applied.stderr
    assert "applied: create=10" in applied.stdout
    _assert_exact(scim_url, rows)
    again = _cli(tmp_path, "apply", "--quiet")
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_cli_refuses_mass_deprovision_with_exit_3(tmp_path, scim_url):
    rows = [person(n) for n in range(1, 21)]
    write_csv(tmp_path / "people.csv", rows)
    write_config(tmp_path, scim_url)
    assert _cli(tmp_path, "apply", "--quiet").returncode == 0
    write_csv(tmp_path / "people.csv", rows[:10])
    assert "apply will refuse this plan" in _cli(tmp_path, "plan").stderr
    refused = _cli(tmp_path, "apply", "--quiet")
    assert refused.returncode == 3 and "--allow-mass-deprovision" in refused.stderr
    assert all(u["active"] for u in list_all(scim_url, "Users"))
    done = _cli(tmp_path, "apply", "--allow-mass-deprovision")  # with progress bars
    assert done.returncode == 0 and "deprovision=10" in done.stdout


def test_a_secret_in_the_config_is_refused_by_the_cli(tmp_path, scim_url):
    path = write_config(tmp_path, scim_url, target_extra='password = "hunter2"')
    assert path.exists()
    result = _cli(tmp_path, "plan")
    assert result.returncode == 2 and "target.password" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


@pytest.mark.parametrize("bulk", [False, True], ids=["one-request-per-change", "bulk"])
def test_kill_9_half_way_then_apply_again_converges(tmp_path, bulk):
    """SIGKILL mid-apply, then a second apply: exactly the intended users and groups."""
    rows = [person(n) for n in range(1, 301)]
    write_csv(tmp_path / "people.csv", rows)
    features = {"bulk": {"supported": bulk, "maxOperations": 20, "maxPayloadSize": 10485760}}
    with (
        scim2_server(tmp_path, **features) as url,
        Gateway(
            url.removesuffix("/v2"), Behaviour(upstream_token=TOKEN, delay=0.15 if bulk else 0.02)
        ) as gw,
    ):
        write_config(tmp_path, gw.scim_url)
        env = {**os.environ, **ENV}
        cmd = [
            OSTIARY,
            "sync",
            "apply",
            "-c",
            str(tmp_path / "sync.toml"),
            "--state-dir",
            str(tmp_path / "state"),
            "--quiet",
        ]
        proc = subprocess.Popen(
            cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        path = "/v2/Bulk" if bulk else "/v2/Users"
        deadline = time.monotonic() + 60
        while len([r for r in gw.requests("POST") if r[1] == path]) < (4 if bulk else 100):
            assert proc.poll() is None, "apply finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        time.sleep(0.5)  # let requests already in flight land on the server
        created = len(list_all(url, "Users"))
        assert 0 < created < 300, "the kill must land half-way"
        gw.b.delay = 0
        second = subprocess.run(
            cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert second.returncode == 0, second.stderr
        assert "interrupted" in second.stderr
        _assert_exact(url, rows)
        third = subprocess.run(
            cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert "nothing to do" in third.stdout
