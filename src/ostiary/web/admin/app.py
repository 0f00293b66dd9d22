"""The FastAPI application for the admin API, mounted under the Starlette root app.

Protocol endpoints (SCIM, later OAuth) are plain Starlette routes on the root app; only
the admin API pays for FastAPI's validation and OpenAPI machinery, where it earns it.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from ostiary import __version__
from ostiary.web.admin import audit

meta = APIRouter(prefix="/api/v1", tags=["meta"])


@meta.get("/info")
def info() -> dict[str, str]:
    """Which Ostiary this is."""
    return {"name": "ostiary", "version": __version__}


def create_admin_app() -> FastAPI:
    app = FastAPI(
        title="Ostiary admin API",
        version=__version__,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.include_router(meta)
    app.include_router(audit.router)
    return app
