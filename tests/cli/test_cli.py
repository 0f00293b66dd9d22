"""The ``ostiary`` command, run as a real process."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from ostiary.keys import format as key_format
from tests.support.cli import Cli


def test_init_creates_a_private_master_key_and_is_idempotent(cli: Cli, tmp_path: Path):
    first = cli("init")
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "var" / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    content = key_file.read_bytes()
    again = cli("init")
    assert again.returncode == 0 and "already initialised" in again.stdout
    assert key_file.read_bytes() == content


def test_bad_setting_is_one_line_and_exit_2(tmp_path: Path):
    result = Cli.under(tmp_path, OSTIARY_WORKERS="many")("config", "show")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "OSTIARY_WORKERS" in lines[0]


def test_config_show_masks_secrets(tmp_path: Path):
    cli = Cli.under(tmp_path, OSTIARY_MASTER_KEY="x" * 43)
    shown = json.loads(cli("config", "show").stdout)
    assert shown["master_key"] == "********"


def test_serve_refuses_an_unmigrated_database(cli: Cli):
    result = cli("serve")
    assert result.returncode == 2
    assert "ostiary migrate" in result.stderr


def test_keys_create_shows_the_secret_once(cli: Cli):
    cli("init")
    created = cli(
        "keys",
        "create",
        "--name",
        "hr",
        "--scope",
        "users:read",
        "--scope",
        "users:write",
        "--json",
    )
    assert created.returncode == 0, created.stderr
    doc = json.loads(created.stdout)
    assert key_format.parse(doc["key"]) is not None
    assert doc["scopes"] == ["users:read", "users:write"]
    listed = cli("keys", "list", "--json").stdout
    shown = cli("keys", "show", doc["id"], "--json").stdout
    secret_part = doc["key"][len("ost_pk_") + 13 : -6]
    assert secret_part not in listed and secret_part not in shown
    assert json.loads(shown)["display"].endswith(doc["key"][-4:])


def test_keys_create_rejects_an_unknown_scope_and_overlong_lifetime(cli: Cli):
    cli("init")
    bad_scope = cli("keys", "create", "--name", "x", "--scope", "root")
    assert bad_scope.returncode == 2 and "unknown scope" in bad_scope.stderr
    too_long = cli("keys", "create", "--name", "x", "--scope", "users:read", "--expires-in", "365d")
    assert too_long.returncode == 2 and "90 days" in too_long.stderr


def test_keys_check_validates_offline(cli: Cli, tmp_path: Path):
    token, _ = key_format.generate()  # no database exists: check must not need one
    assert cli("keys", "check", token).returncode == 0
    corrupted = token[:-1] + ("x" if token[-1] != "x" else "y")
    assert cli("keys", "check", corrupted).returncode == 1
    assert not (tmp_path / "var" / "ostiary.db").exists()
