"""Sync agent: a re-sync with no changes (list the target, diff, nothing to send).

Command: ``.venv/bin/python -m bench sync_noop``. Target: < 10 s for 100,000 users.
"""

from __future__ import annotations

from bench import sync_support as s


def run() -> None:
    with s.target() as (tmp, url, token):
        s.write_people(tmp / "people.csv", s.people(s.USERS))
        a = s.agent(tmp, url, token)
        try:
            s.load(a)
            seconds, counts, _, _ = s.sync(a)
        finally:
            a.close()
        changed = sum(counts.values())
        print(
            f"no-op re-sync of {s.USERS} users on {s.where()}: {seconds:.2f} s "
            f"(planned changes: {changed}); {s.cpu_line(s.USERS)}"
        )
