"""Signing-key rotation rules (issue 6 point 1; OpenID Connect Core section 10.1.1:
a signer publishes new keys before use and keeps old ones until their tokens expire)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ostiary.oidc.signing import KeyState, RotationPolicy, SigningKey, jwks, plan

T0 = datetime(2026, 3, 1, tzinfo=UTC)
POLICY = RotationPolicy(
    jwks_max_age=timedelta(minutes=10),
    rotate_every=timedelta(days=30),
    max_token_lifetime=timedelta(minutes=15),
    cache_staleness=timedelta(minutes=1),
)


def _apply(keys: list[SigningKey], now: datetime, *, rotate: bool = False) -> list[SigningKey]:
    changes = plan(keys, now, POLICY, rotate=rotate)
    by_kid = {k.kid: k for k in keys}
    for k in changes.created + changes.changed:
        by_kid[k.kid] = k
    for k in changes.removed:
        del by_kid[k.kid]
    return list(by_kid.values())


def _state(keys: list[SigningKey], alg: str, state: KeyState) -> list[SigningKey]:
    return [k for k in keys if k.alg == alg and k.state is state]


def test_first_start_creates_one_active_and_one_next_key_per_algorithm():
    keys = _apply([], T0)
    for alg in ("RS256", "ES256", "EdDSA"):
        assert len(_state(keys, alg, KeyState.ACTIVE)) == 1
        assert len(_state(keys, alg, KeyState.NEXT)) == 1
    assert {k["kid"] for k in jwks(keys, T0)["keys"]} == {k.kid for k in keys}
    assert all("d" not in k for k in jwks(keys, T0)["keys"])


def test_a_next_key_never_signs_before_one_jwks_cache_lifetime():
    keys = _apply([], T0)
    early = _apply(keys, T0 + timedelta(minutes=5), rotate=True)
    assert {k.kid for k in _state(early, "ES256", KeyState.ACTIVE)} == {
        k.kid for k in _state(keys, "ES256", KeyState.ACTIVE)
    }
    nxt = _state(keys, "ES256", KeyState.NEXT)[0]
    later = _apply(keys, T0 + timedelta(minutes=11), rotate=True)
    assert [k.kid for k in _state(later, "ES256", KeyState.ACTIVE)] == [nxt.kid]


def test_retired_key_stays_published_until_its_tokens_expire_then_is_dropped():
    keys = _apply([], T0)
    old = _state(keys, "ES256", KeyState.ACTIVE)[0]
    at = T0 + timedelta(minutes=11)
    keys = _apply(keys, at, rotate=True)
    retired = next(k for k in keys if k.kid == old.kid)
    assert retired.state is KeyState.RETIRED
    assert retired.unpublish_at is not None
    assert retired.unpublish_at >= at + POLICY.max_token_lifetime
    still = _apply(keys, at + POLICY.max_token_lifetime)
    assert old.kid in {k["kid"] for k in jwks(still, at + POLICY.max_token_lifetime)["keys"]}
    gone = _apply(still, retired.unpublish_at)
    assert old.kid not in {k.kid for k in gone}
    # A fresh next key is always waiting, so the following rotation never stalls.
    assert len(_state(gone, "ES256", KeyState.NEXT)) == 1


def test_scheduled_rotation_happens_after_rotate_every():
    keys = _apply([], T0)
    active = _state(keys, "RS256", KeyState.ACTIVE)[0]
    same = _apply(keys, T0 + timedelta(days=29))
    assert _state(same, "RS256", KeyState.ACTIVE)[0].kid == active.kid
    rotated = _apply(keys, T0 + timedelta(days=30, minutes=1))
    assert _state(rotated, "RS256", KeyState.ACTIVE)[0].kid != active.kid
    assert [k.kid for k in _state(rotated, "RS256", KeyState.RETIRED)] == [active.kid]


def test_plan_is_idempotent_when_nothing_is_due():
    keys = _apply([], T0)
    assert not plan(keys, T0 + timedelta(minutes=1), POLICY)
