"""Anomaly detection in the domain (issue 4 point 8): volume against the key's own
baseline, and the quiet period that keeps an attack from flooding the audit log."""

from __future__ import annotations

import pytest

from ostiary.keys.anomaly import Action, AnomalyConfig, AnomalyDetector, Kind, parse_actions
from ostiary.keys.errors import PolicyViolation


def test_volume_far_above_the_keys_baseline_is_flagged_once():
    det = AnomalyDetector(AnomalyConfig())
    now = 0.0
    for _minute in range(6):  # a steady 20 requests a minute
        for _ in range(20):
            found, _ = det.observe_use("k", "10.0.0.0/24", (), now)
            assert not found
        now += 60
    findings = []
    for _ in range(300):  # 15x the baseline within one minute
        findings += det.observe_use("k", "10.0.0.0/24", (), now)[0]
    assert [f.kind for f in findings] == [Kind.VOLUME]
    assert findings[0].detail["baseline_per_minute"] == pytest.approx(20, abs=1)


def test_new_network_after_the_first_is_flagged_and_learnt():
    det = AnomalyDetector(AnomalyConfig(quiet=0))
    assert det.observe_use("k", "10.0.0.0/24", (), 0)[0] == []  # first network: learnt
    found, learned = det.observe_use("k", "192.0.2.0/24", (), 1)
    assert [f.kind for f in found] == [Kind.NEW_NETWORK] and learned
    assert det.observe_use("k", "192.0.2.0/24", (), 2) == ([], False)


def test_findings_are_rate_limited_per_key_and_kind():
    det = AnomalyDetector(AnomalyConfig(quiet=300))
    assert det.observe_refused("k", "rotated", 0) is not None
    assert det.observe_refused("k", "disabled", 10) is None
    assert det.observe_refused("other", "disabled", 10) is not None
    assert det.observe_refused("k", "wrong", 400) is None  # not a retired-key use
    assert det.observe_refused("k", "revoked", 400) is not None


def test_deprovision_share_in_a_window():
    det = AnomalyDetector(
        AnomalyConfig(deprovision_share=0.1, deprovision_min=5, deprovision_window=3600, quiet=0)
    )
    assert det.check_deprovision("k", 4, 100, 0) is None
    hit = det.check_deprovision("k", 7, 100, 10)
    assert hit is not None and hit.detail["deprovisioned"] == 11
    assert det.check_deprovision("k", 1, 100, 3700) is None  # the window moved on


def test_only_known_actions_and_hold_only_for_deprovisioning():
    assert parse_actions({"volume": "suspend"}) == {Kind.VOLUME: Action.SUSPEND}
    with pytest.raises(PolicyViolation):
        parse_actions({"volume": "hold"})
    with pytest.raises(PolicyViolation):
        parse_actions({"volume": "explode"})
