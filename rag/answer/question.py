"""What a question asks for: the expected answer type and the terms an answer must match.

The expected type comes from the first wh-word and the noun it governs, looked up in a
small table of general English question patterns mapped to spaCy's OntoNotes entity
labels ("how many people" → CARDINAL; "which company" → ORG; "when" → DATE). No such
table ships with spaCy, hence this one. Term weights come from `wordfreq`'s general
English word frequencies (rarer words weigh more), so they need no statistics of the
indexed corpus. Left out: questions in other languages, yes/no and "why" questions
(answered, when at all, by a sentence).
"""

from dataclasses import dataclass
from functools import lru_cache

from wordfreq import zipf_frequency

from rag.nlp import analyse, plural_lemma

WHEN = ("DATE", "TIME")
COUNT = ("CARDINAL", "QUANTITY", "MONEY", "PERCENT")
AMOUNT = ("MONEY", "PERCENT", "QUANTITY", "CARDINAL")
PLACE = ("GPE", "LOC", "FAC")
MONEY = ("MONEY", "CARDINAL")
ACTOR = ("PERSON", "ORG", "NORP")
NAMED = ("PERSON", "ORG", "GPE", "NORP", "LOC", "FAC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW")

# "how <word>" → labels.
HOW = {
    "many": COUNT,
    "much": AMOUNT,
    "long": ("DATE", "TIME", "QUANTITY"),
    "far": ("QUANTITY",),
    "old": ("DATE", "CARDINAL"),
    "big": ("QUANTITY", "MONEY", "CARDINAL"),
    "large": ("QUANTITY", "MONEY", "CARDINAL"),
    "tall": ("QUANTITY",),
    "high": ("QUANTITY", "MONEY", "PERCENT", "CARDINAL"),
}
# wh-words that fix the type on their own.
WH = {"when": WHEN, "where": PLACE, "who": ACTOR, "whom": ACTOR, "whose": ACTOR}
COPULA = frozenset({"is", "was", "are", "were", "'s"})
# The noun a wh-phrase asks about ("what year", "which company", "how many years") → labels.
NOUN_CLASSES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("year", "date", "day", "month", "decade", "century", "week", "period", "season",
     "era", "weekday"): WHEN,
    ("time", "hour"): ("TIME", "DATE"),
    ("money", "price", "cost", "budget", "fee", "fine", "salary", "wage", "pay", "revenue",
     "profit", "loss", "income", "value", "worth", "sum", "fund", "funding", "investment",
     "bid", "offer", "debt", "dollar", "pound", "euro", "turnover", "sale", "earnings",
     "spending", "bill", "compensation", "payment", "valuation", "damage", "aid",
     "subsidy", "grant", "loan", "bonus", "dividend", "royalty", "rent", "cash", "reward",
     "capital"): MONEY,
    ("percentage", "percent", "proportion", "share", "rate", "stake"): ("PERCENT", "CARDINAL"),
    ("country", "city", "town", "region", "province", "nation", "capital", "place", "area",
     "village", "county", "location", "state", "continent", "island", "district",
     "venue", "stadium", "airport", "port"): (*PLACE, "ORG"),
    ("company", "firm", "organisation", "organization", "agency", "group", "party", "team",
     "club", "bank", "body", "institution", "government", "ministry", "department", "union",
     "network", "broadcaster", "channel", "newspaper", "outlet", "airline", "carrier",
     "maker", "manufacturer", "retailer", "studio", "label", "court", "council",
     "committee", "authority", "force", "operator", "brand", "website", "business",
     "insurer", "regulator", "watchdog", "charity", "university", "school", "publisher",
     "developer", "supplier", "rival", "chain", "store", "band", "side",
     "house"): ("ORG", "PERSON"),
    # People's roles. "Which coach" asks for a person; "which buyer" may be a company.
    ("person", "man", "woman", "player", "official", "politician", "minister", "president",
     "chancellor", "chief", "executive", "boss", "director", "actor", "actress", "singer",
     "manager", "coach", "spokesman", "spokeswoman", "secretary", "chairman", "chairwoman",
     "mp", "judge", "author", "writer", "governor", "mayor", "king", "queen", "prince",
     "analyst", "economist", "expert", "lawyer", "captain", "striker", "musician",
     "presenter", "comedian", "rapper", "athlete", "runner", "ceo", "deputy", "envoy",
     "ambassador", "bishop", "archbishop", "pope", "priest", "professor", "scientist",
     "researcher", "editor", "journalist", "reporter", "composer", "architect", "inventor",
     "commander", "officer", "spokesperson", "referee", "goalkeeper", "defender",
     "midfielder", "batsman", "bowler", "jockey", "driver", "boxer", "golfer",
     "character", "sheriff", "detective", "inspector", "constable", "prosecutor",
     "attorney", "solicitor", "barrister", "senator", "congressman", "congresswoman",
     "councillor", "mep", "premier", "diplomat", "campaigner", "activist", "student",
     "teenager", "pupil", "teacher", "doctor", "surgeon", "nurse", "victim", "suspect",
     "defendant", "witness", "soldier", "general", "colonel", "sergeant", "commissioner",
     "peer", "lord", "baroness", "poet", "novelist", "playwright", "filmmaker",
     "photographer", "chef", "banker", "entrepreneur", "billionaire", "tycoon", "blogger",
     "columnist", "commentator", "winger", "forward", "keeper", "skipper", "umpire",
     "rider", "cyclist", "swimmer", "sprinter", "guitarist", "drummer", "frontman",
     "vocalist", "songwriter", "dj", "anchor", "newsreader", "fly-half", "flanker",
     "scrum-half"): ("PERSON",),
    ("leader", "star", "head", "founder", "owner", "winner", "candidate", "member",
     "champion", "artist", "host", "investor", "buyer", "seller", "opponent", "successor",
     "predecessor", "producer", "designer"): ("PERSON", "ORG"),
    ("nationality",): ("NORP", "GPE"),
    ("film", "movie", "album", "song", "book", "show", "series", "programme", "program",
     "novel", "play", "single", "title", "award", "prize"): ("WORK_OF_ART", "EVENT", "ORG"),
    ("event", "tournament", "championship", "competition", "ceremony", "festival", "race",
     "match", "war", "game", "cup"): ("EVENT", "ORG", "WORK_OF_ART"),
    ("law", "act", "treaty", "directive", "regulation"): ("LAW", "ORG"),
    ("product", "device", "phone", "console", "software", "car", "model", "drug",
     "gadget", "service", "system", "technology", "format"): ("PRODUCT", "ORG"),
    ("language",): ("LANGUAGE", "NORP"),
    ("number", "amount", "total", "figure", "count", "quantity", "score", "margin"): COUNT,
    ("distance", "length", "height", "weight", "depth", "width"): ("QUANTITY",),
    ("size",): ("QUANTITY", "PERCENT", "MONEY", "CARDINAL"),
    ("age",): ("DATE", "CARDINAL"),
}  # fmt: skip
NOUN_LABELS = {noun: labels for nouns, labels in NOUN_CLASSES.items() for noun in nouns}
TIME_UNITS = frozenset({"second", "minute", "hour", "day", "week", "month", "year", "decade"})
WH_WORDS = frozenset({"what", "which", "who", "whom", "whose", "when", "where", "how", "why"})
# Verbs that make "how much" ask for money ("how much did they pay").
MONEY_VERBS = frozenset({"pay", "cost", "spend", "raise", "earn", "fetch", "sell", "buy",
                         "invest", "owe", "charge", "lose", "make", "borrow", "lend", "bid",
                         "offer", "save", "fine", "value", "worth", "budget", "gross",
                         "claim", "seek", "demand", "award", "receive", "generate",
                         "collect", "net", "reap"})  # fmt: skip
