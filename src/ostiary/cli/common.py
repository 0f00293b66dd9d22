"""What every command shares: settings that fail in one line, a database, JSON output."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import orjson
import typer
from rich.console import Console

from ostiary.core.errors import ConfigError, OstiaryError
from ostiary.core.settings import Settings, load_settings
from ostiary.store.db import Database

console = Console()
err_console = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"error: {message}", markup=False, highlight=False)
    raise typer.Exit(code)


def settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        fail(str(exc), 2)


def database(s: Settings | None = None) -> Database:
    return Database((s or settings()).database_url, pool_size=2)


def print_json(doc: Any) -> None:
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")


def guard(exc: OstiaryError) -> NoReturn:
    fail(str(exc), 2 if isinstance(exc, ConfigError) else 1)
