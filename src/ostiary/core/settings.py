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

    # --- provisioning keys (issue 4): cache, usage, limits, anomalies, rotation, leaks ---
    key_cache_ttl_seconds: float = Field(default=5.0, ge=0, le=300)
    key_usage_flush_seconds: float = Field(default=10.0, gt=0, le=3600)
    key_rate_per_second: float = Field(default=50.0, gt=0)
    key_rate_burst: int = Field(default=100, ge=1)
    ip_rate_per_second: float = Field(default=50.0, gt=0)
    ip_rate_burst: int = Field(default=100, ge=1)
    auth_fail_ip_per_minute: float = Field(default=30.0, gt=0)
    auth_fail_ip_burst: int = Field(default=20, ge=1)
    auth_fail_key_per_minute: float = Field(default=6.0, gt=0)
    auth_fail_key_burst: int = Field(default=10, ge=1)
    key_anomaly_actions: dict[str, str] = Field(
        default_factory=dict,
        description="anomaly -> alert|require_dpop|suspend (deprovision_burst also: hold)",
    )
    key_volume_factor: float = Field(default=10.0, gt=1)
    key_denial_burst: int = Field(default=10, ge=1)
    key_deprovision_share: float = Field(default=0.10, gt=0, le=1)
    key_deprovision_min: int = Field(default=10, ge=1)
    key_deprovision_window_seconds: float = Field(default=3600.0, gt=0)
    key_expiry_warning_days: list[int] = Field(default_factory=lambda: [14, 7, 1])
    key_webhook_url: str | None = None
    key_redis_prefix: str = "ostiary:"
    key_scheduler_interval_seconds: float = Field(default=60.0, gt=0)
    key_scheduler_in_serve: bool = True
    github_secret_scanning_keys: dict[str, str] = Field(
        default_factory=dict, description="GitHub key identifier -> PEM public key (P-256)"
    )

    scim_max_results: int = Field(default=1000, ge=1)
    scim_default_count: int = Field(default=100, ge=1)
    scim_bulk_max_operations: int = Field(default=1000, ge=1)
    scim_bulk_max_payload_bytes: int = Field(default=1_048_576, ge=1024)
    # SCIM core (issue 3): custom schema extensions, inline JSON or a JSON file path
    # (see docs/scim.md); they appear in /Schemas and /ResourceTypes and are validated.
    scim_extensions: str | None = Field(
        default=None, description="custom SCIM schema extensions: inline JSON or a file path"
    )

    # Audit trail (issue 5): checkpoints, outside witnesses and streaming sinks.
    audit_origin: str | None = Field(
        default=None, description="the name checkpoints are signed under (default: issuer)"
    )
    audit_checkpoint_interval_seconds: int = Field(default=300, ge=1)
    audit_witness_file: Path | None = Field(
        default=None, description="append-only JSON lines file every checkpoint is copied to"
    )
    audit_witness_url: str | None = None
    audit_witness_secret: SecretStr | None = None
    audit_webhook_url: str | None = None
    audit_webhook_secret: SecretStr | None = None
    audit_syslog_address: str | None = Field(default=None, description="host:port (TCP)")
    audit_syslog_tls: bool = False
    audit_syslog_ca_file: Path | None = None
    audit_sink_batch: int = Field(default=500, ge=1, le=10_000)

    # signals: the outbox worker and its delivery policy
    outbox_worker: bool = Field(default=True, description="run the outbox worker in serve")
    outbox_lease_seconds: int = Field(default=30, ge=1, le=3600)
    outbox_max_attempts: int = Field(default=12, ge=1, le=100)

    # ssf: the Shared Signals Framework transmitter (docs/ssf.md)
    ssf_min_verification_interval: int = Field(default=30, ge=0, le=86400)
    ssf_max_streams_per_receiver: int = Field(default=10, ge=1, le=1000)
    ssf_poll_max_events: int = Field(default=100, ge=1, le=1000)
    ssf_poll_wait_seconds: float = Field(
        default=10.0, ge=0, le=60, description="how long a long poll waits for a SET"
    )
    ssf_allow_insecure_push: bool = Field(
        default=False, description="accept http:// push endpoint_url (development only)"
    )

    # OpenID Provider and OAuth token endpoint (oidc)
    jwks_max_age_seconds: int = Field(default=600, ge=60, le=86400)
    signing_key_rotate_days: int = Field(default=30, ge=1, le=3650)
    access_token_lifetime_seconds: int = Field(default=600, ge=30, le=900)
    dpop_nonce_required: bool = False
    dpop_max_age_seconds: int = Field(default=60, ge=5, le=600)
    client_assertion_max_lifetime_seconds: int = Field(default=300, ge=30, le=300)
    dynamic_registration: bool = False  # RFC 7591/7592, with an initial access token
    session_lifetime_hours: int = Field(default=12, ge=1, le=24 * 30)
    # oidc-code: refresh tokens (sliding lifetime; grace for concurrent refreshes)
    refresh_token_lifetime_days: int = Field(default=30, ge=1, le=365)
    refresh_token_grace_seconds: int = Field(default=10, ge=0, le=120)
    # totp: every user must pass a TOTP second factor (RFC 6238) to get a session
    require_totp: bool = False
    # perf: the share of successful requests given an access log line (errors always are)
    access_log_sample: float = Field(default=1.0, ge=0.0, le=1.0)

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
