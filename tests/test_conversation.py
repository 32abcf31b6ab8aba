"""Condensing follow-up questions into standalone retrieval queries."""

import pytest

from rag.answer.conversation import Turn, ask_turns, condense, is_follow_up
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


class FakeRewriter:
    """Stands in for an LLM generator's `rewrite`; records what it was shown."""

    def __init__(self, reply: str | None) -> None:
        self.reply = reply
        self.seen: list[tuple[str, str]] = []

    def rewrite(self, history: str, question: str) -> str | None:
        self.seen.append((history, question))
        return self.reply


TURNS = [
    user("How long will the state of emergency in Tacna last?"),
    Turn("assistant", "60 days [1]"),
    user("Who announced it?"),
]


def test_an_llm_rewrite_is_used_for_follow_ups() -> None:
    rewriter = FakeRewriter("Who announced the state of emergency in Tacna?")
    question, query = condense(TURNS, rewriter)
    assert question == "Who announced it?"
    assert query == "Who announced the state of emergency in Tacna?"
    history, asked = rewriter.seen[0]
    assert asked == "Who announced it?" and "user: How long will" in history


def test_a_failed_rewrite_falls_back_to_the_heuristic() -> None:
    _, query = condense(TURNS, FakeRewriter(None))
    assert query.startswith("Who announced it?") and "Tacna" in query


def test_standalone_questions_are_not_sent_to_the_model() -> None:
    rewriter = FakeRewriter("unused")
    condense([user("Who is Peru's interior minister?")], rewriter)
    condense([*TURNS[:2], user("Who is Chile's security minister?")], rewriter)
    assert rewriter.seen == []


def test_clean_rewrite_rejects_rambling_replies() -> None:
    from rag.answer.llm import clean_rewrite

    assert clean_rewrite('"Who announced the emergency?"\nExplanation: ...') == (
        "Who announced the emergency?"
    )
    assert clean_rewrite("   ") is None
    assert clean_rewrite("x" * 400) is None
