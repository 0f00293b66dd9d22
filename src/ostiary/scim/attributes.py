"""Attribute definitions (RFC 7643 section 2.2 characteristics) for every schema we serve.

One table drives everything: the ``/Schemas`` documents, input validation (types,
required, multiValued, canonicalValues, mutability), and what filters, sorting and
projection resolve names against (caseExact, returned; see ``registry.ResourceSchema``).
Keeping them in one place means discovery can never advertise what the server does not
do. Server-assigned identifiers and references (member, group and manager values,
``$ref``) are caseExact: they are compared as stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ostiary.scim import schemas


@dataclass(frozen=True)
class Attr:
    name: str
    type: str = "string"  # string boolean decimal integer dateTime reference complex binary
    multi: bool = False
    required: bool = False
    mutability: str = "readWrite"  # readOnly readWrite immutable writeOnly
    returned: str = "default"  # always never default request
    uniqueness: str = "none"  # none server global
    case_exact: bool = False
    sub: tuple[Attr, ...] = ()
    canonical: tuple[str, ...] = ()
    # Custom extensions declare canonicalValues as a closed set; the RFC's own lists
    # (email types...) are suggestions clients routinely extend ("SHOULD", section 2.3.2).
    strict_canonical: bool = False
    reference_types: tuple[str, ...] = ()
    description: str = ""
    _index: dict[str, Attr] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._index.update({a.name.lower(): a for a in self.sub})

    def child(self, name: str) -> Attr | None:
        return self._index.get(name.lower())

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi,
            "description": self.description or self.name,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": self.returned,
            "uniqueness": self.uniqueness,
        }
        if self.canonical:
            doc["canonicalValues"] = list(self.canonical)
        if self.reference_types:
            doc["referenceTypes"] = list(self.reference_types)
        if self.sub:
            doc["subAttributes"] = [a.document() for a in self.sub]
        return doc


@dataclass(frozen=True)
class SchemaDef:
    urn: str
    name: str
    description: str
    attrs: tuple[Attr, ...]
    _index: dict[str, Attr] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._index.update({a.name.lower(): a for a in self.attrs})

    def attr(self, name: str) -> Attr | None:
        return self._index.get(name.lower())

    def document(self, base_url: str) -> dict[str, Any]:
        return {
            "schemas": [schemas.SCHEMA],
            "id": self.urn,
            "name": self.name,
            "description": self.description,
            "attributes": [a.document() for a in self.attrs],
            "meta": {"resourceType": "Schema", "location": f"{base_url}/Schemas/{self.urn}"},
        }


def _s(name: str, **kw: Any) -> Attr:
    return Attr(name, **kw)


def _multi(
    name: str,
    *extra: Attr,
    types: tuple[str, ...] = (),
    value_type: str = "string",
    ref: tuple[str, ...] = (),
    exact: bool = False,
) -> Attr:
    value = Attr("value", type=value_type, reference_types=ref, case_exact=exact)
    return Attr(
        name,
        type="complex",
        multi=True,
        sub=(
            value,
            Attr("display"),
            Attr("type", canonical=types),
            Attr("primary", type="boolean"),
            *extra,
        ),
    )


_NAME = Attr(
    "name",
    type="complex",
    sub=tuple(
        Attr(n)
        for n in (
            "formatted",
            "familyName",
            "givenName",
            "middleName",
            "honorificPrefix",
            "honorificSuffix",
        )
    ),
)
_ADDRESS = Attr(
    "addresses",
    type="complex",
    multi=True,
    sub=(
        *(
            Attr(n)
            for n in (
                "formatted",
                "streetAddress",
                "locality",
                "region",
                "postalCode",
                "country",
            )
        ),
        Attr("type", canonical=("work", "home", "other")),
        Attr("primary", type="boolean"),
    ),
)


def _member_ref(mutability: str) -> tuple[Attr, Attr]:
    """``value`` and ``$ref`` of a group membership: server ids, compared exactly."""
    return (
        Attr("value", mutability=mutability, case_exact=True),
        Attr(
            "$ref",
            type="reference",
            mutability=mutability,
            case_exact=True,
            reference_types=("User", "Group"),
        ),
    )


_GROUP_REF = Attr(
    "groups",
    type="complex",
    multi=True,
    mutability="readOnly",
    sub=(
        *_member_ref("readOnly"),
        Attr("display", mutability="readOnly"),
        Attr("type", mutability="readOnly", canonical=("direct", "indirect")),
    ),
)

USER_SCHEMA = SchemaDef(
    schemas.USER,
    "User",
    "User Account",
    (
        Attr("id", mutability="readOnly", returned="always", uniqueness="server", case_exact=True),
        Attr("externalId", case_exact=True),
        Attr("userName", required=True, uniqueness="server", returned="always"),
        _NAME,
        *(Attr(n) for n in ("displayName", "nickName")),
        Attr("profileUrl", type="reference", case_exact=True, reference_types=("external",)),
        *(Attr(n) for n in ("title", "userType", "preferredLanguage", "locale", "timezone")),
        Attr("active", type="boolean"),
        Attr("password", mutability="writeOnly", returned="never"),
        _multi("emails", types=("work", "home", "other")),
        _multi("phoneNumbers", types=("work", "home", "mobile", "fax", "pager", "other")),
        _multi("ims", types=("aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo")),
        _multi(
            "photos",
            types=("photo", "thumbnail"),
            value_type="reference",
            ref=("external",),
            exact=True,
        ),
        _ADDRESS,
        _GROUP_REF,
        _multi("entitlements"),
        _multi("roles"),
        _multi("x509Certificates", value_type="binary", exact=True),
    ),
)

ENTERPRISE_SCHEMA = SchemaDef(
    schemas.ENTERPRISE_USER,
    "EnterpriseUser",
    "Enterprise User",
    (
        *(
            Attr(n)
            for n in (
                "employeeNumber",
                "costCenter",
                "organization",
                "division",
                "department",
            )
        ),
        Attr(
            "manager",
            type="complex",
            sub=(
                Attr("value", required=True, case_exact=True),
                Attr("$ref", type="reference", case_exact=True, reference_types=("User",)),
                Attr("displayName", mutability="readOnly"),
            ),
        ),
    ),
)

GROUP_SCHEMA = SchemaDef(
    schemas.GROUP,
    "Group",
    "Group",
    (
        Attr("id", mutability="readOnly", returned="always", uniqueness="server", case_exact=True),
        Attr("externalId", case_exact=True),
        Attr("displayName", required=True),
        Attr(
            "members",
            type="complex",
            multi=True,
            sub=(
                *_member_ref("immutable"),
                Attr("display", mutability="readOnly"),
                Attr("type", mutability="immutable", canonical=("User", "Group")),
            ),
        ),
    ),
)

# The common attribute meta (RFC 7643 section 3.1): not part of any schema document, but
# filters, sorting and projection name it like the attributes above.
META = Attr(
    "meta",
    type="complex",
    mutability="readOnly",
    returned="always",
    sub=(
        Attr("resourceType", mutability="readOnly", case_exact=True),
        Attr("created", type="dateTime", mutability="readOnly"),
        Attr("lastModified", type="dateTime", mutability="readOnly"),
        Attr("location", type="reference", mutability="readOnly", case_exact=True),
        Attr("version", mutability="readOnly", case_exact=True),
    ),
)

# Entra ID adds this URN to Group bodies; it carries nothing we need, so accept and drop it.
MS_GROUP_EXTENSIONS = (
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group",
    "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/Group",
)
