"""Settings: environment over TOML over defaults; one clear error per bad setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from ostiary.core.errors import ConfigError
from ostiary.core.settings import load_settings


def test_defaults_serve_an_embedded_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.database_url == "sqlite:///./var/ostiary.db"
    assert s.port == 8000 and s.host == "127.0.0.1"


def test_environment_overrides_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    cfg = tmp_path / "ostiary.toml"
    cfg.write_text('port = 9001\nworkers = 3\nissuer = "https://id.example.com/"\n')
    monkeypatch.setenv("OSTIARY_CONFIG", str(cfg))
    monkeypatch.setenv("OSTIARY_WORKERS", "2")
    s = load_settings()
    assert s.port == 9001  # from the file
    assert s.workers == 2  # the environment wins
    assert s.issuer == "https://id.example.com"  # normalised


def test_bad_value_names_the_setting(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OSTIARY_PORT", "eighty")
    with pytest.raises(ConfigError, match="OSTIARY_PORT"):
        load_settings()


def test_unknown_key_in_toml_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    cfg = tmp_path / "ostiary.toml"
    cfg.write_text("prot = 1\n")
    monkeypatch.setenv("OSTIARY_CONFIG", str(cfg))
    with pytest.raises(ConfigError, match="prot"):
        load_settings()


def test_masked_hides_secrets_and_url_passwords(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OSTIARY_MASTER_KEY", "A" * 43)
    monkeypatch.setenv("OSTIARY_DATABASE_URL", "postgresql://app:s3cret@db/ostiary")
    shown = load_settings().masked()
    assert shown["master_key"] == "********"
    assert "s3cret" not in str(shown)
    assert shown["database_url"].startswith("postgresql+psycopg://app:********@db")
