"""``ostiary keys`` and ``ostiary admin-tokens`` as real processes (issue 4 point 10):
each command answers --json, and the secret appears only at creation and rotation."""

from __future__ import annotations

import orjson

from tests.support.cli import Cli


def test_key_commands_with_json_and_audit(cli: Cli):
    assert cli("init").returncode == 0
    created = cli.json(
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
    shown = cli.json("keys", "show", key_id)
    assert "key" not in shown and shown["display"].endswith(token[-4:])
    assert [k["id"] for k in cli.json("keys", "list")] == [key_id]
    rotated = cli.json("keys", "rotate", key_id, "--overlap", "1h")
    assert rotated["version"] == 2 and rotated["key"] != token
    assert cli.json("keys", "set", key_id, "--require-dpop")["require_dpop"] is True
    assert cli.json("keys", "disable", key_id)["status"] == "disabled"
    assert cli.json("keys", "enable", key_id)["status"] == "active"
    assert cli.json("keys", "check", token)["valid"] is True
    leak = cli.json("keys", "report-leak", rotated["key"])
    assert leak == {"known": True, "revoked": True, "key_id": key_id}
    assert cli.json("keys", "show", key_id)["status"] == "revoked"
    unknown = cli("keys", "report-leak", "ost_pk_nothing", "--json")
    assert unknown.returncode == 1
    assert cli.json("keys", "run-scheduler", "--once") == {
        "rotated": [],
        "failed": [],
        "warned": [],
    }
    tok = cli.json("admin-tokens", "create", "--name", "ci", "--scope", "keys:read")
    assert tok["token"].startswith("ost_at_")
    assert cli.json("admin-tokens", "revoke", tok["id"])["status"] == "revoked"
    rows = cli.audit_rows()
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
