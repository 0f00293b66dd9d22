"""``ostiary serve`` with the SCIM writes' audit off: the OFF side of bench audit_http.

Command: ``python -m bench.noaudit_app [target]``. Runs the real ``serve`` command (its
checks, settings, worker count and granian options) with only granian's app target
changed, by default to :func:`create_app_from_env` below, which switches the audit off
inside each granian worker as bench audit_scim's off side does (its ``OFF``: no append,
and no event, actor or request facts built; ``OFF_CREATE``: the answer not sorted) and
then builds the app as ``ostiary serve`` does. Bench only: never a way to serve Ostiary.
"""

from __future__ import annotations

import sys
from typing import Any

import granian
from starlette.applications import Starlette

TARGET = "bench.noaudit_app:create_app_from_env"


def create_app_from_env() -> Starlette:
    """Granian's factory in each worker: patch first, then build the served app."""
    from bench.b_audit_scim import OFF, OFF_CALL, OFF_CREATE
    from ostiary.web import app as web_app
    from ostiary.web.scim import call as scim_call
    from ostiary.web.scim import user_ops

    for name, stand_in in OFF.items():  # for the worker's life: it serves nothing else
        setattr(scim_call, name, stand_in)
    for name, stand_in in OFF_CALL.items():  # Call.audit without prepare and append
        setattr(scim_call.Call, name, stand_in)
    for name, stand_in in OFF_CREATE.items():  # the create's sorting and secret check
        setattr(user_ops, name, stand_in)
    return web_app.create_app_from_env()


def serve(target: str = TARGET) -> None:
    """``ostiary serve`` pointing granian at ``target`` (``serve`` imports Granian from
    the granian module when it runs, so the wrapper set here is the one it calls)."""
    from ostiary.cli import system

    real = granian.Granian

    def pointed(_app: str, **options: Any) -> Any:
        return real(target, **options)

    granian.Granian = pointed  # type: ignore[assignment]
    system.serve(host=None, port=None, workers=None)


if __name__ == "__main__":
    serve(*sys.argv[1:2])
