"""Client registrations. Secrets are sealed (context ``client_secret:<id>:<version>``):
client_secret_jwt needs the secret itself as an HMAC key, so a hash would not do."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from ostiary.core.clock import as_utc
from ostiary.core.crypto.vault import Vault
from ostiary.core.errors import NotFound
from ostiary.oidc.clients import Client, ClientSecret
from ostiary.store.tables_oidc import oidc_client_secrets as cs
from ostiary.store.tables_oidc import oidc_clients as oc


def _context(client_id: str, version: int) -> str:
    return f"client_secret:{client_id}:{version}"


class ClientRepository:
    def __init__(self, conn: Connection, vault: Vault) -> None:
        self._conn = conn
        self._vault = vault

    def _secret(self, r: Row[Any]) -> ClientSecret:
        plain = self._vault.open(r.sealed, _context(r.client_id, r.version)).decode()
        return ClientSecret(
            version=r.version,
            secret=plain,
            last4=r.last4,
            created_at=as_utc(r.created_at),
            not_after=as_utc(r.not_after) if r.not_after else None,
        )

    def _client(self, r: Row[Any], secrets: list[ClientSecret]) -> Client:
        return Client(
            id=r.id,
            name=r.name,
            client_type=r.client_type,
            auth_method=r.auth_method,
            redirect_uris=tuple(r.redirect_uris),
            grant_types=tuple(r.grant_types),
            scopes=tuple(r.scopes),
            jwks=r.jwks,
            options=dict(r.options),
            created_at=as_utc(r.created_at),
            updated_at=as_utc(r.updated_at),
            secrets=tuple(sorted(secrets, key=lambda s: s.version)),
        )

    def add(self, client: Client) -> None:
        now = client.created_at
        self._conn.execute(
            insert(oc).values(
                id=client.id,
                name=client.name,
                client_type=client.client_type,
                auth_method=client.auth_method,
                redirect_uris=list(client.redirect_uris),
                grant_types=list(client.grant_types),
                scopes=list(client.scopes),
                jwks=client.jwks,
                options=client.options,
                created_at=now,
                updated_at=now,
            )
        )
        for secret in client.secrets:
            self.add_secret(client.id, secret)

    def add_secret(self, client_id: str, secret: ClientSecret) -> None:
        self._conn.execute(
            insert(cs).values(
                client_id=client_id,
                version=secret.version,
                sealed=self._vault.seal(
                    secret.secret.encode(), _context(client_id, secret.version)
                ),
                last4=secret.last4,
                created_at=secret.created_at,
                not_after=secret.not_after,
            )
        )

    def end_secret(self, client_id: str, version: int, not_after: datetime) -> None:
        stmt = update(cs).where(cs.c.client_id == client_id, cs.c.version == version)
        self._conn.execute(stmt.values(not_after=not_after))

    def get(self, client_id: str) -> Client | None:
        row = self._conn.execute(select(oc).where(oc.c.id == client_id)).first()
        if row is None:
            return None
        rows = self._conn.execute(select(cs).where(cs.c.client_id == client_id))
        return self._client(row, [self._secret(r) for r in rows])

    def require(self, client_id: str) -> Client:
        client = self.get(client_id)
        if client is None:
            raise NotFound(f"no client {client_id}")
        return client

    def list(self) -> list[Client]:
        by_client: dict[str, list[ClientSecret]] = defaultdict(list)
        for r in self._conn.execute(select(cs)):
            by_client[r.client_id].append(self._secret(r))
        rows = self._conn.execute(select(oc).order_by(oc.c.created_at, oc.c.id))
        return [self._client(r, by_client[r.id]) for r in rows]

    def update(self, client: Client, now: datetime) -> None:
        self._conn.execute(
            update(oc)
            .where(oc.c.id == client.id)
            .values(
                name=client.name,
                redirect_uris=list(client.redirect_uris),
                grant_types=list(client.grant_types),
                scopes=list(client.scopes),
                jwks=client.jwks,
                options=client.options,
                updated_at=now,
            )
        )

    def delete(self, client_id: str) -> bool:
        return bool(self._conn.execute(delete(oc).where(oc.c.id == client_id)).rowcount)
