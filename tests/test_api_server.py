"""The API over real sockets: `rag serve` as a subprocess, the official openai client, SSE."""

import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import openai
import pytest
from conftest import SEEDS, LiveServer, thread_server

from rag.answer.generate import Draft
from rag.config import load_settings
from rag.schema import Passage
from rag.service import RagService

TACNA = "How long will the state of emergency in Tacna last?"

pytestmark = pytest.mark.slow


def read_sse(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event, data) pairs from the lines of a text/event-stream, as they arrive."""
    name, data = "message", []
    for line in lines:
        if line == "":
            if data:
                yield name, "\n".join(data)
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))


def ai(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0,
                         timeout=60)  # fmt: skip


def test_openai_client_without_streaming(live_server: LiveServer) -> None:
    client = ai(live_server)
    assert [m.id for m in client.models.list()] == ["news-rag"]
    completion = client.chat.completions.create(
        model="news-rag", messages=[{"role": "user", "content": TACNA}]
    )
    assert completion.object == "chat.completion"
    content = completion.choices[0].message.content or ""
    assert "60 days" in content and "[1]" in content
    extra = completion.model_extra or {}
    citations = extra["citations"]
    assert citations[0]["n"] == 1 and "60 days" in citations[0]["quote"]
    assert extra["retrieval_query"] == TACNA


def test_openai_client_streaming_follow_up(live_server: LiveServer) -> None:
    stream = ai(live_server).chat.completions.create(
        model="news-rag",
        stream=True,
        messages=[
            {"role": "user", "content": "Why did Peru declare a state of emergency in Tacna?"},
            {"role": "assistant", "content": "To contain a migration wave."},
            {"role": "user", "content": "And how long will it last?"},
        ],
    )
    chunks = list(stream)
    assert len(chunks) > 3
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "60" in text
    carrying = [i for i, c in enumerate(chunks) if (c.model_extra or {}).get("citations")]
    assert carrying == [len(chunks) - 1]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "Tacna" in (chunks[-1].model_extra or {})["retrieval_query"]


def test_openai_client_sees_errors(live_server: LiveServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        ai(live_server).chat.completions.create(
            model="news-rag", messages=[{"role": "user", "content": "   "}]
        )
    assert "empty" in str(caught.value)


def test_sse_events_arrive_in_order(live_server: LiveServer) -> None:
    body = {"messages": [{"role": "user", "content": TACNA}], "stream": True}
    with (
        httpx.Client(timeout=60) as client,
        client.stream("POST", f"{live_server.url}/api/chat", json=body) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [(name, json.loads(data)) for name, data in read_sse(response.iter_lines())]
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "done"
    assert set(names[1:-1]) == {"token"} and len(names) > 5
    assert "60 days" in events[-1][1]["answer"] and events[-1][1]["citations"]


def test_http_errors_and_headers_over_the_wire(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url, timeout=60) as client:
        json_type = {"Content-Type": "application/json"}
        bad = client.post("/api/ask", content=b'{"question": ', headers=json_type)
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "malformed_json"
        page = client.get("/")
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert client.get("/readyz").json()["documents"] >= 5
        denied = client.post("/api/documents", json={"text": "x"})
        assert denied.status_code == 401


def test_server_stayed_on_the_machine(live_server: LiveServer) -> None:
    ai(live_server).chat.completions.create(
        model="m", messages=[{"role": "user", "content": TACNA}]
    )
    assert not live_server.netlog.exists() or live_server.netlog.read_text() == ""


# -- first bytes before the answer is finished ---------------------------------------------


class GatedGenerator:
    """Streams one word, then waits until the test has seen the first events."""

    name = "gated"
    final_stream = False

    def __init__(self) -> None:
        self.release = threading.Event()
        self.finished = threading.Event()

    def rewrite(self, history: str, question: str) -> str | None:
        return None

    def check(self) -> None:
        """Always ready."""

    def generate(self, question: str, passages: Sequence[Passage]) -> Draft:
        return Draft("The state of emergency lasts 60 days [1].", True)

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str | Draft]:
        yield "The "
        if not self.release.wait(30):
            raise TimeoutError("the client never saw the first events")
        yield "state of emergency lasts 60 days [1]."
        self.finished.set()
        yield self.generate(question, passages)


@pytest.fixture
def gated_server(
    seeded_copy: Path, seeded_service: RagService
) -> Iterator[tuple[str, GatedGenerator]]:
    """uvicorn in a thread on 127.0.0.1 over a service whose generator the test controls."""
    gate = GatedGenerator()
    settings = load_settings(data_dir=seeded_copy, seeds_dir=SEEDS)
    service = RagService(settings, embedder=seeded_service.embedder, generator=gate)
    with thread_server(service) as url:
        yield url, gate
        gate.release.set()


def test_stream_sends_first_events_before_generation_ends(
    gated_server: tuple[str, GatedGenerator],
) -> None:
    url, gate = gated_server
    body = {"messages": [{"role": "user", "content": TACNA}], "stream": True}
    seen: list[str] = []
    # A short read timeout: a server that buffered the whole answer would time out here.
    with (
        httpx.Client(timeout=httpx.Timeout(20, read=10)) as client,
        client.stream("POST", f"{url}/api/chat", json=body) as response,
    ):
        for name, data in read_sse(response.iter_lines()):
            seen.append(name)
            if name == "token" and len(seen) == 2:
                assert not gate.finished.is_set()  # generation is still blocked
                assert json.loads(data)["text"] == "The "
                gate.release.set()
    assert seen == ["sources", "token", "token", "done"]
    assert gate.finished.is_set()
