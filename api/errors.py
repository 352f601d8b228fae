"""Every error as an RFC 9457 problem document; never a stack trace."""

import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, jsonify
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from webhooks.db import is_unavailable
from webhooks.errors import (
    BlockedAddress,
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    Unavailable,
    WebhooksError,
)
from webhooks.security.sealing import UnsealError

log = logging.getLogger(__name__)


class BadRequest(WebhooksError):
    """The body is not JSON at all."""

    title = "Malformed JSON"


class Unauthorized(WebhooksError):
    """No key, or a key that is not one of ours."""

    title = "Unauthorized"


class Forbidden(WebhooksError):
    """A valid key that may not do this (a tenant-bound key, for what spans tenants)."""

    title = "Forbidden"


STATUS_OF: dict[type[WebhooksError], int] = {
    BadRequest: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 422,
    BlockedAddress: 422,
    Unavailable: 503,
    UnsealError: 500,  # the keys configured cannot open a stored value: the operator's to fix
}


def problem(
    status: int,
    detail: str,
    title: str | None = None,
    errors: tuple[FieldError, ...] = (),
    **extensions: Any,
) -> Response:
    """Build a problem+json response (`extensions` become extra members, as RFC 9457 allows)."""
    body: dict[str, Any] = {
        **extensions,
        "type": "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = [{"loc": list(e.loc), "msg": e.msg} for e in errors]
    response = jsonify(body)
    response.status_code = status
    response.content_type = "application/problem+json"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="webhooks"'
    return response


def field_errors(exc: ValidationError, prefix: tuple[str, ...] = ()) -> tuple[FieldError, ...]:
    """Translate pydantic's errors into `{"loc": [...], "msg": ...}` items."""
    return tuple(FieldError(prefix + tuple(error["loc"]), error["msg"]) for error in exc.errors())


def register_error_handlers(app: Flask) -> None:
    """Turn every exception into a problem document."""

    @app.errorhandler(WebhooksError)
    def _webhooks_error(exc: WebhooksError) -> Response:
        return problem(STATUS_OF.get(type(exc), 400), exc.detail, exc.title, exc.errors)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        detail = {413: "the request body is larger than the limit"}.get(
            status, exc.description or ""
        )
        response = problem(status, detail)
        if status == 405 and exc.response is None:
            response.headers["Allow"] = ", ".join(getattr(exc, "valid_methods", None) or [])
        return response

    @app.errorhandler(DBAPIError)
    def _database_error(exc: DBAPIError) -> Response:
        if not is_unavailable(exc):
            return _unexpected(exc)
        log.error("database unavailable: %s", type(exc.orig).__name__)
        return problem(
            503, "the database is unavailable; nothing was changed", "Service unavailable"
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error")
        return problem(500, "an unexpected error occurred; it has been logged")
