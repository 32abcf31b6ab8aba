"""Chunks are token-sized and their spans reproduce the cleaned article exactly."""

import hashlib
import itertools
from typing import Any

import pytest
from conftest import SEEDS

from rag.index.store import chunk_metadata
from rag.ingest.chunking import count_tokens, encoding, split_article
from rag.ingest.documents import load_article, parse_article


@pytest.mark.parametrize("path", sorted(SEEDS.glob("*.txt")), ids=lambda p: p.stem[:3])
def test_spans_are_exact_and_cover_the_article(path) -> None:  # type: ignore[no-untyped-def]
    article = load_article(path)
    chunks = split_article(article, chunk_size=200, chunk_overlap=30)
    assert len(chunks) >= 2
    for i, chunk in enumerate(chunks):
        assert article.text[chunk.char_start : chunk.char_end] == chunk.text
        assert chunk.index == i and chunk.doc_id == article.doc_id
        assert count_tokens(chunk.text) <= 200
    assert chunks[0].char_start == 0
    assert chunks[-1].char_end == len(article.text.rstrip())
    # Consecutive chunks touch or overlap: no text falls between them.
    for a, b in itertools.pairwise(chunks):
        assert b.char_start <= a.char_end + 2


def test_chunk_ids_change_with_the_text() -> None:
    a = parse_article("doc", "First sentence here. " * 80)
    b = parse_article("doc", "Second sentence here. " * 80)
    assert split_article(a)[0].chunk_id != split_article(b)[0].chunk_id
    assert split_article(a)[0].chunk_id == split_article(a)[0].chunk_id


def test_token_count_matches_tiktoken() -> None:
    text = "Peru is home to 1,043,460 Venezuelans."
    assert count_tokens(text) == len(encoding().encode(text)) > 5


def test_a_long_article_is_hashed_once_not_once_per_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    text = "\n\n".join(load_article(p).text for p in sorted(SEEDS.glob("*.txt")))
    article = parse_article("long", text * 4)
    whole = len(article.text.encode("utf-8"))
    real = hashlib.sha256
    hashed: list[int] = []

    def counting(data: bytes = b"", **kwargs: Any) -> Any:
        hashed.append(len(data))
        return real(data, **kwargs)

    monkeypatch.setattr(hashlib, "sha256", counting)
    chunks = split_article(article, 64, 8)
    for chunk in chunks:
        chunk_metadata(article, chunk)
    assert len(chunks) > 100
    # Each chunk's id and metadata carry the text's hash: hashing the whole text again
    # for every chunk made the cost of an article grow with the square of its length.
    assert hashed.count(whole) == 1
