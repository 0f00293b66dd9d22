"""RFC 5424 syslog messages with RFC 6587 octet-counting framing (for TCP and TLS)."""

from __future__ import annotations

from typing import Any

import orjson

FACILITY_LOG_AUDIT = 13  # RFC 5424 section 6.2.1, "log audit"
SEVERITY = {"success": 6, "failure": 4, "denied": 4}  # informational, warning
SD_ID = "ostiary@32473"  # 32473 is the documentation enterprise number (RFC 5612)
BOM = b"\xef\xbb\xbf"


def _printable(text: str, limit: int) -> str:
    out = "".join(c for c in text if 33 <= ord(c) <= 126)
    return out[:limit] or "-"


def _sd_value(value: str) -> str:
    # RFC 5424 section 6.3.3: '"', '\' and ']' are escaped inside PARAM-VALUE.
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def format_message(doc: dict[str, Any], hostname: str, app: str = "ostiary") -> bytes:
    pri = FACILITY_LOG_AUDIT * 8 + SEVERITY.get(doc.get("outcome", ""), 5)
    params = {
        "id": doc["id"],
        "position": str(doc.get("position", "")),
        "outcome": doc.get("outcome", ""),
    }
    sd = "[" + SD_ID + "".join(f' {k}="{_sd_value(str(v))}"' for k, v in params.items()) + "]"
    header = (
        f"<{pri}>1 {doc['time']} {_printable(hostname, 255)} {_printable(app, 48)} - "
        f"{_printable(doc['action'], 32)} {sd} "
    )
    return header.encode() + BOM + orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def frame(message: bytes) -> bytes:
    """RFC 6587 section 3.4.1 octet counting: ``MSG-LEN SP SYSLOG-MSG``."""
    return str(len(message)).encode() + b" " + message


def parse_frames(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Split complete octet-counted frames off ``buffer``; returns (messages, rest)."""
    out: list[bytes] = []
    while True:
        space = buffer.find(b" ")
        if space <= 0:
            return out, buffer
        length = int(buffer[:space])
        end = space + 1 + length
        if len(buffer) < end:
            return out, buffer
        out.append(buffer[space + 1 : end])
        buffer = buffer[end:]
