"""Two nodes maintaining signing keys at the same moment never create or promote twice
(issue 6 point 1): PostgreSQL takes an advisory lock, SQLite the write lock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from ostiary.oidc.signing import KeyState, RotationPolicy
from ostiary.store import bootstrap
from ostiary.store.repositories.signing_keys import SigningKeyRepository, maintain
from tests.support.deploy import Deployment


def test_concurrent_first_start_creates_one_key_set(deployment: Deployment):
    vault = bootstrap.open_vault(deployment.settings, deployment.db)
    now = datetime.now(UTC)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def node() -> None:
        try:
            barrier.wait()
            with deployment.db.begin() as conn:
                maintain(conn, vault, now, RotationPolicy())
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=node) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with deployment.db.read() as conn:
        keys = SigningKeyRepository(conn, vault).all()
    for alg in ("RS256", "ES256"):
        states = sorted(k.state for k in keys if k.alg == alg)
        assert states == sorted([KeyState.ACTIVE, KeyState.NEXT]), (alg, states)
