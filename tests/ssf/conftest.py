"""An Ostiary that accepts http:// push endpoints (the receivers live on 127.0.0.1)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.web.app import create_app
from ostiary.web.context import AppContext
from tests.support.deploy import Deployment, deploy


@pytest.fixture
def ssf_deployment(database_url: str, tmp_path: Path) -> Iterator[Deployment]:
    dep = deploy(
        database_url,
        tmp_path,
        ssf_allow_insecure_push=True,
        ssf_poll_wait_seconds=1.5,
        ssf_min_verification_interval=60,
    )
    yield dep
    dep.db.dispose()


@dataclass
class Ssf:
    """A running transmitter plus the bearer header of one receiver."""

    client: TestClient
    ctx: AppContext
    dep: Deployment
    clock: FrozenClock
    auth: dict[str, str]

    def receiver(self, name: str) -> dict[str, str]:
        key = self.dep.make_key(["ssf:manage"], name=name, clock=self.clock)
        return {"authorization": f"Bearer {key.token}"}

    def create(self, body: dict[str, Any], auth: dict[str, str] | None = None) -> dict[str, Any]:
        resp = self.client.post("/ssf/stream", json=body, headers=auth or self.auth)
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    def jwks(self) -> dict[str, Any]:
        return dict(self.client.get("/ssf/jwks").json())

    def deliver(self) -> int:
        return self.ctx.outbox_worker().run_once()

    def emit(
        self, event_type: str, subject: dict[str, Any], extra: dict[str, Any] | None = None
    ) -> list[str]:
        """Emit in a transaction of its own; then a millisecond passes, so events have
        distinct times (and so an order) as they do outside a frozen clock."""
        with self.ctx.db.begin() as conn:
            jtis = self.ctx.ssf().emit(conn, event_type, subject, self.clock.now(), extra)
        self.clock.advance(0.001)
        return jtis


@pytest.fixture
def ssf(ssf_deployment: Deployment, clock: FrozenClock) -> Iterator[Ssf]:
    clock.advance(-clock.now().microsecond / 1e6)  # whole second: iat stays put below
    app = create_app(ssf_deployment.settings, clock=clock)
    with TestClient(app, base_url="http://testserver") as tc:
        ctx: AppContext = app.state.ctx
        key = ssf_deployment.make_key(["ssf:manage"], name="receiver-a", clock=clock)
        yield Ssf(tc, ctx, ssf_deployment, clock, {"authorization": f"Bearer {key.token}"})
        if ctx._outbox is not None:
            ctx._outbox.stop()
    app.state.ctx.db.dispose()
