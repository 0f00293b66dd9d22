"""Two ``ostiary serve`` processes on one fresh PostgreSQL database and one Redis (with a
key prefix of their own), sharing one master key and one issuer (node A's URL)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import redis

from tests.support.server import free_port, run_cli, served
from tests.support.services import scratch_postgres_database


@contextmanager
def two_nodes(
    tmp_path: Path, redis_url: str, extra: dict[str, str] | None = None
) -> Iterator[tuple[dict[str, str], str, str]]:
    """``(env, base A, base B)``: one database, one Redis prefix, one issuer (node A's)."""
    prefix = f"ostiary-test:{uuid.uuid4().hex}:"
    port_a, port_b = free_port(), free_port()
    with scratch_postgres_database() as db_url, ExitStack() as stack:
        env = {
            "OSTIARY_DATABASE_URL": db_url,
            "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "master.key"),
            "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
            "OSTIARY_REDIS_URL": redis_url,
            "OSTIARY_KEY_REDIS_PREFIX": prefix,
            "OSTIARY_ISSUER": f"http://127.0.0.1:{port_a}",
            **(extra or {}),
        }
        init = run_cli("init", env=env, cwd=tmp_path)
        assert init.returncode == 0, init.stderr
        try:
            a, _ = stack.enter_context(served(env, tmp_path, tmp_path / "a.log", port_a))
            b, _ = stack.enter_context(served(env, tmp_path, tmp_path / "b.log", port_b))
            yield env, a, b
        finally:
            stack.close()
            shared = redis.Redis.from_url(redis_url)
            for k in shared.scan_iter(prefix + "*"):
                shared.delete(k)
            shared.close()


def cli_json(env: dict[str, str], tmp_path: Path, *args: str) -> dict[str, str]:
    done = run_cli(*args, "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))
