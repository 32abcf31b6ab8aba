"""Issue 10's faults, one regression test each: writes, limits, health, hosts, filters.

Faults of the HTTP server are tested through a real `rag serve` on 127.0.0.1 (raw
sockets where a client misbehaves); the rest through the app or the CLI.
"""

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import (
    ADMIN_TOKEN,
    LOCAL,
    ROOT,
    SEEDS,
    LiveServer,
    free_port,
    guarded_env,
    rag_server,
    settled_readyz,
    thread_server,
)
from fastapi.testclient import TestClient

from api.main import create_app
from rag.answer.generate import REFUSAL, Draft
from rag.cli import main as cli
from rag.config import load_settings
from rag.index.store import Store
from rag.schema import Passage
from rag.service import EMPTY_INDEX, RagService

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
BOATS = "How many boats did the harbour committee count on Monday?"


def article(boats: int) -> str:
    return (
        "Harbour census finds more boats\n\n"
        f"The harbour committee counted {boats:,} boats on Monday, its chair said. "
        "The count is made every spring before the fishing season opens. "
        "Officials said the number would guide the new mooring fees."
    )


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code, body
    return str(body["error"]["message"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, seeded_dir: Path) -> Iterator[LiveServer]:
    """`rag serve` with short client deadlines, so slow clients are dropped quickly."""
    folder = tmp_path_factory.mktemp("hardening")
    with rag_server(folder, seeded_dir, RAG_CLIENT_TIMEOUT_S="1") as live:
        yield live


def raw_request(url: str, payload: bytes, read_timeout: float = 20) -> bytes:
    """Send bytes on a fresh connection and return everything the server sends back."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=read_timeout) as sock:
        sock.sendall(payload)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


# -- 1-3: lost or stale data -------------------------------------------------------------


@pytest.mark.slow
def test_racing_writers_of_one_document_leave_the_last_complete_write(
    server: LiveServer,
) -> None:
    for round_ in range(3):
        counts = [1000 + 111 * i + round_ for i in range(8)]

        def post(boats: int) -> int:
            body = {"text": article(boats), "doc_id": "race"}
            response = httpx.post(f"{server.url}/api/documents", json=body, headers=AUTH,
                                  timeout=120)  # fmt: skip
            return response.status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(post, counts)) <= {200, 201}
        doc = httpx.get(f"{server.url}/api/documents/race").json()
        stored = next(n for n in counts if f"counted {n:,} boats" in doc["text"])
        assert doc["chunks"] and doc["chunk_count"] == len(doc["chunks"])
        ask = {"question": BOATS, "filters": {"doc_ids": ["race"]}}
        answer = httpx.post(f"{server.url}/api/ask", json=ask, timeout=60).json()
        assert f"{stored:,}" in answer["answer"], answer
        assert answer["citations"][0]["doc_id"] == "race"


def test_interleaved_writes_of_one_document_keep_its_chunks(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers whose steps would interleave (a slow catalogue write widens the window)."""
    from fakes import FakeEmbedder

    from rag.ingest.documents import parse_article
    from rag.ingest.pipeline import ingest_article

    settings = make_settings()
    store = Store(settings, "fake")
    catalogue_upsert = store.catalogue.upsert

    def slow_upsert(*args: Any, **kwargs: Any) -> None:
        time.sleep(0.2)
        catalogue_upsert(*args, **kwargs)

    monkeypatch.setattr(store.catalogue, "upsert", slow_upsert)
    embedder = FakeEmbedder()
    articles = [parse_article("race", article(1000 + 111 * i)) for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda a: ingest_article(a, store, embedder, settings), articles))
    info = store.get_document("race")
    assert info is not None
    live = [n for n in store.live_nodes() if n.ref_doc_id == "race"]
    assert len(live) == info.chunk_count > 0
    assert live[0].get_content() in store.get_text("race")


