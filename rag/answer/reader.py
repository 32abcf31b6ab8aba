"""The offline default answerer: a reader that picks the short answer out of the passages.

1. The question is analysed (`rag.answer.question`): the entity labels it expects and its
   weighted terms.
2. Each whole sentence of each passage is scored by how much of the question's weight
   it matches (lemmas from the annotation made at ingest, `rag.nlp`; the terms of the
   article's title, and for a sentence opening with a pronoun those of the one before,
   count at `INHERITED` weight; "who is the X of …" needs a sentence that names the role
   X), and each entity of
   an expected label in it is a candidate, scored by that sentence match, how much of
   the question's relation terms (its verbs and common nouns) the sentence has, how
   close the value sits to the matched terms, whether it is of the kind asked for, how
   much of the question its passage covers, the passage's retrieval rank, and how many
   documents state the same value (`WEIGHTS`).
3. It refuses when no candidate of the expected type exists, when the passage misses
   more than `MAX_MISSING` of the question's key terms (its names, numbers and rare
   nouns), or when the best score is under `MIN_SCORE` (chosen on the dev split;
   evals/README.md).

The answer leads with the short answer, then quotes the sentence that states it:
`60 days — "The state … for 60 days …" [1]`. Questions that expect no entity (what did
… say) are answered by the sentence alone. Left out: rewriting sentences (the quote is
the article's own words, so it cannot drift), and values stated across two sentences
other than through a pronoun.
"""

import bisect
import math
import re
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

from wordfreq import zipf_frequency

from rag.answer.facts import CALENDAR_WORDS, WEEKDAYS, canonical, is_duration
from rag.answer.generate import REFUSAL, Draft
from rag.answer.question import NAMED, NOUN_LABELS, Question, Term, analyse_question, is_role
from rag.answer.text import fold
from rag.nlp import Annotation, Entity, Token, annotate, plural_lemma
from rag.schema import Conflict, Passage

# Weights of a candidate's features (its score is their weighted sum). Chosen on the dev
# split only, by `python -m evals.tune` (evals/README.md).
WEIGHTS: dict[str, float] = {
    "sentence": 1.0,  # share of the question's term weight the sentence matches
    "passage": 1.41,  # share the whole passage (and its title) matches
    "near": 1.2,  # closeness of the value to the matched terms
    "rank": 0.45,  # 1 / retrieval rank of the passage
    "label": 0.4,  # the expected label the question prefers (PERSON before ORG for "who")
    "agree": 0.08,  # further documents stating the same value (up to 3)
    "focus": 2.0,  # +1 "300 people" for "how many people", -1 no "people" in the sentence
    "kind": 4.0,  # -1 for a length of time where a date is asked, or the reverse
    "precise": 0.3,  # how precisely a date answer pins a point in time (`date_precision`)
    "common": -0.3,  # the value is one common English word ("State"): likely a tagging slip
    # share of the question's verbs and role nouns (not names) the sentence has: a near miss
    # names the question's subject but states another relation ("sold worldwide" for "sold
    # in the UK", a manager for a scorer)
    "relation": 3.0,
    "adjacent": 0.3,  # a relation term right next to the value ("director Martin Campbell")
    "preposition": 0.5,  # the value follows the preposition the question opens with
    "overlap": -0.5,  # share of the value's words the question already has ("X Garoua")
}
NEAR_WORDS = 6.0  # closeness halves roughly every 4 content words
MIN_SCORE = 2.6  # below this the best candidate is taken as not answering (evals.tune)
# A passage lacking more than this share of the question's key terms (by weight) is not
# about what the question names; up to it, a name written otherwise ("Mr Blair" for "Tony
# Blair") or a qualifier ("two-year") may be missing, and so may a name the story's other
# passages hold (a long question names more than one passage says). 0.34, 0.5, 0.6 and
# 0.75 were tried on the dev split (2026-12-02): 0.5 answered five more questions right and
# refused as many unanswerable ones; above it unanswerable questions were answered.
MAX_MISSING = 0.5
MIN_SENTENCE = 0.25  # a sentence must match this share of the question's weight
TIE = 0.05  # mentions of one value within this share of the best score are quoted from the
# best-ranked passage
CONFLICT_SHARE = 0.8  # a document's own best value counts as a conflict above this share
KEEP_ANNOTATIONS = 256  # documents whose parsed annotation each process keeps (≈90 kB each)

