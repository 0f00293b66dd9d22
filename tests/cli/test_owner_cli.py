"""``--owner`` on ``ostiary keys create`` and ``ostiary clients create|update`` (issue 7
point 1): the owner, by id or userName, is recorded; an unknown owner exits 2."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.testclient import TestClient

from ostiary.store.repositories.owners import OwnerRepository
from ostiary.store.tables_owners import CLIENT, KEY
from ostiary.web.app import create_app
from tests.support.cli import CREATE_WIKI, Cli
from tests.support.deploy import deploy
from tests.support.rp import scim_user


def test_owner_options_record_the_owner_by_id_or_user_name(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'ostiary.db'}"
    dep = deploy(url, tmp_path)
    app = create_app(dep.settings)
    try:
        with TestClient(app, base_url="http://testserver") as tc:
            ada = scim_user(tc, dep.make_key().token, "ada@example.com")
        # deploy() made the database and master key: the CLI uses that deployment's.
        cli = Cli(
            tmp_path,
            {
                "OSTIARY_DATABASE_URL": url,
                "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "master.key"),
                "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
            },
        )
        key = cli(
            "keys",
            "create",
            "--name",
            "k",
            "--scope",
            "users:read",
            "--owner",
            "ADA@example.com",
            "--json",
        )
        assert key.returncode == 0, key.stderr
        key_id = json.loads(key.stdout)["id"]
        made = cli(*CREATE_WIKI, "--owner", ada, "--json")
        assert made.returncode == 0, made.stderr
        client_id = json.loads(made.stdout)["client_id"]
        with dep.db.read() as conn:
            owners = OwnerRepository(conn)
            assert owners.owner_of(KEY, key_id) == ada  # userName, case-insensitively
            assert owners.owner_of(CLIENT, client_id) == ada
        bad = cli("clients", "update", client_id, "--owner", "nobody@example.com")
        assert bad.returncode == 2 and "nobody@example.com" in bad.stderr
        unknown = cli(
            "keys", "create", "--name", "k2", "--scope", "users:read", "--owner", "nobody"
        )
        assert unknown.returncode == 2
        with dep.db.read() as conn:
            assert OwnerRepository(conn).owner_of(CLIENT, client_id) == ada
    finally:
        app.state.ctx.db.dispose()
        dep.db.dispose()
