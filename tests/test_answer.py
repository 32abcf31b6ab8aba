"""Answering through the real parts: bundled embedder, real Chroma, spaCy, the reader."""

from typing import Any

import pytest
from fakes import ScriptedGenerator

from rag.answer.facts import canonical, is_duration
from rag.answer.generate import REFUSAL
from rag.answer.question import analyse_question
from rag.answer.reader import (
    FEATURES,
    Candidate,
    Reader,
    Scorer,
    SpanModel,
    Window,
    choose_windows,
    snap,
    variant,
)
from rag.errors import ConfigError, InvalidInput
from rag.nlp import Annotation
from rag.public import answer_dict
from rag.schema import Passage
from rag.service import RagService

TACNA = "How long will the state of emergency in Tacna last?"
# Questions the trained reader (rag/answer/model/) gets wrong: kept as strict expected
# failures, so a better model or scorer that answers them shows up (as XPASS, failing until
# the mark is removed). The rule reader answered them; evals/README.md has the figures.
MISSED = "the trained reader misses this one (evals/README.md, trained reader)"


def test_state_of_emergency_duration(seeded_service: RagService) -> None:
    answer = seeded_service.ask(TACNA)
    assert answer.answerable and "60 days" in answer.answer
    assert answer.generator == "extractive"
    cited = [c for c in answer.citations if "60 days" in c.quote]
    assert cited and cited[0].doc_id in {"003_35ea49adf01880a5", "004_9dd10a7479862716"}
    for c in answer.citations:
        article = seeded_service.store.get_text(c.doc_id)
        assert article[c.char_start : c.char_end] == c.quote
        assert c.supported
        # The short answer is a span of the article inside the quote, and leads the answer.
        assert c.answer_start is not None and c.answer_end is not None
        assert c.char_start <= c.answer_start < c.answer_end <= c.char_end
        assert article[c.answer_start : c.answer_end] == "60 days"
    assert answer.answer.startswith('60 days — "')
    assert set(answer.timings_ms) == {"retrieve", "generate", "total"}
    steps = answer.timings_ms["retrieve"] + answer.timings_ms["generate"]
    assert all(ms >= 0 for ms in answer.timings_ms.values())  # each step, in ms
    assert steps <= answer.timings_ms["total"] + 0.1
    shown = answer_dict(answer)
    assert {"corroborated_by", "conflicts"} <= set(shown)
    assert shown["citations"][0]["answer_start"] == answer.citations[0].answer_start  # type: ignore[index]


def test_documents_that_agree_and_disagree_are_named(seeded_service: RagService) -> None:
    # Two seed articles state the 60 days; the answer names both as corroborating.
    answer = seeded_service.ask(TACNA)
    assert answer.corroborated_by == sorted(answer.corroborated_by)
    assert len(answer.corroborated_by) >= 2
    assert answer.citations[0].doc_id in answer.corroborated_by
    for conflict in answer.conflicts:
        assert conflict.doc_id not in answer.corroborated_by and conflict.value


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("Who is Peru's interior minister?", "Vicente Tiburcio"),
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
        pytest.param(  # answers "150 kilometers long" from the Peru-Ecuador border story
            "How many migrants crossed the border between Bolivia and Peru?",
            marks=pytest.mark.xfail(strict=True, reason=MISSED),
        ),
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


@pytest.mark.parametrize(
    ("question", "first_label", "focus"),
    [
        ("When was the border closed?", "DATE", None),
        ("In what year did it start?", "DATE", "year"),
        ("How many soldiers were sent?", "CARDINAL", "soldier"),
        ("How long will it last?", "DATE", None),
        ("How much did the club pay for him?", "MONEY", None),
        ("What percentage of voters backed the plan?", "PERCENT", "percentage"),
        ("Who is the interior minister?", "PERSON", "minister"),
        ("Who scored the winning goal?", "PERSON", None),
        ("Which company bought the brewer?", "ORG", "company"),
        ("Where did the summit take place?", "GPE", None),
        ("Why did the government act?", None, None),
        ("What is the name of the bishop who praised the book?", "PERSON", "bishop"),
        ("By how much did industrial output grow?", "PERCENT", None),
        ("Which Wales rugby coach backed number eight Tom Jones?", "PERSON", "coach"),
        (
            "What is the name of the Evening Post reporter Ann Moss criticised?",
            "PERSON",
            "reporter",
        ),
        ("How much in damages did the state claim from the firms?", "MONEY", "damage"),
        ("How much in total did the appeal raise?", "MONEY", None),
        ("How much did the film gross in its opening week?", "MONEY", None),
        ("What will the new console cost?", "MONEY", None),
        ("Which taxes would the party cut?", "PERSON", "tax"),  # no sum of money
    ],
)
def test_expected_answer_types(question: str, first_label: str | None, focus: str | None) -> None:
    q = analyse_question(question)
    assert (q.labels[0] if q.labels else None) == first_label
    assert q.focus == focus


