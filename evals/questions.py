"""Load and validate a question file (JSON Lines; format in evals/README.md)."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from rag.errors import InvalidInput

Kind = Literal["date", "actor", "figure", "unanswerable"]
KINDS: tuple[Kind, ...] = ("date", "actor", "figure", "unanswerable")
Split = Literal["dev", "test"]
SPLITS: tuple[Split, ...] = ("dev", "test")
DEFAULT_FILE = Path(__file__).resolve().parent / "questions.jsonl"


@dataclass(frozen=True)
class Question:
    """One hand-written question with its accepted answers and source documents."""

    id: str
    question: str
    answers: tuple[str, ...]
    kind: Kind
    sources: tuple[str, ...]
    split: Split = "test"  # tune on `dev` only; the gate in `make test` runs on `test`

    @property
    def answerable(self) -> bool:
        return self.kind != "unanswerable"


def _strings(value: object, field: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InvalidInput(f"{where}: {field!r} must be a list of non-empty strings")
    return tuple(value)


def parse_line(line: str, where: str) -> Question:
    """One question from one JSON line; `where` names the file and line in errors."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{where}: not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{where}: expected a JSON object")
    missing = [k for k in ("id", "question", "answers", "kind", "sources") if k not in data]
    if missing:
        raise InvalidInput(f"{where}: missing field(s) {', '.join(missing)}")
    kind = data["kind"]
    if kind not in KINDS:
        raise InvalidInput(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    split = data.get("split", "test")  # a user's own file needs no split: all of it is test
    if split not in SPLITS:
        raise InvalidInput(f"{where}: split {split!r} is not one of {', '.join(SPLITS)}")
    if not isinstance(data["id"], str) or not isinstance(data["question"], str):
        raise InvalidInput(f"{where}: 'id' and 'question' must be strings")
    if not data["id"].strip():
        raise InvalidInput(f"{where}: the id is empty")
    if not data["question"].strip():
        raise InvalidInput(f"{where}: the question is empty")
    answers = _strings(data["answers"], "answers", where)
    sources = _strings(data["sources"], "sources", where)
    if kind == "unanswerable" and (answers or sources):
        raise InvalidInput(f"{where}: an unanswerable question has empty answers and sources")
    if kind != "unanswerable" and not answers:
        raise InvalidInput(f"{where}: an answerable question needs at least one answer")
    return Question(
        data["id"], data["question"], answers, cast(Kind, kind), sources, cast(Split, split)
    )


def load_questions(path: Path) -> list[Question]:
    """Every question of a file; the first bad line is an `InvalidInput` naming it."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()  # a BOM is not JSON
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read question file {path}: {exc}") from exc
    questions: list[Question] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        q = parse_line(line, f"{path.name} line {number}")
        if q.id in seen:
            raise InvalidInput(f"{path.name} line {number}: duplicate id {q.id!r}")
        seen.add(q.id)
        questions.append(q)
    if not questions:
        raise InvalidInput(f"{path} holds no questions")
    return questions
