"""The README's module table and the tests agree: every test is listed with a passing
status under its own name, and no row claims a test that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).parent


def _rows() -> dict[str, tuple[str, str]]:
    rows = {}
    for line in (HERE / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("oidcc-"):
            rows[cells[0]] = (cells[2], cells[3])
    return rows


def _marked() -> dict[str, str]:
    found = {}
    for path in HERE.glob("test_*.py"):
        for name in re.findall(r'@module\("([^"]+)"\)', path.read_text()):
            found[name] = f"{path.name}::test_{name.replace('-', '_')}"
    return found


def test_readme_table_matches_the_tests():
    rows, marked = _rows(), _marked()
    assert set(marked) <= set(rows), set(marked) - set(rows)
    for name, (test, status) in rows.items():
        if name in marked:
            assert test == marked[name] and status.startswith("pass"), name
        else:
            assert test == "-" and status == "not yet: feature missing", name
