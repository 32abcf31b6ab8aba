"""Every error becomes `{"error": {"code", "message"}}` with a fitting status, here only.

`rag` errors map by class; FastAPI's validation errors, malformed JSON and unknown routes
get the same body. Anything else is a 500 whose body says nothing about the internals
(the traceback goes to the server log).
"""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from api.schemas import error_body
from rag.errors import (
    BackendUnavailable,
    ConfigError,
    EmptyIndex,
    InvalidInput,
    NotFound,
    RagError,
    TooLarge,
)

log = logging.getLogger("api")

# The first class an error is an instance of decides: subclasses before their bases.
STATUS: dict[type[RagError], int] = {
    EmptyIndex: 409,
    TooLarge: 413,
    InvalidInput: 400,
    NotFound: 404,
    ConfigError: 500,
    BackendUnavailable: 503,
}


class ApiError(Exception):
    """An HTTP-level refusal (authentication, permissions) in the common error shape."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def status_of(error: RagError) -> int:
    """The HTTP status of a `rag` error (500 for an unmapped subclass)."""
    for kind, status in STATUS.items():
        if isinstance(error, kind):
            return status
    return 500


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A JSON error response in the common shape."""
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def _location(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "body"


async def _rag_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RagError)
    status = status_of(exc)
    if status >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, exc)
    return error_response(status, exc.code, str(exc))


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    for err in errors:
        if err.get("type") == "json_invalid":
            reason = (err.get("ctx") or {}).get("error", "invalid JSON")
            return error_response(
                400, "malformed_json", f"the request body is not valid JSON: {reason}"
            )
    problems = [f"{_location(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in errors]
    return error_response(422, "invalid_request", "; ".join(problems[:10]) or "invalid request")


METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route accepts at the request's path (Starlette names only one)."""
    allowed = {
        method
        for method in METHODS
        for route in request.app.router.routes
        if route.matches({**request.scope, "method": method})[0] == Match.FULL
    }
    return sorted(allowed | {"OPTIONS"}) if allowed else []


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    headers = dict(exc.headers) if exc.headers else {}
    if status == 405:
        allow = allowed_methods(request)
        headers["Allow"] = ", ".join(allow)
        if request.method == "OPTIONS" and allow:  # what may be done here, not an error
            return Response(status_code=204, headers=headers)
    if status == 400:
        # FastAPI's only 400: a body it could not decode (invalid UTF-8, nested too deeply).
        return error_response(
            400, "malformed_json", "the request body is not valid UTF-8 JSON", headers
        )
    code = {404: "not_found", 405: "method_not_allowed", 408: "request_timeout",
            413: "too_large"}.get(status, "http_error")  # fmt: skip
    message = str(exc.detail)
    if status in (404, 405):
        message = f"{message}: {request.method} {request.url.path} (see /docs)"
    return error_response(status, code, message, headers or None)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal_error", "internal error; see the server log")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on an app."""
    app.add_exception_handler(RagError, _rag_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
