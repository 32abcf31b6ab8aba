"""The eval: question-file validation, scoring on hand-made answers, `rag eval` for real."""

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from conftest import ROOT, guarded_env

from evals.questions import DEFAULT_FILE, Question, load_questions
from evals.report import changes
from evals.run import run_questions
from evals.score import score_question, summary_with_kinds
from rag.errors import InvalidInput
from rag.schema import Answer, Citation, Passage
from rag.service import RagService

DOC = "003_35ea49adf01880a5"


def passage(text: str, doc_id: str = DOC) -> Passage:
    return Passage(
        chunk_id=f"{doc_id}:x:0",
        doc_id=doc_id,
        text=text,
        char_start=0,
        char_end=len(text),
        title="T",
        published=None,
        outlet=None,
        score=0.1,
    )


def citation(n: int, p: Passage) -> Citation:
    return Citation(
        n=n,
        chunk_id=p.chunk_id,
        doc_id=p.doc_id,
        title="T",
        published=date(2025, 1, 1),
        outlet=None,
        char_start=0,
        char_end=len(p.text),
        quote=p.text,
        score=0.1,
        supported=True,
    )


def answer(text: str, passages: list[Passage], cited: list[int], answerable: bool = True) -> Answer:
    return Answer(question="q", answer=text, answerable=answerable,
                  citations=[citation(n, passages[n - 1]) for n in cited], passages=passages,
                  retrieval_query="q", generator="fake",
                  timings_ms={"retrieve": 1.0, "generate": 2.0, "total": 3.0})  # fmt: skip


TACNA = Question("f1", "How long?", ("60 days",), "figure", (DOC,))
NONE = Question("u1", "Who won?", (), "unanswerable", ())


def test_the_bundled_question_set_meets_its_quotas() -> None:
    questions = load_questions(DEFAULT_FILE)
    kinds = [q.kind for q in questions]
    assert len(questions) >= 60
    assert kinds.count("date") >= 15 and kinds.count("actor") >= 15
    assert kinds.count("figure") >= 15 and kinds.count("unanswerable") >= 8
    seeds = {p.stem for p in (ROOT / "seeds").glob("*.txt")}
    assert all(set(q.sources) <= seeds for q in questions)
    assert any(len(q.sources) > 1 for q in questions)  # answers stated in two articles
    assert any({"Jerí", "Gehry"} <= set(q.answers) for q in questions)  # two spellings


def test_every_gold_answer_is_in_its_source_articles() -> None:
    from evals.normalize import any_match
    from rag.ingest.documents import load_article

    texts = {p.stem: load_article(p).text for p in (ROOT / "seeds").glob("*.txt")}
    for q in load_questions(DEFAULT_FILE):
        for source in q.sources:
            assert any_match(list(q.answers), texts[source]), (q.id, source)


def test_correct_and_cited() -> None:
    good = passage("The state of emergency will remain in effect for 60 days.")
    other = passage("Kast promised to expel 330,000 people.", "002_abd78341d81bbe1d")
    record = score_question(TACNA, answer("It lasts sixty days. [1] [2]", [good, other], [1, 2]))
    assert record["correct"] and record["cited_correct"] and record["refused_correctly"]
    assert record["matched"] == "60 days"
    assert (record["citation_hits"], record["citation_count"]) == (1, 2)
    assert record["hit"] and record["rank"] == 1 and record["answer_in_passages"]


def test_correct_text_but_wrong_citation_and_late_rank() -> None:
    other = passage("Kast promised to expel 330,000 people.", "002_abd78341d81bbe1d")
    good = passage("The state of emergency will remain in effect for 60 days.")
    record = score_question(TACNA, answer("It lasts 60 days. [1]", [other, good], [1]))
    assert record["correct"] and not record["cited_correct"]
    assert record["rank"] == 2


def test_refusals() -> None:
    good = passage("The state of emergency will remain in effect for 60 days.")
    refused = score_question(TACNA, answer("No.", [good], [], answerable=False))
    assert not refused["correct"] and not refused["refused_correctly"]
    right = score_question(NONE, answer("No.", [good], [], answerable=False))
    wrong = score_question(NONE, answer("Kast. [1]", [good], [1]))
    assert right["refused_correctly"] and not wrong["refused_correctly"]


