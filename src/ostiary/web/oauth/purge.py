"""Runs the OAuth purge (``store.repositories.oauth_purge``) in ``serve``, hourly, on a
daemon thread; ``ostiary clients purge-expired`` runs the same pass by hand or from cron.
Every node may run it: the deletes are idempotent."""

from __future__ import annotations

from ostiary.core.clock import Clock
from ostiary.store.db import Database
from ostiary.store.repositories.oauth_purge import Purged, purge_expired
from ostiary.web.logs import get_logger
from ostiary.web.workers.periodic import Periodic

log = get_logger("ostiary.oauth.purge")
PURGE_EVERY_SECONDS = 3600.0


def run_once(db: Database, clock: Clock) -> Purged:
    with db.begin() as conn:
        return purge_expired(conn, clock.now())


class Purger(Periodic):
    def __init__(self, db: Database, clock: Clock, every: float = PURGE_EVERY_SECONDS) -> None:
        def run() -> None:
            log.info("oauth.purge", **run_once(db, clock).as_dict())

        super().__init__("oauth-purge", every, run)
