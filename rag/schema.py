"""Neutral data classes that cross module boundaries.

llama-index and Chroma types stay inside the modules that use them; everything public
speaks in these.
"""

import bisect
import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property


def record_version(
    text_sha: str,
    title: str,
    published: date | None,
    outlet: str | None,
    url: str | None = None,
    pages: tuple[int, ...] = (),
    author: str | None = None,
    language: str | None = None,
) -> str:
    """Hash of an article's text hash and metadata, compared and stored as one unit.

    A re-sent article is `unchanged` only if this matches, and its chunks are keyed by
    it, so a changed date or outlet replaces every copy of the old one.
    """
    fields: list[str | None] = [title, published.isoformat() if published else None, outlet]
    if url:  # only when set, so records stored before URLs existed keep their version
        fields.append(url)
    if pages:  # likewise; a PDF stored before page numbers is re-written with them
        fields.append(",".join(map(str, pages)))
    if author or language:  # likewise
        fields += [author, language]
    meta = json.dumps(fields)
    return hashlib.sha256(f"{text_sha}\n{meta}".encode()).hexdigest()


def version_of(record: "Article | DocumentInfo") -> str:
    """`record_version` of an article or of its stored record: the same fields, one place."""
    return record_version(
        record.sha256, record.title, record.published, record.outlet, record.url,
        record.pages, record.author, record.language,
    )  # fmt: skip


@dataclass(frozen=True)
class Article:
    """One cleaned news article, ready to chunk."""

    doc_id: str
    text: str
    title: str
    published: date | None = None
    outlet: str | None = None
    source: str | None = None  # file name it came from, if any
    url: str | None = None  # web address the page or record names, if any
    pages: tuple[int, ...] = ()  # a PDF's page starts in `text`: page n at pages[n - 1]
    author: str | None = None
    language: str | None = None  # as the page declares it (e.g. "en"), if it does

    # Cached: chunk ids and chunk metadata ask for it once per chunk, and hashing the
    # whole text each time made an article's cost grow with the square of its length.
    @cached_property
    def sha256(self) -> str:
        """Hash of the cleaned text (the key of its stored annotation)."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def version(self) -> str:
        """Hash of text and metadata: the key of idempotent re-ingestion and of its chunks."""
        return version_of(self)

    def page_at(self, offset: int) -> int | None:
        """The page (from 1) holding character `offset` of the text; None without pages."""
        return bisect.bisect_right(self.pages, offset) if self.pages else None


@dataclass(frozen=True)
class Chunk:
    """A token-sized span of an article; `text == article.text[char_start:char_end]`."""

    chunk_id: str
    doc_id: str
    index: int
    text: str
    char_start: int
    char_end: int


@dataclass(frozen=True)
class DocumentInfo:
    """What the index knows about one stored article."""

    doc_id: str
    title: str
    published: date | None
    outlet: str | None
    sha256: str
    chunk_count: int
    source: str | None = None
    url: str | None = None
    pages: tuple[int, ...] = ()
    author: str | None = None
    language: str | None = None

    @property
    def version(self) -> str:
        """The stored record's `Article.version`."""
        return version_of(self)


@dataclass
class Passage:
    """A retrieved chunk with its article metadata and fused retrieval score."""

    chunk_id: str
    doc_id: str
    text: str
    char_start: int
    char_end: int
    title: str
    published: date | None
    outlet: str | None
    score: float
    dense_rank: int | None = None
    bm25_rank: int | None = None
    doc_sha: str = ""  # hash of the article text the chunk was cut from
    url: str | None = None
    author: str | None = None
    page: int | None = None  # the PDF page the chunk starts on
    page_breaks: tuple[int, ...] = ()  # article offsets inside the chunk where a page starts

    def page_at(self, offset: int) -> int | None:
        """The page holding article offset `offset` (within the chunk); None if not a PDF."""
        if self.page is None:
            return None
        return self.page + bisect.bisect_right(self.page_breaks, offset)

    def span_text(self, start: int, end: int) -> str:
        """The text of a span given in article offsets (inside this chunk)."""
        return self.text[start - self.char_start : end - self.char_start]

    def cite(
        self,
        n: int,
        start: int,
        end: int,
        *,
        supported: bool,
        answer: tuple[int, int] | None = None,
    ) -> "Citation":
        """Marker `n` resolved to the span `start:end` (article offsets) of this passage."""
        return Citation(
            n=n,
            chunk_id=self.chunk_id,
            doc_id=self.doc_id,
            title=self.title,
            published=self.published,
            outlet=self.outlet,
            char_start=start,
            char_end=end,
            quote=self.span_text(start, end),
            score=round(self.score, 6),
            supported=supported,
            answer_start=answer[0] if answer else None,
            answer_end=answer[1] if answer else None,
            page=self.page_at(start),
            url=self.url,
            author=self.author,
        )


@dataclass
class Citation:
    """One `[n]` marker resolved to the exact span of an article that backs it."""

    n: int
    chunk_id: str
    doc_id: str
    title: str
    published: date | None
    outlet: str | None
    char_start: int
    char_end: int
    quote: str
    score: float
    supported: bool
    answer_start: int | None = None  # the short answer's offsets in the article, if any
    answer_end: int | None = None
    url: str | None = None
    author: str | None = None
    page: int | None = None  # the PDF page the cited passage starts on


@dataclass
class Conflict:
    """A retrieved document that states another value than the answer."""

    doc_id: str
    value: str
    quote: str


@dataclass
class Answer:
    """The result of a question: text with `[n]` markers, citations and timings."""

    question: str
    answer: str
    answerable: bool
    citations: list[Citation]
    passages: list[Passage]
    retrieval_query: str
    generator: str
    timings_ms: dict[str, float] = field(default_factory=dict)
    fallback: str | None = None  # generator used instead when the LLM's answer was made up
    unsupported: list[str] = field(default_factory=list)  # sentences no passage backs
    corroborated_by: list[str] = field(default_factory=list)  # documents stating the answer
    conflicts: list[Conflict] = field(default_factory=list)  # documents stating another value
    confidence: float | None = None  # how likely the answer is right (0-1), if known
