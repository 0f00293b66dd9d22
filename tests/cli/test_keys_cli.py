"""``ostiary keys`` and ``ostiary admin-tokens`` as real processes (issue 4 point 10):
each command answers --json, and the secret appears only at creation and rotation."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from sqlalchemy import select

from ostiary.store.db import Database
from ostiary.store.tables_audit import audit_events
from tests.support.server import run_cli


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "OSTIARY_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'ostiary.db'}",
        "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "var" / "master.key"),
        "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
    }


def _json(env: dict[str, str], cwd: Path, *args: str) -> object:
    result = run_cli(*args, "--json", env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_key_commands_with_json_and_audit(tmp_path: Path):
    env = _env(tmp_path)
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    created = _json(
        env,
        tmp_path,
        "keys",
        "create",
        "--name",
        "hr",
        "--scope",
        "users:read",
        "--allow-cidr",
        "10.0.0.0/8",
        "--attr",
        "User=userName,active",
    )
    key_id, token = created["id"], created["key"]
    assert created["allowed_cidrs"] == ["10.0.0.0/8"]
    assert created["attributes"] == {"User": ["active", "username"]}
    shown = _json(env, tmp_path, "keys", "show", key_id)
    assert "key" not in shown and shown["display"].endswith(token[-4:])
    assert [k["id"] for k in _json(env, tmp_path, "keys", "list")] == [key_id]
    rotated = _json(env, tmp_path, "keys", "rotate", key_id, "--overlap", "1h")
    assert rotated["version"] == 2 and rotated["key"] != token
    assert _json(env, tmp_path, "keys", "set", key_id, "--require-dpop")["require_dpop"] is True
    assert _json(env, tmp_path, "keys", "disable", key_id)["status"] == "disabled"
    assert _json(env, tmp_path, "keys", "enable", key_id)["status"] == "active"
    assert _json(env, tmp_path, "keys", "check", token)["valid"] is True
    leak = _json(env, tmp_path, "keys", "report-leak", rotated["key"])
    assert leak == {"known": True, "revoked": True, "key_id": key_id}
    assert _json(env, tmp_path, "keys", "show", key_id)["status"] == "revoked"
    unknown = run_cli("keys", "report-leak", "ost_pk_nothing", "--json", env=env, cwd=tmp_path)
    assert unknown.returncode == 1
    assert _json(env, tmp_path, "keys", "run-scheduler", "--once") == {
        "rotated": [],
        "failed": [],
        "warned": [],
    }
    tok = _json(env, tmp_path, "admin-tokens", "create", "--name", "ci", "--scope", "keys:read")
    assert tok["token"].startswith("ost_at_")
    assert _json(env, tmp_path, "admin-tokens", "revoke", tok["id"])["status"] == "revoked"
    db = Database(env["OSTIARY_DATABASE_URL"], pool_size=1)
    try:
        with db.read() as conn:
            rows = conn.execute(select(audit_events)).all()
    finally:
        db.dispose()
    actions = [r.action for r in rows]
    for action in [
        "key.create",
        "key.rotate",
        "key.update",
        "key.disable",
        "key.enable",
        "key.leak.reported",
        "admin_token.create",
        "admin_token.revoke",
    ]:
        assert action in actions, action
    assert all(orjson.loads(r.entry)["actor"]["kind"] == "cli" for r in rows)
    assert token not in str([r.entry for r in rows])
