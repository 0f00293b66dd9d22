"""Per-process OAuth state: the signing keyring, replay cache and DPoP nonce source."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ostiary.oidc.dpop import HmacNonces, NonceSource, ReplayCache
from ostiary.store.repositories.vault import SecretRepository
from ostiary.web.context import AppContext, DbKeyReader
from ostiary.web.oauth import replay, revoked, throttle
from ostiary.web.oauth.client_cache import ClientCache
from ostiary.web.oauth.group_commit import GroupCommitAudit
from ostiary.web.oauth.keyring import KeyRing, policy_from

KEYRING_REFRESH_SECONDS = 60.0
# How long the token endpoint may reuse a key record it read: the delay before a disabled
# or revoked key stops getting tokens (its tokens stop at SCIM at once: see resource.py).
CLIENT_CACHE_SECONDS = 1.0


@dataclass
class OAuthState:
    ctx: AppContext
    keyring: KeyRing
    replay: ReplayCache
    nonces: NonceSource
    key_reader: DbKeyReader
    audit: GroupCommitAudit
    clients: ClientCache
    signin_throttle: Any
    # Revoked access-token jtis, consulted by every endpoint that accepts our tokens.
    revocations: revoked.RevocationSet

    @property
    def settings(self) -> Any:
        return self.ctx.settings

    @property
    def issuer(self) -> str:
        return str(self.ctx.settings.issuer)

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/token"

    @property
    def scim_audience(self) -> str:
        return f"{self.issuer}/scim/v2"

    def now(self) -> int:
        return int(self.ctx.clock.now().timestamp())

    @classmethod
    def build(cls, ctx: AppContext) -> OAuthState:
        policy = policy_from(ctx.settings, KEYRING_REFRESH_SECONDS)
        keyring = KeyRing(ctx.db, ctx.vault, ctx.clock, policy, KEYRING_REFRESH_SECONDS)
        keyring.reload()  # first start creates the keys; fail early if the vault is wrong
        with ctx.db.begin() as conn:
            secret = SecretRepository(conn, ctx.vault).get_or_create(
                "dpop_nonce_key", lambda: os.urandom(32)
            )
        clock = ctx.clock
        return cls(
            ctx=ctx,
            keyring=keyring,
            replay=replay.build(ctx.settings.redis_url),
            nonces=HmacNonces(secret, lambda: clock.now().timestamp()),
            key_reader=DbKeyReader(ctx.db),
            audit=GroupCommitAudit(ctx.db),
            clients=ClientCache(ctx.db, clock, CLIENT_CACHE_SECONDS),
            signin_throttle=throttle.build(ctx.settings.redis_url),
            revocations=revoked.build(
                ctx.db, ctx.settings.redis_url, ctx.settings.key_redis_prefix, clock.now
            ),
        )
