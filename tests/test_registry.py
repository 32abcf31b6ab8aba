"""Backends are chosen by name from registries; a test fake registers itself."""

import pytest
from fakes import FakeEmbedder

from rag.answer.generate import GENERATORS
from rag.config import load_settings
from rag.errors import ConfigError
from rag.index.embed import EMBEDDERS, make_embedder
from rag.registry import Registry


def test_built_in_backends_are_registered() -> None:
    assert {"extractive", "openai", "local"} <= set(GENERATORS.names())
    assert {"minilm", "openai", "fake"} <= set(EMBEDDERS.names())  # fake: tests/fakes.py


def test_an_unknown_name_is_a_config_error_naming_the_choices(tmp_path: object) -> None:
    with pytest.raises(ConfigError, match=r"RAG_GENERATOR.*unknown generator 'gpt'"):
        load_settings(generator="gpt")
    with pytest.raises(ConfigError, match="RAG_EMBEDDER"):
        load_settings(embedder="bert")
    registry: Registry[int] = Registry("widget", "RAG_WIDGET")
    registry.register("one")(lambda: 1)
    with pytest.raises(
        ConfigError, match=r"unknown widget 'two' \(RAG_WIDGET\); choose one of one"
    ):
        registry.create("two")
    assert registry.create("one") == 1


def test_a_registered_fake_is_built_from_settings() -> None:
    assert isinstance(make_embedder(load_settings(embedder="fake")), FakeEmbedder)
