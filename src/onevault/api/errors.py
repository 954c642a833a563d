"""Exception handlers: every error is JSON with a stable `error` code and a human `message`.

Never a stack trace, SQL text or internal path: unexpected exceptions are logged and answered 500.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from onevault.api.responses import error_response, json_response
from onevault.errors import OneVaultError

log = logging.getLogger(__name__)

_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    401: "unauthorized",
    403: "forbidden",
    413: "payload_too_large",
    429: "rate_limited",
}


async def _onevault_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, OneVaultError)
    if exc.status_code == 500:  # a bug (an unexpected database error, say): the cause must reach the log
        log.error("internal error: %s", exc.message, exc_info=exc)
    return error_response(exc)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    field = ".".join(str(part) for part in first.get("loc", ())[1:]) or None
    body = {"error": "invalid_request", "message": str(first.get("msg", "invalid request"))}
    if field:
        body["field"] = field
    return json_response(body, 422)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return json_response({"error": code, "message": str(exc.detail)}, exc.status_code, dict(exc.headers or {}))


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return json_response({"error": "internal_error", "message": "an internal error occurred"}, 500)


# Most specific first: handle_error takes the first that matches, as Starlette does by class hierarchy.
_HANDLERS: tuple[tuple[type[Exception], Callable[[Request, Exception], Awaitable[Response]]], ...] = (
    (OneVaultError, _onevault_error),
    (RequestValidationError, _validation_error),
    (HTTPException, _http_error),
    (Exception, _unexpected),
)


def install_error_handlers(app: FastAPI) -> None:
    for kind, handler in _HANDLERS:
        app.add_exception_handler(kind, handler)


async def handle_error(request: Request, exc: Exception) -> Response:
    """The answer the installed handlers give `exc`, for code that runs outside FastAPI's routing."""
    handler = next(h for kind, h in _HANDLERS if isinstance(exc, kind))
    return await handler(request, exc)