def test_the_write_lock_holds_across_processes(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    store = Store(settings, "minilm")
    probe = (
        "import sys, filelock\n"
        "from rag.config import load_settings\n"
        "from rag.index.store import Store\n"
        "store = Store(load_settings(data_dir=sys.argv[1]), 'minilm')\n"
        "try:\n"
        "    store.writing().acquire(timeout=0.5)\n"
        "except filelock.Timeout:\n"
        "    sys.exit(7)\n"
    )

    def other_process_can_write() -> bool:
        done = subprocess.run([sys.executable, "-c", probe, str(settings.data_dir)], cwd=ROOT,
                              env=guarded_env(), capture_output=True, timeout=120)  # fmt: skip
        assert done.returncode in (0, 7), done.stderr.decode()
        return done.returncode == 0

    with store.writing():
        assert not other_process_can_write()
    assert other_process_can_write()


def test_resent_metadata_replaces_the_old_as_one_unit(admin: TestClient) -> None:
    full = {"text": article(42), "doc_id": "meta", "published": "2025-04-01", "outlet": "Wire"}
    assert admin.post("/api/documents", json=full, headers=AUTH).json()["outcome"] == "created"
    bare = {"text": article(42), "doc_id": "meta"}
    first = admin.post("/api/documents", json=bare, headers=AUTH).json()
    assert first["outcome"] == "updated"
    assert first["document"]["published"] is None and first["document"]["outlet"] is None
    listed = next(d for d in admin.get("/api/documents").json() if d["doc_id"] == "meta")
    assert listed["published"] is None and listed["outlet"] is None
    again = admin.post("/api/documents", json=bare, headers=AUTH).json()
    assert again["outcome"] == "unchanged" and again["chunks_written"] == 0
    ask = {"question": BOATS, "filters": {"doc_ids": ["meta"]}}
    citation = admin.post("/api/ask", json=ask).json()["citations"][0]
    assert citation["published"] is None and citation["outlet"] is None


def test_nul_characters_are_refused_by_the_api_as_by_ingest(admin: TestClient) -> None:
    body = {"text": "A story\x00with a NUL byte in it.", "doc_id": "nul"}
    message = error(admin.post("/api/documents", json=body, headers=AUTH), 400, "invalid_input")  # type: ignore[arg-type]
    assert "binary" in message
    assert all(d["doc_id"] != "nul" for d in admin.get("/api/documents").json())


# -- 4-8: bounded requests ---------------------------------------------------------------


@pytest.mark.slow
def test_the_admin_token_is_checked_before_the_body_is_read(server: LiveServer) -> None:
    # Headers announcing 100 MB and no body: answered at once, not after reading it.
    head = (
        "POST /api/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{"
    )
    reply = raw_request(server.url, head.encode())
    assert reply.startswith(b"HTTP/1.1 401"), reply[:200]
    assert b'"unauthorized"' in reply


@pytest.mark.slow
def test_bodies_over_the_limit_get_413_before_they_are_read(server: LiveServer) -> None:
    head = (
        "POST /api/documents HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {ADMIN_TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n{"
    )
    reply = raw_request(server.url, head.encode())
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b'"too_large"' in reply and b"RAG_MAX_BODY_BYTES" in reply

    # Without a length, counted as it streams in.
    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    response = httpx.post(f"{server.url}/api/documents", content=chunks(), headers=AUTH,
                          timeout=60)  # fmt: skip
    error(response, 413, "too_large")
    assert httpx.get(f"{server.url}/healthz").status_code == 200


@pytest.mark.slow
def test_an_oversized_header_is_refused_and_others_are_served(server: LiveServer) -> None:
    head = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {'a' * 200_000}\r\n\r\n"
    reply = raw_request(server.url, head.encode())
    assert reply == b"" or reply.startswith(b"HTTP/1.1 4"), reply[:200]
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}