def test_roles_only_people_hold_ask_for_a_person() -> None:
    for question in ("Which sheriff said the rapper would not film in his jail again?",
                     "Which DJ hosts the late show on Tuesdays?"):  # fmt: skip
        assert analyse_question(question).labels == ("PERSON",)
    assert "ORG" in analyse_question("Which company bought the brewer?").labels


def test_a_plural_noun_has_its_dictionary_singular() -> None:
    # spaCy's rule lemmatizer reads "taxes" as the plural of "taxi"
    q = analyse_question("Which taxes would the party cut under its plan?")
    assert "tax" in {t.lemma for t in q.terms} and q.focus == "tax"


def test_a_time_relative_to_now_is_no_key_term() -> None:
    # "annually", "last year": the story may say "a year" or "in 2004" instead
    for question in ("How much will the council save annually?", "What did it earn last year?"):
        assert not any(t.key for t in analyse_question(question).terms if t.lemma != "council")
    assert any(t.key for t in analyse_question("What did it earn in March 2004?").terms)


def test_question_terms_leave_out_the_question_words() -> None:
    q = analyse_question("How long will the state of emergency in the region last?")
    lemmas = {t.lemma for t in q.terms}
    assert "emergency" in lemmas and not lemmas & {"how", "long", "will", "the"}


def test_spans_are_made_whole_words() -> None:
    text = "It spent £500m on the quay, said Jane Doe's deputy (Ann Lee)."

    def snapped(piece: str, cut: int = 0) -> str:  # `piece` as the model gave it, made whole
        start = text.index(piece)
        return text[slice(*snap(text, start + cut, start + len(piece)))]

    assert snapped("500m", cut=1) == "500m"  # a wordpiece inside a word grows to the word
    assert snapped("quay,") == "quay"  # punctuation off the ends
    assert snapped("Jane Doe's") == "Jane Doe"  # a possessive off the end
    assert snapped("(Ann Lee).") == "Ann Lee"
    assert snapped("deputy (Ann Lee)") == "deputy (Ann Lee)"  # a bracket opened inside stays


def test_values_are_compared_across_spellings() -> None:
    assert variant("Jane Doe", "Doe") and variant("Nov. 29", "Nov 29")
    assert variant("Vicente Tiburcio", "Vicente Tiburzio")  # a misspelling is one value
    assert not variant("60 days", "90 days")  # numbers must be equal
    assert not variant("Jane Doe", "Ann Lee") and not variant("", "x")
    assert canonical("Nov. 29, 2025", "DATE") == canonical("November 29, 2025", "DATE")
    assert is_duration("60 days") and is_duration("two-month")
    assert not is_duration("March 2020") and not is_duration("Monday")
    # counted from now, a unit of time is a point in time; with a count, a length
    assert not is_duration("last week") and not is_duration("two days ago")
    assert not is_duration("next month") and is_duration("the last two years")


