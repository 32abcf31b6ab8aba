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
            f"{site}/big", "ftp://127.0.0.1/x"]  # fmt: skip
    report = service.ingest_urls(urls)
    assert len(report.created) == 1
    reasons = dict(report.skipped)
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
