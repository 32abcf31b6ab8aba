"""Request and response bodies of the HTTP API (pydantic), mirroring `rag.schema`'s JSON shapes.

Responses are built from `rag.schema.*_dict`, so they equal `rag ask --json`; these
models document them in OpenAPI and validate requests. Left out: pagination (an index
holds at most a few thousand documents).
"""

from datetime import date
from typing import Annotated, Any, Literal

from openai.types import Model
from openai.types.chat import ChatCompletion as OpenAIChatCompletion
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints

from rag.answer.conversation import Turn
from rag.index.retrieve import Filters
from rag.public import (  # the public shapes, defined once in rag
    CitationPublic,
    DocumentPublic,
)

# Chars, not tokens: a cheap bound before the service counts the question's tokens.
MAX_TEXT_CHARS = 100_000
# A generous bound on the request body only; the service refuses articles over
# RAG_MAX_ARTICLE_CHARS (200,000 by default) with a 413 naming the limit.
MAX_ARTICLE_CHARS = 2_000_000
MAX_MESSAGES = 100

DocId = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", max_length=128)
]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]
# Strict: `"5"`, `true` or `5.0` for a count, or `"yes"`/`1` for a flag, are type errors.
TopK = Annotated[StrictInt, Field(ge=1, le=50)]


class Strict(BaseModel):
    """A request body that rejects unknown fields, so typos do not pass silently."""

    model_config = ConfigDict(extra="forbid")


class FiltersIn(Strict):
    """Restrict retrieval to some documents or a publication date range (inclusive)."""

    doc_ids: Annotated[list[DocId], Field(min_length=1, max_length=500)] | None = None
    outlets: (
        Annotated[
            list[Annotated[str, StringConstraints(max_length=200)]],
            Field(min_length=1, max_length=100),
        ]
        | None
    ) = None
    published_from: date | None = None
    published_to: date | None = None

    def to_filters(self) -> Filters:
        """The same filters as `rag.index.retrieve.Filters` (checks the date order)."""
        return Filters(
            doc_ids=tuple(self.doc_ids) if self.doc_ids else None,
            published_from=self.published_from,
            published_to=self.published_to,
            outlets=tuple(self.outlets) if self.outlets else None,
        )


class AskRequest(Strict):
    """One question."""

    question: Text
    top_k: TopK | None = None
    filters: FiltersIn | None = None


class Message(Strict):
    """One chat message."""

    role: Literal["system", "user", "assistant"]
    content: Text


class ChatRequest(Strict):
    """A conversation whose last message is the user's question."""

    messages: Annotated[list[Message], Field(min_length=1, max_length=MAX_MESSAGES)]
    stream: StrictBool = False
    top_k: TopK | None = None
    filters: FiltersIn | None = None

    def turns(self) -> list[Turn]:
        """The messages as `rag.conversation.Turn`s."""
        return [Turn(m.role, m.content) for m in self.messages]


class ChunkSpan(BaseModel):
    """Where a chunk lies in its document's cleaned text."""

    chunk_id: str
    index: int
    char_start: int
    char_end: int


class DocumentDetail(DocumentPublic):
    """A document with its cleaned text and chunk spans."""

    text: str
    chunks: list[ChunkSpan]


class ArticleIn(Strict):
    """One article to add; missing metadata is extracted from the text as for files."""

    text: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ARTICLE_CHARS)]
    title: Annotated[str, StringConstraints(max_length=500)] | None = None
    published: date | None = None
    outlet: Annotated[str, StringConstraints(max_length=200)] | None = None
    doc_id: DocId | None = None


class IngestResult(BaseModel):
    """What adding one article did: `created`, `updated` or `unchanged`."""

    outcome: Literal["created", "updated", "unchanged"]
    chunks_written: int
    document: DocumentPublic


class RecordOutcome(BaseModel):
    """What became of one article of an uploaded file."""

    name: str = Field(description="The file's name; `name:line` for a record of an export")
    outcome: Literal["created", "updated", "unchanged", "skipped"]
    doc_id: str | None = None
    title: str | None = None
    chunks_written: int = 0
    reason: str | None = Field(default=None, description="Why it was skipped")


class FileOutcome(BaseModel):
    """One uploaded file and what became of each of its articles."""

    file: str
    records: list[RecordOutcome]


class UploadResult(BaseModel):
    """What uploading files did, file by file, with counts by outcome."""

    files: list[FileOutcome]
    counts: dict[str, int]


class UrlsIn(BaseModel):
    """Pages to fetch and add, by URL."""

    model_config = ConfigDict(extra="forbid")

    urls: list[Annotated[str, StringConstraints(min_length=1, max_length=2048)]] = Field(
        min_length=1, max_length=20, description="http or https URLs of article pages"
    )


class UrlsResult(BaseModel):
    """What fetching pages did, URL by URL (`name` is the URL), with counts by outcome."""

    urls: list[RecordOutcome]
    counts: dict[str, int]


class Deleted(BaseModel):
    """Confirmation of a deletion."""

    doc_id: str
    deleted: bool


class ErrorDetail(BaseModel):
    """A machine-readable code and a message for a person."""

    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error response has this body."""

    error: ErrorDetail


class Health(BaseModel):
    """Liveness."""

    status: Literal["ok"]


class Ready(BaseModel):
    """Readiness: whether the index, the embedder and the generator can serve now."""

    status: Literal["ready", "not_ready", "warming_up"]
    documents: int | None
    embedder: str
    generator: str
    checks: dict[str, str]  # part -> "ok", "empty" (index) or what is wrong with it


# -- OpenAI-compatible ----------------------------------------------------------------


class TextPart(BaseModel):
    """A text part of a multi-part message (other part types are rejected)."""

    type: Literal["text"]
    text: Text


class OpenAIMessage(BaseModel):
    """An OpenAI chat message; unknown fields (name, tool calls) are ignored."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: Text | Annotated[list[TextPart], Field(max_length=100)] | None = None

    def text(self) -> str:
        """The message's text, parts joined."""
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content)
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """OpenAI's chat completion request; sampling parameters are accepted and ignored."""

    model_config = ConfigDict(extra="allow")

    model: str | None = None
    messages: Annotated[list[OpenAIMessage], Field(min_length=1, max_length=MAX_MESSAGES)]
    stream: StrictBool = False

    def turns(self) -> list[Turn]:
        """User and assistant messages as turns (system, developer and tool are dropped)."""
        kept = [m for m in self.messages if m.role in ("user", "assistant")]
        return [Turn(m.role, m.text()) for m in kept]


class ChatCompletion(OpenAIChatCompletion):
    """OpenAI's own chat completion type, plus the answer's `citations` and `retrieval_query`."""

    citations: list[CitationPublic]
    retrieval_query: str


class ModelList(BaseModel):
    """`GET /v1/models`: OpenAI's list of its own `Model` type."""

    object: Literal["list"]
    data: list[Model]


def error_body(code: str, message: str) -> dict[str, Any]:
    """The JSON body of an error response."""
    return {"error": {"code": code, "message": message}}
