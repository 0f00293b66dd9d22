"""Outbound notifications for key events: an HMAC-signed webhook, and secret delivery.

Webhook requests carry ``Ostiary-Signature: t=<unix seconds>,v1=<hex>``, where ``v1`` is
HMAC-SHA256(webhook secret, ``"<t>." + body``); the receiver recomputes it and rejects
stale ``t``. The webhook secret is a named vault secret (``keys.webhook_secret``), shown
by ``ostiary keys webhook-secret``. Security events are queued and posted by a worker
thread so the request that raised them never waits on the receiver.
"""

from __future__ import annotations

import contextlib
import os
import queue
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from ostiary.core.crypto.hashing import hmac_sha256
from ostiary.web.logs import get_logger

log = get_logger("ostiary.keys.notify")
WEBHOOK_SECRET = "keys.webhook_secret"


def signature(secret: bytes, body: bytes, at: int) -> str:
    mac = hmac_sha256(secret, str(at).encode() + b"." + body).hex()
    return f"t={at},v1={mac}"


def post_signed(url: str, secret: bytes, doc: dict[str, Any], timeout: float = 5.0) -> bool:
    body = orjson.dumps(doc)
    headers = {
        "Content-Type": "application/json",
        "Ostiary-Signature": signature(secret, body, int(time.time())),
        "User-Agent": "ostiary-webhook",
    }
    try:
        resp = httpx.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        log.warning("webhook.failed", url=url, error=type(exc).__name__)
        return False
    if resp.status_code >= 300:
        log.warning("webhook.rejected", url=url, status=resp.status_code)
        return False
    return True


def write_secret_file(path: Path, doc: dict[str, Any]) -> None:
    """Atomically replace ``path`` with ``doc`` as JSON, readable by its owner only (0600):
    the sync agent reads it; a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ostiary-key-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class Notifier:
    """Queues event documents and posts them to the configured webhook in the background."""

    def __init__(self, url: str | None, secret: bytes | None) -> None:
        self.url = url
        self._secret = secret
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=10_000)
        self._thread: threading.Thread | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.url and self._secret)

    def emit(self, doc: dict[str, Any]) -> None:
        if not self.enabled:
            return
        if self._thread is None:  # no worker (CLI, one-off): deliver now
            self._deliver(doc)
            return
        try:
            self._queue.put_nowait(doc)
        except queue.Full:
            log.warning("webhook.queue_full", event=doc.get("event"))

    def _deliver(self, doc: dict[str, Any]) -> None:
        assert self.url and self._secret
        post_signed(self.url, self._secret, doc)

    def start(self) -> None:
        if not self.enabled or self._thread is not None:
            return

        def run() -> None:
            while True:
                doc = self._queue.get()
                try:
                    if doc is None:
                        return
                    self._deliver(doc)
                finally:
                    self._queue.task_done()

        self._thread = threading.Thread(target=run, name="ostiary-key-webhook", daemon=True)
        self._thread.start()

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until everything queued has been posted (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def stop(self) -> None:
        if self._thread is not None:
            self.drain(5.0)
            self._queue.put(None)
            self._thread.join(5.0)
            self._thread = None
