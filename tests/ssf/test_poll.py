"""SSF poll delivery (RFC 8936): a receiver creates a stream without a delivery method,
polls the transmitter-supplied endpoint, verifies the SETs, acknowledges them."""

from __future__ import annotations

import threading
import time
from typing import Any

from ostiary.signals.ssf import events as ev
from tests.ssf.conftest import Ssf
from tests.support.ssf_receiver import verify_set

ISSUER = "http://testserver"


def _emit(
    ssf: Ssf, event_type: str, subject: dict[str, Any], extra: dict[str, Any] | None = None
) -> list[str]:
    return ssf.emit(event_type, subject, extra)


def _poll(ssf: Ssf, url: str, body: dict[str, Any], auth: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return ssf.client.post(url.removeprefix(ISSUER), json=body, headers=auth or ssf.auth)


def test_poll_stream_delivers_verified_sets_until_acknowledged(ssf: Ssf):
    """SSF 1.0 section 8.1.1.1 (no delivery means poll; endpoint_url is ours);
    RFC 8936 sections 2.1-2.4 (sets keyed by jti, moreAvailable, ack)."""
    config = ssf.create({"events_requested": [ev.CREDENTIAL_CHANGE, ev.ACCOUNT_PURGED]})
    url = config["delivery"]["endpoint_url"]
    assert config["delivery"]["method"] == "urn:ietf:rfc:8936"
    assert url == f"{ISSUER}/ssf/poll/{config['stream_id']}"
    jwks = ssf.jwks()

    change = {"credential_type": "password", "change_type": "update", "friendly_name": "pw"}
    [j1] = _emit(ssf, ev.CREDENTIAL_CHANGE, ev.iss_sub(ISSUER, "u1"), change)
    [j2] = _emit(ssf, ev.ACCOUNT_PURGED, ev.iss_sub(ISSUER, "u1"))

    first = _poll(ssf, url, {"maxEvents": 1, "returnImmediately": True})
    assert first.status_code == 200 and first.headers["content-type"] == "application/json"
    assert first.json()["moreAvailable"] is True
    assert list(first.json()["sets"]) == [j1]
    got = verify_set(first.json()["sets"][j1], jwks, ISSUER, config["aud"])
    assert got.event_type == ev.CREDENTIAL_CHANGE
    assert got.event["credential_type"] == "password" and got.event["change_type"] == "update"

    # Not acknowledged yet: offered again, with the next one.
    both = _poll(ssf, url, {"returnImmediately": True}).json()
    assert set(both["sets"]) == {j1, j2} and both["moreAvailable"] is False
    purged = verify_set(both["sets"][j2], jwks, ISSUER, config["aud"])
    assert purged.event_type == ev.ACCOUNT_PURGED and purged.event == {}

    acked = _poll(ssf, url, {"ack": [j1, j2], "returnImmediately": True}).json()
    assert acked == {"sets": {}, "moreAvailable": False}


def test_set_errors_are_recorded_and_not_redelivered(ssf: Ssf):
    """RFC 8936 section 2.2: setErrs reports a SET the receiver could not accept."""
    config = ssf.create({"events_requested": [ev.ACCOUNT_DISABLED]})
    url = config["delivery"]["endpoint_url"]
    [jti] = _emit(ssf, ev.ACCOUNT_DISABLED, ev.iss_sub(ISSUER, "u2"), {"reason": "hijacking"})
    errs = {jti: {"err": "invalid_audience", "description": "not for us"}}
    resp = _poll(ssf, url, {"setErrs": errs, "maxEvents": 0, "returnImmediately": True})
    assert resp.json() == {"sets": {}, "moreAvailable": False}
    again = _poll(ssf, url, {"returnImmediately": True}).json()
    assert again["sets"] == {}


def test_long_poll_returns_a_set_emitted_while_waiting(ssf: Ssf):
    """RFC 8936 section 2.2: returnImmediately false is a long poll."""
    config = ssf.create({"events_requested": [ev.SESSION_REVOKED]})
    url = config["delivery"]["endpoint_url"]
    emitted: list[str] = []

    def later() -> None:
        time.sleep(0.4)
        emitted.extend(_emit(ssf, ev.SESSION_REVOKED, ev.opaque("session-1")))

    thread = threading.Thread(target=later)
    thread.start()
    resp = _poll(ssf, url, {})
    thread.join()
    assert list(resp.json()["sets"]) == emitted and len(emitted) == 1


def test_long_poll_gives_up_empty(ssf: Ssf):
    config = ssf.create({"events_requested": [ev.SESSION_REVOKED]})
    started = time.monotonic()
    resp = _poll(ssf, config["delivery"]["endpoint_url"], {"returnImmediately": False})
    assert resp.json() == {"sets": {}, "moreAvailable": False}
    assert time.monotonic() - started >= 1.4  # ssf_poll_wait_seconds is 1.5 here


def test_poll_refuses_bad_requests_in_set_error_format(ssf: Ssf):
    """RFC 8936 section 2.4: errors are JSON {err, description}."""
    config = ssf.create({"events_requested": [ev.SESSION_REVOKED]})
    url = config["delivery"]["endpoint_url"]
    bad = _poll(ssf, url, {"maxEvents": -1})
    assert bad.status_code == 400 and bad.json()["err"] == "invalid_request"
    other = ssf.receiver("receiver-b")
    stolen = _poll(ssf, url, {"returnImmediately": True}, auth=other)
    assert stolen.status_code == 404  # another receiver's stream does not exist for it
    anon = ssf.client.post(url.removeprefix(ISSUER), json={})
    assert anon.status_code == 401 and anon.json()["err"] == "authentication_failed"
    assert anon.headers["www-authenticate"].startswith("Bearer")


def test_one_emit_reaches_push_and_poll_streams(ssf: Ssf):
    """emit() makes one SET per interested stream, whatever its delivery method."""
    from tests.support.ssf_receiver import set_receiver

    poll_cfg = ssf.create({"events_requested": [ev.ACCOUNT_DISABLED]})
    with set_receiver(ssf.jwks(), ISSUER) as rx:
        push_cfg = ssf.create(
            {
                "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": rx.url},
                "events_requested": [ev.ACCOUNT_DISABLED],
            }
        )
        rx.audience = push_cfg["aud"]
        jtis = _emit(ssf, ev.ACCOUNT_DISABLED, ev.iss_sub(ISSUER, "u9"))
        assert len(set(jtis)) == 2
        assert ssf.deliver() == 1
        [pushed] = rx.wait_for(1)
    polled = _poll(ssf, poll_cfg["delivery"]["endpoint_url"], {"returnImmediately": True}).json()
    assert {pushed.claims["jti"], *polled["sets"]} == set(jtis)
    [token] = polled["sets"].values()
    assert (
        verify_set(token, ssf.jwks(), ISSUER, poll_cfg["aud"]).claims["txn"] == pushed.claims["txn"]
    )
