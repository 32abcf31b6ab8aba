"""The eval's human-readable outputs: a terminal table and `report.md`."""

from typing import Any

from rich.table import Table

from evals.score import passed

COLUMNS = (
    ("n", "n"),
    ("answer_accuracy", "answer acc"),
    ("cited_accuracy", "cited acc"),
    ("citation_precision", "cite prec"),
    ("refusal_accuracy", "refusal acc"),
    ("unanswerable_refused", "unans refused"),
    ("hit_at_k", "hit@k"),
    ("mrr", "MRR"),
    ("p50", "p50 ms"),
    ("p95", "p95 ms"),
    ("first_token_p50", "TTFT p50"),
)


def _cell(summary: dict[str, Any], key: str) -> str:
    latency = key in summary["latency_ms"]
    value = summary["latency_ms"][key] if latency else summary.get(key)
    if value is None:
        return "–"
    return f"{value:.2f}" if isinstance(value, float) and not latency else str(value)


def rows(summary: dict[str, Any]) -> list[list[str]]:
    """One row per kind, then the overall row."""
    out = [[kind] + [_cell(s, k) for k, _ in COLUMNS] for kind, s in summary["by_kind"].items()]
    out.append(["all"] + [_cell(summary, k) for k, _ in COLUMNS])
    return out


def table(summary: dict[str, Any], title: str) -> Table:
    """The summary as a rich table for the terminal."""
    t = Table(title=title)
    t.add_column("kind")
    for _, label in COLUMNS:
        t.add_column(label, justify="right")
    for row in rows(summary):
        t.add_row(*row)
    return t


def changes(records: list[dict[str, Any]], baseline: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Ids that newly fail and newly pass compared with a baseline results.json."""
    before = {q["id"]: passed(q) for q in baseline.get("questions", [])}
    newly_fail = [r["id"] for r in records if before.get(r["id"]) is True and not passed(r)]
    newly_pass = [r["id"] for r in records if before.get(r["id"]) is False and passed(r)]
    return newly_fail, newly_pass


def markdown(results: dict[str, Any], baseline: dict[str, Any] | None) -> str:
    """report.md: the table, every failing question with its answer and gold, changes."""
    run, summary, records = results["run"], results["summary"], results["questions"]
    lines = [
        "# Eval report",
        "",
        f"corpus `{run.get('corpus', 'seeds')}`, split `{run.get('split', 'all')}`, "
        f"generator `{run['generator']}`, embedder `{run['embedder']}`, top_k {run['top_k']}, "
        f"chunks {run['chunk_size']}/{run['chunk_overlap']}, git `{run['git_sha']}`, "
        f"{run['timestamp']}",
    ]
    parts = dict(summary.get("by_split", {}))
    if len(parts) != 1:
        parts["all"] = summary
    for name, part in parts.items():
        lines += ["", f"### {name}", "", "| kind | " + " | ".join(lb for _, lb in COLUMNS) + " |",
                  "|---" * (len(COLUMNS) + 1) + "|"]  # fmt: skip
        lines += ["| " + " | ".join(row) + " |" for row in rows(part)]
    bands = [b for b in summary.get("calibration", []) if b["answers"]]
    if bands:
        lines += ["", "Calibration: of the answers given with a confidence in a band, the share "
                  "right.", "", "| confidence | answers | right |", "|---|---|---|"]  # fmt: skip
        lines += [f"| {b['band']} | {b['answers']} | {b['right']} |" for b in bands]
    judge = results.get("judge")
    if judge:
        lines += ["", f"LLM judge ({judge['model']}): {judge['supported']} of {judge['measured']} "
                  f"measured answers supported; {judge['unmeasured']} unmeasured."]  # fmt: skip
    if baseline is not None:
        newly_fail, newly_pass = changes(records, baseline)
        lines += ["", "## Changes since the baseline", ""]
        lines.append(f"- newly failing: {', '.join(newly_fail) or 'none'}")
        lines.append(f"- newly passing: {', '.join(newly_pass) or 'none'}")
        before = baseline.get("summary", {})
        for key in ("answer_accuracy", "cited_accuracy", "refusal_accuracy"):
            if key in before:
                lines.append(f"- {key}: {before[key]} → {summary[key]}")
    failing = [r for r in records if not passed(r)]
    lines += ["", f"## Failing questions ({len(failing)})", ""]
    if failing:
        counts = ", ".join(f"{d} {n}" for d, n in summary.get("failures", {}).items())
        lines += [f"By step: {counts}.", ""]
    for r in failing:
        why = [r.get("diagnosis") or "failed"]
        if r["kind"] == "unanswerable":
            why.append("answered instead of refusing")
        else:
            if not r["answerable"]:
                why.append("refused")
            elif not r["correct"]:
                why.append("wrong answer")
            if r["answerable"] and r["correct"] and not r["cited_correct"]:
                why.append("citation misses the answer")
            if r["hit"] is False:
                why.append("no passage from a gold source retrieved")
            elif not r["answer_in_passages"]:
                why.append("gold answer in no retrieved passage")
        lines += [
            f"### {r['id']} ({r['kind']}, {r.get('split', '-')}): {r['question']}",
            f"- why: {why[0]} ({'; '.join(why[1:])})",
            f"- answer: {r['answer']}",
            f"- gold: {', '.join(r['gold']) or '(refusal)'}",
            "",
        ]
    return "\n".join(lines) + "\n"
