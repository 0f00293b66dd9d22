"""Sync agent: 1,000 changes (updates) applied to a populated SCIM server.

Command: ``.venv/bin/python -m bench sync_changes``. Target: < 10 s.
"""

from __future__ import annotations

from bench.sync_support import (
    BULK,
    USERS,
    agent,
    cpu_line,
    load,
    people,
    sync,
    target,
    where,
    write_people,
)

CHANGES = 1000


def run() -> None:
    with target() as (tmp, url, token):
        rows = people(USERS)
        write_people(tmp / "people.csv", rows)
        a = agent(tmp, url, token)
        try:
            load(a)  # the initial load, not measured
            for i in range(0, min(CHANGES, USERS)):
                rows[i] = rows[i] | {"last": f"Changed{i}"}
            write_people(tmp / "people.csv", rows)
            seconds, counts, done, failures = sync(a)
        finally:
            a.close()
        mode = "bulk" if BULK else "one request per change"
        print(
            f"{counts['update']} changes ({mode}) over {USERS} users on {where()}: "
            f"{seconds:.2f} s, applied={done.get('update', 0)} failures={failures}; "
            f"{cpu_line(CHANGES)}"
        )
