"""`create_app()`: the FastAPI app that `rag serve` runs (uvicorn factory).

The routes are thin: validate the request, call `rag`, shape the response. Left out:
CORS (the page is served from the same origin), authentication of questions, and
HTTPS (run behind a proxy for that).
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import install_error_handlers
from api.routes import ask, documents, health, openai_compat, web
from api.routes.web import STATIC
from rag.config import Settings, get_settings
from rag.errors import RagError
from rag.service import RagService

log = logging.getLogger("api")

# The page loads only its own script and styles; nothing inline, nothing from elsewhere.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
# Swagger UI and ReDoc bootstrap with an inline script (their assets are served locally).
DOCS_PATHS = ("/docs", "/redoc")


class SecurityHeaders:
    """Adds CSP, nosniff and friends to every response (pure ASGI, so streams stay streams)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = str(scope.get("path", "")).startswith(DOCS_PATHS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"no-referrer"))
                if not docs:
                    headers.append((b"content-security-policy", CSP.encode()))
                    headers.append((b"x-frame-options", b"DENY"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _warm_up(service: RagService) -> None:
    """Load the embedder and BM25 and check the generator before the first question."""
    try:
        service.retriever.texts()
    except RagError as exc:  # /readyz reports it; the process still serves /healthz
        log.warning("warm-up failed: %s", exc)
    try:
        service.generator.check()
    except RagError as exc:
        log.error("generator %r is not ready: %s", service.settings.generator, exc)


def create_app(settings: Settings | None = None, *, service: RagService | None = None) -> FastAPI:
    """The app over one `RagService` (built from `settings`, or the environment)."""
    if service is None:
        service = RagService(settings or get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _warm_up(service)
        yield

    # FastAPIOffline serves Swagger UI and ReDoc from its package: /docs works offline.
    app = FastAPIOffline(
        title="News RAG",
        summary="Questions answered from news articles, with checked citations.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.service = service
    install_error_handlers(app)
    for module in (web, ask, openai_compat, documents, health):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SecurityHeaders)
    return app
