"""The `Generator` contract and `GENERATORS`, the registry that picks one by name.

A generator sees the question and the numbered passages (1-based) and returns text
with `[n]` markers; it never builds citations itself: `rag.answer.citations` checks every
marker against the passages afterwards, whoever wrote it.
"""

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from rag.config import Settings
from rag.registry import Registry
from rag.schema import Citation, Conflict, Passage

if TYPE_CHECKING:
    from rag.index.store import Store

REFUSAL = "The articles do not contain an answer to this question."


@dataclass
class Draft:
    """A generator's answer before the citation check."""

    text: str
    answerable: bool
    # Set by a generator that cites exact spans itself (the reader); None means the
    # text's `[n]` markers still need checking and resolving (`rag.answer.citations`).
    citations: list[Citation] | None = None
    corroborated_by: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    # How likely the answer is right (0-1), from a generator that can tell (the reader's
    # fitted scorer; for a refusal, how unlikely the best candidate was); None otherwise.
    confidence: float | None = None


class Generator(Protocol):
    """Writes a short answer to a question from numbered passages."""

    name: str
    # True when the streamed pieces are the answer's final text (the generator cites
    # exact spans itself); False when they still go through the citation check.
    final_stream: bool

    def rewrite(self, history: str, question: str) -> str | None:
        """A follow-up question made standalone from the conversation, or None (then
        `rag.answer.conversation` falls back to its heuristic)."""
        ...

    def check(self) -> None:
        """Raise a `RagError` saying what is wrong if the backend cannot answer now."""
        ...

    def generate(self, question: str, passages: Sequence[Passage]) -> Draft:
        """The whole answer at once."""
        ...

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str | Draft]:
        """The answer as text pieces, then the `Draft` they spell as the last item.

        The `Draft` carries what text cannot: refusal as a flag, citations,
        corroboration. Callers never recognise a refusal by its wording.
        """
        ...


# name -> factory(settings, store). The modules are imported only when one is built, so
# naming `local` does not load llama.cpp.
GENERATORS: Registry[Generator] = Registry("generator", "RAG_GENERATOR")


@GENERATORS.register("extractive")
def _reader(settings: Settings, store: "Store") -> Generator:
    from rag.answer.reader import Reader, passage_annotations

    return Reader(passage_annotations(store.get_annotations))


@GENERATORS.register("openai")
def _openai(settings: Settings, store: "Store") -> Generator:
    from rag.answer.llm import OpenAIGenerator

    return OpenAIGenerator(settings)


@GENERATORS.register("local")
def _local(settings: Settings, store: "Store") -> Generator:
    from rag.answer.local_llm import LocalGenerator

    return LocalGenerator(settings)
