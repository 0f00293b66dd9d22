"""Leak response (issue 4 point 9): GitHub secret-scanning partner alerts (ECDSA P-256
signature over the raw body), self-reports, and ``ostiary keys report-leak``."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ostiary.core.clock import FrozenClock
from ostiary.keys import format as key_format
from tests.support.keys import app_client, auth
from tests.support.webhook import deliver_key_events, webhook_receiver

KID = "f9525bf080f75b3506ca1ead061add62b8633a346606dc5fe544e29231c6ee0d"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))


@pytest.fixture
def github_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _signed(key: ec.EllipticCurvePrivateKey, body: bytes, kid: str = KID) -> dict[str, str]:
    sig = base64.b64encode(key.sign(body, ec.ECDSA(hashes.SHA256()))).decode()
    return {
        "Content-Type": "application/json",
        "Github-Public-Key-Identifier": kid,
        "Github-Public-Key-Signature": sig,
    }


def test_github_alert_revokes_a_live_key_and_labels_each_token(
    database_url: str, tmp_path: Path, clock: FrozenClock, github_key
):
    with (
        webhook_receiver() as (url, received),
        app_client(
            database_url,
            tmp_path,
            clock,
            key_webhook_url=url,
            github_secret_scanning_keys={KID: _pem(github_key)},
        ) as (tc, dep),
    ):
        leaked = dep.make_key(clock=clock)
        assert tc.get("/scim/v2/Users/x", headers=auth(leaked.token)).status_code == 404
        lookalike = key_format.compose("A" * 12, "B" * 32)
        alerts = [
            {
                "token": leaked.token,
                "type": "ostiary_provisioning_key",
                "url": "https://github.com/o/r/blob/x/f.env",
                "source": "content",
            },
            {"token": lookalike, "type": "ostiary_provisioning_key", "url": "", "source": "commit"},
        ]
        body = json.dumps(alerts).encode()
        resp = tc.post("/api/v1/keys/leaks/github", content=body, headers=_signed(github_key, body))
        assert resp.status_code == 200
        assert resp.json() == [
            {
                "token_hash": hashlib.sha256(leaked.token.encode()).hexdigest(),
                "token_type": "ostiary_provisioning_key",
                "label": "true_positive",
            },
            {
                "token_hash": hashlib.sha256(lookalike.encode()).hexdigest(),
                "token_type": "ostiary_provisioning_key",
                "label": "false_positive",
            },
        ]
        assert leaked.token not in resp.text
        assert tc.get("/scim/v2/Users/x", headers=auth(leaked.token)).status_code == 401
        events = deliver_key_events(tc, received)
        (note,) = [d for d in events if d["event"] == "key.leaked"]
        assert note["key_id"] == leaked.record.id and note["revoked"] is True


def test_github_alert_with_a_bad_signature_changes_nothing(
    database_url: str, tmp_path: Path, clock: FrozenClock, github_key
):
    impostor = ec.generate_private_key(ec.SECP256R1())
    with app_client(
        database_url, tmp_path, clock, github_secret_scanning_keys={KID: _pem(github_key)}
    ) as (tc, dep):
        key = dep.make_key(clock=clock)
        body = json.dumps([{"token": key.token, "type": "t", "url": "", "source": "x"}]).encode()
        for headers in (
            _signed(impostor, body),
            _signed(github_key, body, kid="unknown"),
            _signed(github_key, body + b" "),
            {"Content-Type": "application/json"},
        ):
            resp = tc.post("/api/v1/keys/leaks/github", content=body, headers=headers)
            assert resp.status_code == 401
        garbage = b'{"not": "a list"}'
        resp = tc.post(
            "/api/v1/keys/leaks/github", content=garbage, headers=_signed(github_key, garbage)
        )
        assert resp.status_code == 400
        assert tc.get("/scim/v2/Users/x", headers=auth(key.token)).status_code == 404


def test_self_report_revokes_even_a_restricted_key(
    database_url: str, tmp_path: Path, clock: FrozenClock
):
    with app_client(database_url, tmp_path, clock) as (tc, dep):
        key = dep.make_key(clock=clock)
        resp = tc.post("/api/v1/keys/leaks/self-report", headers=auth(key.token))
        assert resp.status_code == 200
        assert resp.json() == {"known": True, "revoked": True, "key_id": key.record.id}
        assert tc.get("/scim/v2/Users/x", headers=auth(key.token)).status_code == 401
        forged = key_format.compose(key.record.id, "C" * 32)
        assert tc.post("/api/v1/keys/leaks/self-report", headers=auth(forged)).status_code == 401
