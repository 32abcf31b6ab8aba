"""`make bench`: ingest and question latency on the seeds, printed as a table.

Everything runs in a temporary data folder; figures are wall-clock on this machine and
vary with load, which is why they are printed here and never asserted by tests.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from evals.score import percentile
from rag.config import load_settings
from rag.service import RagService

QUESTIONS = [
    "How long will the state of emergency in Tacna last?",
    "Who is Peru's interior minister?",
    "When was the border between Ecuador and Peru closed?",
    "How many military personnel were deployed in Tumbes?",
    "How far is Tumbes from Lima?",
    "Who is the governor of Arica and Parinacota?",
    "When will the new Chilean government take office?",
    "What is the capital of France?",
]


def bbc_chunk_texts(service: RagService) -> list[str]:
    """The texts of the BBC eval articles' chunks, cut as the service cuts them."""
    from evals.corpora import bbc_articles
    from rag.ingest.chunking import split_article

    size, overlap = service.settings.chunk_size, service.settings.chunk_overlap
    return [c.text for a in bbc_articles() for c in split_article(a, size, overlap)]


def ingest_vs_embedder(settings_dir: Path, embed_threads: int = 0) -> list[tuple[str, str]]:
    """Chunks per second of ingesting the BBC eval articles into an empty index
    (chunking, embedding, spaCy annotation, writes) next to the raw embedder on the same
    chunks in one call, in the same run; and ingest again into another empty index with
    the annotation left out, which shows what the rest of the pipeline costs.
    `embed_threads`: the embedder's threads (`RAG_EMBED_THREADS`; 0, every core)."""
    from unittest import mock

    from evals.corpora import bbc_articles
    from rag.ingest import pipeline
    from rag.nlp import Annotation, annotate

    service = RagService(
        load_settings(data_dir=settings_dir / "annotated", embed_threads=embed_threads)
    )
    articles = bbc_articles()
    texts = bbc_chunk_texts(service)
    service.embedder.embed_query("warm up")
    annotate("Warm up.")
    t0 = time.perf_counter()
    service.embedder.embed_documents(texts)
    raw = len(texts) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for article in articles:
        annotate(article.text)
    annotating = time.perf_counter() - t0

    def ingest(into: RagService) -> float:
        t0 = time.perf_counter()
        items = ((a.doc_id, a) for a in articles)
        for _ in pipeline.ingest_articles(items, into.store, into.embedder, into.settings):
            pass
        into.refresh_lexical()
        return len(texts) / (time.perf_counter() - t0)

    rate = ingest(service)
    bare = RagService(load_settings(data_dir=settings_dir / "bare"), embedder=service.embedder)
    nothing = Annotation((), (), ())
    with mock.patch.object(pipeline, "annotate_many", lambda ts: [nothing] * len(ts)):
        unannotated = ingest(bare)
    return [
        (f"raw embedder, {len(texts)} BBC chunks (chunks/s)", f"{raw:.1f}"),
        ("  spaCy annotation of their articles alone (s)", f"{annotating:.1f}"),
        (f"ingest of the same {len(articles)} articles (chunks/s)", f"{rate:.1f}"),
        ("  ingest / raw embedder", f"{rate / raw:.2f}"),
        ("  the same without spaCy annotation / raw embedder", f"{unannotated / raw:.2f}"),
    ]


def retrieval_vs_peer(data_dir: Path) -> list[tuple[str, str]]:
    """Our hybrid retriever next to a textbook llama-index `VectorStoreIndex` (dense only,
    same Chroma collection, same MiniLM embedder, same top k) on the answerable BBC eval
    questions (dev and test) over the BBC eval articles: how often a passage of a source
    article is retrieved, how often a retrieved passage holds an accepted answer, and p50."""
    from evals.bench_scale import textbook_retriever
    from evals.corpora import get_corpus
    from evals.normalize import any_match
    from evals.questions import load_questions

    service = RagService(load_settings(data_dir=data_dir))
    top_k = service.settings.top_k
    peer = textbook_retriever(service.store, top_k, service.embedder.embed_query)
    questions = [q for q in load_questions(get_corpus("bbc").questions) if q.answerable]

    def ours(text: str) -> list[tuple[str, str]]:
        return [(p.doc_id, p.text) for p in service.retrieve(text, top_k)]

    def textbook(text: str) -> list[tuple[str, str]]:
        hits = peer.retrieve(text)
        return [(str(h.node.ref_doc_id or h.node.metadata.get("doc_id")), h.node.get_content())
                for h in hits]  # fmt: skip

    rows = []
    for name, retrieve in (("hybrid (ours)", ours), ("llama-index VectorStoreIndex", textbook)):
        retrieve(questions[0].question)  # warm up
        found = held = 0
        times = []
        for q in questions:
            t0 = time.perf_counter()
            got = retrieve(q.question)
            times.append((time.perf_counter() - t0) * 1000)
            found += any(doc in q.sources for doc, _ in got)
            held += any(any_match(list(q.answers), text) is not None for _, text in got)
        n = len(questions)
        label = f"{name}: source hit@{top_k} / answer in passages / p50 ms (n={n})"
        rows.append((label, f"{found / n:.2f} / {held / n:.2f} / {percentile(times, 50):.1f}"))
    return rows


