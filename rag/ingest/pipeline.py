"""Ingest articles: read, clean, chunk, embed and store, idempotently.

An unchanged document (same cleaned-text hash) costs one catalogue lookup and no
embedding. Bad files are reported by name and skipped; the others still go in.
"""

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Literal, TypeVar

from rag.config import Settings
from rag.errors import InvalidInput, TooLarge
from rag.index.embed import Embedder
from rag.index.store import Store, Written
from rag.ingest.chunking import split_article
from rag.ingest.documents import find_article_files
from rag.ingest.formats import SUFFIXES, ReadOptions, read_file
from rag.nlp import annotate, annotate_many
from rag.schema import Article, Chunk, DocumentInfo

Outcome = Literal["created", "updated", "unchanged"]
T = TypeVar("T")


def _no_progress(items: Sequence[T], description: str) -> Iterable[T]:
    return items


Track = Callable[[Sequence[Path], str], Iterable[Path]]


@dataclass
class IngestReport:
    """What one ingest run did, document by document."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)
    chunks_written: int = 0
    repaired_chunks: int = 0
    # kind ("txt", "html", "pdf", "jsonl", "url"...) -> outcome -> how many articles
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, kind: str, result: "RecordResult") -> None:
        """Count one article's result (or one skipped file or record) of a file type."""
        self.note(kind, result.outcome)
        if result.outcome == "skipped":
            self.skipped.append((result.name, result.reason or "skipped"))
            return
        getattr(self, result.outcome).append(result.doc_id)
        self.chunks_written += result.chunks_written

    def note(self, kind: str, outcome: str, n: int = 1) -> None:
        """Count articles' outcome under their file type."""
        counts = self.by_kind.setdefault(kind, {})
        counts[outcome] = counts.get(outcome, 0) + n

    @classmethod
    def merged(cls, reports: Sequence["IngestReport"]) -> "IngestReport":
        """One report for several runs (a folder and a list of URLs)."""
        total = cls()
        for r in reports:
            for name in ("created", "updated", "unchanged", "removed", "skipped"):
                getattr(total, name).extend(getattr(r, name))
            total.chunks_written += r.chunks_written
            total.repaired_chunks += r.repaired_chunks
            for kind, counts in r.by_kind.items():
                for outcome, n in counts.items():
                    total.note(kind, outcome, n)
        return total

    def counts(self) -> dict[str, int]:
        """Counts by outcome, for printing and JSON."""
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "removed": len(self.removed),
            "skipped": len(self.skipped),
        }


def check_length(article: Article, settings: Settings) -> None:
    """Refuse an article longer than `RAG_MAX_ARTICLE_CHARS` with `TooLarge`."""
    limit = settings.max_article_chars
    if len(article.text) > limit:
        raise TooLarge(
            f"{article.doc_id}: the article is {len(article.text):,} characters long after "
            f"cleaning; the limit is {limit:,} (RAG_MAX_ARTICLE_CHARS): split it into parts "
            "or raise the limit"
        )


def ingest_article(
    article: Article, store: Store, embedder: Embedder, settings: Settings
) -> tuple[Outcome, int]:
    """Store one article unless the same text and metadata are stored; outcome and chunks.

    Chunking, embedding and annotating run before the write lock is taken; the check and
    the write run under it, so concurrent writers of one document (threads, the server
    and the CLI) take turns and the last complete write wins. Every ingest, from a
    folder or through the API, passes here or through `ingest_articles`: an article over
    `RAG_MAX_ARTICLE_CHARS` is refused (`TooLarge`) first.
    """
    ((_, outcome, written),) = ingest_articles([(None, article)], store, embedder, settings)
    if isinstance(outcome, InvalidInput):
        raise outcome
    return outcome, written


def ingest_articles(
    items: Iterable[tuple[T, Article]],
    store: Store,
    embedder: Embedder,
    settings: Settings,
) -> Iterator[tuple[T, Outcome | InvalidInput, int]]:
    """Ingest articles (each with a tag of the caller's), yielding (tag, outcome or the
    `InvalidInput` that refused it, chunks written) per article, as each is settled:
    unchanged ones at once, new and changed ones when their batch is written, so the
    order may differ from the input's by up to one batch.

    New and changed articles are chunked as they are read, then embedded, annotated and
    written `RAG_INGEST_BATCH_CHUNKS` chunks at a time: one embedder call for the batch
    (similar lengths together, whichever article they come from), one spaCy `pipe` and
    one Chroma write per step. A crash loses at most the two batches in flight (one
    being written, the next being embedded); finished batches are stored and are
    "unchanged" at the next run.
    """
    pending: list[tuple[T, Article, list[Chunk]]] = []
    size = 0
    # Batch N is written in the writer thread while the caller's thread reads, chunks and
    # embeds batch N+1: the embedder does not wait on Chroma or SQLite. At most one
    # write is in flight, and writes keep their order. On an error the executor still
    # finishes the write in flight, so a crash loses only unwritten batches.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer") as writer:
        writing: list[Future[list[tuple[T, Outcome, int]]]] = []

        def flush() -> Iterator[tuple[T, Outcome, int]]:
            docs = _embedded(pending, embedder)
            while writing:
                yield from writing.pop().result()
            tags = [tag for tag, _, _ in pending]
            writing.append(writer.submit(_write_batch, tags, docs, store))

        for tag, article in items:
            try:
                check_length(article, settings)
            except InvalidInput as exc:
                yield tag, exc, 0
                continue
            if _unchanged(article, store):
                yield tag, "unchanged", 0
                continue
            if any(a.doc_id == article.doc_id for _, a, _ in pending):  # written in turn
                yield from flush()
                pending, size = [], 0
            chunks = split_article(article, settings.chunk_size, settings.chunk_overlap)
            pending.append((tag, article, chunks))
            size += len(chunks)
            if size >= settings.ingest_batch_chunks:
                yield from flush()
                pending, size = [], 0
        if pending:
            yield from flush()
        while writing:
            yield from writing.pop().result()


