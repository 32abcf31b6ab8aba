"""`GET /healthz` (the process answers) and `GET /readyz` (index and embedder usable).

Left out: probing an LLM backend from `/readyz` (it would cost a request per probe).
"""

from typing import Any

from fastapi import APIRouter

from api.deps import ServiceDep
from api.schemas import ErrorBody, Health, Ready

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> dict[str, str]:
    """Liveness: cheap, touches no backend."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Ready, responses={503: {"model": ErrorBody}})
def readyz(service: ServiceDep) -> dict[str, Any]:
    """Readiness: loads the embedder if needed and counts the documents (503 if either fails)."""
    embedder = service.embedder
    documents = len(service.documents())
    return {"status": "ready", "documents": documents, "embedder": embedder.name,
            "generator": service.settings.generator}  # fmt: skip
