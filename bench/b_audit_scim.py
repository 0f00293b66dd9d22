"""What the audit event adds to a SCIM create (target: under 10%).

Command: ``.venv/bin/python -m bench audit_scim``. Creates users through the real ASGI
app (requests handed straight to it, so no HTTP client cost is counted; SQLite deployment
in a temporary directory; no password, so argon2 does not hide the cost) with the audit
append on, and again with the audit switched off (:func:`audit_off`: no append, and no
event, actor or request facts built either); blocks alternate so machine load hits both
sides alike. Reports the median time per create and the overhead.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import subprocess
import tempfile
import time
from collections import namedtuple
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
from tests.support.deploy import deploy

from bench.b_request_cpu import _call as call_app
from ostiary.audit.events import NO_REQUEST, AuditEvent
from ostiary.web import app as web_app
from ostiary.web import logs
from ostiary.web.scim import call as scim_call
from ostiary.web.scim import user_ops

BLOCKS = int(os.environ.get("OSTIARY_BENCH_BLOCKS", "20"))
PER_BLOCK = 50
# Under ``valgrind --tool=callgrind --instr-atstart=no``, OSTIARY_BENCH_CALLGRIND=on (or
# off) counts the instructions of the blocks with (or without) the audit append only:
# run once each way and divide each total by BLOCKS * PER_BLOCK.
CALLGRIND = os.environ.get("OSTIARY_BENCH_CALLGRIND", "")
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


class _NoAudit:
    def __init__(self, _conn: Any) -> None:
        pass

    def append(self, *_args: Any) -> str:
        return ""

    def append_many(self, events: list[Any]) -> list[str]:
        """A Bulk request appends its held events at once (web/scim/call.Call.deferred)."""
        return [""] * len(events)


def _nothing(_source: Any) -> None:
    return None


def _nothing_at_all(*_args: Any) -> None:
    return None


# What the off side replaces in ``ostiary.web.scim.call``: everything a SCIM write builds
# only for its audit event. Until 2026-11-30 (auditinit) only ``AuditLog`` was replaced, so
# the off side still built the event (~24,000 instructions a create), the actor (~13,000)
# and the request facts (~21,000), and the bench understated the audit by those. The
# event's stand-in has the same fields: ``Call._appended`` still hands the
# action, target and documents to the provisioning queue, as an Ostiary without an audit
# would. Since session 10 ``Call.event`` passes the fields by position, so the stand-in
# is a named tuple of AuditEvent's fields (with its defaults): built by position it costs
# ~4,500 instructions against ~5,200 for the namespace built by keyword, so the off side
# got no dearer. Bench only: the audit cannot be switched off in Ostiary (issue 5 point 1).
_Event = namedtuple(
    "_Event",
    [f.name for f in fields(AuditEvent)],
    defaults=("success", None, None, NO_REQUEST, None, None, None, None, False),
)
OFF: dict[str, Any] = {
    "AuditLog": _NoAudit,
    "AuditEvent": _Event,
    # Since session 12 ``Call.audit`` makes the entry from the fields (``prepare``) and
    # appends it (``append_prepared``) with no event built; the off side's ``Call.audit``
    # (OFF_CALL) calls neither, these stand in for any other caller.
    "prepare": _nothing_at_all,
    "append_prepared": _nothing_at_all,
    "key_actor": _nothing,
    "request_info": _nothing,
}


def _audit_off(
    self: Any, action: str, kind: str, rid: str, before: Any = None, after: Any = None,
    detail: Any = None, **documents: Any,
) -> None:  # fmt: skip
    """``Call.audit`` without the audit: only the count and the downstream push it queues
    (a Bulk request's deferred events still go the real way, with OFF's stand-ins).
    Patching ``prepare`` alone would leave the off side evaluating and passing its 13
    arguments (~1,000 instructions), work only the audit needs. The same parameters, so
    the off side pays no call the real one does not."""
    if self._deferred is not None:
        _REAL_AUDIT(self, action, kind, rid, before, after, detail, **documents)
        return
    self._queue(action, kind, rid, after or before or {}, detail or {})


_REAL_AUDIT = scim_call.Call.audit
OFF_CALL: dict[str, Any] = {"audit": _audit_off}


# What the off side replaces in ``ostiary.web.scim.user_ops`` (audit12, 2026-11-30): a
# create serialises its answer with sorted keys only because the audit entry embeds those
# bytes, and asks whether the schemas can render a secret only for the entry's redaction.
# Until then the off side paid both, so the bench understated the audit by them. Without
# an audit the answer is serialised once, unsorted (``orjson.dumps`` itself, through a
# namespace whose OPT_SORT_KEYS is 0: no Python call added), and nothing is asked.
OFF_CREATE: dict[str, Any] = {
    "orjson": SimpleNamespace(dumps=orjson.dumps, OPT_SORT_KEYS=0),
    "renders_no_secrets": _nothing,
}


@contextmanager
def audit_off() -> Iterator[None]:
    """The SCIM writes made inside run without their audit (see ``OFF``, ``OFF_CREATE``)."""
    patched = [(scim_call, OFF), (scim_call.Call, OFF_CALL), (user_ops, OFF_CREATE)]
    real = [(module, {name: getattr(module, name) for name in off}) for module, off in patched]
    for module, off in patched:
        for name, stand_in in off.items():
            setattr(module, name, stand_in)
    try:
        yield
    finally:
        for module, names in real:
            for name, value in names.items():
                setattr(module, name, value)


async def _call(app: Any, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    """One request straight into the ASGI app: the server's cost, no HTTP client."""
    return await call_app(app, ("POST", "/scim/v2/Users", body, headers))


