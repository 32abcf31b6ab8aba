"""Hybrid retrieval: dense search in Chroma plus BM25, fused by relative score.

BM25 runs over the lexical index (`rag.index.lexical`, SQLite FTS5 beside the Chroma
data), which also holds every live chunk's text and metadata. Dense search asks Chroma
only for the ids of the nearest chunks (filters become its `where` clause) and takes
the chunks from the lexical index: llama-index's vector retriever would have Chroma
read and send each candidate's text and metadata for every question, which with a
Chroma server (`rag serve --workers N`) was a fifth of the CPU time of a question. A
question reads only the posting lists of its words and the chunks it returns. The
candidates of both searches are then ranked by BM25 over every word of the question
(`LexicalIndex.rescore`): in a large index the lexical search leaves out words common
across the corpus, so a chunk only the dense search found would otherwise get no lexical
rank at all, and fall behind weaker chunks that both found. The two rankings are fused
by relative score (each search's scores scaled to 0–1, then `DENSE_SHARE` of the dense
one added to the rest of the lexical one), not by reciprocal rank: ranks drop how far
ahead a hit is, so a chunk that alone holds a rare name of the question ("Microprocessor
Report", BM25 twice the next chunk's) but is not among the dense candidates fell behind
chunks both searches ranked in the middle. Fusion
is written here rather than taken from `QueryFusionRetriever` because it must also
drop chunks the lexical index does not hold (stale, or not yet seen), apply the filters
inside BM25 (that retriever only takes filters when it is built) and keep each
retriever's rank for diagnostics.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

from llama_index.core.schema import BaseNode

from rag.errors import InvalidInput
from rag.index.embed import Embedder
from rag.index.store import Store
from rag.schema import Passage

# The dense search's share of a fused score. On the dev questions of both eval corpora
# (179 answerable; 2026-12-02) a passage holding the answer was among the five returned
# for 0.983 of them with reciprocal-rank fusion (k 60) and 0.994 with relative scores at
# shares 0.2–0.4; 0.4 ranked it highest (mean reciprocal rank 0.889 → 0.919), 0.5–0.7 less.
DENSE_SHARE = 0.4


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

    def bounds(self) -> tuple[int | None, int | None]:
        """The date range as `published_ord` values (None where open)."""
        return (
            _ord(self.published_from) if self.published_from else None,
            _ord(self.published_to) if self.published_to else None,
        )


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


# The lexical search of a question runs in one of these threads while the asking thread
# embeds the question and queries Chroma: both wait in native code (SQLite, onnxruntime,
# Chroma) with the GIL released (retrieve, mean of 50 questions: about 5.5 -> 4.2 ms at 10,000
# documents with the bench's cheap query embedder; MiniLM's ~5 ms hides it entirely).
# Several, shared by the process, so concurrent requests do not queue behind one.
_LEXICAL_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="lexical")


class HybridRetriever:
    """Dense + BM25 retrieval with reciprocal-rank fusion over one `Store`."""

    def __init__(self, store: Store, embedder: Embedder, candidates: int = 20) -> None:
        self.store = store
        self.embedder = embedder
        self.candidates = candidates

    def refresh(self) -> None:
        """Bring the lexical index up to the store's state if it lags (a crash, a missing
        file); O(1) otherwise (`Store.sync_lexical`)."""
        self.store.sync_lexical()

    def nodes(self) -> list[BaseNode]:
        """Every live chunk, in document order (reads them all: not for questions)."""
        self.refresh()
        return self.store.lexical.all_nodes()

    def document_nodes(self, doc_id: str) -> list[BaseNode]:
        """The live chunks of one document, in order."""
        self.refresh()
        return self.store.lexical.document_nodes(doc_id)

    def retrieve(self, query: str, top_k: int = 5, filters: Filters | None = None) -> list[Passage]:
        """The `top_k` best passages for a query, best first."""
        self.refresh()
        lexical = self.store.lexical
        filters = filters or Filters()
        if lexical.empty():
            return []
        searching = _LEXICAL_THREADS.submit(self._lexical, query, filters)
        nearest = self.store.nearest(self.embedder.embed_query(query), self.candidates,
                                     filters.where())  # fmt: skip
        # Both searches' candidates ranked by BM25 over every query word (`rescore`; the
        # lexical thread rescores its own): a chunk only the dense search found still
        # gets its lexical rank.
        scores = searching.result()
        scores |= lexical.rescore(query, [i for i, _ in nearest if i not in scores])
        fused = _fuse(nearest, scores)
        # Only the chunks returned are read from the lexical index, best first. A dense id
        # it lacks is a chunk of an older (or newer, not yet seen) version: dropped, and
        # the next best read in its place.
        out: list[Passage] = []
        while fused and len(out) < top_k:
            batch, fused = fused[: top_k - len(out)], fused[top_k - len(out) :]
            nodes = lexical.nodes([chunk_id for chunk_id, *_ in batch])
            for chunk_id, score, dense_rank, bm25_rank in batch:
                if chunk_id in nodes:
                    passage = to_passage(nodes[chunk_id], score)
                    passage.dense_rank, passage.bm25_rank = dense_rank, bm25_rank
                    out.append(passage)
        return out

    def _lexical(self, query: str, filters: Filters) -> dict[str, float]:
        """The best `candidates` chunk ids by BM25 (filters inside), each with its BM25
        over every query word (`LexicalIndex.rescore`)."""
        start, end = filters.bounds()
        found = self.store.lexical.search(
            query, self.candidates, filters.doc_ids, published_from=start, published_to=end
        )
        return self.store.lexical.rescore(query, [i for i, _ in found])


def _fuse(
    dense: list[tuple[str, float]], lexical: dict[str, float]
) -> list[tuple[str, float, int | None, int | None]]:
    """Chunk ids by relative-score fusion, best first, with their fused score and their
    rank in each search (None where absent). Dense distances are scaled so the nearest
    candidate is 1 and the farthest 0; BM25 scores (only those above 0) by the best one."""
    fused: dict[str, float] = {}
    ranks: dict[str, list[int | None]] = {}
    if dense:
        near, far = dense[0][1], dense[-1][1]
        for rank, (chunk_id, distance) in enumerate(dense, 1):
            scaled = (far - distance) / (far - near) if far > near else 1.0
            fused[chunk_id] = DENSE_SHARE * scaled
            ranks.setdefault(chunk_id, [None, None])[0] = rank
    positive = sorted(((s, i) for i, s in lexical.items() if s > 0), reverse=True)
    for rank, (score, chunk_id) in enumerate(positive, 1):
        fused[chunk_id] = fused.get(chunk_id, 0.0) + (1 - DENSE_SHARE) * score / positive[0][0]
        ranks.setdefault(chunk_id, [None, None])[1] = rank
    order = sorted(fused, key=lambda i: fused[i], reverse=True)
    return [(i, fused[i], ranks[i][0], ranks[i][1]) for i in order]
