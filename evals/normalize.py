"""Answer matching for the eval: text, numbers as values, dates at the gold's granularity.

`matches(gold, text)` says whether an accepted answer occurs in a text. Dates are parsed
by `dateparser`; the number normaliser is the one piece written by hand (no maintained
library reads "1.5 million", "sixty" and "1,043,460" alike). Left out: units conversion
(km vs miles) and ranges.
"""

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import dateparser

WORD_NUMBERS = {
    "zero": 0, "one": 1, "a": 1, "an": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000}
MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_DATE_IN_TEXT = re.compile(
    rf"\b(?:(?:{MONTHS})\.?\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|"
    rf"\d{{1,2}}\s+(?:{MONTHS})\.?(?:,?\s+\d{{4}})?|(?:{MONTHS})\.?(?:,?\s+\d{{4}})?|"
    rf"\d{{4}}-\d{{2}}-\d{{2}}|(?:19|20)\d\d)\b",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"\d[\d,]*(?:\.\d+)?%?|[a-z]+%?")
# Citation markers ("[3]") are not part of what an answer states.
_MARKER = re.compile(r"\[\d+\]")
# Month names that are also common lower-case words ("migrants may leave", "they march").
_AMBIGUOUS_MONTHS = ("may", "march")


def fold(text: str) -> str:
    """Lower case, no accents, punctuation as spaces (keeping digits' `,` `.` and `%`)."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"\s*\bper ?cent\b", "%", text.replace("’", "'"))
    text = re.sub(r"(?<!\d)[.,]|[.,](?!\d)", " ", text)
    text = re.sub(r"[^\w%.,]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


@dataclass(frozen=True)
class Quantity:
    """A number found in text, with whether it was a percentage and the word after it."""

    value: float
    percent: bool
    unit: str | None


def quantities(text: str) -> list[Quantity]:
    """Numbers in a text as values: "1,043,460", "1.5 million", "sixty", "a hundred", "700%"."""
    tokens = _TOKEN.findall(fold(text))
    found: list[Quantity] = []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        percent = token.endswith("%")
        token = token.rstrip("%")
        value: float | None = None
        if token[:1].isdigit():
            value = float(token.replace(",", ""))
        elif token in WORD_NUMBERS and not (
            token in ("a", "an") and _next(tokens, i) not in SCALES
        ):
            value = float(WORD_NUMBERS[token])
        elif token in SCALES:
            value = float(SCALES[token])
        if value is None:
            i += 1
            continue
        # "1.5 million", "a hundred", "two thousand": multiply by the scale words that follow.
        while _next(tokens, i) in SCALES:
            i += 1
            value *= SCALES[tokens[i]]
        unit = _next(tokens, i)
        found.append(Quantity(value, percent, unit if unit and unit.isalpha() else None))
        i += 1
    return found


def _next(tokens: list[str], i: int) -> str | None:
    return tokens[i + 1] if i + 1 < len(tokens) else None


UNIT_ALIASES = {"km": "kilometer", "kms": "kilometer", "m": "meter", "yrs": "year"}


def _unit(word: str) -> str:
    word = UNIT_ALIASES.get(word, word)
    return word[:-1] if word.endswith("s") else word


def _same_unit(gold: str | None, other: str | None) -> bool:
    if gold is None:
        return True
    return other is not None and _unit(gold) == _unit(other)


@lru_cache(maxsize=4096)
def _parse_date(text: str) -> tuple[int, int, int] | None:
    parsed = dateparser.parse(text, languages=["en"], settings={"PREFER_DAY_OF_MONTH": "first"})
    return (parsed.year, parsed.month, parsed.day) if parsed else None


def _granularity(gold: str) -> tuple[bool, bool, bool]:
    """Which of year, month and day the gold states."""
    g = gold.lower()
    has_month = re.search(rf"\b(?:{MONTHS})\b", g) is not None
    has_year = re.search(r"\b(?:19|20)\d\d\b", g) is not None
    has_day = has_month and re.search(r"\b\d{1,2}(?:st|nd|rd|th)?\b", g) is not None
    return has_year, has_month, has_day


def date_matches(gold: str, text: str) -> bool:
    """Whether the text states the gold date at the gold's granularity, in any format."""
    has_year, has_month, has_day = _granularity(gold)
    if not (has_year or has_month):
        return False
    want = _parse_date(gold)
    if want is None:
        return _contains(fold(gold), fold(text))
    for match in _DATE_IN_TEXT.finditer(text):
        if match.group().startswith(_AMBIGUOUS_MONTHS):
            continue  # lower case: the verb, not the month
        got = _parse_date(match.group())
        if got is None:
            continue
        ok = (not has_year or got[0] == want[0]) and (not has_month or got[1] == want[1])
        if has_day:
            # The day must be written: "November" alone does not state November 29.
            ok = ok and re.search(r"\d", match.group()) is not None and got[2] == want[2]
        if ok and (has_year or has_month):
            if has_year and not re.search(r"(?:19|20)\d\d", match.group()):
                continue
            iso = re.fullmatch(r"\d{4}-\d{2}-\d{2}", match.group())
            if has_month and not iso and not re.search(rf"(?:{MONTHS})", match.group().lower()):
                continue
            return True
    return False


def number_matches(gold: str, text: str) -> bool:
    """Whether the text states the gold's number (and its unit word, if any) as a value."""
    golds = quantities(gold)
    if len(golds) != 1:
        return False
    want = golds[0]
    for got in quantities(text):
        if abs(got.value - want.value) > 1e-9 * max(1.0, want.value):
            continue
        if want.percent and not got.percent:
            continue
        if _same_unit(want.unit, got.unit):
            return True
    return False


def _contains(gold: str, text: str) -> bool:
    """Whether folded `gold` occurs in folded `text` as whole words."""
    return bool(gold) and re.search(rf"(?<!\w){re.escape(gold)}(?!\w)", text) is not None


def is_date(gold: str) -> bool:
    """Whether a gold answer is a date expression and nothing else ("May 22", "2023")."""
    return _DATE_IN_TEXT.fullmatch(gold.strip()) is not None


def matches(gold: str, text: str) -> bool:
    """Whether an accepted answer occurs in a text, after normalisation.

    A gold that is only a date is matched as a date (so "March 2020" is not the number
    2020, and "May" is not the verb); citation markers in the text are ignored.
    """
    text = _MARKER.sub(" ", text)
    if is_date(gold):
        return date_matches(gold, text)
    if _contains(fold(gold), fold(text)) or date_matches(gold, text):
        return True
    return bool(quantities(gold)) and number_matches(gold, text)


def any_match(golds: list[str], text: str) -> str | None:
    """The first accepted answer found in the text, or None."""
    return next((g for g in golds if matches(g, text)), None)
