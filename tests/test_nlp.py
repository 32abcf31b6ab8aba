"""spaCy annotation of long texts: bounded blocks, the same result as one `Doc`."""

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from conftest import SEEDS

from rag import nlp
from rag.ingest.documents import load_article


def seeds_text() -> str:
    """The five cleaned seed articles as one text of about 19,000 characters."""
    return "\n\n".join(load_article(p).text for p in sorted(SEEDS.glob("*.txt")))


def test_blocks_tile_the_text_and_cut_at_line_breaks() -> None:
    text = seeds_text()
    spans = list(nlp.blocks(text, 3000))
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    assert all(end - start <= 3000 for start, end in spans)
    assert all(end - start > 1500 for start, end in spans[:-1])
    assert len(spans) <= 2 * len(text) // 3000 + 1
    # Seed paragraphs are shorter than half a block: every cut follows a line break, a
    # blank line where there is one in the second half of the block.
    assert all(text[end - 1] == "\n" for _, end in spans[:-1])
    assert any(text[end - 2 : end] == "\n\n" for _, end in spans[:-1])


@pytest.mark.parametrize(
    ("text", "cuts"),
    [
        ("one line. " * 300, ". "),  # no line breaks: cut after a sentence
        ("word " * 600, " "),  # no sentence ends: cut after a space
    ],
)
def test_blocks_fall_back_to_smaller_breaks(text: str, cuts: str) -> None:
    spans = list(nlp.blocks(text, 1000))
    assert all(text[end - len(cuts) : end] == cuts for _, end in spans[:-1])
    assert "".join(text[a:b] for a, b in spans) == text


def test_blocks_of_text_without_breaks_are_cut_at_the_limit() -> None:
    assert list(nlp.blocks("x" * 2500, 1000)) == [(0, 1000), (1000, 2000), (2000, 2500)]
    assert list(nlp.blocks("", 1000)) == [(0, 0)]
    with pytest.raises(ValueError):
        list(nlp.blocks("x", 0))


def test_long_text_is_annotated_block_by_block_like_one_doc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = seeds_text()
    whole = nlp.annotate(text, block_chars=len(text))
    real = nlp.pipeline()
    lengths: list[int] = []

    def spy() -> Callable[[str], Any]:
        def run(block: str, **kwargs: Any) -> Any:
            lengths.append(len(block))
            return real(block, **kwargs)

        return run

    monkeypatch.setattr(nlp, "pipeline", spy)
    blocked = nlp.annotate(text, block_chars=3000)
    # spaCy ran on bounded blocks only, a number of them linear in the text's length ...
    assert max(lengths) <= 3000 and sum(lengths) == len(text)
    assert len(lengths) <= 2 * len(text) // 3000 + 1
    # ... and, cut at paragraph breaks, they give the one-`Doc` answer with article offsets.
    assert blocked == whole
    assert len(whole.entities) > 50
    for entity in blocked.entities[-5:]:
        assert text[entity.start : entity.end].strip()


def test_a_batch_of_texts_is_annotated_as_each_alone() -> None:
    texts = [load_article(p).text for p in sorted(SEEDS.glob("*.txt"))][:3]
    texts.append("")
    assert nlp.annotate_many(texts, block_chars=3000) == [nlp.annotate(t) for t in texts]


def test_article_words_carry_every_lemma_they_may_have() -> None:
    text = "Prices rose as the leaves fell; Mexicans voted."
    annotation = nlp.annotate(text)
    lemmas = {text[t.start : t.end]: t.lemmas for t in annotation.tokens}
    assert "rise" in lemmas["rose"] and "rose" in lemmas["rose"]
    assert {"leaf", "leave"} <= set(lemmas["leaves"])
    assert "fall" in lemmas["fell"]
    assert lemmas["Mexicans"] == ("mexicans",)  # unknown to the dictionary: itself
    assert nlp.Annotation.from_json(annotation.to_json()) == annotation
