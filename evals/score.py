"""Score answers against the gold, deterministically, and summarise by kind.

Answer accuracy and citation metrics are over answerable questions; refusal accuracy
over all questions; retrieval metrics use the first passage from a gold source document,
over the answerable questions that name their sources.
"""

from collections.abc import Sequence
from typing import Any

from evals.normalize import any_match
from evals.questions import KINDS, SPLITS, Question
from rag.public import citation_dict
from rag.schema import Answer


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def score_question(q: Question, answer: Answer) -> dict[str, Any]:
    """The per-question record of results.json."""
    golds = list(q.answers)
    rank = next((i for i, p in enumerate(answer.passages, start=1) if p.doc_id in q.sources), None)
    # A citation counts only when its quote, the exact span shown to the reader, states
    # the answer: the chunk around it holding the answer is not enough.
    cited_quotes = [c.quote for c in answer.citations]
    cited_hits = [any_match(golds, quote) is not None for quote in cited_quotes]
    # An answer that names its short answer (the reader's `answer_start`/`answer_end`) is
    # judged on it alone: the quoted sentence after it holds other values too.
    shorts = [
        c.quote[c.answer_start - c.char_start : c.answer_end - c.char_start]
        for c in answer.citations
        if c.answer_start is not None and c.answer_end is not None
    ]
    judged = " ; ".join(shorts) if shorts else answer.answer
    matched = any_match(golds, judged) if answer.answerable else None
    record: dict[str, Any] = {
        "id": q.id,
        "kind": q.kind,
        "split": q.split,
        "question": q.question,
        "gold": golds,
        "answer": answer.answer,
        "answerable": answer.answerable,
        "correct": q.answerable and matched is not None,
        # Answered correctly, and a cited passage holds an accepted answer.
        "cited_correct": q.answerable and matched is not None and any(cited_hits),
        "citation_hits": sum(cited_hits),
        "citation_count": len(cited_quotes),
        "refused_correctly": answer.answerable == q.answerable,
        "hit": rank is not None if q.sources else None,  # unmeasured without gold sources
        "rank": rank,
        "answer_in_passages": any(any_match(golds, p.text) for p in answer.passages),
        "matched": matched,
        "citations": [citation_dict(c) for c in answer.citations],
        "latency_ms": dict(answer.timings_ms),
        "fallback": answer.fallback,
        "confidence": answer.confidence,
    }
    record["diagnosis"] = diagnose(record)
    return record


DIAGNOSES = ("retrieval miss", "answer-selection miss", "refusal error", "citation miss")


def passed(record: dict[str, Any]) -> bool:
    """A question passes when answered correctly with a correct citation, or rightly refused."""
    if record["kind"] == "unanswerable":
        return bool(record["refused_correctly"])
    return bool(record["correct"] and record["cited_correct"])


def diagnose(record: dict[str, Any]) -> str | None:
    """Which step failed (one of `DIAGNOSES`), or None for a passing question.

    Retrieval miss: no retrieved passage holds an accepted answer. Refusal error: an
    unanswerable question answered, or an answerable one refused although a passage held
    the answer. Answer-selection miss: answered, wrongly, from passages holding the answer.
    Citation miss: right answer, but no cited passage holds it.
    """
    if passed(record):
        return None
    if record["kind"] == "unanswerable":
        return "refusal error"
    if not record["answer_in_passages"]:
        return "retrieval miss"
    if not record["answerable"]:
        return "refusal error"
    return "answer-selection miss" if not record["correct"] else "citation miss"


# Bands of an answer's `confidence` for the calibration table: of the answers given with a
# confidence in a band, the share that were right (an unanswerable question answered is
# wrong).
BANDS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0))


def band_of(confidence: float) -> int:
    """The index in `BANDS` of a confidence (1.0 falls in the last band)."""
    return min(int(confidence * len(BANDS)), len(BANDS) - 1)


def calibration(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per confidence band: answers given, and the share of them that were right."""
    out = []
    for i, (lo, hi) in enumerate(BANDS):
        inside = [r for r in records if r["answerable"] and r.get("confidence") is not None
                  and band_of(r["confidence"]) == i]  # fmt: skip
        out.append({"band": f"{lo:.1f}-{hi:.1f}", "answers": len(inside),
                    "right": _ratio(sum(r["correct"] for r in inside), len(inside))})  # fmt: skip
    return out


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Summary metrics for a list of per-question records (see evals/README.md)."""
    answerable = [r for r in records if r["kind"] != "unanswerable"]
    sourced = [r for r in answerable if r["hit"] is not None]
    cites = sum(r["citation_count"] for r in answerable)
    totals = [float(r["latency_ms"].get("total", 0.0)) for r in records]
    firsts = [
        float(r["latency_ms"]["first_token"]) for r in records if "first_token" in r["latency_ms"]
    ]
    return {
        "n": len(records),
        "answer_accuracy": _ratio(sum(r["correct"] for r in answerable), len(answerable)),
        "cited_accuracy": _ratio(sum(r["cited_correct"] for r in answerable), len(answerable)),
        "citation_precision": _ratio(sum(r["citation_hits"] for r in answerable), cites),
        "refusal_accuracy": _ratio(sum(r["refused_correctly"] for r in records), len(records)),
        "unanswerable_refused": _ratio(
            sum(r["refused_correctly"] for r in records if r["kind"] == "unanswerable"),
            sum(r["kind"] == "unanswerable" for r in records),
        ),
        "hit_at_k": _ratio(sum(r["hit"] for r in sourced), len(sourced)),
        "mrr": round(sum(1 / r["rank"] for r in sourced if r["rank"]) / len(sourced), 4)
        if sourced
        else None,
        "answer_in_passages": _ratio(
            sum(r["answer_in_passages"] for r in answerable), len(answerable)
        ),
        "fallbacks": sum(1 for r in records if r.get("fallback")),
        "calibration": calibration(records),
        "failures": {d: n for d in DIAGNOSES if (n := sum(r["diagnosis"] == d for r in records))},
        "latency_ms": {
            "p50": round(percentile(totals, 50), 1),
            "p95": round(percentile(totals, 95), 1),
            "first_token_p50": round(percentile(firsts, 50), 1) if firsts else None,
            "first_token_p95": round(percentile(firsts, 95), 1) if firsts else None,
        },
    }


def summary_with_kinds(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The overall summary plus the same keys for each kind present."""
    summary = summarise(records)
    summary["by_kind"] = {
        kind: summarise([r for r in records if r["kind"] == kind])
        for kind in KINDS
        if any(r["kind"] == kind for r in records)
    }
    return summary


def summary_with_splits(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The summary by kind of all records, plus one for each split present."""
    summary = summary_with_kinds(records)
    summary["by_split"] = {
        split: summary_with_kinds([r for r in records if r.get("split") == split])
        for split in SPLITS
        if any(r.get("split") == split for r in records)
    }
    return summary
