"""The sync agent's own cost of one create, one request per change (issue 8 point 8).

Against a served Ostiary on PostgreSQL (``bench.sync_support.target``), the agent plans
``OSTIARY_BENCH_SYNC_USERS`` creates (default 2,000) and sends them through the
Applier's own single-request path (``Applier._single``: If-Match, retries, 409 lookup,
journal). The first ``OSTIARY_BENCH_WARMUP`` (default 300) are not measured.

``OSTIARY_BENCH_AGENT_MODE``:
- ``seq`` (default): the measured creates are sent one after another in this thread;
  prints this thread's CPU per create (``time.thread_time``: the server is another
  process). Under ``valgrind --tool=callgrind --instr-atstart=no`` with
  ``OSTIARY_BENCH_CALLGRIND=1`` only those creates are instrumented: divide callgrind's
  totals by the count printed.
- ``pool``: the measured creates go through an Applier pool of ``concurrency`` workers
  (``OSTIARY_BENCH_SYNC_CONCURRENCY``; ``ostiary sync apply`` sends single requests
  through its own pool of ``single_concurrency``, 32 by default, since session 10: this
  bench keeps the one pool so that it still runs against older trees); prints the
  process's CPU per create (all threads); under callgrind every thread is instrumented
  while they run.

Old vs new: run this file with ``PYTHONPATH=<git archive of main>/src:<this checkout>``.
"""

from __future__ import annotations

import cProfile
import os
import resource
import subprocess
import time

from bench.sync_support import CONCURRENCY, USERS, agent, people, target, write_people
from ostiary.sync.apply import Applier

WARMUP = int(os.environ.get("OSTIARY_BENCH_WARMUP", "300"))
MODE = os.environ.get("OSTIARY_BENCH_AGENT_MODE", "seq")
# OSTIARY_BENCH_PROFILE=<file>: cProfile stats of the measured creates (seq mode).
PROFILE = os.environ.get("OSTIARY_BENCH_PROFILE", "")
CALLGRIND = os.environ.get("OSTIARY_BENCH_CALLGRIND", "") not in ("", "0")


def _instrument(state: str) -> None:
    if CALLGRIND:
        subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True)


class _Measured(Applier):
    """The create phase split into an unmeasured warm-up and the measured rest."""

    result: tuple[int, float] = (0, 0.0)
    split: tuple[float, float] = (0.0, 0.0)  # user, system seconds of the measured loop

    def _execute(self, phase: str, ops: list) -> None:  # type: ignore[type-arg]
        warm, measured = ops[:WARMUP], ops[WARMUP:]
        for op in warm:
            self._single(phase, op)
        if MODE == "pool":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            _instrument("on")
            cpu = time.process_time()
            list(self.pool.map(lambda op: self._single(phase, op), measured))
            self.result = (len(measured), time.process_time() - cpu)
            _instrument("off")
            after = resource.getrusage(resource.RUSAGE_SELF)
            self.split = (after.ru_utime - usage.ru_utime, after.ru_stime - usage.ru_stime)
            return
        profile = cProfile.Profile() if PROFILE else None
        _instrument("on")
        usage = resource.getrusage(resource.RUSAGE_THREAD)
        cpu = time.thread_time()
        if profile is not None:
            profile.enable()
        for op in measured:
            self._single(phase, op)
        if profile is not None:
            profile.disable()
        spent = time.thread_time() - cpu
        after = resource.getrusage(resource.RUSAGE_THREAD)
        _instrument("off")
        self.split = (after.ru_utime - usage.ru_utime, after.ru_stime - usage.ru_stime)
        if profile is not None:
            profile.dump_stats(PROFILE)
        self.result = (len(measured), spent)


def run() -> None:
    with target() as (tmp, url, token):
        write_people(tmp / "people.csv", people(USERS))
        a = agent(tmp, url, token)
        try:
            journal = a.journal()
            plan = a.plan(journal=journal)
            applier = _Measured(a.client, journal, concurrency=CONCURRENCY, use_bulk=False)
            applier.ids, applier.hashes = dict(plan.matched), plan.hashes
            start = time.perf_counter()
            applier._creates(plan)
            journal.flush()
            seconds = time.perf_counter() - start
            applier.pool.shutdown(wait=True)
        finally:
            a.close()
        n, cpu = applier.result
        failures = len(applier.summary.failures)
        print(
            f"agent, one request per change ({MODE}, concurrency "
            f"{CONCURRENCY if MODE == 'pool' else 1}): {n} measured creates after {WARMUP}, "
            f"CPU {cpu:.3f} s = {cpu / max(n, 1) * 1e6:,.0f} us per create; "
            f"(user {applier.split[0] / max(n, 1) * 1e6:,.0f} us, "
            f"system {applier.split[1] / max(n, 1) * 1e6:,.0f} us); "
            f"created={applier.summary.done.get('create', 0)} failures={failures} "
            f"wall {seconds:.1f} s, load {os.getloadavg()[0]:.1f}"
            + ("; callgrind: divide totals by the measured creates" if CALLGRIND else "")
        )