@pytest.mark.slow
def test_slow_and_idle_clients_are_dropped(server: LiveServer) -> None:
    # RAG_CLIENT_TIMEOUT_S=1: a head that never ends, and a body that never comes.
    started = time.monotonic()
    assert raw_request(server.url, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n") == b""
    slow_body = (
        "POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        'Content-Length: 500\r\n\r\n{"question": '
    )
    reply = raw_request(server.url, slow_body.encode())
    assert reply.startswith(b"HTTP/1.1 408") and b'"request_timeout"' in reply, reply[:300]
    # Both were dropped by the server, well before the socket's own 20 s timeout.
    assert time.monotonic() - started < 19


def test_request_fields_have_strict_types(admin: TestClient) -> None:
    chat = {"messages": [{"role": "user", "content": BOATS}]}
    for flag in ("yes", "true", 1):
        error(admin.post("/api/chat", json={**chat, "stream": flag}), 422, "invalid_request")  # type: ignore[arg-type]
        openai_body = {**chat, "stream": flag}
        error(admin.post("/v1/chat/completions", json=openai_body), 422, "invalid_request")  # type: ignore[arg-type]
    for top_k in ("5", True, 5.0):
        body = {"question": BOATS, "top_k": top_k}
        error(admin.post("/api/ask", json=body), 422, "invalid_request")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "body",
    [b'{"question": "caf\xe9"}', b"[" * 100_000, b"\x89PNG\r\n\x1a\n\x00\x00", b"{"],
    ids=["invalid-utf8", "deep-nesting", "binary", "truncated"],
)
def test_unparsable_bodies_are_malformed_json(admin: TestClient, body: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    error(admin.post("/api/ask", content=body, headers=headers), 400, "malformed_json")  # type: ignore[arg-type]
    # Without a token, a write is refused before its body is looked at.
    response = admin.post("/api/documents", content=body, headers=headers)
    error(response, 401, "unauthorized")  # type: ignore[arg-type]


# -- 6, 9, 10: concurrency, health and readiness ------------------------------------------


class BlockingGenerator:
    """Holds every question until `release` is set (a thread-pool worker each)."""

    name = "blocking"
    final_stream = True

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def rewrite(self, history: str, question: str) -> str | None:
        return None

    def check(self) -> None:
        pass

    def generate(self, question: str, passages: Sequence[Passage]) -> Draft:
        self.entered.release()
        self.release.wait(60)
        return Draft(REFUSAL, answerable=False)

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str | Draft]:
        yield self.generate(question, passages)


@pytest.fixture
def blocked_server(
    seeded_dir: Path, seeded_service: RagService
) -> Iterator[tuple[str, BlockingGenerator]]:
    """uvicorn in a thread whose questions block; at most 3 requests at once."""
    gate = BlockingGenerator()
    settings = load_settings(data_dir=seeded_dir, seeds_dir=SEEDS, max_concurrent_requests=3)
    service = RagService(settings, embedder=seeded_service.embedder, generator=gate)
    with thread_server(service) as url:
        yield url, gate
        gate.release.set()


@pytest.mark.slow
def test_busy_server_answers_503_with_retry_after_and_stays_live(
    blocked_server: tuple[str, BlockingGenerator],
) -> None:
    url, gate = blocked_server
    with ThreadPoolExecutor(3) as pool:
        held = [pool.submit(httpx.post, f"{url}/api/ask", json={"question": BOATS}, timeout=60)
                for _ in range(3)]  # fmt: skip
        for _ in range(3):
            assert gate.entered.acquire(timeout=60)
        busy = httpx.post(f"{url}/api/ask", json={"question": BOATS}, timeout=10)
        error(busy, 503, "busy")
        assert busy.headers["retry-after"] == "1"
        # Liveness answers while every slot is taken (a timeout here would be a hang).
        assert httpx.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}
        gate.release.set()
        assert all(f.result().status_code == 200 for f in held)


@pytest.mark.slow
def test_healthz_answers_while_the_thread_pool_is_full(
    seeded_dir: Path, seeded_service: RagService
) -> None:
    gate = BlockingGenerator()
    settings = load_settings(data_dir=seeded_dir, seeds_dir=SEEDS)
    service = RagService(settings, embedder=seeded_service.embedder, generator=gate)
    with thread_server(service) as url:
        try:
            # 45 blocked questions: more than the 40 threads of AnyIO's default pool.
            with ThreadPoolExecutor(45) as pool:
                held = [pool.submit(httpx.post, f"{url}/api/ask", json={"question": BOATS},
                                    timeout=120) for _ in range(45)]  # fmt: skip
                for _ in range(40):
                    assert gate.entered.acquire(timeout=60)
                assert httpx.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}
                gate.release.set()
                assert all(f.result().status_code == 200 for f in held)
        finally:
            gate.release.set()


