"""The sync configuration (one TOML file): source, target, attribute mapping, safety.

The file is meant to be committed to a repository, so it may hold no secret: a literal
string under a secret-looking key (``password``, ``token``, ``secret``, ``private_key``...)
or anything shaped like an Ostiary provisioning key is refused with the key's name.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ostiary.sync.errors import ConfigInvalid
from ostiary.sync.mapping import OSTIARY_GROUPS, OSTIARY_USERS, Mapping, parse_mapping
from ostiary.sync.secrets import KINDS, SecretRef, parse_ref

# Bulk batches and listing pages in flight unless target.concurrency says otherwise
# (docs/sync.md: why 16).
DEFAULT_CONCURRENCY = 16
# Single requests (one per change) in flight unless target.single_concurrency says
# otherwise: a server that group-commits (Ostiary on PostgreSQL) puts more small writes
# in each transaction at 32, while Bulk batches and pages gain nothing past 16 (docs/sync.md).
DEFAULT_SINGLE_CONCURRENCY = 32
MAX_CONCURRENCY = 64

SECRETISH = re.compile(r"pass(word|wd)?|secret|token|private.?key|api.?key|credential|bearer", re.I)
# Keys that contain a secret-ish word but hold a location, not the secret itself.
NOT_SECRET = re.compile(r"(_endpoint|_url|_uri|_column|_attribute|_type)$", re.I)
OSTIARY_KEY = re.compile(r"\bost_pk_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}\b")
SOURCE_TYPES = ("csv", "json", "ldap", "scim", "ostiary")


@dataclass(frozen=True)
class SourceConfig:
    type: str
    options: dict[str, Any]
    secret: SecretRef | None = None


@dataclass(frozen=True)
class TargetConfig:
    url: str
    auth: str = "bearer"
    token: SecretRef | None = None
    client_id: str | None = None
    token_endpoint: str | None = None
    private_key: SecretRef | None = None
    dpop: bool = True
    # Bulk batches and listing pages in flight (docs/sync.md); 429 and Retry-After still
    # slow every worker down.
    concurrency: int = DEFAULT_CONCURRENCY
    # Single requests (one per change) in flight: more than batches, since each is small
    # and a group-committing server writes more of them per transaction.
    single_concurrency: int = DEFAULT_SINGLE_CONCURRENCY
    timeout: float = 30.0
    max_retries: int = 6
    bulk: bool = True
    bulk_batch: int = 200  # operations per Bulk request (at most the server's maxOperations)
    scope: str = "externalId"


@dataclass(frozen=True)
class Safety:
    max_deprovision_percent: float = 5.0
    max_deprovision_count: int = 50

    def limit(self, managed_active: int) -> float:
        """How many deprovisionings a run may do: min(percent of managed users, count)."""
        return min(managed_active * self.max_deprovision_percent / 100, self.max_deprovision_count)


@dataclass(frozen=True)
class SyncConfig:
    source: SourceConfig
    target: TargetConfig
    mapping: Mapping
    safety: Safety = field(default_factory=Safety)
    base_dir: Path = Path(".")


def _is_ref(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in KINDS


def _holds_secret(key: str, value: Any) -> bool:
    if not SECRETISH.search(key) or NOT_SECRET.search(key):
        return False
    return isinstance(value, str | int | float | bytes) or (
        isinstance(value, dict) and not _is_ref(value)
    )


def check_no_secrets(doc: Any, where: str = "") -> None:
    """Refuse literal secrets anywhere in the file (a reference table is fine)."""
    if isinstance(doc, dict):
        if where and _is_ref(doc):
            return
        for key, value in doc.items():
            path = f"{where}.{key}" if where else str(key)
            if _holds_secret(str(key), value):
                raise ConfigInvalid(
                    f"{path} looks like a secret; the configuration file must not hold "
                    "secrets: use {env = ...}, {file = ...} or {command = [...]}"
                )
            check_no_secrets(value, path)
    elif isinstance(doc, list):
        for i, item in enumerate(doc):
            check_no_secrets(item, f"{where}[{i}]")
    elif isinstance(doc, str) and OSTIARY_KEY.search(doc):
        raise ConfigInvalid(f"{where} holds a provisioning key; reference it instead")


def _table(doc: dict[str, Any], name: str, required: bool = True) -> dict[str, Any]:
    value = doc.get(name, {} if not required else None)
    if not isinstance(value, dict):
        raise ConfigInvalid(f"[{name}] table is required")
    return value


def _ref(table: dict[str, Any], key: str, where: str) -> SecretRef | None:
    return parse_ref(table[key], f"{where}.{key}") if key in table else None


def _source(doc: dict[str, Any]) -> SourceConfig:
    src = dict(_table(doc, "source"))
    kind = src.pop("type", None)
    if kind not in SOURCE_TYPES:
        raise ConfigInvalid(f"source.type must be one of {', '.join(SOURCE_TYPES)}")
    secret_key = next((k for k in ("password", "token") if k in src), None)
    secret = parse_ref(src.pop(secret_key), f"source.{secret_key}") if secret_key else None
    return SourceConfig(type=kind, options=src, secret=secret)


def _target(doc: dict[str, Any]) -> TargetConfig:
    tgt = dict(_table(doc, "target"))
    url = tgt.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigInvalid("target.url must be an http(s) URL (the SCIM base, e.g. .../scim/v2)")
    auth = tgt.get("auth", "bearer")
    if auth not in ("bearer", "private_key_jwt", "none"):
        raise ConfigInvalid("target.auth must be bearer, private_key_jwt or none")
    cfg = TargetConfig(
        url=url.rstrip("/"),
        auth=auth,
        token=_ref(tgt, "token", "target"),
        client_id=tgt.get("client_id"),
        token_endpoint=tgt.get("token_endpoint"),
        private_key=_ref(tgt, "private_key", "target"),
        dpop=bool(tgt.get("dpop", True)),
        concurrency=_bound(tgt, "concurrency", DEFAULT_CONCURRENCY),
        single_concurrency=_bound(tgt, "single_concurrency", _single_default(tgt)),
        timeout=float(tgt.get("timeout", 30)),
        max_retries=int(tgt.get("max_retries", 6)),
        bulk=bool(tgt.get("bulk", True)),
        bulk_batch=int(tgt.get("bulk_batch", 200)),
        scope=str(tgt.get("scope", "externalId")),
    )
    if auth == "bearer" and cfg.token is None:
        raise ConfigInvalid("target.token is required for bearer auth")
    if auth == "private_key_jwt" and not (cfg.client_id and cfg.token_endpoint and cfg.private_key):
        raise ConfigInvalid("private_key_jwt needs target.client_id, token_endpoint, private_key")
    if cfg.scope not in ("externalId", "all"):
        raise ConfigInvalid("target.scope must be externalId or all")
    if not 1 <= cfg.bulk_batch <= 10_000:
        raise ConfigInvalid("target.bulk_batch must be between 1 and 10000")
    return cfg


def _single_default(tgt: dict[str, Any]) -> Any:
    """A file that lowered ``concurrency`` below the default (to spare a fragile server)
    keeps that bound for single requests too: before single_concurrency existed it
    bounded them, and 32 would silently undo it."""
    lowered = tgt.get("concurrency", DEFAULT_CONCURRENCY)
    if type(lowered) is int and lowered < DEFAULT_CONCURRENCY:
        return lowered
    return DEFAULT_SINGLE_CONCURRENCY


def _bound(tgt: dict[str, Any], key: str, default: Any) -> int:
    value = tgt.get(key, default)
    # bool is an int in Python: `concurrency = true` is a mistake, not 1.
    if type(value) is not int or not 1 <= value <= MAX_CONCURRENCY:
        raise ConfigInvalid(
            f"target.{key} must be a whole number between 1 and {MAX_CONCURRENCY} "
            f"(requests in flight), not {value!r}"
        )
    return value


def parse_config(doc: dict[str, Any], base_dir: Path) -> SyncConfig:
    check_no_secrets(doc)
    safety = _table(doc, "safety", required=False)
    source = _source(doc)
    if source.type == "ostiary" and "users" not in doc:
        # The same mapping as the outbox push, so a backfill and the live push agree.
        doc = {**doc, "users": OSTIARY_USERS, "groups": OSTIARY_GROUPS}
    return SyncConfig(
        source=source,
        target=_target(doc),
        mapping=parse_mapping(_table(doc, "users"), _table(doc, "groups", required=False)),
        safety=Safety(
            max_deprovision_percent=float(safety.get("max_deprovision_percent", 5.0)),
            max_deprovision_count=int(safety.get("max_deprovision_count", 50)),
        ),
        base_dir=base_dir,
    )


def load_config(path: Path) -> SyncConfig:
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigInvalid(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigInvalid(f"{path} is not valid TOML: {exc}") from exc
    return parse_config(doc, path.resolve().parent)
