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
    MONTHS,
    STOPWORDS,
    content_terms,
    content_words,
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

# Stems of role nouns: when a "who" question names one, the answer sentence must too.
ROLES = frozenset(
    content_terms(
        # Nouns only: "heads", "leads" and "commands" are verbs in most questions.
        "president minister governor mayor director ambassador inspector candidate "
        "counterpart chancellor undersecretary spokesman spokeswoman secretary ombudsman"
    )
)

# Weights of the sentence score; tuned on hand-checked questions (tests/test_answer.py).
W_DENSE, W_LEXICAL, W_TYPE, W_NEAR, W_RANK = 0.45, 0.45, 0.2, 0.1, 0.05
PAIR_PENALTY = 0.05  # a two-sentence answer must beat a one-sentence one clearly
# A dateline opening an article ("Dec. 1 (UPI) — SANTIAGO, Chile, Dec. 1 (UPI) — ") is
# not part of the answer.
_DATELINE = re.compile(r"^(?:[^—–()]{0,40}\([A-Z]{2,10}\)\s*[—–-]\s*)+")
MIN_SCORE = 0.42  # below this the best sentence is taken as not answering
MIN_LEXICAL = 0.2  # share of the question's (IDF-weighted) words the sentence must share


def expected_type(question: str) -> AnswerType:
    """The kind of value a question asks for."""
    q = fold(question)
    # The earliest cue wins: "Who was president when ...?" asks for a person.
    cues: tuple[tuple[re.Pattern[str], AnswerType], ...] = (
        (_DATE_Q, "date"),
        (_FIGURE_Q, "figure"),
        (_ACTOR_Q, "actor"),
    )
    found: list[tuple[int, AnswerType]] = []
    for pattern, kind in cues:
        match = pattern.search(q)
        if match:
            found.append((match.start(), kind))
    return min(found)[1] if found else "other"


def _figures(sentence: str) -> set[str]:
    without_dates = sentence
    for d in dates(sentence):
        without_dates = without_dates.replace(d, " ")
    return numbers(without_dates) | {str(v) for v in number_words(without_dates)}


def _is_actor_name(name: str) -> bool:
    # A person or organisation name has two or more words, or is an acronym ("ADN", "UPI");
    # single capitalised words are mostly places and nationalities.
    words = name.split()
    return len(words) >= 2 or (2 <= len(name) <= 5 and name.isupper())


def answer_values(kind: AnswerType, sentence: str, question: str) -> list[tuple[str, float]]:
    """Values of the asked kind in a sentence that the question lacks, with their strength.

    Strength is 1 for a precise value (a full date, digits, a full name) and lower for a
    vague one (a weekday, a number word).
    """
    if kind == "date":
        asked = {fold(d) for d in dates(question)}
        return [(d, _date_strength(d)) for d in dates(sentence) if fold(d) not in asked]
    if kind == "figure":
        asked = _figures(question)
        digits = numbers(sentence)
        values = []
        for value in _figures(sentence) - asked:
            values.append((value, 1.0 if value in digits else 0.7))
        return values
    if kind == "actor":
        # "Who is the mayor of Arica?" is not answered by a sentence about its governor.
        roles = [r for r in content_terms(question) if r in ROLES]
        sentence_terms = set(content_terms(sentence))
        if roles and not all(_shared_terms({r}, sentence_terms) for r in roles):
            return []
        return [(n, 1.0) for n in names(sentence) if _is_actor_name(n) and _novel(n, question)]
    return []


def _novel(name: str, question: str) -> bool:
    """Whether a name says something the question does not (one of its words is new)."""
    words = [w for w in name.split() if len(w) > 2 and fold(w) not in STOPWORDS]
    return any(not has_word(question, w) for w in words)


def _date_strength(expression: str) -> float:
    """How precisely a date expression pins a day: a full date 1, a weekday 0.5."""
    has_day = re.search(r"\d{1,2}(?!\d)", expression) and re.search(
        rf"(?:{MONTHS})", expression, re.IGNORECASE
    )
    if has_day or re.fullmatch(r"\d{4}-\d{2}-\d{2}", expression):
        return 1.0
    if re.search(r"\d{4}", expression):
        return 0.9 if re.search(rf"(?:{MONTHS})", expression, re.IGNORECASE) else 0.8
    if re.search(rf"(?:{MONTHS})", expression, re.IGNORECASE):
        return 0.7
    return 0.5  # a weekday or "(28)"


def _positions(sentence: str, needles: Sequence[str]) -> list[int]:
    """Word positions where any needle starts (needles folded, matched on word prefix)."""
    words = [fold(w) for w in re.findall(r"[\w’'.,-]+", sentence)]
    found = []
    for i, word in enumerate(words):
        if any(word.startswith(n) for n in needles if n):
            found.append(i)
    return found


def proximity(values: Sequence[str], sentence: str, question_terms: Sequence[str]) -> float:
    """1 when an answer value stands next to a question word, falling to 0 at ten words."""
    value_starts = [fold(v).split()[0].replace(",", "") for v in values if v.strip()]
    words = [fold(w).replace(",", "") for w in re.findall(r"[\w’'.,-]+", sentence)]
    at_values = [i for i, w in enumerate(words) if any(w.startswith(v) for v in value_starts)]
    at_terms = _positions(sentence, question_terms)
    if not at_values or not at_terms:
        return 0.0
    gap = min(abs(a - b) for a in at_values for b in at_terms)
    return max(0.0, 1.0 - gap / 10)


def key_entities(question: str) -> list[str]:
    """Names and numbers in a question that an answer passage must mention."""
    found = [re.sub(r"[’']s$", "", n) for n in names(question)]
    return found + sorted(numbers(question))


