"""The audit signing key is held in the vault (sealed, AES-256-GCM) and never stored in
plaintext; its public half is exportable and verifies the checkpoints it signed."""

from __future__ import annotations

import base64
from pathlib import Path

from sqlalchemy import text

from ostiary.audit.checkpoint import CheckpointSigner, CheckpointVerifier
from ostiary.store import bootstrap
from ostiary.store.repositories.audit_integrity import SIGNING_KEY
from ostiary.store.repositories.vault import SecretRepository
from tests.audit.support import append_events, checkpoint, cli_env
from tests.support.deploy import Deployment
from tests.support.server import run_cli


def test_signing_key_is_sealed_and_its_public_half_verifies(sqlite_deployment: Deployment):
    dep = sqlite_deployment
    append_events(dep, 2)
    cp = checkpoint(dep)
    vault = bootstrap.open_vault(dep.settings, dep.db)
    with dep.db.read() as conn:
        seed = SecretRepository(conn, vault).get(SIGNING_KEY)
        sealed = conn.execute(
            text("SELECT sealed FROM vault_secrets WHERE name = :n"), {"n": SIGNING_KEY}
        ).scalar()
    assert seed is not None and len(seed) == 32 and sealed.startswith("v1.")
    dep.db.dispose()
    raw = Path(dep.settings.database_url.removeprefix("sqlite:///")).read_bytes()
    for form in (
        seed,
        seed.hex().encode(),
        base64.b64encode(seed).rstrip(b"="),
        base64.urlsafe_b64encode(seed).rstrip(b"="),
    ):
        assert form not in raw
    pem = run_cli(
        "audit", "public-key", env=cli_env(dep), cwd=dep.settings.master_key_file.parent
    ).stdout
    public = CheckpointVerifier.from_pem(pem.encode())
    assert public.key_id == CheckpointSigner(seed).public.key_id == cp.key_id
    assert public.verify(cp)
    forged = type(cp)(
        cp.origin, cp.tree_size + 1, cp.root_hash, cp.time_ms, cp.key_id, cp.signature
    )
    assert not public.verify(forged)
