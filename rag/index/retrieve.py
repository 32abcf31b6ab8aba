"""Hybrid retrieval: dense search in Chroma plus BM25, fused by reciprocal rank.

BM25 runs over the persistent lexical index (`rag.index.lexical`): every live chunk of
one store version, saved next to the Chroma data and opened memory-mapped, so a process
neither reads the chunks from Chroma nor rebuilds BM25 unless the version has no saved
index yet. Dense search asks Chroma only for the ids of the nearest chunks (filters
become its `where` clause) and takes the chunks from that same index: llama-index's
vector retriever would have Chroma read and send each candidate's text and metadata for
every question, which with a Chroma server (`rag serve --workers N`) was a fifth of the
CPU time of a question. A question reads only the chunks it returns (binary search for
an id, one slice of the memory-mapped file per chunk). Fusion is written here rather
than taken from `QueryFusionRetriever` because it must also drop chunks the index does
not hold (stale or not yet seen), apply the filters inside BM25 (that retriever only
takes filters when it is built) and keep each retriever's rank for diagnostics.
"""

import threading
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from llama_index.core.schema import BaseNode

from rag.errors import InvalidInput
from rag.index.embed import Embedder
from rag.index.lexical import LexicalIndex, open_index, tokenize
from rag.index.store import Store
from rag.schema import Passage

RRF_K = 60  # the constant of Cormack et al. (2009); damps the weight of top ranks


@dataclass(frozen=True)
class Filters:
    """Optional restrictions on which chunks may be retrieved."""

    doc_ids: tuple[str, ...] | None = None
    published_from: date | None = None
    published_to: date | None = None
    # Outlet names as stored (exact); the service turns them into `doc_ids` before search.
    outlets: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.published_from and self.published_to and self.published_from > self.published_to:
            raise InvalidInput("published_from is after published_to")

    @property
    def empty(self) -> bool:
        return not (self.doc_ids or self.published_from or self.published_to or self.outlets)

    def describe(self) -> str:
        """The filters in words, for a refusal that says why nothing was found."""
        parts = []
        if self.doc_ids:
            parts.append("documents " + ", ".join(self.doc_ids))
        if self.outlets:
            parts.append("outlets " + ", ".join(self.outlets))
        if self.published_from or self.published_to:
            start = self.published_from.isoformat() if self.published_from else "any date"
            end = self.published_to.isoformat() if self.published_to else "any date"
            parts.append(
                f"published from {start} to {end} (a date range leaves out undated articles)"
            )
        return "; ".join(parts)

    def where(self) -> dict[str, Any] | None:
        """The same filters as a Chroma `where` clause (None when there are none)."""
        parts: list[dict[str, Any]] = []
        if self.doc_ids:
            parts.append({"doc_id": {"$in": list(self.doc_ids)}})
        if self.published_from:
            parts.append({"published_ord": {"$gte": _ord(self.published_from)}})
        if self.published_to:
            parts.append({"published_ord": {"$lte": _ord(self.published_to)}})
        if len(parts) > 1:
            return {"$and": parts}
        return parts[0] if parts else None

    def mask(self, doc_ids: "np.ndarray", published: "np.ndarray") -> "np.ndarray | None":
        """1.0 for the chunks that pass, 0.0 for the others (None: no filters), computed
        with numpy over per-chunk arrays: the doc ids and `published_ord` (0 if undated)."""
        if self.empty:
            return None
        keep = np.ones(len(doc_ids), dtype=bool)
        if self.doc_ids:
            wanted: list[Any] = list(self.doc_ids)
            if doc_ids.dtype.kind == "S":  # the lexical index keeps ids as utf-8 bytes
                wanted = [d.encode("utf-8") for d in wanted]
            keep &= np.isin(doc_ids, wanted)
        if self.published_from:
            keep &= published >= _ord(self.published_from)
        if self.published_to:
            keep &= (published > 0) & (published <= _ord(self.published_to))
        return keep.astype(np.float32)

    def accepts(self, node: BaseNode) -> bool:
        """Whether a node passes the filters."""
        if self.doc_ids and node.ref_doc_id not in self.doc_ids:
            return False
        value = node.metadata.get("published_ord")
        if self.published_from and (value is None or value < _ord(self.published_from)):
            return False
        return not (self.published_to and (value is None or value > _ord(self.published_to)))


