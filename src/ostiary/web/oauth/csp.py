"""Security headers of the HTML pages, and the one exception their forms need.

``form-action`` is enforced by browsers on every redirect that follows a form submission
(CSP Level 3, section 6.3.1.1: chromium cancels the navigation), so a sign-in, code or
consent form whose answer redirects on to a relying party's ``redirect_uri`` needs that
origin listed, or the user is stranded on a blank page. The origin added is only ever that
of the redirect URI the flow is for; ``/authorize`` refuses unregistered ones anyway.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# host[:port] or [v6]:port only: nothing that could end the directive or add a source.
_HOST = re.compile(r"^[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def origin(uri: str | None) -> str | None:
    if not uri:
        return None
    parts = urlsplit(uri)
    if parts.scheme not in {"http", "https"} or not _HOST.match(parts.netloc):
        return None
    return f"{parts.scheme}://{parts.netloc}"


def redirect_uri_of(next_url: str) -> str | None:
    """The ``redirect_uri`` of a local ``/authorize?...`` URL the form leads back to."""
    parts = urlsplit(next_url)
    if parts.path != "/authorize":
        return None
    return parse_qs(parts.query).get("redirect_uri", [None])[0]


def form_headers(redirect_uri: str | None) -> dict[str, str]:
    """PAGE_HEADERS whose ``form-action`` also allows ``redirect_uri``'s origin."""
    allowed = origin(redirect_uri)
    if allowed is None:
        return PAGE_HEADERS
    policy = PAGE_HEADERS["Content-Security-Policy"].replace(
        "form-action 'self'", f"form-action 'self' {allowed}"
    )
    return {**PAGE_HEADERS, "Content-Security-Policy": policy}
