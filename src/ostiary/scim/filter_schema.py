"""The names filters, sorting and projection resolve attribute paths against.

There is one attribute catalogue, :mod:`ostiary.scim.attributes` (RFC 7643 sections 4.1,
4.2, 4.3 and 8.7.1: type, caseExact, multiValued, sub-attributes, returned), which also
drives the ``/Schemas`` documents and input validation; custom extensions from
configuration join it in :mod:`ostiary.scim.registry`. This module only names the view
of it the query side uses (:class:`ResourceSchema`, one per resource type) and the
views of the built-in registry (:data:`USER`, :data:`GROUP`: core schemas and the
enterprise extension). A server with custom extensions uses its configured registry's
views (``ResourceKind.search``) instead, so those extensions are filterable too.

An attribute missing from a view is an unknown attribute (400 ``invalidFilter``), never a
clause quietly ignored.
"""

from __future__ import annotations

from ostiary.scim.attributes import Attr
from ostiary.scim.registry import ResourceSchema, build_registry

STRING, BOOLEAN, DATETIME, REFERENCE, BINARY, COMPLEX = (
    "string",
    "boolean",
    "dateTime",
    "reference",
    "binary",
    "complex",
)
INTEGER, DECIMAL = "integer", "decimal"
NUMBERS = frozenset({INTEGER, DECIMAL})

AttrDef = Attr  # the query side's name for a catalogue attribute

_BUILT_IN = build_registry()
USER = _BUILT_IN.user.search
GROUP = _BUILT_IN.group.search
RESOURCES = {"User": USER, "Group": GROUP}

__all__ = ["GROUP", "RESOURCES", "USER", "AttrDef", "ResourceSchema"]