def test_the_model_reads_the_best_matching_sentences_with_their_neighbours() -> None:
    matches = [0.1, 0.9, 0.0, 0.0, 0.0, 0.7, 0.0]
    first = [(10 * i, 10 * i + 10, m) for i, m in enumerate(matches)]
    second = [(100, 120, 0.9), (120, 140, 0.2)]
    # The two 0.9 sentences and the 0.7 one, each with one sentence on each side.
    windows = choose_windows([first, second], count=3)
    assert windows == [Window(0, 0, 30), Window(0, 40, 70), Window(1, 100, 140)]
    # Windows of one passage that touch are read as one.
    touching = [(0, 10, 0.9), (10, 20, 0.0), (20, 30, 0.0), (30, 40, 0.8), (40, 50, 0.0)]
    assert choose_windows([touching], count=2) == [Window(0, 0, 50)]
    assert choose_windows([[(5, 9, 0.0)]]) == [Window(0, 5, 9)]


def test_spelling_variants_and_other_kinds_of_value_are_no_conflicts() -> None:
    text = "Jose Kast won. Jose Cast won. Ann Lee won. In 2019 it began."
    passages = [Passage(f"c{i}", f"d{i}", text, 0, len(text), "", None, None, 1.0)
                for i in range(4)]  # fmt: skip

    def candidate(n: int, value: str, label: str, score: float) -> Candidate:
        start = text.index(value)
        sentence = (text.rfind(".", 0, start) + 1, text.index(".", start) + 1)
        return Candidate(n, f"d{n - 1}", (start, start + len(value)), sentence, value, label,
                         score=score, docs={f"d{n - 1}"})  # fmt: skip

    best = candidate(1, "Jose Kast", "PERSON", 0.9)
    spelt_otherwise = candidate(2, "Jose Cast", "PERSON", 0.88)
    a_year = candidate(3, "2019", "DATE", 0.87)  # another kind of value: no rival answer
    another_person = candidate(4, "Ann Lee", "PERSON", 0.8)
    weak = candidate(4, "Jose", "PERSON", 0.1)
    reader = Reader(lambda ps: [], scorer=lambda: Scorer(dict.fromkeys(FEATURES, 0.0), 0.0, 0.5))
    ranked = [best, spelt_otherwise, a_year, another_person, weak]
    conflicts = reader._conflicts(best, ranked, passages)
    assert [(c.doc_id, c.value, c.quote) for c in conflicts] == [("d3", "Ann Lee", " Ann Lee won.")]


def test_the_scorer_is_read_from_its_file_and_a_bad_file_is_named(tmp_path: Any) -> None:
    scorer = Scorer.load()  # the committed, fitted scorer
    assert set(scorer.weights) == set(FEATURES) and 0 < scorer.threshold < 1
    assert scorer.weights["margin"] > 0  # more model margin, more likely right
    low, high = dict.fromkeys(FEATURES, 0.0), dict.fromkeys(FEATURES, 0.0)
    high["margin"] = 8.0
    assert 0 < scorer(low) < scorer(high) < 1
    bad = tmp_path / "scorer.json"
    bad.write_text('{"weights": {"margin": 1}, "bias": 0, "threshold": 0.5}')
    with pytest.raises(ConfigError, match=r"scorer\.json"):
        Scorer.load(bad)


def test_a_missing_model_is_a_config_error(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="reader model"):
        SpanModel(tmp_path).load()


def test_the_span_model_reads_exact_offsets() -> None:
    # The bundled int8 model on a hand-written paragraph: offsets are into each context.
    context = (
        "The ferry company said on Tuesday that it will cut 240 jobs at its Harwick yard "
        "by the end of the year. Its chief executive, Maria Olsen, blamed fuel prices."
    )
    spans, other = SpanModel().read("Who is the ferry company's chief executive?",
                                      [context, "Rain is forecast for the weekend."])  # fmt: skip
    best = spans[0]
    assert context[best.start : best.end] == "Maria Olsen"
    assert best.score > best.null  # an answer, not [CLS]
    assert not other or other[0].score - other[0].null < best.score - best.null
    jobs = SpanModel().read("How many jobs will be cut?", [context])[0][0]
    assert context[slice(*snap(context, jobs.start, jobs.end))].startswith("240")


def test_articles_are_annotated_once_at_ingest(seeded_service: RagService) -> None:
    docs = seeded_service.documents()
    stored = seeded_service.store.get_annotations([d.doc_id for d in docs])
    assert set(stored) == {d.doc_id for d in docs}
    for d in docs:
        sha, annotation = stored[d.doc_id]
        text = seeded_service.store.get_text(d.doc_id)
        assert sha == d.sha256 and annotation.sentences and annotation.entities
        assert all(0 <= a < b <= len(text) for a, b in annotation.sentences)
        assert all("\n" not in text[a:b] for a, b in annotation.sentences)


