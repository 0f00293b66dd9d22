"""LDAP and Active Directory as a source, through ldap3.

Options (``[source] type = "ldap"``): ``url``, ``bind_dn``, ``password`` (a secret
reference), ``base_dn``, ``filter`` (default ``(objectClass=inetOrgPerson)``),
``attributes`` (fetched; default all user attributes), ``start_tls``.
Group memberships come from a multi-valued attribute (``memberOf``, or AD's) mapped with
``[groups] column = "memberOf", transforms = ["cn"]``; or from group entries with
``group_base_dn`` + ``group_filter`` (``groupOfNames``/``groupOfUniqueNames``/AD groups),
which fills a synthetic ``groups`` column.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ostiary.sync.config import SourceConfig
from ostiary.sync.errors import ConfigInvalid, SourceError
from ostiary.sync.secrets import SecretRef

PAGE = 500
MEMBER_ATTRS = ("member", "uniqueMember")


def ldap3_module() -> ModuleType:
    """ldap3 2.9 touches pyasn1 names that newer pyasn1 deprecates at import time; the
    warning is theirs, not a problem of ours, so it is silenced for that one import."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r".*Map is deprecated", DeprecationWarning)
        import ldap3
    module: ModuleType = ldap3
    return module


@dataclass
class LdapSource:
    url: str
    base_dn: str
    bind_dn: str | None = None
    password: SecretRef | None = None
    filter: str = "(objectClass=inetOrgPerson)"
    attributes: tuple[str, ...] | None = None
    group_base_dn: str | None = None
    group_filter: str = "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
    start_tls: bool = False
    delta_attribute: str = "modifyTimestamp"
    watermark: str | None = None  # the newest delta_attribute value seen

    @classmethod
    def from_config(cls, cfg: SourceConfig) -> LdapSource:
        o = cfg.options
        if not isinstance(o.get("url"), str) or not isinstance(o.get("base_dn"), str):
            raise ConfigInvalid("an ldap source needs source.url and source.base_dn")
        if not o["url"].startswith(("ldap://", "ldaps://")):
            raise ConfigInvalid("source.url must be ldap:// or ldaps://")
        attrs = o.get("attributes")
        return cls(
            url=o["url"],
            base_dn=o["base_dn"],
            bind_dn=o.get("bind_dn"),
            password=cfg.secret,
            filter=o.get("filter", cls.filter),
            attributes=tuple(attrs) if attrs else None,
            group_base_dn=o.get("group_base_dn"),
            group_filter=o.get("group_filter", cls.group_filter),
            start_tls=bool(o.get("start_tls", False)),
            delta_attribute=str(o.get("delta_attribute", "modifyTimestamp")),
        )

    def _connect(self) -> Any:
        ldap3 = ldap3_module()
        from ldap3.core.exceptions import LDAPException

        server = ldap3.Server(self.url, get_info=ldap3.NONE, connect_timeout=10)
        conn = ldap3.Connection(
            server,
            user=self.bind_dn,
            password=self.password.resolve() if self.password else None,
            receive_timeout=30,
            raise_exceptions=True,
            read_only=True,
        )
        try:
            conn.open()
            if self.start_tls:
                conn.start_tls()
            conn.bind()
            return conn
        except LDAPException as exc:
            _close(conn)
            # ldap3 messages carry the DN and the server's words, never the password.
            raise SourceError(f"LDAP {self.url}: {type(exc).__name__}: {exc}") from None

    def _search(self, conn: Any, base: str, flt: str, attrs: Any) -> list[dict[str, Any]]:
        SUBTREE = ldap3_module().SUBTREE
        from ldap3.core.exceptions import LDAPException

        try:
            entries = conn.extend.standard.paged_search(
                base, flt, search_scope=SUBTREE, attributes=attrs, paged_size=PAGE, generator=False
            )
        except LDAPException as exc:
            raise SourceError(f"LDAP search {base} {flt}: {type(exc).__name__}: {exc}") from exc
        return [e for e in entries if e.get("type") == "searchResEntry"]

    def records(self) -> list[dict[str, Any]]:
        ldap3 = ldap3_module()
        attrs = list(self.attributes) if self.attributes else [ldap3.ALL_ATTRIBUTES]
        attrs.append("modifyTimestamp")
        conn = self._connect()
        try:
            entries = self._search(conn, self.base_dn, self.filter, attrs)
            groups = self._groups(conn) if self.group_base_dn else {}
        finally:
            conn.unbind()
        out = []
        for e in entries:
            rec = {k: _scalar(v) for k, v in e["raw_attributes"].items()}
            rec.update({k: _scalar(v) for k, v in e["attributes"].items() if v not in ([], None)})
            rec["dn"] = e["dn"]
            if self.group_base_dn:
                rec["groups"] = sorted(groups.get(e["dn"].lower(), []))
            out.append(rec)
        return out

    def _groups(self, conn: Any) -> dict[str, list[str]]:
        assert self.group_base_dn is not None
        found = self._search(conn, self.group_base_dn, self.group_filter, ["cn", *MEMBER_ATTRS])
        by_member: dict[str, list[str]] = {}
        for g in found:
            name = _scalar(g["attributes"].get("cn"))
            name = name[0] if isinstance(name, list) else name
            for attr in MEMBER_ATTRS:
                for dn in g["attributes"].get(attr) or []:
                    by_member.setdefault(str(dn).lower(), []).append(str(name))
        return by_member

    def fingerprint(self) -> str:
        """A delta search: entries changed since the last seen ``delta_attribute`` value
        (``modifyTimestamp``, or Active Directory's ``uSNChanged``)."""
        from ldap3.utils.conv import escape_filter_chars

        attr, flt = self.delta_attribute, self.filter
        if self.watermark:
            flt = f"(&{self.filter}({attr}>={escape_filter_chars(self.watermark)}))"
        conn = self._connect()
        try:
            entries = self._search(conn, self.base_dn, flt, [attr])
        finally:
            conn.unbind()
        seen = [s for s in (_stamp(e["raw_attributes"].get(attr)) for e in entries) if s]
        if self.watermark:
            seen.append(self.watermark)
        # GeneralizedTime sorts as text; a USN is a number ("999" < "1000").
        newest = max(seen, key=lambda v: (len(v), v) if v.isdigit() else (0, v), default=None)
        self.watermark = newest
        return self.watermark or ""


def _close(conn: Any) -> None:
    # A failed open() or bind() leaves ldap3's socket open; unbind closes it.
    with contextlib.suppress(Exception):  # best effort on an already failed connection
        conn.unbind()


def _stamp(raw: Any) -> str | None:
    if not raw:
        return None
    value = raw[0] if isinstance(raw, list) else raw
    return value.decode() if isinstance(value, bytes) else str(value)


def _scalar(value: Any) -> Any:
    """Single-valued LDAP attributes as a value, multi-valued as a list."""
    if isinstance(value, list):
        return value[0] if len(value) == 1 else list(value)
    return value
