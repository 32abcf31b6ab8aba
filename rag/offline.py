"""Environment switches that keep third-party libraries from reaching the network.

They must be set before those libraries are imported, which is why `rag/__init__.py`
calls `configure()` first. Each switch is a default: a variable the user already set wins.
"""

import os

from rag.packages import package_dir


def configure() -> None:
    """Set the offline environment defaults; safe to call more than once."""
    core = package_dir("llama_index.core")
    if core is not None:
        static = core / "_static"
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
