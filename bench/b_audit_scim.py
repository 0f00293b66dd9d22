"""What the audit event adds to a SCIM create (target: under 10%).

Command: ``.venv/bin/python -m bench audit_scim``. Creates users through the real ASGI
app (in-process HTTP client, SQLite deployment in a temporary directory, no password so
argon2 does not hide the cost) with the audit append on, and again with
``AuditLog.append`` replaced by a no-op; blocks alternate so machine load hits both
sides alike. Reports the median time per create and the overhead.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient
from tests.support.deploy import deploy

from ostiary.web import app as web_app
from ostiary.web.scim import users as scim_users

BLOCKS, PER_BLOCK = 20, 50
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


class _NoAudit:
    def __init__(self, _conn: Any) -> None:
        pass

    def append(self, *_args: Any) -> str:
        return ""


def _block(client: TestClient, headers: dict[str, str], prefix: str) -> list[float]:
    samples = []
    for i in range(PER_BLOCK):
        body = {"schemas": [USER], "userName": f"{prefix}-{i}@example.com",
                "name": {"givenName": "Bench", "familyName": str(i)}}
        start = time.perf_counter()
        response = client.post("/scim/v2/Users", json=body, headers=headers)
        samples.append(time.perf_counter() - start)
        assert response.status_code == 201, response.text
    return samples


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dep = deploy(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp))
        token = dep.make_key(["users:write"]).token
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        real = scim_users.AuditLog
        app = web_app.create_app(dep.settings)
        with_audit: list[float] = []
        without: list[float] = []
        with TestClient(app) as client:
            _block(client, headers, "warm")
            for b in range(BLOCKS):
                scim_users.AuditLog = real  # type: ignore[misc]
                with_audit += _block(client, headers, f"a{b}")
                scim_users.AuditLog = _NoAudit  # type: ignore[misc,assignment]
                without += _block(client, headers, f"n{b}")
        scim_users.AuditLog = real  # type: ignore[misc]
        on, off = statistics.median(with_audit), statistics.median(without)
        print(f"SCIM create, median of {len(with_audit)}: with audit {on * 1000:.2f} ms, "
              f"without {off * 1000:.2f} ms, audit adds {(on - off) / off * 100:.1f}%")
        app.state.ctx.db.dispose()
        dep.db.dispose()
