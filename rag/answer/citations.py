"""Check an answer's `[n]` markers against the passages and resolve them to citations.

Whatever generator wrote the answer, markers outside 1..len(passages) are removed, and
each remaining citation records whether the passage states the values and names of the
sentences that cite it (`supported`, by `rag.answer.facts`). The quoted span is the
passage sentence that best matches those sentences, so
`quote == article[char_start:char_end]`. Sentences, of the answer and of the passage,
are spaCy's (`rag.answer.facts.sentence_spans`). Left out: judging paraphrases.
"""

import re
from collections.abc import Sequence

from rag.answer.facts import is_supported, sentence_spans
from rag.answer.text import content_terms, fold
from rag.schema import Citation, Passage

MARKER = re.compile(r"\s?\[(\d+(?:\s*,\s*\d+)*)\]")


def strip_invalid_markers(text: str, n_passages: int) -> str:
    """Remove markers that point at no passage; keep valid numbers of a `[1, 7]` group."""

    def keep(match: re.Match[str]) -> str:
        valid = [n for n in re.findall(r"\d+", match.group(1)) if 1 <= int(n) <= n_passages]
        return "".join(f" [{n}]" for n in dict.fromkeys(valid))

    return MARKER.sub(keep, text).strip()


def answer_sentences(text: str) -> list[str]:
    """The sentences of an answer, each with the markers that follow it.

    spaCy splits the answer with its markers blanked out (the sentence recogniser cuts
    at "[1]."); a marker between two sentences belongs to the one before it.
    """
    text = text.strip()
    masked = MARKER.sub(lambda m: " " * len(m.group()), text)
    starts = [start for start, _ in sentence_spans(masked)]
    if not starts:
        return [text] if text else []
    starts[0] = 0  # a marker opening the answer stays with the first sentence
    ends = [*starts[1:], len(text)]
    return [text[a:b].strip() for a, b in zip(starts, ends, strict=True) if text[a:b].strip()]


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


def best_span(claims: Sequence[str], passage: Passage) -> tuple[int, int]:
    """Article offsets of the passage sentence(s) closest to the claims; the passage if none."""
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
