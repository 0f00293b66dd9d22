"""The requests a sync run makes, as data: one ``Op`` per SCIM call, the PATCH bodies for
changed attributes and added members, Bulk batch sizing, and the version a server
reported for a write. Pure: ``apply.Applier`` sends them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from ostiary.scim import schemas
from ostiary.sync.plan import Change


@dataclass
class Op:
    method: str
    path: str
    body: dict[str, Any] | None
    version: str | None
    label: str
    done: Callable[[dict[str, Any] | None, str | None], None] = lambda doc, loc: None


def patch_ops(changes: tuple[Change, ...]) -> list[dict[str, Any]]:
    """RFC 7644 s3.5.2: replace what changed, remove what the source no longer has."""
    return [
        {"op": "remove", "path": c.path}
        if c.new is None
        else {"op": "replace", "path": c.path, "value": c.new}
        for c in changes
    ]


def set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    if path.startswith("urn:"):
        container, _, path = path.rpartition(":")
        doc = doc.setdefault(container, {})
    head, _, sub = path.partition(".")
    if sub:
        doc = doc.setdefault(head, {})
        head = sub
    if value is None:
        doc.pop(head, None)
    else:
        doc[head] = value


def chunks(ops: list[Op], size: int, max_bytes: int) -> Iterator[list[Op]]:
    """Batches of at most ``size`` operations and (roughly) ``max_bytes`` of JSON: the
    server's maxOperations and maxPayloadSize (RFC 7644 s3.7.4, 413 otherwise)."""
    batch: list[Op] = []
    used = 200  # the envelope
    for op in ops:
        cost = len(orjson.dumps(op.body)) + len(op.path) + 120 if op.body is not None else 160
        if batch and (len(batch) >= size or (max_bytes and used + cost > max_bytes)):
            yield batch
            batch, used = [], 200
        batch.append(op)
        used += cost
    if batch:
        yield batch


# Member references per request: ~250 kB of JSON, far inside common body limits.
MEMBERS_PER_REQUEST = 5000


def add_ops(path: str, ids: list[str], version: str | None, label: str) -> list[Op]:
    out = []
    for i in range(0, len(ids), MEMBERS_PER_REQUEST):
        value = [{"value": v} for v in ids[i : i + MEMBERS_PER_REQUEST]]
        body = {
            "schemas": [schemas.PATCH_OP],
            "Operations": [{"op": "add", "path": "members", "value": value}],
        }
        out.append(Op("PATCH", path, body, version if i == 0 else None, label))
    return out


def versioned(doc: Any, version: str | None, strip: bool = False) -> dict[str, Any] | None:
    """A write's answer with the version the server reported beside it (a Bulk result's
    ``version``, an ``ETag`` header) when the document itself carries none; with
    ``strip``, with no version at all."""
    if strip and isinstance(doc, dict):
        return {k: v for k, v in doc.items() if k != "meta"}
    if not version or meta_version(doc):
        return doc if isinstance(doc, dict) else None
    base = doc if isinstance(doc, dict) else {}
    return {**base, "meta": {**(base.get("meta") or {}), "version": version}}


def meta_version(doc: Any) -> str | None:
    meta = doc.get("meta") if isinstance(doc, dict) else None
    return meta.get("version") if isinstance(meta, dict) else None
