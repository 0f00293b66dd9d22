"""Stream status and verification (SSF 1.0 sections 8.1.2, 8.1.4, 8.1.5): paused streams
hold events and send them on re-enabling, disabled streams drop them, every change is
announced with a stream-updated SET, verification echoes state and is rate limited."""

from __future__ import annotations

from typing import Any

from ostiary.signals.ssf import events as ev
from tests.ssf.conftest import Ssf
from tests.support.ssf_receiver import SetReceiver, set_receiver

ISSUER = "http://testserver"


def _emit(ssf: Ssf, event_type: str, user: str) -> list[str]:
    return ssf.emit(event_type, ev.iss_sub(ISSUER, user))


def _status(ssf: Ssf, sid: str, status: str, reason: str | None = None) -> dict[str, Any]:
    body = {"stream_id": sid, "status": status} | ({"reason": reason} if reason else {})
    resp = ssf.client.post("/ssf/status", json=body, headers=ssf.auth)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _push(ssf: Ssf, rx: SetReceiver) -> str:
    config = ssf.create(
        {
            "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": rx.url},
            "events_requested": [ev.SESSION_REVOKED, ev.ACCOUNT_DISABLED],
        }
    )
    rx.audience = config["aud"]
    return str(config["stream_id"])


def _drain(ssf: Ssf) -> None:
    # Released SETs are due a microsecond apart (to keep their order); let time pass.
    ssf.clock.advance(1)
    while ssf.deliver():
        pass


def test_pause_holds_enable_releases_in_order(ssf: Ssf):
    with set_receiver(ssf.jwks(), ISSUER) as rx:
        sid = _push(ssf, rx)
        queued_before_pause = _emit(ssf, ev.SESSION_REVOKED, "u0")  # not yet sent
        paused = _status(ssf, sid, "paused", "maintenance")
        assert paused == {"stream_id": sid, "status": "paused", "reason": "maintenance"}
        got = ssf.client.get(f"/ssf/status?stream_id={sid}", headers=ssf.auth).json()
        assert got == paused
        held = _emit(ssf, ev.SESSION_REVOKED, "u1") + _emit(ssf, ev.ACCOUNT_DISABLED, "u1")
        _drain(ssf)
        [update] = rx.wait_for(1)
        assert update.event_type == ev.STREAM_UPDATED
        assert update.event == {"status": "paused", "reason": "maintenance"}
        assert update.claims["sub_id"] == {"format": "opaque", "id": sid}

        _status(ssf, sid, "enabled")
        _drain(ssf)
        got_all = rx.wait_for(5)
    assert [s.event_type for s in got_all[1:]] == [
        ev.STREAM_UPDATED,
        ev.SESSION_REVOKED,
        ev.SESSION_REVOKED,
        ev.ACCOUNT_DISABLED,
    ]
    assert got_all[1].event == {"status": "enabled"}
    assert [s.claims["jti"] for s in got_all[2:]] == queued_before_pause + held


def test_disabled_stream_drops_events(ssf: Ssf):
    with set_receiver(ssf.jwks(), ISSUER) as rx:
        sid = _push(ssf, rx)
        _emit(ssf, ev.SESSION_REVOKED, "u0")  # queued, then the stream is disabled
        _status(ssf, sid, "disabled")
        assert _emit(ssf, ev.SESSION_REVOKED, "u1") == []
        _drain(ssf)
        _status(ssf, sid, "enabled")
        _drain(ssf)
        got = rx.wait_for(2)
    assert [(s.event_type, s.event["status"]) for s in got] == [
        (ev.STREAM_UPDATED, "disabled"),
        (ev.STREAM_UPDATED, "enabled"),
    ]


def test_bad_status_requests(ssf: Ssf):
    sid = ssf.create({})["stream_id"]
    bad = ssf.client.post("/ssf/status", json={"stream_id": sid, "status": "off"}, headers=ssf.auth)
    assert bad.status_code == 400
    assert ssf.client.get("/ssf/status", headers=ssf.auth).status_code == 400
    missing = ssf.client.get("/ssf/status?stream_id=nope", headers=ssf.auth)
    assert missing.status_code == 404


