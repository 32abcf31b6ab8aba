"""`POST /v1/chat/completions` and `GET /v1/models`, as OpenAI's clients expect them.

Citations travel in an extra `citations` field (on the response, or on the last stream
chunk). Left out: tools, several choices (`n`), logprobs and sampling parameters, which
are accepted and ignored; any `model` name is answered by this service's one model.
"""

from typing import Any

from fastapi import APIRouter
from openai.types import Model

from api.deps import ServiceDep
from api.schemas import ChatCompletion, ChatCompletionRequest, ErrorBody, ModelList
from api.sse import completion, event_stream, openai_chunks
from rag.answer.conversation import ask_turns, stream_turns
from rag.public import citation_dict

router = APIRouter(prefix="/v1", tags=["openai-compatible"])


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={400: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
def chat_completions(body: ChatCompletionRequest, service: ServiceDep) -> Any:
    """Answer the last user message; `stream: true` sends OpenAI chunks ending `[DONE]`."""
    model = service.settings.model_name
    turns = body.turns()
    if body.stream:
        return event_stream(openai_chunks(stream_turns(service, turns), model))
    answer = ask_turns(service, turns)
    out = completion(answer.answer, "\n".join(t.content for t in turns), model)
    return ChatCompletion.model_validate(
        {**out, "citations": [citation_dict(c) for c in answer.citations],
         "retrieval_query": answer.retrieval_query}
    )  # fmt: skip


@router.get("/models", response_model=ModelList)
def models(service: ServiceDep) -> ModelList:
    """The one model this service answers as."""
    card = Model(id=service.settings.model_name, object="model", created=0, owned_by="news-rag")
    return ModelList(object="list", data=[card])
