"""Which facts a claim states and whether a passage states them (`rag.answer.facts`)."""

from rag.answer.facts import Fact, canonical, claim_facts, is_stated, is_supported, sentence_spans

EMERGENCY = "The state of emergency will last 60 days."


def test_facts_are_values_and_names_with_their_labels() -> None:
    found = claim_facts("On November 29, Vicente Tiburcio said 1,200 troops would go.")
    assert Fact("November 29", "DATE") in found
    assert Fact("Vicente Tiburcio", "PERSON") in found
    assert Fact("1,200", "CARDINAL") in found
    assert claim_facts("Officials were pleased about it.") == []


def test_a_passage_states_the_same_length_of_time_not_another() -> None:
    assert is_supported(["It lasts 60 days"], EMERGENCY)
    assert not is_supported(["It lasts 90 days"], EMERGENCY)
    assert is_supported(["A 60-day state of emergency was declared."], EMERGENCY)
    # "sixty days" and "60 days" are one length of time (dateparser reads the number word)
    assert is_supported(["It lasts 60 days."], "The state of emergency will last sixty days.")


def test_dates_are_compared_as_dates() -> None:
    passage = "The decree was signed on November 29."
    assert is_supported(["It was signed on Nov. 29."], passage)
    assert not is_supported(["It was signed on Nov. 28."], passage)
    # A year alone does not back a full date, but a full date backs its year.
    assert not is_supported(["It began in March 2020."], "It began in 2020.")
    assert is_supported(["It began in 2020."], "It began in March 2020.")


def test_numbers_are_compared_without_separators_or_hedges() -> None:
    assert is_supported(["1200 troops went."], "Some 1,200 troops went to the border.")
    assert is_supported(["About 45% voted."], "Turnout was 45%.")
    assert not is_supported(["About 46% voted."], "Turnout was 45%.")


def test_a_number_word_is_stated_by_the_same_word() -> None:
    (sixty,) = claim_facts("Police detained sixty people.")  # tagged CARDINAL by spaCy
    assert sixty.label == "CARDINAL"
    assert is_stated(sixty, "Police said sixty people were detained.")
    assert not is_stated(sixty, "Police said seventy people were detained.")


def test_names_must_be_spelt_as_in_the_passage() -> None:
    passage = "Interior Minister Vicente Tiburcio traveled to the border."
    assert is_supported(["Vicente Tiburcio went to the border."], passage)
    assert is_supported(["Minister Vicente Tiburcio went."], passage)
    assert not is_supported(["Vicente Tiburco went to the border."], passage)  # misspelt
    assert not is_supported(["Minister Luis Cordero went to the border."], passage)


def test_canonical_values() -> None:
    assert canonical("60-day", "DATE") == canonical("60 days", "DATE") == "60 day"
    assert canonical("sixty days", "DATE") == "60 day"
    assert canonical("Nov. 29, 2025", "DATE") == canonical("November 29, 2025", "DATE")


def test_sentence_spans_end_at_line_breaks() -> None:
    text = "Peru declared an emergency. It lasts 60 days\nA heading without a stop"
    spans = [text[a:b] for a, b in sentence_spans(text)]
    assert spans == ["Peru declared an emergency.", "It lasts 60 days", "A heading without a stop"]


FIRST_USE = """
import threading
from rag.answer.facts import canonical
from rag.ingest.formats import _record_date

errors = []
start = threading.Barrier(16)

def first_use(i):
    start.wait()  # all threads reach dateparser at the same moment
    try:  # the three ways into dateparser, each first in some threads
        if i % 3 == 0:
            assert canonical(f"Nov. {i + 1}, 2025", "DATE") == f"2025-11-{i + 1:02d}"
        elif i % 3 == 1:
            assert canonical(f"{i} days", "DATE") == f"{i} day"
        assert _record_date(f"{i + 1} March 2024") is not None
        assert canonical("sixty days", "DATE") == "60 day"
    except Exception as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=first_use, args=(i,)) for i in range(16)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(len(errors), errors[:1])
"""


def test_dates_read_from_many_threads_at_first_use() -> None:
    # A fresh interpreter each time: the first use of dateparser is what used to fail.
    import subprocess
    import sys

    for _ in range(4):
        done = subprocess.run([sys.executable, "-c", FIRST_USE], capture_output=True,
                              text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "0 []", done.stdout
