"""One typed `Settings` for the whole service, read from `RAG_*` variables and `.env`.

Tests build their own instance with `Settings(...)` or `get_settings.cache_clear()`;
nothing patches module globals.
"""

from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rag.errors import ConfigError


class Settings(BaseSettings):
    """Every tunable of the service; each field is the variable `RAG_<NAME>`."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    data_dir: Path = Path(".rag")
    seeds_dir: Path = Path("seeds")
    collection: str = "news"

    # Chroma: a local persistent client unless a server host is given.
    chroma_host: str | None = None
    chroma_port: int = Field(default=8000, ge=1, le=65535)

    # Chunking, in tiktoken (cl100k_base) tokens.
    chunk_size: int = Field(default=200, ge=32, le=2000)
    chunk_overlap: int = Field(default=30, ge=0, le=500)

    embedder: str = "minilm"  # a name in rag.index.embed.EMBEDDERS
    # Threads of the bundled embedder's ONNX session; 0 lets onnxruntime use every core.
    # On a machine with cores to spare, one core fewer than the cores leaves one to the
    # entity recogniser that annotates beside it at ingest (README, `make bench`).
    embed_threads: int = Field(default=0, ge=0, le=256)
    openai_embedding_model: str = "text-embedding-3-small"

    top_k: int = Field(default=5, ge=1, le=50)
    # Each retriever (dense, BM25) fetches this many candidates before fusion.
    candidates: int = Field(default=20, ge=1, le=200)

    generator: str = "extractive"  # a name in rag.answer.generate.GENERATORS
    # LLM generators see only the best few passages: short prompts keep the first token fast.
    llm_passages: int = Field(default=3, ge=1, le=20)
    llm_max_tokens: int = Field(default=200, ge=16, le=4096)
    # `local`: a GGUF model run in-process by llama-cpp-python (bundled SmolLM2 by default).
    local_model_path: Path | None = None
    local_threads: int = Field(default=2, ge=1, le=64)
    local_context: int = Field(default=2048, ge=512, le=32768)
    openai_base_url: str | None = None
    openai_api_key: SecretStr | None = None
    openai_model: str = "gpt-4o-mini"
    openai_timeout_s: float = Field(default=60.0, gt=0)
    openai_max_retries: int = Field(default=2, ge=0, le=10)

    # Questions longer than this many tiktoken tokens are rejected.
    max_question_tokens: int = Field(default=256, ge=8, le=8192)
    # Articles longer than this many characters (after cleaning) are refused at ingest.
    # Ingest costs about 15 s of CPU per 100,000 characters (three quarters embedding).
    max_article_chars: int = Field(default=200_000, ge=1000)
    # New and changed articles are embedded, annotated and written this many chunks at a
    # time (rag.ingest.pipeline): bigger batches keep the embedder busier; a crash loses
    # at most one.
    ingest_batch_chunks: int = Field(default=256, ge=1, le=10_000)
    prompts_dir: Path = Path(__file__).resolve().parent.parent / "prompts"

    # HTTP API: adding and deleting documents needs `Authorization: Bearer <token>`;
    # without a token those endpoints are disabled.
    admin_token: SecretStr | None = None
    # The model id the OpenAI-compatible endpoints report (`GET /v1/models`).
    model_name: str = "news-rag"

    # Fetching articles by URL (`rag ingest URL...`).
    fetch_timeout_s: float = Field(default=15.0, gt=0, le=300)
    fetch_max_redirects: int = Field(default=5, ge=0, le=20)
    max_fetch_bytes: int = Field(default=5_000_000, ge=1024)
    # Whether `POST /api/documents/urls` may fetch from loopback, private and link-local
    # addresses (the server's own network). `rag ingest URL` always may: it runs as you.
    api_fetch_private: bool = False

    # HTTP limits (README, "Limits"). Host names the server answers to (comma-separated;
    # a DNS-rebinding page gets 400): add the public name when serving behind a proxy.
    allowed_hosts: Annotated[list[str], NoDecode] = ["127.0.0.1", "localhost", "::1"]
    max_body_bytes: int = Field(default=2_000_000, ge=1024)  # larger bodies get 413
    max_header_bytes: int = Field(default=65_536, ge=4096)  # larger headers: 400, closed
    # A client gets this long to send a request's headers, and its body (else 408/closed).
    client_timeout_s: float = Field(default=10.0, gt=0, le=600)
    keep_alive_s: int = Field(default=5, ge=1, le=600)  # idle keep-alive connections close
    shutdown_timeout_s: int = Field(default=10, ge=1, le=600)  # SIGTERM waits at most this
    # Requests handled at once (health checks excepted); more get 503 with Retry-After.
    max_concurrent_requests: int = Field(default=64, ge=1, le=10_000)
    max_connections: int = Field(default=1000, ge=1, le=100_000)  # open sockets per worker

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

    @field_validator("embedder", "generator")
    @classmethod
    def _registered(cls, value: str, info: ValidationInfo) -> str:
        # Imported here: the registries' modules import this one.
        from rag.answer.generate import GENERATORS
        from rag.index.embed import EMBEDDERS

        registry = EMBEDDERS if info.field_name == "embedder" else GENERATORS
        if value not in registry.names():
            raise ValueError(f"unknown {registry.kind} {value!r}; choose one of {registry.names()}")
        return value

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"RAG_CHUNK_OVERLAP ({self.chunk_overlap}) must be smaller than "
                f"RAG_CHUNK_SIZE ({self.chunk_size})"
            )
        return self

    @property
    def chroma_path(self) -> Path:
        """Folder of the local persistent Chroma database."""
        return self.data_dir / "chroma"

    def openai_key(self) -> str | None:
        """The API key as plain text, for the client only; never log it."""
        return self.openai_api_key.get_secret_value() if self.openai_api_key else None


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment; invalid values become a `ConfigError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = "_".join(str(p) for p in err["loc"]) if err["loc"] else ""
            name = f"RAG_{loc.upper()}" if loc else "settings"
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
