"""``oidcc-server-rotate-keys`` (Dynamic OP plan, OP-Rotation-OP-Sig; named in issue 6):
the JWKS before and after an operator rotates the OP's signing keys.

The suite asks the operator to rotate while the test waits. Here the operator is
``ostiary signing-keys rotate``. A running server re-reads its keys within 60 s; rather
than wait that long the test restarts the server on the same port (same issuer, same
database), which is what a relying party sees after the refresh interval anyway.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from sqlalchemy import update

from ostiary.store.db import Database
from ostiary.store.tables_oidc import oidc_signing_keys
from tests.conformance.oidc.harness import Browser, RelyingParty, flow, module, serve_op
from tests.conformance.oidc.test_config_op import _check_jwks
from tests.support.server import free_port, run_cli


def _rs256_kids(jwks: dict) -> set[str]:
    return {k["kid"] for k in jwks["keys"] if k["kty"] == "RSA"}


def _age_next_keys(database_url: str) -> None:
    """Let one JWKS cache lifetime pass for the published ``next`` keys (the database's
    clock moved back), so the rotation is allowed now rather than in ten minutes."""
    db = Database(database_url)
    with db.begin() as conn:
        conn.execute(
            update(oidc_signing_keys)
            .where(oidc_signing_keys.c.state == "next")
            .values(created_at=datetime.now(UTC) - timedelta(hours=1))
        )
    db.dispose()


@module("oidcc-server-rotate-keys")
def test_oidcc_server_rotate_keys(tmp_path: Path):
    """OIDC Core 10.1.1: after rotation the JWKS has a new signing key and still the old
    one; the new signing key was published before it signed; a token signed before the
    rotation still verifies through the new JWKS."""
    port = free_port()
    with serve_op(tmp_path, port=port) as op:
        client = op.client("rotating")
        _, username = op.user()
        browser, rp = Browser(op, username), RelyingParty(op, client)
        token, _ = flow(rp, browser)
        old_kid = extract_compact(token["id_token"].encode()).protected["kid"]
        before = rp.jwks()
        _check_jwks(op.meta["jwks_uri"])
        browser.close()
        rp.close()
    _age_next_keys(op.env["OSTIARY_DATABASE_URL"])
    out = run_cli("signing-keys", "rotate", "--json", env=op.env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    states = {k["kid"]: k["state"] for k in json.loads(out.stdout)}
    assert states[old_kid] == "retired"

    with serve_op(tmp_path, port=port) as op:
        browser, rp = Browser(op, username), RelyingParty(op, client)
        after = rp.jwks()
        _check_jwks(op.meta["jwks_uri"])
        assert _rs256_kids(after) - _rs256_kids(before)  # VerifyNewJwksHasNewSigningKey
        assert old_kid in _rs256_kids(after)  # VerifyNewJwksStillHasOldSigningKey
        # a planned rotation unpublishes nothing, whatever the algorithm (ES256, EdDSA too)
        assert {k["kid"] for k in before["keys"]} <= {k["kid"] for k in after["keys"]}
        new_token, _ = flow(rp, browser)
        new_kid = extract_compact(new_token["id_token"].encode()).protected["kid"]
        assert new_kid != old_kid and new_kid in _rs256_kids(before)  # published in advance
        old = jwt.decode(token["id_token"], KeySet.import_key_set(after), algorithms=["RS256"])
        assert old.claims["aud"] == client.client_id
        browser.close()
        rp.close()
