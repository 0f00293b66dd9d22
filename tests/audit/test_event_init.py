"""The spelled-out ``__init__`` of the audit's frozen classes (issue 5 point 6: the audit
adds under 10% to a SCIM create; docs/performance.md, auditinit). ``AuditEvent``,
``Actor`` and ``RequestInfo`` set their ``__dict__`` in one step instead of the frozen
dataclass's ``object.__setattr__`` per field. Each must take the same parameters as the
``__init__`` ``@dataclass(frozen=True)`` generates for its fields, build an equal
instance with the same field values, and stay frozen; otherwise an entry (issue 5 point 2:
hashed from these fields) could change."""

from __future__ import annotations

import dataclasses
import inspect
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ostiary.audit.entries import canonical, event_document
from ostiary.audit.events import Actor, AuditEvent, RequestInfo

CLASSES = [Actor, RequestInfo, AuditEvent]
_AT = datetime(2026, 11, 30, 4, 0, 0, 123456, tzinfo=UTC)
# The required parameters of each class.
REQUIRED: dict[type, dict[str, Any]] = {
    Actor: {"kind": "key", "id": "k1"},
    RequestInfo: {},
    AuditEvent: {"action": "scim.user.create", "actor": Actor("key", "k1")},
}


def reference(cls: type) -> type:
    """``cls``'s fields under the ``__init__`` ``@dataclass(frozen=True)`` generates."""
    specs = []
    for f in dataclasses.fields(cls):
        default: Any = dataclasses.field(default=f.default, default_factory=f.default_factory)
        specs.append((f.name, f.type, default))
    return dataclasses.make_dataclass(f"Generated{cls.__name__}", specs, frozen=True)


def values(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


@pytest.mark.parametrize("cls", CLASSES)
def test_parameters_are_the_fields_in_order_with_their_defaults(cls: type) -> None:
    ours = inspect.signature(cls).parameters
    generated = inspect.signature(reference(cls)).parameters
    assert list(ours) == list(generated) == [f.name for f in dataclasses.fields(cls)]
    for name, param in generated.items():
        assert ours[name].kind == param.kind, name
        required = param.default is inspect.Parameter.empty
        assert (ours[name].default is inspect.Parameter.empty) == required, name


@pytest.mark.parametrize("cls", CLASSES)
def test_defaults_give_the_generated_values(cls: type) -> None:
    args = REQUIRED[cls]
    ours, generated = cls(**args), reference(cls)(**args)
    assert values(ours) == values(generated)
    assert ours == cls(**values(generated))
    if cls is AuditEvent:  # a default ``detail`` is a new dict per event, as default_factory
        assert ours.detail is not cls(**args).detail


@pytest.mark.parametrize("cls", CLASSES)
def test_still_frozen(cls: type) -> None:
    obj = cls(**REQUIRED[cls])
    name = dataclasses.fields(cls)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, name, "changed")
    with pytest.raises(dataclasses.FrozenInstanceError):
        delattr(obj, name)
    assert dataclasses.replace(obj) == obj


text = st.none() | st.text(max_size=8)
documents = st.none() | st.dictionaries(
    st.text(max_size=5), st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5)
)


@given(
    actor=st.builds(
        Actor,
        kind=st.text(max_size=5),
        id=st.text(max_size=5),
        auth=text,
        key_version=st.none() | st.integers(-(2**63), 2**63 - 1),
        client_id=text,
        jkt=text,
    ),
    request=st.builds(RequestInfo, source_ip=text, user_agent=text, request_id=text),
    outcome=st.sampled_from(["success", "failure", "denied"]),
    target_type=text,
    target_id=text,
    before=documents,
    after=documents,
    detail=st.dictionaries(st.text(max_size=5), st.integers(-(2**63), 2**63 - 1), max_size=3),
)
def test_same_event_and_entry_as_the_generated_init(**kw: Any) -> None:
    event = AuditEvent("scim.user.create", **kw)
    generated = reference(AuditEvent)("scim.user.create", **kw)
    assert values(event) == values(generated)
    assert values(event.actor) == values(reference(Actor)(**values(kw["actor"])))
    assert values(event.request) == values(reference(RequestInfo)(**values(kw["request"])))
    entry = canonical(event_document(event, "id", _AT))
    assert entry == canonical(event_document(generated, "id", _AT))  # type: ignore[arg-type]