def embedder_batching(service: RagService) -> list[tuple[str, str]]:
    """Chunks per second of the bundled embedder over the BBC eval articles' chunks in one
    call, with batches of similar lengths (as it embeds) and in the order given."""
    from rag.index.embed import MiniLMEmbedder

    embedder = service.embedder
    if not isinstance(embedder, MiniLMEmbedder):
        return []
    texts = bbc_chunk_texts(service)
    rows = []
    for by_length in (False, True):
        t0 = time.perf_counter()
        embedder._embed(texts, by_length=by_length)
        rate = len(texts) / (time.perf_counter() - t0)
        how = "by length" if by_length else "as given"
        rows.append((f"embed {len(texts)} chunks, batches {how} (chunks/s)", f"{rate:.1f}"))
    return rows


def main() -> None:
    """Print ingest and ask timings for a folder of articles."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="seeds")
    parser.add_argument("--rounds", type=int, default=5, help="passes over the questions")
    args = parser.parse_args()
    table = Table(title="news-rag benchmark (ms unless noted)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp), seeds_dir=Path(args.seeds))
        service = RagService(settings)
        t0 = time.perf_counter()
        service.embedder.embed_query("warm up")
        table.add_row("embedder load", f"{(time.perf_counter() - t0) * 1000:.0f}")
        t0 = time.perf_counter()
        report = service.ingest_folder(settings.seeds_dir)
        ingest_ms = (time.perf_counter() - t0) * 1000
        table.add_row(
            f"ingest {len(report.created)} articles, {report.chunks_written} chunks",
            f"{ingest_ms:.0f}",
        )
        for doc in service.documents():
            table.add_row(f"  chunks in {doc.doc_id}", str(doc.chunk_count))
        for name, value in embedder_batching(service):
            table.add_row(name, value)
        for name, value in ingest_vs_embedder(Path(tmp) / "bbc"):
            table.add_row(name, value)
        for name, value in retrieval_vs_peer(Path(tmp) / "bbc" / "annotated"):
            table.add_row(name, value)
        cores = os.cpu_count() or 1
        if cores > 1:  # a core left to the entity recogniser: the embedder is kept busy
            table.add_row(f"with the embedder on {cores - 1} of {cores} cores:", "")
            for name, value in ingest_vs_embedder(Path(tmp) / "bbc-spare", cores - 1):
                table.add_row(f"  {name.strip()}", value)
        t0 = time.perf_counter()
        service.ingest_folder(settings.seeds_dir)
        table.add_row("re-ingest (all unchanged)", f"{(time.perf_counter() - t0) * 1000:.0f}")
        t0 = time.perf_counter()
        service.ask(QUESTIONS[0])
        table.add_row("first question (cold caches)", f"{(time.perf_counter() - t0) * 1000:.0f}")
        totals: list[float] = []
        retrieve: list[float] = []
        generate: list[float] = []
        for _ in range(args.rounds):
            for q in QUESTIONS:
                answer = service.ask(q)
                totals.append(answer.timings_ms["total"])
                retrieve.append(answer.timings_ms["retrieve"])
                generate.append(answer.timings_ms["generate"])
        for name, values in (("ask total", totals), ("  retrieve", retrieve),
                             ("  generate", generate)):  # fmt: skip
            table.add_row(
                f"{name} p50 / p95 (n={len(values)})",
                f"{percentile(values, 50):.1f} / {percentile(values, 95):.1f}",
            )
    Console().print(table)


if __name__ == "__main__":
    main()