def _written() -> int:
    """Bytes this process has handed to write() so far: on SQLite, mostly WAL frames (a
    page each), so the difference per create counts the pages the audit adds."""
    with open("/proc/self/io", "rb") as f:
        return int(next(line for line in f if line.startswith(b"wchar:")).split()[1])


async def _block(
    app: Any, headers: list[tuple[bytes, bytes]], prefix: str, cpu: list[float], io: list[int]
) -> list[float]:
    samples = []
    wrote = _written()
    began = time.process_time()
    for i in range(PER_BLOCK):
        body = orjson.dumps(
            {
                "schemas": [USER],
                "userName": f"{prefix}-{i}@example.com",
                "name": {"givenName": "Bench", "familyName": str(i)},
            }
        )
        start = time.perf_counter()
        status = await _call(app, headers, body)
        samples.append(time.perf_counter() - start)
        assert status == 201, status
    cpu.append((time.process_time() - began) / PER_BLOCK)
    io.append((_written() - wrote) // PER_BLOCK)
    return samples


def _callgrind(on: bool) -> None:
    if CALLGRIND:
        state = "on" if on else "off"
        subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True)


async def _measure(app: Any, headers: list[tuple[bytes, bytes]]) -> tuple[list[Any], ...]:
    on: list[float] = []
    off: list[float] = []
    cpu_on: list[float] = []
    cpu_off: list[float] = []
    io_on: list[int] = []
    io_off: list[int] = []
    await _block(app, headers, "warm", [], [])
    with audit_off():
        await _block(app, headers, "warm-off", [], [])
    # As a served worker does after start-up (web.app.create_app_from_env): full
    # collections stop walking what start-up and the warm-up made. Unfrozen, whether one
    # fell inside a measured block moved a run's count by ~10,000 instructions a create.
    gc.collect()
    gc.freeze()
    for b in range(BLOCKS):
        _callgrind(CALLGRIND == "on")
        on += await _block(app, headers, f"a{b}", cpu_on, io_on)
        _callgrind(False)
        with audit_off():
            _callgrind(CALLGRIND == "off")
            off += await _block(app, headers, f"n{b}", cpu_off, io_off)
            _callgrind(False)
    return on, off, cpu_on, cpu_off, io_on, io_off


def served(tmp: str) -> tuple[Any, Any, list[tuple[bytes, bytes]]]:
    """A SQLite deployment in ``tmp``, its app, and the headers of a key that may create
    users (rate limits far above the load: thousands of creates from one key and IP in
    seconds)."""
    limits = {"key_rate_per_second": 1e6, "ip_rate_per_second": 1e6}
    limits |= {"key_rate_burst": 10**7, "ip_rate_burst": 10**7}
    dep = deploy(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp), **limits)
    token = dep.make_key(["users:write"]).token
    logs.configure("warning", True)  # no access log line per request
    app = web_app.create_app(dep.settings)
    headers = [
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/scim+json"),
    ]
    return dep, app, headers


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dep, app, headers = served(tmp)
        with_audit, without, cpu_on, cpu_off, io_on, io_off = asyncio.run(_measure(app, headers))
        on, off = statistics.median(with_audit), statistics.median(without)
        print(
            f"SCIM create, median of {len(with_audit)}: with audit {on * 1000:.2f} ms, "
            f"without {off * 1000:.2f} ms, audit adds {(on - off) / off * 100:.1f}% (wall)"
        )
        c_on, c_off = statistics.median(cpu_on), statistics.median(cpu_off)
        print(
            f"CPU per create (median of {BLOCKS} blocks): with audit {c_on * 1000:.2f} ms, "
            f"without {c_off * 1000:.2f} ms, audit adds {(c_on - c_off) / c_off * 100:.1f}%; "
            f"load {os.getloadavg()[0]:.1f}"
        )
        w_on, w_off = statistics.median(io_on), statistics.median(io_off)
        print(
            f"bytes written per create (WAL frames, median of {BLOCKS} blocks): with audit "
            f"{w_on:,.0f}, without {w_off:,.0f} ({(w_on - w_off) / 4120:.1f} pages more)"
        )
        app.state.ctx.db.dispose()
        dep.db.dispose()
