"""The service guarantees citations for LLM answers (fake LLM, real index)."""

from fakes import ScriptedGenerator

from rag.answer.guarantee import guarantee
from rag.answer.llm import to_draft
from rag.service import RagService

TACNA = "How long will the state of emergency in Tacna last?"


def ask(service: RagService, reply: str):  # type: ignore[no-untyped-def]
    return service.ask(TACNA, generator=ScriptedGenerator(reply))


def test_answer_without_markers_gets_them_attached(seeded_service: RagService) -> None:
    answer = ask(seeded_service, "The state of emergency will last 60 days.")
    assert answer.answer.startswith("The state of emergency will last 60 days. [")
    assert answer.fallback is None and answer.unsupported == []
    (c,) = answer.citations
    assert c.supported and "60 days" in c.quote


def test_out_of_range_marker_is_replaced(seeded_service: RagService) -> None:
    answer = ask(seeded_service, "It will remain in effect for 60 days [12].")
    assert "[12]" not in answer.answer
    assert [c.supported for c in answer.citations] == [True]


def test_wrong_marker_is_moved_to_the_supporting_passage(seeded_service: RagService) -> None:
    passages = seeded_service.retrieve(TACNA)
    wrong = next(i for i, p in enumerate(passages, 1) if "60 days" not in p.text)
    right = next(i for i, p in enumerate(passages, 1) if "60 days" in p.text)
    checked = guarantee(f"It lasts 60 days [{wrong}].", passages, TACNA)
    assert checked.text == f"It lasts 60 days. [{right}]"


def test_fabricated_number_falls_back_to_extractive(seeded_service: RagService) -> None:
    answer = ask(seeded_service, "The state of emergency will last 90 days [1].")
    assert answer.fallback == "extractive"
    assert "60 days" in answer.answer and "90" not in answer.answer
    assert answer.citations and all(c.supported for c in answer.citations)


def test_an_answer_no_passage_backs_at_all_falls_back_to_extractive(
    seeded_service: RagService,
) -> None:
    # Each fact is in some passage, but no passage states the sentence: nothing to cite.
    text = "Officials said 60 days of emergency were announced in 2023."
    checked = guarantee(text, seeded_service.retrieve(TACNA), TACNA)
    assert checked.invented == [] and checked.cited == 0
    answer = ask(seeded_service, text)
    assert answer.fallback == "extractive"
    assert answer.citations and all(c.supported for c in answer.citations)


def test_sentence_no_passage_backs_is_flagged(seeded_service: RagService) -> None:
    answer = ask(seeded_service, "It lasts 60 days [1]. Officials were pleased about it.")
    assert answer.fallback is None
    assert answer.unsupported == ["Officials were pleased about it."]


def test_repeated_sentences_are_kept_once(seeded_service: RagService) -> None:
    answer = ask(seeded_service, "It lasts 60 days [1]. It lasts 60 days [1]. It lasts 60 days.")
    assert answer.answer.count("60 days") == 1


def test_correct_cited_answer_is_left_alone(seeded_service: RagService) -> None:
    passages = seeded_service.retrieve(TACNA)
    n = next(i for i, p in enumerate(passages, 1) if "60 days" in p.text)
    answer = ask(seeded_service, f"The state of emergency will remain in effect for 60 days [{n}].")
    assert answer.answer == f"The state of emergency will remain in effect for 60 days [{n}]."
    assert [(c.n, c.supported) for c in answer.citations] == [(n, True)]


def test_model_refusals_in_its_own_words() -> None:
    assert not to_draft("NOT_IN_ARTICLES").answerable
    assert not to_draft("The passages do not mention the capital of France.").answerable
    assert not to_draft("  ").answerable
    assert to_draft("It lasts 60 days [1].").answerable