Annotations = Callable[[Sequence[Passage]], list[Annotation]]


class DateParts(NamedTuple):
    """What a DATE entity names: a year, a month, a day of that month, a weekday, or a day
    relative to today."""

    year: bool
    month: bool
    day: bool
    weekday: bool
    today: bool

    @property
    def precision(self) -> float:
        """How precisely these parts pin a point in time (`date_precision`)."""
        return min(1.0, 0.5 * self.year + 0.3 * self.month + 0.2 * self.day + 0.3 * self.weekday)


def date_parts(text: str) -> DateParts:
    """The parts of a point in time a DATE entity's words name."""
    words = re.findall(r"[a-z]+|\d+", fold(text))
    month = any(w in CALENDAR_WORDS and w not in WEEKDAYS for w in words)
    return DateParts(
        year=any(w.isdigit() and len(w) == 4 for w in words),
        month=month,
        day=month and any(w.isdigit() and len(w) <= 2 for w in words),
        weekday=any(w in WEEKDAYS for w in words),
        today=any(w in ("today", "yesterday", "tomorrow", "tonight") for w in words),
    )


def date_precision(text: str) -> float:
    """How precisely a DATE entity pins a point in time: 1 for a day of a month of a year,
    less for a year, a month or a weekday, 0 for "this month" or "a week ago"."""
    return date_parts(text).precision


def kind_mismatch(q: Question, label: str, text: str) -> float:
    """How far a value is from the kind of value asked for: 0 when it fits, -1 or -2 when
    it is a length of time where a point in time is asked (or the reverse), a bare count
    where a sum of money is asked, or not a year where "which year" is asked."""
    penalty = 0.0
    has_sign = any(unicodedata.category(ch) == "Sc" for ch in text)
    if q.labels[0] == "MONEY" and label != "MONEY" and not has_sign:
        penalty -= 1.0  # "eight" for "how much did they pay"
    if q.duration is not None and label == "DATE":
        penalty -= float(is_duration(text) != q.duration)
        if q.duration is False:
            parts = date_parts(text)
            if re.fullmatch(r"[\d.,]+", text) and not re.fullmatch(r"\d{4}", text):
                penalty -= 1.0  # a bare number ("54", an age) is no point in time
            elif q.focus in ("year", "date") and parts.precision < 0.5:
                penalty -= 1.0  # "in which year" wants a year, "on what date" a day
            elif q.focus in ("day", "weekday") and not (parts.day or parts.weekday or parts.today):
                penalty -= 1.0  # "on which day of the week" wants "Tuesday", not "1330"
            elif q.focus == "month" and not parts.month:
                penalty -= 1.0  # "by which month" wants a month ("November", not "2005")
    return penalty


def answer_span(text: str, start: int, end: int) -> tuple[int, int]:
    """An entity's span made whole as a value (offsets into `text`).

    The small English model often leaves out a currency sign or a magnitude glued to the
    number ("£" and "m" of "£500m", "bn" of "$6.58bn") and keeps a possessive ("Fleming's"):
    the sign and the letters touching the number are added, the possessive dropped.
    """
    while start > 0 and unicodedata.category(text[start - 1]) == "Sc":
        start -= 1
    # A span ending in a currency sign or "more than" whose number the tagger left out.
    sign = re.match(r"\s?[\d.,]*\d", text[end:]) if end < len(text) else None
    if sign and unicodedata.category(text[end - 1 : end] or "a") == "Sc":
        end += sign.end()
    if end < len(text) and text[end - 1 : end].isdigit():
        glued = re.match(r"[\d.,]*\d(?:[a-z]{1,3}\b)?|[a-z]{1,3}\b", text[end:])
        if glued:
            end += glued.end()
    possessive = re.search(r"[’']s?$", text[start:end])
    if possessive and end - start > possessive.end() - possessive.start():
        end -= possessive.end() - possessive.start()
    return start, end


def whole_name(text: str, start: int, end: int) -> int:
    """The end of a person's name the tagger cut after the first name ("Mike" of "Mike
    Friday", a surname that is also a weekday or a common word): one capitalised word
    right after a one-word name is taken as its surname."""
    if " " in text[start:end].strip():
        return end
    surname = re.match(r" [A-Z][a-z]+(?:-[A-Z][a-z]+)?\b", text[end:])
    return end + surname.end() if surname else end


