"""Group PATCH: operations on ``members`` become membership row changes, the rest a patch of
the group's small document (RFC 7644 section 3.5.2).

Clients send membership changes many ways (Okta: ``remove members[value eq "id"]``; Entra:
``Remove members`` with a value list, several changes in one request). Each becomes an
explicit action on the member rows, in request order, so nothing rewrites the whole list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ostiary.scim.errors import InvalidValue, Mutability, NoTarget
from ostiary.scim.groups import MemberRef, member_refs
from ostiary.scim.patch import Operation, equality_seed
from ostiary.scim.paths import parse_path


@dataclass(frozen=True)
class MemberAction:
    kind: str  # "add" | "remove" | "remove_all" | "remove_where"
    refs: tuple[MemberRef, ...] = ()
    ids: tuple[str, ...] = ()
    value_filter: str | None = None


@dataclass
class GroupPatch:
    doc_ops: list[Operation] = field(default_factory=list)
    member_actions: list[MemberAction] = field(default_factory=list)


def _is_members(name: str) -> bool:
    return name.lower() == "members"


def _ids(value: Any) -> tuple[str, ...]:
    return tuple(ref.value for ref in member_refs(value))


def _member_op(op: str, path: str, value: Any, out: list[MemberAction]) -> None:
    parsed = parse_path(path, [])
    if parsed.sub is not None:
        raise Mutability(f"members.{parsed.sub} cannot be changed; add or remove the member")
    if parsed.value_filter is None:
        if op == "remove":
            if value is None:
                out.append(MemberAction("remove_all"))
            else:  # Entra: Remove members [{"value": id}] removes just those
                out.append(MemberAction("remove", ids=_ids(value)))
            return
        if op == "replace":
            out.append(MemberAction("remove_all"))
        out.append(MemberAction("add", refs=tuple(member_refs(value))))
        return
    seed = equality_seed(parsed.value_filter)
    if seed is not None and set(seed) == {"value"} and isinstance(seed["value"], str):
        out.append(MemberAction("remove", ids=(seed["value"],)))
    else:
        out.append(MemberAction("remove_where", value_filter=parsed.value_filter))
    if op != "remove":
        if value is None:
            raise InvalidValue(f"{op} needs a value")
        out.append(MemberAction("add", refs=tuple(member_refs(value))))


def split_group_patch(ops: list[Operation]) -> GroupPatch:
    result = GroupPatch()
    for op in ops:
        if op.path is None:
            if op.op == "remove":
                raise NoTarget("remove needs a path")
            if not isinstance(op.value, dict):
                raise InvalidValue(f"{op.op} without a path needs an object of attributes")
            rest = {}
            for key, value in op.value.items():
                if _is_members(key):
                    _member_op(op.op, "members", value, result.member_actions)
                else:
                    rest[key] = value
            if rest:
                result.doc_ops.append(Operation(op.op, None, rest))
            continue
        head = op.path.split("[", 1)[0].split(".", 1)[0].strip()
        if head.lower().startswith("urn:ietf:params:scim:schemas:core:2.0:group:"):
            head = head.rsplit(":", 1)[1]
        if _is_members(head):
            tail = op.path.strip()
            if tail.lower().startswith("urn:"):
                tail = tail[tail.lower().index(":members") + 1 :]
            _member_op(op.op, tail, op.value, result.member_actions)
        else:
            result.doc_ops.append(op)
    return result
