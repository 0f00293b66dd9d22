"""What one deprovisioning costs the database: statements and round trips per SCIM PATCH
``active=false`` (issue 7 point 5), and where the CPU goes.

Command: ``.venv/bin/python -m bench.b_deprovision_cost`` (or ``python -m bench
deprovision_cost``). In process (Starlette's TestClient, no sockets, outbox worker off),
on PostgreSQL (``OSTIARY_TEST_PG_URL``, a scratch database) and SQLite. Every user signed
in ``OSTIARY_BENCH_SESSIONS`` times (default 1 and 3) through the code flow of a
relying party with a ``backchannel_logout_uri`` (access and refresh token, one refresh
each: rows in both token tables), with one SSF push stream and one webhook subscribed.

- statements: SQLAlchemy ``before_cursor_execute`` events during the PATCH (key checks
  included), grouped by their first words;
- statements and round trips on the wire (PostgreSQL): libpq's protocol trace
  (``PQtrace``) of every connection checked out during the PATCH, counting Execute and
  Query messages and ``ReadyForQuery`` answers (BEGIN, COMMIT, the audit append's
  driver-level statements and the burst guard's own transaction included);
- ``OSTIARY_BENCH_PROFILE=1``: a cProfile of the deprovisioning transactions (the thread
  that runs them), top 25 by cumulative time.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from psycopg import pq
from sqlalchemy import event
from starlette.testclient import TestClient
from tests.support.deploy import deploy
from tests.support.rp import PASSWORD, USER, code_flow_tokens, register
from tests.support.services import require_postgres, scratch_postgres_database

from ostiary.signals.ssf import events as ev
from ostiary.store.repositories.webhooks import WebhookRepository
from ostiary.web.app import create_app

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
DEACTIVATE = {
    "schemas": [PATCH],
    "Operations": [{"op": "replace", "path": "active", "value": False}],
}
USERS = int(os.environ.get("OSTIARY_BENCH_N", "10"))


class Tally:
    """Statements (by their first words) and libpq round trips while ``on`` is set."""

    def __init__(self, engine: Any, trace_dir: Path) -> None:
        self.on = False
        self.statements: Counter[str] = Counter()
        self._trace = (trace_dir / "libpq.trace").open("w")
        event.listen(engine, "before_cursor_execute", self._stmt)
        if engine.dialect.name == "postgresql":
            event.listen(engine.pool, "checkout", self._traced)
            event.listen(engine.pool, "checkin", self._untraced)

    def _stmt(
        self, _conn: Any, _cur: Any, statement: str, _params: Any, _ctx: Any, many: bool
    ) -> None:
        if self.on:
            words = " ".join(statement.split()[:4])
            self.statements[words + (" [executemany]" if many else "")] += 1

    def _traced(self, dbapi: Any, _record: Any, _proxy: Any) -> None:
        dbapi.pgconn.trace(self._trace.fileno())
        dbapi.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)

    def _untraced(self, dbapi: Any, _record: Any) -> None:
        if dbapi is not None:
            dbapi.pgconn.untrace()

    def mark(self) -> int:
        self._trace.flush()
        return os.fstat(self._trace.fileno()).st_size

    def dump(self, start: int, end: int) -> None:
        with open(self._trace.name, "rb") as f:
            f.seek(start)
            for line in f.read(end - start).splitlines():
                if line.startswith(b"F") and (
                    b"\tParse\t" in line or b"\tQuery\t" in line or b"Sync" in line
                ):
                    print("   >", line.decode(errors="replace")[:160])

    def round_trips(self, start: int, end: int) -> tuple[int, int]:
        """(statements sent, round trips) in the trace between two marks: an Execute or
        a simple Query is a statement, a ReadyForQuery closes a round trip."""
        with open(self._trace.name, "rb") as f:
            f.seek(start)
            lines = f.read(end - start).splitlines()
        sent = sum(
            1 for x in lines if x.startswith(b"F") and (b"\tExecute\t" in x or b"\tQuery\t" in x)
        )
        return sent, sum(1 for x in lines if b"\tReadyForQuery\t" in x)


@contextmanager
def _profiled(db: Any, profile: cProfile.Profile | None) -> Iterator[None]:
    """Profile every ``db.begin()`` unit on the thread that runs it."""
    if profile is None:
        yield
        return
    original = db.begin

    @contextmanager
    def begin() -> Iterator[Any]:
        profile.enable()
        try:
            with original() as conn:
                yield conn
        finally:
            profile.disable()

    db.begin = begin
    try:
        yield
    finally:
        db.begin = original


def _setup(app: Any, http: TestClient, dep: Any, sessions: int) -> tuple[dict[str, str], list[str]]:
    ctx = app.state.ctx
    secret = register(
        app, client_id="rp", options={"backchannel_logout_uri": "http://127.0.0.1:9/bcl"}
    )
    assert secret is not None
    ssf_key = dep.make_key(["ssf:manage"], name="receiver").token
    stream = http.post(
        "/ssf/stream",
        json={
            "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "http://127.0.0.1:9/ssf"},
            "events_requested": [ev.SESSION_REVOKED, ev.ACCOUNT_DISABLED],
        },
        headers={"authorization": f"Bearer {ssf_key}"},
    )
    assert stream.status_code == 201, stream.text
    with ctx.db.begin() as conn:
        WebhookRepository(conn, ctx.vault).create(
            "http://127.0.0.1:9/hook", ["user.deprovisioned"], b"h" * 32, ctx.clock.now()
        )
    key = dep.make_key(["users:read", "users:write", "users:deprovision"], name="hr").token
    auth = {"Authorization": f"Bearer {key}"}
    users = []
    for i in range(USERS):
        name = f"user{i}@example.com"
        made = http.post(
            "/scim/v2/Users",
            json={"schemas": [USER], "userName": name, "password": PASSWORD},
            headers=auth,
        )
        assert made.status_code == 201, made.text
        for _ in range(sessions):
            http.cookies.clear()
            tokens = code_flow_tokens(http, client_id="rp", secret=secret, username=name)
            refreshed = http.post(
                "/token",
                data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                auth=("rp", secret),
            )
            assert refreshed.status_code == 200, refreshed.text
        users.append(str(made.json()["id"]))
    http.cookies.clear()
    return auth, users


def _measure(url: str, tmp: Path, sessions: int, profile: cProfile.Profile | None) -> None:
    dep = deploy(url, tmp, ssf_allow_insecure_push=True)
    app = create_app(dep.settings)
    with TestClient(app, base_url="http://testserver") as http:
        auth, users = _setup(app, http, dep, sessions)
        tally = Tally(app.state.ctx.db.engine, tmp)
        trips = sent = 0
        with _profiled(app.state.ctx.db, profile):
            for user_id in users:
                start = tally.mark()
                tally.on = True
                resp = http.patch(f"/scim/v2/Users/{user_id}", json=DEACTIVATE, headers=auth)
                tally.on = False
                assert resp.status_code == 200, resp.text
                more_sent, more_trips = tally.round_trips(start, tally.mark())
                sent, trips = sent + more_sent, trips + more_trips
                if os.environ.get("OSTIARY_BENCH_DUMP"):
                    tally.dump(start, tally.mark())
    app.state.ctx.db.dispose()
    dep.db.dispose()
    n = len(users)
    total = sum(tally.statements.values())
    engine = app.state.ctx.db.dialect
    wire = f"; on the wire {sent / n:.1f} statements, {trips / n:.1f} round trips"
    print(
        f"{engine}, {sessions} session(s) per user, per deprovision: {total / n:.1f} "
        f"statements through SQLAlchemy (not the audit append, which uses the driver)"
        + (wire if engine == "postgresql" else "")
    )
    for words, count in tally.statements.most_common():
        print(f"    {count / n:5.1f}  {words}")


def run() -> None:
    wanted = os.environ.get("OSTIARY_BENCH_SESSIONS", "1,3")
    # Spelled as the SCIM benches spell it ("postgres"); "postgresql" is accepted too.
    raw = os.environ.get("OSTIARY_BENCH_ENGINES", "postgres,sqlite").split(",")
    engines = ["postgresql" if e in ("postgres", "postgresql") else e for e in raw]
    profile = cProfile.Profile() if os.environ.get("OSTIARY_BENCH_PROFILE") else None
    for sessions in [int(s) for s in wanted.split(",")]:
        for engine in engines:
            with tempfile.TemporaryDirectory() as tmp:
                if engine == "postgresql":
                    require_postgres()
                    with scratch_postgres_database() as url:
                        _measure(url, Path(tmp), sessions, profile)
                else:
                    _measure(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp), sessions, profile)
    if profile is not None:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    run()
