"""Rate limits at the token endpoint (issue 4 point 7), the same buckets as SCIM's.

The provisioning key is the client secret here, so /token gets the limits the SCIM API
applies to the same key: the per-IP request limit and a peek at the failed-authentication
locks before authenticating; each refusal counts against the IP and the key id; the
per-key request limit after authenticating. Sharing the buckets means a client cannot
double its budget, nor test secrets here past the lock SCIM would impose. With Redis
the limiter is shared and each call is a round trip: the caller runs these on a worker
thread then (``token._cpu_only``).
"""

from __future__ import annotations

import math

from ostiary.keys.ratelimit import Decision
from ostiary.oidc.errors import SlowDown
from ostiary.web.keys.runtime import KeyRuntime
from ostiary.web.logs import get_logger

log = get_logger("ostiary.oauth")
# Refusals that do not count against the claimed key id: no id could be read, or there
# was no credential to try. Every other refusal (a wrong secret, a bad assertion) does.
NOT_A_GUESS = frozenset({"malformed", "no credentials"})


def _slow_down(decision: Decision) -> SlowDown:
    return SlowDown(
        "too many requests; retry later",
        {
            "Retry-After": str(max(1, math.ceil(decision.retry_after))),
            "RateLimit-Limit": str(decision.limit),
            "RateLimit-Remaining": str(decision.remaining),
            "RateLimit-Reset": str(max(1, math.ceil(decision.reset_after))),
        },
    )


def _limit(rt: KeyRuntime, bucket: str, rate_name: str, consume: bool = True) -> None:
    decision = rt.limiter.hit(bucket, getattr(rt.rates, rate_name), consume)
    if not decision.allowed:
        log.info("oauth.token.rate_limited", bucket=bucket.split(":", 1)[0])
        raise _slow_down(decision)


def before_auth(rt: KeyRuntime, ip: str, claimed: str | None) -> None:
    _limit(rt, f"ip:{ip}", "per_ip")
    _limit(rt, f"fail-ip:{ip}", "fail_ip", consume=False)
    if claimed:
        _limit(rt, f"fail-key:{claimed}", "fail_key", consume=False)


def refused(rt: KeyRuntime, ip: str, client_id: str | None, reason: str) -> None:
    rt.limiter.hit(f"fail-ip:{ip}", rt.rates.fail_ip)
    if client_id and reason not in NOT_A_GUESS:
        rt.limiter.hit(f"fail-key:{client_id}", rt.rates.fail_key)


def after_auth(rt: KeyRuntime, key_id: str) -> None:
    _limit(rt, f"key:{key_id}", "per_key")
