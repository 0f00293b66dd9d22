"""Bringing a deployment up: the master key, the schema, the vault and its first secrets."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ostiary.core.crypto.keyring import (
    MasterKeyProvider,
    generate_key,
    load_provider,
    read_key_file,
    write_key_file,
)
from ostiary.core.crypto.vault import Vault
from ostiary.core.settings import Settings
from ostiary.store import migrate
from ostiary.store.db import Database
from ostiary.store.repositories.vault import DataKeyRepository, EngineDataKeys, SecretRepository

PEPPER = "keys.hmac_pepper"


@dataclass
class InitReport:
    created_master_key: Path | None
    migrated_from: str | None
    created_data_key: bool


def provider_for(settings: Settings) -> MasterKeyProvider:
    return load_provider(
        settings.master_key.get_secret_value() if settings.master_key else None,
        settings.master_key_previous.get_secret_value() if settings.master_key_previous else None,
        settings.master_key_file,
        settings.kms_provider,
    )


def open_vault(settings: Settings, db: Database) -> Vault:
    return Vault(provider_for(settings), EngineDataKeys(db))


def initialise(settings: Settings, db: Database) -> InitReport:
    """Idempotent: creates only what is missing, so ``make run`` can call it every time."""
    created_key = None
    if not settings.master_key and not settings.kms_provider:
        path = settings.master_key_file
        if not path.exists():
            write_key_file(path, [generate_key()])
            created_key = path
    before = migrate.current_revision(db)
    if before != migrate.head_revision():
        migrate.upgrade(db)
    provider = provider_for(settings)
    created_dek = False
    with db.begin() as conn:
        dks = DataKeyRepository(conn)
        vault = Vault(provider, dks)
        if dks.active() is None:
            vault.create_data_key()
            created_dek = True
        SecretRepository(conn, vault).get_or_create(PEPPER, lambda: os.urandom(32))
    return InitReport(
        created_key, before if before != migrate.head_revision() else None, created_dek
    )


def load_pepper(db: Database, vault: Vault) -> bytes:
    with db.read() as conn:
        pepper = SecretRepository(conn, vault).get(PEPPER)
    if pepper is None:
        raise RuntimeError("the HMAC pepper is missing: run 'ostiary init'")
    return pepper


def rotate_master(settings: Settings, db: Database) -> int:
    """Re-wrap every data key under the active master key in one transaction.

    With a key file: a new key is generated and put first (old keys stay readable until
    the re-wrap commits), then the file is rewritten with only the new key. With
    ``OSTIARY_MASTER_KEY``/``OSTIARY_MASTER_KEY_PREVIOUS`` the operator supplies both."""
    file_based = not settings.master_key and not settings.kms_provider
    if file_based:
        old = read_key_file(settings.master_key_file)
        new = generate_key()
        write_key_file(settings.master_key_file, [new, *old])
    provider = provider_for(settings)
    with db.begin() as conn:
        changed = Vault(provider, DataKeyRepository(conn)).rewrap_all()
    if file_based:
        write_key_file(settings.master_key_file, [new])
    return changed
