"""FastAPI dependencies: the app's one `RagService` and the admin-token check.

Left out: user accounts and rate limiting; the token only guards index changes.
"""

import secrets
from typing import Annotated

from fastapi import Depends, Header, Request

from api.errors import ApiError
from rag.config import Settings
from rag.service import RagService


def get_service(request: Request) -> RagService:
    """The service created with the app (one per process, shared by all requests)."""
    service: RagService = request.app.state.service
    return service


ServiceDep = Annotated[RagService, Depends(get_service)]


def check_admin(settings: Settings, authorization: str | None) -> None:
    """Raise unless `authorization` is `Bearer <RAG_ADMIN_TOKEN>` (403 when none is set)."""
    token = settings.admin_token
    if token is None or not token.get_secret_value():
        raise ApiError(
            403,
            "admin_disabled",
            "adding and deleting documents is disabled; set RAG_ADMIN_TOKEN on the server "
            "and send it as `Authorization: Bearer <token>`",
        )
    scheme, _, given = (authorization or "").partition(" ")
    challenge = {"WWW-Authenticate": "Bearer"}
    if scheme.lower() != "bearer" or not given.strip():
        raise ApiError(401, "unauthorized", "send `Authorization: Bearer <token>`", challenge)
    # Constant-time comparison, so response times do not leak the token.
    if not secrets.compare_digest(given.strip().encode(), token.get_secret_value().encode()):
        raise ApiError(401, "unauthorized", "the bearer token is wrong", challenge)


def require_admin(
    service: ServiceDep,
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """The admin check as a dependency (api.middleware.AdminGate runs it before the body)."""
    check_admin(service.settings, authorization)


AdminDep = Depends(require_admin)
