"""No secret appears in the database files, a pg_dump, or the logs of a real run.

Secrets checked: the master key, every unwrapped data key, the HMAC pepper, a provisioning
key's token and secret, a user's password and TOTP key (RFC 6238). Each is searched raw,
hex, base64 (and the TOTP key also base32).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ostiary.core.crypto.keyring import read_key_file
from ostiary.core.settings import Settings
from ostiary.store import bootstrap
from ostiary.store.db import Database
from tests.support.server import run_cli, served
from tests.support.services import missing, scratch_postgres_database

PASSWORD = "Tr0ub4dor&3-horse-battery"


def _forms(secret: bytes) -> Iterator[bytes]:
    yield secret
    yield secret.hex().encode()
    yield base64.b64encode(secret).rstrip(b"=")
    yield base64.urlsafe_b64encode(secret).rstrip(b"=")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'ostiary.db'}"
    else:
        with scratch_postgres_database() as url:
            yield url


def _stored_bytes(db_url: str, tmp_path: Path) -> bytes:
    if db_url.startswith("sqlite"):
        files = sorted((tmp_path / "var").glob("ostiary.db*"))
        assert files
        return b"".join(f.read_bytes() for f in files)
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        missing("pg_dump", "install postgresql-client")
    url = db_url.replace("postgresql+psycopg://", "postgresql://")
    return subprocess.run(
        [pg_dump, "--data-only", "-d", url], capture_output=True, check=True
    ).stdout


def test_no_secret_in_database_or_logs(db_url: str, tmp_path: Path):
    env = {
        "OSTIARY_DATABASE_URL": db_url,
        "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "var" / "master.key"),
        "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
        "OSTIARY_LOG_LEVEL": "debug",
    }
    init = run_cli("init", "--bootstrap-key", env=env, cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    token = re.search(r"ost_pk_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}", init.stdout).group(0)  # type: ignore[union-attr]
    log = tmp_path / "serve.log"
    with served(env, tmp_path, log) as (base, _proc):
        auth = {"Authorization": f"Bearer {token}"}
        user = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "grace@example.com",
            "password": PASSWORD,
        }
        assert httpx.post(f"{base}/scim/v2/Users", json=user, headers=auth).status_code == 201
        enrolled = run_cli(
            "users", "totp", "enroll", "grace@example.com", "--json", env=env, cwd=tmp_path
        )
        assert enrolled.returncode == 0, enrolled.stderr
        totp_b32 = json.loads(enrolled.stdout)["secret"]
        # Failed attempts must not log what was presented either.
        wrong = token[:-8] + "AAAAAAAA"
        httpx.get(f"{base}/scim/v2/Users/x", headers={"Authorization": f"Bearer {wrong}"})
        httpx.post(
            f"{base}/scim/v2/Users", content=b'{"password": "%s"' % PASSWORD.encode(), headers=auth
        )

    settings = Settings(database_url=db_url, master_key_file=tmp_path / "var" / "master.key")
    db = Database(db_url, pool_size=1)
    vault = bootstrap.open_vault(settings, db)
    pepper = bootstrap.load_pepper(db, vault)
    data_keys = list(vault._plain.values())  # unwrapped by opening the pepper
    db.dispose()
    secrets = {
        "master key": read_key_file(tmp_path / "var" / "master.key")[0],
        "pepper": pepper,
        "provisioning key": token.encode(),
        "provisioning key secret": token[20:52].encode(),
        "password": PASSWORD.encode(),
        "TOTP key": base64.b32decode(totp_b32 + "=" * (-len(totp_b32) % 8)),
        "TOTP key (base32)": totp_b32.encode(),
        **{f"data key {i}": k for i, k in enumerate(data_keys)},
    }
    assert data_keys, "the vault should have unwrapped a data key"
    haystacks = {"database": _stored_bytes(db_url, tmp_path), "logs": log.read_bytes()}
    assert b"grace@example.com" in haystacks["database"]  # the search itself works
    for where, hay in haystacks.items():
        for name, secret in secrets.items():
            for form in _forms(secret):
                assert form not in hay, f"{name} found in {where}"
