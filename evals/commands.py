"""`rag eval`: the benchmark, a sub-command of `rag` (entry point `news_rag.commands`).

Registered through the entry point, so `rag.cli` never imports the evals package.
"""

import argparse
from pathlib import Path
from typing import Any

from rag.cli import make_service
from rag.config import Settings


def add_eval(sub: Any) -> None:
    """Add `eval` to the `rag` command's sub-parsers."""
    ev = sub.add_parser("eval", help="score answers to a question file (evals/README.md)")
    ev.add_argument(
        "--corpus",
        default="seeds",
        help="seeds (default), bbc or seeds-distracted (evals/README.md)",
    )
    ev.add_argument("--split", choices=("dev", "test"), help="only these questions (default all)")
    ev.add_argument("--questions", help="JSON Lines file (default: the corpus's question file)")
    ev.add_argument("--generator", help="extractive, openai or local (default: RAG_GENERATOR)")
    ev.add_argument("--top-k", type=int, default=None)
    ev.add_argument("--out", help="folder for results.json and report.md (evals/runs/latest)")
    ev.add_argument("--baseline", help="an earlier results.json to compare with")
    ev.add_argument("--min-accuracy", type=float, help="exit 1 if answer_accuracy is below")
    ev.add_argument("--min-cited-accuracy", type=float, help="exit 1 if cited_accuracy is below")
    ev.add_argument(
        "--min-refusal-accuracy", type=float, help="exit 1 if refusal_accuracy is below"
    )
    ev.add_argument(
        "--min-unanswerable-refused",
        type=float,
        help="exit 1 if the share of unanswerable questions refused is below",
    )
    ev.add_argument("--judge", action="store_true", help="add an LLM-judge faithfulness count")
    ev.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:

    from evals.run import DEFAULT_OUT
    from evals.run import main as run_eval

    floors = {
        key: value
        for key, value in (
            ("cited_accuracy", args.min_cited_accuracy),
            ("refusal_accuracy", args.min_refusal_accuracy),
            ("unanswerable_refused", args.min_unanswerable_refused),
        )
        if value is not None
    }
    return run_eval(
        make_service(settings),
        corpus=args.corpus,
        split=args.split,
        floors=floors,
        questions_file=Path(args.questions) if args.questions else None,
        out=Path(args.out) if args.out else DEFAULT_OUT,
        generator=args.generator,
        top_k=args.top_k,
        baseline_file=Path(args.baseline) if args.baseline else None,
        min_accuracy=args.min_accuracy,
        judge=args.judge,
    )
