"""The attribute catalogue filters, sorting and projection resolve names against.

RFC 7643 sections 4.1, 4.2, 4.3 and 8.7.1: each attribute's type, caseExact, multiValued,
sub-attributes and ``returned``. The catalogue is the single place that says what a
filter may name: an attribute missing from it is an unknown attribute (400
``invalidFilter``), never a clause quietly ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ostiary.scim import schemas

STRING, BOOLEAN, DATETIME, REFERENCE, BINARY, COMPLEX = (
    "string",
    "boolean",
    "dateTime",
    "reference",
    "binary",
    "complex",
)


@dataclass(frozen=True)
class AttrDef:
    name: str
    type: str = STRING
    case_exact: bool = False
    multi: bool = False
    sub: Mapping[str, AttrDef] = field(default_factory=dict)
    returned: str = "default"  # always | never | default | request

    def child(self, name: str) -> AttrDef | None:
        return self.sub.get(name.lower())


def _attrs(*defs: AttrDef) -> dict[str, AttrDef]:
    return {d.name.lower(): d for d in defs}


def _s(name: str, **kw: object) -> AttrDef:
    return AttrDef(name, STRING, **kw)  # type: ignore[arg-type]


def _multi(name: str, *extra: AttrDef, value_type: str = STRING, exact: bool = False) -> AttrDef:
    """A multi-valued complex attribute with the canonical value/display/type/primary."""
    subs = _attrs(
        AttrDef("value", value_type, case_exact=exact),
        _s("display"),
        _s("type"),
        AttrDef("primary", BOOLEAN),
        *extra,
    )
    return AttrDef(name, COMPLEX, multi=True, sub=subs)


META = AttrDef(
    "meta",
    COMPLEX,
    sub=_attrs(
        _s("resourceType", case_exact=True),
        AttrDef("created", DATETIME),
        AttrDef("lastModified", DATETIME),
        AttrDef("location", REFERENCE, case_exact=True),
        _s("version", case_exact=True),
    ),
    returned="always",
)
COMMON = (
    _s("id", case_exact=True, returned="always"),
    _s("externalId", case_exact=True),
    META,
)

NAME = AttrDef(
    "name",
    COMPLEX,
    sub=_attrs(
        _s("formatted"),
        _s("familyName"),
        _s("givenName"),
        _s("middleName"),
        _s("honorificPrefix"),
        _s("honorificSuffix"),
    ),
)
ADDRESS_PARTS = (
    _s("formatted"),
    _s("streetAddress"),
    _s("locality"),
    _s("region"),
    _s("postalCode"),
    _s("country"),
)

USER_CORE = _attrs(
    *COMMON,
    _s("userName", returned="always"),  # as /Schemas declares (scim/attributes.py)
    NAME,
    _s("displayName"),
    _s("nickName"),
    AttrDef("profileUrl", REFERENCE, case_exact=True),
    _s("title"),
    _s("userType"),
    _s("preferredLanguage"),
    _s("locale"),
    _s("timezone"),
    AttrDef("active", BOOLEAN),
    _s("password", returned="never"),
    _multi("emails"),
    _multi("phoneNumbers"),
    _multi("ims"),
    _multi("photos", value_type=REFERENCE, exact=True),
    AttrDef(
        "addresses",
        COMPLEX,
        multi=True,
        sub=_attrs(*ADDRESS_PARTS, _s("type"), AttrDef("primary", BOOLEAN)),
    ),
    AttrDef(
        "groups",
        COMPLEX,
        multi=True,
        sub=_attrs(
            _s("value", case_exact=True),
            AttrDef("$ref", REFERENCE, case_exact=True),
            _s("display"),
            _s("type"),
        ),
    ),
    _multi("entitlements"),
    _multi("roles"),
    _multi("x509Certificates", value_type=BINARY, exact=True),
)

ENTERPRISE = _attrs(
    _s("employeeNumber"),
    _s("costCenter"),
    _s("organization"),
    _s("division"),
    _s("department"),
    AttrDef(
        "manager",
        COMPLEX,
        sub=_attrs(
            _s("value", case_exact=True),
            AttrDef("$ref", REFERENCE, case_exact=True),
            _s("displayName"),
        ),
    ),
)

GROUP_CORE = _attrs(
    *COMMON,
    _s("displayName"),
    AttrDef(
        "members",
        COMPLEX,
        multi=True,
        sub=_attrs(
            _s("value", case_exact=True),
            AttrDef("$ref", REFERENCE, case_exact=True),
            _s("type"),
            _s("display"),
        ),
    ),
)


@dataclass(frozen=True)
class ResourceSchema:
    """One resource type: its core schema URN and attributes, and its extensions."""

    name: str
    core_urn: str
    core: Mapping[str, AttrDef]
    extensions: Mapping[str, Mapping[str, AttrDef]]

    def schema_for(self, urn: str | None) -> tuple[str | None, Mapping[str, AttrDef]] | None:
        """The (extension URN or None for core, attributes) a URN prefix names."""
        if urn is None or urn.lower() == self.core_urn.lower():
            return None, self.core
        for ext_urn, attrs in self.extensions.items():
            if urn.lower() == ext_urn.lower():
                return ext_urn, attrs
        return None


USER = ResourceSchema("User", schemas.USER, USER_CORE, {schemas.ENTERPRISE_USER: ENTERPRISE})
GROUP = ResourceSchema("Group", schemas.GROUP, GROUP_CORE, {})
RESOURCES = {"User": USER, "Group": GROUP}
