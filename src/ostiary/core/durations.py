"""Human durations for the CLI and settings: ``90d``, ``24h``, ``15m``, ``30s``, ``2w``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PATTERN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


def parse_duration(text: str) -> timedelta:
    match = _PATTERN.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like 90d, 24h, 15m or 30s")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
