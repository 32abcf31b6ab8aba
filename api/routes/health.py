"""`GET /healthz` (the process answers) and `GET /readyz` (index, embedder, generator usable).

`/readyz` asks an OpenAI-compatible backend for its model list, one cheap request per
probe, so a wrong key, model name or address shows up there before the first question.
"""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.deps import ServiceDep
from api.schemas import Health, Ready

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> dict[str, str]:
    """Liveness: cheap, touches no backend."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Ready, responses={503: {"model": Ready}})
def readyz(service: ServiceDep) -> JSONResponse:
    """Readiness: each part's state; 503 with the failing part's message if one fails."""
    state = service.readiness()
    body = Ready(
        status="ready" if state["ready"] else "not_ready",
        documents=state.get("documents"),  # type: ignore[arg-type]
        embedder=service.settings.embedder,
        generator=service.settings.generator,
        checks={k: str(state[k]) for k in ("index", "embedder", "generator")},
    )
    return JSONResponse(body.model_dump(), status_code=200 if state["ready"] else 503)
