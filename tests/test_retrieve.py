"""Hybrid retrieval on the real seeded index: fusion, filters, BM25 caching."""

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

from rag.config import load_settings
from rag.errors import InvalidInput
from rag.index.lexical import LexicalIndex
from rag.index.retrieve import DENSE_SHARE, Filters, _fuse
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


def test_fusion_keeps_how_far_ahead_a_hit_is() -> None:
    # "d" alone holds the question's rare name: BM25 puts it far ahead, the dense search
    # does not see it. Reciprocal ranks would put "a" and "b" (both searches, middling)
    # first; relative scores keep "d" on top.
    dense = [("x", 0.30), ("a", 0.40), ("b", 0.45), ("y", 0.50)]
    lexical = {"d": 20.0, "a": 6.0, "b": 5.0, "z": 4.0, "never": 0.0}
    fused = _fuse(dense, lexical)
    assert [f[0] for f in fused][:2] == ["d", "x"]
    assert "never" not in [f[0] for f in fused]  # no query word: no lexical evidence
    top = dict((i, (score, d, s)) for i, score, d, s in fused)
    assert top["d"] == (pytest.approx(1 - DENSE_SHARE), None, 1)
    assert top["x"] == (pytest.approx(DENSE_SHARE), 1, None)
    assert top["a"][1:] == (2, 2)
    assert [score for _, score, *_ in fused] == sorted((f[1] for f in fused), reverse=True)
    assert _fuse([("only", 0.2)], {})[0][1] == pytest.approx(DENSE_SHARE)
    assert _fuse([], {}) == []


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


def test_filters_as_a_chroma_where_clause() -> None:
    assert Filters().where() is None
    assert Filters(doc_ids=("a",)).where() == {"doc_id": {"$in": ["a"]}}
    both = Filters(published_from=date(2024, 1, 2), published_to=date(2025, 3, 4))
    assert both.where() == {
        "$and": [{"published_ord": {"$gte": 20240102}}, {"published_ord": {"$lte": 20250304}}]
    }


def test_lexical_search_takes_only_the_top_candidates_with_the_filters_inside(
    seeded_service: RagService,
) -> None:
    retriever = seeded_service.retriever
    lexical = seeded_service.store.lexical
    doc = seeded_service.documents()[0].doc_id
    hits = retriever._lexical("state of emergency border", Filters(doc_ids=(doc,)))
    assert hits and len(hits) <= retriever.candidates
    assert {n.ref_doc_id for n in lexical.nodes(list(hits)).values()} == {doc}
    assert all(score > 0 for score in hits.values())  # each rescored over every query word
    everything = retriever._lexical("border", Filters())
    assert len(everything) == retriever.candidates  # the top ones only
    undated = Filters(published_from=date(1900, 1, 1))  # a date range leaves out undated
    dated = {d.doc_id for d in seeded_service.documents() if d.published}
    hits = retriever._lexical("border", undated)
    assert hits and {n.ref_doc_id for n in lexical.nodes(list(hits)).values()} <= dated


# -- the lexical index (rag.index.lexical, SQLite FTS5) -------------------------------


def _node(chunk_id: str, doc_id: str, text: str, index: int = 0) -> TextNode:
    node = TextNode(id_=chunk_id, text=text, metadata={"chunk_index": index})
    node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=doc_id)
    return node


