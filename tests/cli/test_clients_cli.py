"""``ostiary clients`` as a real process (issue 6 point 2): secrets shown once and sealed
at rest, exact redirect URIs, rotation with an overlap, every change audited."""

from __future__ import annotations

import json

from tests.support.cli import CREATE_WIKI, Cli


def test_client_lifecycle(cli: Cli):
    assert cli("init").returncode == 0
    made = cli(*CREATE_WIKI, "--json")
    assert made.returncode == 0, made.stderr
    doc = json.loads(made.stdout)
    cid, secret = doc["client_id"], doc["client_secret"]
    assert doc["token_endpoint_auth_method"] == "client_secret_basic"
    listed = cli("clients", "list", "--json")
    assert secret not in listed.stdout and cid in listed.stdout
    shown = json.loads(cli("clients", "show", cid, "--json").stdout)
    assert "client_secret" not in shown and shown["secret_hint"] == "..." + secret[-4:]
    assert secret.encode() not in cli.database_bytes()

    rotated = cli("clients", "rotate-secret", cid, "--overlap", "1h", "--json")
    assert rotated.returncode == 0, rotated.stderr
    rdoc = json.loads(rotated.stdout)
    assert rdoc["client_secret"] != secret
    versions = {v["version"]: v["not_after"] for v in rdoc["secret_versions"]}
    assert versions[1] is not None and versions[2] is None

    bad = cli("clients", "update", cid, "--redirect-uri", "http://evil.example/cb")
    assert bad.returncode == 2
    ok = cli(
        "clients", "update", cid, "--redirect-uri", "https://wiki.example.com/callback", "--json"
    )
    assert json.loads(ok.stdout)["redirect_uris"] == ["https://wiki.example.com/callback"]

    assert cli("clients", "delete", cid, "--yes").returncode == 0
    assert cli("clients", "show", cid).returncode == 1
    # A client that is gone: exit 1 and a message, for every command that changes one.
    for gone in (["delete", "--yes"], ["rotate-secret"], ["update", "--name", "w"]):
        missing = cli("clients", gone[0], cid, *gone[1:])
        assert missing.returncode == 1 and f"no client {cid}" in missing.stderr, gone

    rows = cli.audit_rows()
    actions = [r.action for r in rows]
    for action in ("client.create", "client.secret.rotate", "client.update", "client.delete"):
        assert action in actions
    assert all(secret not in r.entry and rdoc["client_secret"] not in r.entry for r in rows)


def test_public_client_has_no_secret_and_needs_a_redirect_uri(cli: Cli):
    assert cli("init").returncode == 0
    none = cli("clients", "create", "--name", "spa", "--type", "public")
    assert none.returncode == 2 and "redirect URI" in none.stderr
    spa = cli(
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
    rot = cli("clients", "rotate-secret", doc["client_id"])
    assert rot.returncode == 2


def test_initial_access_token_is_printed_once_and_stored_hashed(cli: Cli):
    """RFC 7591 section 3: the initial access token for dynamic registration."""
    assert cli("init").returncode == 0
    out = cli("clients", "initial-token", "--expires-in", "2h")
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert token.startswith("ost_it_") and len(token) > 40
    assert token.encode() not in cli.database_bytes()


def test_token_settings_from_the_cli(cli: Cli):
    """Issue 6 points 1 and 5: ID token algorithm and lifetimes per client, set at create
    and update; a bad algorithm or lifetime is refused (exit 2) and nothing changes."""
    assert cli("init").returncode == 0
    made = cli(*CREATE_WIKI, "--id-token-alg", "EdDSA", "--access-token-lifetime", "5m", "--json")
    assert made.returncode == 0, made.stderr
    doc = json.loads(made.stdout)
    assert doc["options"]["id_token_signed_response_alg"] == "EdDSA"
    assert doc["options"]["access_token_lifetime"] == 300
    cid = doc["client_id"]
    updated = cli("clients", "update", cid, "--refresh-token-lifetime", "7d", "--json")
    assert updated.returncode == 0, updated.stderr
    options = json.loads(updated.stdout)["options"]
    assert options["refresh_token_lifetime"] == 7 * 86400
    assert options["access_token_lifetime"] == 300  # untouched settings stay
    for bad in (["--id-token-alg", "HS256"], ["--access-token-lifetime", "2h"]):
        refused = cli("clients", "update", cid, *bad)
        assert refused.returncode == 2, bad
    shown = json.loads(cli("clients", "show", cid, "--json").stdout)
    assert shown["options"] == options
