"""`rag ingest URL...`: pages fetched from a server on 127.0.0.1, and what is refused."""

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeEmbedder

from rag.errors import InvalidInput
from rag.ingest.fetch import url_doc_id
from rag.service import RagService

PAGE = b"""<!doctype html><html><head><meta charset="utf-8">
<title>Harbour census finds more boats | Coast Gazette</title>
<meta property="og:site_name" content="Coast Gazette">
<meta name="date" content="2025-04-02"></head>
<body><nav>Home | World | Sport</nav><article><h1>Harbour census finds more boats</h1>
<p>The harbour committee counted 1,333 boats on Monday, its chair said, the highest
number since the census began.</p>
<p>The count is made every spring before the fishing season opens, and officials said
the number would guide the new mooring fees to be set in May.</p></article>
<footer>Subscribe to our newsletter</footer></body></html>"""


class Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes: dict[str, tuple[int, dict[str, str], bytes]] = {
            "/article": (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE),
            "/moved": (301, {"Location": "/article"}, b""),
            "/loop": (302, {"Location": "/loop"}, b""),
            "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
            "/big": (200, {"Content-Type": "text/html"}, b"<p>" + b"x" * 300_000 + b"</p>"),
        }
        status, headers, body = routes.get(self.path, (404, {}, b"not here"))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def service(make_settings: Any) -> RagService:
    settings = make_settings(embedder="fake", max_fetch_bytes=100_000, fetch_timeout_s=10)
    return RagService(settings, embedder=FakeEmbedder())


def test_a_page_is_fetched_read_and_answers(service: RagService, site: str) -> None:
    report = service.ingest_urls([f"{site}/article"])
    assert report.created == [url_doc_id(f"{site}/article")]
    (doc,) = service.documents()
    assert doc.title.startswith("Harbour census finds more boats")
    assert doc.url == f"{site}/article" and doc.source == f"{site}/article"
    assert "Subscribe" not in service.store.get_text(doc.doc_id)  # boilerplate left out
    assert service.ingest_urls([f"{site}/article"]).unchanged == [doc.doc_id]
    answer = service.ask("How many boats did the harbour committee count?")
    assert "1,333" in answer.answer and answer.citations[0].doc_id == doc.doc_id


def test_bad_urls_are_skipped_by_name_with_the_reason(service: RagService, site: str) -> None:
    urls = [f"{site}/article", f"{site}/nowhere", f"{site}/loop", f"{site}/to-file",
            f"{site}/big", "ftp://127.0.0.1/x", f"{site}/a\rb", "http://[::1/x"]  # fmt: skip
    report = service.ingest_urls(urls)
    assert len(report.created) == 1
    reasons = dict(report.skipped)
    assert "not a valid URL" in reasons[f"{site}/a\rb"]  # a control character
    assert "not a valid URL" in reasons["http://[::1/x"]
    assert "HTTP 404" in reasons[f"{site}/nowhere"]
    assert "redirects" in reasons[f"{site}/loop"]
    assert "only http and https" in reasons[f"{site}/to-file"]
    assert "RAG_MAX_FETCH_BYTES" in reasons[f"{site}/big"]
    assert "only http and https" in reasons["ftp://127.0.0.1/x"]
    # A redirect to another page of the site is followed; the page keeps its first URL's id.
    moved = service.ingest_urls([f"{site}/moved"])
    assert moved.created == [url_doc_id(f"{site}/moved")]


def test_nothing_fetched_is_an_error(service: RagService, site: str) -> None:
    with pytest.raises(InvalidInput, match="no URL could be ingested"):
        service.ingest_urls([f"{site}/nowhere"])


