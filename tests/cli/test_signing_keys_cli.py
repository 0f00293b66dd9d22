"""``ostiary signing-keys`` as a real process (issue 6 point 1: rotate and schedule)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from ostiary.store.db import Database
from ostiary.store.tables_oidc import oidc_signing_keys
from tests.support.cli import Cli


def _keys(cli: Cli) -> list[dict[str, str]]:
    return cli.json("signing-keys", "list")


def _active(keys: list[dict[str, str]], alg: str) -> str:
    return next(k["kid"] for k in keys if k["alg"] == alg and k["state"] == "active")


def test_rotate_waits_for_the_next_key_then_promotes_it(cli: Cli):
    assert cli("init").returncode == 0
    assert cli("signing-keys", "maintain").returncode == 0
    before = _keys(cli)
    early = cli("signing-keys", "rotate")
    assert early.returncode == 1
    assert "may sign from" in early.stdout and "nothing rotated" in early.stderr
    assert _keys(cli) == before
    # Let a JWKS cache lifetime pass for the next keys (the database's clock, moved back).
    db = Database(cli.env["OSTIARY_DATABASE_URL"])
    with db.begin() as conn:
        conn.execute(
            update(oidc_signing_keys)
            .where(oidc_signing_keys.c.state == "next")
            .values(created_at=datetime.now(UTC) - timedelta(hours=1))
        )
    db.dispose()
    done = cli("signing-keys", "rotate", "--json")
    assert done.returncode == 0, done.stderr
    after = json.loads(done.stdout)
    for alg in ("RS256", "ES256"):
        old, new = _active(before, alg), _active(after, alg)
        assert old != new
        assert next(k for k in before if k["kid"] == new)["state"] == "next"
        retired = next(k for k in after if k["kid"] == old)
        assert retired["state"] == "retired" and retired["unpublish_at"]


def test_compromised_key_is_replaced_and_unpublished_at_once(cli: Cli):
    assert cli("init").returncode == 0
    assert cli("signing-keys", "maintain").returncode == 0
    old = _active(_keys(cli), "ES256")
    out = cli("signing-keys", "rotate", "--compromised", "--alg", "ES256", "--json")
    assert out.returncode == 0, out.stderr
    keys = json.loads(out.stdout)
    assert _active(keys, "ES256") != old
    gone = next(k for k in keys if k["kid"] == old)
    assert gone["state"] == "retired" and gone["unpublish_at"] == gone["retired_at"]


def test_key_oauth_registers_public_keys_only_and_the_dpop_policy(cli: Cli, tmp_path: Path):
    """RFC 7523 section 3 keys registered per provisioning key; issue 4 point 6 DPoP flag."""
    from joserfc import jwk

    assert cli("init").returncode == 0
    made = cli("keys", "create", "--name", "hr", "--scope", "users:read", "--json")
    key_id = json.loads(made.stdout)["id"]
    key = jwk.ECKey.generate_key("P-256")
    public, private = tmp_path / "pub.json", tmp_path / "priv.json"
    public.write_text(json.dumps(key.as_dict(private=False)))
    private.write_text(json.dumps(key.as_dict(private=True)))
    refused = cli("key-oauth", "set", key_id, "--jwk", str(private))
    assert refused.returncode == 2 and "public" in refused.stderr
    ok = cli("key-oauth", "set", key_id, "--jwk", str(public), "--require-dpop", "--json")
    assert ok.returncode == 0, ok.stderr
    shown = json.loads(cli("key-oauth", "show", key_id, "--json").stdout)
    assert shown["require_dpop"] is True
    assert shown["jwks"]["keys"][0]["kid"] == key.thumbprint()
    assert "d" not in shown["jwks"]["keys"][0]
    unknown = cli("key-oauth", "set", "nosuchkey000", "--require-dpop")
    assert unknown.returncode == 1
