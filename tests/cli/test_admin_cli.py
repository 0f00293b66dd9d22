"""``ostiary admin`` as a real process (issue 9 point 1): ``create`` bootstraps the first
owner (new user with a password from a file, or an existing user), then grant, revoke
and list, each audited; the owner signs in to the console with that password."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.server import run_cli


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "OSTIARY_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'ostiary.db'}",
        "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "var" / "master.key"),
        "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
    }


def _admins(env: dict[str, str], tmp_path: Path) -> list[tuple[str, str]]:
    out = run_cli("admin", "list", "--json", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return [(r["userName"], r["role"]) for r in json.loads(out.stdout)]


def test_point1_admin_create_grant_revoke_list(tmp_path: Path):
    env = _env(tmp_path)
    first = run_cli("init", "--bootstrap-key", env=env, cwd=tmp_path)
    assert first.returncode == 0
    assert "ostiary admin create you@example.com --role owner" in first.stdout  # make run
    pw = tmp_path / "pw"
    pw.write_text("a long enough password\n")
    made = run_cli(
        "admin", "create", "root@example.com", "--password-file", str(pw), env=env, cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    assert _admins(env, tmp_path) == [("root@example.com", "owner")]
    later = run_cli("init", "--bootstrap-key", env=env, cwd=tmp_path).stdout
    assert "/console" in later and "admin create" not in later
    # An existing user: no password asked, the role is added.
    again = run_cli(
        "admin", "create", "root@example.com", "--role", "auditor", env=env, cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    assert (
        run_cli(
            "admin", "grant", "root@example.com", "--role", "helpdesk", env=env, cwd=tmp_path
        ).returncode
        == 0
    )
    assert sorted(_admins(env, tmp_path)) == [
        ("root@example.com", "auditor"),
        ("root@example.com", "helpdesk"),
        ("root@example.com", "owner"),
    ]
    revoked = run_cli(
        "admin", "revoke", "root@example.com", "--role", "auditor", env=env, cwd=tmp_path
    )
    assert revoked.returncode == 0
    assert ("root@example.com", "auditor") not in _admins(env, tmp_path)
    events = run_cli("audit", "search", "--action", "admin.*", "--json", env=env, cwd=tmp_path)
    actions = [e["action"] for e in json.loads(events.stdout)["events"]]
    assert actions.count("admin.user.create") == 1 and actions.count("admin.role.grant") == 3
    assert actions.count("admin.role.revoke") == 1


def test_point1_bad_input_is_refused_without_writing(tmp_path: Path):
    env = _env(tmp_path)
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    short = tmp_path / "pw"
    short.write_text("short")
    weak = run_cli("admin", "create", "root", "--password-file", str(short), env=env, cwd=tmp_path)
    assert weak.returncode == 2 and "at least 12" in weak.stderr
    bad_role = run_cli("admin", "create", "root", "--role", "god", env=env, cwd=tmp_path)
    assert bad_role.returncode == 2 and "unknown role" in bad_role.stderr
    nobody = run_cli("admin", "grant", "ghost", "--role", "owner", env=env, cwd=tmp_path)
    assert nobody.returncode == 1 and "no user" in nobody.stderr
    assert _admins(env, tmp_path) == []
