"""The HTTP API in-process (FastAPI's TestClient) over the seeded index."""

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import ADMIN_TOKEN, LOCAL, ROOT, SEEDS, free_port, settled_readyz
from fakes import ScriptedGenerator
from fastapi.testclient import TestClient
from httpx import Response
from pdfs import pages_pdf

from api.main import create_app
from api.schemas import DocumentDetail
from rag.answer.generate import Draft
from rag.config import load_settings
from rag.errors import BackendUnavailable
from rag.ingest.documents import load_article
from rag.public import AnswerPublic, DocumentPublic, answer_dict
from rag.schema import Passage
from rag.service import RagService

TACNA = "How long will the state of emergency in Tacna last?"
TOKEN = ADMIN_TOKEN


@pytest.fixture(scope="module")
def client(seeded_service: RagService) -> Iterator[TestClient]:
    with TestClient(create_app(service=seeded_service), base_url=LOCAL) as c:
        yield c


def service_with(generator: object, seeded_dir: Path, seeded_service: RagService) -> RagService:
    """A read-only service over the seeded index that answers with `generator`."""
    settings = load_settings(data_dir=seeded_dir, seeds_dir=SEEDS)
    return RagService(settings, embedder=seeded_service.embedder, generator=generator)  # type: ignore[arg-type]


