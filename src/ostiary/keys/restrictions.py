"""Per-key bindings enforced on each call: a CIDR allow-list and attribute restrictions.

Attribute restrictions name, per SCIM resource type, the attribute paths a key may write
(``userName``, ``active``, ``name.givenName``, ...; case-insensitive as SCIM attribute
names are, RFC 7643 section 2.1). Allowing ``name`` allows every ``name.*`` sub-attribute.
Reads are governed by scopes only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from ostiary.keys.errors import AttributeNotAllowed, PolicyViolation
from ostiary.keys.models import KeyPrincipal

# Never subject to restriction: they carry no data a key could smuggle in.
_ALWAYS = frozenset({"schemas", "id", "meta"})
_Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def validate_cidrs(cidrs: Iterable[str]) -> tuple[str, ...]:
    out = []
    for text in cidrs:
        try:
            out.append(str(ipaddress.ip_network(text.strip(), strict=False)))
        except ValueError:
            raise PolicyViolation(f"{text!r} is not an IP network (CIDR)") from None
    return tuple(out)


def validate_attributes(spec: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}
    for resource, attrs in spec.items():
        if resource not in {"User", "Group"}:
            raise PolicyViolation(f"attribute restrictions apply to User or Group, not {resource}")
        names = frozenset(a.strip().lower() for a in attrs if a.strip())
        out[resource] = names
    return out


@lru_cache(maxsize=4096)
def _networks(cidrs: tuple[str, ...]) -> tuple[_Net, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def ip_allowed(cidrs: tuple[str, ...], ip: str | None) -> bool:
    """True when the key has no allow-list or ``ip`` lies in one of its networks."""
    if not cidrs:
        return True
    if ip is None:
        return False
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in net for net in _networks(cidrs))


@lru_cache(maxsize=65536)
def network_of(ip: str | None) -> str | None:
    """The /24 (IPv4) or /64 (IPv6) around an address: the unit of "a new network"."""
    if ip is None:
        return None
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if addr.version == 4 else 64
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def _allowed(path: str, allowed: frozenset[str]) -> bool:
    path = path.lower()
    if path.split(".", 1)[0] in _ALWAYS:
        return True
    head = path.split(".", 1)[0].split("[", 1)[0]
    return path in allowed or head in allowed


def resource_paths(doc: Any) -> list[str]:
    """Attribute paths a full resource (POST/PUT body) writes: its top-level keys, and
    for complex values the ``parent.sub`` paths."""
    if not isinstance(doc, dict):
        return []
    paths: list[str] = []
    for key, value in doc.items():
        if isinstance(value, dict) and not key.startswith("urn:"):
            paths.extend(f"{key}.{sub}" for sub in value)
        else:
            paths.append(key)
    return paths


def patch_paths(doc: Any) -> list[str]:
    """Attribute paths a PatchOp (RFC 7644 section 3.5.2) touches."""
    if not isinstance(doc, dict):
        return []
    paths: list[str] = []
    for op in doc.get("Operations") or []:
        if not isinstance(op, dict):
            continue
        path = op.get("path")
        if isinstance(path, str) and path:
            paths.append(path.split("[", 1)[0] + path.split("]", 1)[1] if "]" in path else path)
        else:
            paths.extend(resource_paths(op.get("value")))
    return paths


def check_write(principal: KeyPrincipal, resource: str, paths: Iterable[str]) -> None:
    """Raise :class:`AttributeNotAllowed` if the key may not write one of ``paths``."""
    restrictions = principal.attributes
    if not restrictions or resource not in restrictions:
        return
    allowed = restrictions[resource]
    denied = sorted({p for p in paths if not _allowed(p, allowed)})
    if denied:
        raise AttributeNotAllowed(resource, denied)
