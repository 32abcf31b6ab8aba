"""Idempotent ingestion into a real Chroma database (fake embedder: fast, exact)."""

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from conftest import SEEDS
from fakes import FakeEmbedder

from rag.config import Settings
from rag.errors import InvalidInput, NotFound, TooLarge
from rag.index.store import Store
from rag.ingest.documents import load_article
from rag.ingest.pipeline import check_length
from rag.nlp import annotate
from rag.schema import Article
from rag.service import RagService


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    shutil.copytree(SEEDS, folder)
    return folder


@pytest.fixture
def service(make_settings: Callable[..., Settings]) -> RagService:
    return RagService(make_settings(embedder="fake"), embedder=FakeEmbedder())


def chunk_ids(service: RagService) -> set[str]:
    return set(service.store.chunks.get()["ids"])


def test_reingest_is_a_no_op(service: RagService, corpus: Path) -> None:
    first = service.ingest_folder(corpus)
    assert first.counts()["created"] == 5
    ids = chunk_ids(service)
    assert len(ids) == first.chunks_written == sum(d.chunk_count for d in service.documents())
    embedder = service.embedder
    assert isinstance(embedder, FakeEmbedder)
    calls = len(embedder.calls)
    second = service.ingest_folder(corpus)
    assert second.counts() == {
        "created": 0, "updated": 0, "unchanged": 5, "removed": 0, "skipped": 0
    }  # fmt: skip
    assert chunk_ids(service) == ids
    assert len(embedder.calls) == calls  # nothing re-embedded


def test_changed_file_replaces_all_its_chunks(service: RagService, corpus: Path) -> None:
    service.ingest_folder(corpus)
    path = next(corpus.glob("001_*.txt"))
    old = {i for i in chunk_ids(service) if i.startswith(path.stem)}
    path.write_text(path.read_text() + "\nA new closing sentence about Tacna.\n")
    report = service.ingest_folder(corpus)
    assert report.updated == [path.stem] and len(report.unchanged) == 4
    new = {i for i in chunk_ids(service) if i.startswith(path.stem)}
    assert new and not (new & old)
    info = service.store.get_document(path.stem)
    assert info is not None and info.chunk_count == len(new)
    assert "A new closing sentence" in service.store.get_text(path.stem)


def test_prune_removes_documents_whose_file_is_gone(service: RagService, corpus: Path) -> None:
    service.ingest_folder(corpus)
    gone = next(corpus.glob("002_*.txt"))
    gone.unlink()
    kept = service.ingest_folder(corpus)
    assert kept.removed == [] and len(service.documents()) == 5
    pruned = service.ingest_folder(corpus, prune=True)
    assert pruned.removed == [gone.stem]
    assert gone.stem not in {d.doc_id for d in service.documents()}
    assert not [i for i in chunk_ids(service) if i.startswith(gone.stem)]


def test_bad_files_are_skipped_by_name_and_others_ingested(
    service: RagService, corpus: Path
) -> None:
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02 not text")
    (corpus / "latin1.md").write_bytes("Informe de Per\xfa".encode("latin-1"))
    report = service.ingest_folder(corpus)
    assert len(report.created) == 5
    skipped = dict(report.skipped)
    assert set(skipped) == {"binary.txt", "latin1.md"}
    assert "binary" in skipped["binary.txt"] and "UTF-8" in skipped["latin1.md"]


def test_unreadable_file_does_not_lose_its_stored_version(
    service: RagService, corpus: Path
) -> None:
    service.ingest_folder(corpus)
    path = next(corpus.glob("003_*.txt"))
    before = service.store.get_text(path.stem)
    path.write_bytes(b"\xff\xfe garbage \x00")
    report = service.ingest_folder(corpus, prune=True)
    assert [name for name, _ in report.skipped] == [path.name]
    assert report.removed == []
    assert service.store.get_text(path.stem) == before


def test_empty_or_missing_folder_is_an_error(service: RagService, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"no \.txt or \.md"):
        service.ingest_folder(tmp_path)
    with pytest.raises(InvalidInput, match="not found"):
        service.ingest_folder(tmp_path / "nope")


