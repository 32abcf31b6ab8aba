"""`create_app()`: the FastAPI app that `rag serve` runs (uvicorn factory).

The routes are thin: validate the request, call `rag`, shape the response; the guards
every request passes first are in `api.middleware`, the limits of the HTTP server
itself in `api.server`. Left out: CORS (the page is served from the same origin),
authentication of questions, and HTTPS (run behind a proxy for that).
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from api.errors import install_error_handlers
from api.middleware import install_middleware
from api.routes import ask, documents, health, openai_compat, web
from api.routes.web import STATIC
from rag.config import Settings, get_settings
from rag.errors import RagError
from rag.service import RagService

log = logging.getLogger("api")


def _warm_up(service: RagService) -> None:
    """Load the models and indexes, then mark the app ready (runs in a thread)."""
    try:
        service.warm_up()
        service.generator.check()
    except RagError as exc:  # /readyz reports it; the process still serves /healthz
        log.error("not ready (generator %r): %s", service.settings.generator, exc)


def create_app(settings: Settings | None = None, *, service: RagService | None = None) -> FastAPI:
    """The app over one `RagService` (built from `settings`, or the environment)."""
    if service is None:
        service = RagService(settings or get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # In a thread, so /healthz answers while models load; /readyz waits for it.
        app.state.warm_up = asyncio.create_task(asyncio.to_thread(_warm_up, service))
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
    install_middleware(app, service.settings)
    return app
