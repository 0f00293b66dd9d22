"""Sources of truth: CSV and JSON files, another SCIM server (incl. Ostiary), LDAP.

A source yields flat records (column -> value); :class:`~ostiary.sync.mapping.Mapping`
turns them into desired Users and Groups. :func:`desired_state` refuses ambiguous input
(two records with the same key or userName) rather than guess which one wins.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ostiary.scim import schemas
from ostiary.sync.config import SourceConfig
from ostiary.sync.errors import ConfigInvalid, SourceError
from ostiary.sync.mapping import DesiredGroup, DesiredUser, Mapping


class Source(Protocol):
    def records(self) -> list[dict[str, Any]]: ...

    def fingerprint(self) -> str:
        """Changes when the source may have changed (``watch`` re-plans on a change)."""
        ...


@dataclass
class CsvSource:
    path: Path
    delimiter: str = ","
    encoding: str = "utf-8-sig"  # tolerate the BOM Excel writes

    def records(self) -> list[dict[str, Any]]:
        try:
            with self.path.open(newline="", encoding=self.encoding) as f:
                return [dict(row) for row in csv.DictReader(f, delimiter=self.delimiter)]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise SourceError(f"cannot read CSV {self.path}: {exc}") from exc

    def fingerprint(self) -> str:
        return _file_fingerprint(self.path)


@dataclass
class JsonSource:
    path: Path
    pointer: str | None = None  # a top-level key holding the list, e.g. "users"

    def records(self) -> list[dict[str, Any]]:
        try:
            doc = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise SourceError(f"cannot read JSON {self.path}: {exc}") from exc
        if self.pointer:
            doc = doc.get(self.pointer) if isinstance(doc, dict) else None
        if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
            raise SourceError(f"{self.path} must hold a list of objects")
        return [flatten(r) for r in doc]

    def fingerprint(self) -> str:
        return _file_fingerprint(self.path)


def _file_fingerprint(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return "missing"
    return f"{st.st_mtime_ns}:{st.st_size}:{st.st_ino}"


def flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"name": {"givenName": "A"}}`` -> ``{"name.givenName": "A"}``; typed multi-valued
    entries become ``emails[work]``; the enterprise extension becomes ``enterprise:attr``."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == schemas.ENTERPRISE_USER and isinstance(value, dict):
            out.update({f"enterprise:{k}": v for k, v in flatten(value).items()})
        elif isinstance(value, dict):
            out[prefix + key] = value
            out.update(flatten(value, f"{prefix}{key}."))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            out[prefix + key] = [v.get("value", v.get("display")) for v in value]
            for v in value:
                if v.get("type"):
                    out.setdefault(f"{prefix}{key}[{v['type']}]", v.get("value"))
        else:
            out[prefix + key] = value
    return out


class ScimSource:
    """Pull Users (and their Groups) from another SCIM server, Ostiary included."""

    def __init__(self, client: Any):
        self.client = client

    def records(self) -> list[dict[str, Any]]:
        users = self.client.list_all("Users")
        names: dict[str, list[str]] = {}
        for group in self.client.list_all("Groups"):
            for member in group.get("members") or []:
                names.setdefault(member.get("value"), []).append(group.get("displayName", ""))
        out = []
        for user in users:
            rec = flatten(user)
            rec["groups"] = sorted(names.get(user["id"], []))
            out.append(rec)
        return out

    def fingerprint(self) -> str:
        return ""  # a remote server gives no cheap change signal; watch uses the interval


def desired_state(
    records: Iterable[dict[str, Any]], mapping: Mapping
) -> tuple[list[DesiredUser], list[DesiredGroup]]:
    users: dict[str, DesiredUser] = {}
    by_name: dict[str, str] = {}
    members: dict[str, set[str]] = {}
    for n, record in enumerate(records, 1):
        try:
            user = mapping.user(record)
        except SourceError as exc:
            raise SourceError(f"record {n}: {exc}") from exc
        lowered = user.user_name.lower()
        if user.key in users or lowered in by_name:
            raise SourceError(f"record {n}: duplicate user {user.key!r} / {user.user_name!r}")
        users[user.key] = user
        by_name[lowered] = user.key
        for group in mapping.groups_of(record):
            members.setdefault(group, set()).add(user.key)
    groups = [DesiredGroup(name, frozenset(keys)) for name, keys in sorted(members.items())]
    return list(users.values()), groups


def open_source(cfg: SourceConfig, base_dir: Path, scim_client: Callable[[], Any]) -> Source:
    opts = cfg.options

    def path() -> Path:
        where = opts.get("path")
        if not isinstance(where, str):
            raise ConfigInvalid(f"source.path is required for a {cfg.type} source")
        return (base_dir / where).resolve()

    if cfg.type == "csv":
        return CsvSource(path(), delimiter=str(opts.get("delimiter", ",")))
    if cfg.type == "json":
        return JsonSource(path(), pointer=opts.get("records"))
    if cfg.type in ("scim", "ostiary"):
        return ScimSource(scim_client())
    from ostiary.sync.ldap_source import LdapSource  # ldap3 only when needed

    return LdapSource.from_config(cfg)
