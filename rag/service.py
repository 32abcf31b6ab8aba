"""`RagService`: the one object the CLI, the API and the evals talk to.

It builds each backend lazily from `Settings` (so `rag documents` never loads the
embedding model) and runs the question pipeline: validate, retrieve, generate, check
citations, time each step.
"""

import hashlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from functools import cached_property
from pathlib import Path

from rag.answer.citations import resolve
from rag.answer.generate import GENERATORS, REFUSAL, Draft, Generator
from rag.answer.guarantee import guarantee
from rag.config import Settings
from rag.errors import EmptyIndex, InvalidInput, NotFound, RagError
from rag.index.embed import Embedder, index_name, make_embedder
from rag.index.retrieve import Filters, HybridRetriever
from rag.index.store import Store
from rag.ingest.chunking import count_tokens
from rag.ingest.documents import parse_article
from rag.ingest.formats import ReadOptions
from rag.ingest.pipeline import (
    IngestReport,
    Outcome,
    RecordResult,
    Track,
    ingest_article,
    ingest_files,
    ingest_folder,
    ingest_url,
    ingest_urls,
)
from rag.schema import Answer, Article, Chunk, DocumentInfo, Passage

EMPTY_INDEX = "the index is empty: add articles with `rag ingest <folder>` or `POST /api/documents`"
WARM_UP_QUESTION = "When did it happen, who said so and how many were there?"


@dataclass
class StreamEvent:
    """One step of a streamed answer: `sources` (passages), `token` (text), `done` (answer).

    A `token` is `final` when it is part of the answer's text as it will be cited (the
    reader's); an LLM's tokens are provisional: the check may change the text, and the
    `done` answer holds the checked one.
    """

    kind: str
    passages: list[Passage] | None = None
    text: str = ""
    final: bool = False
    answer: Answer | None = None


