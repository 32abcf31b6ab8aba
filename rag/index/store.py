"""Chroma storage: one collection of chunk vectors, one catalogue of documents.

The chunk collection is written and searched through llama-index's `ChromaVectorStore`;
this module only adds the bookkeeping llama-index does not do: the document catalogue
(cleaned text, hash, metadata), idempotent replacement and repair after an interrupted
write. A local persistent client is used unless `RAG_CHROMA_HOST` names a server.

Write order for one document (a batch of documents goes through the same steps together,
one Chroma call per step): stale leftovers with the new version are cleared, the new
chunks are added, the catalogue record (with the new version) is written, then chunks of
older versions are deleted. A version hashes the text and the metadata together
(`Article.version`), so a changed date or outlet is a new version like a changed text.
Chunks whose version differs from the catalogue's are never served (`live_nodes` and
the retriever filter them), and `repair` removes them: each write first records the ids
of its documents in the catalogue collection's metadata (`_begin`) and its version bump
clears them, so a write that died leaves the list of documents to look at, and repair
costs what that write was changing, not a read of every chunk.

Writers hold `writing()`, a file lock in the data folder, so threads and processes (the
server and `rag ingest`) that write to one index take turns and the last complete write
wins. Readers take no lock: the write order keeps what they see consistent.

The lexical index (`rag.index.lexical`, SQLite FTS5 beside the Chroma data) mirrors the
live chunks: each write updates it for its documents, under the same lock, after
Chroma. `sync_lexical` repairs it, document by document, whenever it reflects another
store state than the current one (a crash between the two writes, a missing file).
"""

import json
import logging
import shutil
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import chromadb
from chromadb.api import ClientAPI
from chromadb.api.models.Collection import Collection
from chromadb.config import Settings as ChromaSettings
from filelock import FileLock
from llama_index.core.schema import BaseNode, NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.vector_stores.chroma import ChromaVectorStore

from rag.config import Settings
from rag.errors import BackendUnavailable, ConfigError, NotFound
from rag.index.lexical import LexicalIndex
from rag.nlp import Annotation
from rag.schema import Article, Chunk, DocumentInfo

_WRITES = "writes"  # the catalogue collection's write counter (Store.version)
_PENDING = "pending"  # beside it, during a write: the ids of the documents it changes
_PAGE = 5000  # records per Chroma `get` when reading many
_SYNC_BATCH = 200  # documents whose chunks `sync_lexical` reads from Chroma at a time
log = logging.getLogger(__name__)
# The catalogue and the annotations are records looked up by id, never by similarity,
# but Chroma (1.5) stores no record without a vector: each gets this one. They stay in
# Chroma rather than in a file of the data folder because Chroma is the one store every
# API machine shares (README, "Several workers"): the catalogue, with its write counter,
# is what tells a machine that its own lexical index lags and which documents changed.
_CATALOGUE_VECTOR: list[Sequence[float]] = [[1.0]]


def get_all(collection: Collection, include: list[Any], where: Any = None) -> dict[str, list[Any]]:
    """Every record of a collection matching `where`, read a page at a time: one `get` of
    tens of thousands of records fails inside Chroma ("too many SQL variables")."""
    out: dict[str, list[Any]] = {"ids": [], **{key: [] for key in include}}
    offset = 0
    while True:
        got: Any = collection.get(where=where, include=include, limit=_PAGE, offset=offset)
        for key in out:
            out[key] += got[key] or []
        if len(got["ids"]) < _PAGE:
            return out
        offset += _PAGE