def test_readyz_waits_for_the_warm_up(
    seeded_dir: Path, seeded_service: RagService, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(data_dir=seeded_dir, seeds_dir=SEEDS)
    service = RagService(settings, embedder=seeded_service.embedder)
    release = threading.Event()
    warm_up = service.warm_up
    monkeypatch.setattr(service, "warm_up", lambda: (release.wait(60), warm_up()))
    with TestClient(create_app(service=service), base_url=LOCAL) as c:
        waiting = c.get("/readyz")
        assert waiting.status_code == 503 and waiting.json()["status"] == "warming_up"
        assert c.get("/healthz").status_code == 200
        release.set()
        ready = settled_readyz(c)
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
    from rag.nlp import pipeline

    assert pipeline.cache_info().currsize == 1  # the reader's model was loaded by warm-up


def test_an_empty_index_is_a_named_state_in_api_and_cli(
    make_settings: Any, seeded_service: RagService, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings()
    service = RagService(settings, embedder=seeded_service.embedder)
    with TestClient(create_app(service=service), base_url=LOCAL) as c:
        ready = settled_readyz(c)
        assert ready.status_code == 200 and ready.json()["checks"]["index"] == "empty"
        assert ready.json()["documents"] == 0
        message = error(c.post("/api/ask", json={"question": BOATS}), 409, "index_empty")  # type: ignore[arg-type]
        assert message == EMPTY_INDEX
    import os

    os.environ["RAG_DATA_DIR"] = str(settings.data_dir)
    try:
        from rag.config import get_settings

        get_settings.cache_clear()
        assert cli(["ask", BOATS]) == 2
    finally:
        del os.environ["RAG_DATA_DIR"]
        get_settings.cache_clear()
    assert EMPTY_INDEX in capsys.readouterr().err


# -- 12: hosts, headers, methods --------------------------------------------------------


@pytest.mark.slow
def test_only_configured_hosts_are_served(server: LiveServer) -> None:
    port = server.url.rsplit(":", 1)[1]
    evil = httpx.get(f"{server.url}/api/documents", headers={"Host": "rebind.example"})
    error(evil, 400, "invalid_host")
    assert "rebind" not in evil.text
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}"):
        assert httpx.get(f"{server.url}/api/documents", headers={"Host": host}).status_code == 200


def test_docs_headers_options_head_and_favicon(admin: TestClient) -> None:
    for path in ("/docs", "/redoc"):
        response = admin.get(path)
        assert response.status_code == 200
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
    options = admin.options("/api/documents")
    assert options.status_code == 204
    assert set(options.headers["allow"].split(", ")) == {"GET", "POST", "OPTIONS"}
    wrong = admin.put("/api/documents", json={})
    assert wrong.status_code in (401, 405)  # a write method: the token comes first
    wrong = admin.patch("/api/ask", json={})
    error(wrong, 405, "method_not_allowed")  # type: ignore[arg-type]
    assert set(wrong.headers["allow"].split(", ")) == {"POST", "OPTIONS"}
    assert admin.head("/").status_code == 200
    icon = admin.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")


# -- 14: what the README promises ---------------------------------------------------------


def test_unknown_doc_id_is_an_error_and_an_excluding_filter_is_named(
    admin: TestClient, seeded_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {"question": BOATS, "filters": {"doc_ids": ["nope"]}}
    assert "'nope'" in error(admin.post("/api/ask", json=body), 404, "not_found")  # type: ignore[arg-type]
    undated = next(d["doc_id"] for d in admin.get("/api/documents").json() if not d["published"])
    dated = {"doc_ids": [undated], "published_from": "2025-01-01", "published_to": "2025-12-31"}
    answer = admin.post("/api/ask", json={"question": BOATS, "filters": dated}).json()
    assert not answer["answerable"] and not answer["citations"]
    assert "No article matches the filters" in answer["answer"]
    assert "undated" in answer["answer"] and undated in answer["answer"]

    import os

    os.environ["RAG_DATA_DIR"] = str(seeded_dir)
    try:
        from rag.config import get_settings

        get_settings.cache_clear()
        assert cli(["ask", BOATS, "--doc-id", "nope"]) == 3
    finally:
        del os.environ["RAG_DATA_DIR"]
        get_settings.cache_clear()
    assert "'nope'" in capsys.readouterr().err


# -- 6: shutdown ------------------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_is_not_held_up_by_a_slow_client(tmp_path: Path, seeded_dir: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    import shutil

    shutil.copytree(seeded_dir, data)
    env = guarded_env(RAG_DATA_DIR=str(data), RAG_CLIENT_TIMEOUT_S="300",
                      RAG_SHUTDOWN_TIMEOUT_S="2")  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        # A request whose body never finishes, on a connection kept open.
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"POST /api/ask HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{")  # fmt: skip
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        # Graceful shutdown gives up on it after RAG_SHUTDOWN_TIMEOUT_S (2 s), not 300 s.
        assert proc.wait(timeout=60) is not None
        slow.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_allowed_hosts_read_from_a_comma_separated_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAG_ALLOWED_HOSTS", "news.example.org, localhost")
    assert load_settings().allowed_hosts == ["news.example.org", "localhost"]
