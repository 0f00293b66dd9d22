"""Secret references: ``{env = "NAME"}``, ``{file = "path"}`` or ``{command = [...]}``.

Secrets never come from the configuration file itself (:mod:`ostiary.sync.config` rejects a
literal value under a secret-looking key). Resolved values are never logged or put in errors.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ostiary.sync.errors import ConfigInvalid, SecretUnavailable

KINDS = ("env", "file", "command")


@dataclass(frozen=True)
class SecretRef:
    kind: str
    where: str | tuple[str, ...]

    def describe(self) -> str:
        """Where the secret comes from, safe to print."""
        if self.kind == "command":
            return f"command {self.where[0]!r}"
        return f"{self.kind} {self.where!r}"

    def resolve(self) -> str:
        if self.kind == "env":
            value = os.environ.get(str(self.where))
            if not value:
                raise SecretUnavailable(f"environment variable {self.where} is not set")
            return value.strip()
        if self.kind == "file":
            try:
                return Path(str(self.where)).expanduser().read_text().strip()
            except OSError as exc:
                raise SecretUnavailable(
                    f"cannot read secret file {self.where}: {exc.strerror}"
                ) from None
        return _run(tuple(self.where))


def _run(argv: tuple[str, ...]) -> str:
    # No shell: the argv is run as given; its output is the secret, its stderr is not shown
    # (a secret manager may echo context we must not log).
    try:
        done = subprocess.run(  # noqa: S603
            list(argv), capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SecretUnavailable(
            f"secret command {argv[0]!r} failed: {type(exc).__name__}"
        ) from None
    if done.returncode != 0:
        raise SecretUnavailable(f"secret command {argv[0]!r} exited {done.returncode}")
    # `pass show` prints the secret on the first line; extra lines are metadata.
    first = done.stdout.strip().splitlines()
    if not first or not first[0].strip():
        raise SecretUnavailable(f"secret command {argv[0]!r} printed nothing")
    return first[0].strip()


def parse_ref(value: Any, key: str) -> SecretRef:
    """A reference from a config value; a bare string is refused (it would be the secret)."""
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in KINDS:
        raise ConfigInvalid(
            f'{key} must be a secret reference: {{env = "NAME"}}, {{file = "path"}} '
            'or {command = ["prog", "arg"]}'
        )
    kind, where = next(iter(value.items()))
    if kind == "command":
        if not (isinstance(where, list) and where and all(isinstance(a, str) for a in where)):
            raise ConfigInvalid(f"{key}.command must be a non-empty list of strings")
        return SecretRef("command", tuple(where))
    if not isinstance(where, str) or not where:
        raise ConfigInvalid(f"{key}.{kind} must be a non-empty string")
    return SecretRef(kind, where)
