"""``ostiary signing-keys`` as a real process (issue 6 point 1: rotate and schedule)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from ostiary.store.db import Database
from ostiary.store.tables_oidc import oidc_signing_keys
from tests.support.server import run_cli


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "OSTIARY_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'ostiary.db'}",
        "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "var" / "master.key"),
        "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
    }


def _keys(tmp_path: Path, env: dict[str, str]) -> list[dict[str, str]]:
    out = run_cli("signing-keys", "list", "--json", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _active(keys: list[dict[str, str]], alg: str) -> str:
    return next(k["kid"] for k in keys if k["alg"] == alg and k["state"] == "active")


def test_rotate_waits_for_the_next_key_then_promotes_it(tmp_path: Path):
    env = _env(tmp_path)
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    assert run_cli("signing-keys", "maintain", env=env, cwd=tmp_path).returncode == 0
    before = _keys(tmp_path, env)
    early = run_cli("signing-keys", "rotate", env=env, cwd=tmp_path)
    assert early.returncode == 1
    assert "may sign from" in early.stdout and "nothing rotated" in early.stderr
    assert _keys(tmp_path, env) == before
    # Let a JWKS cache lifetime pass for the next keys (the database's clock, moved back).
    db = Database(env["OSTIARY_DATABASE_URL"])
    with db.begin() as conn:
        conn.execute(
            update(oidc_signing_keys)
            .where(oidc_signing_keys.c.state == "next")
            .values(created_at=datetime.now(UTC) - timedelta(hours=1))
        )
    db.dispose()
    done = run_cli("signing-keys", "rotate", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    after = json.loads(done.stdout)
    for alg in ("RS256", "ES256"):
        old, new = _active(before, alg), _active(after, alg)
        assert old != new
        assert next(k for k in before if k["kid"] == new)["state"] == "next"
        retired = next(k for k in after if k["kid"] == old)
        assert retired["state"] == "retired" and retired["unpublish_at"]


def test_compromised_key_is_replaced_and_unpublished_at_once(tmp_path: Path):
    env = _env(tmp_path)
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    assert run_cli("signing-keys", "maintain", env=env, cwd=tmp_path).returncode == 0
    old = _active(_keys(tmp_path, env), "ES256")
    out = run_cli(
        "signing-keys", "rotate", "--compromised", "--alg", "ES256", "--json", env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    keys = json.loads(out.stdout)
    assert _active(keys, "ES256") != old
    gone = next(k for k in keys if k["kid"] == old)
    assert gone["state"] == "retired" and gone["unpublish_at"] == gone["retired_at"]


def test_key_oauth_registers_public_keys_only_and_the_dpop_policy(tmp_path: Path):
    """RFC 7523 section 3 keys registered per provisioning key; issue 4 point 6 DPoP flag."""
    from joserfc import jwk

    env = _env(tmp_path)
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    made = run_cli(
        "keys", "create", "--name", "hr", "--scope", "users:read", "--json", env=env, cwd=tmp_path
    )
    key_id = json.loads(made.stdout)["id"]
    key = jwk.ECKey.generate_key("P-256")
    public, private = tmp_path / "pub.json", tmp_path / "priv.json"
    public.write_text(json.dumps(key.as_dict(private=False)))
    private.write_text(json.dumps(key.as_dict(private=True)))
    refused = run_cli("key-oauth", "set", key_id, "--jwk", str(private), env=env, cwd=tmp_path)
    assert refused.returncode == 2 and "public" in refused.stderr
    ok = run_cli(
        "key-oauth",
        "set",
        key_id,
        "--jwk",
        str(public),
        "--require-dpop",
        "--json",
        env=env,
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    shown = json.loads(run_cli("key-oauth", "show", key_id, "--json", env=env, cwd=tmp_path).stdout)
    assert shown["require_dpop"] is True
    assert shown["jwks"]["keys"][0]["kid"] == key.thumbprint()
    assert "d" not in shown["jwks"]["keys"][0]
    unknown = run_cli("key-oauth", "set", "nosuchkey000", "--require-dpop", env=env, cwd=tmp_path)
    assert unknown.returncode == 1