@dataclass
class Candidate:
    """One passage sentence (or a sentence and the next) with its score parts."""

    passage: int  # 1-based passage number
    text: str
    dense: float
    lexical: float
    strength: float  # of the best answer value of the asked kind; 0 when there is none
    near: float  # proximity of that value to the question's words
    score: float = 0.0


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

    def _sentences(self, passages: Sequence[Passage]) -> list[tuple[int, list[str]]]:
        """Whole sentences of each passage, each sentence kept once (passages overlap)."""
        seen: set[str] = set()
        out = []
        for number, passage in enumerate(passages, start=1):
            sentences = []
            for start, end in sentence_spans(passage.text):
                sentence = _DATELINE.sub("", passage.text[start:end].strip())
                # A chunk can open mid-sentence (overlap); that fragment is not a candidate.
                if start == 0 and passage.char_start > 0 and not sentence[:1].isupper():
                    continue
                if len(sentence) >= 20 and sentence not in seen:
                    seen.add(sentence)
                    sentences.append(sentence)
            out.append((number, sentences))
        return out

    def candidates(self, question: str, passages: Sequence[Passage]) -> list[Candidate]:
        """Every whole sentence of the passages, scored, best first."""
        idf = self._term_idf()
        default_idf = max(idf.values(), default=1.0)
        q_terms = set(content_terms(question))
        q_weight = sum(idf.get(t, default_idf) for t in q_terms) or 1.0
        q_words = [fold(w) for w in content_words(question)]
        kind = expected_type(question)
        grouped = self._sentences(passages)
        flat = [s for _, group in grouped for s in group]
        if not flat:
            return []
        q_vec = np.asarray(self._embedder.embed_query(question), dtype=np.float32)
        cosine = dict(zip(flat, (self._embed(flat) @ q_vec).tolist(), strict=True))

        def judge(number: int, text: str, dense: float, lexical: float) -> Candidate:
            values = answer_values(kind, text, question)
            strength = max((v for _, v in values), default=0.0)
            near = proximity([v for v, _ in values], text, q_words) if values else 0.0
            return Candidate(number, text, dense, lexical, strength, near)

        scored: list[Candidate] = []
        for number, sentences in grouped:
            for i, sentence in enumerate(sentences):
                shared = _shared_terms(q_terms, set(content_terms(sentence)))
                lexical = sum(idf.get(t, default_idf) for t in shared) / q_weight
                one = judge(number, sentence, cosine[sentence], lexical)
                scored.append(one)
                # The value asked for is often in the next sentence ("... in 2023. Then-President
                # Dina Boluarte justified ..."): offer the pair when this sentence lacks it.
                if (
                    kind != "other"
                    and one.strength < 1.0
                    and i + 1 < len(sentences)
                    and _ends(sentence)  # neither sentence may be a heading
                    and _ends(sentences[i + 1])
                ):
                    pair = judge(number, f"{sentence} {sentences[i + 1]}", one.dense, lexical)
                    if pair.strength > one.strength:
                        pair.near *= 0.5
                        pair.dense -= PAIR_PENALTY
                        scored.append(pair)
        typed = kind != "other"
        for c in scored:
            c.score = (
                W_DENSE * c.dense
                + W_LEXICAL * c.lexical
                + (W_TYPE * c.strength - W_TYPE * (c.strength == 0) + W_NEAR * c.near) * typed
                + W_RANK / c.passage
            )
        return sorted(scored, key=lambda c: c.score, reverse=True)

    def check(self) -> None:
        """Always ready: it needs only the embedder."""

    def generate(self, question: str, passages: Sequence[Passage]) -> Draft:
        if not passages:
            return Draft(REFUSAL, answerable=False)
        # Only passages that mention every name and number of the question may answer it
        # (their title and outlet count: "according to Biobiochile").
        entities = key_entities(question)
        allowed = {
            n
            for n, p in enumerate(passages, start=1)
            if all(_mentioned(e, f"{p.title} {p.outlet or ''} {p.text}") for e in entities)
        }
        ranked = [c for c in self.candidates(question, passages) if c.passage in allowed]
        if not ranked:
            return Draft(REFUSAL, answerable=False)
        best = ranked[0]
        typed_ok = best.strength > 0 or expected_type(question) == "other"
        if best.score < MIN_SCORE or best.lexical < MIN_LEXICAL or not typed_ok:
            return Draft(REFUSAL, answerable=False)
        return Draft(f"{best.text} [{best.passage}]", answerable=True)

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str]:
        text = self.generate(question, passages).text
        yield from re.findall(r"\S+\s*", text)


def _ends(sentence: str) -> bool:
    return sentence.rstrip("”\"' ").endswith((".", "!", "?"))


def _shared_terms(question: set[str], sentence: set[str]) -> set[str]:
    """Question terms the sentence has, counting stems that extend each other
    ("chile"/"chilean", "peru"/"peruvian"), which the English stemmer keeps apart."""
    shared = question & sentence
    for term in question - shared:
        if len(term) >= 4 and any(
            len(other) >= 4 and (other.startswith(term) or term.startswith(other))
            for other in sentence
        ):
            shared.add(term)
    return shared


def _mentioned(entity: str, context: str) -> bool:
    """Whether a question's name or number occurs in a text.

    Names match on word stems both ways, so "Ecuador" is found in "Ecuadorian" and
    "Chilean" in "Chile".
    """
    if re.fullmatch(r"[\d.]+", entity):
        return entity in numbers(context)
    words = set(re.findall(r"\w+", fold(context)))
    for part in fold(entity).split():
        if len(part) <= 2:
            continue
        if any(w.startswith(part) or (len(w) >= 4 and part.startswith(w)) for w in words):
            return True
    return False