# English forms of address written before a name; the small English model leaves them out of
# a person's span ("Mr" of "Mr Mueller"), yet a surname alone reads as no answer.
ADDRESS = r"\b(?:Mr|Mrs|Ms|Miss|Dr|Sir|Dame|Lord|Lady|Prof)\.? "


def without_address(name: str) -> str:
    """A person's name without the form of address it opens with ("Smith" of "Mr Smith")."""
    return re.sub("^" + ADDRESS, "", name)


def with_address(text: str, start: int) -> int:
    """The start of a person's name with the form of address written right before it."""
    address = re.search(ADDRESS + r"$", text[max(0, start - 6) : start])
    return start - len(address[0]) if address else start


def _initialisms(question: str) -> dict[str, tuple[str, ...]]:
    """Initials of each run of capitalised words of the question, with the words they
    stand for ("Mobile Data Association" → "mda", "da"), skipping the small words inside a
    name. An answer spelling one is the question's own subject abbreviated; a passage
    spelling one ("MPAA" after "the Motion Picture Association of America") names it."""
    out: dict[str, tuple[str, ...]] = {}
    run: list[str] = []
    for word in [*re.findall(r"[A-Za-z][\w'-]*", question), "."]:
        if word[0].isupper():
            run.append(word)
            for i in range(len(run) - 1):
                out["".join(w[0].lower() for w in run[i:])] = tuple(fold(w) for w in run[i:])
        elif word.lower() not in ("of", "and", "for", "the", "de", "&"):
            run = []
    return out


def _about(word: str, token: Token) -> bool:
    """Whether a token may be a form of a lower-case word (by any of its lemmas)."""
    return any(_related(word, lemma) for lemma in token.lemmas)


def _related(a: str, b: str) -> bool:
    """Whether two lower-case words are the same word or one extends the other by a short
    suffix ("iran"/"iranian"); the lemmatizer leaves such derived words apart."""
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    if len(short) < 4:
        return False
    if long.startswith(short):
        return len(long) - len(short) <= 4
    # "introduce"/"introduction": all but the last two letters of the shorter word shared
    pairs = zip(short, long, strict=False)
    shared = next((i for i, (x, y) in enumerate(pairs) if x != y), len(short))
    return shared >= max(5, len(short) - 2) and len(long) - shared <= 5


@dataclass
class Candidate:
    """A possible answer: an entity (or a whole sentence) of one passage, with its score."""

    passage: int  # 1-based
    doc_id: str
    sentence: tuple[int, int]  # article offsets
    value: tuple[int, int] | None  # article offsets of the short answer, None for a sentence
    label: str
    text: str
    features: dict[str, float] = field(default_factory=dict)
    score: float = 0.0
    key: str = ""  # canonical value, for agreement between documents
    docs: set[str] = field(default_factory=set)
    full: str = ""  # a person's full name where the value is a surname ("Mr Mueller")


@dataclass
class _PassageView:
    """A passage with its annotation: sentences inside it, content words, entities."""

    number: int
    passage: Passage
    sentences: list[tuple[int, int]]
    tokens: list[Token]
    entities: list[Entity]
    title_words: list[str]

    def text(self, start: int, end: int) -> str:
        return self.passage.span_text(start, end)

    def before(self, offset: int, chars: int) -> str:
        """Up to `chars` characters of the passage right before article offset `offset`."""
        return self.text(max(self.passage.char_start, offset - chars), offset)


def _view(number: int, passage: Passage, annotation: Annotation) -> _PassageView:
    lo, hi = passage.char_start, passage.char_end
    return _PassageView(
        number,
        passage,
        [(a, b) for a, b in annotation.sentences if a >= lo and b <= hi],
        [t for t in annotation.tokens if t.start >= lo and t.end <= hi],
        [_by_shape(passage, e) for e in annotation.entities if e.start >= lo and e.end <= hi],
        re.findall(r"\w+", fold(passage.title)),
    )


# What a term only in the title or the sentence before counts for in a sentence's share
# (the relation and closeness features see the sentence before's terms as they are).
INHERITED = 0.5
# Words that open a sentence continuing the previous one's subject.
PRONOUNS = frozenset({"it", "he", "she", "they", "this", "these", "its", "his", "her", "their"})
# Labels of amounts, which news restate in parentheses in another currency or unit.
AMOUNTS = ("MONEY", "QUANTITY", "CARDINAL", "PERCENT")


