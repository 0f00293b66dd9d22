"""Managing client registrations, shared by ``ostiary clients`` and the admin API: each
change is written and audited in the caller's transaction, so a failed audit append
leaves no change behind. Secrets are returned once and never audited."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from ostiary.audit.events import Actor, AuditEvent, RequestInfo
from ostiary.core.crypto.vault import Vault
from ostiary.core.errors import NotFound
from ostiary.core.ids import random_base62
from ostiary.oidc import clients as domain
from ostiary.oidc import logout
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.clients import ClientRepository
from ostiary.store.repositories.owners import OwnerRepository, resolve_user
from ostiary.store.tables_owners import CLIENT


class ClientAdmin:
    def __init__(
        self,
        conn: Connection,
        vault: Vault,
        actor: Actor,
        now: datetime,
        request: RequestInfo | None = None,
    ) -> None:
        self._conn = conn
        self._repo = ClientRepository(conn, vault)
        self._log = AuditLog(conn)
        self._actor = actor
        self._now = now
        self._request = request or RequestInfo()

    def _audit(self, action: str, client: domain.Client, **detail: Any) -> None:
        event = AuditEvent(
            action=action,
            actor=self._actor,
            target_type="client",
            target_id=client.id,
            request=self._request,
            after=client.summary(),
            detail=detail,
        )
        self._log.append(event, self._now)

    def create(self, owner: str | None = None, **fields: Any) -> tuple[domain.Client, str | None]:
        """``fields`` are :func:`ostiary.oidc.clients.build`'s, less id and time.
        ``owner`` (user id or userName): deprovisioning that user disables the client."""
        options = logout.validate_options(dict(fields.pop("options", None) or {}))
        client, secret = domain.build(
            client_id=random_base62(24), now=self._now, options=options, **fields
        )
        self._repo.add(client)
        self._audit("client.create", client, **self._own(client.id, owner))
        return client, secret

    def _own(self, client_id: str, owner: str | None) -> dict[str, str]:
        """Record the owner (issue 7 point 1); the audit detail to add."""
        if owner is None:
            return {}
        try:
            owner_id = resolve_user(self._conn, owner)
        except NotFound as exc:
            raise domain.ClientError(f"owner: {exc}") from None
        OwnerRepository(self._conn).set(CLIENT, client_id, owner_id, self._now)
        return {"owner_user_id": owner_id}

    def update(
        self,
        client_id: str,
        *,
        name: str | None = None,
        redirect_uris: list[str] | None = None,
        scopes: list[str] | None = None,
        jwks: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        owner: str | None = None,
    ) -> domain.Client:
        """Changes only what is given; ``options`` entries are merged, then validated."""
        before = self._repo.require(client_id)
        uris = tuple(domain.validate_redirect_uri(u) for u in redirect_uris or ())
        after = replace(
            before,
            name=(name or before.name).strip(),
            redirect_uris=uris or before.redirect_uris,
            scopes=tuple(dict.fromkeys(scopes)) if scopes else before.scopes,
            jwks=domain.validate_jwks(jwks) or before.jwks,
            # a None entry removes that setting (logout.validate_options drops it)
            options=logout.validate_options(
                domain.validate_options(before.options | (options or {}))
            ),
        )
        if "authorization_code" in after.grant_types and not after.redirect_uris:
            raise domain.ClientError("the authorization code grant needs at least one redirect URI")
        self._repo.update(after, self._now)
        self._audit("client.update", after, before=before.summary(), **self._own(client_id, owner))
        return after

    def rotate_secret(self, client_id: str, overlap: timedelta) -> tuple[domain.Client, str]:
        """A new secret; older live ones end after ``overlap`` (issue 6 point 2)."""
        client = self._repo.require(client_id)
        new, ending = domain.rotate_secret(client, self._now, overlap)
        self._repo.add_secret(client_id, new)
        for old in ending:
            assert old.not_after is not None
            self._repo.end_secret(client_id, old.version, old.not_after)
        rotated = self._repo.require(client_id)
        self._audit("client.secret.rotate", rotated, version=new.version, overlap=str(overlap))
        return rotated, new.secret

    def delete(self, client_id: str) -> domain.Client:
        client = self._repo.get(client_id)
        if client is None or not self._repo.delete(client_id):
            raise NotFound(f"no client {client_id}")
        self._audit("client.delete", client)
        return client
