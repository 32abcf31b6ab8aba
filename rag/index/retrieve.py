"""Hybrid retrieval: dense search in Chroma plus BM25, fused by reciprocal rank.

BM25 is llama-index's `BM25Retriever` over every live chunk, built once per index
version and reused until a document changes. Dense search asks Chroma only for the ids
of the nearest chunks (filters become its `where` clause) and takes the chunks from
those same in-memory nodes: llama-index's vector retriever would have Chroma read and
send each candidate's text and metadata for every question, which with a Chroma server
(`rag serve --workers N`) was a fifth of the CPU time of a question. Fusion is written
here rather than taken from `QueryFusionRetriever` because it must also drop stale
chunks, apply the filters to BM25 results (that retriever only takes filters when it
is built) and keep each retriever's rank for diagnostics.
"""

import threading
from dataclasses import dataclass
from datetime import date
from typing import Any

import bm25s
import numpy as np
from llama_index.core.schema import BaseNode, NodeWithScore
from llama_index.retrievers.bm25 import BM25Retriever

from rag.errors import InvalidInput
from rag.index.embed import Embedder
from rag.index.store import Store
from rag.schema import Passage

RRF_K = 60  # the constant of Cormack et al. (2009); damps the weight of top ranks


@dataclass(frozen=True)
class Filters:
    """Optional restrictions on which chunks may be retrieved."""

    doc_ids: tuple[str, ...] | None = None
    published_from: date | None = None
    published_to: date | None = None

    def __post_init__(self) -> None:
        if self.published_from and self.published_to and self.published_from > self.published_to:
            raise InvalidInput("published_from is after published_to")

    @property
    def empty(self) -> bool:
        return not (self.doc_ids or self.published_from or self.published_to)

    def describe(self) -> str:
        """The filters in words, for a refusal that says why nothing was found."""
        parts = []
        if self.doc_ids:
            parts.append("documents " + ", ".join(self.doc_ids))
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
            keep &= np.isin(doc_ids, list(self.doc_ids))
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
        self._bm25: BM25Retriever | None = None
        self._nodes: list[BaseNode] = []
        self._doc_ids = np.array([], dtype=object)
        self._published = np.array([], dtype=np.int64)
        self._by_id: dict[str, BaseNode] = {}
        self._texts: list[str] = []
        self._live: dict[str, str] = {}

    def _refresh(self) -> None:
        """Rebuild BM25 and the live-hash table when the index version changed."""
        version = self.store.version()
        if version == self._version:
            return
        with self._lock:
            if version == self._version:
                return
            nodes: list[BaseNode] = list(self.store.live_nodes())
            self._bm25 = (
                BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=self.candidates)
                if nodes
                else None
            )
            self._nodes = nodes
            self._doc_ids = np.array([n.ref_doc_id or "" for n in nodes], dtype=object)
            self._published = np.array(
                [int(n.metadata.get("published_ord") or 0) for n in nodes], dtype=np.int64
            )
            self._by_id = {n.node_id: n for n in nodes}
            self._texts = [n.get_content() for n in nodes]
            self._live = self.store.live_hashes()
            self._version = version

    def nodes(self) -> list[BaseNode]:
        """Every live chunk, in document order."""
        self._refresh()
        return self._nodes

    def texts(self) -> list[str]:
        """The text of every live chunk; the same list object until the index changes."""
        self._refresh()
        return self._texts

    def retrieve(self, query: str, top_k: int = 5, filters: Filters | None = None) -> list[Passage]:
        """The `top_k` best passages for a query, best first."""
        self._refresh()
        filters = filters or Filters()
        if self._bm25 is None:
            return []
        by_id = self._by_id
        nearest = self.store.nearest(self.embedder.embed_query(query), self.candidates,
                                     filters.where())  # fmt: skip
        # An id missing here is a chunk of an older (or newer, not yet seen) version.
        dense = [NodeWithScore(node=by_id[i]) for i in nearest if i in by_id]
        sparse = self._lexical(query, filters)
        return self._fuse(dense, sparse)[:top_k]

    def _lexical(self, query: str, filters: Filters) -> list[NodeWithScore]:
        """The best `candidates` chunks by BM25, filters applied inside the search.

        bm25s is called directly (llama-index's retriever takes neither a per-query `k`
        nor a per-query mask): it scores the chunks sharing a query term and keeps the
        top `k` with a partial sort, so the cost follows the query's terms, not the
        number of chunks; excluded chunks are masked to score 0.
        """
        assert self._bm25 is not None
        bm25 = self._bm25
        tokens = bm25s.tokenize(
            query, stemmer=bm25.stemmer, token_pattern=bm25.token_pattern, show_progress=False
        )
        if not tokens.vocab:
            return []
        k = min(self.candidates, len(self._nodes))
        mask = filters.mask(self._doc_ids, self._published)
        indexes, scores = self._bm25.bm25.retrieve(tokens, k=k, weight_mask=mask,
                                                   show_progress=False)  # fmt: skip
        return [
            NodeWithScore(node=self._nodes[int(i)], score=float(score))
            for i, score in zip(indexes[0], scores[0], strict=True)
            if score > 0
        ]

    def _fuse(self, dense: list[NodeWithScore], sparse: list[NodeWithScore]) -> list[Passage]:
        fused: dict[str, Passage] = {}
        for name, hits in (("dense", dense), ("bm25", sparse)):
            rank = 0
            for hit in hits:
                node = hit.node
                if self._live.get(node.ref_doc_id or "") != node.metadata.get("doc_sha"):
                    continue  # a chunk of an older or half-written version
                rank += 1
                passage = fused.setdefault(node.node_id, to_passage(node, 0.0))
                passage.score += 1.0 / (RRF_K + rank)
                if name == "dense":
                    passage.dense_rank = rank
                else:
                    passage.bm25_rank = rank
        return sorted(fused.values(), key=lambda p: p.score, reverse=True)
