"""`POST /api/ask` and `POST /api/chat`: questions, single or in a conversation.

Left out: server-side conversation storage; the client sends the history each time.
"""

from typing import Any

from fastapi import APIRouter

from api.deps import ServiceDep
from api.schemas import AskRequest, ChatRequest, ErrorBody
from api.sse import chat_events, event_stream
from rag.answer.conversation import ask_turns, stream_turns
from rag.public import AnswerPublic

router = APIRouter(prefix="/api", tags=["questions"])

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Empty or over-long question, malformed JSON"},
    422: {"model": ErrorBody, "description": "Wrong field types or unknown fields"},
}


@router.post("/ask", response_model=AnswerPublic, responses=ERRORS)
def ask(body: AskRequest, service: ServiceDep) -> AnswerPublic:
    """Answer one question with checked citations (the object `rag ask --json` prints)."""
    filters = body.filters.to_filters() if body.filters else None
    return AnswerPublic.of(service.ask(body.question, top_k=body.top_k, filters=filters))


@router.post(
    "/chat",
    response_model=AnswerPublic,
    responses={
        **ERRORS,
        200: {
            "description": "The answer; with `stream: true` Server-Sent Events "
            "`sources`, `token`..., `done` (or `error`)",
            "content": {"text/event-stream": {}},
        },
    },
)
def chat(body: ChatRequest, service: ServiceDep) -> Any:
    """Answer the last user message, rewriting a follow-up into a standalone query."""
    filters = body.filters.to_filters() if body.filters else None
    if body.stream:
        events = stream_turns(service, body.turns(), top_k=body.top_k, filters=filters)
        return event_stream(chat_events(events))
    return AnswerPublic.of(ask_turns(service, body.turns(), top_k=body.top_k, filters=filters))
