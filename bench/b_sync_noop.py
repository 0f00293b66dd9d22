"""Sync agent: a re-sync with no changes (list the target, diff, nothing to send).

Command: ``.venv/bin/python -m bench sync_noop``. Target: < 10 s for 100,000 users.
"""

from __future__ import annotations

from bench.sync_support import USERS, agent, cpu_line, people, sync, target, where, write_people


def run() -> None:
    with target() as (tmp, url, token):
        write_people(tmp / "people.csv", people(USERS))
        a = agent(tmp, url, token)
        try:
            sync(a)  # the initial load, not measured
            seconds, counts, _, _ = sync(a)
        finally:
            a.close()
        changed = sum(counts.values())
        print(
            f"no-op re-sync of {USERS} users on {where()}: {seconds:.2f} s "
            f"(planned changes: {changed}); {cpu_line(USERS)}"
        )
