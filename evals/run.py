"""`rag eval`: answer every question of a file, score, and write results.json and report.md.

The index in RAG_DATA_DIR is used as it is, after ingesting RAG_SEEDS_DIR if the index is
empty or stale. One unscored warm-up question is asked first, so latencies are those of
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

from evals.questions import Question, load_questions
from evals.report import changes, markdown, table
from evals.score import score_question, summary_with_kinds
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
) -> dict[str, Any]:
    """Answer and score every question; returns the results.json object."""
    folder = service.settings.seeds_dir
    if service.needs_ingest(folder):
        service.ingest_folder(folder)
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
    return {"run": run, "summary": summary_with_kinds(records), "questions": records}


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


def main(
    service: RagService,
    *,
    questions_file: Path,
    out: Path,
    generator: str | None,
    top_k: int | None,
    baseline_file: Path | None,
    min_accuracy: float | None,
    judge: bool = False,
) -> int:
    """Run the eval, print the table, write the reports; 1 if accuracy is under the floor."""
    if min_accuracy is not None and not 0 <= min_accuracy <= 1:
        raise InvalidInput("--min-accuracy must be between 0 and 1")
    questions = load_questions(questions_file)
    baseline = load_baseline(baseline_file)
    started = time.perf_counter()
    results = run_questions(service, questions, generator_name=generator, top_k=top_k)
    if judge:
        from evals.judge import judge_results

        results["judge"] = judge_results(service.settings, results["questions"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (out / "report.md").write_text(markdown(results, baseline), encoding="utf-8")
    console = Console()
    if not console.is_terminal:
        console = Console(width=130)  # a log or CI: the full table, not 80 columns
    title = f"{len(questions)} questions, generator {results['run']['generator']}"
    console.print(table(results["summary"], title))
    if baseline is not None:
        newly_fail, newly_pass = changes(results["questions"], baseline)
        console.print(f"since the baseline: newly failing {', '.join(newly_fail) or 'none'}; "
                      f"newly passing {', '.join(newly_pass) or 'none'}")  # fmt: skip
    console.print(f"wrote {out / 'results.json'} and {out / 'report.md'} "
                  f"in {time.perf_counter() - started:.1f} s")  # fmt: skip
    accuracy = results["summary"]["answer_accuracy"]
    if min_accuracy is not None and (accuracy is None or accuracy < min_accuracy):
        console.print(f"answer_accuracy {accuracy} is below --min-accuracy {min_accuracy}")
        return 1
    return 0
