"""The application factory: a Starlette root app with the protocol routes, and the FastAPI
admin app mounted beneath it."""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount

from ostiary import __version__
from ostiary.core.clock import Clock
from ostiary.core.settings import Settings, load_settings
from ostiary.store import migrate
from ostiary.store.db import Database
from ostiary.web import audit_checkpoints, errors, health, logs
from ostiary.web.admin.app import create_admin_app
from ostiary.web.console.routes import routes as console_routes
from ostiary.web.context import AppContext
from ostiary.web.keys import wiring as key_wiring
from ostiary.web.middleware import Metrics, RequestContextMiddleware
from ostiary.web.oauth import account as oauth_account
from ostiary.web.oauth import authorize as oauth_authorize
from ostiary.web.oauth import backchannel as oauth_backchannel
from ostiary.web.oauth import discovery as oauth_discovery
from ostiary.web.oauth import end_session as oauth_end_session
from ostiary.web.oauth import home as oauth_home
from ostiary.web.oauth import login as oauth_login
from ostiary.web.oauth import logout as oauth_logout
from ostiary.web.oauth import purge as oauth_purge
from ostiary.web.oauth import registration as oauth_registration
from ostiary.web.oauth import revocation as oauth_revocation
from ostiary.web.oauth import second_factor as oauth_second_factor
from ostiary.web.oauth import token as oauth_token
from ostiary.web.oauth import userinfo as oauth_userinfo
from ostiary.web.oauth.state import OAuthState
from ostiary.web.oauth.token_asgi import TokenEndpoint
from ostiary.web.scim.call import registry_for
from ostiary.web.scim.count_fold import CountFolder
from ostiary.web.scim.fast_create import ScimCreateFastPath
from ostiary.web.scim.fast_lookup import LookupBatches, ScimLookupFastPath
from ostiary.web.scim.routes import routes as scim_routes
from ostiary.web.ssf.routes import routes as ssf_routes

log = logs.get_logger("ostiary.app")


def _multiprocess_metrics() -> None:
    """With several granian workers, ``serve`` sets PROMETHEUS_MULTIPROC_DIR before they
    start; but prometheus_client picks its value store when first imported, which the CLI
    has already done in the parent. Choose again here, before any metric exists."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import values

        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Starlette:
    _multiprocess_metrics()
    settings = settings or load_settings()
    probe = Database(settings.database_url, pool_size=1)
    try:
        migrate.ensure_current(probe)
    finally:
        probe.dispose()
    registry_for(settings.scim_extensions)  # fail at start-up on a bad SCIM extension
    ctx = AppContext.build(settings, clock=clock)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        log.info("startup", version=__version__, database=ctx.db.dialect)
        ctx.ssf().signer()  # load or create the SET signing key outside any request
        if settings.outbox_worker:
            ctx.outbox_worker().start()
        key_wiring.start(ctx)
        purger = oauth_purge.Purger(ctx.db, ctx.clock)
        checkpoints = audit_checkpoints.checkpointer(ctx)
        folder = CountFolder(ctx.db)
        if settings.key_scheduler_in_serve:  # the switch for serve's maintenance threads
            purger.start()
            checkpoints.start()
            if ctx.db.dialect == "postgresql":
                folder.start()
        yield
        purger.stop()
        checkpoints.stop()
        folder.stop()
        key_wiring.stop(ctx)  # flushes buffered last-use times
        # Runs after the server stops accepting and drains in-flight requests (SIGTERM).
        if ctx._outbox is not None:
            ctx._outbox.stop()
        ctx.db.dispose()
        log.info("shutdown", reason="graceful")  # also writes the access lines still waiting

    admin = create_admin_app()
    admin.state.ctx = ctx
    lookups = LookupBatches(ctx)  # concurrent eq lookups gathered (PostgreSQL)
    app = Starlette(
        routes=[
            *health.routes,
            *scim_routes,
            *ssf_routes,
            *oauth_discovery.routes,
            *oauth_token.routes,
            *oauth_revocation.routes,
            *oauth_login.routes,
            *oauth_authorize.routes,
            *oauth_userinfo.routes,
            *oauth_logout.routes,
            *oauth_end_session.routes,
            *(oauth_registration.routes if settings.dynamic_registration else []),
            *oauth_second_factor.routes,
            *oauth_account.routes,
            *oauth_home.routes,  # before the admin app's Mount("/")
            *console_routes,
            Mount("/", app=admin, name="admin"),
        ],
        middleware=[
            Middleware(
                RequestContextMiddleware,
                metrics=Metrics(ctx.registry),
                access_log_sample=settings.access_log_sample,
            ),
            # GET /scim/v2/Users?filter=<attr> eq "..." past the router (see the module).
            Middleware(ScimLookupFastPath, ctx=ctx, routes=scim_routes, batches=lookups),
            # POST /scim/v2/Users past the router, to the same endpoint (see the module).
            Middleware(ScimCreateFastPath, routes=scim_routes),
            # Inside the request context: POST /token (client_credentials) without routing.
            Middleware(TokenEndpoint, route=oauth_token.routes[0]),
        ],
        exception_handlers=errors.handlers(),
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.scim_lookups = lookups
    app.state.oauth = oauth = OAuthState.build(ctx)
    ctx.add_sender(oauth_backchannel.TOPIC, lambda http: oauth_backchannel.sender(oauth, http))
    return app


def create_app_from_env() -> Starlette:
    """The granian factory: settings from the environment, JSON logs configured."""
    settings = load_settings()
    # Access lines written in batches (see logs.JsonHandler): the served hot path.
    logs.configure(settings.log_level, settings.log_json, batch_access=True)
    app = create_app(settings)
    # What start-up made (modules, routes, caches, the context) lives as long as the
    # worker. Frozen, full collections stop walking it: in a SCIM search process they took
    # up to 440 ms, 7 ms frozen (docs/performance.md, substring search). Served workers
    # only: a test process makes many apps, and frozen garbage is never freed.
    gc.collect()
    gc.freeze()
    return app
