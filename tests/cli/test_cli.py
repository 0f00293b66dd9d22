"""The ``ostiary`` command, run as a real process."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from ostiary.keys import format as key_format
from tests.support.server import run_cli


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "OSTIARY_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'ostiary.db'}",
        "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "var" / "master.key"),
        "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
    }


def test_init_creates_a_private_master_key_and_is_idempotent(tmp_path: Path):
    env = _env(tmp_path)
    first = run_cli("init", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "var" / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    content = key_file.read_bytes()
    again = run_cli("init", env=env, cwd=tmp_path)
    assert again.returncode == 0 and "already initialised" in again.stdout
    assert key_file.read_bytes() == content


def test_bad_setting_is_one_line_and_exit_2(tmp_path: Path):
    result = run_cli(
        "config", "show", env=_env(tmp_path) | {"OSTIARY_WORKERS": "many"}, cwd=tmp_path
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "OSTIARY_WORKERS" in lines[0]


def test_config_show_masks_secrets(tmp_path: Path):
    env = _env(tmp_path) | {"OSTIARY_MASTER_KEY": "x" * 43}
    shown = json.loads(run_cli("config", "show", env=env, cwd=tmp_path).stdout)
    assert shown["master_key"] == "********"


def test_serve_refuses_an_unmigrated_database(tmp_path: Path):
    result = run_cli("serve", env=_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 2
    assert "ostiary migrate" in result.stderr


def test_keys_create_shows_the_secret_once(tmp_path: Path):
    env = _env(tmp_path)
    run_cli("init", env=env, cwd=tmp_path)
    created = run_cli(
        "keys",
        "create",
        "--name",
        "hr",
        "--scope",
        "users:read",
        "--scope",
        "users:write",
        "--json",
        env=env,
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    doc = json.loads(created.stdout)
    assert key_format.parse(doc["key"]) is not None
    assert doc["scopes"] == ["users:read", "users:write"]
    listed = run_cli("keys", "list", "--json", env=env, cwd=tmp_path).stdout
    shown = run_cli("keys", "show", doc["id"], "--json", env=env, cwd=tmp_path).stdout
    secret_part = doc["key"][len("ost_pk_") + 13 : -6]
    assert secret_part not in listed and secret_part not in shown
    assert json.loads(shown)["display"].endswith(doc["key"][-4:])


def test_keys_create_rejects_an_unknown_scope_and_overlong_lifetime(tmp_path: Path):
    env = _env(tmp_path)
    run_cli("init", env=env, cwd=tmp_path)
    bad_scope = run_cli("keys", "create", "--name", "x", "--scope", "root", env=env, cwd=tmp_path)
    assert bad_scope.returncode == 2 and "unknown scope" in bad_scope.stderr
    too_long = run_cli(
        "keys",
        "create",
        "--name",
        "x",
        "--scope",
        "users:read",
        "--expires-in",
        "365d",
        env=env,
        cwd=tmp_path,
    )
    assert too_long.returncode == 2 and "90 days" in too_long.stderr


def test_keys_check_validates_offline(tmp_path: Path):
    token, _ = key_format.generate()
    env = _env(tmp_path)  # no database exists: check must not need one
    assert run_cli("keys", "check", token, env=env, cwd=tmp_path).returncode == 0
    corrupted = token[:-1] + ("x" if token[-1] != "x" else "y")
    assert run_cli("keys", "check", corrupted, env=env, cwd=tmp_path).returncode == 1
    assert not (tmp_path / "var" / "ostiary.db").exists()
