"""Every console route, gathered for the root app."""

from __future__ import annotations

from ostiary.web.console import audit, clients, dashboard, groups, keys, signin, ssf, static, users

routes = [
    *static.routes,
    *signin.routes,
    *dashboard.routes,
    *users.routes,
    *groups.routes,
    *clients.routes,
    *keys.routes,
    *audit.routes,
    *ssf.routes,
]
