"""Adding and removing subjects (SSF 1.0 section 8.1.3): streams start with every
subject; a removed subject's events stop, adding it back resumes them."""

from __future__ import annotations

from ostiary.signals.ssf import events as ev
from ostiary.signals.ssf.subjects import matches
from tests.ssf.conftest import Ssf

ISSUER = "http://testserver"


def _emit(ssf: Ssf, subject: dict[str, object]) -> list[str]:
    return ssf.emit(ev.SESSION_REVOKED, subject)


def test_removed_subject_gets_no_events_until_added_back(ssf: Ssf):
    config = ssf.create({"events_requested": [ev.SESSION_REVOKED]})
    sid, h = config["stream_id"], ssf.auth
    alice = ev.iss_sub(ISSUER, "alice")
    removed = ssf.client.post(
        "/ssf/subjects:remove", json={"stream_id": sid, "subject": alice}, headers=h
    )
    assert removed.status_code == 204 and removed.content == b""
    assert _emit(ssf, ev.user_subject(ISSUER, "alice", session_id="s1")) == []  # her sessions too
    assert len(_emit(ssf, ev.iss_sub(ISSUER, "bob"))) == 1

    body = {"stream_id": sid, "subject": alice, "verified": True}
    added = ssf.client.post("/ssf/subjects:add", json=body, headers=h)
    assert added.status_code == 200
    assert len(_emit(ssf, alice)) == 1


def test_subject_requests_are_validated_and_private(ssf: Ssf):
    sid = ssf.create({})["stream_id"]
    h = ssf.auth
    no_format = {"stream_id": sid, "subject": {"email": "a@example.com"}}
    assert ssf.client.post("/ssf/subjects:add", json=no_format, headers=h).status_code == 400
    empty_complex = {"stream_id": sid, "subject": {"format": "complex"}}
    assert ssf.client.post("/ssf/subjects:remove", json=empty_complex, headers=h).status_code == 400
    other = ssf.receiver("receiver-b")
    body = {"stream_id": sid, "subject": ev.email("a@example.com")}
    assert ssf.client.post("/ssf/subjects:remove", json=body, headers=other).status_code == 404


def test_complex_subject_matching():
    """Section 8.1.3.1's examples: undefined members match, defined ones must agree."""
    tenant = {"format": "opaque", "id": "example-a38h4792-uw2"}
    user = ev.email("jdoe@example.com")
    assert matches(ev.complex_subject(tenant=tenant), ev.complex_subject(tenant=tenant, user=user))
    device = {"format": "ip-addresses", "ip-addresses": ["10.29.37.75"]}
    assert matches(ev.complex_subject(user=user, device=device), ev.complex_subject(user=user))
    g1, g2 = {"format": "did", "url": "did:example:1"}, {"format": "did", "url": "did:example:2"}
    assert not matches(
        ev.complex_subject(user=user, group=g1), ev.complex_subject(user=user, group=g2)
    )
    assert matches(user, user) and not matches(user, ev.email("other@example.com"))
