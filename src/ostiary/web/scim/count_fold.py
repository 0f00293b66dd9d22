"""Folds the per-domain count deltas (``store.domain_counts.fold``) in ``serve`` every few
seconds, on a daemon thread (PostgreSQL only), and at once when a count found many
unfolded deltas (``domain_counts.FOLD_WANTED``). Why: every dense substring count (issue
3 point 10) reads all unfolded deltas, one row per changed user since the last fold; a
fold every 2 s keeps that to a few thousand rows at the sync's write rates. Any node may
run it: one fold runs at a time (an advisory lock) and it never waits on a writer."""

from __future__ import annotations

from ostiary.store.db import Database
from ostiary.store.domain_counts import FOLD_WANTED, fold
from ostiary.web.logs import get_logger
from ostiary.web.workers.periodic import Periodic

log = get_logger("ostiary.scim.count_fold")
FOLD_EVERY_SECONDS = 2.0


def run_once(db: Database) -> bool:
    with db.begin() as conn:
        return fold(conn)


class CountFolder(Periodic):
    def __init__(self, db: Database, every: float = FOLD_EVERY_SECONDS) -> None:
        def run() -> None:
            if run_once(db):
                log.debug("scim.counts.folded")

        super().__init__("scim-count-fold", every, run, FOLD_WANTED)