class RagService:
    """Ingest, list and ask over one index, configured by one `Settings`."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        generator: Generator | None = None,
    ) -> None:
        self.settings = settings
        self._generators: dict[str, Generator] = {}
        if embedder is not None:
            self.__dict__["embedder"] = embedder
        if generator is not None:
            self.__dict__["generator"] = generator

    @cached_property
    def embedder(self) -> Embedder:
        return make_embedder(self.settings)

    @cached_property
    def store(self) -> Store:
        return Store(self.settings, index_name(self.settings))

    @cached_property
    def retriever(self) -> HybridRetriever:
        return HybridRetriever(self.store, self.embedder, self.settings.candidates)

    @property
    def extractive(self) -> Generator:
        """The offline reader, also the fallback when an LLM makes facts up."""
        return self.make_generator("extractive")

    @cached_property
    def generator(self) -> Generator:
        return self.make_generator(self.settings.generator)

    def make_generator(self, name: str) -> Generator:
        """A generator by registry name (`rag.answer.generate.GENERATORS`), built once."""
        if name not in self._generators:
            self._generators[name] = GENERATORS.create(name, self.settings, self.store)
        return self._generators[name]

    # -- documents -----------------------------------------------------------------

    def ingest_folder(
        self,
        folder: Path,
        *,
        prune: bool = False,
        track: Track | None = None,
        options: ReadOptions | None = None,
    ) -> IngestReport:
        """Ingest a folder of articles (see `rag.ingest.ingest_folder`)."""
        kwargs = {"track": track} if track else {}
        try:
            return ingest_folder(folder, self.store, self.embedder, self.settings,
                                 prune=prune, options=options, **kwargs)  # fmt: skip
        finally:
            self.refresh_lexical()

    def ingest_files(
        self,
        files: Sequence[tuple[Path, str]],
        options: ReadOptions | None = None,
        *,
        outlet: str | None = None,
        published: date | None = None,
    ) -> list[list[RecordResult]]:
        """Ingest files given as (path, name in reports), each read by its suffix; the
        results of each file's articles. An id read twice is skipped the second time;
        `outlet` and `published` replace what the files say."""
        return ingest_files(
            files, self.store, self.embedder, self.settings,
            options=options, outlet=outlet, published=published,
        )  # fmt: skip

    def ingest_urls(self, urls: Sequence[str]) -> IngestReport:
        """Fetch and ingest pages by URL (see `rag.ingest.pipeline.ingest_urls`)."""
        try:
            return ingest_urls(urls, self.store, self.embedder, self.settings)
        finally:
            self.refresh_lexical()

    def fetch_urls(self, urls: Sequence[str], *, allow_private: bool) -> list[RecordResult]:
        """Fetch and ingest pages by URL, one result per distinct URL (for the HTTP API:
        `allow_private=False` refuses addresses of the server's own network)."""
        try:
            return [
                ingest_url(url, self.store, self.embedder, self.settings,
                           allow_private=allow_private)
                for url in dict.fromkeys(urls)
            ]  # fmt: skip
        finally:
            self.refresh_lexical()

    def refresh_lexical(self) -> None:
        """Repair the lexical index if it lags the store (after a crash, or writes that
        bypassed it); O(1) when it does not. Each write updates it in place already."""
        self.store.sync_lexical()

    def add_article(self, article: Article) -> tuple[Outcome, int]:
        """Ingest one parsed article; returns the outcome and chunks written."""
        return ingest_article(article, self.store, self.embedder, self.settings)

    def add_text(
        self,
        text: str,
        *,
        doc_id: str | None = None,
        title: str | None = None,
        published: date | None = None,
        outlet: str | None = None,
    ) -> tuple[Outcome, int, DocumentInfo]:
        """Ingest one article given as raw text (missing metadata is extracted from it).

        Without an id, the text names the document, so adding it twice is idempotent.
        """
        doc_id = doc_id or "api_" + hashlib.sha256(text.encode()).hexdigest()[:16]
        article = parse_article(doc_id, text, title=title, published=published, outlet=outlet)
        outcome, written = self.add_article(article)
        if outcome != "unchanged":
            self.refresh_lexical()
        info = self.store.get_document(doc_id)
        if info is None:  # deleted by another request right after it was written
            raise NotFound(f"document {doc_id!r} was deleted while it was being added")
        return outcome, written, info

    def delete_document(self, doc_id: str) -> None:
        """Remove a document and its chunks."""
        self.store.delete_document(doc_id)
        self.refresh_lexical()

    def documents(self) -> list[DocumentInfo]:
        """Every stored document."""
        return self.store.list_documents()

    def document(self, doc_id: str) -> tuple[DocumentInfo, str, list[Chunk]]:
        """A stored document's catalogue entry, cleaned text and chunk spans."""
        text = self.store.get_text(doc_id)
        info = self.store.get_document(doc_id)
        assert info is not None  # get_text raised otherwise
        chunks = [
            Chunk(n.node_id, doc_id, int(n.metadata["chunk_index"]), n.get_content(),
                  int(n.metadata["char_start"]), int(n.metadata["char_end"]))
            for n in self.retriever.document_nodes(doc_id)
        ]  # fmt: skip
        return info, text, chunks

    def warm_up(self) -> None:
        """Load every model and index a question needs, so the first one is fast.

        Runs the offline reader on a retrieved passage; an LLM generator is only checked
        (`check`), not asked. Errors are left for `readiness` to report.
        """
        try:
            self.extractive.check()  # the reader's model and scorer, even with no documents
            passages = self.retrieve(WARM_UP_QUESTION) if self.store.count_documents() else []
            self.extractive.generate(WARM_UP_QUESTION, passages[:1])
        except RagError:
            pass

    def readiness(self) -> dict[str, object]:
        """What `/readyz` reports: each part's state, and `ready` only if all are fine.

        An empty index is a named state (`index: "empty"`), not a failure: the server can
        take documents, and questions get the `EmptyIndex` error until it has some.
        """
        status: dict[str, object] = {}
        try:
            status["documents"] = count = self.store.count_documents()
            status["index"] = "ok" if count else "empty"
        except RagError as exc:
            status["index"] = str(exc)
        try:
            self.embedder.embed_query("ready")
            status["embedder"] = "ok"
        except RagError as exc:
            status["embedder"] = str(exc)
        try:
            self.generator.check()
            status["generator"] = "ok"
        except RagError as exc:
            status["generator"] = str(exc)
        status["generator_name"] = self.settings.generator
        status["ready"] = status["index"] in ("ok", "empty") and all(
            status[k] == "ok" for k in ("embedder", "generator")
        )
        return status

    def check_index(self, filters: Filters | None) -> None:
        """`EmptyIndex` without documents; `NotFound` for a filter naming an unknown id."""
        if not self.store.count_documents():
            raise EmptyIndex(EMPTY_INDEX)
        if filters and filters.doc_ids:
            missing = self.store.missing(filters.doc_ids)
            if missing:
                raise NotFound(
                    "no document with id "
                    + ", ".join(repr(d) for d in missing)
                    + "; `rag documents` or GET /api/documents lists them"
                )

    # -- questions -----------------------------------------------------------------

    def check_question(self, question: str) -> str:
        """The question stripped; empty or over-long questions are `InvalidInput`."""
        question = question.strip()
        if not question:
            raise InvalidInput("the question is empty")
        tokens = count_tokens(question)
        if tokens > self.settings.max_question_tokens:
            raise InvalidInput(
                f"the question is {tokens} tokens long; the limit is "
                f"{self.settings.max_question_tokens} (RAG_MAX_QUESTION_TOKENS)"
            )
        return question

    def retrieve(
        self, query: str, top_k: int | None = None, filters: Filters | None = None
    ) -> list[Passage]:
        """The best passages for a query."""
        top_k = self.settings.top_k if top_k is None else top_k
        if not 1 <= top_k <= 50:
            raise InvalidInput("top_k must be between 1 and 50")
        return self.retriever.retrieve(query, top_k, filters)

    def ask(
        self,
        question: str,
        *,
        query: str | None = None,
        top_k: int | None = None,
        filters: Filters | None = None,
        generator: Generator | None = None,
    ) -> Answer:
        """Answer a question from the articles, with checked citations (`ask_stream`, drained)."""
        events = self.ask_stream(question, query=query, top_k=top_k, filters=filters,
                                 generator=generator)  # fmt: skip
        for event in events:
            if event.answer is not None:
                return event.answer
        raise AssertionError("ask_stream always ends with a `done` event")

    def ask_stream(
        self,
        question: str,
        *,
        query: str | None = None,
        top_k: int | None = None,
        filters: Filters | None = None,
        generator: Generator | None = None,
    ) -> Iterator[StreamEvent]:
        """The question pipeline as events: retrieve → draft → check → answer.

        `query` (default: the question) is what is retrieved and answered, e.g. a
        follow-up rewritten to stand alone; the answer reports `question`. Validation
        errors are raised here, before the first event, so callers can still answer
        with an error status.
        """
        question = self.check_question(question)
        query = self.check_question(query) if query else question
        self.check_index(filters)
        run = _Run(question, query, top_k, filters, generator or self.generator)
        run.search = self._search_filters(filters)
        return self._pipeline(run)

    def _search_filters(self, filters: Filters | None) -> Filters | None:
        """The filters as the index searches them: outlets become the ids of their documents
        (`None` when they match no document, so nothing is searched)."""
        if filters is None or not filters.outlets:
            return filters
        ids = set(self.store.doc_ids_of_outlets(filters.outlets))
        if filters.doc_ids:
            ids &= set(filters.doc_ids)
        return replace(filters, doc_ids=tuple(sorted(ids)), outlets=None) if ids else None

    def _pipeline(self, run: "_Run") -> Iterator[StreamEvent]:
        excluded = run.filters is not None and run.filters.outlets and run.search is None
        passages = [] if excluded else self.retrieve(run.query, run.top_k, run.search)
        run.lap("retrieve")
        yield StreamEvent("sources", passages=passages)
        draft: Draft | None = None
        if not passages:  # only filters can exclude every chunk of a non-empty index
            reason = run.filters.describe() if run.filters else ""
            text = f"No article matches the filters ({reason})." if reason else REFUSAL
            draft = Draft(text, answerable=False, citations=[])
            yield StreamEvent("token", text=text, final=True)
        else:
            for piece in run.generator.stream(run.query, passages):
                if isinstance(piece, Draft):
                    draft = piece
                else:
                    yield StreamEvent("token", text=piece, final=run.generator.final_stream)
        if draft is None:
            raise AssertionError(f"generator {run.generator.name!r} did not end with a Draft")
        run.lap("generate")
        yield StreamEvent("done", answer=self._check(run, passages, draft))

    def _check(self, run: "_Run", passages: Sequence[Passage], draft: Draft) -> Answer:
        """Check the citations of a draft and assemble the `Answer`.

        A draft without citations of its own (an LLM's) has its markers guaranteed and
        resolved; one that adds a fact no passage holds, or of which no sentence could be
        cited, is replaced by the reader's answer.
        """
        fallback: str | None = None
        unsupported: list[str] = []
        if draft.answerable and draft.citations is None:
            checked = guarantee(draft.text, passages, run.query)
            if checked.invented or not checked.cited:
                draft = self.extractive.generate(run.query, passages)
                fallback = self.extractive.name
            else:
                draft = Draft(checked.text, answerable=True)
                unsupported = checked.unsupported
        text, citations = draft.text, draft.citations or []
        if draft.answerable and draft.citations is None:
            text, citations = resolve(text, passages)
        run.lap("total")
        return Answer(
            question=run.question,
            answer=text,
            answerable=draft.answerable,
            citations=citations,
            passages=list(passages),
            retrieval_query=run.query,
            generator=run.generator.name,
            fallback=fallback,
            unsupported=unsupported,
            corroborated_by=draft.corroborated_by,
            conflicts=draft.conflicts,
            confidence=draft.confidence,
            timings_ms=run.timings,
        )


@dataclass
class _Run:
    """One question on its way through the pipeline, with the time each step took."""

    question: str
    query: str
    top_k: int | None
    filters: Filters | None
    generator: Generator
    search: Filters | None = None  # `filters` as searched (outlets resolved to documents)
    started: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)

    def lap(self, step: str) -> None:
        """Record the time since the previous step (`total`: since the start)."""
        now = time.perf_counter()
        steps_s = sum(ms for name, ms in self.timings.items() if name != "total") / 1000
        since = self.started if step == "total" else self.started + steps_s
        self.timings[step] = round((now - since) * 1000, 2)