# Verbs whose object is a price: "what will the console cost" asks for money.
PRICE_VERBS = frozenset({"cost", "charge", "fetch", "gross", "worth"})
# Words of a question that say what is asked, not what it is about.
ASKING = frozenset({"name", "tell", "give", "happen", "happened", "do", "say", "call", "accord"})


def is_role(noun: str | None) -> bool:
    """Whether a noun names what a person is to something ("chairman", "coach")."""
    return NOUN_LABELS.get(noun or "", ())[:1] == ("PERSON",)


@dataclass(frozen=True)
class Term:
    """A content word of the question: its lemma, as written, and its weight."""

    lemma: str
    text: str
    weight: float
    key: bool  # a name, number or rare word: the supporting passage must contain it


@dataclass(frozen=True)
class Question:
    """What a question asks for and what an answer to it must be about."""

    text: str
    labels: tuple[str, ...]  # expected entity labels, preferred first; () asks for a sentence
    focus: str | None  # the noun the wh-phrase asks about ("people" in "how many people")
    terms: tuple[Term, ...]
    entities: tuple[str, ...]  # names, dates and numbers the question itself states

    @property
    def typed(self) -> bool:
        return bool(self.labels)


def weight(word: str) -> float:
    """Rarer words weigh more: 7.5 minus the word's Zipf frequency in English, at least 0.5."""
    return max(0.5, 7.5 - zipf_frequency(word, "en"))


