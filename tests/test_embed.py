"""The bundled int8 embedder against fp32 sentence-transformers reference vectors."""

import json
from pathlib import Path

import numpy as np
import pytest

from rag.index.embed import MiniLMEmbedder

REFERENCE = Path(__file__).parent / "data" / "minilm_fp32_reference.json"


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_int8_vectors_match_fp32_reference(embedder: MiniLMEmbedder) -> None:
    ref = json.loads(REFERENCE.read_text(encoding="utf-8"))
    ours = np.array(embedder.embed_documents(ref["sentences"]))
    theirs = np.array(ref["vectors"])
    assert ours.shape == theirs.shape == (len(ref["sentences"]), 384)
    cosines = (ours * theirs).sum(axis=1) / np.linalg.norm(theirs, axis=1)
    assert cosines.min() >= 0.99, cosines


def test_vectors_are_unit_length_and_query_equals_document(embedder: MiniLMEmbedder) -> None:
    text = "How long will the state of emergency in Tacna last?"
    doc = np.array(embedder.embed_documents([text])[0])
    assert abs(np.linalg.norm(doc) - 1.0) < 1e-5
    assert np.allclose(doc, embedder.embed_query(text), atol=1e-6)


def test_batches_give_the_same_vectors_as_single_calls(embedder: MiniLMEmbedder) -> None:
    texts = [f"Sentence number {i} about the border." for i in range(40)]  # > one batch
    batch = np.array(embedder.embed_documents(texts))
    single = np.array(embedder.embed_documents([texts[37]])[0])
    assert np.allclose(batch[37], single, atol=1e-4)


def test_length_sorted_batches_keep_each_text_its_vector(embedder: MiniLMEmbedder) -> None:
    # Lengths from 1 to 60 words, shuffled, over two batches: sorting must not mix rows up.
    texts = [" ".join(["border"] * (1 + (i * 37) % 60)) + f" {i}" for i in range(60)]
    sorted_rows = np.array(embedder.embed_documents(texts))
    for i in (0, 13, 59):
        alone = np.array(embedder.embed_documents([texts[i]])[0])
        assert np.allclose(sorted_rows[i], alone, atol=1e-4)


def test_similar_meaning_scores_higher(embedder: MiniLMEmbedder) -> None:
    q = np.array(embedder.embed_query("How long will the emergency last?"))
    near = np.array(embedder.embed_query("The state of emergency will remain for 60 days."))
    far = np.array(embedder.embed_query("Bananas are rich in potassium."))
    assert q @ near > q @ far + 0.3


def test_the_thread_setting_changes_speed_not_vectors(embedder: MiniLMEmbedder) -> None:
    from rag.config import load_settings
    from rag.errors import ConfigError
    from rag.index.embed import make_embedder

    one = make_embedder(load_settings(embed_threads=1))
    assert isinstance(one, MiniLMEmbedder) and one is not embedder
    text = "The council will decide on the bridge in March."
    assert np.allclose(one.embed_query(text), embedder.embed_query(text), atol=1e-5)
    with pytest.raises(ConfigError, match="RAG_EMBED_THREADS"):
        load_settings(embed_threads=-1)
