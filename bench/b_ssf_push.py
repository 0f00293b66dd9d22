"""SSF: cost of emit() (sign + enqueue) and emit-commit to a verified push at a receiver.

Command: ``.venv/bin/python -m bench ssf_push``. A real SQLite deployment in a temporary
directory, three push streams, one SET receiver on 127.0.0.1 that verifies each SET
(ES256) against the JWKS; the outbox worker thread runs as in ``ostiary serve`` and is
kicked after each commit.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tests.support.deploy import deploy
from tests.support.ssf_receiver import set_receiver

from ostiary.core.clock import SystemClock
from ostiary.signals.ssf import events as ev
from ostiary.signals.ssf.streams import PUSH, Delivery, ReceiverConfig
from ostiary.store.repositories.ssf import SsfRepository
from ostiary.web.context import AppContext

EVENTS = 200
STREAMS = 3


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dep = deploy(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp), ssf_allow_insecure_push=True)
        ctx = AppContext.build(dep.settings, clock=SystemClock())
        tx = ctx.ssf()
        with set_receiver(tx.signer().public_jwks(), dep.settings.issuer, audience="bench") as rx:
            cfg = ReceiverConfig(Delivery(PUSH, rx.url), [ev.SESSION_REVOKED], "bench")
            with ctx.db.begin() as conn:
                for _ in range(STREAMS):
                    SsfRepository(conn, ctx.vault).create("bench", "bench", cfg, ctx.clock.now())
            worker = ctx.outbox_worker()
            worker.start(interval=0.25)
            emit_ms, e2e_ms = [], []
            for i in range(EVENTS):
                subject = ev.user_subject(dep.settings.issuer, f"user-{i}", session_id=f"s-{i}")
                start = time.perf_counter()
                with ctx.db.begin() as conn:
                    t0 = time.perf_counter()
                    tx.emit(conn, ev.SESSION_REVOKED, subject, ctx.clock.now())
                    emit_ms.append((time.perf_counter() - t0) * 1000)
                worker.kick()
                rx.wait_for((i + 1) * STREAMS, timeout=30)
                e2e_ms.append((time.perf_counter() - start) * 1000)
            worker.stop()
        assert not rx.rejected and len(rx.accepted) == EVENTS * STREAMS
        print(
            f"emit to {STREAMS} streams: p50 {_pct(emit_ms, 0.5):.2f} ms, "
            f"p99 {_pct(emit_ms, 0.99):.2f} ms; commit to all {STREAMS} verified at the "
            f"receiver: p50 {_pct(e2e_ms, 0.5):.1f} ms, p99 {_pct(e2e_ms, 0.99):.1f} ms "
            f"over {EVENTS} events"
        )
        ctx.db.dispose()
        dep.db.dispose()
