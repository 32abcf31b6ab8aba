"""Small text helpers shared by the answerers and the citation check.

Sentence spans come from the punkt model bundled with llama-index-core (through nltk);
the fact extractor is a few regular expressions for numbers, dates and names, enough
to compare a claim with a passage. Left out: full named-entity recognition.
"""

import re
import unicodedata
from functools import lru_cache

import Stemmer

NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15,
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "hundred": 100,
    "dozen": 12, "dozens": 12, "hundreds": 100, "thousand": 1000, "thousands": 1000,
    "million": 1_000_000,
}  # fmt: skip
MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
FULL_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december"
)
WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
STOPWORDS = frozenset(
    """
    a about above according after again against all also an and any are as at be been
    before being below between both but by can could did do does during each few for
    from further had has have he her here him his how i if in into is it it's its just
    many may me might more most much must my no nor not of off on once only or other our
    out over own said same say says shall she should since so some such tell than that
    the their them then there these they this those through to told too under until up
    very was we were what when where which while who whom whose why will with would you
    your
    """.split()  # noqa: SIM905
)

# Digits not glued to a word ("Covid-19" holds no number).
_NUMBER = re.compile(r"(?<![\w.])(?<![A-Za-z]-)\d[\d,]*(?:\.\d+)?(?![\w])")
_DATE = re.compile(
    rf"(?<!\w)(?:(?:{MONTHS})\.?\s+\d{{1,2}}(?!\d)(?:,?\s+\d{{4}})?|"
    rf"\d{{1,2}}\s+(?:{MONTHS})\b\.?(?:\s+\d{{4}})?|(?:{MONTHS})\.?\s+\d{{4}}|(?:{WEEKDAYS})\b|"
    rf"\d{{4}}-\d{{2}}-\d{{2}}|(?:19|20)\d\d\b|(?:early|mid|late)[- ](?:{MONTHS})\b|"
    rf"\((?:[1-9]|[12]\d|3[01])\)|"
    # A month alone only after a preposition: "last April", "in January" (not the verb "may").
    rf"(?:in|since|until|last|next|early|mid|late|by|from|through)\s+(?:{FULL_MONTHS})\b"
    rf"(?!\.?\s+\d))",
    re.IGNORECASE,
)
# Capitalised words, joined by name particles and by "of"/"for" inside organisation names
# ("Bank of England", "Center for Economic Studies").
_NAME = re.compile(
    r"\b[A-ZÁÉÍÓÚÑ][\w’'-]*(?:\s+(?:de la |de |van |del |of the |of |for )?[A-ZÁÉÍÓÚÑ][\w’'-]*)*"
)
_WORD = re.compile(r"\w+", re.UNICODE)


def fold(text: str) -> str:
    """Lower case without accents, curly quotes made straight."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.replace("’", "'").replace("‘", "'").lower()


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def content_words(text: str) -> list[str]:
    """Words of a text without stop words, as written (not stemmed)."""
    return [w for w in _WORD.findall(text) if fold(w) not in STOPWORDS and len(w) > 1]


def content_terms(text: str) -> list[str]:
    """Stemmed, lower-cased words of a text without stop words."""
    words = [w for w in _WORD.findall(fold(text)) if w not in STOPWORDS and len(w) > 1]
    return list(_stemmer().stemWords(words))


@lru_cache(maxsize=1)
def _punkt():  # type: ignore[no-untyped-def]
    from nltk.tokenize.punkt import PunktTokenizer

    return PunktTokenizer("english")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence; line breaks always end a sentence."""
    spans: list[tuple[int, int]] = []
    offset = 0
    for line in text.split("\n"):
        if line.strip():
            for start, end in _punkt().span_tokenize(line):
                spans.append((offset + start, offset + end))
        offset += len(line) + 1
    return spans


def numbers(text: str) -> set[str]:
    """Numbers written with digits, without thousands separators ("1,043,460" -> "1043460")."""
    return {m.group().replace(",", "").rstrip(".") for m in _NUMBER.finditer(text)}


def number_words(text: str) -> set[int]:
    """Values of numbers written as words ("sixty" -> 60)."""
    return {NUMBER_WORDS[w] for w in _WORD.findall(text.lower()) if w in NUMBER_WORDS}


def dates(text: str) -> list[str]:
    """Date expressions: month-day, day-month, month-year, years, weekdays, "(28)"."""
    return [m.group() for m in _DATE.finditer(text)]


def names(text: str) -> set[str]:
    """Capitalised word runs, without a sentence's first word when it is a common word.

    Months and weekdays are dates, not names, and are left out.
    """
    calendar_word = re.compile(rf"^(?:{MONTHS}|{WEEKDAYS})\.?$", re.IGNORECASE)
    found: set[str] = set()
    for start, end in sentence_spans(text) or [(0, len(text))]:
        sentence = text[start:end]
        for m in _NAME.finditer(sentence):
            words = m.group().split()
            if m.start() == 0 and (len(words) == 1 or fold(words[0]) in STOPWORDS):
                words = words[1:]  # "The", "In": capitalised only because they open a sentence
            words = [w for w in words if not calendar_word.match(w)]
            name = " ".join(words)
            if len(name) >= 2 and fold(name) not in STOPWORDS:
                found.add(name)
    return found


def has_word(text: str, phrase: str) -> bool:
    """Whether a phrase occurs in a text as whole words, ignoring case and accents."""
    return re.search(rf"(?<!\w){re.escape(fold(phrase))}(?!\w)", fold(text)) is not None
