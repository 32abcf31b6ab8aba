"""Which facts a claim states, and whether a passage states them: the one place for it.

The citation check (`rag.answer.citations`) and the LLM guarantee
(`rag.answer.guarantee`) ask `claim_facts` and `is_supported`. Everything
language-specific comes from spaCy (`rag.nlp`): sentences and entities with their
OntoNotes labels.

- A claim's facts are its entities of `FACT_LABELS`: values (dates, times, numbers,
  money, percentages, quantities) and names (people, organisations, places).
- Values are compared in `canonical` form, so "Nov. 29" = "November 29" (dateparser),
  "60-day" = "60 days" = "sixty days". A passage states a value when one of its value
  entities holds the claim's value as whole words ("60 day" in "last 60 day"), or is
  held by it with the same numbers ("45%" in "about 45%"), or when the passage spells
  the value as the claim does.
- Names are compared as spelt, case and accents aside: the whole name, or for a name
  of several words each of its words that is not a common English word ("Prime Minister
  Jane Doe" ~ "Jane Doe"); a misspelt name is not stated.
- `sentence_spans` gives the sentences of an answer or a passage; a line break always
  ends one.
Left out: paraphrases, numbers written as words outside lengths of time ("sixty
people" is not "60 people"), ordinals, nationalities and other labels (NORP, EVENT,
LAW…), and who "he" or "the minister" is.
"""

import calendar
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

# dateparser is imported here, once, not on first use: its first import from several
# threads at once fails ("partially initialized module 'dateparser.conf'").
import dateparser
from dateparser.conf import Settings as DateparserSettings
from dateparser.languages.loader import default_loader
from wordfreq import zipf_frequency

from rag.answer.question import TIME_UNITS
from rag.answer.text import fold
from rag.nlp import Annotation, annotate

VALUE_LABELS = frozenset({"DATE", "TIME", "CARDINAL", "MONEY", "PERCENT", "QUANTITY"})
NAME_LABELS = frozenset({"PERSON", "ORG", "GPE", "LOC", "FAC"})
FACT_LABELS = VALUE_LABELS | NAME_LABELS
COMMON_WORD = 4.0  # Zipf frequency from which a word is a common English word, not a name
# Words that may make a unit of time a point in time counted from now ("last week").
DEICTIC = frozenset({"last", "this", "next", "ago", "previous", "coming"})

CALENDAR_WORDS = frozenset(
    fold(name) for name in (*calendar.month_name, *calendar.month_abbr, *calendar.day_name) if name
)


@dataclass(frozen=True)
class Fact:
    """A value or a name a claim states, as written, with its spaCy entity label."""

    text: str
    label: str

    @property
    def is_value(self) -> bool:
        return self.label in VALUE_LABELS


# -- sentences and entities ----------------------------------------------------------


@lru_cache(maxsize=512)
def _annotation(text: str) -> Annotation:
    """spaCy's annotation of a claim or a passage; cached because the guarantee asks
    about the same passages once per answer sentence."""
    return annotate(text)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of a text, without edge spaces; a line break always
    ends a sentence (headings and captions carry no full stop)."""
    return list(_annotation(text).sentences)


def claim_facts(claim: str) -> list[Fact]:
    """The values and names a claim states, in order, each once: what a passage must
    state to back the claim."""
    found = [
        Fact(claim[e.start : e.end], e.label)
        for e in _annotation(claim).entities
        if e.label in FACT_LABELS
    ]
    return list(dict.fromkeys(found))


# -- canonical values ----------------------------------------------------------------


def is_duration(text: str) -> bool:
    """Whether a DATE entity is a length of time ("60 days", "two-month") rather than a point
    in time ("March 2020", "Monday"): spaCy labels both DATE."""
    words = re.findall(r"[a-z]+|\d+", fold(text))
    has_unit = any(w.rstrip("s") in TIME_UNITS for w in words)
    has_point = any(w in CALENDAR_WORDS or (w.isdigit() and len(w) == 4) for w in words)
    if has_unit and not has_point and any(w in DEICTIC for w in words):
        # "last week", "this month", "next year", "two days ago" are points in time, which
        # dateparser's simplification writes as "1 week ago", "in 1 year"; "the last two
        # years" stays a count ("last 2 year"), a length of time.
        has_point = bool(re.search(r"\bago\b|^\s*in\b", _duration_words(" ".join(words))))
    return has_unit and not has_point


@lru_cache(maxsize=4096)
def _date_key(text: str) -> str:
    parsed = dateparser.parse(text, languages=["en"], settings={"PREFER_DAY_OF_MONTH": "first"})
    return parsed.date().isoformat() if parsed else fold(text)


@lru_cache(maxsize=4096)
def _duration_words(folded: str) -> str:
    """A length of time with its number words as digits ("sixty days" -> "60 day"), by
    dateparser's English simplifications; the text unchanged if dateparser fails."""
    try:
        locale = default_loader.get_locale("en")
        return str(locale.translate(folded, keep_formatting=False, settings=DateparserSettings()))
    except Exception:  # a library slip must not fail a question; the words still compare
        return folded


