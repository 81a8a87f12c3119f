"""Neutron's error responses, so clients that parse them keep working.

openstacksdk and the ``openstack`` CLI read ``NeutronError.type`` and
``NeutronError.message`` to turn a failed call into a readable message; every
failure this API reports (our own checks, request validation, unknown URLs and
unexpected bugs) therefore leaves in the same JSON shape, never as a
traceback or FastAPI's default 422 body.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

LOG = logging.getLogger(__name__)


class NeutronError(Exception):
    """A failure the client caused or must know about, with Neutron's type name."""

    status_code: ClassVar[int] = 500
    default_type: ClassVar[str] = "InternalServerError"

    def __init__(self, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_type = error_type or self.default_type


class BadRequest(NeutronError):
    status_code = 400
    default_type = "BadRequest"


class NotFound(NeutronError):
    status_code = 404
    default_type = "NotFound"


class Conflict(NeutronError):
    status_code = 409
    default_type = "Conflict"


def not_found(label: str, resource_id: str) -> NotFound:
    """The 404 Neutron answers for a missing resource.

    ``label`` is the resource's human name ("Network", "Floating IP"); the
    error type follows from it ("NetworkNotFound", "FloatingIPNotFound").
    """
    error_type = label.replace(" ", "") + "NotFound"
    return NotFound(f"{label} {resource_id} could not be found.", error_type)


def invalid_input(message: str) -> BadRequest:
    """Neutron's ``InvalidInput`` 400 for a value that does not validate."""
    return BadRequest(f"Invalid input for operation: {message}", "InvalidInput")


def error_body(error_type: str, message: str) -> dict[str, dict[str, str]]:
    return {"NeutronError": {"type": error_type, "message": message, "detail": ""}}


def _neutron_error_response(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NeutronError)
    return JSONResponse(error_body(exc.error_type, exc.message), status_code=exc.status_code)


def _validation_error_response(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    reasons = "; ".join(_describe_validation_error(error) for error in exc.errors())
    return JSONResponse(error_body("BadRequest", f"Invalid request: {reasons}"), status_code=400)


def _describe_validation_error(error: Any) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
    message = str(error.get("msg", "invalid value"))
    return f"{location}: {message}" if location else message


_HTTP_ERROR_TYPES = {404: "HTTPNotFound", 405: "HTTPMethodNotAllowed"}


def _http_error_response(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error_type = _HTTP_ERROR_TYPES.get(exc.status_code, "HTTPError")
    return JSONResponse(
        error_body(error_type, str(exc.detail)),
        status_code=exc.status_code,
        headers=exc.headers,
    )


def _unexpected_error_response(request: Request, exc: Exception) -> JSONResponse:
    LOG.exception("unexpected error serving %s %s", request.method, request.url.path)
    message = "Request failed: internal server error while processing your request."
    return JSONResponse(error_body("HTTPInternalServerError", message), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Make every failure leave the app in Neutron's error shape."""
    app.add_exception_handler(NeutronError, _neutron_error_response)
    app.add_exception_handler(RequestValidationError, _validation_error_response)
    app.add_exception_handler(StarletteHTTPException, _http_error_response)
    app.add_exception_handler(Exception, _unexpected_error_response)
