"""Two workers starting at once on a fresh PostgreSQL database both create a named vault
secret (the DPoP nonce key, the pepper...): the loser must adopt the winner's value, not
crash (a granian worker died on the unique violation before)."""

from __future__ import annotations

import threading

import pytest

from ostiary.store import bootstrap
from ostiary.store.repositories.vault import SecretRepository


@pytest.mark.postgres
def test_get_or_create_is_race_safe(pg_deployment):
    db = pg_deployment.db
    vault = bootstrap.open_vault(pg_deployment.settings, db)
    got: list[bytes] = []
    with db.begin() as first:
        mine = SecretRepository(first, vault).get_or_create("race_test", lambda: b"A" * 32)

        def other() -> None:
            with db.begin() as conn:  # blocks on the first insert until it commits
                got.append(
                    SecretRepository(conn, vault).get_or_create("race_test", lambda: b"B" * 32)
                )

        t = threading.Thread(target=other)
        t.start()
        t.join(1.0)
        assert t.is_alive(), "the second insert should wait for the first transaction"
    t.join(30)
    assert mine == b"A" * 32 and got == [b"A" * 32]
    with db.read() as conn:
        assert SecretRepository(conn, vault).get("race_test") == b"A" * 32
