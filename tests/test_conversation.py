"""Condensing follow-up questions into standalone retrieval queries."""

import pytest

from rag.conversation import Turn, ask_turns, condense, is_follow_up
from rag.errors import InvalidInput
from rag.service import RagService

FIRST = "Why did Peru declare a state of emergency in Tacna?"


def user(text: str) -> Turn:
    return Turn("user", text)


@pytest.mark.parametrize(
    "question",
    ["And how long will it last?", "What about Chile?", "Who signed it?", "Why?",
     "How many were there?"],
)  # fmt: skip
def test_follow_ups_are_recognised(question: str) -> None:
    assert is_follow_up(question)


@pytest.mark.parametrize(
    "question",
    ["How long will the state of emergency in Tacna last?",
     "Who is the governor of Arica and Parinacota?",
     "How many military personnel were deployed in Tumbes?"],
)  # fmt: skip
def test_standalone_questions_are_not_follow_ups(question: str) -> None:
    assert not is_follow_up(question)


def test_follow_up_gets_the_previous_question_terms() -> None:
    turns = [user(FIRST), Turn("assistant", "Because of migration [1]."),
             user("And how long will it last?")]  # fmt: skip
    question, query = condense(turns)
    assert question == "And how long will it last?"
    assert query.startswith("And how long will it last? ")
    for word in ("Tacna", "state", "emergency", "Peru"):
        assert word in query
    # The assistant's words are not context: it may have been wrong.
    assert "migration" not in query


def test_standalone_question_is_searched_as_asked() -> None:
    turns = [user(FIRST), Turn("assistant", "x"), user("Who is the governor of Arica?")]
    assert condense(turns) == ("Who is the governor of Arica?",) * 2


def test_first_question_is_searched_as_asked() -> None:
    assert condense([user("And how long will it last?")]) == ("And how long will it last?",) * 2


def test_most_recent_turn_comes_first_and_words_are_not_repeated() -> None:
    turns = [user("Tumbes border closure"), user("Tacna emergency decree"), user("And then?")]
    _, query = condense(turns)
    assert query == "And then? Tacna emergency decree Tumbes border closure"
    _, query = condense([user("Tacna emergency"), user("Why was the emergency declared?")])
    assert query.count("emergency") == 1


def test_system_messages_are_ignored_and_last_must_be_user() -> None:
    assert condense([Turn("system", "Be brief."), user("Why?")]) == ("Why?", "Why?")
    with pytest.raises(InvalidInput, match="last message"):
        condense([user(FIRST), Turn("assistant", "Because.")])
    with pytest.raises(InvalidInput):
        condense([])


def test_condensed_follow_up_is_answered_from_the_right_article(
    seeded_service: RagService,
) -> None:
    turns = [user(FIRST), Turn("assistant", "..."), user("And how long will it last?")]
    answer = ask_turns(seeded_service, turns)
    assert answer.question == "And how long will it last?"
    assert "Tacna" in answer.retrieval_query
    assert answer.answerable and "60" in answer.answer
    assert answer.citations and all(c.doc_id[:3] in {"003", "004"} for c in answer.citations)


def test_empty_follow_up_is_rejected(seeded_service: RagService) -> None:
    with pytest.raises(InvalidInput, match="empty"):
        ask_turns(seeded_service, [user(FIRST), user("   ")])
