"""SCIM errors (RFC 7644 section 3.12): an HTTP status, an optional scimType, a detail."""

from __future__ import annotations

from typing import Any

from ostiary.core.errors import OstiaryError

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


class ScimError(OstiaryError):
    status = 400
    scim_type: str | None = None

    def __init__(self, detail: str, *, status: int | None = None, scim_type: str | None = None):
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if scim_type is not None:
            self.scim_type = scim_type

    def body(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "schemas": [ERROR_SCHEMA],
            "status": str(self.status),
            "detail": self.detail,
        }
        if self.scim_type:
            doc["scimType"] = self.scim_type
        return doc


class InvalidValue(ScimError):
    scim_type = "invalidValue"


class InvalidSyntax(ScimError):
    scim_type = "invalidSyntax"


class InvalidFilter(ScimError):
    scim_type = "invalidFilter"


class InvalidPath(ScimError):
    scim_type = "invalidPath"


class NoTarget(ScimError):
    scim_type = "noTarget"


class Mutability(ScimError):
    scim_type = "mutability"


class Uniqueness(ScimError):
    status = 409
    scim_type = "uniqueness"


class TooMany(ScimError):
    scim_type = "tooMany"


class NotFound(ScimError):
    status = 404


class PreconditionFailed(ScimError):
    status = 412


class Unauthorized(ScimError):
    status = 401


class Forbidden(ScimError):
    status = 403


class PayloadTooLarge(ScimError):
    status = 413


class NotImplementedYet(ScimError):
    status = 501
