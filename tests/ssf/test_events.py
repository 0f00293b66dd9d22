"""The CAEP 1.0 / RISC 1.0 event profiles emit() enforces, and the SET claim set
(RFC 8417 section 2.2; SSF 1.0 section 4.1: no sub, no exp)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ostiary.signals.ssf import events as ev
from ostiary.signals.ssf.errors import InvalidEvent

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_caep_common_claims():
    """CAEP 1.0 section 2: initiating_entity from a fixed set, reasons by language tag."""
    got = ev.event_payload(
        ev.SESSION_REVOKED, NOW, {"initiating_entity": "policy", "reason_admin": "left the company"}
    )
    assert got == {
        "event_timestamp": int(NOW.timestamp()),
        "initiating_entity": "policy",
        "reason_admin": {"en": "left the company"},
    }
    with pytest.raises(InvalidEvent):
        ev.event_payload(ev.SESSION_REVOKED, NOW, {"initiating_entity": "robot"})
    with pytest.raises(InvalidEvent):
        ev.event_payload(ev.SESSION_REVOKED, NOW, {"reason_user": {"en": 3}})


def test_credential_change_requires_its_claims():
    """CAEP 1.0 section 3.3: credential_type and change_type are REQUIRED."""
    with pytest.raises(InvalidEvent):
        ev.event_payload(ev.CREDENTIAL_CHANGE, NOW, {"change_type": "revoke"})
    with pytest.raises(InvalidEvent):
        ev.event_payload(ev.CREDENTIAL_CHANGE, NOW, {"credential_type": "password"})
    got = ev.event_payload(
        ev.CREDENTIAL_CHANGE, NOW, {"credential_type": "fido2-roaming", "change_type": "delete"}
    )
    assert got["credential_type"] == "fido2-roaming" and got["change_type"] == "delete"


def test_risc_account_disabled_reason():
    """RISC 1.0: reason is hijacking or bulk-account when present."""
    assert ev.event_payload(ev.ACCOUNT_DISABLED, NOW) == {}
    assert ev.event_payload(ev.ACCOUNT_DISABLED, NOW, {"reason": "bulk-account"}) == {
        "reason": "bulk-account"
    }
    with pytest.raises(InvalidEvent):
        ev.event_payload(ev.ACCOUNT_DISABLED, NOW, {"reason": "bored"})
    assert ev.event_payload(ev.ACCOUNT_PURGED, NOW) == {}


def test_set_claims_shape():
    claims = ev.set_claims(
        iss="https://idp.example",
        aud="rcv",
        jti="j1",
        iat=NOW,
        sub_id=ev.user_subject("https://idp.example", "u1"),
        event_type=ev.ACCOUNT_PURGED,
        event={},
        txn="t1",
    )
    assert claims == {
        "iss": "https://idp.example",
        "aud": "rcv",
        "jti": "j1",
        "iat": int(NOW.timestamp()),
        "sub_id": {"format": "iss_sub", "iss": "https://idp.example", "sub": "u1"},
        "events": {ev.ACCOUNT_PURGED: {}},
        "txn": "t1",
    }
    assert ev.event_payload(ev.VERIFICATION, NOW, {"state": None}) == {}
    with pytest.raises(InvalidEvent):
        ev.event_payload("urn:example:nope", NOW)
    with pytest.raises(InvalidEvent):
        ev.complex_subject()
