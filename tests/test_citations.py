"""The citation check, whatever generator wrote the answer."""

from datetime import date

from rag.answer.citations import answer_sentences, claims_by_marker, resolve, strip_invalid_markers
from rag.schema import Passage

ARTICLE = (
    "Peru declared a state of emergency. The state of emergency will remain in effect "
    "for 60 days in Tacna. Interior Minister Vicente Tiburcio traveled to the border."
)


def passage(start: int, end: int, n: int = 0) -> Passage:
    return Passage(
        chunk_id=f"doc:abc:{n}", doc_id="doc", text=ARTICLE[start:end], char_start=start,
        char_end=end, title="T", published=date(2025, 11, 29), outlet="X", score=0.5,
    )  # fmt: skip


def test_out_of_range_markers_are_removed() -> None:
    assert strip_invalid_markers("A [1]. B [7]. C [0]. D [2, 9].", 2) == "A [1]. B. C. D [2]."


def test_markers_map_to_their_sentences() -> None:
    claims = claims_by_marker("It lasts 60 days [1]. Tiburcio went [2]. Both [1][2].")
    assert claims == {1: ["It lasts 60 days.", "Both."], 2: ["Tiburcio went.", "Both."]}


def test_a_marker_belongs_to_the_sentence_it_ends_or_follows() -> None:
    text = "It lasts 60 days. [3] Dr. Smith agreed [1, 2]. Officials were pleased."
    assert answer_sentences(text) == [
        "It lasts 60 days. [3]", "Dr. Smith agreed [1, 2].", "Officials were pleased.",
    ]  # fmt: skip
    assert answer_sentences("  ") == []


def test_supported_and_unsupported_citations_with_exact_quotes() -> None:
    passages = [passage(0, len(ARTICLE))]
    text, cites = resolve("The emergency lasts 60 days in Tacna [1].", passages)
    assert text == "The emergency lasts 60 days in Tacna [1]."
    (c,) = cites
    assert c.supported and c.n == 1
    assert ARTICLE[c.char_start : c.char_end] == c.quote
    assert "60 days" in c.quote and c.quote.startswith("The state of emergency")
    _, (bad,) = resolve("The emergency lasts 90 days [1].", passages)
    assert not bad.supported
    _, (wrong_name,) = resolve("Minister Luis Cordero traveled to the border [1].", passages)
    assert not wrong_name.supported


def test_quote_offsets_are_article_offsets_for_a_later_chunk() -> None:
    start = ARTICLE.index("Interior")
    passages = [passage(0, start, 0), passage(start, len(ARTICLE), 1)]
    _, (c,) = resolve("Vicente Tiburcio traveled to the border [2].", passages)
    assert c.chunk_id == "doc:abc:1"
    assert ARTICLE[c.char_start : c.char_end] == c.quote
    assert c.quote.startswith("Interior Minister Vicente Tiburcio")
