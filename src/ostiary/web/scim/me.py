"""/scim/v2/Me (RFC 7644 section 3.11): the resource of the user behind an OIDC access token.

Provisioning keys are not users, so /Me needs the OIDC provider (issue 4); until it lands
the endpoint says so in SCIM's own format rather than a bare 404.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ostiary.scim.errors import NotImplementedYet
from ostiary.web.scim.endpoint import scim_endpoint


@scim_endpoint
def me(request: Request, raw: bytes) -> Response:
    raise NotImplementedYet("/Me needs an OpenID Connect access token; not available yet")
