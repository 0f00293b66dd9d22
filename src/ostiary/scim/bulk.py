"""Bulk requests (RFC 7644 section 3.7): parsing, limits and bulkId resolution.

Operations may refer to resources created earlier *or later* in the same request as
``bulkId:<id>`` (in a path or anywhere in data). They run in dependency order; a reference
that can never resolve (a cycle, or an unknown bulkId) fails that operation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ostiary.scim import schemas
from ostiary.scim.errors import InvalidSyntax, InvalidValue, PayloadTooLarge

METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_REF = re.compile(r"bulkId:([^\s/\"]+)")


@dataclass
class BulkOp:
    index: int
    method: str
    path: str
    bulk_id: str | None
    data: Any
    version: str | None
    needs: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class BulkRequest:
    ops: list[BulkOp]
    fail_on_errors: int | None


def _refs(value: Any, out: set[str]) -> None:
    if isinstance(value, str):
        out.update(_REF.findall(value))
    elif isinstance(value, dict):
        for v in value.values():
            _refs(v, out)
    elif isinstance(value, list):
        for v in value:
            _refs(v, out)


def parse_bulk(body: Any, *, max_operations: int) -> BulkRequest:
    if not isinstance(body, dict):
        raise InvalidSyntax("the request body must be a JSON object")
    declared = body.get("schemas")
    if not isinstance(declared, list) or schemas.BULK_REQUEST not in declared:
        raise InvalidValue(f"schemas must include {schemas.BULK_REQUEST}")
    raw_ops = body.get("Operations")
    if not isinstance(raw_ops, list) or not raw_ops:
        raise InvalidValue("Operations must be a non-empty list")
    if len(raw_ops) > max_operations:
        raise PayloadTooLarge(f"at most {max_operations} operations per bulk request")
    fail = body.get("failOnErrors")
    if fail is not None and (isinstance(fail, bool) or not isinstance(fail, int) or fail < 1):
        raise InvalidValue("failOnErrors must be a positive integer")
    ops, seen = [], set()
    for i, raw in enumerate(raw_ops):
        if not isinstance(raw, dict):
            raise InvalidSyntax("each operation must be a JSON object")
        method = str(raw.get("method", "")).upper()
        path = raw.get("path")
        if method not in METHODS or not isinstance(path, str) or not path.startswith("/"):
            raise InvalidValue(f"operation {i + 1}: method and a path starting with / needed")
        bulk_id = raw.get("bulkId")
        if method == "POST" and not isinstance(bulk_id, str):
            raise InvalidValue(f"operation {i + 1}: POST needs a bulkId")
        if bulk_id is not None:
            if not isinstance(bulk_id, str) or bulk_id in seen:
                raise InvalidValue(f"operation {i + 1}: bulkId must be a unique string")
            seen.add(bulk_id)
        version = raw.get("version")
        op = BulkOp(i, method, path, bulk_id, raw.get("data"),
                    version if isinstance(version, str) else None)
        _refs(op.data, op.needs)
        _refs(op.path, op.needs)
        ops.append(op)
    return BulkRequest(ops, fail)


def substitute(value: Any, ids: dict[str, str]) -> Any:
    """``value`` with every ``bulkId:x`` replaced by the id the POST of ``x`` created."""
    if isinstance(value, str):
        return _REF.sub(lambda m: ids.get(m.group(1), m.group(0)), value)
    if isinstance(value, dict):
        return {k: substitute(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, ids) for v in value]
    return value


def order(ops: list[BulkOp]) -> list[BulkOp]:
    """Request order, except that an operation waits for the bulkIds it needs.

    Operations whose needs can never be met (cycles, unknown ids) come last, in request
    order; executing them reports the unresolved reference.
    """
    done: set[str] = set()
    pending = list(ops)
    out: list[BulkOp] = []
    progress = True
    while pending and progress:
        progress = False
        for op in list(pending):
            if op.needs <= done:
                out.append(op)
                pending.remove(op)
                if op.bulk_id and op.method == "POST":
                    done.add(op.bulk_id)
                progress = True
                break  # restart so earlier-waiting operations keep request order
    return out + pending