def test_verification_event_and_interval(ssf: Ssf):
    """Section 8.1.4: 204, a verification SET with the stream as opaque sub_id and the
    state echoed; 429 with Retry-After inside min_verification_interval."""
    with set_receiver(ssf.jwks(), ISSUER) as rx:
        sid = _push(ssf, rx)
        body = {"stream_id": sid, "state": "VGhpcyBpcyBhIHN0YXRl"}
        first = ssf.client.post("/ssf/verify", json=body, headers=ssf.auth)
        assert first.status_code == 204
        _drain(ssf)
        [got] = rx.wait_for(1)
        assert got.event_type == ev.VERIFICATION
        assert got.event == {"state": "VGhpcyBpcyBhIHN0YXRl"}
        assert got.claims["sub_id"] == {"format": "opaque", "id": sid}

        ssf.clock.advance(19)  # 20 s after the first request (draining took 1)
        again = ssf.client.post("/ssf/verify", json={"stream_id": sid}, headers=ssf.auth)
        assert again.status_code == 429 and again.headers["retry-after"] == "40"
        ssf.clock.advance(40)
        later = ssf.client.post("/ssf/verify", json={"stream_id": sid}, headers=ssf.auth)
        assert later.status_code == 204
        _drain(ssf)
        second = rx.wait_for(2)[1]
    assert second.event == {}  # no state requested, none sent


def test_verification_on_a_poll_stream(ssf: Ssf):
    config = ssf.create({"events_requested": [ev.SESSION_REVOKED]})
    sid, url = config["stream_id"], config["delivery"]["endpoint_url"]
    resp = ssf.client.post("/ssf/verify", json={"stream_id": sid, "state": "s1"}, headers=ssf.auth)
    assert resp.status_code == 204
    polled = ssf.client.post(
        url.removeprefix(ISSUER), json={"returnImmediately": True}, headers=ssf.auth
    )
    [token] = polled.json()["sets"].values()
    from tests.support.ssf_receiver import verify_set

    got = verify_set(token, ssf.jwks(), ISSUER, config["aud"])
    assert got.event_type == ev.VERIFICATION and got.event == {"state": "s1"}


def test_switching_delivery_method_keeps_queued_sets(ssf: Ssf):
    """A SET queued for one delivery method reaches the receiver by the new one."""
    config = ssf.create({"events_requested": [ev.SESSION_REVOKED]})
    sid, h = config["stream_id"], ssf.auth
    [waiting] = _emit(ssf, ev.SESSION_REVOKED, "u1")  # queued for polling
    with set_receiver(ssf.jwks(), ISSUER) as rx:
        rx.audience = config["aud"]
        push = {"method": "urn:ietf:rfc:8935", "endpoint_url": rx.url}
        resp = ssf.client.patch("/ssf/stream", json={"stream_id": sid, "delivery": push}, headers=h)
        assert resp.status_code == 200 and resp.json()["delivery"] == push
        _drain(ssf)
        [first] = rx.wait_for(1)
        assert first.claims["jti"] == waiting
        [pushed_b] = _emit(ssf, ev.SESSION_REVOKED, "u2")
        # Back to poll before the worker ran: the queued push is kept for polling.
        poll = {"method": "urn:ietf:rfc:8936"}
        back = ssf.client.patch("/ssf/stream", json={"stream_id": sid, "delivery": poll}, headers=h)
        assert back.json()["delivery"]["endpoint_url"] == config["delivery"]["endpoint_url"]
        _drain(ssf)
    assert [s.claims["jti"] for s in rx.accepted] == [waiting]  # b was not pushed
    url = config["delivery"]["endpoint_url"].removeprefix(ISSUER)
    polled = ssf.client.post(url, json={"returnImmediately": True}, headers=h).json()
    assert set(polled["sets"]) == {pushed_b}


def test_quick_status_flips_announce_every_change(ssf: Ssf):
    """Each stream-updated SET is sent even if the stream pauses again before it went out."""
    with set_receiver(ssf.jwks(), ISSUER) as rx:
        sid = _push(ssf, rx)
        for status in ("paused", "enabled", "paused"):
            _status(ssf, sid, status)
            ssf.clock.advance(1)  # real time passes between requests
        _drain(ssf)
        got = rx.wait_for(3)
    assert [(s.event_type, s.event["status"]) for s in got] == [
        (ev.STREAM_UPDATED, "paused"),
        (ev.STREAM_UPDATED, "enabled"),
        (ev.STREAM_UPDATED, "paused"),
    ]