def test_each_failure_is_put_down_to_one_step() -> None:
    good = passage("The state of emergency will remain in effect for 60 days.")
    other = passage("Kast promised to expel 330,000 people.", "002_abd78341d81bbe1d")
    cases = [
        (TACNA, answer("60 days. [1]", [good], [1]), None),
        (TACNA, answer("No.", [other], [], answerable=False), "retrieval miss"),
        (TACNA, answer("330,000. [1]", [other], [1]), "retrieval miss"),
        (TACNA, answer("No.", [good], [], answerable=False), "refusal error"),
        (TACNA, answer("330,000. [2]", [good, other], [2]), "answer-selection miss"),
        (TACNA, answer("60 days. [2]", [good, other], [2]), "citation miss"),
        (NONE, answer("Kast. [1]", [other], [1]), "refusal error"),
        (NONE, answer("No.", [other], [], answerable=False), None),
    ]
    records = [score_question(q, a) for q, a, _ in cases]
    assert [r["diagnosis"] for r in records] == [want for _, _, want in cases]
    assert summary_with_kinds(records)["failures"] == {
        "retrieval miss": 2, "answer-selection miss": 1, "refusal error": 2, "citation miss": 1,
    }  # fmt: skip


def test_a_citation_marker_is_not_an_answer() -> None:
    shifts = Question("f2", "In how many shifts?", ("three",), "figure", (DOC,))
    p = passage("They patrol in three shifts.")
    record = score_question(shifts, answer("They patrol in two shifts. [3]", [p, p, p], [3]))
    assert not record["correct"] and record["diagnosis"] == "answer-selection miss"


def test_retrieval_is_unmeasured_without_gold_sources() -> None:
    unsourced = Question("f3", "How long?", ("60 days",), "figure", ())
    good = passage("The state of emergency will remain in effect for 60 days.")
    records = [
        score_question(unsourced, answer("60 days [1]", [good], [1])),
        score_question(TACNA, answer("60 days [1]", [passage("x", "000_x"), good], [1])),
    ]
    assert records[0]["hit"] is None and records[0]["correct"]
    s = summary_with_kinds(records)
    assert s["hit_at_k"] == 1.0 and s["mrr"] == 0.5 and s["answer_accuracy"] == 1.0


def test_summary_by_kind() -> None:
    good = passage("The state of emergency will remain in effect for 60 days.")
    records = [
        score_question(TACNA, answer("60 days [1]", [good], [1])),
        score_question(TACNA, answer("90 days [1]", [good], [1])),
        score_question(NONE, answer("No.", [good], [], answerable=False)),
    ]
    s = summary_with_kinds(records)
    # The wrong answer cites the right passage: not counted as correctly cited.
    assert s["n"] == 3 and s["answer_accuracy"] == 0.5 and s["cited_accuracy"] == 0.5
    assert s["refusal_accuracy"] == 1.0 and s["hit_at_k"] == 1.0 and s["mrr"] == 1.0
    assert s["citation_precision"] == 1.0
    assert s["latency_ms"] == {
        "p50": 3.0,
        "p95": 3.0,
        "first_token_p50": None,  # these answers were not streamed
        "first_token_p95": None,
    }
    assert (
        s["by_kind"]["figure"]["n"] == 2 and s["by_kind"]["unanswerable"]["answer_accuracy"] is None
    )


def test_baseline_changes() -> None:
    passing = {"kind": "figure", "correct": True, "cited_correct": True}
    failing = {"kind": "figure", "correct": False, "cited_correct": False}
    before = {"questions": [{"id": "a", **passing}, {"id": "b", **failing}]}
    now = [{"id": "a", **failing}, {"id": "b", **passing}]
    assert changes(now, before) == (["a"], ["b"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ('{"id": "x", "question": "q?", "answers": ["a"], "kind": "date"}', "missing field"),
        ('{"id": "x", "question": "q?", "answers": ["a"], "kind": "opinion", "sources": [], "split": "dev"}',  # noqa: E501
         "kind 'opinion'"),
        ('{"id": "x", "question": "q?", "answers": [], "kind": "date", "sources": [], "split": "dev"}',  # noqa: E501
         "needs at least one answer"),
        ('{"id": "x", "question": "q?", "answers": ["a"], "kind": "unanswerable", "sources": [], "split": "dev"}',  # noqa: E501
         "empty answers"),
        ('{"id": "ok", "question": "q?", "answers": ["a"], "kind": "date", "sources": [], "split": "dev"}',  # noqa: E501
         "duplicate id"),
        ('{"id": " ", "question": "q?", "answers": ["a"], "kind": "date", "sources": [], "split": "dev"}',  # noqa: E501
         "the id is empty"),
        ('["a list"]', "expected a JSON object"),
        ('{"id": "x", "question": "q?", "answers": "a", "kind": "date", "sources": [], "split": "dev"}',  # noqa: E501
         "'answers' must be a list"),
        ('{"id": "x", "question": "q?", "answers": ["a"], "kind": "date", "sources": [], "split": "train"}',  # noqa: E501
         "split 'train' is not one of dev, test"),
    ],
)  # fmt: skip
def test_bad_question_files_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "q.jsonl"
    first = '{"id": "ok", "question": "q?", "answers": ["a"], "kind": "date", "sources": [], "split": "dev"}'  # noqa: E501
    path.write_text(first + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match=message):
        load_questions(path)


