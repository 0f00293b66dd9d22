"""Glue between ``AppContext`` and the key machinery (service, scheduler, lifespan)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ostiary.web.keys.runtime import webhook_secret
from ostiary.web.keys.scheduler import run_due
from ostiary.web.keys.service import KeyService


def service(ctx: Any) -> KeyService:
    return KeyService(ctx.settings, ctx.db, ctx.pepper, ctx.clock, ctx.key_runtime)


def secret_loader(ctx: Any) -> Callable[[], bytes]:
    return lambda: webhook_secret(ctx.db, ctx.vault)


def start(ctx: Any) -> None:
    job = None
    if ctx.settings.key_scheduler_in_serve:

        def job() -> None:
            run_due(service(ctx), secret_loader(ctx))

    ctx.key_runtime.start(job)


def stop(ctx: Any) -> None:
    ctx.key_runtime.stop()
