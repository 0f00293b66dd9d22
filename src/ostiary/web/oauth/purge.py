"""Runs the OAuth purge (``store.repositories.oauth_purge``) in ``serve``, hourly, on a
daemon thread; ``ostiary clients purge-expired`` runs the same pass by hand or from cron.
Every node may run it: the deletes are idempotent."""

from __future__ import annotations

import threading

from ostiary.core.clock import Clock
from ostiary.store.db import Database
from ostiary.store.repositories.oauth_purge import Purged, purge_expired
from ostiary.web.logs import get_logger

log = get_logger("ostiary.oauth.purge")
PURGE_EVERY_SECONDS = 3600.0


def run_once(db: Database, clock: Clock) -> Purged:
    with db.begin() as conn:
        return purge_expired(conn, clock.now())


class Purger:
    def __init__(self, db: Database, clock: Clock, every: float = PURGE_EVERY_SECONDS) -> None:
        self._db = db
        self._clock = clock
        self._every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            try:
                log.info("oauth.purge", **run_once(self._db, self._clock).as_dict())
            except Exception as exc:  # a failed pass must not end the thread
                log.warning("oauth.purge.failed", error=type(exc).__name__)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ostiary-oauth-purge", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
