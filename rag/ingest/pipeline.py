"""Ingest articles: read, clean, chunk, embed and store, idempotently.

An unchanged document (same cleaned-text hash) costs one catalogue lookup and no
embedding. Bad files are reported by name and skipped; the others still go in.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Literal, TypeVar

from rag.config import Settings
from rag.errors import InvalidInput, TooLarge
from rag.index.embed import Embedder
from rag.index.store import Store
from rag.ingest.chunking import split_article
from rag.ingest.documents import find_article_files
from rag.ingest.formats import SUFFIXES, ReadOptions, read_file
from rag.nlp import annotate
from rag.schema import Article

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
    folder or through the API, passes here: an article over `RAG_MAX_ARTICLE_CHARS` is
    refused (`TooLarge`) first.
    """
    check_length(article, settings)
    if _unchanged(article, store):
        return "unchanged", 0
    chunks = split_article(article, settings.chunk_size, settings.chunk_overlap)
    vectors = embedder.embed_documents([c.text for c in chunks])
    annotation = annotate(article.text)
    with store.writing():
        existing = store.get_document(article.doc_id)
        if existing is not None and existing.version == article.version:
            return "unchanged", 0  # another writer stored the same version meanwhile
        store.write_document(article, chunks, vectors, annotation)
    return ("created" if existing is None else "updated"), len(chunks)


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


def ingest_file(
    path: Path,
    store: Store,
    embedder: Embedder,
    settings: Settings,
    *,
    name: str | None = None,
    options: ReadOptions | None = None,
    seen: dict[str, str] | None = None,
    outlet: str | None = None,
    published: date | None = None,
) -> list[RecordResult]:
    """Ingest the articles of one file (read by the reader of its suffix), one result each.

    `name` is how reports call the file (default: its name); `seen` maps the doc ids
    already ingested in this run to where they were read, so a repeated id is skipped.
    A file that cannot be read at all is one skipped result. `outlet` and `published`,
    when given, replace what was read from the file for each of its articles.
    """
    name = name or path.name
    seen = {} if seen is None else seen
    try:
        records = read_file(path, options or ReadOptions())
    except InvalidInput as exc:  # unreadable, binary, no text layer, unsupported...
        seen.setdefault(path.stem, name)  # its stored version stays
        return [RecordResult(name, "skipped", reason=str(exc), unread=True)]
    results = []
    for record in records:
        where = name if record.line is None else f"{name}:{record.line}"
        article = record.article
        if article is None:
            reason = record.problem or "unreadable record"
            results.append(RecordResult(where, "skipped", reason=reason, unread=True))
            continue
        if outlet or published:
            article = replace(
                article,
                outlet=outlet or article.outlet,
                published=published or article.published,
            )
        skipped = RecordResult(where, "skipped", article.doc_id, article.title)
        if article.doc_id in seen:
            skipped.reason = f"same id as {seen[article.doc_id]}; rename one"
            results.append(skipped)
            continue
        seen[article.doc_id] = where
        try:
            outcome, written = ingest_article(article, store, embedder, settings)
        except InvalidInput as exc:  # `TooLarge`
            skipped.reason = str(exc)
            results.append(skipped)
            continue
        results.append(RecordResult(where, outcome, article.doc_id, article.title, written))
    return results


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
    options = options or ReadOptions()
    seen: dict[str, str] = {}  # doc_id -> where it was read
    partly_read: set[str] = set()  # source names of files with something skipped
    for path in track(files, "Ingesting"):
        name = str(path.relative_to(folder))
        kind = path.suffix.lower().lstrip(".")
        for result in ingest_file(
            path, store, embedder, settings, name=name, options=options, seen=seen
        ):
            report.note(kind, result.outcome)
            if result.outcome == "skipped":
                report.skipped.append((result.name, result.reason or "skipped"))
                if result.unread:
                    partly_read.add(path.name)
                continue
            getattr(report, result.outcome).append(result.doc_id)
            report.chunks_written += result.chunks_written
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
        result = ingest_url(url, store, embedder, settings)
        report.note("url", result.outcome)
        if result.outcome == "skipped":
            report.skipped.append((url, result.reason or ""))
            continue
        getattr(report, result.outcome).append(result.doc_id)
        report.chunks_written += result.chunks_written
    if urls and not (report.created or report.updated or report.unchanged):
        raise InvalidInput(
            "no URL could be ingested: "
            + "; ".join(f"{name}: {why}" for name, why in report.skipped)
        )
    return report
