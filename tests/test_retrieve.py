"""Hybrid retrieval on the real seeded index: fusion, filters, BM25 caching."""

import shutil
from datetime import date
from pathlib import Path

import pytest

from rag.config import load_settings
from rag.errors import InvalidInput
from rag.index import lexical
from rag.index.retrieve import Filters
from rag.index.store import Store
from rag.service import RagService


def test_relevant_article_comes_first(seeded_service: RagService) -> None:
    passages = seeded_service.retrieve("How long will the state of emergency in Tacna last?")
    assert len(passages) == 5
    assert passages[0].doc_id in {"003_35ea49adf01880a5", "004_9dd10a7479862716"}
    assert any("60 days" in p.text for p in passages[:3])
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    top = passages[0]
    assert top.dense_rank is not None and top.bm25_rank is not None  # both retrievers agree


def test_passage_spans_point_into_the_stored_article(seeded_service: RagService) -> None:
    for p in seeded_service.retrieve("Venezuelan migrants in Tumbes", top_k=8):
        text = seeded_service.store.get_text(p.doc_id)
        assert text[p.char_start : p.char_end] == p.text


def test_doc_id_filter(seeded_service: RagService) -> None:
    only = "001_ba898127077dd38f"
    passages = seeded_service.retrieve("state of emergency", filters=Filters(doc_ids=(only,)))
    assert passages and {p.doc_id for p in passages} == {only}


def test_date_filters(seeded_service: RagService) -> None:
    since_2025 = Filters(published_from=date(2025, 1, 1))
    passages = seeded_service.retrieve("border closure", top_k=10, filters=since_2025)
    assert passages and {p.doc_id for p in passages} == {"004_9dd10a7479862716"}
    before_2022 = Filters(published_to=date(2021, 12, 31))
    passages = seeded_service.retrieve("border closure", top_k=10, filters=before_2022)
    assert {p.doc_id for p in passages} == {"000_24eb7c9a55d07d77"}
    nothing = Filters(published_from=date(2030, 1, 1))
    assert seeded_service.retrieve("border", filters=nothing) == []


def test_bad_filters_and_top_k(seeded_service: RagService) -> None:
    with pytest.raises(InvalidInput):
        Filters(published_from=date(2025, 1, 2), published_to=date(2025, 1, 1))
    with pytest.raises(InvalidInput):
        seeded_service.retrieve("border", top_k=0)


def test_bm25_index_is_built_once_per_index_version(seeded_service: RagService) -> None:
    retriever = seeded_service.retriever
    seeded_service.retrieve("Tacna")
    built = retriever._index
    seeded_service.retrieve("Arica")
    assert retriever._index is built


def test_filters_as_a_chroma_where_clause() -> None:
    assert Filters().where() is None
    assert Filters(doc_ids=("a",)).where() == {"doc_id": {"$in": ["a"]}}
    both = Filters(published_from=date(2024, 1, 2), published_to=date(2025, 3, 4))
    assert both.where() == {
        "$and": [{"published_ord": {"$gte": 20240102}}, {"published_ord": {"$lte": 20250304}}]
    }


def test_lexical_search_takes_only_the_top_candidates_with_the_filters_inside(
    seeded_service: RagService, monkeypatch: pytest.MonkeyPatch
) -> None:
    retriever = seeded_service.retriever
    index = retriever.refresh()
    assert index.bm25 is not None
    bm25 = index.bm25
    calls: list[dict[str, object]] = []
    original = bm25.retrieve

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(bm25, "retrieve", spy)
    doc = seeded_service.documents()[0].doc_id
    hits = retriever._lexical(index, "state of emergency border", Filters(doc_ids=(doc,)))
    assert hits and {index.node(row).ref_doc_id for row, _ in hits} == {doc}
    (call,) = calls
    assert call["k"] == min(retriever.candidates, len(retriever.nodes()))
    mask = call["weight_mask"]
    assert mask is not None and int(mask.sum()) == sum(  # type: ignore[attr-defined]
        n.ref_doc_id == doc for n in retriever.nodes()
    )
    undated = Filters(published_from=date(1900, 1, 1))  # a date range leaves out undated
    dated = {d.doc_id for d in seeded_service.documents() if d.published}
    hits = retriever._lexical(index, "border", undated)
    assert {index.node(row).ref_doc_id for row, _ in hits} <= dated


