"""Answer the last question of a conversation, rewriting a follow-up into a standalone query.

A follow-up (one that leans on a pronoun, opens with "and"/"what about", or has almost
no content words of its own) is made standalone. With an LLM generator that can
`rewrite`, the model rewrites it from the conversation (prompt `prompts/condense.md`);
otherwise, or when the model fails, a deterministic heuristic appends the content words
of the previous user turns, most recent first. Left out: coreference resolution.
"""

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from rag.answer.text import content_terms, content_words, fold
from rag.errors import InvalidInput
from rag.index.retrieve import Filters
from rag.ingest.chunking import count_tokens
from rag.schema import Answer
from rag.service import RagService, StreamEvent

# Words that point back at something said before.
REFERRING = frozenset(
    [
        "it",
        "its",
        "it's",
        "they",
        "them",
        "their",
        "theirs",
        "this",
        "that",
        "these",
        "those",
        "there",
        "he",
        "him",
        "his",
        "she",
        "her",
        "then",
        "same",
        "such",
        "former",
        "latter",
    ]
)
_OPENER = re.compile(
    r"^\s*(?:and|but|also|so|or|then|what about|how about|what else|anything else)\b",
    re.IGNORECASE,
)
SHORT_QUESTION_TERMS = 1  # a question with this few content words cannot stand alone
CONTEXT_TURNS = 3  # previous user turns searched for context
CONTEXT_WORDS = 12  # at most this many words added to a follow-up


@dataclass(frozen=True)
class Turn:
    """One message of a conversation."""

    role: str  # "user", "assistant" or "system"
    content: str


def is_follow_up(question: str) -> bool:
    """Whether a question probably depends on the conversation before it."""
    words = {fold(w) for w in re.findall(r"[\w']+", question)}
    if words & REFERRING or _OPENER.match(question):
        return True
    return len(content_terms(question)) <= SHORT_QUESTION_TERMS


class Rewriter(Protocol):
    """What condensing needs of a generator (every `Generator` has it)."""

    def rewrite(self, history: str, question: str) -> str | None:
        """The standalone question, or None when it cannot rewrite."""
        ...


def condense(turns: Sequence[Turn], rewriter: Rewriter | None = None) -> tuple[str, str]:
    """The last user question and the standalone query to retrieve passages for it."""
    if not turns or turns[-1].role != "user":
        raise InvalidInput("the last message must be the user's question")
    question = turns[-1].content.strip()
    earlier = [t.content for t in turns[:-1] if t.role == "user"][-CONTEXT_TURNS:]
    if not earlier or not is_follow_up(question):
        return question, question
    if rewriter is not None:
        history = "\n".join(f"{t.role}: {t.content.strip()}" for t in turns[:-1][-6:])
        rewritten = rewriter.rewrite(history, question)
        if rewritten:
            return question, rewritten
    have = set(content_terms(question))
    added: list[str] = []
    for text in reversed(earlier):
        for word in content_words(text):
            terms = content_terms(word)
            if not terms or terms[0] in have:
                continue
            have.add(terms[0])
            added.append(word)
    if not added:
        return question, question
    return question, f"{question} {' '.join(added[:CONTEXT_WORDS])}"


def stream_turns(
    service: RagService,
    turns: Sequence[Turn],
    *,
    top_k: int | None = None,
    filters: Filters | None = None,
) -> Iterator[StreamEvent]:
    """Answer the last question as events; validation errors are raised before the first.

    The condensed query is what is retrieved and answered: a bare "how long will it
    last?" names nothing for an answer to be about. The answer reports the question the
    user asked.
    """
    question, query = condense(turns, service.generator)
    service.check_question(question)
    if count_tokens(query) > service.settings.max_question_tokens:
        query = question  # the added context must not turn a valid question into an error
    return service.ask_stream(question, query=query, top_k=top_k, filters=filters)


def ask_turns(
    service: RagService,
    turns: Sequence[Turn],
    *,
    top_k: int | None = None,
    filters: Filters | None = None,
) -> Answer:
    """Answer the last question of a conversation in one piece."""
    for event in stream_turns(service, turns, top_k=top_k, filters=filters):
        if event.kind == "done" and event.answer is not None:
            return event.answer
    raise RuntimeError("the answer stream ended without a result")  # a bug, not bad input
