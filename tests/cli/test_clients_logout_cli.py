"""``ostiary clients create|update`` set the logout metadata (Back-Channel Logout 1.0
section 2.2, RP-Initiated Logout 1.0 section 3.1) and ``allowed_groups`` (issue 7 point 1),
as a real process; bad values exit 2 and change nothing."""

from __future__ import annotations

import json

from tests.support.cli import CREATE_WIKI, Cli


def test_logout_and_access_options(cli: Cli):
    assert cli("init").returncode == 0
    made = cli(
        *CREATE_WIKI,
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
    bad = cli("clients", "update", cid, "--backchannel-logout-uri", "http://x.example/")
    assert bad.returncode == 2 and "backchannel_logout_uri" in bad.stderr
    changed = cli(
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
    cleared = cli("clients", "update", cid, "--allowed-group", "", "--json")
    assert "allowed_groups" not in json.loads(cleared.stdout)["options"]
