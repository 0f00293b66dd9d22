"""Periodic signed audit checkpoints in ``serve`` (issue 5), so a deployment without
``ostiary audit worker`` still gets them. Every ``audit_checkpoint_interval_seconds``
each node tries; ``checkpoint_if_new`` signs only when events were added and, on
PostgreSQL, under an advisory lock, so several nodes write one checkpoint between them."""

from __future__ import annotations

from ostiary.store.repositories.audit_outbox import checkpoint_if_new
from ostiary.web.context import AppContext
from ostiary.web.logs import get_logger
from ostiary.web.workers.periodic import Periodic

log = get_logger("ostiary.audit.checkpoint")


def run_once(ctx: AppContext) -> None:
    done = checkpoint_if_new(ctx.db, ctx.vault, ctx.settings, ctx.clock.now())
    if done is None:
        return
    checkpoint_id, cp, errors = done
    log.info("audit.checkpoint", id=checkpoint_id, tree_size=cp.tree_size)
    for error in errors:  # the checkpoint is committed; a witness gets the next one
        log.warning("audit.checkpoint.witness_failed", error=error)


def checkpointer(ctx: AppContext) -> Periodic:
    every = float(ctx.settings.audit_checkpoint_interval_seconds)
    return Periodic("audit-checkpoint", every, lambda: run_once(ctx))
