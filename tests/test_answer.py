"""Answering through the real parts: bundled embedder, real Chroma, extractive generator."""

import pytest
from fakes import ScriptedGenerator

from rag.errors import InvalidInput
from rag.extractive import expected_type
from rag.generate import REFUSAL
from rag.service import RagService

TACNA = "How long will the state of emergency in Tacna last?"


def test_state_of_emergency_duration(seeded_service: RagService) -> None:
    answer = seeded_service.ask(TACNA)
    assert answer.answerable and "60 days" in answer.answer
    assert answer.generator == "extractive"
    cited = [c for c in answer.citations if "60 days" in c.quote]
    assert cited and cited[0].doc_id in {"003_35ea49adf01880a5", "004_9dd10a7479862716"}
    for c in answer.citations:
        assert seeded_service.store.get_text(c.doc_id)[c.char_start : c.char_end] == c.quote
        assert c.supported
    assert set(answer.timings_ms) == {"retrieve", "generate", "total"}


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Who is Peru's interior minister?", "Vicente Tiburcio"),
        ("When was the border between Ecuador and Peru closed?", "March 2020"),
        ("How many military personnel were deployed in Tumbes?", "1,200"),
        ("How far is Tumbes from Lima?", "1,280 kilometers"),
    ],
)
def test_hand_checked_questions(seeded_service: RagService, question: str, expected: str) -> None:
    answer = seeded_service.ask(question)
    assert answer.answerable, answer.answer
    assert expected in answer.answer
    assert any(expected in c.quote for c in answer.citations)


@pytest.mark.parametrize(
    "question",
    [
        "What is the capital of France?",
        "How many migrants crossed the border between Bolivia and Peru?",
        "Who won the football world cup?",
    ],
)
def test_refuses_when_the_articles_do_not_say(seeded_service: RagService, question: str) -> None:
    answer = seeded_service.ask(question)
    assert not answer.answerable
    assert answer.answer == REFUSAL and answer.citations == []


def test_invalid_questions(seeded_service: RagService) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        seeded_service.ask("   \n")
    with pytest.raises(InvalidInput, match="limit"):
        seeded_service.ask("border " * 400)


def test_citation_check_applies_to_any_generator(seeded_service: RagService) -> None:
    fake = ScriptedGenerator("It lasts 60 days [1]. Made-up claim [9].")
    answer = seeded_service.ask(TACNA, generator=fake)
    assert "[9]" not in answer.answer and [c.n for c in answer.citations] == [1]
    assert fake.history == [(TACNA, 5)]


def test_expected_answer_types() -> None:
    assert expected_type("When was the border closed?") == "date"
    assert expected_type("In what year did it start?") == "date"
    assert expected_type("How many soldiers were sent?") == "figure"
    assert expected_type("How long will it last?") == "figure"
    assert expected_type("Who is the interior minister?") == "actor"
    assert expected_type("Which organization warned about the conditions?") == "actor"
    assert expected_type("Why did Peru act?") == "other"


def test_stream_events_in_order(seeded_service: RagService) -> None:
    events = list(seeded_service.ask_stream(TACNA))
    kinds = [e.kind for e in events]
    assert kinds[0] == "sources" and kinds[-1] == "done"
    assert set(kinds[1:-1]) == {"token"}
    final = events[-1].answer
    assert final is not None
    assert "".join(e.text for e in events[1:-1]).strip() == final.answer
