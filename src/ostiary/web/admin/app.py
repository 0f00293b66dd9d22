"""The FastAPI application for the admin API, mounted under the Starlette root app.

Protocol endpoints (SCIM, later OAuth) are plain Starlette routes on the root app; only
the admin API pays for FastAPI's validation and OpenAPI machinery, where it earns it.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

from ostiary import __version__
from ostiary.web.admin import audit, clients, keys, leaks

meta = APIRouter(prefix="/api/v1", tags=["meta"])


@meta.get("/info")
def info() -> dict[str, str]:
    """Which Ostiary this is."""
    return {"name": "ostiary", "version": __version__}


def _docs(app: FastAPI) -> None:
    """Swagger UI served from the installed package: a self-hosted identity provider must
    not pull scripts from a CDN (nor break on an offline network)."""
    app.mount("/api/docs/static", StaticFiles(directory=swagger_ui_path), name="swagger-static")

    @app.get("/api/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/api/openapi.json",
            title="Ostiary admin API",
            swagger_js_url="/api/docs/static/swagger-ui-bundle.js",
            swagger_css_url="/api/docs/static/swagger-ui.css",
            swagger_favicon_url="/api/docs/static/favicon-32x32.png",
        )


def create_admin_app() -> FastAPI:
    app = FastAPI(
        title="Ostiary admin API",
        version=__version__,
        docs_url=None,
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    _docs(app)
    app.include_router(meta)
    app.include_router(keys.router)
    app.include_router(leaks.router)
    app.include_router(audit.router)
    app.include_router(clients.router)
    return app
