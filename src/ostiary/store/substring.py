"""Text rules of the SCIM substring operators (``co``/``sw``/``ew``, RFC 7644 section
3.4.2.2) that the SQL translator (``scim_query``) builds on: LIKE escaping, the upper
bound of a prefix range, the part of an address-spanning value that drives a trigram
index, and whether a filter holds a substring comparison at all."""

from __future__ import annotations

from ostiary.scim.filter import And, AnyOf, Cmp, Neg, Node, Or


def like_escape(value: str) -> str:
    """Escape LIKE's wildcards so a value matches only itself (ESCAPE '\\')."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def next_prefix(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix``."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF and not 0xD7FF <= last < 0xE000:
            return prefix[:-1] + chr(last + 1)
        prefix = prefix[:-1]
    return None


def address_head(value: str) -> str | None:
    """For a ``co``/``ew`` value that spans an address's ``@`` ("smith@contoso"), the
    part up to and including its last ``@``; None when there is no such part to use.

    Why: a directory has few domains, so the trigrams of the text after ``@`` ("con",
    "ont", ...) are in nearly every row, and a GIN scan intersecting them reads their
    whole posting lists (about 1,100 buffers at 1M users whatever the result: see
    docs/performance.md). Driving the index with the head alone ("%smith@%") and checking
    the whole value on the rows it finds returns the same rows. The head must end in two
    or more letters or digits, so pg_trgm extracts a trigram from it (else the index
    would be scanned whole).
    """
    at = value.rfind("@")
    if at < 2 or at == len(value) - 1:
        return None
    if not (value[at - 1].isalnum() and value[at - 2].isalnum()):
        return None
    return value[: at + 1]


def has_substring(node: Node) -> bool:
    """Whether a co, sw or ew comparison occurs anywhere in ``node``."""
    if isinstance(node, Cmp):
        return node.op in ("co", "sw", "ew")
    if isinstance(node, And | Or):
        return any(has_substring(t) for t in node.terms)
    if isinstance(node, Neg):
        return has_substring(node.term)
    if isinstance(node, AnyOf):
        return node.cond is not None and has_substring(node.cond)
    return False
