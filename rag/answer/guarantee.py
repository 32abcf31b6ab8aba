"""Make an LLM's answer cite its passages, whatever the model wrote.

Small models rarely write `[n]` and drift from the passages, so the service, not the
model, guarantees the citations:
- markers pointing at no passage are dropped; a marker whose passage does not state
  the sentence's values and names (`rag.answer.facts`) is moved to a passage that does;
- a sentence without a marker gets one from the passage that states its facts (or,
  for a sentence without facts, the passage sharing most of its words);
- a sentence no passage supports is reported in `unsupported`;
- when a value or name the answer adds to the question is stated by no passage,
  the answer is taken as made up and the caller falls back to the extractive answer;
  so it does when no sentence at all could be given a marker (`cited` is 0), since
  every claim of an answer must point at the passage that states it;
- a sentence repeated word for word (small models loop) is kept once.
Left out: judging paraphrases (values are compared in canonical form, names as spelt).
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from rag.answer.citations import MARKER, answer_sentences, strip_invalid_markers
from rag.answer.facts import claim_facts, is_supported, unstated
from rag.answer.text import content_terms
from rag.schema import Passage


@dataclass
class Guaranteed:
    """An LLM answer after the guarantee."""

    text: str
    unsupported: list[str] = field(default_factory=list)
    invented: list[str] = field(default_factory=list)  # facts (as written) no passage states
    cited: int = 0  # sentences that carry a marker after the guarantee


def _overlap(sentence: str, passage: str) -> int:
    return len(set(content_terms(sentence)) & set(content_terms(passage)))


def _best_passage(sentence: str, passages: Sequence[Passage]) -> int | None:
    """1-based number of the passage that backs a sentence best, or None."""
    has_facts = bool(claim_facts(sentence))
    # Without facts to check, the passage must share more than half of the sentence's words.
    needed = 1 if has_facts else len(set(content_terms(sentence))) // 2 + 1
    best: tuple[int, int] | None = None
    for n, passage in enumerate(passages, start=1):
        if has_facts and not is_supported([sentence], passage.text):
            continue
        overlap = _overlap(sentence, passage.text)
        if overlap >= needed and (best is None or overlap > best[0]):
            best = (overlap, n)
    return best[1] if best else None


def guarantee(text: str, passages: Sequence[Passage], question: str = "") -> Guaranteed:
    """Check, repair and attach the `[n]` markers of an LLM answer."""
    text = strip_invalid_markers(text, len(passages))
    context = " ".join(p.text for p in passages)
    out: list[str] = []
    unsupported: list[str] = []
    invented: list[str] = []
    seen: set[str] = set()
    for sentence in answer_sentences(text):
        plain = MARKER.sub("", sentence).strip()
        if plain in seen:
            continue
        seen.add(plain)
        # Facts the answer adds (not echoed from the question) must exist somewhere.
        added = unstated(claim_facts(plain), question)
        invented += [f.text for f in unstated(added, context)]
        cited = [int(n) for m in MARKER.finditer(sentence) for n in re.findall(r"\d+", m.group(1))]
        if cited and all(is_supported([plain], passages[n - 1].text) for n in cited):
            out.append(sentence)
            continue
        n = _best_passage(plain, passages)
        if n is None:
            unsupported.append(plain)
            out.append(plain)
        else:
            out.append(f"{plain} [{n}]")
    return Guaranteed(" ".join(out), unsupported, invented, len(out) - len(unsupported))
