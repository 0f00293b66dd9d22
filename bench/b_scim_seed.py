"""Bulk-load N users and G groups (issue 3 point 10: 1,000,000 users in under 2 minutes).

Command: ``OSTIARY_BENCH_USERS=1000000 .venv/bin/python -m bench scim_seed``. COPY on
PostgreSQL, one executemany transaction on SQLite, into a freshly migrated database with
every index in place (the load includes index maintenance). Leaves the directory loaded
for the other ``b_scim_*`` benchmarks.
"""

from __future__ import annotations

from bench import scim_seed as s


def run() -> None:
    for engine in s.ENGINES:
        seconds = s.load(engine)
        (s.ROOT / engine / f"loaded-{s.N_USERS}-{s.N_GROUPS}").touch()
        rate = s.N_USERS / seconds
        print(
            f"{engine}: {s.N_USERS:,} users + {s.N_GROUPS:,} groups "
            f"({s.BIG_GROUP_MEMBERS + (s.N_GROUPS - 1) * 10:,} memberships) "
            f"in {seconds:.1f} s ({rate:,.0f} users/s)"
        )
