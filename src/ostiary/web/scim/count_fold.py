"""Folds the per-domain counter rows (``store.domain_counts.fold``) in ``serve``, every few
minutes, on a daemon thread (PostgreSQL only). Each database backend writes its own
counter rows, so they grow with the backends that ever wrote; folding keeps the dense
substring count (issue 3 point 10) reading a few rows per domain. Any node may run it:
one fold runs at a time (an advisory lock) and it never waits on a writer."""

from __future__ import annotations

from ostiary.store.db import Database
from ostiary.store.domain_counts import fold
from ostiary.web.logs import get_logger
from ostiary.web.workers.periodic import Periodic

log = get_logger("ostiary.scim.count_fold")
FOLD_EVERY_SECONDS = 300.0


def run_once(db: Database) -> bool:
    with db.begin() as conn:
        return fold(conn)


class CountFolder(Periodic):
    def __init__(self, db: Database, every: float = FOLD_EVERY_SECONDS) -> None:
        def run() -> None:
            if run_once(db):
                log.debug("scim.counts.folded")

        super().__init__("scim-count-fold", every, run)