def _head_noun(tokens: list[tuple[str, str, str]], start: int) -> str | None:
    """The head of the first noun phrase after position `start`: the last noun of its first
    run of nouns ("minister" in "which Home Office minister"), skipping adjectives and
    determiners before it. The tagger sometimes tags a word inside a run of nouns as a
    verb ("rugby" of "which Wales rugby coach backed …"): a known asked-about noun (one of
    `NOUN_LABELS`) within the next two words of the run is then its head."""
    head, stop, known = None, len(tokens), None
    for i, (_text, tag, lemma) in enumerate(tokens[start : start + 6], start):
        if tag.startswith("NN"):
            head = lemma
            known = lemma if lemma in NOUN_LABELS else known
        elif head is not None or not (tag.startswith("JJ") or tag in ("DT", "CD", "PRP$", "RB")):
            stop = i
            break
    if head is not None and head not in NOUN_LABELS:
        # "the Evening Standard reporter Ken Livingstone likened": the run ran on into
        # the clause's subject; its last known noun is the one asked about.
        for _text, tag, lemma in tokens[stop : stop + 2]:
            if tag.startswith("NN") and lemma in NOUN_LABELS:
                return lemma
        return known or head
    return head


def _role_noun(tokens: list[tuple[str, str, str]], start: int) -> str | None:
    """The head noun after a copula, past a possessive name ("mayor" in "the city's
    deputy mayor")."""
    for j in range(start, min(start + 4, len(tokens))):
        if tokens[j][1] == "POS":
            return _head_noun(tokens, j + 1)
    return _head_noun(tokens, start)


