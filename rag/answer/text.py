"""Word helpers shared by the citation check and the conversation heuristic.

`fold` makes spellings comparable (case, accents, curly quotes); `content_words` and
`content_terms` are a text's words without English stop words, as written or stemmed
(Snowball, through PyStemmer), for word overlap. Left out: sentences, entities and
values, which are spaCy's (`rag.nlp`, `rag.answer.facts`).
"""

import re
import unicodedata
from functools import lru_cache

import Stemmer

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
_WORD = re.compile(r"\w+", re.UNICODE)


def fold(text: str) -> str:
    """Lower case without accents, curly quotes made straight."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.replace("’", "'").replace("‘", "'").lower()


def folded_words(text: str) -> list[str]:
    """Every word of a text, folded (stop words kept: "US" is a name in a question)."""
    return _WORD.findall(fold(text))


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