def test_a_question_in_another_language_is_refused(seeded_service: RagService) -> None:
    answer = seeded_service.ask("¿Cuántos soldados envió el gobierno a la frontera?")
    assert answer.answerable is False and answer.answer == REFUSAL


def test_stream_events_in_order(seeded_service: RagService) -> None:
    events = list(seeded_service.ask_stream(TACNA))
    kinds = [e.kind for e in events]
    assert kinds[0] == "sources" and kinds[-1] == "done"
    assert set(kinds[1:-1]) == {"token"}
    final = events[-1].answer
    assert final is not None
    assert "".join(e.text for e in events[1:-1]).strip() == final.answer


def test_annotations_are_read_once_per_document_version() -> None:
    from collections.abc import Sequence

    from rag.answer.reader import passage_annotations

    stored = {"a": ("sha1", Annotation(((0, 4),), (), ())), "b": ("sha1", Annotation((), (), ()))}
    asked: list[list[str]] = []

    def lookup(doc_ids: Sequence[str]) -> dict[str, tuple[str, Annotation]]:
        asked.append(list(doc_ids))
        return {d: stored[d] for d in doc_ids if d in stored}

    def passage(doc_id: str, sha: str) -> Passage:
        return Passage(f"{doc_id}-0", doc_id, "Text", 0, 4, "", None, None, 0.0, doc_sha=sha)

    annotations = passage_annotations(lookup, keep=1)
    assert annotations([passage("a", "sha1")]) == [stored["a"][1]]
    assert annotations([passage("a", "sha1")]) == [stored["a"][1]]
    assert asked == [["a"]]  # the second question read nothing
    stored["a"] = ("sha2", Annotation(((0, 2),), (), ()))
    assert annotations([passage("a", "sha2")]) == [stored["a"][1]]  # a new text is read again
    annotations([passage("b", "sha1")])
    annotations([passage("a", "sha2")])  # pushed out by "b" (keep=1)
    assert asked == [["a"], ["a"], ["b"], ["a"]]


def one_article(make_settings: Any, doc_id: str, text: str) -> RagService:
    """A service over one hand-written article (hashing embedder, real spaCy and reader)."""
    from fakes import FakeEmbedder

    service = RagService(make_settings(embedder="fake"), embedder=FakeEmbedder())
    service.add_text(text, doc_id=doc_id)
    return service


def test_a_count_the_tagger_read_as_a_year_still_answers_how_many(
    make_settings: Any,
) -> None:
    # en_core_web_sm tags "1333" in "1333 boats" as DATE; the counted noun says otherwise.
    service = one_article(
        make_settings,
        "census",
        "Harbour census\n\nThe harbour committee counted 1333 boats on Monday, its chair "
        "said. The count is made every spring before the season opens.",
    )
    answer = service.ask("How many boats did the harbour committee count?")
    assert answer.answerable and answer.answer.startswith("1333"), answer.answer
    citation = answer.citations[0]
    assert citation.answer_start is not None and citation.answer_end is not None
    stored = service.store.get_text("census")  # offsets are into the cleaned article
    assert stored[citation.answer_start : citation.answer_end] in ("1333", "1333 boats")
    assert stored[citation.char_start : citation.char_end] == citation.quote


@pytest.mark.xfail(strict=True, reason=MISSED)  # answers the spokesman, Tom Reyes
def test_a_role_noun_must_be_matched_by_the_sentence_that_names_the_person(
    make_settings: Any,
) -> None:
    service = one_article(
        make_settings,
        "board",
        "Harbour board\n\nTom Reyes, a spokesman for the harbour board, said the new dock "
        "opens in May. Ada Lind became chairman of the board last year.",
    )
    answer = service.ask("Who is the chairman of the harbour board?")
    assert answer.answerable and answer.answer.startswith("Ada Lind"), answer.answer
    # no sentence names a chief executive: the people named hold other roles
    refused = service.ask("Who is the chief executive of the harbour board?")
    assert not refused.answerable, refused.answer