# -- the persistent lexical index (rag.index.lexical) ---------------------------------


def _count_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    built: list[str] = []
    original = lexical.build

    def counting(store: Store, version: str) -> Path:
        built.append(version)
        return original(store, version)

    monkeypatch.setattr(lexical, "build", counting)
    return built


def test_the_lexical_index_is_saved_and_reloaded_without_rebuilding(
    seeded_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(data_dir=seeded_copy)
    first = RagService(settings)
    expected = first.retrieve("How long will the state of emergency in Tacna last?", top_k=8)
    built = _count_builds(monkeypatch)
    second = RagService(settings)  # another process or worker, same index version
    again = second.retrieve("How long will the state of emergency in Tacna last?", top_k=8)
    assert built == []
    assert again == expected
    folders = [p.name for p in (seeded_copy / "lexical").iterdir()]
    assert folders == [lexical.key_of(second.store, second.store.version())]
    assert second.retriever.refresh().bm25 is not None


def test_lexical_retrieval_matches_llama_index_bm25(seeded_service: RagService) -> None:
    from llama_index.retrievers.bm25 import BM25Retriever

    nodes = seeded_service.store.live_nodes()
    reference = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=10)
    index = seeded_service.retriever.refresh()
    assert [n.node_id for n in seeded_service.retriever.nodes()] == [n.node_id for n in nodes]
    for query in ("state of emergency in Tacna", "Venezuelan migrants border", "governor"):
        expected = [(h.node.node_id, round(float(h.score or 0), 5))
                    for h in reference.retrieve(query)]  # fmt: skip
        got = seeded_service.retriever._lexical(index, query, Filters())[:10]
        assert [(index.node(r).node_id, round(s, 5)) for r, s in got] == expected[: len(got)]


def test_a_write_makes_other_services_reload_the_saved_index(
    seeded_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(data_dir=seeded_copy)
    writer, reader = RagService(settings), RagService(settings)
    reader.retrieve("border")
    before = reader.retriever._index
    built = _count_builds(monkeypatch)
    writer.add_text("Zanzibar cloves harvest doubled this spring, the ministry said.",
                    doc_id="cloves", title="Cloves")  # fmt: skip
    assert len(built) == 1  # in the writing service, once
    passages = reader.retrieve("Zanzibar cloves harvest")
    assert reader.retriever._index is not before
    assert len(built) == 1  # the reader loaded what the writer saved
    assert passages[0].doc_id == "cloves"
    writer.delete_document("cloves")
    assert len(built) == 2
    assert all(p.doc_id != "cloves" for p in reader.retrieve("Zanzibar cloves harvest"))
    assert len(built) == 2


@pytest.mark.parametrize("damage", ["missing", "corrupt", "leftover"])
def test_a_missing_or_damaged_lexical_index_is_rebuilt(
    seeded_copy: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    settings = load_settings(data_dir=seeded_copy)
    expected = RagService(settings).retrieve("Venezuelan migrants in Tumbes")
    (folder,) = (seeded_copy / "lexical").iterdir()
    if damage == "missing":
        shutil.rmtree(folder)
    elif damage == "corrupt":
        (folder / "offsets.npy").write_bytes(b"not numpy")
    else:  # a crash mid-build: a temporary folder, and no folder for the version
        folder.rename(folder.with_name(".tmp-crashed"))
    built = _count_builds(monkeypatch)
    assert RagService(settings).retrieve("Venezuelan migrants in Tumbes") == expected
    assert len(built) == 1
    assert [p.name for p in (seeded_copy / "lexical").iterdir()] == [folder.name]
