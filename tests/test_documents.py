"""Cleaning and metadata extraction, checked against answers read off the seed articles."""

from datetime import date
from pathlib import Path

import pytest
from conftest import SEEDS

from rag.errors import InvalidInput
from rag.ingest.documents import (
    clean_text,
    extract_published,
    find_article_files,
    load_article,
    parse_article,
    read_text,
)


def seed(stem_prefix: str) -> Path:
    return next(SEEDS.glob(f"{stem_prefix}_*.txt"))


def test_date_line_and_agencies() -> None:
    a = load_article(seed("000"))
    assert a.doc_id == "000_24eb7c9a55d07d77"
    assert a.published == date(2021, 1, 27)
    assert a.outlet == "EFE and AFP"
    assert a.text.startswith("The operation comes days after")  # date line removed
    assert "With EFE and AFP" not in a.text
    assert a.text.endswith("country, after Colombia.")


def test_source_line_gives_outlet_and_no_date_is_invented() -> None:
    a = load_article(seed("001"))
    assert a.outlet == "Biobiochile"
    assert a.published is None
    assert "Source:" not in a.text
    assert a.title.startswith("The Peruvian National Police (PNP) has launched")


def test_headline_becomes_title_and_teasers_go() -> None:
    a = load_article(seed("003"))
    assert a.title == (
        "Peru declares a state of emergency on the border with Chile to contain a possible "
        "migration wave"
    )
    assert a.published is None  # "Friday (28)" names no month
    assert "GPS interference" not in a.text and "Trump spoke" not in a.text
    assert "The state of emergency will remain in effect for 60 days" in a.text


def test_dateline_footer_and_captions() -> None:
    a = load_article(seed("004"))
    # "Dec. 1 (UPI)" plus "on Monday": 1 December was a Monday in 2025 only, among
    # the years the article mentions (2018-2026).
    assert a.published == date(2025, 12, 1)
    assert a.outlet == "UPI"
    for boilerplate in (
        "Occasional Digest - a story for you",
        "Source link",
        "Leave a Reply",
        "Subscribe now",
        "Continue reading",
        "License Photo",
        "File Photo by",
    ):
        assert boilerplate not in a.text
    assert a.text.startswith("Dec. 1 (UPI) — SANTIAGO, Chile")
    assert a.text.endswith("as a way to preserve internal order.")
    assert a.title.startswith("Chile and Peru’s foreign ministers met virtually on Monday")


def test_every_story_line_survives_cleaning() -> None:
    raw = seed("002").read_text(encoding="utf-8")
    a = load_article(seed("002"))
    for line in raw.splitlines():
        if line.strip():
            assert line.strip() in a.text


def test_year_less_dateline_without_weekday_stays_unknown() -> None:
    text = "Dec. 1 (AP) — Officials met to discuss the border in 2023 and 2025."
    assert extract_published(text, text) is None


def test_explicit_year_in_dateline() -> None:
    text = "LIMA, Nov. 30, 2025 (Reuters) — Something happened."
    assert extract_published(text, text) == date(2025, 11, 30)


def test_clean_text_cuts_footer_and_keeps_body() -> None:
    raw = "Title line\n\nBody sentence one.\n\nShare this:\nFacebook\nTwitter"
    assert clean_text(raw) == "Title line\n\nBody sentence one."


def test_parse_article_rejects_text_that_is_only_boilerplate() -> None:
    with pytest.raises(InvalidInput, match="no article text"):
        parse_article("x", "Source link\nLeave a Reply")


def test_binary_and_non_utf8_files_are_named(tmp_path: Path) -> None:
    binary = tmp_path / "photo.txt"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Per\xfa".encode("latin-1"))
    with pytest.raises(InvalidInput, match=r"photo\.txt.*binary"):
        read_text(binary)
    with pytest.raises(InvalidInput, match=r"latin\.txt.*UTF-8"):
        read_text(latin)


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="folder not found"):
        find_article_files(tmp_path / "missing")
    with pytest.raises(InvalidInput, match=r"no \.txt or \.md files"):
        find_article_files(tmp_path)
    (tmp_path / ".hidden.txt").write_text("x")
    (tmp_path / "notes.pdf").write_text("x")
    with pytest.raises(InvalidInput):
        find_article_files(tmp_path)


