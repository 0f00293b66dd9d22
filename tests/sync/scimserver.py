"""An independent SCIM 2.0 server for the tests: scim2-server (PyPI), in memory, in its own
process on a free 127.0.0.1 port; and helpers to read what it holds."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.server import free_port

SCIM2_SERVER = str(Path(sys.executable).with_name("scim2-server"))
TOKEN = "scim2-server-test-token"
DEFAULT_SPC: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"],
    "patch": {"supported": True},
    "bulk": {"supported": True, "maxOperations": 1000, "maxPayloadSize": 10485760},
    "filter": {"supported": True, "maxResults": 1000},
    "changePassword": {"supported": False},
    "sort": {"supported": True},
    "etag": {"supported": True},
}


@contextmanager
def scim2_server(tmp: Path, **features: Any) -> Iterator[str]:
    """Yield the SCIM base URL; ``features`` override the ServiceProviderConfig parts."""
    spc = {**DEFAULT_SPC, **features}
    spc_file = tmp / f"spc-{time.monotonic_ns()}.json"
    spc_file.write_text(json.dumps(spc))
    port = free_port()
    log = (tmp / f"scim2-server-{port}.log").open("wb")
    proc = subprocess.Popen(
        [
            SCIM2_SERVER,
            "--port",
            str(port),
            "--bearer-token",
            TOKEN,
            "--service-provider-config",
            str(spc_file),
        ],
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}/v2"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError("scim2-server exited at start")
            try:
                if (
                    httpx.get(
                        f"{base}/ServiceProviderConfig", timeout=1, headers=auth()
                    ).status_code
                    == 200
                ):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("scim2-server did not start")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def list_all(base: str, resource: str, token: str = TOKEN) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    start = 1
    while True:
        doc = httpx.get(
            f"{base}/{resource}",
            params={"startIndex": start, "count": 1000},
            headers=auth(token),
            timeout=30,
        ).json()
        items = doc.get("Resources") or []
        out += items
        if not items or len(out) >= doc["totalResults"]:
            return out
        start += len(items)


def post(base: str, resource: str, doc: dict[str, Any], token: str = TOKEN) -> dict[str, Any]:
    resp = httpx.post(f"{base}/{resource}", json=doc, headers=auth(token), timeout=30)
    assert resp.status_code == 201, resp.text
    return resp.json()
