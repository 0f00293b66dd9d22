"""A small closed-loop HTTP/1.1 load generator on raw asyncio streams (no wrk here).

Each connection sends one request, reads the whole response, then sends the next, so the
rate is what the server sustains at that concurrency. Requests come from a callable so a
benchmark can hand out pre-built, single-use requests (DPoP proofs, client assertions).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from tests.support.server import OSTIARY, free_port


async def _conn(host: str, port: int, make: Callable[[], bytes], stop: float, stats: Counter):
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < stop:
            writer.write(make())
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            stats[status] += 1
    finally:
        writer.close()


def run_load(
    host: str, port: int, make: Callable[[], bytes], *, seconds: float, connections: int
) -> tuple[float, Counter]:
    stats: Counter = Counter()

    async def main() -> float:
        start = time.perf_counter()
        stop = start + seconds
        await asyncio.gather(*(_conn(host, port, make, stop, stats) for _ in range(connections)))
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    return sum(stats.values()) / elapsed, stats


@contextmanager
def served_deployment(
    workers: int = 2, *, log_level: str = "warning", extra_env: dict[str, str] | None = None
) -> Iterator[tuple[str, int, dict[str, str], Path]]:
    """``ostiary init`` then ``ostiary serve`` (granian) on a free port, SQLite in a temp dir.
    ``log_level`` "info" keeps the access log on (as ``serve`` runs by default, into the
    server's log file); ``extra_env`` adds settings (a benchmark's raised rate limits)."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {
            **os.environ,
            "OSTIARY_DATABASE_URL": f"sqlite:///{tmp}/ostiary.db",
            "OSTIARY_MASTER_KEY_FILE": f"{tmp}/master.key",
            "OSTIARY_CONFIG": f"{tmp}/none.toml",
            "OSTIARY_ISSUER": f"http://127.0.0.1:{port}",
            "OSTIARY_PORT": str(port),
            "OSTIARY_WORKERS": str(workers),
            "OSTIARY_LOG_LEVEL": log_level,
            **(extra_env or {}),
        }
        subprocess.run([OSTIARY, "init"], env=env, check=True, capture_output=True)
        log = open(Path(tmp) / "serve.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([OSTIARY, "serve"], env=env, stdout=log, stderr=log)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            env["_BENCH_SERVER_PID"] = str(proc.pid)
            yield "127.0.0.1", port, env, Path(tmp)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            log.close()


def cpu_seconds(root_pid: int) -> float:
    """User + system CPU of a process and all its descendants (the granian workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [root_pid]
    while pids:
        pid = pids.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        pids.extend(int(c) for c in children)
    return total


def form_request(port: int, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [
        "POST /token HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/x-www-form-urlencoded",
        f"Content-Length: {len(body)}",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
