"""Prompt templates are files in `prompts/`, loaded by name and filled with `str.format`."""

from functools import lru_cache
from pathlib import Path

from rag.errors import ConfigError


@lru_cache(maxsize=32)
def load_prompt(folder: Path, name: str) -> str:
    """The text of `prompts/<name>.md`; a missing file is a `ConfigError`."""
    path = folder / f"{name}.md"
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"prompt {name!r} not found at {path} (set RAG_PROMPTS_DIR)") from exc
