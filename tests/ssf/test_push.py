"""SSF push delivery end to end: a receiver creates a push stream over HTTP, Ostiary
emits CAEP/RISC events, the outbox worker POSTs them (RFC 8935) and a real receiver on
127.0.0.1 verifies each SET against /ssf/jwks."""

from __future__ import annotations

from typing import Any

from joserfc.jwk import ECKey

from ostiary.signals.outbox import Status as OutboxStatus
from ostiary.signals.ssf import events as ev
from ostiary.store.repositories.outbox import OutboxRepository
from tests.ssf.conftest import Ssf
from tests.support.ssf_receiver import set_receiver

ISSUER = "http://testserver"
RECEIVER_SECRET = "Bearer receiver-side-secret"


def _push_stream(ssf: Ssf, url: str, events: list[str], **delivery: Any) -> dict[str, Any]:
    body = {
        "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": url, **delivery},
        "events_requested": events,
        "description": "test receiver",
    }
    return ssf.create(body)


def _emit(
    ssf: Ssf, event_type: str, subject: dict[str, Any], extra: dict[str, Any] | None = None
) -> list[str]:
    return ssf.emit(event_type, subject, extra)


def test_push_stream_delivers_verified_sets(ssf: Ssf):
    """SSF 1.0 sections 4.1, 8.1.1.1; RFC 8417 section 2; RFC 8935 section 2."""
    jwks = ssf.jwks()
    with set_receiver(jwks, ISSUER, authorization=RECEIVER_SECRET) as rx:
        requested = [ev.SESSION_REVOKED, ev.ACCOUNT_DISABLED, "urn:example:unknown"]
        config = _push_stream(ssf, rx.url, requested, authorization_header=RECEIVER_SECRET)
        rx.audience = config["aud"]
        assert config["iss"] == ISSUER
        assert config["delivery"] == {"method": "urn:ietf:rfc:8935", "endpoint_url": rx.url}
        assert "authorization_header" not in str(config)  # a receiver secret: never echoed
        assert config["events_delivered"] == [ev.SESSION_REVOKED, ev.ACCOUNT_DISABLED]
        assert config["events_requested"] == requested
        assert set(config["events_supported"]) >= {ev.CREDENTIAL_CHANGE, ev.ACCOUNT_PURGED}

        user = ev.user_subject(ISSUER, "user-1", session_id="sess-9")
        revoked = _emit(ssf, ev.SESSION_REVOKED, user, {"initiating_entity": "admin"})
        disabled = _emit(ssf, ev.ACCOUNT_DISABLED, ev.iss_sub(ISSUER, "user-1"))
        assert (
            _emit(
                ssf,
                ev.CREDENTIAL_CHANGE,
                ev.iss_sub(ISSUER, "user-1"),
                {"credential_type": "password", "change_type": "revoke"},
            )
            == []
        )  # not requested: no SET at all
        assert ssf.deliver() == 2
        got = rx.wait_for(2)

    assert rx.rejected == [] and len(got) == 2
    first, second = got
    assert [first.claims["jti"], second.claims["jti"]] == [*revoked, *disabled]
    assert first.claims["jti"] != second.claims["jti"]
    assert first.header["alg"] == "ES256" and first.header["kid"] == jwks["keys"][0]["kid"]
    assert first.event_type == ev.SESSION_REVOKED
    assert first.event["initiating_entity"] == "admin"
    assert first.event["event_timestamp"] == int(ssf.clock.now().timestamp())
    assert first.claims["sub_id"] == {
        "format": "complex",
        "user": {"format": "iss_sub", "iss": ISSUER, "sub": "user-1"},
        "session": {"format": "opaque", "id": "sess-9"},
    }
    assert second.event_type == ev.ACCOUNT_DISABLED
    assert second.claims["sub_id"] == {"format": "iss_sub", "iss": ISSUER, "sub": "user-1"}
    for s in got:
        assert s.claims["aud"] == config["aud"]
        assert s.claims["iat"] == int(ssf.clock.now().timestamp())
        assert s.claims["txn"]


def test_jwks_is_public_only_with_a_thumbprint_kid(ssf: Ssf):
    """RFC 7517/7638: the published set has no private member; kid is the thumbprint."""
    jwks = ssf.jwks()
    [key] = jwks["keys"]
    assert "d" not in key and key["kty"] == "EC" and key["crv"] == "P-256"
    assert (
        key["kid"] == ECKey.import_key({k: key[k] for k in ("kty", "crv", "x", "y")}).thumbprint()
    )
    assert ssf.jwks() == jwks  # stable across requests


def test_rejected_set_is_not_retried(ssf: Ssf):
    """RFC 8935 section 2.3: a 400 {err, description} is final for that SET."""
    stranger = {"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}
    with set_receiver(stranger, ISSUER) as rx:
        config = _push_stream(ssf, rx.url, [ev.ACCOUNT_PURGED])
        rx.audience = config["aud"]
        [jti] = _emit(ssf, ev.ACCOUNT_PURGED, ev.iss_sub(ISSUER, "user-2"))
        assert ssf.deliver() == 1
    assert [r.err for r in rx.rejected] == ["invalid_key"]
    with ssf.ctx.db.read() as conn:
        [msg] = OutboxRepository(conn).recent(topic="ssf.push")
    assert msg.payload["jti"] == jti
    assert msg.status is OutboxStatus.DEAD and "invalid_key" in (msg.last_error or "")


def test_receiver_outage_is_retried(ssf: Ssf):
    """A 503 or a refused credential is transient: the same SET (same jti) is retried."""
    jwks = ssf.jwks()
    with set_receiver(jwks, ISSUER, statuses=[503]) as rx:
        config = _push_stream(ssf, rx.url, [ev.ACCOUNT_PURGED])
        rx.audience = config["aud"]
        [jti] = _emit(ssf, ev.ACCOUNT_PURGED, ev.email("gone@example.com"))
        assert ssf.deliver() == 1 and rx.accepted == []
        ssf.clock.advance(10)
        assert ssf.deliver() == 1
        [got] = rx.wait_for(1)
    assert got.claims["jti"] == jti
    assert got.claims["sub_id"] == {"format": "email", "email": "gone@example.com"}


def test_emit_rolls_back_with_the_caller(ssf: Ssf):
    """The SETs are part of the caller's transaction: no commit, no SET."""
    with set_receiver(ssf.jwks(), ISSUER) as rx:
        _push_stream(ssf, rx.url, [ev.SESSION_REVOKED])
        try:
            with ssf.ctx.db.begin() as conn:
                ssf.ctx.ssf().emit(conn, ev.SESSION_REVOKED, ev.opaque("s"), ssf.clock.now())
                raise RuntimeError("deprovisioning failed")
        except RuntimeError:
            pass
        assert ssf.deliver() == 0