def assert_error(response: Response, status: int, code: str | None = None) -> str:
    """The response is an error in the common shape; returns its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    assert "Traceback" not in response.text
    if code:
        assert body["error"]["code"] == code
    return str(body["error"]["message"])


def sse_events(text: str) -> list[tuple[str, Any]]:
    """Parse a whole text/event-stream body into (event, data) pairs."""
    events = []
    for block in text.strip().split("\n\n"):
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        payload = "\n".join(data)
        events.append((name, payload if payload == "[DONE]" else json.loads(payload)))
    return events


# -- /api/ask ---------------------------------------------------------------------------


def test_ask_returns_the_cli_answer_object(client: TestClient, seeded_service: RagService) -> None:
    response = client.post("/api/ask", json={"question": TACNA})
    assert response.status_code == 200
    body = response.json()
    expected = answer_dict(seeded_service.ask(TACNA))
    assert set(body) == set(expected)
    for key in expected.keys() - {"timings_ms"}:
        assert body[key] == expected[key], key
    assert "60 days" in body["answer"] and body["citations"][0]["supported"] is True
    AnswerPublic.model_validate(body)  # the documented schema matches what is sent


def test_ask_filters_restrict_the_documents(client: TestClient) -> None:
    only = "004_9dd10a7479862716"
    body = client.post(
        "/api/ask", json={"question": TACNA, "top_k": 2, "filters": {"doc_ids": [only]}}
    ).json()
    assert body["citations"] and {c["doc_id"] for c in body["citations"]} == {only}
    wrong_order = {"published_from": "2025-01-02", "published_to": "2025-01-01"}
    message = assert_error(
        client.post("/api/ask", json={"question": TACNA, "filters": wrong_order}), 400
    )
    assert "published_from" in message


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ('{"question": ', 400, "malformed_json"),
        ("not json at all", 400, "malformed_json"),
        ('{"question": ""}', 400, "invalid_input"),
        ('{"question": "   \\n  "}', 400, "invalid_input"),
        ('{"question": 42}', 422, "invalid_request"),
        ('{"question": ["a"]}', 422, "invalid_request"),
        ('{"question": "Tacna?", "top_k": "many"}', 422, "invalid_request"),
        ('{"question": "Tacna?", "top_k": 0}', 422, "invalid_request"),
        ('{"question": "Tacna?", "top_k": 51}', 422, "invalid_request"),
        ('{"question": "Tacna?", "filters": {"published_from": "yesterday"}}', 422, None),
        ('{"question": "Tacna?", "filters": {"doc_ids": "003"}}', 422, None),
        ('{"question": "Tacna?", "colour": "red"}', 422, "invalid_request"),
        ("{}", 422, "invalid_request"),
        ("[]", 422, "invalid_request"),
        ("", 422, "invalid_request"),
    ],
)
def test_ask_rejects_bad_input(client: TestClient, body: str, status: int, code: str) -> None:
    response = client.post("/api/ask", content=body, headers={"Content-Type": "application/json"})
    assert_error(response, status, code)


def test_over_long_question_names_the_limit(client: TestClient) -> None:
    message = assert_error(client.post("/api/ask", json={"question": "word " * 400}), 400)
    assert "RAG_MAX_QUESTION_TOKENS" in message


# -- /api/chat --------------------------------------------------------------------------

FOLLOW_UP = [
    {"role": "user", "content": "Why did Peru declare a state of emergency in Tacna?"},
    {"role": "assistant", "content": "To contain a migration wave [1]."},
    {"role": "user", "content": "And how long will it last?"},
]


def test_chat_rewrites_a_follow_up(client: TestClient) -> None:
    body = client.post("/api/chat", json={"messages": FOLLOW_UP}).json()
    assert body["retrieval_query"].startswith("And how long will it last?")
    assert "Tacna" in body["retrieval_query"]
    assert body["answerable"] and "60" in body["answer"] and body["citations"]
    AnswerPublic.model_validate(body)


def test_chat_stream_sends_sources_tokens_done(client: TestClient) -> None:
    messages = [{"role": "user", "content": TACNA}]
    response = client.post("/api/chat", json={"messages": messages, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "done"
    assert set(names[1:-1]) == {"token"} and len(names) > 5
    passages = events[0][1]["passages"]
    assert [p["n"] for p in passages] == list(range(1, len(passages) + 1))
    streamed = "".join(data["text"] for name, data in events if name == "token")
    done = events[-1][1]
    assert "60 days" in streamed and streamed.strip() == done["answer"]
    assert done["citations"] and done["timings_ms"]["total"] > 0
    assert done["citations"][0]["chunk_id"] in {p["chunk_id"] for p in passages}


@pytest.mark.parametrize("stream", [False, True])
def test_chat_rejects_bad_conversations(client: TestClient, stream: bool) -> None:
    def chat(messages: object) -> Response:
        return client.post("/api/chat", json={"messages": messages, "stream": stream})

    # Validation errors come before the stream starts, so they keep their status code.
    assert_error(chat([{"role": "user", "content": " "}]), 400, "invalid_input")
    message = assert_error(chat(FOLLOW_UP[:2]), 400, "invalid_input")
    assert "last message" in message
    assert_error(chat([]), 422)
    assert_error(chat("hello"), 422)
    assert_error(chat([{"role": "wizard", "content": "hi"}]), 422)
    assert_error(chat([{"role": "user"}]), 422)


class FailingGenerator:
    """Streams one word, then the backend goes away."""

    name = "failing"
    final_stream = False

    def __init__(self, error: Exception) -> None:
        self.error = error

    def rewrite(self, history: str, question: str) -> str | None:
        return None

    def check(self) -> None:
        """Always ready."""

    def generate(self, question: str, passages: Sequence[Passage]) -> Draft:
        raise self.error

    def stream(self, question: str, passages: Sequence[Passage]) -> Iterator[str]:
        yield "The "
        raise self.error


def test_failure_mid_stream_is_an_error_event(seeded_dir: Path, seeded_service: RagService) -> None:
    failing = FailingGenerator(BackendUnavailable("model server at 127.0.0.1:9 is down"))
    service = service_with(failing, seeded_dir, seeded_service)
    with TestClient(create_app(service=service), base_url=LOCAL) as c:
        messages = [{"role": "user", "content": TACNA}]
        events = sse_events(c.post("/api/chat", json={"messages": messages, "stream": True}).text)
        assert [name for name, _ in events] == ["sources", "token", "error"]
        error = events[-1][1]["error"]
        assert error["code"] == "backend_unavailable" and error["status"] == 503
        assert "model server" in error["message"]
        # Without streaming the same failure is a 503 with the message.
        assert_error(c.post("/api/ask", json={"question": TACNA}), 503, "backend_unavailable")


def test_unexpected_errors_do_not_leak_internals(
    seeded_dir: Path, seeded_service: RagService
) -> None:
    service = service_with(FailingGenerator(KeyError("secret_internal_name")), seeded_dir,
                           seeded_service)  # fmt: skip
    app = create_app(service=service)
    with TestClient(app, base_url=LOCAL, raise_server_exceptions=False) as c:
        response = c.post("/api/ask", json={"question": TACNA})
        assert_error(response, 500, "internal_error")
        assert "secret_internal_name" not in response.text
        messages = [{"role": "user", "content": TACNA}]
        streamed = c.post("/api/chat", json={"messages": messages, "stream": True}).text
        assert sse_events(streamed)[-1][1]["error"]["code"] == "internal_error"
        assert "secret_internal_name" not in streamed


# -- OpenAI-compatible ------------------------------------------------------------------


def test_chat_completions_non_stream(client: TestClient) -> None:
    response = client.post(
        "/v1/chat/completions",
        json={"model": "news-rag", "temperature": 0.2,
              "messages": [{"role": "system", "content": "Be brief."}, *FOLLOW_UP]},
    )  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and body["model"] == "news-rag"
    choice = body["choices"][0]
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "stop"
    assert "60" in choice["message"]["content"]
    assert body["citations"] and "Tacna" in body["retrieval_query"]
    assert body["usage"]["total_tokens"] == (
        body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )


def test_chat_completions_stream_chunks(client: TestClient) -> None:
    parts = [{"type": "text", "text": TACNA}]  # the multi-part content form
    response = client.post(
        "/v1/chat/completions",
        json={"model": "x", "stream": True, "messages": [{"role": "user", "content": parts}]},
    )
    events = sse_events(response.text)
    assert events[-1] == ("message", "[DONE]")
    chunks = [data for _, data in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert "60 days" in text
    # Citations ride on the last chunk only.
    assert [("citations" in c) for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["citations"]


def test_chat_completions_stream_is_the_text_its_citations_refer_to(
    seeded_dir: Path, seeded_service: RagService
) -> None:
    # An LLM that makes a figure up: the check falls back to the reader's answer.
    invented = "The state of emergency in Tacna will last 4,321 days [1]."
    service = service_with(ScriptedGenerator(invented, invented), seeded_dir, seeded_service)
    body = {"stream": True, "messages": [{"role": "user", "content": TACNA}]}
    with TestClient(create_app(service=service), base_url=LOCAL) as c:
        chunks = [d for _, d in sse_events(c.post("/v1/chat/completions", json=body).text)[:-1]]
        plain = c.post("/v1/chat/completions", json={**body, "stream": False}).json()
    text = "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks)
    assert "4,321" not in text and "60 days" in text
    assert text == plain["choices"][0]["message"]["content"]
    citations = chunks[-1]["citations"]
    assert citations and all(f"[{cit['n']}]" in text for cit in citations)
    assert all(cit["quote"] and cit["supported"] for cit in citations)


def test_chat_completions_bad_input(client: TestClient) -> None:
    def post(body: object) -> Response:
        return client.post("/v1/chat/completions", json=body)

    assert_error(post({"model": "x", "messages": []}), 422)
    assert_error(post({"model": "x"}), 422)
    assert_error(post({"messages": [{"role": "user", "content": ""}]}), 400, "invalid_input")
    image = [{"type": "image_url", "image_url": {"url": "data:,"}}]
    assert_error(post({"messages": [{"role": "user", "content": image}]}), 422)


def test_models_lists_the_configured_name(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    assert body["object"] == "list" and [m["id"] for m in body["data"]] == ["news-rag"]


# -- documents ----------------------------------------------------------------------------


def test_documents_list_and_detail(client: TestClient, seeded_service: RagService) -> None:
    docs = client.get("/api/documents").json()
    assert [d["doc_id"][:3] for d in docs] == ["000", "001", "002", "003", "004"]
    for d in docs:
        DocumentPublic.model_validate(d)
        assert d["chunk_count"] > 0 and d["title"]
    doc = docs[3]
    detail = client.get(f"/api/documents/{doc['doc_id']}").json()
    DocumentDetail.model_validate(detail)
    _, text, chunks = seeded_service.document(doc["doc_id"])
    assert detail["text"] == text and len(detail["chunks"]) == doc["chunk_count"]
    assert [c["index"] for c in detail["chunks"]] == list(range(len(chunks)))
    by_id = {c.chunk_id: c for c in chunks}
    for span in detail["chunks"]:
        chunk = by_id[span["chunk_id"]]
        assert text[span["char_start"] : span["char_end"]] == chunk.text


def test_unknown_document_is_404(client: TestClient) -> None:
    message = assert_error(client.get("/api/documents/no_such_doc"), 404, "not_found")
    assert "no_such_doc" in message


def test_changes_are_disabled_without_a_token(client: TestClient) -> None:
    for response in (
        client.post("/api/documents", json={"text": "A story."}),
        client.delete("/api/documents/000_24eb7c9a55d07d77"),
    ):
        assert "RAG_ADMIN_TOKEN" in assert_error(response, 403, "admin_disabled")
    assert len(client.get("/api/documents").json()) == 5


def test_changes_need_the_right_token(admin: TestClient) -> None:
    article = {"text": "Lima opened a new bridge on Monday. It cost 12 million soles."}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}):  # fmt: skip
        response = admin.post("/api/documents", json=article, headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["www-authenticate"] == "Bearer"
        assert_error(admin.delete("/api/documents/000_24eb7c9a55d07d77", headers=headers), 401)
    assert len(admin.get("/api/documents").json()) == 5


def test_add_update_ask_delete(admin: TestClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    article = {
        "text": "Cusco, Peru — The new Vilcanota bridge will open to traffic in 14 weeks, "
        "the regional transport office said on Tuesday.",
        "title": "Vilcanota bridge to open",
        "published": "2025-03-04",
        "outlet": "Test Wire",
    }
    first = admin.post("/api/documents", json=article, headers=auth)
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["outcome"] == "created" and created["chunks_written"] >= 1
    doc = created["document"]
    assert doc["title"] == "Vilcanota bridge to open" and doc["published"] == "2025-03-04"
    assert doc["outlet"] == "Test Wire" and doc["doc_id"].startswith("api_")

    again = admin.post("/api/documents", json=article, headers=auth)
    assert again.status_code == 200 and again.json()["outcome"] == "unchanged"
    assert again.json()["chunks_written"] == 0
    retitled = admin.post("/api/documents", json={**article, "title": "Bridge"}, headers=auth)
    assert retitled.json()["outcome"] == "updated"

    answer = admin.post("/api/ask", json={"question": "When will the Vilcanota bridge open?"})
    body = answer.json()
    assert "14 weeks" in body["answer"] and body["citations"][0]["doc_id"] == doc["doc_id"]

    assert admin.delete(f"/api/documents/{doc['doc_id']}", headers=auth).json() == {
        "doc_id": doc["doc_id"],
        "deleted": True,
    }
    assert_error(admin.delete(f"/api/documents/{doc['doc_id']}", headers=auth), 404)
    assert_error(admin.get(f"/api/documents/{doc['doc_id']}"), 404)
    assert len(admin.get("/api/documents").json()) == 5


def test_add_with_explicit_id_and_bad_articles(admin: TestClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    ok = admin.post("/api/documents", json={"text": "Short story.", "doc_id": "my-doc.1"},
                    headers=auth)  # fmt: skip
    assert ok.status_code == 201 and ok.json()["document"]["doc_id"] == "my-doc.1"

    def post(body: object) -> Response:
        return admin.post("/api/documents", json=body, headers=auth)

    assert_error(post({"text": ""}), 422)
    assert_error(post({"text": "\n\n  \n"}), 400, "invalid_input")  # nothing left after cleaning
    assert_error(post({"text": "x", "doc_id": "../etc/passwd"}), 422)
    assert_error(post({"text": "x", "published": "March"}), 422)
    assert_error(post({"title": "no text"}), 422)


def test_too_long_article_is_413_naming_the_limit(admin: TestClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    story = "\n\n".join(load_article(p).text for p in sorted(SEEDS.glob("*.txt")))
    text = "\n\n".join([story] * (200_000 // len(story) + 1))  # over the default 200,000
    response = admin.post("/api/documents", json={"text": text, "doc_id": "long"}, headers=auth)
    message = assert_error(response, 413, "too_large")
    assert "200,000" in message and "RAG_MAX_ARTICLE_CHARS" in message and "long" in message
    assert_error(admin.get("/api/documents/long"), 404)  # nothing was stored
    # A body over RAG_MAX_BODY_BYTES (2 MB) is refused before it is parsed.
    huge = admin.post("/api/documents", json={"text": "x" * 2_000_001}, headers=auth)
    assert "RAG_MAX_BODY_BYTES" in assert_error(huge, 413, "too_large")


BRIDGE_PAGE = (
    "<!DOCTYPE html><html><head><title>Vilcanota bridge | Cusco Wire</title>"
    '<meta property="og:site_name" content="Cusco Wire">'
    '<meta property="article:published_time" content="2025-03-04T08:00:00-05:00">'
    "</head><body><nav><a href='/'>Home</a></nav><article><h1>Vilcanota bridge to open</h1>"
    "<p>Cusco, Peru. The new Vilcanota bridge will open to traffic in 14 weeks, the "
    "regional transport office said on Tuesday, after two years of delays caused by "
    "floods and a dispute with the builder.</p><p>Trucks carrying potatoes to the "
    "markets of Sicuani will save two hours a day, the office said.</p></article>"
    "</body></html>"
)
MARKET_PDF = [
    ["Puno market report", "Traders in Puno sold potatoes and quinoa on Monday morning."],
    ["The Juliaca wholesale market will reopen in nine days, the mayor of Juliaca said."],
]


def test_upload_files_reports_each_record(admin: TestClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    feed = "\n".join([
        json.dumps({"id": "feed-1", "title": "Arequipa water",
                    "text": "Arequipa will ration water for 45 days from Monday."}),
        "{broken",
    ])  # fmt: skip
    files = [
        ("files", ("bridge.html", BRIDGE_PAGE.encode(), "text/html")),
        ("files", ("market.pdf", pages_pdf(MARKET_PDF), "application/pdf")),
        ("files", ("feed.jsonl", feed.encode(), "application/x-ndjson")),
        ("files", ("notes.docx", b"PK\x03\x04 not an article", "application/octet-stream")),
    ]
    # No token (or a wrong one): refused before the body is read, nothing stored.
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        refused = admin.post("/api/documents/files", files=files, headers=headers)
        assert_error(refused, 401, "unauthorized")
    assert len(admin.get("/api/documents").json()) == 5

    response = admin.post("/api/documents/files", files=files, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["counts"] == {"created": 3, "updated": 0, "unchanged": 0, "skipped": 2}
    records = {f["file"]: f["records"] for f in body["files"]}
    assert list(records) == ["bridge.html", "market.pdf", "feed.jsonl", "notes.docx"]
    [bridge] = records["bridge.html"]
    assert bridge["outcome"] == "created" and bridge["doc_id"] == "bridge"
    assert bridge["title"] == "Vilcanota bridge to open" and bridge["chunks_written"] >= 1
    [market] = records["market.pdf"]
    assert market["outcome"] == "created" and market["doc_id"] == "market"
    good, bad = records["feed.jsonl"]
    assert good["outcome"] == "created" and good["name"] == "feed.jsonl:1"
    assert good["doc_id"] == "feed-1" and good["title"] == "Arequipa water"
    assert bad["outcome"] == "skipped" and bad["name"] == "feed.jsonl:2"
    assert "not valid JSON" in bad["reason"] and bad["doc_id"] is None
    [docx] = records["notes.docx"]
    assert docx["outcome"] == "skipped" and "unsupported file type" in docx["reason"]
    assert ".pdf" in docx["reason"]

    stored = {d["doc_id"]: d for d in admin.get("/api/documents").json()}
    assert (
        stored["bridge"]["outlet"] == "Cusco Wire" and stored["bridge"]["source"] == "bridge.html"
    )
    assert stored["bridge"]["published"] == "2025-03-04"
    asked = admin.post("/api/ask", json={"question": "When will the Juliaca market reopen?"})
    citation = asked.json()["citations"][0]
    assert citation["doc_id"] == "market" and "nine days" in citation["quote"]
    assert citation["page"] == 2  # the answer is on the PDF's second page
    bridge_answer = admin.post(
        "/api/ask", json={"question": "When will the Vilcanota bridge open?"}
    )
    assert bridge_answer.json()["citations"][0]["page"] is None

    again = admin.post("/api/documents/files", files=files[:1], headers=auth).json()
    assert again["files"][0]["records"][0]["outcome"] == "unchanged"
    # Outlet and date given with the upload replace what the page says.
    dated = {"outlet": "Andes Post", "published": "2025-06-10"}
    redone = admin.post("/api/documents/files", files=files[:1], data=dated, headers=auth)
    assert redone.json()["files"][0]["records"][0]["outcome"] == "updated"
    changed = admin.get("/api/documents/bridge").json()
    assert changed["outlet"] == "Andes Post" and changed["published"] == "2025-06-10"
    wrong = admin.post("/api/documents/files", files=files[:1], data={"published": "June"},
                       headers=auth)  # fmt: skip
    assert_error(wrong, 422)


def test_upload_names_the_fields_of_export_records(admin: TestClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    csv_export = (
        "key,headline,when,link,body\n"
        "ayacucho-1,Ayacucho rations water,2025-02-11,https://news.example/ay,"
        '"Ayacucho will ration water for 30 days from Monday, the utility said."\n'
    )
    jsonl_export = json.dumps(
        {
            "key": "puno-1",
            "headline": "Puno fair",
            "when": "2025-03-01",
            "body": "The Puno fair will open for 12 days in March.",
        }
    )
    files = [
        ("files", ("feed.csv", csv_export.encode(), "text/csv")),
        ("files", ("feed.jsonl", jsonl_export.encode(), "application/x-ndjson")),
    ]
    named = {"text_field": "body", "title_field": "headline", "date_field": "when",
             "url_field": "link", "id_field": "key"}  # fmt: skip
    # Without field names the CSV has no `text` column and the record no `text` field.
    plain = admin.post("/api/documents/files", files=files, headers=auth).json()
    assert plain["counts"]["created"] == 0 and plain["counts"]["skipped"] == 2
    assert "no 'text' column" in plain["files"][0]["records"][0]["reason"]

    response = admin.post("/api/documents/files", files=files, data=named, headers=auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["counts"] == {"created": 2, "updated": 0, "unchanged": 0, "skipped": 0}
    ids = [r["doc_id"] for f in body["files"] for r in f["records"]]
    assert ids == ["ayacucho-1", "puno-1"]
    stored = admin.get("/api/documents/ayacucho-1").json()
    assert stored["title"] == "Ayacucho rations water" and stored["published"] == "2025-02-11"
    assert stored["url"] == "https://news.example/ay"
    assert stored["text"].startswith("Ayacucho will ration water for 30 days")
    puno = admin.get("/api/documents/puno-1").json()
    assert puno["title"] == "Puno fair" and puno["published"] == "2025-03-01"

    # Blank, space-padded or over-long names are refused before anything is read.
    before = len(admin.get("/api/documents").json())
    for field in named:
        for bad in ("   ", " body", "body\n", "f" * 101):
            refused = admin.post("/api/documents/files", files=files[:1],
                                 data={field: bad}, headers=auth)  # fmt: skip
            assert field in assert_error(refused, 422, "invalid_request"), (field, bad)
    assert len(admin.get("/api/documents").json()) == before
    longest = admin.post("/api/documents/files", files=files[:1],
                         data={"text_field": "f" * 100}, headers=auth)  # fmt: skip
    assert longest.status_code == 200 and longest.json()["counts"]["skipped"] == 1
    # An empty value is an unfilled form field: the default name, as HTML forms send it.
    empty = admin.post("/api/documents/files", files=files[:1], data={"text_field": ""},
                       headers=auth).json()  # fmt: skip
    assert "no 'text' column" in empty["files"][0]["records"][0]["reason"]


def test_upload_counts_against_the_body_limit(admin: TestClient) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    big = ("files", ("big.txt", b"word " * 420_000, "text/plain"))  # 2.1 MB > 2 MB
    response = admin.post("/api/documents/files", files=[big], headers=auth)
    assert "RAG_MAX_BODY_BYTES" in assert_error(response, 413, "too_large")
    nothing = admin.post("/api/documents/files", headers=auth)
    assert_error(nothing, 422)
    # Folders in a file name are dropped; a name too long for the file system is cut.
    story = b"Cusco opened a new library on Monday. It holds 20,000 books."
    odd = [
        ("files", ("../../etc/passwd.txt", story, "text/plain")),
        ("files", ("\u00e9" * 300 + ".md", story, "text/markdown")),
    ]
    named = admin.post("/api/documents/files", files=odd, headers=auth).json()
    first, second = (f["records"][0] for f in named["files"])
    assert first["name"] == "passwd.txt" and first["doc_id"] == "passwd"
    assert first["outcome"] == "created" and second["outcome"] == "created"
    assert second["name"].endswith(".md") and len(second["name"].encode()) <= 200


# -- health, docs, pages, headers ---------------------------------------------------------


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = settled_readyz(client).json()
    assert ready["status"] == "ready" and ready["documents"] == 5 and ready["embedder"]
    assert ready["checks"] == {"index": "ok", "embedder": "ok", "generator": "ok"}


def test_readiness_fails_when_the_index_is_unreachable(
    make_settings: Any, seeded_service: RagService
) -> None:
    # A Chroma server on a loopback port nobody listens on.
    settings = make_settings(chroma_host="127.0.0.1", chroma_port=free_port())
    service = RagService(settings, embedder=seeded_service.embedder)
    with TestClient(create_app(service=service), base_url=LOCAL) as c:
        assert c.get("/healthz").status_code == 200
        ready = settled_readyz(c)
        assert ready.status_code == 503 and ready.json()["status"] == "not_ready"
        assert "Chroma" in ready.json()["checks"]["index"]
        assert_error(c.post("/api/ask", json={"question": TACNA}), 503)


def test_readiness_names_a_missing_api_key(
    make_settings: Any, seeded_dir: Any, seeded_service: RagService
) -> None:
    settings = make_settings(data_dir=seeded_dir, generator="openai")
    service = RagService(settings, embedder=seeded_service.embedder)
    with TestClient(create_app(service=service), base_url=LOCAL) as c:
        ready = settled_readyz(c)
        assert ready.status_code == 503
        assert "RAG_OPENAI_API_KEY" in ready.json()["checks"]["generator"]
        assert_error(c.post("/api/ask", json={"question": TACNA}), 500, "config_error")


def test_openapi_docs(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert assets and "http" not in " ".join(assets)  # served offline, no CDN
        for asset in assets:
            assert client.get(asset).status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/ask", "/api/chat", "/v1/chat/completions", "/v1/models",
                 "/api/documents", "/api/documents/{doc_id}", "/healthz", "/readyz"):  # fmt: skip
        assert path in paths


def test_unknown_routes_and_methods(client: TestClient) -> None:
    assert_error(client.get("/api/nothing"), 404, "not_found")
    assert_error(client.get("/api/ask"), 405, "method_not_allowed")


def test_page_and_security_headers(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "default-src 'self'" in csp and "object-src 'none'" in csp
    for response in (page, client.get("/api/documents"), client.get("/static/app.js")):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == csp
    # The CSP would block inline code; the page must not need any.
    html = page.text
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)
    assert not re.search(r"\son[a-z]+\s*=", html)
    assert client.get("/static/style.css").status_code == 200


def test_page_inserts_nothing_as_html() -> None:
    script = (ROOT / "api" / "static" / "app.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script


def test_outlet_filter_in_api_and_cli(
    admin: TestClient, seeded_copy: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for outlet, days in (("Harbour Wire", 12), ("Coast Daily", 40)):
        text = f"Port closes for repairs\n\nThe northern port will stay closed for {days} days " \
               "while the pier is repaired, the port authority said on Monday."  # fmt: skip
        body = {"text": text, "outlet": outlet, "doc_id": outlet.lower().replace(" ", "-")}
        assert admin.post("/api/documents", json=body, headers=auth).status_code == 201
    question = "How long will the northern port stay closed?"
    for outlet, days in (("Harbour Wire", "12 days"), ("Coast Daily", "40 days")):
        answer = admin.post(
            "/api/ask", json={"question": question, "filters": {"outlets": [outlet]}}
        ).json()
        assert days in answer["answer"] and answer["citations"][0]["outlet"] == outlet
    none = admin.post("/api/ask", json={"question": question, "filters": {"outlets": ["Nobody"]}})
    assert not none.json()["answerable"]
    assert "No article matches the filters (outlets Nobody)" in none.json()["answer"]

    from rag.cli import main
    from rag.config import get_settings

    monkeypatch.setenv("RAG_DATA_DIR", str(seeded_copy))
    get_settings.cache_clear()
    try:
        assert main(["ask", question, "--outlet", "Coast Daily"]) == 0
    finally:
        get_settings.cache_clear()
    assert "40 days" in capsys.readouterr().out
