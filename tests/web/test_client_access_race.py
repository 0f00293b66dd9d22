"""Issue 7 point 1, the two-writer race (PostgreSQL, READ COMMITTED): a user reaches a
client limited to ``allowed_groups`` through two groups; two concurrent SCIM group writes
each remove one path. Each write, checking after its own change, still sees the other
path (not yet committed); unless the re-checks are serialised per user, neither revokes
and the user keeps a client they can no longer reach.

The interleaving is forced: both writes remove their member, the first re-checks, and
it commits only once the second has re-checked too (or, when the second waits on the
first, after 2 s). The second write must then end the user's access to the client:
its refresh grant is dead (RFC 6749 5.2 ``invalid_grant``) and the revocation audited.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ostiary.audit.events import Actor, RequestInfo
from ostiary.store.repositories.groups import GroupRepository
from ostiary.web.app import create_app
from ostiary.web.context import AppContext
from ostiary.web.oauth.client_access import group_write
from tests.support.deploy import Deployment
from tests.support.logout import tokens_for
from tests.support.receiver import receiver
from tests.support.rp import register, scim_user
from tests.web.test_client_allowed_groups import Directory, _refresh, _revocations

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_client(pg_deployment: Deployment) -> Iterator[TestClient]:
    app = create_app(pg_deployment.settings)
    with TestClient(app, base_url="http://testserver") as tc:
        yield tc
    app.state.ctx.db.dispose()


def _remove(
    ctx: AppContext,
    group_id: str,
    user_id: str,
    wrote: threading.Event,
    go_check: threading.Event,
    checked: threading.Event,
    commit_when: threading.Event | None,
    errors: list[BaseException],
) -> None:
    actor = Actor(kind="key", id=f"writer-{group_id}", auth="bearer_key")
    try:
        with ctx.db.begin() as conn:
            with group_write(conn, "http://testserver", actor, RequestInfo(), ctx.clock.now()):
                assert GroupRepository(conn).remove_members(group_id, [user_id]) == [user_id]
                wrote.set()
                assert go_check.wait(10)
            checked.set()  # the access re-check (group_write's exit) is done
            if commit_when is not None:
                commit_when.wait(2)  # the other writer re-checked, or waits on our lock
    except BaseException as exc:  # reported by the test thread
        errors.append(exc)


def test_two_concurrent_writes_each_removing_one_path_end_access(
    pg_client: TestClient, pg_deployment: Deployment, tmp_path: Path
):
    client = pg_client
    with receiver() as rx:
        directory = Directory(client, pg_deployment)
        user_id = scim_user(client, directory.auth["Authorization"][7:])
        first = directory.group("Staff", user_id)
        second = directory.group("Oncall", user_id)
        register(
            client.app,
            client_type="public",
            client_id="rp1",
            options={"backchannel_logout_uri": rx.url, "allowed_groups": ["Staff", "Oncall"]},
        )
        held = tokens_for(client, "rp1")
        ctx: AppContext = client.app.state.ctx  # type: ignore[attr-defined]

        wrote_1, wrote_2 = threading.Event(), threading.Event()
        checked_1, checked_2 = threading.Event(), threading.Event()
        both_wrote = threading.Event()
        errors: list[BaseException] = []
        one = threading.Thread(
            target=_remove,
            args=(ctx, first, user_id, wrote_1, both_wrote, checked_1, checked_2, errors),
        )
        two = threading.Thread(
            target=_remove,
            args=(ctx, second, user_id, wrote_2, checked_1, checked_2, None, errors),
        )
        one.start()
        two.start()
        assert wrote_1.wait(10) and wrote_2.wait(10)
        both_wrote.set()  # writer 1 re-checks; writer 2 re-checks once writer 1 has
        one.join(20)
        two.join(20)
        assert not errors, errors
        assert not one.is_alive() and not two.is_alive()

        [event] = _revocations(pg_deployment)
        assert event["target"]["id"] == user_id and event["detail"]["client_id"] == "rp1"
        assert event["detail"]["reason"] == "group_change"
        refused = _refresh(client, "rp1", held["refresh_token"])
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
