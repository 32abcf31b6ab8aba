"""`GET /healthz` (the process answers) and `GET /readyz` (index, embedder, generator usable).

`/readyz` asks an OpenAI-compatible backend for its model list, one cheap request per
probe, so a wrong key, model name or address shows up there before the first question.
"""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from api.deps import ServiceDep
from api.schemas import Health, Ready

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> dict[str, str]:
    """Liveness: on the event loop, never queued behind questions in the thread pool."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Ready, responses={503: {"model": Ready}})
def readyz(request: Request, service: ServiceDep) -> JSONResponse:
    """Readiness: each part's state; 503 while warming up or if a part fails.

    An empty index is ready (`checks.index == "empty"`): the server takes documents.
    """
    warm_up = getattr(request.app.state, "warm_up", None)
    if warm_up is not None and not warm_up.done():
        body = Ready(status="warming_up", documents=None, embedder=service.settings.embedder,
                     generator=service.settings.generator, checks={})  # fmt: skip
        return JSONResponse(body.model_dump(), status_code=503, headers={"Retry-After": "1"})
    state = service.readiness()
    body = Ready(
        status="ready" if state["ready"] else "not_ready",
        documents=state.get("documents"),  # type: ignore[arg-type]
        embedder=service.settings.embedder,
        generator=service.settings.generator,
        checks={k: str(state[k]) for k in ("index", "embedder", "generator")},
    )
    return JSONResponse(body.model_dump(), status_code=200 if state["ready"] else 503)