def _ord(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def to_passage(node: BaseNode, score: float) -> Passage:
    """A llama-index node as the service's neutral `Passage`."""
    meta = node.metadata
    published = meta.get("published")
    return Passage(
        chunk_id=node.node_id,
        doc_id=node.ref_doc_id or "",
        text=node.get_content(),
        char_start=int(meta["char_start"]),
        char_end=int(meta["char_end"]),
        title=str(meta.get("title", "")),
        published=date.fromisoformat(published) if published else None,
        outlet=meta.get("outlet") or None,
        url=meta.get("url") or None,
        author=meta.get("author") or None,
        score=score,
        doc_sha=str(meta.get("text_sha") or meta.get("doc_sha", "")),
        page=int(meta["page"]) if meta.get("page") is not None else None,
        page_breaks=_offsets(meta.get("page_breaks")),
    )


def _offsets(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in value.split(",")) if isinstance(value, str) and value else ()


class HybridRetriever:
    """Dense + BM25 retrieval with reciprocal-rank fusion over one `Store`."""

    def __init__(self, store: Store, embedder: Embedder, candidates: int = 20) -> None:
        self.store = store
        self.embedder = embedder
        self.candidates = candidates
        self._lock = threading.Lock()
        self._version: str | None = None
        self._index: LexicalIndex | None = None

    def refresh(self) -> LexicalIndex:
        """The lexical index of the store's version: the saved one, memory-mapped, when
        there is one (`rag.index.lexical`); built and saved otherwise."""
        version = self.store.version()
        index = self._index
        if index is not None and version == self._version:
            return index
        with self._lock:
            if self._index is None or version != self._version:
                self._index = open_index(self.store)
                self._version = self._index.version
            return self._index

    _refresh = refresh

    def nodes(self) -> list[BaseNode]:
        """Every live chunk, in document order (reads them all: not for questions)."""
        index = self.refresh()
        return [index.node(i) for i in range(len(index))]

    def document_nodes(self, doc_id: str) -> list[BaseNode]:
        """The live chunks of one document, in order."""
        index = self.refresh()
        return [index.node(i) for i in index.rows_of(doc_id)]

    def retrieve(self, query: str, top_k: int = 5, filters: Filters | None = None) -> list[Passage]:
        """The `top_k` best passages for a query, best first."""
        index = self.refresh()
        filters = filters or Filters()
        if index.bm25 is None:
            return []
        nearest = self.store.nearest(self.embedder.embed_query(query), self.candidates,
                                     filters.where())  # fmt: skip
        # An id missing here is a chunk of an older (or newer, not yet seen) version.
        rows = [index.row(i) for i in nearest]
        dense = [(r, 0.0) for r in rows if r is not None]
        sparse = self._lexical(index, query, filters)
        return self._fuse(index, dense, sparse)[:top_k]

    def _lexical(
        self, index: LexicalIndex, query: str, filters: Filters
    ) -> list[tuple[int, float]]:
        """The best `candidates` rows by BM25 with their scores, filters applied inside.

        bm25s is called directly (llama-index's retriever takes neither a per-query `k`
        nor a per-query mask): it scores the chunks sharing a query term and keeps the
        top `k` with a partial sort, so the cost follows the query's terms, not the
        number of chunks; excluded chunks are masked to score 0.
        """
        assert index.bm25 is not None
        tokens = tokenize(query)
        if not tokens.vocab:
            return []
        k = min(self.candidates, len(index))
        mask = filters.mask(index.doc_ids, index.published)
        indexes, scores = index.bm25.retrieve(tokens, k=k, weight_mask=mask,
                                              show_progress=False)  # fmt: skip
        return [
            (int(i), float(score))
            for i, score in zip(indexes[0], scores[0], strict=True)
            if score > 0
        ]

    def _fuse(
        self,
        index: LexicalIndex,
        dense: list[tuple[int, float]],
        sparse: list[tuple[int, float]],
    ) -> list[Passage]:
        # Every row is a live chunk of the index's version: it was built from those only.
        fused: dict[int, Passage] = {}
        for name, hits in (("dense", dense), ("bm25", sparse)):
            for rank, (row, _score) in enumerate(hits, 1):
                passage = fused.get(row)
                if passage is None:
                    passage = fused[row] = to_passage(index.node(row), 0.0)
                passage.score += 1.0 / (RRF_K + rank)
                if name == "dense":
                    passage.dense_rank = rank
                else:
                    passage.bm25_rank = rank
        return sorted(fused.values(), key=lambda p: p.score, reverse=True)
