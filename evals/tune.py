"""`python -m evals.tune`: how the reader's weights and refusal threshold were chosen (dev only).

For every dev question of each corpus (each in its own eval index, as `make eval` builds
them) the reader's candidates and their features are computed once. `--search` then
changes one weight at a time (coordinate ascent over a few multiples) and keeps a change
when answer accuracy + refusal accuracy, pooled over the corpora at the best threshold,
goes up. The table shows, for each threshold, answer accuracy (right short answer, over
answerable questions), unanswerable questions refused, and refusal accuracy over all.
`WEIGHTS` and `MIN_SCORE` in rag/answer/reader.py are set from its output. `--cv` checks
whether searching would generalise: it searches on three quarters of the dev questions
and scores the fourth, against the current weights (it did not, 2026-12-02: the weights
were left as they were). Test questions are never read.
"""

import argparse
import os
import random
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from evals.corpora import get_corpus
from evals.normalize import any_match
from evals.questions import load_questions
from rag.answer import reader as reader_module
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


@dataclass
class Scored:
    """One dev question's candidates: features and whether each one's text is right."""

    corpus: str
    answerable: bool
    candidates: list[tuple[dict[str, float], bool]]

    def outcome(self, weights: dict[str, float]) -> Outcome:
        if not self.candidates:
            return Outcome(self.corpus, self.answerable, None, False)
        scored = [(sum(weights[k] * v for k, v in f.items()), ok) for f, ok in self.candidates]
        best, ok = max(scored, key=lambda x: x[0])
        return Outcome(self.corpus, self.answerable, best, ok)


def collect(corpus_name: str, data_dir: str) -> list[Scored]:
    """The candidates of every dev question of a corpus."""
    service = RagService(load_settings(data_dir=data_dir))
    corpus = get_corpus(corpus_name)
    corpus.ingest(service)
    reader = service.extractive
    assert isinstance(reader, reader_module.Reader)
    out = []
    for q in load_questions(corpus.questions):
        if q.split != "dev":
            continue
        ranked = reader.candidates(q.question, service.retrieve(q.question))
        cands = [(c.features, any_match(list(q.answers), c.text) is not None) for c in ranked]
        out.append(Scored(corpus_name, q.answerable, cands if q.answerable else
                          [(f, False) for f, _ in cands]))  # fmt: skip
    return out


def objective(data: list[Scored], weights: dict[str, float]) -> tuple[float, float]:
    """Best answer accuracy + refusal accuracy over thresholds, and that threshold."""
    results = [d.outcome(weights) for d in data]
    thresholds = sorted({r.score for r in results if r.score is not None})
    best = (-1.0, 0.0)
    for t in thresholds:
        row = sweep(results, [t])[0]
        value = row["answer"] + row["refusal"]
        if value > best[0]:
            best = (value, t)
    return best


def search(data: list[Scored], rounds: int = 3) -> dict[str, float]:
    """Coordinate ascent on the weights from the current ones."""
    weights = dict(reader_module.WEIGHTS)
    value, _ = objective(data, weights)
    for _ in range(rounds):
        improved = False
        for name in weights:
            for factor in (0.0, 0.5, 0.75, 1.33, 2.0, 3.0):
                trial = dict(weights, **{name: weights[name] * factor})
                if factor == 0.0 and name == "sentence":
                    continue
                v, _ = objective(data, trial)
                if v > value + 1e-9:
                    value, weights, improved = v, trial, True
        if not improved:
            break
    return weights


def cross_validate(data: list[Scored], folds: int = 4, seed: int = 0) -> list[tuple[float, float]]:
    """Whether a weight search generalises: for each fold of the dev questions, the
    weights are searched and the threshold chosen on the other folds, then answer +
    refusal accuracy on the fold is compared with that of the current weights at the
    current `MIN_SCORE`. Returns (current, searched) per fold."""
    order = list(range(len(data)))
    random.Random(seed).shuffle(order)
    out = []
    for k in range(folds):
        held = set(order[k::folds])
        train = [d for i, d in enumerate(data) if i not in held]
        test = [d for i, d in enumerate(data) if i in held]
        weights = search(train)
        _, threshold = objective(train, weights)

        def value(w: dict[str, float], t: float, sub: list[Scored] = test) -> float:
            row = sweep([d.outcome(w) for d in sub], [t])[0]
            return row["answer"] + row["refusal"]

        out.append((value(reader_module.WEIGHTS, reader_module.MIN_SCORE),
                    value(weights, threshold)))  # fmt: skip
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
    parser.add_argument("--search", action="store_true", help="search the weights too")
    parser.add_argument("--cv", action="store_true",
                        help="cross-validate the weight search over the dev questions")  # fmt: skip
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    data: list[Scored] = []
    for name in args.corpus or list(INDEXES):
        data += collect(name, INDEXES[name])
    weights = dict(reader_module.WEIGHTS)
    if args.cv:
        folds = cross_validate(data)
        for k, (current, searched) in enumerate(folds):
            print(f"fold {k}: current weights {current:.3f}, searched {searched:.3f}")
        means = [sum(f[i] for f in folds) / len(folds) for i in (0, 1)]
        print(f"mean: current {means[0]:.3f}, searched {means[1]:.3f}")
    if args.search:
        weights = search(data)
        value, threshold = objective(data, weights)
        print(f"weights {weights}\nobjective {value:.3f} at threshold {threshold:.3f}")
    results = [d.outcome(weights) for d in data]
    thresholds = [round(0.5 + 0.1 * i, 2) for i in range(36)]
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