def make_client(settings: Settings) -> ClientAPI:
    """A Chroma client with telemetry off: HTTP when a host is set, else persistent."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if settings.chroma_host:
            return chromadb.HttpClient(
                host=settings.chroma_host, port=settings.chroma_port, settings=chroma_settings
            )
        settings.chroma_path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)
    except Exception as exc:  # chromadb raises assorted errors for an unreachable server
        where = (
            f"server {settings.chroma_host}:{settings.chroma_port}"
            if settings.chroma_host
            else f"folder {settings.chroma_path}"
        )
        raise BackendUnavailable(f"cannot open Chroma at {where}: {exc}") from exc


def _published_ord(published: date | None) -> int | None:
    return published.year * 10000 + published.month * 100 + published.day if published else None


def _parse_date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else None


def _live_version(meta: Mapping[str, Any]) -> str:
    # Indexes written before versions existed keyed chunks by the text hash.
    return str(meta.get("version") or meta.get("sha256", ""))


def chunk_metadata(article: Article, chunk: Chunk) -> dict[str, Any]:
    """Flat metadata stored with each chunk (Chroma rejects None values, so they are omitted)."""
    meta: dict[str, Any] = {
        "chunk_index": chunk.index,
        "char_start": chunk.char_start,
        "char_end": chunk.char_end,
        "doc_sha": article.version,  # which write of the document the chunk belongs to
        "text_sha": article.sha256,  # which text (the key of its annotation)
        "title": article.title,
    }
    if article.published:
        meta["published"] = article.published.isoformat()
        meta["published_ord"] = _published_ord(article.published)
    if article.outlet:
        meta["outlet"] = article.outlet
    if article.url:
        meta["url"] = article.url
    if article.author:
        meta["author"] = article.author
    page = article.page_at(chunk.char_start)
    if page is not None:
        meta["page"] = page
        breaks = [s for s in article.pages if chunk.char_start < s < chunk.char_end]
        if breaks:  # the chunk runs onto later pages (a string: Chroma stores no lists)
            meta["page_breaks"] = ",".join(map(str, breaks))
    return meta


def _pages(value: Any) -> tuple[int, ...]:
    """Offsets stored as a comma-separated string (Chroma metadata holds no lists)."""
    return tuple(int(v) for v in value.split(",")) if isinstance(value, str) and value else ()


class Store:
    """The index: chunk vectors plus the document catalogue, in one Chroma database."""

    def __init__(self, settings: Settings, embedder_name: str) -> None:
        self.client = make_client(settings)
        self.embedder_name = embedder_name
        self.data_dir = settings.data_dir  # also home of the lexical index (rag.index.lexical)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(settings.data_dir / "write.lock")
        try:
            self.chunks: Collection = self.client.get_or_create_collection(
                settings.collection,
                metadata={"hnsw:space": "cosine", "embedder": embedder_name},
                embedding_function=None,
            )
            self.catalogue: Collection = self.client.get_or_create_collection(
                f"{settings.collection}__documents", embedding_function=None
            )
            # Sentences, entities and lemmas of each article (rag.nlp), apart from the
            # catalogue so that listing documents does not load them.
            self.annotations: Collection = self.client.get_or_create_collection(
                f"{settings.collection}__annotations", embedding_function=None
            )
        except Exception as exc:
            raise BackendUnavailable(f"cannot open Chroma collections: {exc}") from exc
        stored = (self.chunks.metadata or {}).get("embedder")
        if stored and stored != embedder_name:
            raise ConfigError(
                f"collection {settings.collection!r} was built with embedder {stored!r} but "
                f"RAG_EMBEDDER gives {embedder_name!r}: set RAG_COLLECTION to a new name "
                "or switch the embedder back"
            )
        self.vector_store = ChromaVectorStore(chroma_collection=self.chunks)
        self.lexical = LexicalIndex(settings.data_dir / f"lexical-{settings.collection}.sqlite")

    # -- catalogue -----------------------------------------------------------------

    def _info(self, doc_id: str, meta: dict[str, Any]) -> DocumentInfo:
        return DocumentInfo(
            doc_id=doc_id,
            title=str(meta.get("title", doc_id)),
            published=_parse_date(meta.get("published")),
            outlet=meta.get("outlet") or None,
            sha256=str(meta.get("sha256", "")),
            chunk_count=int(meta.get("chunk_count", 0)),
            source=meta.get("source") or None,
            url=meta.get("url") or None,
            pages=_pages(meta.get("pages")),
            author=meta.get("author") or None,
            language=meta.get("language") or None,
        )

    def get_document(self, doc_id: str) -> DocumentInfo | None:
        """Catalogue entry of a document, or None."""
        got = self.catalogue.get(ids=[doc_id], include=["metadatas"])
        if not got["ids"]:
            return None
        return self._info(doc_id, dict((got["metadatas"] or [{}])[0] or {}))

    def get_text(self, doc_id: str) -> str:
        """Cleaned text of a stored document; `NotFound` if absent."""
        got = self.catalogue.get(ids=[doc_id], include=["documents"])
        if not got["ids"]:
            raise NotFound(f"no document with id {doc_id!r}; `rag documents` lists them")
        return str((got["documents"] or [""])[0])

    def list_documents(self) -> list[DocumentInfo]:
        """All catalogue entries, sorted by id."""
        got = get_all(self.catalogue, ["metadatas"])
        infos = [
            self._info(doc_id, dict(meta or {}))
            for doc_id, meta in zip(got["ids"], got["metadatas"] or [], strict=True)
        ]
        return sorted(infos, key=lambda d: d.doc_id)

    def count_documents(self) -> int:
        """How many documents the catalogue holds (one Chroma count, no scan)."""
        return int(self.catalogue.count())

    def doc_ids_of_outlets(self, outlets: Sequence[str]) -> list[str]:
        """The ids of the documents whose outlet is one of `outlets` (a metadata query)."""
        where: Any = {"outlet": {"$in": list(outlets)}}
        got = get_all(self.catalogue, [], where)
        return sorted(got["ids"])

    def missing(self, doc_ids: Sequence[str]) -> list[str]:
        """The ids among `doc_ids` that no stored document has."""
        got = self.catalogue.get(ids=list(dict.fromkeys(doc_ids)), include=[])
        return [d for d in dict.fromkeys(doc_ids) if d not in set(got["ids"])]

    def version(self) -> str:
        """Changes whenever any document is added, replaced or removed (O(1): a counter).

        Every write bumps a counter kept in the catalogue collection's metadata, so a
        process (or another worker) learns that its caches are stale from one small read.
        """
        return str(self._metadata().get(_WRITES, 0))

    def _metadata(self) -> dict[str, Any]:
        """The catalogue collection's metadata, read fresh (another process may write)."""
        return dict(self.client.get_collection(self.catalogue.name).metadata or {})

    def state(self) -> str:
        """The version together with the catalogue's id (a recreated collection starts its
        counter again): what the lexical index records it reflects."""
        return f"{self.catalogue.id}-{self.version()}"

    def _bump_version(self) -> tuple[str, str]:
        """Announce a write (call holding the write lock, after it); the store state
        before and after. Clears the record of the write in progress (`_begin`)."""
        count = int(self._metadata().get(_WRITES, 0))
        self.catalogue.modify(metadata={_WRITES: count + 1})  # replaces the whole metadata
        return f"{self.catalogue.id}-{count}", f"{self.catalogue.id}-{count + 1}"

    def _begin(self, doc_ids: Sequence[str]) -> None:
        """Record which documents a write is about to change (holding the write lock), so
        that if it dies midway `repair` looks at those only; a write that died before is
        repaired first."""
        metadata = self._metadata()
        if metadata.get(_PENDING):
            self._repair_pending(metadata)
            metadata = self._metadata()  # the repair bumped the counter
        count = int(metadata.get(_WRITES, 0))
        self.catalogue.modify(metadata={_WRITES: count, _PENDING: json.dumps(list(doc_ids))})

    def _repair_pending(self, metadata: dict[str, Any]) -> int:
        """Delete the chunks a write that died midway left (those of the documents it
        recorded in `metadata` whose version is not the catalogue's); how many. Bumps
        the version, so the lexical index re-checks those documents."""
        pending = json.loads(str(metadata.get(_PENDING) or "[]"))
        if not pending:
            return 0
        live = self.live_hashes(pending)
        stale = get_all(self.chunks, [], _any(
            {"$and": [{"doc_id": d}, {"doc_sha": {"$ne": live[d]}}]} if d in live
            else {"doc_id": d}
            for d in pending
        ))["ids"]  # fmt: skip
        if stale:
            self.chunks.delete(ids=stale)
        self._bump_version()
        return len(stale)

    def live_hashes(self, doc_ids: Sequence[str] | None = None) -> dict[str, str]:
        """doc_id -> the version whose chunks are current, of every document or of
        `doc_ids` (those stored)."""
        if doc_ids is not None:
            got: Any = self.catalogue.get(ids=list(doc_ids), include=["metadatas"])
        else:
            got = get_all(self.catalogue, ["metadatas"])
        return {
            i: _live_version(m or {})
            for i, m in zip(got["ids"], got["metadatas"] or [], strict=True)
        }

    def get_annotations(self, doc_ids: Sequence[str]) -> dict[str, tuple[str, Annotation]]:
        """doc_id -> (sha256 of the annotated text, annotation) for the stored, readable ones."""
        if not doc_ids:
            return {}
        got = self.annotations.get(
            ids=list(dict.fromkeys(doc_ids)), include=["documents", "metadatas"]
        )
        found: dict[str, tuple[str, Annotation]] = {}
        for doc_id, data, meta in zip(
            got["ids"], got["documents"] or [], got["metadatas"] or [], strict=True
        ):
            annotation = Annotation.from_json(str(data or ""))
            if annotation is not None:
                found[doc_id] = (str((meta or {}).get("sha256", "")), annotation)
        return found

    def put_annotation(self, doc_id: str, sha256: str, annotation: Annotation) -> None:
        """Store (or replace) the annotation of one document's text."""
        with self.writing():
            self._put_annotations([(doc_id, sha256, annotation)])

    def _put_annotations(self, entries: Sequence[tuple[str, str, Annotation]]) -> None:
        """Upsert (doc_id, sha256 of the annotated text, annotation) records; keyed by the
        text's hash, so a stale one is never used."""
        if entries:
            self.annotations.upsert(
                ids=[doc_id for doc_id, _, _ in entries],
                documents=[annotation.to_json() for _, _, annotation in entries],
                metadatas=[{"sha256": sha} for _, sha, _ in entries],
                embeddings=_CATALOGUE_VECTOR * len(entries),
            )

    # -- writes --------------------------------------------------------------------

    def writing(self) -> FileLock:
        """The index's write lock, across threads and processes (a context manager).

        One lock per data folder rather than per document: `repair` and `prune` look at
        every document, and writes are short next to the embedding done before them.
        Re-entrant within a thread; other threads and processes wait.
        """
        return self._lock

    def write_document(
        self,
        article: Article,
        chunks: list[Chunk],
        vectors: list[list[float]],
        annotation: Annotation | None = None,
    ) -> None:
        """Store an article's chunks, annotation and catalogue entry, replacing older ones."""
        self.write_documents([Written(article, chunks, vectors, annotation)])

    def write_documents(self, docs: Sequence["Written"]) -> None:
        """`write_document` for several articles (distinct ids) at once: each step of the
        write order is one Chroma call for all of them and the lexical index is updated
        in one transaction, which costs about a quarter of writing them one by one."""
        if not docs:
            return
        if len({d.article.doc_id for d in docs}) < len(docs):
            raise ValueError("write_documents: an article id appears twice")
        with self.writing():
            self._begin([d.article.doc_id for d in docs])
            self.chunks.delete(where=_any(
                {"$and": [{"doc_id": d.article.doc_id}, {"doc_sha": d.article.version}]}
                for d in docs
            ))  # fmt: skip
            nodes = {d.article.doc_id: _nodes(d) for d in docs}
            added = [n for doc_nodes in nodes.values() for n in doc_nodes]
            if added:
                self.vector_store.add(added)
            self._put_annotations(
                [(d.article.doc_id, d.article.sha256, d.annotation) for d in docs if d.annotation]
            )
            self.catalogue.upsert(
                ids=[d.article.doc_id for d in docs],
                documents=[d.article.text for d in docs],
                metadatas=[_catalogue_meta(d.article, len(d.chunks)) for d in docs],
                embeddings=_CATALOGUE_VECTOR * len(docs),
            )
            self.chunks.delete(where=_any(
                {"$and": [{"doc_id": d.article.doc_id}, {"doc_sha": {"$ne": d.article.version}}]}
                for d in docs
            ))  # fmt: skip
            self.lexical.put_many(
                [(d.article.doc_id, d.article.version, nodes[d.article.doc_id]) for d in docs],
                self._bump_version(),
            )

    def delete_document(self, doc_id: str) -> None:
        """Remove a document and its chunks; `NotFound` if it is not stored."""
        with self.writing():
            if self.get_document(doc_id) is None:
                raise NotFound(f"no document with id {doc_id!r}; `rag documents` lists them")
            self._begin([doc_id])
            self.catalogue.delete(ids=[doc_id])
            self.chunks.delete(where={"doc_id": doc_id})
            self.annotations.delete(ids=[doc_id])
            self.lexical.delete(doc_id, self._bump_version())

    def repair(self) -> int:
        """Delete chunks left by an interrupted write; returns how many were removed.

        O(what that write was changing), not O(the corpus): every write records its
        documents before it starts (`_begin`) and the record is cleared when it ends.
        """
        with self.writing():
            return self._repair_pending(self._metadata())

    def sync_lexical(self) -> bool:
        """Bring the lexical index up to the store's state if it lags (O(1) when it does
        not); returns whether it had to. Only documents whose version differs are read
        from Chroma and re-indexed; a damaged file is deleted and rebuilt."""
        try:
            if self.lexical.state() == self.state():
                return False
        except sqlite3.DatabaseError:
            pass  # rebuilt below
        with self.writing():  # a writer mid-way finishes first; then this may be a no-op
            state = self.state()
            try:
                if self.lexical.state() == state:
                    return False
                held = self.lexical.doc_versions()
            except sqlite3.DatabaseError as exc:
                log.warning("lexical index %s is unreadable (%s); rebuilding it",
                            self.lexical.path, exc)  # fmt: skip
                self.lexical.reset()
                held = {}
            shutil.rmtree(self.data_dir / "lexical", ignore_errors=True)  # the bm25s format
            live = self.live_hashes()
            for doc_id in held.keys() - live.keys():
                self.lexical.delete(doc_id)
            changed = [d for d, version in live.items() if held.get(d) != version]
            for start in range(0, len(changed), _SYNC_BATCH):
                batch = changed[start : start + _SYNC_BATCH]
                by_doc: dict[str, list[BaseNode]] = {d: [] for d in batch}
                for node in self._live_nodes(live, batch):
                    by_doc[node.ref_doc_id or ""].append(node)
                self.lexical.put_many([(d, live[d], nodes) for d, nodes in by_doc.items()])
            self.lexical.set_state(state)
            return True

    # -- reads for retrieval -------------------------------------------------------

    def live_nodes(self) -> list[BaseNode]:
        """Every current chunk as a llama-index node, read from Chroma (not for questions:
        the lexical index holds them)."""
        return self._live_nodes(self.live_hashes())

    def _live_nodes(
        self, live: Mapping[str, str], doc_ids: Sequence[str] | None = None
    ) -> list[BaseNode]:
        """The current chunks (`live`: doc_id -> live version), of `doc_ids` only if given."""
        from llama_index.core.vector_stores.utils import metadata_dict_to_node

        where: Any = {"doc_id": {"$in": list(doc_ids)}} if doc_ids is not None else None
        got = get_all(self.chunks, ["metadatas", "documents"], where)
        nodes: list[BaseNode] = []
        for cid, meta, text in zip(
            got["ids"], got["metadatas"] or [], got["documents"] or [], strict=True
        ):
            meta = dict(meta or {})
            if live.get(str(meta.get("doc_id"))) != meta.get("doc_sha"):
                continue
            node = metadata_dict_to_node(meta, text=text)
            node.id_ = cid
            nodes.append(node)
        nodes.sort(key=lambda n: (n.ref_doc_id or "", n.metadata.get("chunk_index", 0)))
        return nodes

    def nearest(
        self, vector: Sequence[float], k: int, where: dict[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        """Ids and distances of the `k` chunks nearest to a vector, nearest first,
        optionally filtered.

        No text or metadata: the retriever holds every live chunk's already.
        """
        query: list[Sequence[float]] = [vector]
        got = self.chunks.query(
            query_embeddings=query, n_results=k, where=where, include=["distances"]
        )
        distances = got["distances"] or [[]]
        return [(str(i), float(d)) for i, d in zip(got["ids"][0], distances[0], strict=True)]

    def count_chunks(self) -> int:
        """Number of chunk records, stale ones included."""
        return int(self.chunks.count())


@dataclass(frozen=True)
class Written:
    """One article as `Store.write_documents` takes it: its chunks, their vectors (in
    order) and, when computed, its annotation."""

    article: Article
    chunks: list[Chunk]
    vectors: list[list[float]]
    annotation: Annotation | None = None


def _nodes(doc: Written) -> list[BaseNode]:
    """The llama-index nodes of an article's chunks, with their vectors and metadata."""
    nodes: list[BaseNode] = []
    for chunk, vector in zip(doc.chunks, doc.vectors, strict=True):
        node = TextNode(
            id_=chunk.chunk_id,
            text=chunk.text,
            embedding=vector,
            metadata=chunk_metadata(doc.article, chunk),
            start_char_idx=chunk.char_start,
            end_char_idx=chunk.char_end,
        )
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=doc.article.doc_id)
        nodes.append(node)
    return nodes


def _catalogue_meta(article: Article, chunk_count: int) -> dict[str, Any]:
    """An article's catalogue metadata. Every key, None included: Chroma merges an
    upsert's metadata into the stored one and drops only keys set to None, so an omitted
    date would survive."""
    return {
        "title": article.title,
        "sha256": article.sha256,
        "version": article.version,
        "chunk_count": chunk_count,
        "published": article.published.isoformat() if article.published else None,
        "outlet": article.outlet,
        "source": article.source,
        "url": article.url,
        "pages": ",".join(map(str, article.pages)) or None,
        "author": article.author,
        "language": article.language,
    }


def _any(conditions: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """A Chroma `where` matching any of `conditions` (`$or` needs at least two)."""
    listed = list(conditions)
    return listed[0] if len(listed) == 1 else {"$or": listed}