def test_lexical_index_known_answers(tmp_path: Path) -> None:
    index = LexicalIndex(tmp_path / "lexical.sqlite")
    assert index.empty() and index.search("anything", 5) == []
    index.put(
        "a",
        "v1",
        [
            _node("a0", "a", "The ferry to Taquile left at dawn."),
            _node("a1", "a", "Fishermen counted boats in the harbour.", 1),
        ],
    )
    index.put("b", "v1", [_node("b0", "b", "Harbour fees rise as boats crowd the harbour "
                                           "and the harbour master resigns.")])  # fmt: skip
    # The rare word finds its one chunk; stemming matches "boat" to "boats".
    assert [i for i, _ in index.search("Taquile", 5)] == ["a0"]
    assert {i for i, _ in index.search("boat", 5)} == {"a1", "b0"}
    # More occurrences of a term score higher (BM25), and only k come back.
    assert [i for i, _ in index.search("harbour", 1)] == ["b0"]
    assert index.search("the and of", 5) == []  # stop words only
    assert [i for i, _ in index.search("boats", 5, doc_ids=["a"])] == ["a1"]
    assert [n.node_id for n in index.document_nodes("a")] == ["a0", "a1"]
    # Replacing a document replaces its chunks; deleting removes them.
    index.put("a", "v2", [_node("a9", "a", "The Taquile ferry is cancelled.")])
    assert index.doc_versions() == {"a": "v2", "b": "v1"}
    assert [i for i, _ in index.search("Taquile", 5)] == ["a9"]
    assert set(index.nodes(["a0", "a9", "zz"])) == {"a9"}
    index.delete("a")
    assert index.search("Taquile", 5) == [] and index.doc_versions() == {"b": "v1"}


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the documents whose chunks are read from Chroma to (re)build lexical entries."""
    reads: list[int] = []
    original = Store._live_nodes

    def counting(self: Store, live: Any, doc_ids: Any = None) -> Any:
        reads.append(len(doc_ids) if doc_ids is not None else len(live))
        return original(self, live, doc_ids)

    monkeypatch.setattr(Store, "_live_nodes", counting)
    return reads


def test_the_lexical_index_is_reopened_without_rebuilding(
    seeded_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(data_dir=seeded_copy)
    first = RagService(settings)
    expected = first.retrieve("How long will the state of emergency in Tacna last?", top_k=8)
    reads = _count_reads(monkeypatch)
    second = RagService(settings)  # another process or worker, same index
    again = second.retrieve("How long will the state of emergency in Tacna last?", top_k=8)
    assert reads == []
    assert again == expected
    assert second.store.lexical.state() == second.store.state()


def test_a_write_updates_the_lexical_index_in_place_for_every_process(
    seeded_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(data_dir=seeded_copy)
    writer, reader = RagService(settings), RagService(settings)
    reader.retrieve("border")
    held = writer.store.lexical.doc_versions()
    reads = _count_reads(monkeypatch)
    writer.add_text("Zanzibar cloves harvest doubled this spring, the ministry said.",
                    doc_id="cloves", title="Cloves")  # fmt: skip
    passages = reader.retrieve("Zanzibar cloves harvest")
    assert passages[0].doc_id == "cloves"
    writer.delete_document("cloves")
    assert all(p.doc_id != "cloves" for p in reader.retrieve("Zanzibar cloves harvest"))
    assert reads == []  # nothing was read back from Chroma: only that document changed
    assert reader.store.lexical.doc_versions() == held


@pytest.mark.parametrize("damage", ["missing", "corrupt", "behind"])
def test_a_missing_damaged_or_lagging_lexical_index_is_repaired(
    seeded_copy: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    settings = load_settings(data_dir=seeded_copy)
    service = RagService(settings)
    expected = service.retrieve("Venezuelan migrants in Tumbes")
    path = service.store.lexical.path
    service.store.lexical.close()
    if damage == "missing":
        for leftover in seeded_copy.glob(path.name + "*"):
            leftover.unlink()
    elif damage == "corrupt":
        for leftover in seeded_copy.glob(path.name + "-*"):
            leftover.unlink()
        path.write_bytes(b"not a database" * 100)
    else:  # a crash after the Chroma write, before the lexical one

        def crash(*args: Any, **kwargs: Any) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(LexicalIndex, "put_many", crash)
        with pytest.raises(KeyboardInterrupt):
            service.add_text("Zanzibar cloves harvest doubled this spring.", doc_id="cloves")
        monkeypatch.undo()
    reads = _count_reads(monkeypatch)
    repaired = RagService(settings)
    got = repaired.retrieve("Venezuelan migrants in Tumbes")
    if damage == "behind":
        # The crash's document is a (far) dense candidate now: relative-score fusion
        # scales the scores by it, but the passages and their order are the same.
        assert [(p.doc_id, p.char_start, p.text) for p in got] == [
            (p.doc_id, p.char_start, p.text) for p in expected
        ]
    else:
        assert got == expected
    if damage == "behind":
        assert reads == [1]  # only the document the crash left out
        assert repaired.retrieve("Zanzibar cloves harvest")[0].doc_id == "cloves"
    else:
        assert sum(reads) == len(repaired.documents())
    assert repaired.store.lexical.state() == repaired.store.state()


def test_words_in_too_many_chunks_are_left_to_the_dense_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.index import lexical

    index = LexicalIndex(tmp_path / "lexical.sqlite")
    index.put("a", "v1", [_node("a0", "a", "Harbour boats."), _node("a1", "a", "Harbour ferry.", 1),
                          _node("a2", "a", "Harbour cranes.", 2)])  # fmt: skip
    monkeypatch.setattr(lexical, "MAX_POSTINGS", 2)
    # "harbour" is in 3 chunks: only "ferry" is searched, so the cost stays bounded.
    assert [i for i, _ in index.search("harbour ferry ferries", 5)] == ["a1"]
    # When every word is that frequent, the rarest one is still searched.
    assert {i for i, _ in index.search("harbour", 5)} == {"a0", "a1", "a2"}
    # Unless even the rarest is in more than 4 * MAX_POSTINGS chunks: dense search only.
    monkeypatch.setattr(lexical, "MAX_POSTINGS", 0)
    assert index.search("harbour", 5) == []
    monkeypatch.setattr(lexical, "MAX_POSTINGS", 2)
    # Counts kept by the process follow its own writes: "ferry" becomes frequent too.
    index.put("b", "v1", [_node("b0", "b", "Ferry."), _node("b1", "b", "Ferry.", 1)])
    assert {i for i, _ in index.search("harbour ferry", 5)} == {"a0", "a1", "a2"}


def test_candidates_are_rescored_over_every_query_word(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.index import lexical

    index = LexicalIndex(tmp_path / "lexical.sqlite")
    index.put("a", "v1", [_node("a0", "a", "Harbour boats."),
                          _node("a1", "a", "The harbour ferries sailed, ferry after ferry.", 1),
                          _node("a2", "a", "Harbour cranes and a ferry.", 2),
                          _node("a3", "a", "Cranes.", 3)])  # fmt: skip
    monkeypatch.setattr(lexical, "MAX_POSTINGS", 2)
    # The bounded search skips "harbour" (in 3 chunks); the rescoring of candidates
    # (say, the dense search's) counts it, as BM25 over the whole query would.
    scores = index.rescore("harbour ferry", ["a0", "a1", "a2", "a3", "gone"])
    assert set(scores) == {"a0", "a1", "a2", "a3"}  # an id the index lacks is left out
    assert scores["a1"] > scores["a2"] > scores["a0"] > 0 == scores["a3"]
    # The same order as SQLite's own bm25() over both words, without the bound.
    monkeypatch.setattr(lexical, "MAX_POSTINGS", 100)
    assert [i for i, _ in index.search("harbour ferry", 5)] == ["a1", "a2", "a0"]
    assert index.rescore("", ["a0"]) == {} and index.rescore("harbour", []) == {}
    index.put("b", "v1", [_node("b0", "b", "José Núñez sailed.")])
    assert (
        index.rescore("jose nunez", ["b0"])["b0"] == index.rescore("José Núñez", ["b0"])["b0"] > 0
    )


def test_a_replaced_lexical_file_is_reopened_by_every_reader(tmp_path: Path) -> None:
    path = tmp_path / "lexical.sqlite"
    first, second = LexicalIndex(path), LexicalIndex(path)  # as two processes
    first.put("a", "v1", [_node("a0", "a", "Taquile ferry.")])
    assert [i for i, _ in second.search("Taquile", 5)] == ["a0"]
    first.reset()  # found damaged: deleted, then rebuilt with what Chroma holds now
    first.put("b", "v1", [_node("b0", "b", "Taquile harbour.")])
    assert [i for i, _ in second.search("Taquile", 5)] == ["b0"]  # not the deleted file