def test_a_users_file_needs_no_split(tmp_path: Path) -> None:
    path = tmp_path / "mine.jsonl"
    path.write_text('{"id": "m1", "question": "q?", "answers": ["a"], "kind": "date", '
                    '"sources": []}\n', encoding="utf-8")  # fmt: skip
    assert [(q.id, q.split) for q in load_questions(path)] == [("m1", "test")]


def test_a_byte_order_mark_is_not_an_error(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    line = '{"id": "ok", "question": "q?", "answers": ["a"], "kind": "date", "sources": [], "split": "dev"}'  # noqa: E501
    path.write_text(line + "\n", encoding="utf-8-sig")
    assert [q.id for q in load_questions(path)] == ["ok"]


def test_a_question_the_service_rejects_is_named(seeded_service: RagService) -> None:
    too_long = Question("long-1", "word " * 400, ("x",), "figure", (DOC,))
    with pytest.raises(InvalidInput, match="question 'long-1': the question is"):
        run_questions(seeded_service, [too_long], progress=False)


def rag_eval(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", "eval", *args], cwd=ROOT, capture_output=True,
        text=True, timeout=600, env=guarded_env(RAG_DATA_DIR=str(data)),
    )  # fmt: skip


def test_rag_eval_end_to_end(tmp_path: Path, seeded_copy: Path) -> None:
    subset = tmp_path / "subset.jsonl"
    lines = DEFAULT_FILE.read_text(encoding="utf-8").splitlines()
    picked = [ln for ln in lines if json.loads(ln)["id"] in
              {"figure-01", "actor-01", "date-01", "unans-05", "unans-08"}]  # fmt: skip
    subset.write_text("\n".join(picked) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    done = rag_eval("--questions", str(subset), "--out", str(out), data=seeded_copy)
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "results.json").read_text())
    assert set(results) >= {"run", "summary", "questions"}
    assert results["run"]["generator"] == "extractive" and results["run"]["top_k"] == 5
    summary = results["summary"]
    assert summary["n"] == 5 and set(summary["by_kind"]) == {"date", "actor", "figure",
                                                             "unanswerable"}  # fmt: skip
    for key in ("answer_accuracy", "cited_accuracy", "citation_precision", "refusal_accuracy",
                "hit_at_k", "mrr"):  # fmt: skip
        assert 0 <= summary[key] <= 1
    assert summary["answer_accuracy"] == 1.0  # these three are answered right (hand-checked)
    record = results["questions"][0]
    assert set(record) >= {"id", "kind", "question", "answer", "answerable", "correct",
                           "cited_correct", "refused_correctly", "hit", "rank", "citations",
                           "latency_ms", "matched", "diagnosis"}  # fmt: skip
    assert set(record["latency_ms"]) >= {"retrieve", "generate", "total"}
    report = (out / "report.md").read_text()
    assert "| all |" in report and "Failing questions" in report
    # Against itself as baseline nothing changes; an impossible floor fails the run.
    again = rag_eval("--questions", str(subset), "--out", str(tmp_path / "run2"),
                     "--baseline", str(out / "results.json"), "--min-accuracy", "1.01",
                     data=seeded_copy)  # fmt: skip
    assert again.returncode == 2 and "answer_accuracy must be between 0 and 1" in again.stderr
    floor = rag_eval("--questions", str(subset), "--out", str(tmp_path / "run3"),
                     "--baseline", str(out / "results.json"), "--min-accuracy", "0.99",
                     data=seeded_copy)  # fmt: skip
    assert floor.returncode == 0
    assert "newly failing: none" in (tmp_path / "run3" / "report.md").read_text()
    assert "since the baseline: newly failing none" in floor.stdout


def test_rag_eval_exits_1_under_the_floor(tmp_path: Path, seeded_copy: Path) -> None:
    wrong_gold = {"id": "x", "question": "How long will the state of emergency in Tacna last?",
                  "answers": ["999 days"], "kind": "figure", "sources": [DOC],
                  "split": "test"}  # fmt: skip
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps(wrong_gold) + "\n", encoding="utf-8")
    done = rag_eval("--questions", str(path), "--out", str(tmp_path / "o"),
                    "--min-accuracy", "0.5", data=seeded_copy)  # fmt: skip
    assert done.returncode == 1 and "answer_accuracy 0.0 is below its floor 0.5" in done.stdout


def test_rag_eval_bad_question_file(tmp_path: Path, seeded_copy: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n', encoding="utf-8")
    done = rag_eval("--questions", str(bad), data=seeded_copy)
    assert done.returncode == 2 and "bad.jsonl line 1" in done.stderr
    assert "Traceback" not in done.stderr
