"""``ostiary admin`` as a real process (issue 9 point 1): ``create`` bootstraps the first
owner (new user with a password from a file, or an existing user), then grant, revoke
and list, each audited; the owner signs in to the console with that password."""

from __future__ import annotations

from pathlib import Path

from tests.support.cli import Cli


def _admins(cli: Cli) -> list[tuple[str, str]]:
    return [(r["userName"], r["role"]) for r in cli.json("admin", "list")]


def test_point1_admin_create_grant_revoke_list(cli: Cli, tmp_path: Path):
    first = cli("init", "--bootstrap-key")
    assert first.returncode == 0
    assert "ostiary admin create you@example.com --role owner" in first.stdout  # make run
    pw = tmp_path / "pw"
    pw.write_text("a long enough password\n")
    made = cli("admin", "create", "root@example.com", "--password-file", str(pw))
    assert made.returncode == 0, made.stderr
    assert _admins(cli) == [("root@example.com", "owner")]
    later = cli("init", "--bootstrap-key").stdout
    assert "/console" in later and "admin create" not in later
    # An existing user: no password asked, the role is added.
    again = cli("admin", "create", "root@example.com", "--role", "auditor")
    assert again.returncode == 0, again.stderr
    assert cli("admin", "grant", "root@example.com", "--role", "helpdesk").returncode == 0
    assert sorted(_admins(cli)) == [
        ("root@example.com", "auditor"),
        ("root@example.com", "helpdesk"),
        ("root@example.com", "owner"),
    ]
    revoked = cli("admin", "revoke", "root@example.com", "--role", "auditor")
    assert revoked.returncode == 0
    assert ("root@example.com", "auditor") not in _admins(cli)
    again = cli("admin", "revoke", "root@example.com", "--role", "auditor")
    assert again.returncode == 1 and "does not hold role auditor" in again.stderr
    actions = [e["action"] for e in cli.json("audit", "search", "--action", "admin.*")["events"]]
    assert actions.count("admin.user.create") == 1 and actions.count("admin.role.grant") == 3
    assert actions.count("admin.role.revoke") == 1


def test_point1_bad_input_is_refused_without_writing(cli: Cli, tmp_path: Path):
    assert cli("init").returncode == 0
    short = tmp_path / "pw"
    short.write_text("short")
    weak = cli("admin", "create", "root", "--password-file", str(short))
    assert weak.returncode == 2 and "at least 12" in weak.stderr
    bad_role = cli("admin", "create", "root", "--role", "god")
    assert bad_role.returncode == 2 and "unknown role" in bad_role.stderr
    nobody = cli("admin", "grant", "ghost", "--role", "owner")
    assert nobody.returncode == 1 and "no user" in nobody.stderr
    assert _admins(cli) == []
