"""The sync configuration: secrets only by reference (env, file, command), never in the file;
the mapping language (paths, transforms, value maps, groups)."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from ostiary.scim import schemas
from ostiary.sync.config import load_config, parse_config
from ostiary.sync.errors import ConfigInvalid, SecretUnavailable, SourceError
from ostiary.sync.mapping import parse_mapping
from ostiary.sync.secrets import parse_ref
from ostiary.sync.sources import CsvSource, JsonSource, desired_state
from tests.sync.conftest import MAPPING, person, write_config, write_csv

BASE = """
[source]
type = "csv"
path = "p.csv"
[target]
url = "https://app.example/scim/v2"
"""


def _parse(text: str):
    return parse_config(tomllib.loads(text), Path("."))


@pytest.mark.parametrize(
    "bad",
    [
        'token = "abc123"',  # literal bearer token
        'token = { value = "abc" }',  # not a reference
        'api_key = "abc"',
        'private_key = "-----BEGIN PRIVATE KEY-----"',
        'note = "ost_pk_abcdefghijkl_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKL"',  # a key, any name
    ],
)
def test_a_secret_in_the_file_is_refused(bad):
    with pytest.raises(ConfigInvalid) as exc:
        _parse(BASE + bad + "\n" + MAPPING)
    assert "abc" not in str(exc.value) and "ost_pk_" not in str(exc.value)


def test_source_password_must_be_a_reference():
    text = BASE.replace('type = "csv"', 'type = "ldap"\npassword = "hunter2"')
    with pytest.raises(ConfigInvalid, match=r"source\.password"):
        _parse(text + 'token = { env = "T" }\n' + MAPPING)


def test_references_are_accepted_and_resolved(tmp_path, monkeypatch):
    cfg = _parse(
        BASE + 'token = { env = "SYNC_T" }\ntoken_endpoint = "https://x/token"\n' + MAPPING
    )
    monkeypatch.setenv("SYNC_T", "from-env\n")
    assert cfg.target.token is not None and cfg.target.token.resolve() == "from-env"
    secret_file = tmp_path / "s"
    secret_file.write_text("from-file\n")
    assert parse_ref({"file": str(secret_file)}, "k").resolve() == "from-file"
    # `pass show` prints the secret on the first line and metadata after it.
    cmd = [sys.executable, "-c", "print('from-command'); print('url: x')"]
    assert parse_ref({"command": cmd}, "k").resolve() == "from-command"


def test_unresolvable_secrets_fail_without_leaking(tmp_path, monkeypatch):
    monkeypatch.delenv("SYNC_MISSING", raising=False)
    with pytest.raises(SecretUnavailable, match="SYNC_MISSING"):
        parse_ref({"env": "SYNC_MISSING"}, "k").resolve()
    with pytest.raises(SecretUnavailable):
        parse_ref({"file": str(tmp_path / "nope")}, "k").resolve()
    cmd = [sys.executable, "-c", "import sys; print('s3cr3t', file=sys.stderr); sys.exit(3)"]
    with pytest.raises(SecretUnavailable) as exc:
        parse_ref({"command": cmd}, "k").resolve()
    assert "exited 3" in str(exc.value) and "s3cr3t" not in str(exc.value)
    with pytest.raises(ConfigInvalid):
        parse_ref("literal", "target.token")


def test_target_must_be_http_and_bearer_needs_a_token():
    with pytest.raises(ConfigInvalid, match=r"target\.url"):
        _parse(BASE.replace("https://app.example/scim/v2", "ftp://x") + MAPPING)
    with pytest.raises(ConfigInvalid, match=r"target\.token"):
        _parse(BASE + MAPPING)


def test_mapping_transforms_extension_and_groups(tmp_path):
    """RFC 7643 s4.1 attributes, s4.3 enterprise extension; typed multi-valued emails."""
    rows = [
        person(1, email="  Ada@Example.COM ", status="LEAVER", groups=" a ; b ;"),
        person(2, status="", dept=""),
    ]
    write_csv(tmp_path / "people.csv", rows)
    cfg = load_config(write_config(tmp_path, "http://127.0.0.1:1/v2"))
    users, groups = desired_state(CsvSource(tmp_path / "people.csv").records(), cfg.mapping)
    ada = users[0].doc
    assert users[0].key == "E000001"
    assert ada["userName"] == "ada@example.com"
    assert ada["emails"] == [{"type": "work", "value": "ada@example.com", "primary": True}]
    assert ada["active"] is False  # value map is case-insensitive
    assert ada[schemas.ENTERPRISE_USER] == {"department": "R&D"}
    assert ada["schemas"] == [schemas.USER, schemas.ENTERPRISE_USER]
    assert users[1].doc["active"] is True  # empty -> default
    assert schemas.ENTERPRISE_USER not in users[1].doc  # no department, no extension
    assert {g.name: set(g.member_keys) for g in groups} == {
        "a": {"E000001"},
        "b": {"E000001"},
        "even": {"E000002"},
        "everyone": {"E000002"},
    }


def test_unknown_status_without_default_and_duplicates_are_refused(tmp_path):
    mapping = parse_mapping(
        {
            "attributes": {
                "userName": "email",
                "active": {"column": "status", "map": {"active": True}},
            }
        },
        {},
    )
    with pytest.raises(SourceError, match="record 1"):
        desired_state([{"email": "a", "status": "maybe"}], mapping)
    with pytest.raises(SourceError, match="duplicate"):
        desired_state(
            [{"email": "a", "status": "active"}, {"email": "A", "status": "active"}], mapping
        )
    with pytest.raises(ConfigInvalid, match="not multi-valued"):
        parse_mapping({"attributes": {"userName": "x", "title[work]": "y"}}, {})
    with pytest.raises(ConfigInvalid, match="unknown transform"):
        parse_mapping({"attributes": {"userName": {"column": "x", "transforms": ["rot13"]}}}, {})


def test_json_source_flattens_nested_records(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(
        '{"users": [{"id": "1", "mail": "a@x", "name": {"given": "A"}, '
        '"emails": [{"type": "home", "value": "h@x"}]}]}'
    )
    rec = JsonSource(path, pointer="users").records()[0]
    assert rec["name.given"] == "A" and rec["emails[home]"] == "h@x" and rec["mail"] == "a@x"
    path.write_text('{"users": 3}')
    with pytest.raises(SourceError, match="list of objects"):
        JsonSource(path, pointer="users").records()


def _bounds(extra: str) -> tuple[int, int]:
    target = _parse(BASE + 'token = { env = "T" }\n' + extra + "\n" + MAPPING).target
    return target.concurrency, target.single_concurrency


def test_in_flight_bounds_default_to_16_batches_and_32_single_requests():
    """docs/sync.md: two bounds, Bulk batches and pages (16) apart from single requests (32)."""
    assert _bounds("") == (16, 32)
    assert _bounds("concurrency = 24") == (24, 32)
    assert _bounds("single_concurrency = 64") == (16, 64)
    assert _bounds("concurrency = 1\nsingle_concurrency = 1") == (1, 1)


def test_a_lowered_concurrency_still_bounds_single_requests():
    """A file written before single_concurrency that lowered concurrency to spare a server
    keeps that bound for every request, unless it names single_concurrency."""
    assert _bounds("concurrency = 4") == (4, 4)
    assert _bounds("concurrency = 4\nsingle_concurrency = 12") == (4, 12)


@pytest.mark.parametrize("key", ["concurrency", "single_concurrency"])
@pytest.mark.parametrize("value", ["0", "65", "-3", '"8"', "true", "2.5"])
def test_in_flight_bounds_must_be_whole_numbers_from_1_to_64(key, value):
    with pytest.raises(ConfigInvalid) as exc:
        _bounds(f"{key} = {value}")
    assert str(exc.value).startswith(f"target.{key} must be a whole number between 1 and 64")