def _embedded(batch: list[tuple[T, Article, list[Chunk]]], embedder: Embedder) -> list[Written]:
    """The batch's chunks embedded and its articles annotated, ready to write."""
    texts = [c.text for _, _, chunks in batch for c in chunks]
    # spaCy annotates in a second thread while the embedder runs: both spend most of
    # their time in native code that releases the GIL (`make bench`, "ingest / raw
    # embedder"; on 2 cores they compete, with a core to spare the annotation is free).
    with ThreadPoolExecutor(max_workers=1) as pool:
        annotating = pool.submit(annotate_many, [a.text for _, a, _ in batch])
        vectors = iter(embedder.embed_documents(texts))
        annotations = annotating.result()
    return [
        Written(article, chunks, [next(vectors) for _ in chunks], annotation)
        for (_, article, chunks), annotation in zip(batch, annotations, strict=True)
    ]


def _write_batch(tags: list[T], docs: list[Written], store: Store) -> list[tuple[T, Outcome, int]]:
    """Write a batch (documents another writer stored meanwhile are left alone); each
    article's outcome, with its tag."""
    with store.writing():
        stored = {d.article.doc_id: store.get_document(d.article.doc_id) for d in docs}
        fresh = [d for d in docs if _version(stored[d.article.doc_id]) != d.article.version]
        store.write_documents(fresh)
    written = {d.article.doc_id for d in fresh}
    out: list[tuple[T, Outcome, int]] = []
    for tag, d in zip(tags, docs, strict=True):
        doc_id = d.article.doc_id
        if doc_id not in written:
            out.append((tag, "unchanged", 0))
        else:
            out.append((tag, "created" if stored[doc_id] is None else "updated", len(d.chunks)))
    return out


def _version(info: DocumentInfo | None) -> str | None:
    return None if info is None else info.version


def _unchanged(article: Article, store: Store) -> bool:
    existing = store.get_document(article.doc_id)
    if existing is None or existing.version != article.version:
        return False
    stored = store.get_annotations([article.doc_id]).get(article.doc_id)
    if stored is None or stored[0] != article.sha256:  # from an older version of rag
        store.put_annotation(article.doc_id, article.sha256, annotate(article.text))
    return True


@dataclass
class RecordResult:
    """What ingesting one article of a file did, or why it was skipped."""

    name: str  # the file's name, `name:line` for a record of an export
    outcome: Outcome | Literal["skipped"]
    doc_id: str | None = None
    title: str | None = None
    chunks_written: int = 0
    reason: str | None = None  # why it was skipped
    unread: bool = False  # skipped because the file or record could not be read


def ingest_files(
    files: Sequence[tuple[Path, str]],
    store: Store,
    embedder: Embedder,
    settings: Settings,
    **kwargs: Any,
) -> list[list[RecordResult]]:
    """Ingest files given as (path, name in reports); each file's results in its order
    (keyword arguments as for `settle_files`)."""
    found: list[list[tuple[int, RecordResult]]] = [[] for _ in files]
    index = {id(path): i for i, (path, _) in enumerate(files)}
    for path, position, result in settle_files(files, store, embedder, settings, **kwargs):
        found[index[id(path)]].append((position, result))
    return [[r for _, r in sorted(results, key=lambda x: x[0])] for results in found]


