"""In-process fakes for unit tests: a deterministic embedder and a scripted generator."""

import hashlib
import math
import re
from collections.abc import Iterator, Sequence

from rag.generate import Draft
from rag.schema import Passage


class FakeEmbedder:
    """Hashes words into 64 buckets: same words, same vector; no model needed."""

    name = "minilm"  # pretends to be the default so stores accept it
    dim = 64

    def __init__(self) -> None:
        self.calls: list[int] = []  # batch sizes, to check what was (re-)embedded

    def _vector(self, text: str) -> list[float]:
        v = [0.0] * self.dim
        for word in re.findall(r"\w+", text.lower()):
            v[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norm = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / norm for x in v]

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(len(texts))
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


class ScriptedGenerator:
    """Returns queued texts in order and records what it was asked."""

    name = "scripted"

    def __init__(self, *texts: str) -> None:
        self.queue = list(texts)
        self.history: list[tuple[str, int]] = []

    def check(self) -> None:
        """Always ready."""

    def generate(self, question: str, passages: Sequence[Passage]) -> Draft:
        self.history.append((question, len(passages)))
        text = self.queue.pop(0)
        return Draft(text, answerable=not text.startswith("The articles do not"))

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str]:
        yield from re.findall(r"\S+\s*", self.generate(question, passages).text)
