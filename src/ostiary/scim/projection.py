"""``attributes`` and ``excludedAttributes`` (RFC 7644 sections 3.4.2.5 and 3.9) applied
to a rendered resource, honouring each attribute's ``returned`` (RFC 7643 section 7).

``project(resource, schema, attributes, excluded)`` works on any rendered User or Group
dict, so every endpoint that returns resources (list, search, GET, POST, PUT, PATCH) can
call it the same way:

- ``always`` (id, schemas, meta) are returned whatever the parameters say;
- ``never`` (password) is never returned;
- ``default`` attributes are returned unless excluded, or unless ``attributes`` is given
  and does not name them; ``request`` ones only when ``attributes`` names them.

Names match case-insensitively, may carry their schema URN
(``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber``) or name
a whole extension by its URN, and may name a sub-attribute (``name.givenName``,
``emails.value``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ostiary.scim.filter import UnknownAttribute, resolve_top, split_attr_path
from ostiary.scim.filter_schema import AttrDef, ResourceSchema

ALWAYS_KEYS = ("schemas", "id", "meta")


def parse_list(raw: str | Sequence[str] | None) -> list[str] | None:
    """A comma-separated query parameter, or a SearchRequest's list, as a list of names."""
    if raw is None:
        return None
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    names = [i.strip() for i in items if isinstance(i, str) and i.strip()]
    return names or None


def _path(schema: ResourceSchema, name: str) -> tuple[str, ...]:
    """The canonical key path a name selects; unknown names select their literal key."""
    for urn in (schema.core_urn, *schema.extensions):
        if name.lower() == urn.lower():
            return () if urn == schema.core_urn else (urn,)
    try:
        ref, sub = resolve_top(schema, split_attr_path(name))
    except UnknownAttribute:
        # An attribute of an extension this catalogue does not describe: select by key.
        return tuple(name.split("."))
    return (*ref.path, sub.name) if sub is not None else ref.path


def attribute_path(schema: ResourceSchema, name: str) -> tuple[str, ...]:
    """The key path ``name`` selects in a rendered resource (() for the core schema)."""
    return _path(schema, name)


def _key(doc: Mapping[str, Any], name: str) -> str | None:
    if name in doc:
        return name
    folded = name.casefold()
    return next((k for k in doc if k.casefold() == folded), None)


def _attr(schema: ResourceSchema, key: str) -> AttrDef | None:
    return schema.core.get(key.lower())


def _pick(value: Any, path: tuple[str, ...]) -> Any:
    """The part of ``value`` under ``path`` (through lists element by element)."""
    if not path:
        return value
    if isinstance(value, list):
        picked = [_pick(v, path) for v in value]
        return [p for p in picked if p not in (None, {})]
    if not isinstance(value, Mapping):
        return None
    key = _key(value, path[0])
    if key is None:
        return None
    inner = _pick(value[key], path[1:])
    return None if inner in (None, [], {}) else {key: inner}


def _merge(into: dict[str, Any], part: Mapping[str, Any]) -> None:
    for key, value in part.items():
        if key in into and isinstance(into[key], dict) and isinstance(value, Mapping):
            _merge(into[key], value)
        elif key in into and isinstance(into[key], list) and isinstance(value, list):
            into[key] = [
                {**a, **b} if isinstance(a, dict) and isinstance(b, dict) else a
                for a, b in zip(into[key], value, strict=False)
            ]
        else:
            into[key] = value


def _drop(value: Any, path: tuple[str, ...]) -> None:
    if isinstance(value, list):
        for v in value:
            _drop(v, path)
        return
    if not isinstance(value, dict) or not path:
        return
    key = _key(value, path[0])
    if key is None:
        return
    if len(path) == 1:
        del value[key]
    else:
        _drop(value[key], path[1:])


def _always(resource: Mapping[str, Any], schema: ResourceSchema) -> dict[str, Any]:
    out = {k: resource[k] for k in ALWAYS_KEYS if k in resource}
    for key, value in resource.items():
        attr = _attr(schema, key)
        if attr is not None and attr.returned == "always":
            out[key] = value
    return out


