"""Server-Sent Events: the service's answer events as `/api/chat` and OpenAI chunks.

Generators here are synchronous; `StreamingResponse` iterates them in the threadpool,
so each event is sent as soon as the service yields it. A failure after the first
event can no longer change the status code, so it becomes an `error` event.
Left out: `Last-Event-ID` resumption (an answer is cheap to ask again).
"""

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi.responses import StreamingResponse

from api.errors import status_of
from api.schemas import error_body
from rag.errors import RagError
from rag.ingest.chunking import count_tokens
from rag.public import answer_dict, citation_dict, passage_dict
from rag.service import StreamEvent

log = logging.getLogger("api")

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse(data: Any, event: str | None = None) -> str:
    """One SSE message; `data` is sent as compact JSON unless it is a string."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n"


def _failure(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, RagError):
        body = error_body(exc.code, str(exc))
        body["error"]["status"] = status_of(exc)
        return body
    log.exception("stream failed")
    return error_body("internal_error", "internal error; see the server log")


def chat_events(events: Iterator[StreamEvent]) -> Iterator[str]:
    """`sources`, then `token`s, then `done` (the answer object), or `error`."""
    try:
        for event in events:
            if event.kind == "sources":
                passages = [passage_dict(i, p) for i, p in enumerate(event.passages or [], 1)]
                yield sse({"passages": passages}, "sources")
            elif event.kind == "token":
                yield sse({"text": event.text, "final": event.final}, "token")
            elif event.kind == "done" and event.answer is not None:
                yield sse(answer_dict(event.answer), "done")
    except Exception as exc:  # reported to the client; the response has already begun
        yield sse(_failure(exc), "error")


def openai_chunks(events: Iterator[StreamEvent], model: str) -> Iterator[str]:
    """OpenAI `chat.completion.chunk`s; the last carries `citations`; then `[DONE]`.

    The content deltas always join to the checked answer text the citations refer to:
    final tokens (the reader's) stream as they come; an LLM's arrive once checked.
    """
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }

    def chunk(delta: dict[str, str], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {**base, "choices": [choice]}

    try:
        yield sse(chunk({"role": "assistant", "content": ""}))
        streamed = False
        for event in events:
            if event.kind == "token" and event.final:
                streamed = True
                yield sse(chunk({"content": event.text}))
            elif event.kind == "done" and event.answer is not None:
                # An LLM's tokens are provisional (the check may rewrite the answer or fall
                # back to the reader): its checked text goes out here, in one piece, so
                # the content a client assembles is the text the citations refer to.
                if not streamed:
                    yield sse(chunk({"content": event.answer.answer}))
                final = chunk({}, "stop")
                final["citations"] = [citation_dict(c) for c in event.answer.citations]
                final["retrieval_query"] = event.answer.retrieval_query
                yield sse(final)
    except Exception as exc:  # OpenAI clients read an `error` object from a data line
        yield sse(_failure(exc))
    yield sse("[DONE]")


def completion(answer_text: str, prompt: str, model: str) -> dict[str, Any]:
    """The non-streamed OpenAI envelope around an answer text (extra fields added by caller)."""
    prompt_tokens = count_tokens(prompt)
    completion_tokens = count_tokens(answer_text)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer_text},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def event_stream(body: Iterator[str]) -> StreamingResponse:
    """A `text/event-stream` response over a synchronous iterator of messages."""
    return StreamingResponse(body, media_type="text/event-stream", headers=HEADERS)
