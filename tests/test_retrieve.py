"""Hybrid retrieval on the real seeded index: fusion, filters, BM25 caching."""

from datetime import date

import pytest

from rag.errors import InvalidInput
from rag.index.retrieve import Filters
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
    built = retriever._bm25
    seeded_service.retrieve("Arica")
    assert retriever._bm25 is built


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
    retriever.nodes()  # built
    assert retriever._bm25 is not None
    bm25 = retriever._bm25.bm25
    calls: list[dict[str, object]] = []
    original = bm25.retrieve

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(bm25, "retrieve", spy)
    doc = seeded_service.documents()[0].doc_id
    hits = retriever._lexical("state of emergency border", Filters(doc_ids=(doc,)))
    assert hits and {h.node.ref_doc_id for h in hits} == {doc}
    (call,) = calls
    assert call["k"] == min(retriever.candidates, len(retriever.nodes()))
    mask = call["weight_mask"]
    assert mask is not None and int(mask.sum()) == sum(  # type: ignore[attr-defined]
        n.ref_doc_id == doc for n in retriever.nodes()
    )
    undated = Filters(published_from=date(1900, 1, 1))  # a date range leaves out undated
    dated = {d.doc_id for d in seeded_service.documents() if d.published}
    assert {h.node.ref_doc_id for h in retriever._lexical("border", undated)} <= dated