@pytest.mark.parametrize(
    ("text", "question", "leads"),
    [
        pytest.param(  # the story's own amount with its currency word; conversions agree
            "Island budget\n\nThe island council spent 41.5 million kroner ($6.1m; £4.8m) on "
            "ferry subsidies last year, well above its plan, the treasurer said.",
            "How much did the island council spend on ferry subsidies?",
            "41.5 million kroner —",
            id="an amount restated in parentheses is one answer",
            marks=pytest.mark.xfail(
                strict=True, reason=MISSED
            ),  # "41.5 million" without its currency
        ),
        pytest.param(  # "It" goes on about the sentence before, which the question matches
            "Quay works\n\nThe port authority has not yet set a reopening date for the "
            "storm-hit north quay. It will announce one at a meeting on 14 March, a "
            "spokesman said.",
            "When will the port authority announce the north quay's reopening date?",
            "14 March —",
            id="a sentence opening with a pronoun",
        ),
        pytest.param(  # every sentence of a story is about its headline's subject
            "Lighthouse keeper retires\n\nAnn Moss leaves the post on 30 June, the trust "
            "said. She has served for 31 years.",
            "When does the lighthouse keeper retire?",
            "30 June —",
            id="the headline says what the story is about",
        ),
        pytest.param(  # the tagger reads "rugby" as a verb; "coach" is still the asked noun
            "Club picks captain\n\nTom Jones will lead the side this season. Coach Ann "
            "Moss backed him for the captaincy on Monday, the club said.",
            "Which Wales rugby coach backed Tom Jones for the captaincy?",
            "Ann Moss —",
            id="a tagger slip inside the asked-about noun phrase",
        ),
        pytest.param(  # "how many of the X" asks for the part, not the whole
            "Fleet survey\n\nAbout 300 of the town's 1,200 fishermen are over 60, the "
            "harbour survey found.",
            "How many of the town's fishermen are over 60?",
            "About 300 —",
            id="a part of a whole",
            marks=pytest.mark.xfail(strict=True, reason=MISSED),  # the whole, 1,200
        ),
        pytest.param(  # "by which month": the month stated after "by", not a year
            "New console\n\nThe firm will show its new console at a trade fair in May, and "
            "it could be in shops by November. The old model sold well in 2004.",
            "By which month could the firm's new console be in shops?",
            "November —",
            id="the preposition of the question",
        ),
        pytest.param(  # news spell a name once, then its initials
            "Ferry row\n\nThe HPA has filed 12 complaints against ferry operators since "
            "May, a spokesman said.",
            "How many complaints has the Harbour Pilots Association filed against ferry operators?",
            "12 ",
            id="a name abbreviated in the passage",
        ),
        pytest.param(  # the surname mention is quoted; the answer names the person in full
            "Patent row\n\nA group opposed to software patents is led by Sarah Jenkins."
            "\n\nThe pledge of 300 patents is a mere gesture, wrote Ms Jenkins on "
            "her group's website on Monday.",
            "Which campaigner called the pledge of 300 patents a mere gesture?",
            'Sarah Jenkins — "The pledge of 300 patents is a mere gesture, wrote Ms Jenkins',
            id="a person named in full once, then by surname",
            marks=pytest.mark.xfail(
                strict=True, reason=MISSED
            ),  # "Ms Jenkins", the surname mention
        ),
        pytest.param(  # "twice as many X" and "the top ten" count neither the X nor anything
            "Library survey\n\nThe library now has three times as many members as in "
            "2001, and its loans made the top ten of the county. It counts 4,500 members.",
            "How many members does the library have?",
            "4,500 members —",
            id="a multiplier and a chart's size are no counts",
            marks=pytest.mark.xfail(strict=True, reason=MISSED),  # the multiplier, "three"
        ),
    ],
)
def test_hand_written_articles(make_settings: Any, text: str, question: str, leads: str) -> None:
    answer = one_article(make_settings, "story", text).ask(question)
    assert answer.answerable and answer.answer.startswith(leads), answer.answer
    assert answer.conflicts == []
