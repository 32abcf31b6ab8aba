"""Pure ASGI middleware that guards every request before routing (streams stay streams).

Outermost first, as `api.main` stacks them: security headers on every response; only
configured host names (no DNS rebinding); at most `RAG_MAX_CONCURRENT_REQUESTS` at once
(503 with `Retry-After`, health checks exempt); the admin token checked before a
write's body is read; a body size limit (413) and read deadline (408). Each refusal is
the usual JSON error.
"""

import asyncio
from collections.abc import Callable

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError, error_response
from rag.config import Settings

# The page loads only its own script and styles; nothing inline, nothing from elsewhere.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# Swagger UI and ReDoc bootstrap with an inline script (their assets are served locally;
# ReDoc runs its search in a blob: worker).
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")
HEALTH_PATHS = ("/healthz", "/readyz")
ADMIN_PREFIX = "/api/documents"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SecurityHeaders:
    """Adds CSP, frame denial, nosniff and no-referrer to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = DOCS_CSP if str(scope.get("path", "")).startswith(DOCS_PATHS) else CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                headers.append((b"content-security-policy", csp.encode()))
                headers.append((b"x-frame-options", b"DENY"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def host_name(host_header: str) -> str:
    """The name part of a Host header: no port, IPv6 brackets removed, lower case."""
    host = host_header.strip().lower()
    if host.startswith("["):  # [::1]:8000
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


class HostCheck:
    """Answers only requests whose Host header names an allowed host (`*` allows any).

    Starlette's TrustedHostMiddleware does the same check but answers in plain text;
    this one answers with the JSON error every client of the API expects.
    """

    def __init__(self, app: ASGIApp, allowed: list[str]) -> None:
        self.app = app
        self.allowed = {host_name(h) for h in allowed}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "*" in self.allowed:
            await self.app(scope, receive, send)
            return
        host = host_name(Headers(scope=scope).get("host", ""))
        if host not in self.allowed:
            response = error_response(
                400,
                "invalid_host",
                "this server does not answer to that Host header; "
                "the names it serves are set by RAG_ALLOWED_HOSTS",
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class ConcurrencyLimit:
    """At most `limit` requests in progress (streams until their end); the rest get 503.

    Health checks are exempt so that probes answer while the server is busy.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.active = 0  # one event loop per process: no lock needed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in HEALTH_PATHS:
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            response = error_response(
                503,
                "busy",
                f"the server is handling {self.limit} requests (RAG_MAX_CONCURRENT_REQUESTS); "
                "retry shortly",
                {"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


class BodyGuard:
    """A request body must fit in `max_bytes` (413) and arrive in time (408).

    A declared Content-Length over the limit is refused before anything is read; a body
    without one is counted as it streams in. Each read must arrive within `timeout`
    seconds: uvicorn bounds idle connections but not a client that sends a body byte by
    byte. Once the body is complete, reads pass through (streams wait for disconnects).
    Refusals mid-body are `HTTPException`s, which FastAPI lets through its body parsing
    to api.errors, so they get the JSON error body too. (FastAPI's own `max_body_size`
    answers in plain text and before the admin check, hence this.)
    """

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    def _too_large(self) -> HTTPException:
        return HTTPException(
            413,
            f"the request body is over {self.max_bytes} bytes (RAG_MAX_BODY_BYTES)",
            headers={"Connection": "close"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            exc = self._too_large()
            response = error_response(413, "too_large", exc.detail, {"Connection": "close"})
            await response(scope, receive, send)
            return
        body_done = False
        size = 0

        async def guarded_receive() -> Message:
            nonlocal body_done, size
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                raise HTTPException(
                    408,
                    f"the request body did not arrive within {self.timeout:g} s "
                    "(RAG_CLIENT_TIMEOUT_S)",
                    headers={"Connection": "close"},
                ) from None
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                if size > self.max_bytes:
                    raise self._too_large()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        await self.app(scope, guarded_receive, send)


class AdminGate:
    """Checks the admin token of writes to documents before their body is read.

    FastAPI reads a body before it runs dependencies, so an unauthenticated client
    could otherwise make the server read and parse a large body only to be refused.
    """

    def __init__(self, app: ASGIApp, check: Callable[[str | None], None]) -> None:
        self.app = app
        self.check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope.get("method") in WRITE_METHODS
            and str(scope.get("path", "")).startswith(ADMIN_PREFIX)
        ):
            try:
                self.check(Headers(scope=scope).get("authorization"))
            except ApiError as exc:
                response = error_response(exc.status, exc.code, exc.message, exc.headers)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_middleware(app: ASGIApp, settings: Settings) -> None:
    """Stack the middleware on a FastAPI app (added last = outermost)."""
    from fastapi import FastAPI

    from api.deps import check_admin

    assert isinstance(app, FastAPI)
    app.add_middleware(
        BodyGuard, max_bytes=settings.max_body_bytes, timeout=settings.client_timeout_s
    )
    app.add_middleware(AdminGate, check=lambda auth: check_admin(settings, auth))
    app.add_middleware(ConcurrencyLimit, limit=settings.max_concurrent_requests)
    app.add_middleware(HostCheck, allowed=settings.allowed_hosts)
    app.add_middleware(SecurityHeaders)
