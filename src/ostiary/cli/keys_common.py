"""What the key commands share: a KeyService over the configured deployment."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ostiary.audit.events import Actor
from ostiary.cli.common import database, fail, settings
from ostiary.core.clock import SystemClock
from ostiary.core.crypto.vault import Vault
from ostiary.core.durations import parse_duration
from ostiary.keys.models import KeyBinding
from ostiary.store import bootstrap
from ostiary.store.db import Database
from ostiary.web.keys.runtime import KeyRuntime, webhook_secret
from ostiary.web.keys.service import KeyService, build_binding


@dataclass
class CliContext:
    settings: Any
    db: Database
    vault: Vault
    pepper: bytes
    clock: SystemClock
    key_runtime: KeyRuntime

    @property
    def service(self) -> KeyService:
        return KeyService(self.settings, self.db, self.pepper, self.clock, self.key_runtime)

    def webhook_secret(self) -> bytes:
        return webhook_secret(self.db, self.vault)


def context() -> CliContext:
    s = settings()
    db = database(s)
    vault = bootstrap.open_vault(s, db)
    pepper = bootstrap.load_pepper(db, vault)
    clock = SystemClock()
    return CliContext(s, db, vault, pepper, clock, KeyRuntime(s, db, vault, pepper, clock))


def cli_actor() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(kind="cli", id=user, auth="local")


def duration(text: str | None, option: str) -> timedelta | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        fail(f"{option}: {exc}", 2)


def required_duration(text: str, option: str) -> timedelta:
    value = duration(text, option)
    assert value is not None
    return value


def delivery(target: str | None) -> dict[str, Any] | None:
    """``https://...`` (or http to 127.0.0.1) is a webhook; anything else a file path."""
    if target is None:
        return None
    if target.startswith(("https://", "http://")):
        return {"kind": "webhook", "url": target}
    return {"kind": "file", "path": target.removeprefix("file:")}


def attributes(specs: list[str]) -> dict[str, list[str]] | None:
    """``--attr User=userName,active`` (repeatable) -> {"User": ["userName", "active"]}."""
    out: dict[str, list[str]] = {}
    for spec in specs:
        resource, sep, names = spec.partition("=")
        if not sep or not names.strip():
            fail(f"--attr {spec!r}: expected RESOURCE=attr1,attr2", 2)
        out.setdefault(resource.strip(), []).extend(n.strip() for n in names.split(","))
    return out or None


def binding_options(
    now: datetime,
    require_dpop: bool,
    allow_cidr: list[str],
    attr: list[str],
    rotate_every: str | None,
    overlap: str,
    deliver_to: str | None,
    base: KeyBinding | None = None,
) -> KeyBinding:
    """The binding ``keys create`` and ``keys set`` options describe (the same options)."""
    return build_binding(
        require_dpop=require_dpop,
        allowed_cidrs=allow_cidr,
        attributes=attributes(attr),
        rotate_every=duration(rotate_every, "--rotate-every"),
        rotation_overlap=required_duration(overlap, "--rotation-overlap"),
        delivery=delivery(deliver_to),
        now=now,
        base=base,
    )
