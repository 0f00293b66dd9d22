"""``ostiary users totp enroll|reset`` as a real process (issue 6 point 4, RFC 6238): the
key is printed once and stored only sealed; enrol and reset are audited; a served
sign-in then asks for (and accepts) a code computed from the printed key."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import orjson

from ostiary.directory import totp
from tests.support.cli import Cli
from tests.support.rp import USER, enter_totp, sign_in
from tests.support.server import free_port, served


def test_enroll_prints_the_key_once_and_reset_removes_it(tmp_path: Path):
    port = free_port()
    cli = Cli.under(tmp_path, OSTIARY_ISSUER=f"http://127.0.0.1:{port}")
    assert cli("init").returncode == 0
    made = cli("keys", "create", "--name", "hr", "--scope", "users:write", "--json")
    key = json.loads(made.stdout)["key"]
    with served(cli.env, tmp_path, tmp_path / "serve.log", port=port) as (base, _proc):
        created = httpx.post(
            f"{base}/scim/v2/Users",
            json={"schemas": [USER], "userName": "ada@example.com", "password": "pw-123456"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert created.status_code == 201, created.text
        user_id = created.json()["id"]
        assert cli("users", "totp", "enroll", "nobody@example.com").returncode == 1
        enrolled = cli("users", "totp", "enroll", "ada@example.com", "--json")
        assert enrolled.returncode == 0, enrolled.stderr
        doc = json.loads(enrolled.stdout)
        assert doc["user_id"] == user_id
        assert doc["otpauth_uri"].startswith("otpauth://totp/Ostiary:ada@example.com?secret=")
        secret = totp.from_base32(doc["secret"])
        again = cli("users", "totp", "enroll", user_id)
        assert again.returncode == 1 and doc["secret"] not in again.stdout + again.stderr
        db_bytes = cli.database_bytes()
        assert secret not in db_bytes and doc["secret"].encode() not in db_bytes

        with httpx.Client(base_url=base) as http:
            first = sign_in(http, "/login?next=/healthz", password="pw-123456")
            assert first.status_code == 303 and first.headers["location"] == "/login/totp"
            done = enter_totp(http, secret, time.time())
            assert done.status_code == 303 and done.headers["location"] == "/healthz"

        reset = cli("users", "totp", "reset", "ada@example.com")
        assert reset.returncode == 0, reset.stderr
        assert cli("users", "totp", "reset", "ada@example.com").returncode == 1
        with httpx.Client(base_url=base) as http:
            plain = sign_in(http, "/login?next=/healthz", password="pw-123456")
            assert plain.headers["location"] == "/healthz"

    rows = cli.audit_rows("user.totp.%")
    assert [r.action for r in rows] == ["user.totp.enroll", "user.totp.reset"]
    assert all(orjson.loads(r.entry)["target"]["id"] == user_id for r in rows)
    assert doc["secret"] not in str([r.entry for r in rows])
