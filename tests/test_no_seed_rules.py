"""No rule in `rag/` may exist because of the seed articles: none names their proper nouns.

The proper nouns are found by the same spaCy pipeline the service uses (PERSON, ORG,
GPE, NORP, LOC, FAC entities of every seed article), so the list follows the seeds.
"""

import re
from pathlib import Path

import pytest
from wordfreq import zipf_frequency

from rag.nlp import annotate

ROOT = Path(__file__).resolve().parent.parent
NAMED = {"PERSON", "GPE", "NORP", "LOC", "FAC"}
# Organisation names are mostly common words ("Joint Command"): only their rare words count.
RARE_IN_ORG = 3.0


def seed_proper_nouns() -> set[str]:
    words: set[str] = set()
    for path in sorted((ROOT / "seeds").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        for e in annotate(text).entities:
            if e.label in NAMED or e.label == "ORG":
                limit = 4.5 if e.label in NAMED else RARE_IN_ORG
                # Each capitalised word of a name that is not also a common English word
                # ("File", "States"); short ones ("US") are too common to judge.
                words |= {w for w in re.findall(r"[A-ZÁÉÍÓÚÑ][\w’'-]+", text[e.start : e.end])
                          if len(w) >= 4 and zipf_frequency(w.lower(), "en") < limit}  # fmt: skip
    return words


@pytest.mark.slow
def test_rag_code_names_nothing_from_the_seeds() -> None:
    nouns = seed_proper_nouns()
    assert len(nouns) > 30  # the seeds name many people, places and outlets
    offenders = []
    for path in sorted((ROOT / "rag").rglob("*.py")):
        code = path.read_text(encoding="utf-8").lower()
        for noun in nouns:
            if re.search(rf"(?<!\w){re.escape(noun.lower())}(?!\w)", code):
                offenders.append(f"{path.relative_to(ROOT)}: {noun}")
    assert not offenders, "seed names in rag/: " + ", ".join(sorted(offenders))
