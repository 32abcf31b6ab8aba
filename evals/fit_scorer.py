"""`python -m evals.fit_scorer`: fit the reader's scorer on the dev questions (dev only).

For every dev question of each corpus (each in its own eval index, as `make eval` builds
them) the reader's candidates and their `FEATURES` are computed once; a candidate is right
when its text is an accepted answer (`evals.normalize.any_match`, as the eval judges it).
A logistic regression (scikit-learn) is fitted on all candidates, so its probability is
how often a candidate scored so is right; its regularisation is chosen by 5-fold
cross-validation grouped by question. The refusal threshold is then the probability that
maximises answer accuracy + refusal accuracy over the dev questions (`objective`). The
table shows the cross-validated figures (each question scored by a scorer that never saw
it) and how well the confidence is calibrated. `--write` stores weights and threshold in
rag/answer/model/scorer.json. Test questions are never read.
"""

import argparse
import json
import os
import random
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from evals.corpora import get_corpus
from evals.normalize import any_match
from evals.questions import load_questions
from evals.score import calibration as score_calibration
from rag.answer.reader import FEATURES, MODEL_DIR, WINDOWS, Reader, Scorer, passage_annotations
from rag.config import load_settings
from rag.service import RagService

INDEXES = {"seeds": ".cache/eval-index", "bbc": ".cache/eval-index-bbc"}
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
FOLDS = 5


@dataclass
class Scored:
    """One dev question's candidates: feature rows and whether each one's text is right."""

    corpus: str
    qid: str
    answerable: bool
    rows: list[list[float]]
    right: list[bool]


def collect(corpus_name: str, data_dir: str, windows: int = WINDOWS) -> list[Scored]:
    """The candidates of every dev question of a corpus, the reader reading `windows`
    windows per question."""
    service = RagService(load_settings(data_dir=data_dir))
    corpus = get_corpus(corpus_name)
    corpus.ingest(service)
    # The features do not depend on the scorer: a neutral one, so that fitting needs no
    # scorer.json (nor uses the one committed).
    neutral = Scorer(dict.fromkeys(FEATURES, 0.0), 0.0, 0.0)
    reader = Reader(
        passage_annotations(service.store.get_annotations), scorer=lambda: neutral, windows=windows
    )
    out = []
    for q in load_questions(corpus.questions):
        if q.split != "dev":
            continue
        ranked = reader.candidates(q.question, service.retrieve(q.question))
        right = [q.answerable and any_match(list(q.answers), c.text) is not None for c in ranked]
        rows = [[c.features[name] for name in FEATURES] for c in ranked]
        out.append(Scored(corpus_name, q.id, q.answerable, rows, right))
    return out


class Fitted:
    """A logistic regression on standardised features, kept in the raw features' scale."""

    def __init__(self, data: list[Scored], c: float) -> None:
        import numpy as np
        from sklearn.linear_model import LogisticRegression

        x = np.array([r for d in data for r in d.rows], dtype=float)
        y = np.array([ok for d in data for ok in d.right], dtype=int)
        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale[scale == 0] = 1.0
        model = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, y)
        w = model.coef_[0] / scale
        self.weights = dict(zip(FEATURES, (float(v) for v in w), strict=True))
        self.bias = float(model.intercept_[0] - (w * mean).sum())

    def best(self, d: Scored) -> tuple[float | None, bool]:
        """A question's best candidate's probability (by the reader's own `Scorer`) and
        whether it is right."""
        if not d.rows:
            return None, False
        scorer = Scorer(self.weights, self.bias, threshold=0.0)
        scores = [scorer(dict(zip(FEATURES, r, strict=True))) for r in d.rows]
        i = max(range(len(scores)), key=scores.__getitem__)
        return scores[i], d.right[i]


Outcome = tuple[bool, float | None, bool]  # answerable, best probability, best is right


def rates(outcomes: list[Outcome], threshold: float) -> dict[str, float]:
    """Answer accuracy, unanswerable refused and refusal accuracy at a threshold."""
    answerable = [o for o in outcomes if o[0]]
    unanswerable = [o for o in outcomes if not o[0]]

    def answered(o: Outcome) -> bool:
        return o[1] is not None and o[1] >= threshold

    return {
        "answer": sum(o[2] and answered(o) for o in answerable) / max(len(answerable), 1),
        "unanswerable": sum(not answered(o) for o in unanswerable) / max(len(unanswerable), 1),
        "refusal": sum(answered(o) == o[0] for o in outcomes) / max(len(outcomes), 1),
    }


THRESHOLDS = [round(0.02 * i, 2) for i in range(50)]


