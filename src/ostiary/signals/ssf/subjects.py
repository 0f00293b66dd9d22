"""Subjects a receiver adds to or removes from a stream (SSF 1.0 section 8.1.3).

Ostiary's streams start with every subject (``default_subjects: ALL``); removing a
subject excludes events about it, adding it back lifts the exclusion. Matching follows
section 8.1.3.1: simple subjects match when identical; complex subjects match when every
member defined on both sides is identical. A simple subject compared with a complex one
is read as that subject's ``user`` member (a receiver that removes a user means their
sessions too).
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from ostiary.signals.ssf.errors import InvalidRequest

MAX_SUBJECT_BYTES = 4096


def parse_subject(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("format"), str):
        raise InvalidRequest("subject must be a subject identifier object with a format")
    if len(orjson.dumps(raw)) > MAX_SUBJECT_BYTES:
        raise InvalidRequest(f"subject is larger than {MAX_SUBJECT_BYTES} bytes")
    if raw["format"] == "complex":
        members = {k: v for k, v in raw.items() if k != "format"}
        if not members or not all(
            isinstance(v, dict) and isinstance(v.get("format"), str) for v in members.values()
        ):
            raise InvalidRequest("a complex subject holds one or more subject identifiers")
    return dict(raw)


def subject_key(subject: dict[str, Any]) -> str:
    """A stable key for storing one subject (canonical JSON, hashed)."""
    return hashlib.sha256(orjson.dumps(subject, option=orjson.OPT_SORT_KEYS)).hexdigest()


def _members(subject: dict[str, Any]) -> dict[str, Any]:
    if subject.get("format") == "complex":
        return {k: v for k, v in subject.items() if k != "format"}
    return {"user": subject}


def matches(a: dict[str, Any], b: dict[str, Any]) -> bool:
    if a.get("format") != "complex" and b.get("format") != "complex":
        return a == b
    ma, mb = _members(a), _members(b)
    shared = ma.keys() & mb.keys()
    return bool(shared) and all(ma[k] == mb[k] for k in shared)
