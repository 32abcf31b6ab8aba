"""The lexical index: BM25 over every live chunk, in SQLite's FTS5, next to the Chroma data.

One file per collection, `<RAG_DATA_DIR>/lexical-<collection>.sqlite` (WAL mode), holds
each live chunk's text (the `fts` full-text table, Porter-stemmed) and the chunk itself
(`chunks`: id, document, `published_ord`, the node as JSON), plus which version of each
document it holds (`docs`) and which store state it reflects (`meta`). FTS5 is an inverted index
made for this: a document is added or replaced in one transaction without touching the
others, a question reads only the posting lists of its own terms, and several processes
(the `rag serve` workers, `rag ingest`) read and write one file safely. bm25s, used
before, stores scores that depend on the whole corpus and cannot add a document to a
saved index, so every write rebuilt it.

Writes come from `Store` (rag.index.store), holding its write lock, right after the
Chroma write they mirror; each one also moves the recorded store state, but only if it
was current before, so a write this index missed (a crash between the two, a writer
that bypassed it, an index deleted or damaged) leaves the state behind and the next
`Store.sync_lexical` repairs it from Chroma, document by document.

What is indexed is each chunk's article title and its text. Scores are SQLite's `bm25()`
(k1 1.2, b 0.75) over the query's words, stop words and words found in more than
`MAX_POSTINGS` chunks left out, so scoring reads at most a bounded number of postings
per word whatever the corpus size (how many chunks hold a word is read once per process
and index state). Left out: phrase and prefix queries, field weights.
"""

import json
import logging
import math
import os
import re
import sqlite3
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import Stemmer
from bm25s.stopwords import STOPWORDS_EN
from llama_index.core.schema import (
    BaseNode,
    NodeRelationship,
    RelatedNodeInfo,
    TextNode,
)

log = logging.getLogger(__name__)

FORMAT = "3"  # bumped when the schema or what is indexed changes: an older file is rebuilt
WORDS = re.compile(r"\w\w+")
STOPWORDS = frozenset(STOPWORDS_EN)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs (doc_id TEXT PRIMARY KEY, version TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    row INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL,
    chunk_index INTEGER NOT NULL,
    published INTEGER NOT NULL,
    node TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (doc_id, chunk_index);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(
    body, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS fts_vocab USING fts5vocab(fts, row);
"""
# A query word found in more chunks than this is left out of the lexical search (the
# dense search still sees it): scoring its postings would make a question's cost grow
# with the corpus, for a word whose BM25 weight is low there anyway. Small corpora have
# no such word; if every word of a query has, the rarest one is searched.
MAX_POSTINGS = 2000
MAX_COUNTED = 100_000  # terms whose chunk counts a process keeps (a few MB)
MMAP_BYTES = 1 << 30  # how much of the file SQLite may map (address space, not memory)
STEM = Stemmer.Stemmer("porter")  # the algorithm of FTS5's `porter` tokenizer
K1 = 1.2  # BM25's term-frequency saturation, as SQLite's bm25()
_ALL_CHUNKS = "\x00chunks"  # the count of all chunks, kept with the term counts
_COMBINING = re.compile("[\u0300-\u036f]")


def fold_diacritics(text: str) -> str:
    """Accents removed, as FTS5's `remove_diacritics` does (the combining marks that
    Unicode decomposition splits off Latin letters)."""
    if text.isascii():
        return text
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text))


def query_words(text: str) -> list[str]:
    """The words of a query, lower-case, each once, stop words left out."""
    return [w for w in dict.fromkeys(WORDS.findall(text.lower())) if w not in STOPWORDS]


def match_query(words: Sequence[str]) -> str | None:
    """An FTS5 query matching any of the words, or None for none."""
    return " OR ".join(f'"{w}"' for w in words) or None


def body(node: BaseNode) -> str:
    """What BM25 indexes of a chunk: its article's title and its text."""
    title = str(node.metadata.get("title") or "")
    return f"{title}\n{node.get_content()}" if title else node.get_content()


def _node(data: str) -> BaseNode:
    fields = json.loads(data)
    node = TextNode(id_=fields["id"], text=fields["text"], metadata=fields["metadata"])
    node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=fields["doc_id"])
    return node


