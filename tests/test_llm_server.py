"""The `openai` and `local` generators against the bundled SmolLM2, for real.

One test server is `python -m llama_cpp.server`, a real OpenAI-compatible server on
127.0.0.1, started with the network guard. Answers of a 135M model are not graded
here (the eval does that); what must hold is the service's contract: checked
citations, streaming in pieces, and clear errors when the server is wrong or gone.
"""

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import LOCAL, ROOT, free_port, guarded_env

from rag.answer.local_llm import bundled_model
from rag.config import load_settings
from rag.errors import BackendUnavailable, ConfigError
from rag.service import RagService

TACNA = "How long will the state of emergency in Tacna last?"
ALIAS = "smollm2"


def start_server(model: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", ALIAS,
         "--host", "127.0.0.1", "--port", str(port), "--n_threads", "2", "--n_ctx", "2048"],
        cwd=ROOT, env=guarded_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def wait_ready(proc: subprocess.Popen[bytes], port: int, seconds: float = 90) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            time.sleep(0.3)
    return False


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    port = free_port()
    proc = start_server(bundled_model(), port)
    try:
        assert wait_ready(proc, port), "llama_cpp.server did not start"
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def llm_service(seeded_dir: Path, port: int, **overrides: object) -> RagService:
    values: dict[str, object] = {
        "data_dir": seeded_dir, "generator": "openai", "openai_model": ALIAS,
        "openai_base_url": f"http://127.0.0.1:{port}/v1", "openai_max_retries": 0,
        "openai_timeout_s": 180,  # a busy 2-core machine slows llama.cpp a lot
    }  # fmt: skip
    return RagService(load_settings(**{**values, **overrides}))


def assert_contract(service: RagService, answer) -> None:  # type: ignore[no-untyped-def]
    assert answer.generator == "openai"
    assert answer.fallback in (None, "extractive")
    assert "NOT_IN_ARTICLES" not in answer.answer
    if answer.answerable:
        assert answer.citations, answer.answer
    for c in answer.citations:
        assert 1 <= c.n <= len(answer.passages)
        assert service.store.get_text(c.doc_id)[c.char_start : c.char_end] == c.quote


def test_openai_generator_through_a_real_server(seeded_dir: Path, server: int) -> None:
    service = llm_service(seeded_dir, server)
    service.generator.check()
    assert service.readiness()["ready"] is True
    answer = service.ask(TACNA)
    assert_contract(service, answer)
    assert "60 days" in answer.answer  # SmolLM2 states it, or the fallback does


def test_streaming_through_a_real_server(seeded_dir: Path, server: int) -> None:
    service = llm_service(seeded_dir, server)
    events = list(service.ask_stream(TACNA))
    kinds = [e.kind for e in events]
    assert kinds[0] == "sources" and kinds[-1] == "done"
    assert kinds.count("token") > 3  # the model's reply arrived in pieces
    final = events[-1].answer
    assert final is not None
    assert_contract(service, final)


def test_unknown_model_name_is_a_clear_error(seeded_dir: Path, server: int) -> None:
    service = llm_service(seeded_dir, server, openai_model="gpt-4o")
    with pytest.raises(ConfigError, match=r"RAG_OPENAI_MODEL='gpt-4o' is not served.*smollm2"):
        service.generator.check()
    assert "not served" in str(service.readiness()["generator"])


def test_server_gone_mid_run(seeded_dir: Path) -> None:
    port = free_port()
    proc = start_server(bundled_model(), port)
    try:
        assert wait_ready(proc, port)
        service = llm_service(seeded_dir, port)
        assert service.ask(TACNA).generator == "openai"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    gone = r"could not reach the model server at http://127\.0\.0\.1:\d+/v1 while"
    with pytest.raises(BackendUnavailable, match=rf"{gone} answering"):
        service.ask(TACNA)
    with pytest.raises(BackendUnavailable, match=rf"{gone} listing models"):
        service.generator.check()
    assert service.readiness()["ready"] is False


def test_missing_key_for_the_public_api_is_a_config_error(seeded_dir: Path) -> None:
    settings = load_settings(data_dir=seeded_dir, generator="openai")
    with pytest.raises(ConfigError, match="RAG_OPENAI_API_KEY"):
        RagService(settings).generator  # noqa: B018
    readiness = RagService(settings).readiness()
    assert readiness["ready"] is False and "RAG_OPENAI_API_KEY" in str(readiness["generator"])


def test_local_generator_in_process(seeded_dir: Path) -> None:
    service = RagService(load_settings(data_dir=seeded_dir, generator="local"))
    answer = service.ask(TACNA)
    assert answer.generator == "local"
    assert "60 days" in answer.answer
    for c in answer.citations:
        assert service.store.get_text(c.doc_id)[c.char_start : c.char_end] == c.quote
    pieces = [e for e in service.ask_stream(TACNA) if e.kind == "token"]
    assert len(pieces) > 3


def test_missing_local_model_file_is_named(seeded_dir: Path, tmp_path: Path) -> None:
    settings = load_settings(data_dir=seeded_dir, generator="local",
                             local_model_path=tmp_path / "nope.gguf")  # fmt: skip
    with pytest.raises(ConfigError, match="RAG_LOCAL_MODEL_PATH"):
        RagService(settings).generator  # noqa: B018


def test_api_chat_with_the_openai_generator(seeded_dir: Path, server: int) -> None:
    from fastapi.testclient import TestClient
    from test_api import sse_events

    from api.main import create_app

    service = llm_service(seeded_dir, server)
    messages = [
        {"role": "user", "content": "Which state of emergency did Peru declare in Tacna?"},
        {"role": "assistant", "content": "A state of emergency on the border with Chile."},
        {"role": "user", "content": "How long will it last?"},
    ]
    with TestClient(create_app(service=service), base_url=LOCAL) as client:
        plain = client.post("/api/chat", json={"messages": messages})
        assert plain.status_code == 200, plain.text
        body = plain.json()
        # The model rewrote the follow-up (prompts/condense.md) into a standalone query.
        assert body["generator"] == "openai"
        assert body["retrieval_query"] not in ("", "How long will it last?")
        assert body["citations"] or not body["answerable"]  # a 135M model is not graded here
        streamed = client.post("/api/chat", json={"messages": messages, "stream": True})
        events = sse_events(streamed.text)
        kinds = [kind for kind, _ in events]
        assert kinds[0] == "sources" and kinds[-1] == "done" and "token" in kinds
        done = events[-1][1]
        assert done["generator"] == "openai"
        for c in done["citations"]:
            assert c["quote"] in service.store.get_text(c["doc_id"])