def restatements(view: "_PassageView") -> set[Entity]:
    """The amounts that restate the amount just before them in parentheses: "$6.58bn" and
    "£3.5bn" of "59.2 trillion rupiah ($6.58bn; £3.5bn)", "$11m" of "£6m ($11m)". News
    convert currencies and units this way; a restatement is the same answer as the amount
    it follows, not a rival one, and the first amount is the one the story states."""
    out: set[Entity] = set()
    previous: Entity | None = None
    previous_end = 0
    for ent in view.entities:
        start, end = value_span(view, ent)
        if previous is not None and ent.label in AMOUNTS and previous.label in AMOUNTS:
            gap = view.text(previous_end, start)
            opens = previous not in out and re.fullmatch(r" ?\( ?", gap)
            goes_on = previous in out and re.fullmatch(r" ?[;,/] ?(?:or )?", gap)
            if opens or goes_on:
                out.add(ent)
        previous, previous_end = ent, end
    return out


def value_span(view: "_PassageView", ent: Entity) -> tuple[int, int]:
    """An entity's span made whole as a value (`answer_span`, a person's surname, the
    currency word of an amount of money), in article offsets."""
    text, offset = view.passage.text, view.passage.char_start
    a, b = answer_span(text, ent.start - offset, ent.end - offset)
    if ent.label == "PERSON":
        b = whole_name(text, a, b)
        a = with_address(text, a)
    elif ent.label == "MONEY":
        b = _with_unit(text, a, b)
    return a + offset, b + offset


EVERYDAY_WORD = 4.9  # Zipf frequency from which a word is an everyday English word ("unit")


@lru_cache(maxsize=1)
def currency_words() -> frozenset[str]:
    """The last word of every currency's English name, singular and plural ("kroner",
    "rupiah", "dollars", "won"), from the Unicode CLDR data `babel` ships; left out: the
    units that are no national money (codes X…: gold, drawing rights)."""
    from babel.numbers import get_currency_name, list_currencies

    words = set()
    for code in list_currencies():
        if code.startswith("X"):
            continue
        for count in (1, 2):
            name = get_currency_name(code, count, locale="en")
            if "(" not in name:
                words.add(name.split()[-1].lower())
    return frozenset(words)


def _is_currency(word: str, *, rare: bool) -> bool:
    """Whether a word names a currency; with `rare`, only one that is no everyday English
    word first ("kroner", not "won", "real" or "mark")."""
    word = word.lower()
    if word not in currency_words():
        return False
    common = max(zipf_frequency(word, "en"), zipf_frequency(plural_lemma(word), "en"))
    return not rare or common < EVERYDAY_WORD


def _by_shape(passage: Passage, ent: Entity) -> Entity:
    """An entity whose written form contradicts its label, relabelled by that form: the
    small English model tags some amounts as names ("$280bn" as PERSON) or as quantities
    ("41.5 million kroner"), and some counts as money ("one trillion calculations"). A
    currency sign before a number, or a currency's name after it, makes MONEY; MONEY with
    neither is CARDINAL; a number before "%" or "per cent" PERCENT; a bare number tagged
    as a name CARDINAL."""
    text, offset = passage.text, passage.char_start
    a, b = answer_span(text, ent.start - offset, ent.end - offset)
    value = text[a:b]
    if not value:
        return ent
    # The words that may name a currency: the value's own and the one right after it.
    after = re.match(r"\s*([^\W\d_]+)", text[b:])
    words = re.findall(r"[^\W\d_]+", value) + ([after[1]] if after else [])
    sign = any(unicodedata.category(ch) == "Sc" for ch in value)
    if ent.label == "MONEY":
        # "one trillion calculations a second" tagged as money: no currency, no money
        if sign or any(_is_currency(w, rare=False) for w in words):
            return ent
        return Entity(ent.start, ent.end, "CARDINAL")
    if not any(ch.isdigit() for ch in value):
        return ent
    signed = unicodedata.category(value[0]) == "Sc" and value[1:].lstrip()[:1].isdigit()
    named = ent.label in AMOUNTS and any(_is_currency(w, rare=True) for w in words)
    if signed or named:
        label = "MONEY"
    elif re.fullmatch(r"[\d.,]+ ?(?:%|per ?cent)", value):
        label = "PERCENT"
    elif ent.label in NAMED and re.fullmatch(r"[\d.,]+", value):
        label = "CARDINAL"
    else:
        return ent
    return Entity(ent.start, ent.end, label)


