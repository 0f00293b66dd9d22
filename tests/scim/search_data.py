"""A random but fixed directory for filter tests: users with emails, phone numbers, the
enterprise extension and awkward characters, groups with user and group members.

Rows are written straight into the tables (the store's own insert for users), so filter
tests depend on nothing but the schema."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from ostiary.directory.models import User
from ostiary.scim import schemas
from ostiary.store.db import Database
from ostiary.store.repositories.users import UserRepository
from ostiary.store.tables import group_members, groups, users

BASE = "http://testserver/scim/v2"
WORDS = ["ada", "Bob", "carol", "DAVE", "eve", "Zoë", "b%c", "x_y", "back\\slash", "Ada"]
DOMAINS = ["example.com", "Example.ORG", "x.local", "ex_ample.net"]
TYPES = ["work", "home", "Work", "other", None]
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Dataset:
    user_ids: list[str]
    group_ids: list[str]
    values: dict[str, list[Any]]  # attribute path -> values seen, for filters to reuse


def _user(rng: random.Random, i: int) -> User:
    word = rng.choice(WORDS)
    user_name = f"{word}{i}@{rng.choice(DOMAINS)}" if rng.random() < 0.8 else f"{word}.{i}"
    doc: dict[str, Any] = {}
    given = rng.choice(["Ada", "ada", "Grace", "Linus", None])
    family = rng.choice(["Lovelace", "HOPPER", "torvalds", None])
    name = {k: v for k, v in {"givenName": given, "familyName": family}.items() if v}
    if rng.random() < 0.5:
        name["formatted"] = f"{given or ''} {family or ''}".strip() or "X"
    if name:
        doc["name"] = name
    display = rng.choice(["Ada L", "ada l", "Grace H", "", None])
    if display is not None:
        doc["displayName"] = display
    for attr in ("title", "nickName"):
        if rng.random() < 0.6:
            doc[attr] = rng.choice(["Engineer", "engineer", "Boss", "a%b", "q_r"])
    emails = []
    for _ in range(rng.randrange(0, 4)):
        email: dict[str, Any] = {"value": f"{rng.choice(WORDS)}{i}@{rng.choice(DOMAINS)}"}
        typ = rng.choice(TYPES)
        if typ:
            email["type"] = typ
        if rng.random() < 0.3:
            email["primary"] = rng.random() < 0.7
        emails.append(email)
    if emails:
        doc["emails"] = emails
    phones = [
        {"value": f"+1-555-{rng.randrange(100):04d}", "type": rng.choice(["work", "mobile"])}
        | ({"primary": True} if rng.random() < 0.3 else {})
        for _ in range(rng.randrange(0, 3))
    ]
    if phones:
        doc["phoneNumbers"] = phones
    if rng.random() < 0.6:
        ext: dict[str, Any] = {"employeeNumber": str(rng.randrange(1, 50))}
        if rng.random() < 0.7:
            ext["department"] = rng.choice(["R&D", "Sales", "sales", "Ops_1"])
        if rng.random() < 0.5:
            ext["manager"] = {"value": f"mgr-{rng.randrange(5)}"}
        doc[schemas.ENTERPRISE_USER] = ext
    created = EPOCH + timedelta(hours=rng.randrange(0, 1000), microseconds=rng.randrange(10**6))
    return User(
        id=f"u-{i:04d}",
        user_name=user_name,
        active=rng.random() < 0.7,
        external_id=rng.choice([f"ext-{i}", f"EXT-{i}", None]),
        display_name=doc.get("displayName"),
        given_name=name.get("givenName"),
        family_name=name.get("familyName"),
        doc=doc,
        version=1,
        created_at=created,
        updated_at=created + timedelta(minutes=rng.randrange(0, 5000)),
    )


@dataclass
class Plan:
    users: list[User]
    groups: list[dict[str, Any]]
    memberships: set[tuple[str, str, str]]

    @property
    def values(self) -> dict[str, list[Any]]:
        """Attribute values present in the data, for filters to reuse."""
        made = self.users
        return {
            "userName": [u.user_name for u in made],
            "externalId": [u.external_id for u in made if u.external_id],
            "displayName": [u.display_name for u in made if u.display_name],
            "emails.value": [e["value"] for u in made for e in u.doc.get("emails", [])],
            "groupName": [g["display_name"] for g in self.groups],
            "groupId": [g["id"] for g in self.groups],
            "created": [u.created_at for u in made],
        }


def plan(*, n_users: int = 60, n_groups: int = 8, seed_value: int = 7) -> Plan:
    """The directory, deterministic for a given seed, without touching a database."""
    rng = random.Random(seed_value)
    made = [_user(rng, i) for i in range(n_users)]
    group_rows = [
        {
            "id": f"g-{j:03d}",
            "display_name": name,
            "display_name_key": name.casefold(),
            "external_id": rng.choice([f"gext-{j}", None]),
            "doc": {},
            "version": 1,
            "created_at": EPOCH + timedelta(days=j),
            "updated_at": EPOCH + timedelta(days=j, hours=1),
        }
        for j, name in enumerate(
            rng.choice(["Admins", "admins-eu", "Staff", "R%D", "ops_team"]) + f" {j}"
            for j in range(n_groups)
        )
    ]
    memberships = set()
    for g in group_rows:
        for u in rng.sample(made, rng.randrange(0, 10)):
            memberships.add((g["id"], u.id, "User"))
        if rng.random() < 0.3:
            other = rng.choice(group_rows)["id"]
            if other != g["id"]:
                memberships.add((g["id"], other, "Group"))
    return Plan(made, group_rows, memberships)


def seed(db: Database, *, n_users: int = 60, n_groups: int = 8, seed_value: int = 7) -> Dataset:
    p = plan(n_users=n_users, n_groups=n_groups, seed_value=seed_value)
    made, group_rows, memberships = p.users, p.groups, p.memberships
    with db.begin() as conn:
        repo = UserRepository(conn)
        for user in made:
            repo.add(user)
        conn.execute(insert(groups), group_rows)
        if memberships:
            conn.execute(
                insert(group_members),
                [{"group_id": g, "member_id": m, "member_type": t} for g, m, t in memberships],
            )
        ids = [r.id for r in conn.execute(select(users.c.id).order_by(users.c.id))]
    return Dataset(ids, [g["id"] for g in group_rows], p.values)
