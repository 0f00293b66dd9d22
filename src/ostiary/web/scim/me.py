"""/scim/v2/Me (RFC 7644 section 3.11): the resource of the user behind an OIDC access token.

Who: a relying party's access token from the code flow (Bearer, RFC 9068, audience
UserInfo) names the user in ``sub``. A provisioning key is not a user, so it gets a 401.
The token must not be on the revocation set and the user must be active; otherwise 401
with a ``WWW-Authenticate`` challenge (RFC 6750 section 3), as UserInfo does.

What: GET returns the user's resource as ``GET /Users/{id}`` would (``attributes`` and
``excludedAttributes``, ``If-None-Match``), plus ``Content-Location`` (3.11), **limited to
what the token's scopes consented to**, the way UserInfo limits claims (OIDC Core 5.4):
``id``, ``userName``, ``active`` and ``meta`` always; ``emails`` with ``email``,
``phoneNumbers`` with ``phone``, ``addresses`` with ``address``, ``groups`` with
``groups``; every other attribute (names, extensions, ``externalId``) with ``profile``.

Writes (POST, PUT, PATCH, DELETE) are 403: a user's record is owned by the provisioning
source (the SCIM client), and no self-service scope exists. The token is still checked
first, so a bad token is a 401, not a 403.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ostiary.scim.errors import Forbidden
from ostiary.web.oauth import resource as oauth_resource
from ostiary.web.scim.auth import limit_ip
from ostiary.web.scim.endpoint import scim_endpoint
from ostiary.web.scim.users import read_user

ALWAYS = frozenset({"schemas", "id", "userName", "active", "meta"})
BY_SCOPE = {
    "emails": "email",
    "phoneNumbers": "phone",
    "addresses": "address",
    "groups": "groups",
}


@scim_endpoint
def me(request: Request, raw: bytes) -> Response:
    limit_ip(request)
    user_id, granted = oauth_resource.verify_user_token(request)
    if request.method != "GET":
        raise Forbidden("/Me is read-only: the user's record is managed by the provisioning source")
    ctx = request.app.state.ctx
    return read_user(
        request,
        user_id,
        missing=lambda _id: oauth_resource.user_inactive(),
        shape=lambda doc: consented(doc, granted),
        headers={"Content-Location": f"{ctx.scim_base}/Users/{user_id}"},
    )


def consented(doc: dict[str, Any], granted: frozenset[str]) -> dict[str, Any]:
    """The attributes of ``doc`` the granted scopes cover (see the module doc)."""

    def allowed(name: str) -> bool:
        if name in ALWAYS:
            return True
        return BY_SCOPE.get(name, "profile") in granted

    out = {k: v for k, v in doc.items() if allowed(k)}
    core, *extensions = doc["schemas"]
    out["schemas"] = [core, *(urn for urn in extensions if urn in out)]
    return out