def _with_unit(text: str, start: int, end: int) -> int:
    """The end of an amount of money the tagger cut before its currency word: "59.2
    trillion" of "59.2 trillion rupiah" is followed by its unit; a sign ("$", "£") or a
    word inside the span already names the currency."""
    if not re.fullmatch(r"[\d.,]+(?: ?(?:thousand|million|billion|trillion|bn|m|k))?",
                        text[start:end]):  # fmt: skip
        return end
    unit = re.match(r" [a-z]{3,}\b", text[end:])
    return end + unit.end() if unit else end


def _asks_type(q: Question, lemma: str) -> bool:
    """Whether a question term only names the type of the answer (the "year" of "what
    year", the "company" of "which company"), which says nothing about which sentence
    states it. A role ("chairman", "coach") does: "who is the chairman of X" is answered
    by the sentence that says "chairman"; so does the same word elsewhere in the question
    ("scored" in "who scored the goal" is no "score" asked for)."""
    return lemma == q.focus and lemma in NOUN_LABELS and not is_role(lemma)


def _matches(term: Term, tokens: Sequence[Token], text_of: Callable[[Token], str]) -> list[int]:
    """Indexes of the tokens that match a question term (by lemma or surface form)."""
    lemma, word = term.lemma, fold(term.text)
    return [i for i, t in enumerate(tokens) if _about(lemma, t) or _related(word, fold(text_of(t)))]


def _is_pronoun_one(view: _PassageView, text: str, end: int) -> bool:
    """Whether a CARDINAL is the pronoun "one" of "one of the first employees", which the
    small English model tags as a number: it counts nothing the question could ask for."""
    return text.lower() == "one" and view.text(end, end + 4).lower() == " of "


def _is_multiplier(q: Question, view: _PassageView, end: int) -> bool:
    """Whether a number is a multiplier ("three times as many people"): it counts times,
    not the people, unless times are what the question counts ("how many times")."""
    return q.counted != "time" and re.match(r" ?times\b", view.text(end, end + 7)) is not None


def _is_chart_size(view: _PassageView, start: int) -> bool:
    """Whether a number names the size of a ranking ("made the top ten", "a top 20
    hit"): it counts places in a chart, not what the question counts."""
    return re.search(r"\btop $", view.before(start, 4)) is not None


def score(features: dict[str, float]) -> float:
    """A candidate's score: the weighted sum of its features."""
    return sum(WEIGHTS[name] * value for name, value in features.items())


def _count_tagged_as_date(
    q: Question, view: "_PassageView", ent: Entity, starts: list[int]
) -> bool:
    """Whether a DATE entity is really the count a "how many X" question asks for.

    The small English model tags a bare four-digit number as a year ("1333 boats"); a
    number written with digits only and followed at once by the counted noun is a count,
    whatever the tagger said.
    """
    if not q.counted or ent.label != "DATE" or "CARDINAL" not in q.labels:
        return False
    if not view.text(ent.start, ent.end).replace(",", "").isdigit():
        return False
    at = bisect.bisect_left(starts, ent.end)
    following = view.tokens[at] if at < len(view.tokens) else None
    return following is not None and following.start - ent.end <= 1 and _about(q.counted, following)


def _name_in_full(found: list[Candidate], views: Sequence[_PassageView]) -> None:
    """Set the full name of each person candidate that is a surname alone: news name a
    person in full once ("Florian Mueller") and by surname after ("wrote Mr Mueller"), and
    the sentence that answers may hold the surname alone. The longest name of two or more
    words with that surname in the same document's passages is taken, so a surname with a
    particle ("van Dijk") still gets its first name."""
    full: dict[tuple[str, str], str] = {}
    for view in views:
        for ent in view.entities:
            name = view.text(*value_span(view, ent)) if ent.label == "PERSON" else ""
            if " " in name and without_address(name) == name:
                key = (view.passage.doc_id, canonical(name, "PERSON"))
                full[key] = max(full.get(key, name), name, key=len)
    for c in found:
        if c.label == "PERSON" and " " not in without_address(c.text):
            c.full = full.get((c.doc_id, canonical(c.text, "PERSON")), "")


