"""``ostiary clients create|update`` set the logout metadata (Back-Channel Logout 1.0
section 2.2, RP-Initiated Logout 1.0 section 3.1) and ``allowed_groups`` (issue 7 point 1),
as a real process; bad values exit 2 and change nothing."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_clients_cli import _cli


def test_logout_and_access_options(tmp_path: Path):
    assert _cli(tmp_path, "init").returncode == 0
    made = _cli(
        tmp_path,
        "clients",
        "create",
        "--name",
        "wiki",
        "--redirect-uri",
        "https://wiki.example.com/cb",
        "--backchannel-logout-uri",
        "https://wiki.example.com/bcl",
        "--backchannel-logout-session-required",
        "--post-logout-redirect-uri",
        "https://wiki.example.com/bye",
        "--allowed-group",
        "Engineering",
        "--json",
    )
    assert made.returncode == 0, made.stderr
    doc = json.loads(made.stdout)
    assert doc["options"] == {
        "backchannel_logout_uri": "https://wiki.example.com/bcl",
        "backchannel_logout_session_required": True,
        "post_logout_redirect_uris": ["https://wiki.example.com/bye"],
        "allowed_groups": ["Engineering"],
    }
    cid = doc["client_id"]
    bad = _cli(tmp_path, "clients", "update", cid, "--backchannel-logout-uri", "http://x.example/")
    assert bad.returncode == 2 and "backchannel_logout_uri" in bad.stderr
    changed = _cli(
        tmp_path,
        "clients",
        "update",
        cid,
        "--backchannel-logout-uri",
        "",
        "--allowed-group",
        "Engineering",
        "--allowed-group",
        "Ops",
        "--json",
    )
    assert changed.returncode == 0, changed.stderr
    options = json.loads(changed.stdout)["options"]
    assert "backchannel_logout_uri" not in options  # '' removed it
    assert options["allowed_groups"] == ["Engineering", "Ops"]
    assert options["post_logout_redirect_uris"] == ["https://wiki.example.com/bye"]  # untouched
    cleared = _cli(tmp_path, "clients", "update", cid, "--allowed-group", "", "--json")
    assert "allowed_groups" not in json.loads(cleared.stdout)["options"]