def settle_files(
    files: Iterable[tuple[Path, str]],
    store: Store,
    embedder: Embedder,
    settings: Settings,
    *,
    options: ReadOptions | None = None,
    seen: dict[str, str] | None = None,
    outlet: str | None = None,
    published: date | None = None,
) -> Iterator[tuple[Path, int, RecordResult]]:
    """Ingest the articles of files (path, name in reports), each read by the reader of
    its suffix, in batches across files (`ingest_articles`). Yields (path, position of
    the record in its file, result) as each is settled, so a file's results may come
    out of order and after the next file's.

    `seen` maps the doc ids already ingested in this run to where they were read, so a
    repeated id is skipped. A file that cannot be read at all is one skipped result.
    `outlet` and `published`, when given, replace what was read for each article.
    """
    seen = {} if seen is None else seen
    ready: list[tuple[Path, int, RecordResult]] = []  # skipped while reading

    def articles() -> Iterator[tuple[tuple[Path, int, RecordResult], Article]]:
        for path, name in files:
            records = _records(path, name, options or ReadOptions(), seen, outlet, published)
            for position, (result, article) in enumerate(records):
                if article is None:
                    ready.append((path, position, result))
                else:
                    yield (path, position, result), article

    for (path, position, result), outcome, written in ingest_articles(
        articles(), store, embedder, settings
    ):
        yield from _drain(ready)
        if isinstance(outcome, InvalidInput):  # `TooLarge`
            result.reason = str(outcome)
        else:
            result.outcome, result.chunks_written = outcome, written
        yield path, position, result
    yield from _drain(ready)


def _drain(items: list[T]) -> Iterator[T]:
    while items:
        yield items.pop(0)


def _records(
    path: Path,
    name: str,
    options: ReadOptions,
    seen: dict[str, str],
    outlet: str | None,
    published: date | None,
) -> Iterator[tuple[RecordResult, Article | None]]:
    """Each record of a file as its result to be (skipped, until settled) and its article,
    or as its final result and None when it cannot be ingested (unreadable, repeated id)."""
    try:
        records = read_file(path, options)
    except InvalidInput as exc:  # unreadable, binary, no text layer, unsupported...
        seen.setdefault(path.stem, name)  # its stored version stays
        yield RecordResult(name, "skipped", reason=str(exc), unread=True), None
        return
    for record in records:
        where = name if record.line is None else f"{name}:{record.line}"
        article = record.article
        if article is None:
            reason = record.problem or "unreadable record"
            yield RecordResult(where, "skipped", reason=reason, unread=True), None
            continue
        if outlet or published:
            article = replace(
                article,
                outlet=outlet or article.outlet,
                published=published or article.published,
            )
        result = RecordResult(where, "skipped", article.doc_id, article.title)
        if article.doc_id in seen:
            result.reason = f"same id as {seen[article.doc_id]}; rename one"
            yield result, None
            continue
        seen[article.doc_id] = where
        yield result, article


def ingest_folder(
    folder: Path,
    store: Store,
    embedder: Embedder,
    settings: Settings,
    *,
    prune: bool = False,
    track: Track = _no_progress,
    options: ReadOptions | None = None,
) -> IngestReport:
    """Ingest every article file under `folder`; `prune` drops documents whose file is gone.

    A file yields one article (`.txt`, `.md`, `.html`, `.pdf`) or one per record
    (`.jsonl`, `.csv`, read with `options`). A bad file is skipped by name, a bad record
    by `name:line`; the documents of a file with anything skipped survive `prune`.
    """
    files = find_article_files(folder, SUFFIXES)
    report = IngestReport(repaired_chunks=store.repair())
    partly_read: set[str] = set()  # source names of files with something skipped
    seen: dict[str, str] = {}  # doc_id -> where it was read
    named = ((path, str(path.relative_to(folder))) for path in track(files, "Ingesting"))
    settled = settle_files(named, store, embedder, settings, options=options, seen=seen)
    for path, _, result in settled:
        report.add(path.suffix.lower().lstrip("."), result)
        if result.unread:
            partly_read.add(path.name)
    if prune:
        for info in store.list_documents():
            if info.doc_id not in seen and info.source not in partly_read:
                store.delete_document(info.doc_id)
                report.removed.append(info.doc_id)
    if not (report.created or report.updated or report.unchanged):
        raise InvalidInput(
            f"no article in {folder} could be ingested: "
            + "; ".join(f"{name}: {why}" for name, why in report.skipped)
        )
    return report


def ingest_url(
    url: str, store: Store, embedder: Embedder, settings: Settings, *, allow_private: bool = True
) -> RecordResult:
    """Fetch one page and ingest it; a page that cannot be fetched or read is skipped."""
    from rag.ingest.fetch import fetch_article

    try:
        article = fetch_article(url, settings, allow_private=allow_private)
        outcome, written = ingest_article(article, store, embedder, settings)
    except InvalidInput as exc:
        return RecordResult(url, "skipped", reason=str(exc).removeprefix(f"{url}: "))
    return RecordResult(url, outcome, article.doc_id, article.title, written)


def ingest_urls(
    urls: Sequence[str], store: Store, embedder: Embedder, settings: Settings
) -> IngestReport:
    """Fetch and ingest pages by URL; a page that cannot be fetched or read is skipped."""
    report = IngestReport()
    for url in dict.fromkeys(urls):
        report.add("url", ingest_url(url, store, embedder, settings))
    if urls and not (report.created or report.updated or report.unchanged):
        raise InvalidInput(
            "no URL could be ingested: "
            + "; ".join(f"{name}: {why}" for name, why in report.skipped)
        )
    return report
