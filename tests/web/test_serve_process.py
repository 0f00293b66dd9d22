"""`ostiary serve` end to end: the printed curl flow over real HTTP, then SIGTERM."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx

from tests.support.server import run_cli, served


def test_quickstart_key_creates_a_user_and_sigterm_shuts_down_gracefully(tmp_path: Path):
    env = {
        "OSTIARY_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'ostiary.db'}",
        "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "var" / "master.key"),
        "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
    }
    init = run_cli("init", "--bootstrap-key", env=env, cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    token = re.search(r"ost_pk_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}", init.stdout)
    assert token, init.stdout
    assert "curl -s -X POST" in init.stdout
    assert re.search(r"Start page: http://\S+/ ", init.stdout), init.stdout
    headers = {"Authorization": f"Bearer {token.group(0)}"}
    log = tmp_path / "serve.log"
    with served(env, tmp_path, log) as (base, proc):
        user = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ada@example.com",
        }
        created = httpx.post(f"{base}/scim/v2/Users", json=user, headers=headers)
        assert created.status_code == 201
        got = httpx.get(f"{base}/scim/v2/Users/{created.json()['id']}", headers=headers)
        assert got.json()["userName"] == "ada@example.com"
        # The eq lookup's fast path under granian (web/scim/fast_lookup.py).
        flt = {"filter": 'userName eq "ADA@example.com"'}
        found = httpx.get(f"{base}/scim/v2/Users", params=flt, headers=headers)
        assert found.status_code == 200 and found.json()["totalResults"] == 1
        # The start page the quickstart names answers under granian, GET and HEAD alike.
        home = httpx.get(f"{base}/")
        assert home.status_code == 200 and 'href="/login"' in home.text
        assert httpx.head(f"{base}/").status_code == 200
        proc.send_signal(__import__("signal").SIGTERM)
        assert proc.wait(20) == 0
    text = log.read_text()
    assert '"event": "shutdown"' in text
    assert created.headers["x-request-id"] in text  # JSON access log carries the id
    line = next(x for x in text.splitlines() if found.headers["x-request-id"] in x)
    assert '"route": "/scim/v2/Users"' in line and '"status": 200' in line


def test_metrics_sum_over_several_workers(tmp_path: Path):
    """The workers' counters meet in one multiprocess directory that ``serve`` makes, and
    removes when it stops (a restarted server must not leave one behind each time)."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {
        "OSTIARY_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'ostiary.db'}",
        "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "var" / "master.key"),
        "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
        "OSTIARY_WORKERS": "2",
        "TMPDIR": str(scratch),  # where tempfile makes the metrics directory
    }
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    with served(env, tmp_path, tmp_path / "serve.log") as (base, proc), httpx.Client() as http:
        for _ in range(20):
            http.get(f"{base}/readyz")
        text = http.get(f"{base}/metrics").text
        assert [p.name[:16] for p in scratch.iterdir()] == ["ostiary-metrics-"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    assert list(scratch.iterdir()) == []
    line = next(
        x
        for x in text.splitlines()
        if x.startswith("ostiary_http_requests_total{") and "/readyz" in x
    )
    assert line.endswith(" 20.0"), line