class LexicalIndex:
    """The FTS5 file of one data folder; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._counts_lock = threading.Lock()
        self._counted: dict[str, int] = {}  # term -> chunks holding it, at `_counts_state`
        self._counts_state = ""

    # -- connection -----------------------------------------------------------------

    def _inode(self) -> int | None:
        try:
            return os.stat(self.path).st_ino
        except FileNotFoundError:
            return None

    def _db(self) -> sqlite3.Connection:
        """This thread's connection, opened (and the schema made) on first use, and opened
        again when the file was replaced (deleted and rebuilt, by this or another process),
        so that no connection keeps reading a deleted file."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "inode", None) != self._inode():
            conn.close()
            conn = self._local.conn = None
        if conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=60)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                # Read through a memory map (shared by every process's page cache) rather
                # than copying pages into each connection's own cache.
                conn.execute(f"PRAGMA mmap_size={MMAP_BYTES}")
                conn.executescript(_SCHEMA)
                found = conn.execute("SELECT value FROM meta WHERE key='format'").fetchone()
                if found is None:
                    conn.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (FORMAT,))
                elif found[0] != FORMAT:
                    raise sqlite3.DatabaseError(f"format {found[0]}, not {FORMAT}")
            except sqlite3.DatabaseError:
                conn.close()
                raise
            self._local.conn, self._local.inode = conn, self._inode()
        return conn

    def close(self) -> None:
        """Close this thread's connection (others close with their threads)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def reset(self) -> None:
        """Delete the file (damaged, or of another format); the next use makes it anew.
        Call holding the store's write lock."""
        self.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- state ----------------------------------------------------------------------

    def state(self) -> str:
        """The store state (`Store.state()`) this index reflects; "" when unknown."""
        row = self._db().execute("SELECT value FROM meta WHERE key='state'").fetchone()
        return str(row[0]) if row else ""

    def doc_versions(self) -> dict[str, str]:
        """doc_id -> the version of its chunks held here."""
        return dict(self._db().execute("SELECT doc_id, version FROM docs").fetchall())

    # -- writes (holding the store's write lock) ------------------------------------

    def put(self, doc_id: str, version: str, nodes: Sequence[BaseNode],
            state: tuple[str, str] | None = None) -> None:  # fmt: skip
        """Replace one document's chunks with `nodes` (all of one `version`).

        `state` is (state before the write, after it): the recorded state moves only if
        it was the one before, so a write missed earlier stays visible to `sync`.
        """
        self.put_many([(doc_id, version, nodes)], state)

    def put_many(self, docs: Sequence[tuple[str, str, Sequence[BaseNode]]],
                 state: tuple[str, str] | None = None) -> None:  # fmt: skip
        """`put` for several documents (doc_id, version, nodes) in one transaction."""
        with self._write() as conn:
            for doc_id, version, nodes in docs:
                self._remove(conn, doc_id)
                for node in nodes:
                    meta = node.metadata
                    data = json.dumps({"id": node.node_id, "doc_id": doc_id,
                                       "text": node.get_content(), "metadata": meta})  # fmt: skip
                    cur = conn.execute(
                        "INSERT INTO chunks (chunk_id, doc_id, chunk_index, published, node) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (node.node_id, doc_id, int(meta.get("chunk_index", 0)),
                         int(meta.get("published_ord") or 0), data),
                    )  # fmt: skip
                    conn.execute("INSERT INTO fts (rowid, body) VALUES (?, ?)",
                                 (cur.lastrowid, body(node)))  # fmt: skip
                conn.execute("INSERT OR REPLACE INTO docs VALUES (?, ?)", (doc_id, version))
            self._advance(conn, state)
        self._forget_counts()

    def delete(self, doc_id: str, state: tuple[str, str] | None = None) -> None:
        """Remove one document's chunks."""
        with self._write() as conn:
            self._remove(conn, doc_id)
            self._advance(conn, state)
        self._forget_counts()

    def set_state(self, state: str) -> None:
        """Record that the index now reflects this store state (after a sync)."""
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('state', ?)", (state,))

    def _forget_counts(self) -> None:
        with self._counts_lock:
            self._counted = {}

    @staticmethod
    def _remove(conn: sqlite3.Connection, doc_id: str) -> None:
        rows = [r for (r,) in conn.execute("SELECT row FROM chunks WHERE doc_id=?", (doc_id,))]
        conn.executemany("DELETE FROM fts WHERE rowid=?", [(r,) for r in rows])
        conn.execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))
        conn.execute("DELETE FROM docs WHERE doc_id=?", (doc_id,))

    @staticmethod
    def _advance(conn: sqlite3.Connection, state: tuple[str, str] | None) -> None:
        if state is not None:
            conn.execute("UPDATE meta SET value=? WHERE key='state' AND value=?",
                         (state[1], state[0]))  # fmt: skip

    # -- reads ----------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int,
        doc_ids: Sequence[str] | None = None,
        published_from: int | None = None,
        published_to: int | None = None,
    ) -> list[tuple[str, float]]:
        """The `k` best chunk ids by BM25 (score, higher is better), filters applied in the
        search: only these documents; `published_ord` from/to (undated chunks never match
        a date bound)."""
        expression = match_query(self._searchable(query_words(query)))
        if expression is None or k <= 0:
            return []
        db = self._db()
        if doc_ids is None and published_from is None and published_to is None:
            # FTS5 alone, then the ids of the k rows: joining every match costs more.
            hits = db.execute(
                "SELECT rowid, -bm25(fts) FROM fts WHERE fts MATCH ? ORDER BY bm25(fts) LIMIT ?",
                (expression, k),
            ).fetchall()
            rows = [r for r, _ in hits]
            marks = ",".join("?" * len(rows))
            ids = dict(db.execute(f"SELECT row, chunk_id FROM chunks WHERE row IN ({marks})", rows))
            return [(str(ids[r]), float(score)) for r, score in hits if r in ids]
        sql = ["SELECT c.chunk_id, -bm25(fts) AS score FROM fts JOIN chunks c ON c.row = fts.rowid",
               "WHERE fts MATCH ?"]  # fmt: skip
        args: list[Any] = [expression]
        if doc_ids is not None:
            sql.append(f"AND c.doc_id IN ({','.join('?' * len(doc_ids))})")
            args += list(doc_ids)
        if published_from is not None:
            sql.append("AND c.published >= ?")
            args.append(published_from)
        if published_to is not None:
            sql.append("AND c.published > 0 AND c.published <= ?")
            args.append(published_to)
        sql.append("ORDER BY bm25(fts) LIMIT ?")
        args.append(k)
        return [(str(i), float(s)) for i, s in db.execute(" ".join(sql), args)]

    def _searchable(self, words: list[str]) -> list[str]:
        """The words worth a posting-list scan: those in at most `MAX_POSTINGS` chunks
        (by FTS5's own vocabulary); if none is, the rarest one unless it is in more than
        `4 * MAX_POSTINGS` (a query of common words only is left to the dense search)."""
        if not words:
            return []
        stems = {w: STEM.stemWord(w) for w in words}
        counts = self._counts(sorted(set(stems.values())))  # "win" and "wins": one term
        kept = [w for w in words if counts.get(stems[w], 0) <= MAX_POSTINGS]
        rarest = min(words, key=lambda w: counts.get(stems[w], 0))
        return kept or ([rarest] if counts.get(stems[rarest], 0) <= 4 * MAX_POSTINGS else [])

    def _counts(self, terms: list[str]) -> dict[str, int]:
        """How many chunks hold each term. fts5vocab counts by reading the term's posting
        list, so counts are kept per process until the index changes (its state moves)."""
        state = self.state()
        with self._counts_lock:
            if state != self._counts_state:
                self._counted, self._counts_state = {}, state
            missing = [t for t in terms if t not in self._counted]
        if missing:
            marks = ",".join("?" * len(missing))
            sql = f"SELECT term, doc FROM fts_vocab WHERE term IN ({marks})"
            found = dict.fromkeys(missing, 0) | dict(self._db().execute(sql, missing).fetchall())
            if _ALL_CHUNKS in missing:  # counted once per index state, like the terms
                found[_ALL_CHUNKS] = self._db().execute("SELECT count(*) FROM chunks").fetchone()[0]
            with self._counts_lock:
                if len(self._counted) > MAX_COUNTED:
                    self._counted.clear()
                self._counted.update(found)
        with self._counts_lock:
            return {t: self._counted.get(t, 0) for t in terms}

    def rescore(self, query: str, chunk_ids: Sequence[str]) -> dict[str, float]:
        """BM25 of each of these chunks over all the query's words (the `MAX_POSTINGS`
        bound left out: only these chunks are scored), for ranking the candidates of both
        searches alike. A chunk the dense search found holds the question's common words
        ("government", "office") that the bounded search could not score. Chunks are of
        one token size, so length normalisation is left out (b = 0); `k1` as FTS5's.
        Computed here because FTS5 scores only what a MATCH walks, and walking a common
        word's postings is the cost the bound avoids."""
        words = query_words(fold_diacritics(query))  # as FTS5 folds a MATCH query
        stems = list(dict.fromkeys(STEM.stemWord(w) for w in words))
        ids = list(dict.fromkeys(chunk_ids))
        if not stems or not ids:
            return {}
        counts = self._counts([*stems, _ALL_CHUNKS])
        total = max(counts.pop(_ALL_CHUNKS), 1)
        idf = {t: math.log((total - n + 0.5) / (n + 0.5) + 1) for t, n in counts.items()}
        marks = ",".join("?" * len(ids))
        sql = ("SELECT c.chunk_id, f.body FROM chunks c JOIN fts f ON f.rowid = c.row "
               f"WHERE c.chunk_id IN ({marks})")  # fmt: skip
        # Only words that may stem to a query stem are stemmed: a Porter stem keeps all
        # but at most the last letter of the word it comes from ("happi" of "happy").
        starts = sorted({t[: max(2, len(t) - 1)] for t in stems}, key=len, reverse=True)
        candidate = re.compile(r"\b(?:" + "|".join(map(re.escape, starts)) + r")\w*")
        out: dict[str, float] = {}
        for chunk_id, text in self._db().execute(sql, ids):
            found = candidate.findall(fold_diacritics(text.lower()))
            tf = Counter(STEM.stemWords(found))
            out[str(chunk_id)] = sum(
                idf[t] * tf[t] * (K1 + 1) / (tf[t] + K1) for t in stems if tf[t]
            )
        return out

    def nodes(self, chunk_ids: Sequence[str]) -> dict[str, BaseNode]:
        """The chunks held here among `chunk_ids` (an id missing is not live)."""
        out: dict[str, BaseNode] = {}
        ids = list(dict.fromkeys(chunk_ids))
        for start in range(0, len(ids), 500):  # SQLite's bound on parameters per query
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            sql = f"SELECT chunk_id, node FROM chunks WHERE chunk_id IN ({marks})"
            rows = self._db().execute(sql, part)
            out.update((str(i), _node(data)) for i, data in rows)
        return out

    def document_nodes(self, doc_id: str) -> list[BaseNode]:
        """One document's chunks, in order."""
        rows = self._db().execute(
            "SELECT node FROM chunks WHERE doc_id=? ORDER BY chunk_index", (doc_id,)
        )
        return [_node(data) for (data,) in rows]

    def all_nodes(self) -> list[BaseNode]:
        """Every chunk, by document then position (reads them all: not for questions)."""
        rows = self._db().execute("SELECT node FROM chunks ORDER BY doc_id, chunk_index")
        return [_node(data) for (data,) in rows]

    def empty(self) -> bool:
        """Whether no chunk is held."""
        return self._db().execute("SELECT 1 FROM chunks LIMIT 1").fetchone() is None
