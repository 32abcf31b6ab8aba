"""`rag eval`: answer every question of a file, score, and write results.json and report.md.

The index in RAG_DATA_DIR is used as it is, after putting the corpus's articles in it
(unchanged articles cost one lookup each). `--split` picks the dev or test questions;
without `--baseline`, the previous results.json in the output folder is the baseline.
One unscored warm-up question is asked first, so latencies are those of
a running service, not of loading models. The optional LLM judge runs only with `--judge`
and a configured OpenAI-compatible model; it never changes the deterministic scores.
Left out: repeated runs and confidence intervals (one pass, wall-clock on this machine).
"""

import json
import platform
import subprocess
import time
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import track

from evals.corpora import Corpus, get_corpus
from evals.questions import Question, load_questions
from evals.report import changes, markdown, table
from evals.score import score_question, summary_with_splits
from rag.errors import InvalidInput
from rag.service import RagService

DEFAULT_OUT = Path("evals/runs/latest")
WARM_UP = "What happened at the border?"
PACKAGES = ("llama-index-core", "chromadb", "onnxruntime", "openai", "tiktoken")


def _git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10, check=False)  # fmt: skip
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def _versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def run_questions(
    service: RagService,
    questions: list[Question],
    *,
    generator_name: str | None = None,
    top_k: int | None = None,
    progress: bool = True,
    corpus: Corpus | None = None,
) -> dict[str, Any]:
    """Answer and score every question; returns the results.json object."""
    corpus = corpus or get_corpus("seeds")
    corpus.ingest(service)
    generator = service.make_generator(generator_name or service.settings.generator)
    generator.check()
    # One unscored question first, so loading models is not timed as a question's latency.
    service.ask(WARM_UP, top_k=top_k, generator=generator)
    records = []
    items = track(questions, description="Evaluating", transient=True) if progress else questions
    for q in items:
        # Streamed, to time the first piece of text as a user would see it.
        started = time.perf_counter()
        first: float | None = None
        answer = None
        try:
            events = service.ask_stream(q.question, top_k=top_k, generator=generator)
        except InvalidInput as exc:  # e.g. a question over RAG_MAX_QUESTION_TOKENS
            raise InvalidInput(f"question {q.id!r}: {exc}") from exc
        for event in events:
            if event.kind == "token" and first is None:
                first = time.perf_counter()
            elif event.kind == "done":
                answer = event.answer
        assert answer is not None  # ask_stream always ends with `done`
        record = score_question(q, answer)
        if first is not None:
            record["latency_ms"]["first_token"] = round((first - started) * 1000, 2)
        records.append(record)
    settings = service.settings
    run = {
        "corpus": corpus.name,
        "generator": generator.name,
        "embedder": service.embedder.name,
        "top_k": top_k or settings.top_k,
        "chunk_size": settings.chunk_size,
        "chunk_overlap": settings.chunk_overlap,
        "git_sha": _git_sha(),
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.system()}",
        "versions": _versions(),
    }
    return {"run": run, "summary": summary_with_splits(records), "questions": records}


def load_baseline(path: Path | None) -> dict[str, Any] | None:
    """A previous results.json, or None."""
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"cannot read baseline {path}: {exc}") from exc
    if not isinstance(data, dict) or "questions" not in data:
        raise InvalidInput(f"{path} is not a results.json written by `rag eval`")
    return data


# The floors `--min-*` can set, by the summary key they apply to.
FLOOR_KEYS = ("answer_accuracy", "cited_accuracy", "refusal_accuracy", "unanswerable_refused")


def main(
    service: RagService,
    *,
    questions_file: Path | None,
    out: Path,
    generator: str | None,
    top_k: int | None,
    baseline_file: Path | None,
    min_accuracy: float | None,
    judge: bool = False,
    corpus: str = "seeds",
    split: str | None = None,
    floors: dict[str, float] | None = None,
) -> int:
    """Run the eval, print the tables, write the reports; 1 if a score is under its floor."""
    floors = dict(floors or {})
    if min_accuracy is not None:
        floors["answer_accuracy"] = min_accuracy
    for key, value in floors.items():
        if key not in FLOOR_KEYS:
            raise InvalidInput(f"no floor for {key!r}; floors exist for {', '.join(FLOOR_KEYS)}")
        if not 0 <= value <= 1:
            raise InvalidInput(f"the floor for {key} must be between 0 and 1")
    chosen = get_corpus(corpus)
    questions = load_questions(questions_file or chosen.questions)
    if split is not None:
        questions = [q for q in questions if q.split == split]
        if not questions:
            raise InvalidInput(f"no {split!r} questions in {questions_file or chosen.questions}")
    if baseline_file is None and (out / "results.json").exists():
        baseline_file = out / "results.json"  # the previous run in the same folder
    baseline = load_baseline(baseline_file)
    started = time.perf_counter()
    results = run_questions(
        service, questions, generator_name=generator, top_k=top_k, corpus=chosen
    )
    results["run"]["split"] = split or "all"
    if judge:
        from evals.judge import judge_results

        results["judge"] = judge_results(service.settings, results["questions"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (out / "report.md").write_text(markdown(results, baseline), encoding="utf-8")
    console = Console()
    if not console.is_terminal:
        console = Console(width=130)  # a log or CI: the full table, not 80 columns
    generator_name = results["run"]["generator"]
    for name, part in results["summary"]["by_split"].items():
        title = f"{corpus}, {name} split: {part['n']} questions, generator {generator_name}"
        console.print(table(part, title))
    if len(results["summary"]["by_split"]) > 1:
        title = f"{corpus}, all: {len(questions)} questions, generator {generator_name}"
        console.print(table(results["summary"], title))
    if baseline is not None:
        newly_fail, newly_pass = changes(results["questions"], baseline)
        console.print(f"since the baseline: newly failing {', '.join(newly_fail) or 'none'}; "
                      f"newly passing {', '.join(newly_pass) or 'none'}")  # fmt: skip
    console.print(f"wrote {out / 'results.json'} and {out / 'report.md'} "
                  f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    below = [
        f"{key} {results['summary'].get(key)} is below its floor {floor}"
        for key, floor in floors.items()
        if (results["summary"].get(key) or 0.0) < floor
    ]
    for line in below:
        console.print(line)
    return 1 if below else 0
