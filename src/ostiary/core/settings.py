"""Effective configuration: ``OSTIARY_*`` environment variables over an optional TOML file
(``OSTIARY_CONFIG``, default ``./ostiary.toml``) over defaults.

A bad value becomes one :class:`ConfigError` naming the setting, so the CLI can print a
single line and exit 2 instead of a traceback.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ostiary.core.errors import ConfigError

ENV_PREFIX = "OSTIARY_"


def _config_file() -> Path:
    return Path(os.environ.get("OSTIARY_CONFIG", "ostiary.toml"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    database_url: str = "sqlite:///./var/ostiary.db"
    master_key: SecretStr | None = Field(
        default=None, description="base64url 32-byte key, optionally 'kid:key'"
    )
    master_key_previous: SecretStr | None = Field(
        default=None, description="the master key being rotated away from ('kid:key')"
    )
    master_key_file: Path = Path("./var/master.key")
    kms_provider: str | None = Field(
        default=None, description="'module:factory' returning a MasterKeyProvider"
    )
    redis_url: str | None = None

    issuer: str = "http://127.0.0.1:8000"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    log_level: str = "info"
    log_json: bool = True

    key_max_lifetime_days: int = Field(default=90, ge=1, le=3650)
    key_default_lifetime_days: int = Field(default=90, ge=1, le=3650)
    key_idle_expiry_days: int = Field(default=30, ge=1, le=3650)

    scim_max_results: int = Field(default=1000, ge=1)
    scim_default_count: int = Field(default=100, ge=1)
    scim_bulk_max_operations: int = Field(default=1000, ge=1)
    scim_bulk_max_payload_bytes: int = Field(default=1_048_576, ge=1024)

    # OpenID Provider and OAuth token endpoint (oidc)
    jwks_max_age_seconds: int = Field(default=600, ge=60, le=86400)
    signing_key_rotate_days: int = Field(default=30, ge=1, le=3650)
    access_token_lifetime_seconds: int = Field(default=600, ge=30, le=900)
    dpop_nonce_required: bool = False
    dpop_max_age_seconds: int = Field(default=60, ge=5, le=600)
    client_assertion_max_lifetime_seconds: int = Field(default=300, ge=30, le=300)
    dynamic_registration: bool = False  # RFC 7591/7592, with an initial access token
    session_lifetime_hours: int = Field(default=12, ge=1, le=24 * 30)

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.lower()
        if value not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return value

    @field_validator("database_url")
    @classmethod
    def _db(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must be a sqlite:/// or postgresql+psycopg:// URL")
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            value = "postgresql+psycopg://" + value.split("://", 1)[1]
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_config_file())
        return (init_settings, env_settings, toml)

    def masked(self) -> dict[str, Any]:
        """Every effective setting, secrets replaced so the output can be shared."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = "********" if value.get_secret_value() else None
            elif name in {"database_url", "redis_url"} and isinstance(value, str):
                value = _mask_url_password(value)
            elif isinstance(value, Path):
                value = str(value)
            out[name] = value
        return out


def _mask_url_password(url: str) -> str:
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":********"
    return f"{scheme}://{creds}@{host}"


def load_settings(**overrides: Any) -> Settings:
    """Build settings or raise one :class:`ConfigError` naming the first bad setting."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err.get("loc", ())) or "settings"
        name = ENV_PREFIX + loc.upper() if err.get("type") != "extra_forbidden" else loc
        raise ConfigError(f"invalid setting {name}: {err.get('msg')}") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"invalid configuration file {_config_file()}: {exc}") from None