def _never(schema: ResourceSchema) -> Iterable[tuple[str, ...]]:
    """Paths returned only on request (or never), extension attributes included; worked
    out once per schema (every rendered resource is projected, most with no parameters)."""
    cached = _NEVER.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    paths = _never_paths(schema)
    _NEVER[id(schema)] = (schema, paths)
    return paths


# id(schema) -> (schema, its paths); the schema is kept so its id cannot be reused.
_NEVER: dict[int, tuple[ResourceSchema, list[tuple[str, ...]]]] = {}


def _never_paths(schema: ResourceSchema) -> list[tuple[str, ...]]:
    blocks = [((), schema.core), *(((urn,), attrs) for urn, attrs in schema.extensions.items())]
    return [
        (*prefix, a.name)
        for prefix, attrs in blocks
        for a in attrs.values()
        if a.returned in ("never", "request")
    ]


def project(
    resource: Mapping[str, Any],
    schema: ResourceSchema,
    attributes: Sequence[str] | None = None,
    excluded: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The representation of ``resource`` a client asked for."""
    return projector(schema, attributes, excluded)(resource)


def projector(
    schema: ResourceSchema,
    attributes: Sequence[str] | None = None,
    excluded: Sequence[str] | None = None,
) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """``project`` with the names resolved once, for a page of resources: resolving a
    name (URN, sub-attribute, case) cost more than picking it (a fetch of 50 users by
    ``id`` with nine attributes resolved 450 names; docs/performance.md, session 10)."""
    picks = [_path(schema, name) for name in attributes] if attributes else None
    drops = []
    for name in excluded or ():
        path = _path(schema, name)
        top = _attr(schema, path[0]) if path else None
        if not path or path[0] in ALWAYS_KEYS or (top is not None and top.returned == "always"):
            continue  # excludedAttributes has no effect on "always" (section 3.4.2.5)
        drops.append(path)

    def apply(resource: Mapping[str, Any]) -> dict[str, Any]:
        if picks is not None:
            out = _always(resource, schema)
            for path in picks:
                part = _pick(resource, path) if path else dict(resource)
                if isinstance(part, Mapping):
                    _merge(out, {k: v for k, v in part.items() if k not in ALWAYS_KEYS})
        else:
            out = {k: v for k, v in resource.items()}
            for path in _never(schema):
                out = _copy_path(out, path)
                _drop(out, path)
        for path in drops:
            out = _copy_path(out, path)
            _drop(out, path)
        _prune_schemas(out, schema)
        return out

    return apply


def _copy_path(doc: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """Copy what ``_drop`` will modify so the caller's resource is never changed."""
    key = _key(doc, path[0])
    if key is None or len(path) == 1:
        return dict(doc)
    value = doc[key]
    copy: Any
    if isinstance(value, list):
        copy = [dict(v) if isinstance(v, dict) else v for v in value]
    elif isinstance(value, dict):
        copy = _copy_path(value, path[1:])
    else:
        copy = value
    return {**doc, key: copy}


def _prune_schemas(out: dict[str, Any], schema: ResourceSchema) -> None:
    """An extension URN stays in ``schemas`` only when its attributes are present."""
    for urn in schema.extensions:
        if out.get(urn) == {}:
            del out[urn]  # everything in it was excluded or not returned
    listed = out.get("schemas")
    if not isinstance(listed, list):
        return
    out["schemas"] = [s for s in listed if s not in schema.extensions or s in out]


def wants(
    schema: ResourceSchema,
    name: str,
    attributes: Sequence[str] | None,
    excluded: Sequence[str] | None,
) -> bool:
    """Whether a projection keeps any of top-level attribute ``name`` (so a caller can
    skip loading it: a group's 100,000 members under ``excludedAttributes=members``)."""
    if attributes:
        return any(_path(schema, a)[:1] in ((name,), ()) for a in attributes)
    return not any(_path(schema, e) == (name,) for e in excluded or ())
