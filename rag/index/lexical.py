"""The persistent lexical index: BM25 over every live chunk, saved next to the Chroma data.

Home: `<RAG_DATA_DIR>/lexical/<key>/`, where the key names the catalogue collection and
the store version (`Store.version()`, a write counter) it reflects. It holds the bm25s
index (`bm25/`, loaded memory-mapped), the chunks' ids, documents and dates as numpy
arrays (memory-mapped too) and the chunks themselves (`nodes.jsonl` plus byte offsets),
so a process that opens it reads nothing from Chroma and keeps no chunk in memory until
a question retrieves it.

Lifecycle: `open_index` loads the folder whose key is the current version. When there
is none (a write happened, or the folder is missing or unreadable), it takes the
store's write lock, so that the version cannot move and only one process builds, reads
the live chunks from Chroma, builds BM25, writes the folder under a temporary name and
renames it into place (atomic), then deletes older folders and leftovers of a crash.
Other processes, such as the other `rag serve` workers, then only load the saved
folder. A crash mid-ingest leaves either no folder for the new version (the next
reader rebuilds it) or a complete one; a half-written one only exists under a
temporary name and is removed by the next build.

What is incremental and what is not: the service rebuilds once after each write
request (`RagService.add_text`, `delete_document`) and once after a whole
`rag ingest` run, in the writing process, and saves the result; the rebuild itself
reads and tokenizes every live chunk, because bm25s stores scores that depend on the
corpus-wide IDF and average length and has no way to add a document to a saved index.
"""

import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import Stemmer
from llama_index.core.schema import (
    BaseNode,
    MetadataMode,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)

from rag.index.store import Store

log = logging.getLogger(__name__)

FORMAT = 1
STEMMER = Stemmer.Stemmer("english")
TOKEN_PATTERN = r"(?u)\b\w\w+\b"  # llama-index's BM25Retriever default
STOPWORDS = "en"


@dataclass
class LexicalIndex:
    """One saved version of the lexical index, opened memory-mapped."""

    key: str
    version: str
    bm25: bm25s.BM25 | None  # None for an empty index
    doc_ids: np.ndarray  # per row (bytes, utf-8), rows sorted by document then chunk
    published: np.ndarray  # per row: `published_ord`, 0 if undated
    sorted_ids: np.ndarray  # the chunk ids, sorted (bytes), for `row`
    sorted_rows: np.ndarray  # the row of each of `sorted_ids`
    offsets: np.ndarray  # byte offsets of each row's node in `nodes`
    nodes: np.ndarray  # `nodes.jsonl`, memory-mapped bytes

    def __len__(self) -> int:
        return len(self.doc_ids)

    def row(self, chunk_id: str) -> int | None:
        """The row of a chunk, or None if it is not in this version (binary search)."""
        key = chunk_id.encode("utf-8")
        i = int(np.searchsorted(self.sorted_ids, key))
        if i < len(self.sorted_ids) and self.sorted_ids[i] == key:
            return int(self.sorted_rows[i])
        return None

    def node(self, row: int) -> BaseNode:
        """The chunk of a row, read from the memory-mapped file."""
        data = json.loads(bytes(self.nodes[self.offsets[row] : self.offsets[row + 1]]))
        node = TextNode(id_=data["id"], text=data["text"], metadata=data["metadata"])
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=data["doc_id"])
        return node

    def rows_of(self, doc_id: str) -> range:
        """The rows of one document's chunks, in order (binary search)."""
        key = doc_id.encode("utf-8")
        lo = int(np.searchsorted(self.doc_ids, key, side="left"))
        hi = int(np.searchsorted(self.doc_ids, key, side="right"))
        return range(lo, hi)


def tokenize(texts: list[str] | str) -> Any:
    """Tokens as llama-index's BM25Retriever makes them (stemmed; stopwords for chunks)."""
    if isinstance(texts, str):  # a query: no stopword list, as before
        return bm25s.tokenize(texts, stemmer=STEMMER, token_pattern=TOKEN_PATTERN,
                              show_progress=False)  # fmt: skip
    return bm25s.tokenize(texts, stopwords=STOPWORDS, stemmer=STEMMER,
                          token_pattern=TOKEN_PATTERN, show_progress=False)  # fmt: skip


def root(store: Store) -> Path:
    """The folder that holds the saved versions."""
    return store.data_dir / "lexical"


def key_of(store: Store, version: str) -> str:
    """Folder name of a version: the catalogue's id (new if the collection is recreated,
    so a counter that starts again never matches an old folder) and the counter."""
    return f"{store.catalogue.id}-{version}"