# -- bylines (small hand-written articles; no rule names anyone) -------------------------

BODY = (
    "The river rose two metres overnight, the water authority said on Sunday.\n\n"
    "By Monday the river had risen to its highest level in forty years."
)


@pytest.mark.parametrize(
    ("byline", "author", "outlet"),
    [
        ("By Jane Smith", "Jane Smith", None),
        ("By Jane Smith and John Doe", "Jane Smith; John Doe", None),
        ("By Jane Smith, John Doe and Ann Lee", "Jane Smith; John Doe; Ann Lee", None),
        ("By Jane Smith, Reuters", "Jane Smith", "Reuters"),
        ("By Jane Smith | Reuters", "Jane Smith", "Reuters"),
        ("By Jane Smith - Valley Herald", "Jane Smith", "Valley Herald"),
        ("By Jane Smith and John Doe, Valley Herald", "Jane Smith; John Doe", "Valley Herald"),
        ("BY JANE SMITH", "JANE SMITH", None),
        ("By: Ana de la Cruz", "Ana de la Cruz", None),
        ("By Jane Smith, Staff Writer", "Jane Smith", None),  # a job title, not an outlet
    ],
)
def test_byline_sets_author_and_outlet_and_leaves_the_body(
    byline: str, author: str, outlet: str | None
) -> None:
    raw = f"Floods close the valley road\n{byline}\n\n{BODY}\n"
    a = parse_article("flood", raw)
    assert a.author == author and a.outlet == outlet
    assert a.title == "Floods close the valley road"
    assert a.text == f"Floods close the valley road\n\n{BODY}"  # only the byline line went
    assert byline not in a.text


def test_byline_after_a_date_line_and_without_a_title() -> None:
    a = parse_article("d", f"date 2024-05-02\nBy Jane Smith | Reuters\n\n{BODY}")
    assert a.published == date(2024, 5, 2) and a.author == "Jane Smith"
    assert a.outlet == "Reuters" and a.text == BODY


def test_source_line_outlet_wins_over_the_byline_one() -> None:
    a = parse_article("s", f"By Jane Smith, Reuters\n\n{BODY}\n\nSource: Valley Herald")
    assert a.outlet == "Valley Herald" and a.author == "Jane Smith"
    given = parse_article("g", f"By Jane Smith, Reuters\n\n{BODY}", outlet="Given", author="X Y")
    assert given.outlet == "Given" and given.author == "X Y"


@pytest.mark.parametrize(
    "line",
    [
        "By Monday the river had risen.",
        "By Tuesday, officials had left the town.",
        "By March 3, 2024 the road was closed.",
        "By the time the rain stopped, Jane Smith had left.",
        "By Jane Smith, who covered the floods",
        "By car and by train",
        "By Monday Night",
        "By Reuters",  # an outlet alone names no writer
    ],
)
def test_sentences_starting_with_by_are_not_bylines(line: str) -> None:
    raw = f"Floods close the valley road\n\n{line}\n\n{BODY}"
    a = parse_article("flood", raw)
    assert a.author is None and a.outlet is None
    assert line in a.text


def test_a_byline_further_down_is_story_text() -> None:
    lines = "\n\n".join(f"Paragraph {n} of the story goes on." for n in range(1, 6))
    a = parse_article("late", f"Road closed\n\n{lines}\n\nBy Jane Smith")
    assert a.author is None and a.text.endswith("By Jane Smith")


def test_chunk_spans_index_the_text_without_the_byline() -> None:
    from rag.ingest.chunking import split_article

    a = parse_article("flood", f"Floods close the valley road\nBy Jane Smith\n\n{BODY}")
    assert a.author == "Jane Smith" and "Jane Smith" not in a.text
    chunks = split_article(a, chunk_size=16, chunk_overlap=0)
    assert len(chunks) > 1
    for c in chunks:  # what citations quote: exact slices of the stored text
        assert a.text[c.char_start : c.char_end] == c.text
