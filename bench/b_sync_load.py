"""Sync agent: N users from a CSV into an empty SCIM server (Bulk when advertised).

Command: ``.venv/bin/python -m bench sync_load`` (``OSTIARY_BENCH_SYNC_USERS``,
``OSTIARY_BENCH_SYNC_BULK=0`` for one request per change, ``OSTIARY_BENCH_SCIM_URL`` /
``_TOKEN`` for a real Ostiary). Target for Ostiary on PostgreSQL: 100,000 in < 60 s (Bulk).
"""

from __future__ import annotations

from bench.sync_support import (
    BULK,
    USERS,
    agent,
    cpu_line,
    people,
    sync,
    target,
    where,
    write_people,
)


def run() -> None:
    with target() as (tmp, url, token):
        write_people(tmp / "people.csv", people(USERS))
        a = agent(tmp, url, token)
        try:
            seconds, _, done, failures = sync(a)
        finally:
            a.close()
        mode = "bulk" if BULK else "one request per change"
        print(
            f"load {USERS} users ({mode}) into {where()}: {seconds:.1f} s, "
            f"{USERS / seconds:.0f} users/s, created={done.get('create', 0)} "
            f"failures={failures} requests={a.client.stats['requests']} "
            f"throttled={a.client.stats['throttled']}; {cpu_line(USERS)}"
        )