class Reader:
    """Answers with the short answer and the sentence that states it, or refuses."""

    name = "extractive"
    final_stream = True

    def __init__(self, annotations: Annotations) -> None:
        self._annotations = annotations

    def rewrite(self, history: str, question: str) -> str | None:
        """None: the reader leaves follow-ups to the conversation heuristic."""
        return None

    def check(self) -> None:
        """Load the bundled spaCy model and word frequencies (a `ConfigError` if missing)."""
        analyse_question("When did it happen?")

    # -- scoring -------------------------------------------------------------------

    def candidates(self, question: str, passages: Sequence[Passage]) -> list[Candidate]:
        """Every candidate answer of the passages, scored, best first."""
        q = analyse_question(question)
        total = sum(t.weight for t in q.terms) or 1.0
        names = _initialisms(question)
        q_words = {fold(w) for w in re.findall(r"\w+", question)} | set(names)
        views = [
            _view(n, p, a)
            for n, (p, a) in enumerate(zip(passages, self._annotations(passages), strict=True), 1)
        ]
        found: list[Candidate] = []
        for view in views:
            found += self._passage_candidates(q, view, total, q_words, names)
        _name_in_full(found, views)
        self._agree(found)
        return sorted(found, key=lambda c: c.score, reverse=True)

    def _passage_candidates(
        self,
        q: Question,
        view: _PassageView,
        total: float,
        q_words: set[str],
        names: dict[str, tuple[str, ...]],
    ) -> list[Candidate]:
        def token_text(t: Token) -> str:
            return view.text(t.start, t.end)

        covered = 0.0
        positions: dict[str, list[int]] = {}  # term lemma -> token indexes in the passage
        focus = q.focus
        if not q.typed and focus and not any(_about(focus, t) for t in view.tokens):
            return []  # "what is the population of …" needs "population"
        keys = missing = 0.0
        titled: set[str] = set()  # lemmas of the terms the article's title has
        # An abbreviation in the passage ("MPAA", "BCC") stands for each word of the name
        # the question spells out: news write the name once, then its initials.
        lemma_of = {fold(t.text): t.lemma for t in q.terms}
        abbreviated: dict[str, list[int]] = {}
        for i, token in enumerate(view.tokens):
            word = token_text(token)
            if len(word) >= 2 and word.isalpha() and word.isupper():
                for part in names.get(word.lower(), ()):
                    if part in lemma_of:
                        abbreviated.setdefault(lemma_of[part], []).append(i)
        for term in q.terms:
            hits = sorted({*_matches(term, view.tokens, token_text),
                           *abbreviated.get(term.lemma, [])})  # fmt: skip
            in_title = any(_related(fold(term.text), w) for w in view.title_words)
            if in_title:
                titled.add(term.lemma)
            keys += term.weight if term.key else 0.0
            if hits:
                positions[term.lemma] = hits
            if hits or in_title:
                covered += term.weight
            elif term.key:
                missing += term.weight
        if keys and missing / keys > MAX_MISSING:
            return []  # the passage is not about what the question names
        passage_match = covered / total
        weights = {t.lemma: t.weight for t in q.terms}
        # The asked-for type ("year" of "what year") says nothing about which sentence.
        relation = {
            t.lemma: t.weight for t in q.terms if not t.named and not _asks_type(q, t.lemma)
        }
        relation_total = sum(relation.values())
        starts = [t.start for t in view.tokens]
        restated = restatements(view)
        out = []
        previous = (0, 0)  # token range of the sentence before
        for s_start, s_end in view.sentences:
            lo, hi = bisect.bisect_left(starts, s_start), bisect.bisect_left(starts, s_end)
            # A sentence that opens with a pronoun ("It will do so on 26 January.") goes on
            # about what the one before said: that one's matched terms count for it too.
            first = re.match(r"\W*(\w+)", view.text(s_start, s_end))
            lo_terms = previous[0] if first and first[1].lower() in PRONOUNS else lo
            previous = (lo, hi)
            in_sentence = {
                lemma: [i for i in idx if lo_terms <= i < hi] for lemma, idx in positions.items()
            }
            own = {lemma for lemma, idx in in_sentence.items() if any(i >= lo for i in idx)}
            # What the sentence before (after a pronoun) or the title says counts at
            # `INHERITED`: every sentence of a story is about its headline's subject.
            inherited = {lemma for lemma, idx in in_sentence.items() if idx} | titled
            match = (
                sum(weights[x] for x in own) + INHERITED * sum(weights[x] for x in inherited - own)
            ) / total
            if match < MIN_SENTENCE:
                continue
            if q.role and not any(_about(q.role, t) for t in view.tokens[lo:hi]):
                continue  # "who is the chairman of X" is answered where "chairman" is said
            sentence = (s_start, s_end)
            shared = {"sentence": match, "passage": passage_match, "rank": 1 / view.number}
            # With no relation term to match (the question only names things), none is missed.
            shared["relation"] = (
                sum(w for lemma, w in relation.items() if in_sentence.get(lemma)) / relation_total
                if relation_total
                else 1.0
            )
            if not q.typed:
                out.append(Candidate(view.number, view.passage.doc_id, sentence, None, "",
                                     view.text(s_start, s_end), dict(shared)))  # fmt: skip
                continue
            for ent in view.entities:
                if not (s_start <= ent.start and ent.end <= s_end) or ent in restated:
                    continue
                label = ent.label
                if label not in q.labels and _count_tagged_as_date(q, view, ent, starts):
                    label = "CARDINAL"
                if label not in q.labels:
                    continue
                value = value_span(view, ent)
                text = view.text(*value)
                if label == "CARDINAL" and (
                    _is_pronoun_one(view, text, value[1])
                    or _is_multiplier(q, view, value[1])
                    or _is_chart_size(view, value[0])
                ):
                    continue  # a number that counts nothing the question asks for
                # "Mr Smith": is "Smith" asked?
                words = [fold(w) for w in re.findall(r"\w+", without_address(text))]
                said = [any(_related(w, asked) for asked in q_words) for w in words]
                if not words or all(said):
                    continue  # the question already says it
                at = bisect.bisect_left(starts, ent.start)
                past = bisect.bisect_left(starts, ent.end)  # first token past the value
                features = dict(shared)
                features["overlap"] = sum(said) / len(words)
                gaps = [
                    at - i if i < at else i - past + 1
                    for lemma, idx in in_sentence.items()
                    if lemma in relation
                    for i in idx
                    if not at <= i < past
                ]
                features["adjacent"] = math.exp(-(min(gaps) - 1) / 2) if gaps else 0.0
                features["near"] = (
                    sum(
                        weights[lemma] * max(math.exp(-abs(i - at) / NEAR_WORDS) for i in idx)
                        for lemma, idx in in_sentence.items()
                        if idx
                    )
                    / total
                )
                features["label"] = 1 - q.labels.index(label) / len(q.labels)
                # A lone common word ("State", "Citizens") is more often a tagging slip.
                features["common"] = float(
                    len(words) == 1 and zipf_frequency(words[0], "en") >= 4.5
                )
                counted = q.counted
                if counted:  # "300 people" for "how many people"; none is a weaker answer
                    after = [t for t in view.tokens[at : at + 4] if t.start >= ent.end]
                    unit = next((t for t in after[:2] if _about(counted, t)), None)
                    if unit is not None:
                        features["focus"] = 1.0
                        if label in ("CARDINAL", "QUANTITY") and unit.start - value[1] <= 1:
                            value = (value[0], unit.end)  # "817 points": value and noun
                            text = view.text(*value)
                    elif not any(_about(counted, t) for t in view.tokens[lo:hi]):
                        features["focus"] = -1.0
                if q.partitive and view.text(value[1], value[1] + 4) == " of ":
                    features["focus"] = 1.0  # "1.1m of the 1.6m X" for "how many of the X"
                if q.preposition:  # "by November" for "by which month"
                    before = re.search(r"(\w+)\W*$", view.before(value[0], 20))
                    opener = before[1].lower() if before else None
                    features["preposition"] = float(opener == q.preposition)
                features["kind"] = kind_mismatch(q, label, text)
                if q.duration is False and label == "DATE":
                    features["precise"] = date_precision(text)
                out.append(Candidate(view.number, view.passage.doc_id, sentence, value,
                                     label, text, features))  # fmt: skip
        for c in out:
            c.score = score(c.features)
        return out

    @staticmethod
    def _agree(found: list[Candidate]) -> None:
        """Reward values stated by several documents; remember which documents state them."""
        if not found:
            return
        best = max(c.score for c in found)
        strong = [c for c in found if c.value is not None and c.score >= 0.6 * best]
        groups: dict[str, set[str]] = {}
        for c in strong:
            c.key = canonical(c.text, c.label)
            groups.setdefault(c.key, set()).add(c.doc_id)
        for c in strong:
            c.docs = groups[c.key]
            c.features["agree"] = min(len(c.docs) - 1, 3)
            c.score = score(c.features)

    # -- answering -----------------------------------------------------------------

    def generate(self, question: str, passages: Sequence[Passage]) -> Draft:
        if not passages:
            return Draft(REFUSAL, answerable=False)
        ranked = self.candidates(question, passages)
        if not ranked or ranked[0].score < MIN_SCORE:
            return Draft(REFUSAL, answerable=False)
        best = self._representative(ranked)
        passage = passages[best.passage - 1]
        quote = passage.span_text(*best.sentence)
        if best.value is None:
            text = f"{quote} [{best.passage}]"
        else:
            text = f'{best.full or best.text} — "{quote}" [{best.passage}]'
        # Supported: the quote is the article's own sentence holding the value.
        citation = passage.cite(best.passage, *best.sentence, supported=True, answer=best.value)
        return Draft(
            text,
            answerable=True,
            citations=[citation],
            corroborated_by=sorted(best.docs) if best.value else [],
            conflicts=self._conflicts(best, ranked, passages),
        )

    @staticmethod
    def _representative(ranked: list[Candidate]) -> Candidate:
        """The mention of the best value to quote: the best-scoring one, unless another
        mention of the same value scores within a share `TIE` of it in a better-ranked passage
        (retrieval ranks whole passages against the question; the features see a sentence)."""
        best = ranked[0]
        if not best.key:
            return best
        close = [c for c in ranked if c.key == best.key and c.score >= best.score * (1 - TIE)]
        return min(close, key=lambda c: (c.passage, -c.score))

    @staticmethod
    def _conflicts(
        best: Candidate, ranked: list[Candidate], passages: Sequence[Passage]
    ) -> list[Conflict]:
        """Documents whose own best value for the question differs from the answer."""
        if best.value is None:
            return []
        out: list[Conflict] = []
        seen = set(best.docs) | {best.doc_id}
        for c in ranked:
            if c.doc_id in seen or c.value is None:
                continue
            seen.add(c.doc_id)  # only a document's own best candidate speaks for it
            if c.key and c.key != best.key and c.score >= CONFLICT_SHARE * best.score:
                out.append(
                    Conflict(c.doc_id, c.text, passages[c.passage - 1].span_text(*c.sentence))
                )
        return out

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str | Draft]:
        draft = self.generate(question, passages)
        yield from re.findall(r"\S+\s*", draft.text)
        yield draft


