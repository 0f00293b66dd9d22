"""In-flight bounds of the sync agent (issue 8 point 8, docs/sync.md "Safety and
throttling"): single requests (one per change) run up to ``target.single_concurrency``
at once, Bulk batches up to ``target.concurrency``, each against a real HTTP server on a
socket that counts the requests it is serving at the same moment."""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path

import orjson

from ostiary.scim import schemas
from ostiary.sync.plan import Create, Plan
from tests.sync.conftest import make_agent
from tests.sync.rawserver import RawServer, response

FEATURES = {
    "schemas": [schemas.SERVICE_PROVIDER_CONFIG],
    "patch": {"supported": True},
    "bulk": {"supported": True, "maxOperations": 1000, "maxPayloadSize": 1 << 20},
    "filter": {"supported": True, "maxResults": 1000},
    "etag": {"supported": False},
}


class Gauge:
    """A SCIM target that records the most requests of each kind it serves at once.

    A request is held until ``hold`` of its kind are in flight (or a second passes), so
    the agent's bound, not the scheduling of threads, decides the maximum seen."""

    def __init__(self, hold: int):
        self.hold = hold
        self.now: dict[str, int] = defaultdict(int)
        self.most: dict[str, int] = defaultdict(int)
        self.cond = threading.Condition()

    def reply(self, number: int, head: bytes, body: bytes) -> tuple[bytes, bool]:
        method, path = head.split(b" ", 2)[:2]
        if path.endswith(b"/ServiceProviderConfig"):
            return _json("200 OK", FEATURES), False
        kind = f"{method.decode()} {path.decode()}"
        with self.cond:
            self.now[kind] += 1
            self.most[kind] = max(self.most[kind], self.now[kind])
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.now[kind] >= self.hold, timeout=1.0)
        try:
            return _answer(path, orjson.loads(body)), False
        finally:
            with self.cond:
                self.now[kind] -= 1


def _json(status: str, doc: object) -> bytes:
    data = orjson.dumps(doc)
    return response(
        status, data, "Content-Type: application/scim+json", f"Content-Length: {len(data)}"
    )


def _answer(path: bytes, doc: dict) -> bytes:
    if path.endswith(b"/Bulk"):
        results = [
            {
                "method": "POST",
                "bulkId": op["bulkId"],
                "status": "201",
                "location": f"/Users/id-{op['data']['externalId']}",
                "response": {"id": f"id-{op['data']['externalId']}"},
            }
            for op in doc["Operations"]
        ]
        return _json("200 OK", {"schemas": [schemas.BULK_RESPONSE], "Operations": results})
    return _json("201 Created", {"id": f"id-{doc['externalId']}", **doc})


def _creates(n: int) -> Plan:
    return Plan(
        creates=[
            Create(
                f"E{i}",
                f"u{i}",
                {"schemas": [schemas.USER], "userName": f"u{i}", "externalId": f"E{i}"},
            )
            for i in range(n)
        ]
    )


def _apply(tmp: Path, extra: str, creates: int, hold: int) -> tuple[Gauge, int]:
    """Apply ``creates`` user creates with ``extra`` target settings (the tests' files set
    ``concurrency = 4``): the gauge and the number of connections the agent opened."""
    gauge = Gauge(hold)
    with RawServer(gauge.reply) as server:
        agent = make_agent(tmp, server.url, target_extra=extra)
        summary = agent.apply(_creates(creates), agent.journal())
    assert summary.failures == [] and summary.done == {"create": creates}
    return gauge, server.connections


def test_single_requests_reach_single_concurrency_not_the_batch_bound(tmp_path: Path, token_env):
    """concurrency = 4 (Bulk batches, pages), single_concurrency = 6: with Bulk off, six
    creates are in flight at once, never more (the connection pool is sized for them)."""
    gauge, connections = _apply(tmp_path, "single_concurrency = 6\nbulk = false", 60, hold=6)
    assert gauge.most["POST /Users"] == 6
    assert "POST /Bulk" not in gauge.most
    assert connections <= 6


def test_bulk_batches_stay_at_concurrency(tmp_path: Path, token_env):
    """The same bounds with Bulk: batches of 5 run four at a time (target.concurrency),
    however many single requests single_concurrency would allow."""
    gauge, _ = _apply(tmp_path, "single_concurrency = 6\nbulk_batch = 5", 40, hold=6)
    assert gauge.most["POST /Bulk"] == 4
    assert "POST /Users" not in gauge.most


def test_a_single_bound_below_the_batch_bound_holds_too(tmp_path: Path, token_env):
    """single_concurrency = 2 under concurrency = 4: two creates in flight, not four."""
    gauge, _ = _apply(tmp_path, "single_concurrency = 2\nbulk = false", 20, hold=2)
    assert gauge.most["POST /Users"] == 2
