"""``ostiary clients`` as a real process (issue 6 point 2): secrets shown once and sealed
at rest, exact redirect URIs, rotation with an overlap, every change audited."""

from __future__ import annotations

import json
from pathlib import Path

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


def _cli(tmp_path: Path, *args: str):
    return run_cli(*args, env=_env(tmp_path), cwd=tmp_path)


def test_client_lifecycle(tmp_path: Path):
    assert _cli(tmp_path, "init").returncode == 0
    made = _cli(
        tmp_path,
        "clients",
        "create",
        "--name",
        "wiki",
        "--redirect-uri",
        "https://wiki.example.com/cb",
        "--json",
    )
    assert made.returncode == 0, made.stderr
    doc = json.loads(made.stdout)
    cid, secret = doc["client_id"], doc["client_secret"]
    assert doc["token_endpoint_auth_method"] == "client_secret_basic"
    listed = _cli(tmp_path, "clients", "list", "--json")
    assert secret not in listed.stdout and cid in listed.stdout
    shown = json.loads(_cli(tmp_path, "clients", "show", cid, "--json").stdout)
    assert "client_secret" not in shown and shown["secret_hint"] == "..." + secret[-4:]
    db_bytes = b"".join(p.read_bytes() for p in (tmp_path / "var").glob("ostiary.db*"))
    assert secret.encode() not in db_bytes

    rotated = _cli(tmp_path, "clients", "rotate-secret", cid, "--overlap", "1h", "--json")
    assert rotated.returncode == 0, rotated.stderr
    rdoc = json.loads(rotated.stdout)
    assert rdoc["client_secret"] != secret
    versions = {v["version"]: v["not_after"] for v in rdoc["secret_versions"]}
    assert versions[1] is not None and versions[2] is None

    bad = _cli(tmp_path, "clients", "update", cid, "--redirect-uri", "http://evil.example/cb")
    assert bad.returncode == 2
    ok = _cli(
        tmp_path,
        "clients",
        "update",
        cid,
        "--redirect-uri",
        "https://wiki.example.com/callback",
        "--json",
    )
    assert json.loads(ok.stdout)["redirect_uris"] == ["https://wiki.example.com/callback"]

    assert _cli(tmp_path, "clients", "delete", cid, "--yes").returncode == 0
    assert _cli(tmp_path, "clients", "show", cid).returncode == 1

    db = Database(_env(tmp_path)["OSTIARY_DATABASE_URL"])
    with db.read() as conn:
        rows = conn.execute(select(audit_events.c.action, audit_events.c.entry)).all()
    db.dispose()
    actions = [r.action for r in rows]
    for action in ("client.create", "client.secret.rotate", "client.update", "client.delete"):
        assert action in actions
    assert all(secret not in r.entry and rdoc["client_secret"] not in r.entry for r in rows)


def test_public_client_has_no_secret_and_needs_a_redirect_uri(tmp_path: Path):
    assert _cli(tmp_path, "init").returncode == 0
    none = _cli(tmp_path, "clients", "create", "--name", "spa", "--type", "public")
    assert none.returncode == 2 and "redirect URI" in none.stderr
    spa = _cli(
        tmp_path,
        "clients",
        "create",
        "--name",
        "spa",
        "--type",
        "public",
        "--redirect-uri",
        "http://127.0.0.1:5173/cb",
        "--json",
    )
    doc = json.loads(spa.stdout)
    assert doc["token_endpoint_auth_method"] == "none" and "client_secret" not in doc
    rot = _cli(tmp_path, "clients", "rotate-secret", doc["client_id"])
    assert rot.returncode == 2


def test_initial_access_token_is_printed_once_and_stored_hashed(tmp_path: Path):
    """RFC 7591 section 3: the initial access token for dynamic registration."""
    assert _cli(tmp_path, "init").returncode == 0
    out = _cli(tmp_path, "clients", "initial-token", "--expires-in", "2h")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert token.startswith("ost_it_") and len(token) > 40
    db_bytes = b"".join(p.read_bytes() for p in (tmp_path / "var").glob("ostiary.db*"))
    assert token.encode() not in db_bytes


def test_token_settings_from_the_cli(tmp_path: Path):
    """Issue 6 points 1 and 5: ID token algorithm and lifetimes per client, set at create
    and update; a bad algorithm or lifetime is refused (exit 2) and nothing changes."""
    assert _cli(tmp_path, "init").returncode == 0
    made = _cli(
        tmp_path,
        "clients",
        "create",
        "--name",
        "wiki",
        "--redirect-uri",
        "https://wiki.example.com/cb",
        "--id-token-alg",
        "EdDSA",
        "--access-token-lifetime",
        "5m",
        "--json",
    )
    assert made.returncode == 0, made.stderr
    doc = json.loads(made.stdout)
    assert doc["options"]["id_token_signed_response_alg"] == "EdDSA"
    assert doc["options"]["access_token_lifetime"] == 300
    cid = doc["client_id"]
    updated = _cli(tmp_path, "clients", "update", cid, "--refresh-token-lifetime", "7d", "--json")
    assert updated.returncode == 0, updated.stderr
    options = json.loads(updated.stdout)["options"]
    assert options["refresh_token_lifetime"] == 7 * 86400
    assert options["access_token_lifetime"] == 300  # untouched settings stay
    for bad in (["--id-token-alg", "HS256"], ["--access-token-lifetime", "2h"]):
        refused = _cli(tmp_path, "clients", "update", cid, *bad)
        assert refused.returncode == 2, bad
    shown = json.loads(_cli(tmp_path, "clients", "show", cid, "--json").stdout)
    assert shown["options"] == options