def test_cli_reads_urls_from_arguments_and_a_file(
    site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rag.cli import main
    from rag.config import get_settings

    listing = tmp_path / "urls.txt"
    listing.write_text(f"# pages\n{site}/moved\n\n{site}/nowhere\n")
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    try:
        assert main(["ingest", f"{site}/article", "--urls", str(listing)]) == 0
    finally:
        get_settings.cache_clear()
    out = capsys.readouterr()
    assert "2 created" in out.out and f"skipped {site}/nowhere: " in out.err


def _api(make_settings: Any, **overrides: Any) -> Any:
    from conftest import ADMIN_TOKEN, LOCAL
    from fastapi.testclient import TestClient

    from api.main import create_app

    settings = make_settings(embedder="fake", admin_token=ADMIN_TOKEN, fetch_timeout_s=10,
                             **overrides)  # fmt: skip
    service = RagService(settings, embedder=FakeEmbedder())
    client = TestClient(create_app(service=service), base_url=LOCAL)
    client.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    return client


def test_the_api_adds_pages_by_url_and_reports_each(make_settings: Any, site: str) -> None:
    with _api(make_settings, api_fetch_private=True) as client:
        urls = [f"{site}/article", f"{site}/nowhere", "ftp://127.0.0.1/x", f"{site}/article"]
        response = client.post("/api/documents/urls", json={"urls": urls})
        assert response.status_code == 200, response.text
        body = response.json()
        assert [r["name"] for r in body["urls"]] == urls[:3]  # a repeated URL counts once
        first, missing, ftp = body["urls"]
        assert first["outcome"] == "created" and first["doc_id"] == url_doc_id(urls[0])
        assert first["title"].startswith("Harbour census") and first["chunks_written"] >= 1
        assert missing["outcome"] == "skipped" and "HTTP 404" in missing["reason"]
        assert ftp["outcome"] == "skipped" and "only http and https" in ftp["reason"]
        assert body["counts"] == {"created": 1, "updated": 0, "unchanged": 0, "skipped": 2}
        listed = client.get("/api/documents").json()
        assert [d["doc_id"] for d in listed] == [first["doc_id"]]
        assert listed[0]["url"] == urls[0]
        again = client.post("/api/documents/urls", json={"urls": urls[:1]}).json()
        assert again["urls"][0]["outcome"] == "unchanged"
        answer = client.post("/api/ask", json={"question": "How many boats were counted?"})
        assert "1,333" in answer.json()["answer"]


def test_a_url_with_a_control_character_is_skipped_and_the_others_go_in(
    make_settings: Any, site: str
) -> None:
    with _api(make_settings, api_fetch_private=True) as client:
        urls = [f"{site}/a\rb", f"{site}/article"]
        response = client.post("/api/documents/urls", json={"urls": urls})
        assert response.status_code == 200, response.text
        bad, good = response.json()["urls"]
        assert bad["outcome"] == "skipped" and "not a valid URL" in bad["reason"]
        assert good["outcome"] == "created"


def test_the_api_does_not_fetch_from_its_own_network_by_default(
    make_settings: Any, site: str
) -> None:
    with _api(make_settings) as client:
        for url in (f"{site}/article", f"{site.replace('127.0.0.1', 'localhost')}/article"):
            body = client.post("/api/documents/urls", json={"urls": [url]}).json()
            (result,) = body["urls"]
            assert result["outcome"] == "skipped"
            assert "RAG_API_FETCH_PRIVATE" in result["reason"], result
        assert client.get("/api/documents").json() == []


def test_bad_url_requests_get_a_clear_4xx(make_settings: Any, site: str) -> None:
    with _api(make_settings, api_fetch_private=True) as client:
        for body in ({"urls": []}, {"urls": [""]}, {"urls": ["http://x"] * 21}, {"url": "x"}):
            response = client.post("/api/documents/urls", json=body)
            assert response.status_code == 422 and response.json()["error"], body
        anonymous = client.post("/api/documents/urls", json={"urls": [f"{site}/article"]},
                                headers={"Authorization": ""})  # fmt: skip
        assert anonymous.status_code == 401
        assert client.get("/api/documents").json() == []
