"""Check an answer's `[n]` markers against the passages and resolve them to citations.

Whatever generator wrote the answer, markers outside 1..len(passages) are removed, and
each remaining citation records whether the numbers, dates and names of the sentences
that cite it occur in the cited passage (`supported`). The quoted span is the passage
sentence that best matches those sentences, so `quote == article[char_start:char_end]`.
"""

import re
from collections.abc import Sequence

from wordfreq import zipf_frequency

from rag.answer.text import content_terms, dates, fold, has_word, names, number_words, numbers
from rag.schema import Citation, Passage

COMMON_WORD = 4.0  # Zipf frequency from which a word is a common English word, not a name
MARKER = re.compile(r"\s?\[(\d+(?:\s*,\s*\d+)*)\]")


def strip_invalid_markers(text: str, n_passages: int) -> str:
    """Remove markers that point at no passage; keep valid numbers of a `[1, 7]` group."""

    def keep(match: re.Match[str]) -> str:
        valid = [n for n in re.findall(r"\d+", match.group(1)) if 1 <= int(n) <= n_passages]
        return "".join(f" [{n}]" for n in dict.fromkeys(valid))

    return MARKER.sub(keep, text).strip()


# An answer's sentence ends at . ! ? or a closing marker, before a capital or a quote:
# answers are short generated text, so no sentence model is needed to split them.
_ANSWER_SENTENCE_END = re.compile(r"(?<=[.!?\]])\s+(?=[A-Z“\"(])")


def answer_sentences(text: str) -> list[str]:
    """The sentences of an answer, each with the markers that follow it."""
    return [p for p in _ANSWER_SENTENCE_END.split(text.strip()) if p.strip()]


def claims_by_marker(text: str) -> dict[int, list[str]]:
    """The sentences (without markers) that cite each passage number."""
    cited: dict[int, list[str]] = {}
    # A marker belongs to the sentence it ends or follows.
    for piece in answer_sentences(text):
        plain = MARKER.sub("", piece).strip()
        for match in MARKER.finditer(piece):
            for n in re.findall(r"\d+", match.group(1)):
                cited.setdefault(int(n), []).append(plain)
    return cited


def facts(sentence: str) -> list[str]:
    """Numbers, dates and names a sentence states: what a passage must contain to back it."""
    found = sorted(numbers(sentence)) + dates(sentence) + sorted(names(sentence))
    return list(dict.fromkeys(found))


def fact_supported(fact: str, passage: str) -> bool:
    """Whether one fact occurs in a passage (digits compared without separators)."""
    if re.fullmatch(r"[\d.]+", fact):
        return fact in numbers(passage) or int(float(fact)) in number_words(passage)
    if has_word(passage, fact):
        return True
    # A multi-word name counts when each of its words is there, titles, roles and other
    # common English words aside ("Prime Minister Jane Doe" ~ "Jane Doe"); a misspelt
    # name word does not.
    parts = [w for w in fact.split() if zipf_frequency(fold(w), "en") < COMMON_WORD]
    return len(parts) > 0 and len(fact.split()) > 1 and all(has_word(passage, w) for w in parts)


def is_supported(claims: Sequence[str], passage: str) -> bool:
    """Every fact of every claim occurs in the passage."""
    return all(fact_supported(f, passage) for claim in claims for f in facts(claim))


def best_span(claims: Sequence[str], passage: Passage) -> tuple[int, int]:
    """Article offsets of the passage sentence(s) closest to the claims; the passage if none."""
    from rag.answer.text import sentence_spans

    claim_terms = set(content_terms(" ".join(claims)))
    claim_folded = [fold(c) for c in claims]
    best: tuple[float, int, int] | None = None
    for start, end in sentence_spans(passage.text):
        sentence = passage.text[start:end]
        if any(fold(sentence) in c or c in fold(sentence) for c in claim_folded if c):
            return passage.char_start + start, passage.char_start + end
        overlap = len(claim_terms & set(content_terms(sentence)))
        if overlap and (best is None or overlap > best[0]):
            best = (overlap, start, end)
    if best is None:
        return passage.char_start, passage.char_end
    return passage.char_start + best[1], passage.char_start + best[2]


def resolve(text: str, passages: Sequence[Passage]) -> tuple[str, list[Citation]]:
    """Clean the markers of an answer and build its checked citations, in marker order."""
    text = strip_invalid_markers(text, len(passages))
    citations: list[Citation] = []
    for n, claims in claims_by_marker(text).items():
        passage = passages[n - 1]
        start, end = best_span(claims, passage)
        citations.append(passage.cite(n, start, end, supported=is_supported(claims, passage.text)))
    return text, citations
