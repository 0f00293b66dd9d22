"""Base errors. Each package derives its own in its ``errors.py``."""

from __future__ import annotations


class OstiaryError(Exception):
    """Root of every error Ostiary raises on purpose."""


class ConfigError(OstiaryError):
    """A setting is missing or invalid; the message names the setting."""


class VaultError(OstiaryError):
    """A secret could not be sealed or opened (wrong or missing master key, tampering)."""


class NotFound(OstiaryError):
    """A requested record does not exist."""


class Conflict(OstiaryError):
    """A write would break a uniqueness or state rule."""
