"""The `openai` generator: OpenAI or any OpenAI-compatible server (vLLM, Ollama, llama.cpp).

Passages go into the prompt fenced as data, so an article saying "ignore previous
instructions" stays text. The model is asked to cite `[n]`; `rag.answer.citations` checks
what it wrote. Left out here: guaranteeing citations for models that do not write them.
"""

import re
from collections.abc import Iterator, Sequence

import httpx
import openai
from openai import OpenAI

from rag.answer.generate import REFUSAL, Draft
from rag.answer.prompts import load_prompt
from rag.config import Settings
from rag.errors import BackendUnavailable, ConfigError
from rag.schema import Passage
from rag.upstream import failure_message, redact, server_label

NOT_FOUND = "NOT_IN_ARTICLES"
# Models often refuse in their own words instead of the agreed token.
_REFUSING = re.compile(
    r"\b(?:passages|articles|context|text)s? (?:do(?:es)? not|don't|doesn't) "
    r"(?:contain|mention|provide|say|include|state)|\bno information (?:about|on)\b",
    re.IGNORECASE,
)


def render_messages(
    question: str, passages: Sequence[Passage], settings: Settings
) -> list[dict[str, str]]:
    """System and user messages for one question."""
    block = load_prompt(settings.prompts_dir, "passage")
    fenced = "\n".join(
        block.format(
            n=i,
            title=p.title.replace('"', "'"),
            published=p.published.isoformat() if p.published else "unknown",
            # A passage must not close its own fence.
            text=p.text.replace("</passage>", "</ passage>"),
        )
        # Only the best few passages; their numbers stay those of the retrieved list.
        for i, p in enumerate(passages[: settings.llm_passages], start=1)
    )
    user = load_prompt(settings.prompts_dir, "answer").format(passages=fenced, question=question)
    return [
        {"role": "system", "content": load_prompt(settings.prompts_dir, "system")},
        {"role": "user", "content": user},
    ]


def to_draft(text: str) -> Draft:
    """A model's reply as a `Draft`; an empty reply or `NOT_IN_ARTICLES` is a refusal."""
    text = text.strip()
    if not text or NOT_FOUND in text or _REFUSING.search(text[:200]):
        return Draft(REFUSAL, answerable=False)
    return Draft(text, answerable=True)


def condense_messages(history: str, question: str, settings: Settings) -> list[dict[str, str]]:
    """The one message that asks a model to make a follow-up question standalone."""
    prompt = load_prompt(settings.prompts_dir, "condense")
    return [{"role": "user", "content": prompt.format(history=history, question=question)}]


def clean_rewrite(text: str) -> str | None:
    """A model's rewritten question, or None when it is unusable (empty, rambling)."""
    line = text.strip().splitlines()[0].strip().strip('"') if text.strip() else ""
    return line if 3 <= len(line) <= 300 else None


class OpenAIGenerator:
    """Chat completions against `RAG_OPENAI_BASE_URL` (OpenAI's API when unset)."""

    name = "openai"
    final_stream = False

    def __init__(self, settings: Settings) -> None:
        if not settings.openai_base_url and not settings.openai_key():
            raise ConfigError(
                "RAG_GENERATOR=openai needs RAG_OPENAI_API_KEY for OpenAI's API, or "
                "RAG_OPENAI_BASE_URL for an OpenAI-compatible server"
            )
        self._settings = settings
        self._client = OpenAI(
            api_key=settings.openai_key() or "not-needed",
            base_url=settings.openai_base_url,
            timeout=settings.openai_timeout_s,
            max_retries=settings.openai_max_retries,
        )

    def check(self) -> None:
        """Ask the server for its models: unreachable, refused key and unknown model all fail.

        Messages never repeat the server's error text (see `rag.upstream`); exceptions are
        raised `from None` so no traceback carries it either.
        """
        try:
            served = [
                m.id for m in self._client.with_options(timeout=10, max_retries=0).models.list()
            ]
        except openai.AuthenticationError as exc:
            raise ConfigError(self._failure(exc, "listing models")) from None
        except openai.APIError as exc:
            raise BackendUnavailable(self._failure(exc, "listing models")) from None
        if served and self._settings.openai_model not in served:
            # Model ids come from the server too: masked and cut short like any reply.
            names = ", ".join(redact(m, [self._settings.openai_key()], 80) for m in served[:10])
            raise ConfigError(
                f"RAG_OPENAI_MODEL={self._settings.openai_model!r} is not served by "
                f"{server_label(self._settings)}; it serves: {names}"
            )

    def _failure(self, exc: Exception, action: str) -> str:
        return failure_message(exc, self._settings, action)

    def rewrite(self, history: str, question: str) -> str | None:
        """A standalone version of a follow-up question, or None if the model fails."""
        try:
            resp = self._client.chat.completions.create(
                model=self._settings.openai_model,
                messages=condense_messages(history, question, self._settings),  # type: ignore[arg-type]
                temperature=0,
                max_tokens=60,
            )
        except openai.APIError as exc:
            self._failure(exc, "rewriting a follow-up question")  # logged, redacted
            return None  # the offline heuristic takes over
        return clean_rewrite(resp.choices[0].message.content or "")

    def generate(self, question: str, passages: Sequence[Passage]) -> Draft:
        if not passages:
            return Draft(REFUSAL, answerable=False)
        try:
            resp = self._client.chat.completions.create(
                model=self._settings.openai_model,
                messages=render_messages(question, passages, self._settings),  # type: ignore[arg-type]
                temperature=0,
                max_tokens=self._settings.llm_max_tokens,
            )
        except openai.APIError as exc:
            raise BackendUnavailable(self._failure(exc, "answering")) from None
        return to_draft(resp.choices[0].message.content or "")

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str | Draft]:
        if not passages:
            yield REFUSAL
            yield Draft(REFUSAL, answerable=False)
            return
        try:
            chunks = self._client.chat.completions.create(
                model=self._settings.openai_model,
                messages=render_messages(question, passages, self._settings),  # type: ignore[arg-type]
                temperature=0,
                max_tokens=self._settings.llm_max_tokens,
                stream=True,
            )
            pieces = (
                chunk.choices[0].delta.content or ""
                for chunk in chunks
                if not isinstance(chunk, tuple) and chunk.choices  # tuple: never when streaming
            )
            yield from hold_refusal(pieces)
        # Iterating a stream raises httpx's own errors when the connection breaks mid-answer.
        except (openai.APIError, httpx.TransportError) as exc:
            raise BackendUnavailable(self._failure(exc, "answering")) from None


def hold_refusal(pieces: Iterator[str]) -> Iterator[str | Draft]:
    """Pass text pieces through, but turn a streamed `NOT_IN_ARTICLES` into `REFUSAL`;
    end with the `Draft` of the whole reply (`to_draft`)."""
    held: str | None = ""  # held back while it may still become NOT_FOUND
    reply: list[str] = []
    for piece in pieces:
        reply.append(piece)
        if held is not None:
            held += piece
            if NOT_FOUND in held:
                yield REFUSAL
                yield Draft(REFUSAL, answerable=False)
                return
            if NOT_FOUND.startswith(held.strip()):
                continue
            piece, held = held, None
        if piece:
            yield piece
    if held is not None:  # nothing but blanks or a prefix of NOT_FOUND arrived
        yield REFUSAL
    yield to_draft("".join(reply))