def expected_labels(tokens: list[tuple[str, str, str]]) -> tuple[tuple[str, ...], str | None]:
    """Expected labels and the asked-about noun, from the first wh-word (earliest cue wins:
    "Who was president when …?" asks for a person)."""
    words = [t[0].lower() for t in tokens]
    for i, word in enumerate(words):
        if word not in WH_WORDS:
            continue
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if word == "how":
            if nxt in ("many", "much"):
                noun = _head_noun(tokens, i + 2)
                if words[i + 2 : i + 3] == ["in"]:  # "how much in damages": a sum of money
                    money = _head_noun(tokens, i + 3)
                    noun = money if NOUN_LABELS.get(money or "") == MONEY else noun
                if nxt == "much" and noun is None:
                    if any(t[2] in MONEY_VERBS for t in tokens):
                        return ("MONEY", "CARDINAL", "QUANTITY", "PERCENT"), None
                    # "by how much did output grow": a change, most often a percentage
                    return ("PERCENT", "MONEY", "QUANTITY", "CARDINAL"), None
                if noun in NOUN_LABELS and NOUN_LABELS[noun] in (WHEN, MONEY):
                    # "how many years", "how much money"
                    return tuple(dict.fromkeys(NOUN_LABELS[noun] + HOW[nxt])), noun
                return HOW[nxt], noun
            if nxt in HOW:
                return HOW[nxt], None
            return (), None  # "how did …": a sentence answers
        if word in WH:
            if word in ("who", "whom") and nxt in COPULA:
                noun = _role_noun(tokens, i + 2)  # "who is the chairman of …"
                if is_role(noun):
                    return WH[word], noun
            return WH[word], None
        if word in ("what", "which"):
            # "what is the population of …": the noun after the copula is the one asked for.
            skip = 2 if nxt in COPULA else 1
            noun = _head_noun(tokens, i + skip)
            if noun == "name":  # "what is the name of the bishop …" asks for a bishop
                at = next((j for j in range(i + skip, len(words)) if words[j] == "of"), None)
                noun = _head_noun(tokens, at + 1) if at is not None else None
                if noun is None:
                    return NAMED, None
                return NOUN_LABELS.get(noun, NAMED), noun
            if noun is None:
                if word == "what" and any(t[2] in PRICE_VERBS for t in tokens):
                    return MONEY, None  # "what will the console cost"
                return (), None  # "what did … say", "what is …"
            if noun not in NOUN_LABELS and skip == 2:
                return (), noun  # "what is the reason …": a sentence answers
            return NOUN_LABELS.get(noun, NAMED), noun
        return (), None  # "why"
    return (), None


@lru_cache(maxsize=1024)
def analyse_question(text: str) -> Question:
    """The expected answer type, weighted terms and stated entities of a question."""
    doc = analyse(text)
    lemmas = [plural_lemma(t.text) if t.tag_ == "NNS" else t.lemma_.lower() for t in doc]
    tokens = [(t.text, t.tag_, lemma) for t, lemma in zip(doc, lemmas, strict=True)]
    labels, focus = expected_labels(tokens)
    # Entities the question states; "what year" is the question's cue, not a stated date.
    ents = [e for e in doc.ents if not any(t.lower_ in WH_WORDS for t in e)]
    # A time said relative to now or as a frequency ("annually", "last year", "this
    # week") is no fact a passage must repeat: the story may say "a year" or "in 2004".
    relative = {
        i
        for e in ents
        if e.label_ in ("DATE", "TIME") and not any(t.like_num or t.is_title for t in e)
        for i in range(e.start, e.end)
    }
    entity_tokens = {i for e in ents for i in range(e.start, e.end)} - relative
    terms: dict[str, Term] = {}
    for i, t in enumerate(doc):
        lower = t.text.lower()
        if t.is_stop or t.is_punct or t.is_space or lower in WH_WORDS or t.lemma_ in ASKING:
            continue
        if t.tag_ == "POS" or (i > 0 and doc[i - 1].lower_ == "how" and lower in HOW):
            continue  # the "long" of "how long" is the cue, not a term
        lemma = lemmas[i]
        rare = zipf_frequency(lower, "en") < 4.0
        named = i in entity_tokens or t.tag_.startswith("NNP") or t.like_num
        w = weight(lower) + (1.5 if named else 0.0)
        key = (named or (rare and t.tag_.startswith("NN"))) and lemma != focus
        key = key and i not in relative
        if lemma not in terms or terms[lemma].weight < w:
            terms[lemma] = Term(lemma, t.text, w, key)
    entities = tuple(e.text for e in ents)
    return Question(text, labels, focus, tuple(terms.values()), entities)
