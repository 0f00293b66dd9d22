"""A key's audit actor (issue 5 point 1: an event names the key's id and version)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary.audit.events import Actor
from ostiary.keys.models import KeyPrincipal
from ostiary.web import audit


def _principal(key_id: str, version: int) -> KeyPrincipal:
    return KeyPrincipal(key_id=key_id, version=version, name="n", scopes=frozenset())


@given(key_id=st.text(min_size=1, max_size=40), version=st.integers(0, 2**31))
def test_key_actor_names_the_key_and_version_each_time(key_id: str, version: int) -> None:
    """The shared actor equals the one built afresh, for the first and a repeated call,
    and a second secret version of the same key gets its own actor."""
    expected = Actor(kind="key", id=key_id, auth="bearer_key", key_version=version)
    first = audit.key_actor(_principal(key_id, version))
    assert first == expected
    assert first.as_dict() == expected.as_dict()
    assert audit.key_actor(_principal(key_id, version)) == expected
    other = audit.key_actor(_principal(key_id, version + 1))
    assert other.key_version == version + 1
    assert other.id == key_id


def test_key_actor_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """At most ACTORS_KEPT pairs are kept, and a pair dropped is built again correctly."""
    monkeypatch.setattr(audit, "ACTORS_KEPT", 3)
    monkeypatch.setattr(audit, "_ACTORS", {})
    for i in range(10):
        assert audit.key_actor(_principal(f"k{i}", 1)).id == f"k{i}"
        assert len(audit._ACTORS) <= 3
    assert audit.key_actor(_principal("k0", 1)) == Actor("key", "k0", "bearer_key", 1)
