"""The sync agent (``ostiary sync``): push a source of truth to any SCIM 2.0 server.

Imports only :mod:`ostiary.core` and SCIM resource constants (import-linter enforces it).
"""