def passage_annotations(
    lookup: Callable[[Sequence[str]], dict[str, tuple[str, Annotation]]],
    keep: int = KEEP_ANNOTATIONS,
) -> Annotations:
    """Annotations for passages from the store's `get_annotations`; a passage whose stored
    annotation is missing or of another text (an index from an older version) is
    annotated on the spot.

    The last `keep` documents' parsed annotations are kept with their text's hash, so a
    question reads from the store (over HTTP, with a Chroma server) only documents it has
    not seen in that version; a changed document has a new hash and is read again."""
    kept: OrderedDict[str, tuple[str, Annotation]] = OrderedDict()
    lock = threading.Lock()  # requests run in a thread pool

    def annotations(passages: Sequence[Passage]) -> list[Annotation]:
        with lock:
            stored = {p.doc_id: kept[p.doc_id] for p in passages
                      if p.doc_sha and kept.get(p.doc_id, ("",))[0] == p.doc_sha}  # fmt: skip
        missing = [p.doc_id for p in passages if p.doc_id not in stored]
        if missing:
            stored.update(lookup(missing))
        with lock:
            for doc_id, entry in stored.items():
                kept[doc_id] = entry
                kept.move_to_end(doc_id)
            while len(kept) > keep:
                kept.popitem(last=False)
        out = []
        for p in passages:
            sha, annotation = stored.get(p.doc_id, ("", None))
            if annotation is None or (p.doc_sha and sha != p.doc_sha):
                annotation = annotate(p.text).shifted(p.char_start)
            out.append(annotation)
        return out

    return annotations
