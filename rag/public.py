"""The public JSON shapes of answers and documents, defined once (pydantic).

`rag ask --json`, the HTTP API (as FastAPI `response_model`s, documented in OpenAPI),
the SSE events and the eval all serialise through these models, so the shapes cannot
drift apart. Each model is built from the neutral dataclass of `rag.schema` with `of`.
"""

from datetime import date

from pydantic import BaseModel, Field

from rag.schema import Answer, Citation, Conflict, DocumentInfo, Passage


class _SpanPublic(BaseModel):
    """What citations and passages share: where a span of an article is, and its article."""

    n: int
    chunk_id: str
    doc_id: str
    title: str
    published: date | None
    outlet: str | None
    char_start: int
    char_end: int
    score: float
    page: int | None = Field(
        default=None, description="The PDF page the span starts on (from 1); null for other formats"
    )
    url: str | None = Field(default=None, description="The article's web address, if known")
    author: str | None = None


class ConflictPublic(BaseModel):
    """A retrieved document stating another value than the answer."""

    doc_id: str
    value: str
    quote: str

    @classmethod
    def of(cls, c: Conflict) -> "ConflictPublic":
        return cls(doc_id=c.doc_id, value=c.value, quote=c.quote)


class CitationPublic(_SpanPublic):
    """A `[n]` marker resolved to the article span that backs it."""

    quote: str
    supported: bool
    answer_start: int | None = Field(
        default=None, description="The short answer's offsets in the article, if any"
    )
    answer_end: int | None = None

    @classmethod
    def of(cls, c: Citation) -> "CitationPublic":
        return cls(
            n=c.n, chunk_id=c.chunk_id, doc_id=c.doc_id, title=c.title,
            published=c.published, outlet=c.outlet, char_start=c.char_start,
            char_end=c.char_end, score=c.score, quote=c.quote, supported=c.supported,
            answer_start=c.answer_start, answer_end=c.answer_end, page=c.page, url=c.url,
            author=c.author,
        )  # fmt: skip


class PassagePublic(_SpanPublic):
    """A retrieved passage; `n` is the marker number that cites it."""

    text: str

    @classmethod
    def of(cls, n: int, p: Passage) -> "PassagePublic":
        return cls(
            n=n, chunk_id=p.chunk_id, doc_id=p.doc_id, title=p.title,
            published=p.published, outlet=p.outlet, char_start=p.char_start,
            char_end=p.char_end, score=round(p.score, 6), text=p.text, page=p.page, url=p.url,
            author=p.author,
        )  # fmt: skip


# Under this confidence the scorer rates an answer more likely wrong than right, and the
# CLI and the page (api/static/app.js, its own copy) mark it as unsure. The scorer runs
# low for a question's best candidate (calibration in evals/README.md), so this errs on
# the side of warning.
UNSURE_BELOW = 0.5


def confidence_words(confidence: float | None) -> str | None:
    """How sure an answer is, in words for a person: "confidence 82%", or a warning."""
    if confidence is None:
        return None
    percent = f"{round(100 * confidence)}%"
    if confidence < UNSURE_BELOW:
        return f"unsure (confidence {percent}): check the quoted passage"
    return f"confidence {percent}"


class AnswerPublic(BaseModel):
    """An answer with checked citations: the object `rag ask --json` prints."""

    answer: str
    answerable: bool
    citations: list[CitationPublic]
    retrieval_query: str
    timings_ms: dict[str, float]
    generator: str
    fallback: str | None = Field(
        description="The generator that answered instead, when the LLM's answer was made up"
    )
    unsupported: list[str] = Field(description="Answer sentences that no passage backs")
    corroborated_by: list[str] = Field(
        default_factory=list, description="Documents that state the same short answer"
    )
    conflicts: list[ConflictPublic] = Field(
        default_factory=list, description="Documents that state another value"
    )
    confidence: float | None = Field(
        default=None,
        description="How likely the answer is right (0-1, the reader's fitted scorer; for "
        "a refusal, how unlikely its best candidate was); null when the generator cannot tell",
    )

    @classmethod
    def of(cls, a: Answer) -> "AnswerPublic":
        return cls(
            answer=a.answer,
            answerable=a.answerable,
            citations=[CitationPublic.of(c) for c in a.citations],
            retrieval_query=a.retrieval_query,
            timings_ms=a.timings_ms,
            generator=a.generator,
            fallback=a.fallback,
            unsupported=a.unsupported,
            corroborated_by=a.corroborated_by,
            conflicts=[ConflictPublic.of(c) for c in a.conflicts],
            confidence=a.confidence,
        )


class DocumentPublic(BaseModel):
    """A catalogue entry of the index."""

    doc_id: str
    title: str
    published: date | None
    outlet: str | None
    chunk_count: int
    source: str | None
    url: str | None = None
    author: str | None = None
    language: str | None = None

    @classmethod
    def of(cls, d: DocumentInfo) -> "DocumentPublic":
        return cls(
            doc_id=d.doc_id, title=d.title, published=d.published, outlet=d.outlet,
            chunk_count=d.chunk_count, source=d.source, url=d.url, author=d.author,
            language=d.language,
        )  # fmt: skip


def answer_dict(a: Answer, *, with_passages: bool = False) -> dict[str, object]:
    """An answer as JSON-ready data (`rag ask --json`, SSE `done`, eval results)."""
    out: dict[str, object] = AnswerPublic.of(a).model_dump(mode="json")
    if with_passages:
        out["passages"] = [passage_dict(i, p) for i, p in enumerate(a.passages, start=1)]
    return out


def citation_dict(c: Citation) -> dict[str, object]:
    """A citation as JSON-ready data."""
    return CitationPublic.of(c).model_dump(mode="json")


def passage_dict(n: int, p: Passage) -> dict[str, object]:
    """A retrieved passage as JSON-ready data (`n` is its marker number)."""
    return PassagePublic.of(n, p).model_dump(mode="json")


def document_dict(d: DocumentInfo) -> dict[str, object]:
    """A catalogue entry as JSON-ready data."""
    return DocumentPublic.of(d).model_dump(mode="json")
