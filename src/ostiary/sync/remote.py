"""Reading the target's users for a plan, cheaply when little changed.

A re-sync must look at every user on the target (to match, and to find the ones to
deprovision), but it need not compare every user: the journal's ``seen`` entries say
"target user ``id`` held the values hashing to ``h`` at ``meta.version`` ``v``". A user
whose desired values still hash to ``h`` and whose listed version is still ``v`` cannot
differ (any write to it, ours or someone else's, moves the version: RFC 7644 s3.14), so
only the others are compared.

The walk therefore lists just what matching and deprovisioning read (``attributes``,
RFC 7644 s3.4.2.5: userName, externalId, active, meta; id comes always), then fetches
the full representation of the users it must compare. Without ETags on the target, or
when most users need comparing, it lists the compared attributes for everyone at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ostiary.sync.client import ScimClient
from ostiary.sync.journal import Journal
from ostiary.sync.mapping import DesiredUser
from ostiary.sync.plan import Plan, match_users, version_of

# meta (its version) is named: some servers treat it as "returned: default".
MATCH_ATTRIBUTES = ("userName", "externalId", "active", "meta")
# Past this share of users to compare, one listing of everything beats fetching them.
FULL_SHARE = 0.25


def compared_hash(doc: dict[str, Any], paths: tuple[str, ...]) -> str:
    """A digest of the desired document (it holds only mapped attributes) and of what is
    compared: a change of value or of mapping moves it."""
    data = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS) + "|".join(paths).encode()
    return hashlib.blake2b(data, digest_size=12).hexdigest()


@dataclass
class RemoteUsers:
    users: list[dict[str, Any]]
    fresh: set[str] = field(default_factory=set)  # desired keys not to compare
    hashes: dict[str, str] = field(default_factory=dict)  # desired key -> compared_hash
    matched: dict[str, dict[str, Any]] | None = None  # desired key -> its target user


@dataclass
class Listing:
    users: list[dict[str, Any]]
    slim: bool  # only MATCH_ATTRIBUTES: the users to compare are still to be fetched


def list_users(
    client: ScimClient, journal: Journal, paths: tuple[str, ...], workers: int
) -> Listing:
    """Every target user: slim when the journal's versions can spare comparisons. Needs
    nothing from the source, so the agent runs it while it reads the source."""
    if journal.seen and client.features().etag:
        return Listing(client.list_all("Users", workers=workers, attributes=MATCH_ATTRIBUTES), True)
    return Listing(client.list_all("Users", workers=workers, attributes=_full(paths)), False)


def _full(paths: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*MATCH_ATTRIBUTES, *paths)))


def read_users(
    client: ScimClient,
    desired: list[DesiredUser],
    journal: Journal,
    paths: tuple[str, ...],
    workers: int,
    listing: Listing | None = None,
) -> RemoteUsers:
    listing = listing or list_users(client, journal, paths, workers)
    hashes = {d.key: compared_hash(d.doc, paths) for d in desired}
    listed = listing.users
    if not listing.slim:
        return RemoteUsers(listed, set(), hashes)
    matched = match_users(desired, listed, journal.users)
    fresh = {
        key
        for key, r in matched.items()
        if journal.seen.get(key) == (r["id"], hashes[key], version_of(r))
    }
    stale = [r["id"] for key, r in matched.items() if key not in fresh]
    if len(stale) > FULL_SHARE * max(len(listed), 1):
        users = client.list_all("Users", workers=workers, attributes=_full(paths))
        return RemoteUsers(users, set(), hashes)
    found = {r["id"]: r for r in client.fetch_ids("Users", stale, workers, _full(paths))}
    # A stale user deleted since the listing keeps its listed fields: it will look
    # changed, and the update will answer 404 like any concurrent delete.
    users = [found.get(r["id"], r) for r in listed]
    matched = {key: found.get(r["id"], r) for key, r in matched.items()}
    return RemoteUsers(users, fresh, hashes, matched)


def seen_entries(
    plan: Plan, remote: RemoteUsers, users: Iterable[dict[str, Any]], journal: Journal
) -> list[dict[str, Any]]:
    """Journal entries for the users compared and found equal (no update planned)."""
    by_id = {r["id"]: r for r in users}
    updated = {u.key for u in plan.updates}
    out = []
    for key, rid in plan.matched.items():
        if key in remote.fresh or key in updated:
            continue
        version = version_of(by_id.get(rid, {}))
        entry = (rid, remote.hashes.get(key, ""), version)
        if version and entry[1] and journal.seen.get(key) != entry:
            out.append({"t": "seen", "key": key, "id": rid, "h": entry[1], "v": version})
    return out
