"""`python -m evals.tune`: how the reader's refusal threshold was chosen, on the dev split only.

For every dev question of each corpus (each in its own eval index, as `make eval` builds
them) the reader's best candidate is computed once; then, for each threshold, a question
is answered when its best score reaches it. The table shows answer accuracy (right short
answer, over answerable questions), the share of unanswerable questions refused, and
refusal accuracy over all, pooled across corpora. `MIN_SCORE` in rag/reader.py is the
threshold with the best answer accuracy + refusal accuracy. Test questions are never read.
"""

import argparse
import os
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from evals.corpora import get_corpus
from evals.normalize import any_match
from evals.questions import load_questions
from rag import reader as reader_module
from rag.config import load_settings
from rag.service import RagService

INDEXES = {"seeds": ".cache/eval-index", "bbc": ".cache/eval-index-bbc"}


@dataclass
class Outcome:
    """One dev question: its best candidate's score and whether that answer is right."""

    corpus: str
    answerable: bool
    score: float | None  # None: no candidate at all
    correct: bool


def outcomes(corpus_name: str, data_dir: str) -> list[Outcome]:
    """Best score and correctness of every dev question of a corpus."""
    service = RagService(load_settings(data_dir=data_dir))
    corpus = get_corpus(corpus_name)
    corpus.ingest(service)
    reader = service.extractive
    assert isinstance(reader, reader_module.Reader)
    out = []
    for q in load_questions(corpus.questions):
        if q.split != "dev":
            continue
        passages = service.retrieve(q.question)
        ranked = reader.candidates(q.question, passages)
        saved = reader_module.MIN_SCORE
        reader_module.MIN_SCORE = float("-inf")  # the answer it would give at any threshold
        try:
            draft = reader.generate(q.question, passages)
        finally:
            reader_module.MIN_SCORE = saved
        short = draft.text.split(" — ")[0] if " — " in draft.text else draft.text
        correct = q.answerable and bool(ranked) and any_match(list(q.answers), short) is not None
        score = ranked[0].score if ranked else None
        out.append(Outcome(corpus_name, q.answerable, score, correct))
    return out


def sweep(results: list[Outcome], thresholds: list[float]) -> list[dict[str, float]]:
    """Answer accuracy, unanswerable refused and refusal accuracy at each threshold."""
    rows = []
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    for t in thresholds:

        def answered(r: Outcome, t: float = t) -> bool:
            return r.score is not None and r.score >= t

        right = sum(r.correct and answered(r) for r in answerable) / max(len(answerable), 1)
        refused = sum(not answered(r) for r in unanswerable) / max(len(unanswerable), 1)
        refusal = sum(answered(r) == r.answerable for r in results) / max(len(results), 1)
        rows.append({"threshold": t, "answer": right, "unanswerable": refused, "refusal": refusal})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", action="append", help="seeds, bbc (default both)")
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    results: list[Outcome] = []
    for name in args.corpus or list(INDEXES):
        results += outcomes(name, INDEXES[name])
    thresholds = [round(0.3 + 0.05 * i, 2) for i in range(25)]
    rows = sweep(results, thresholds)
    best = max(rows, key=lambda r: r["answer"] + r["refusal"])
    table = Table(title=f"dev split, {len(results)} questions; current MIN_SCORE "
                        f"{reader_module.MIN_SCORE}")  # fmt: skip
    for column in ("threshold", "answer acc", "unanswerable refused", "refusal acc"):
        table.add_column(column, justify="right")
    for r in rows:
        mark = " ←" if r is best else ""
        table.add_row(f"{r['threshold']:.2f}{mark}", f"{r['answer']:.2f}",
                      f"{r['unanswerable']:.2f}", f"{r['refusal']:.2f}")  # fmt: skip
    Console().print(table)


if __name__ == "__main__":
    main()