def canonical(text: str, label: str) -> str:
    """A value in a form that makes two spellings of it equal ("Nov. 29" = "November 29",
    "60-day" = "sixty days"); people go by surname, other names by their folded text."""
    folded = re.sub(r"^the\s+", "", fold(text)).strip(" .,'\"")
    if label == "DATE" and is_duration(text):  # "60-day" = "60 days"
        words = re.findall(r"[a-z]+|\d+", _duration_words(folded))
        return " ".join(w[:-1] if w[:-1] in TIME_UNITS else w for w in words)
    if label in ("DATE", "TIME") and re.search(r"\d", text) and re.search(r"[A-Za-z]", text):
        return _date_key(text)
    if label == "PERSON":
        return folded.split()[-1] if folded.split() else folded
    return re.sub(r"(?<=\d),(?=\d{3})", "", folded)


# -- is a fact stated ----------------------------------------------------------------


def _has_words(text: str, phrase: str) -> bool:
    """Whether a phrase occurs in a text as whole words (both already folded)."""
    return bool(phrase) and re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?", text)


def _plain(text: str) -> str:
    """Folded, without thousands separators: "1,200" and "1200" are one spelling."""
    return re.sub(r"(?<=\d),(?=\d{3})", "", fold(text))


def _value_stated(fact: Fact, passage: str) -> bool:
    key = canonical(fact.text, fact.label)
    for e in _annotation(passage).entities:
        if e.label not in VALUE_LABELS:
            continue
        other = canonical(passage[e.start : e.end], e.label)
        if _has_words(other, key):
            return True
        # The passage's value inside the claim's ("45%" of "about 45%") counts only with
        # the same numbers, so a year does not back a full date.
        if _has_words(key, other) and _numbers(key) == _numbers(other):
            return True
    # Spelt the same way although spaCy labels or cuts it otherwise in the passage.
    return _has_words(_plain(passage), _plain(fact.text).strip(" .,'\""))


def _name_stated(fact: Fact, passage: str) -> bool:
    folded, name = fold(passage), re.sub(r"^the\s+", "", fold(fact.text))
    if _has_words(folded, name):
        return True
    # Titles, roles and other common words aside, each word of a longer name must be there.
    words = name.split()
    rare = [w for w in words if zipf_frequency(w, "en") < COMMON_WORD]
    return len(words) > 1 and len(rare) > 0 and all(_has_words(folded, w) for w in rare)


def is_stated(fact: Fact, passage: str) -> bool:
    """Whether a passage (or any text: a question, a span) states one fact."""
    return _value_stated(fact, passage) if fact.is_value else _name_stated(fact, passage)


def unstated(facts: Iterable[Fact], passage: str) -> list[Fact]:
    """The facts a passage does not state."""
    return [f for f in facts if not is_stated(f, passage)]


def is_supported(claims: Sequence[str], passage: str) -> bool:
    """Every fact of every claim is stated by the passage (a claim without facts is)."""
    return all(is_stated(f, passage) for claim in claims for f in claim_facts(claim))
