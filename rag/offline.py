"""Environment switches that keep third-party libraries from reaching the network.

They must be set before those libraries are imported, which is why `rag/__init__.py`
calls `configure()` first. Each switch is a default: a variable the user already set wins.
"""

import importlib.util
import os
from pathlib import Path


def _llama_index_static() -> Path | None:
    spec = importlib.util.find_spec("llama_index.core")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "_static"


def configure() -> None:
    """Set the offline environment defaults; safe to call more than once."""
    static = _llama_index_static()
    if static is not None:
        # tiktoken downloads its BPE files on first use; llama-index-core ships them.
        os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(static / "tiktoken_cache"))
        os.environ.setdefault("NLTK_DATA", str(static / "nltk_cache"))
    # onnxruntime >= 1.31 sends usage telemetry a few seconds after a session starts.
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    # Chroma's posthog telemetry; also disabled in the client settings.
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
