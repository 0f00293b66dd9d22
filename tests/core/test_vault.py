"""Envelope encryption (the vault) against a real database."""

from __future__ import annotations

import pytest

from ostiary.core.crypto.keyring import LocalKeyring, generate_key, read_key_file
from ostiary.core.crypto.vault import Vault
from ostiary.core.errors import VaultError
from ostiary.store import bootstrap
from ostiary.store.repositories.vault import DataKeyRepository, EngineDataKeys
from tests.support.deploy import Deployment


def _vault(dep: Deployment) -> Vault:
    return bootstrap.open_vault(dep.settings, dep.db)


def test_seal_then_open_round_trips(deployment: Deployment):
    vault = _vault(deployment)
    sealed = vault.seal(b"client secret", "client:abc")
    assert b"client secret" not in sealed.encode()
    assert sealed.startswith("v1.")
    assert vault.open(sealed, "client:abc") == b"client secret"


def test_ciphertext_bound_to_its_context(deployment: Deployment):
    vault = _vault(deployment)
    sealed = vault.seal(b"x", "client:abc")
    with pytest.raises(VaultError):
        vault.open(sealed, "client:other")


def test_tampered_ciphertext_fails(deployment: Deployment):
    vault = _vault(deployment)
    version, dek, nonce, ct = vault.seal(b"payload", "c").split(".")
    flipped = ct[:-2] + ("A" if ct[-2] != "A" else "B") + ct[-1]
    with pytest.raises(VaultError):
        vault.open(".".join([version, dek, nonce, flipped]), "c")


def test_wrong_master_key_cannot_open(deployment: Deployment):
    sealed = _vault(deployment).seal(b"x", "c")
    stranger = Vault(LocalKeyring([generate_key()]), EngineDataKeys(deployment.db))
    with pytest.raises(VaultError, match="not available"):
        stranger.open(sealed, "c")


def test_rotate_master_rewraps_without_changing_sealed_values(deployment: Deployment):
    before = _vault(deployment).seal(b"long-lived", "signing_key:1")
    old_keys = read_key_file(deployment.settings.master_key_file)
    changed = bootstrap.rotate_master(deployment.settings, deployment.db)
    assert changed == 1
    new_keys = read_key_file(deployment.settings.master_key_file)
    assert len(new_keys) == 1 and new_keys != old_keys
    # A fresh process with only the new master key opens what was sealed before.
    assert _vault(deployment).open(before, "signing_key:1") == b"long-lived"
    # And the old master key alone no longer can.
    old_only = Vault(LocalKeyring(old_keys), EngineDataKeys(deployment.db))
    with pytest.raises(VaultError):
        old_only.open(before, "signing_key:1")
    with deployment.db.read() as conn:
        kids = {row.master_kid for row in DataKeyRepository(conn).all()}
    assert kids == {LocalKeyring(new_keys).active_kid}