def test_interrupted_write_is_repaired(
    service: RagService, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.ingest_folder(corpus)
    path = next(corpus.glob("004_*.txt"))
    live_before = {n.node_id for n in service.retriever.nodes()}
    path.write_text(path.read_text().replace("700%", "800%"))

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the process dies after the chunks, before the catalogue

    monkeypatch.setattr(service.store.catalogue, "upsert", crash)
    with pytest.raises(KeyboardInterrupt):
        service.ingest_folder(corpus)
    monkeypatch.undo()
    # The half-written chunks exist but are never served.
    assert len(chunk_ids(service)) > len(live_before)
    assert {n.node_id for n in service.retriever.nodes()} == live_before
    report = service.ingest_folder(corpus)
    assert report.updated == [path.stem]
    assert "800%" in service.store.get_text(path.stem)
    assert len(chunk_ids(service)) == sum(d.chunk_count for d in service.documents())


def test_articles_are_embedded_in_batches_across_files_each_chunk_keeping_its_vector(
    make_settings: Callable[..., Settings], corpus: Path
) -> None:
    embedder = FakeEmbedder()
    service = RagService(make_settings(embedder="fake", ingest_batch_chunks=12), embedder=embedder)
    report = service.ingest_folder(corpus)
    counts = sorted(d.chunk_count for d in service.documents())
    assert len(report.created) == 5 and sum(embedder.calls) == sum(counts)
    # fewer embedder calls than articles: a batch takes chunks of several files, and
    # closes once it holds 12 chunks or more
    assert len(embedder.calls) < 5 and max(embedder.calls) >= 12
    got = service.store.chunks.get(include=["embeddings", "documents"])
    for vector, text in zip(got["embeddings"], got["documents"], strict=True):
        assert list(vector) == pytest.approx(FakeEmbedder().embed_query(text))
    stored = service.store.get_annotations([d.doc_id for d in service.documents()])
    assert len(stored) == 5
    for doc_id, (sha, annotation) in stored.items():
        text = service.store.get_text(doc_id)
        assert annotation == annotate(text) and sha == service.store.get_document(doc_id).sha256


def test_a_crash_mid_run_keeps_the_batches_written_before_it(
    make_settings: Callable[..., Settings], corpus: Path
) -> None:
    class Crashing(FakeEmbedder):
        def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
            if self.calls:
                raise KeyboardInterrupt  # the process dies during the second batch
            return super().embed_documents(texts)

    settings = make_settings(embedder="fake", ingest_batch_chunks=1)  # one article a batch
    with pytest.raises(KeyboardInterrupt):
        RagService(settings, embedder=Crashing()).ingest_folder(corpus)
    embedder = FakeEmbedder()
    service = RagService(settings, embedder=embedder)
    assert len(service.documents()) == 1  # the first batch is stored, and whole
    report = service.ingest_folder(corpus)
    assert len(report.unchanged) == 1 and len(report.created) == 4
    written = {d.doc_id: d.chunk_count for d in service.documents()}
    assert sum(embedder.calls) == sum(written.values()) - written[report.unchanged[0]]
    assert len(chunk_ids(service)) == sum(written.values())


def test_a_write_that_dies_before_its_version_bump_is_found_without_a_scan(
    service: RagService, corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.ingest_folder(corpus)
    path = next(corpus.glob("004_*.txt"))
    path.write_text(path.read_text().replace("700%", "800%"))

    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # after the catalogue and the old chunks' delete

    monkeypatch.setattr(Store, "_bump_version", crash)
    with pytest.raises(KeyboardInterrupt):
        service.ingest_folder(corpus)
    monkeypatch.undo()
    store = service.store
    assert store.lexical.doc_versions()[path.stem] != store.get_document(path.stem).version
    scans: list[object] = []
    real_get = store.chunks.get
    monkeypatch.setattr(store.chunks, "get", lambda *a, **k: scans.append(k) or real_get(*a, **k))
    report = service.ingest_folder(corpus)  # repairs what the dead write recorded, only
    assert report.unchanged and path.stem in report.unchanged
    assert all(k.get("where") for k in scans)  # no read of every chunk
    assert store.lexical.doc_versions()[path.stem] == store.get_document(path.stem).version
    assert any("800%" in p.text for p in service.retrieve("800%"))


def test_add_and_delete_one_article(service: RagService) -> None:
    article = load_article(next(SEEDS.glob("000_*.txt")))
    assert service.add_article(article)[0] == "created"
    assert service.add_article(article) == ("unchanged", 0)
    service.delete_document(article.doc_id)
    assert service.documents() == []
    assert chunk_ids(service) == set()
    with pytest.raises(NotFound):
        service.delete_document(article.doc_id)
    with pytest.raises(NotFound):
        service.store.get_text(article.doc_id)


def test_index_version_is_a_counter_bumped_by_writes_only(
    service: RagService, monkeypatch: pytest.MonkeyPatch
) -> None:
    article = load_article(next(SEEDS.glob("000_*.txt")))
    store = service.store
    seen = [store.version()]
    service.add_article(article)
    seen.append(store.version())
    service.add_article(article)  # unchanged: no write
    seen.append(store.version())
    service.delete_document(article.doc_id)
    seen.append(store.version())
    assert seen[0] != seen[1] == seen[2] != seen[3]

    # Reading it never lists the catalogue, whatever the corpus size.
    def no_scan(*args: object, **kwargs: object) -> None:
        raise AssertionError("version() scanned the catalogue")

    monkeypatch.setattr(store.catalogue, "get", no_scan)
    monkeypatch.setattr(store.chunks, "get", no_scan)
    assert store.version() == seen[3]


def test_switching_embedder_on_an_existing_collection_is_refused(
    make_settings: Callable[..., Settings], corpus: Path
) -> None:
    from rag.errors import ConfigError
    from rag.index.store import Store

    RagService(make_settings(embedder="fake"), embedder=FakeEmbedder()).ingest_folder(corpus)
    with pytest.raises(ConfigError, match="RAG_COLLECTION"):
        Store(make_settings(), "openai:text-embedding-3-small")


def test_article_length_limit_is_inclusive_and_named(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(max_article_chars=1000)
    check_length(Article("ok", "x" * 1000, "ok"), settings)
    with pytest.raises(TooLarge) as refused:
        check_length(Article("big", "x" * 1001, "big"), settings)
    assert isinstance(refused.value, InvalidInput) and refused.value.code == "too_large"
    assert str(refused.value).startswith("big: ") and "1,001" in str(refused.value)
    assert "1,000 (RAG_MAX_ARTICLE_CHARS)" in str(refused.value)


def test_too_long_file_is_skipped_by_name_before_any_work(
    make_settings: Callable[..., Settings], corpus: Path
) -> None:
    longest = max(len(load_article(p).text) for p in corpus.glob("*.txt"))
    settings = make_settings(max_article_chars=longest, embedder="fake")
    embedder = FakeEmbedder()
    service = RagService(settings, embedder=embedder)
    (corpus / "sub").mkdir()
    (corpus / "sub" / "big.txt").write_text("A long story. " * (longest // 14 + 1))
    report = service.ingest_folder(corpus)
    assert report.counts()["created"] == 5 and len(report.skipped) == 1
    name, reason = report.skipped[0]
    assert name == "sub/big.txt" and "RAG_MAX_ARTICLE_CHARS" in reason
    assert "big" not in {d.doc_id for d in service.documents()}
    # the long one was never chunked or embedded: only the five others' chunks were
    assert sum(embedder.calls) == sum(d.chunk_count for d in service.documents())
    with pytest.raises(TooLarge):  # one article, as the API adds it
        service.add_article(load_article(corpus / "sub" / "big.txt"))


def test_a_changed_url_is_a_new_version_and_an_old_record_keeps_its_own(
    service: RagService,
) -> None:
    from dataclasses import replace

    article = load_article(next(SEEDS.glob("000_*.txt")))
    assert article.url is None
    service.add_article(article)
    stored = service.store.get_document(article.doc_id)
    assert stored is not None and stored.version == article.version  # no URL: as before
    moved = replace(article, url="https://news.example.org/a")
    assert service.add_article(moved)[0] == "updated"
    assert service.add_article(moved) == ("unchanged", 0)
    info = service.store.get_document(article.doc_id)
    assert info is not None and info.url == "https://news.example.org/a"
    assert service.add_article(article)[0] == "updated"  # the URL removed again
    info = service.store.get_document(article.doc_id)
    assert info is not None and info.url is None
