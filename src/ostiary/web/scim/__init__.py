"""SCIM 2.0 HTTP endpoints under /scim/v2 (plain Starlette routes returning orjson bytes)."""