def objective(outcomes: list[Outcome], threshold: float) -> float:
    """Answer accuracy + refusal accuracy (over all questions). Weighing unanswerable
    questions refused alike with answer accuracy instead was tried on dev (2026-12-08): it
    moved the threshold from 0.16 to 0.58 and cost a quarter of the right answers (0.80 →
    0.60) for 0.38 → 0.84 refused; the page and CLI mark answers under 0.5 as unsure."""
    r = rates(outcomes, threshold)
    return r["answer"] + r["refusal"]


def choose_threshold(outcomes: list[Outcome]) -> float:
    """The threshold maximising `objective` (the lowest on ties)."""
    return max(THRESHOLDS, key=lambda t: (objective(outcomes, t), -t))


def folds(data: list[Scored], k: int = FOLDS, seed: int = 0) -> list[list[int]]:
    order = list(range(len(data)))
    random.Random(seed).shuffle(order)
    return [order[i::k] for i in range(k)]


def cross_validated(data: list[Scored], c: float) -> list[Outcome]:
    """Each question's outcome under a scorer fitted on the other folds."""
    out: list[Outcome] = [(d.answerable, None, False) for d in data]
    for held in folds(data):
        held_set = set(held)
        fitted = Fitted([d for i, d in enumerate(data) if i not in held_set], c)
        for i in held:
            out[i] = (data[i].answerable, *fitted.best(data[i]))
    return out


def calibration(outcomes: list[Outcome], threshold: float) -> list[dict[str, Any]]:
    """`evals.score.calibration` of the questions' outcomes at `threshold`: per confidence
    band, answers given and the share of them that were right, as `rag eval` reports it."""
    records = [
        {"answerable": p is not None and p >= threshold, "confidence": p, "correct": ok and right}
        for ok, p, right in outcomes
    ]
    return score_calibration(records)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--corpus", action="append", help="seeds, bbc (default both)")
    parser.add_argument("--write", action="store_true", help="write rag/answer/model/scorer.json")
    parser.add_argument("--out", type=Path, default=MODEL_DIR / "scorer.json")
    parser.add_argument(
        "--windows", type=int, default=WINDOWS, help="windows read per question (to compare)"
    )
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    names = args.corpus or list(INDEXES)
    data: list[Scored] = []
    for name in names:
        data += collect(name, INDEXES[name], args.windows)
    console = Console()

    by_c = {c: cross_validated(data, c) for c in C_GRID}
    c_best = max(C_GRID, key=lambda c: (objective(by_c[c], choose_threshold(by_c[c])), -c))
    cv = by_c[c_best]
    fitted = Fitted(data, c_best)
    threshold = choose_threshold([(d.answerable, *fitted.best(d)) for d in data])
    table = Table(title=f"dev split, {len(data)} questions ({', '.join(names)}); "
                        f"5-fold cross-validated by question")  # fmt: skip
    for column in ("C", "threshold", "answer acc", "unanswerable refused", "refusal acc"):
        table.add_column(column, justify="right")
    for c in C_GRID:
        t = choose_threshold(by_c[c])
        r = rates(by_c[c], t)
        mark = " ←" if c == c_best else ""
        table.add_row(f"{c}{mark}", f"{t:.2f}", f"{r['answer']:.3f}",
                      f"{r['unanswerable']:.3f}", f"{r['refusal']:.3f}")  # fmt: skip
    console.print(table)
    for corpus in names:
        part = [o for o, d in zip(cv, data, strict=True) if d.corpus == corpus]
        r = rates(part, threshold)
        console.print(
            f"{corpus}: cross-validated at threshold {threshold:.2f}: answer "
            f"{r['answer']:.3f}, unanswerable refused {r['unanswerable']:.3f}"
        )
    cal = Table(title="calibration (cross-validated): answers by confidence")
    for column in ("confidence", "answers", "right"):
        cal.add_column(column, justify="right")
    for band in calibration(cv, threshold):
        right = band["right"]
        cal.add_row(band["band"], str(band["answers"]), "–" if right is None else f"{right:.2f}")
    console.print(cal)
    record: dict[str, Any] = {
        "features": list(FEATURES),
        "weights": fitted.weights,
        "bias": fitted.bias,
        "threshold": threshold,
        "fitted": {
            "by": "python -m evals.fit_scorer",
            "date": date.today().isoformat(),
            "corpora": names,
            "questions": len(data),
            "candidates": sum(len(d.rows) for d in data),
            "C": c_best,
            "windows": args.windows,
        },
    }
    console.print_json(json.dumps(record))
    if args.write:
        args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