def open_index(store: Store) -> LexicalIndex:
    """The lexical index of the store's current version: loaded if saved, else built."""
    version = store.version()
    loaded = _try_load(root(store) / key_of(store, version), version)
    if loaded is not None:
        return loaded
    with store.writing():  # the version cannot move; other builders wait, then load
        version = store.version()
        folder = root(store) / key_of(store, version)
        loaded = _try_load(folder, version)
        if loaded is not None:
            return loaded
        if folder.exists():  # unreadable: rebuilt
            log.warning("lexical index %s is unreadable; rebuilding it", folder)
            shutil.rmtree(folder, ignore_errors=True)
        build(store, version)
        index = _load(folder, version)
        _clean(root(store), keep=folder.name)
        return index


def build(store: Store, version: str) -> Path:
    """Build and save the index of the live chunks (call holding the write lock)."""
    nodes = store.live_nodes()
    base = root(store)
    base.mkdir(parents=True, exist_ok=True)
    tmp = base / f".tmp-{uuid.uuid4().hex}"
    tmp.mkdir()
    if nodes:
        texts = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
        bm25 = bm25s.BM25()
        bm25.index(tokenize(texts), show_progress=False)
        bm25.save(str(tmp / "bm25"), show_progress=False)
    ids = [n.node_id.encode("utf-8") for n in nodes]
    order = np.argsort(np.array(ids, dtype=bytes), kind="stable")
    offsets = [0]
    with open(tmp / "nodes.jsonl", "wb") as out:
        for n in nodes:
            line = json.dumps({"id": n.node_id, "doc_id": n.ref_doc_id or "",
                               "text": n.get_content(), "metadata": n.metadata})  # fmt: skip
            data = line.encode("utf-8") + b"\n"
            out.write(data)
            offsets.append(offsets[-1] + len(data))
    arrays = {
        "doc_ids": np.array([(n.ref_doc_id or "").encode("utf-8") for n in nodes], dtype=bytes),
        "published": np.array(
            [int(n.metadata.get("published_ord") or 0) for n in nodes], dtype=np.int64
        ),
        "sorted_ids": np.array(ids, dtype=bytes)[order],
        "sorted_rows": order.astype(np.int64),
        "offsets": np.array(offsets, dtype=np.int64),
    }
    for name, array in arrays.items():
        np.save(tmp / f"{name}.npy", array)
    meta = {"format": FORMAT, "version": version, "chunks": len(nodes)}
    (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    folder = base / key_of(store, version)
    _fsync_tree(tmp)
    os.replace(tmp, folder) if not folder.exists() else shutil.rmtree(tmp)
    return folder


def _fsync_tree(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())


def _try_load(folder: Path, version: str) -> LexicalIndex | None:
    if not folder.is_dir():
        return None
    try:
        return _load(folder, version)
    except Exception as exc:  # a damaged folder: any of json, numpy, bm25s may raise
        log.warning("cannot load lexical index %s: %s", folder, exc)
        return None


def _load(folder: Path, version: str) -> LexicalIndex:
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT or str(meta.get("version")) != version:
        raise ValueError(f"{folder} holds format {meta.get('format')} of {meta.get('version')}")

    def array(name: str) -> np.ndarray:
        loaded: np.ndarray = np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
        return loaded

    count = int(meta["chunks"])
    bm25 = bm25s.BM25.load(str(folder / "bm25"), mmap=True, show_progress=False) if count else None
    index = LexicalIndex(
        key=folder.name,
        version=version,
        bm25=bm25,
        doc_ids=array("doc_ids"),
        published=array("published"),
        sorted_ids=array("sorted_ids"),
        sorted_rows=array("sorted_rows"),
        offsets=array("offsets"),
        nodes=np.memmap(folder / "nodes.jsonl", dtype=np.uint8, mode="r")
        if count
        else np.zeros(0, dtype=np.uint8),
    )
    sizes = {len(index.doc_ids), len(index.published), len(index.sorted_ids)}
    sizes.add(len(index.offsets) - 1)
    if sizes != {count} or (count and int(index.offsets[-1]) != len(index.nodes)):
        raise ValueError(f"{folder} is incomplete")
    if bm25 is not None and int(bm25.scores["num_docs"]) != count:
        raise ValueError(f"{folder}: the BM25 index does not match its chunks")
    return index


def _clean(base: Path, keep: str) -> None:
    """Delete older versions and crash leftovers (call holding the write lock). A process
    that has an older one open keeps reading it: its memory maps outlive the unlink."""
    for path in base.iterdir():
        if path.name != keep and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
