"""The web page in a real headless Chromium (Debian's, driven by Playwright) against `rag serve`."""

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import LiveServer, rag_server
from pdfs import pages_pdf
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-quic"]  # fmt: skip
TACNA = "How long will the state of emergency in Tacna last?"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is not installed: run `make browser`")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    page.goto(live_server.url)
    yield page
    context.close()
    assert errors == []


def ask(page: Page, question: str) -> None:
    """Type a question and send it with the keyboard alone."""
    box = page.get_by_label("Your question")
    box.fill(question)
    box.press("Enter")


def test_ask_see_cited_answer_and_highlighted_source(page: Page, artifacts: Path) -> None:
    expect(page.locator("#documents li")).to_have_count(5)
    ask(page, TACNA)
    answer = page.locator(".turn .answer-text").last
    cite = answer.get_by_role("link", name="[1]")
    expect(cite).to_be_visible(timeout=30_000)
    expect(answer).to_contain_text("60 days")
    # After an answer the question box has the focus again, ready for a follow-up.
    expect(page.get_by_label("Your question")).to_be_focused()

    cite.click()
    panel = page.locator("#source-panel")
    expect(panel).to_be_visible()
    expect(panel.locator("#source-n")).to_have_text("[1]")
    mark = panel.locator("#source-text mark")
    expect(mark).to_contain_text("60 days")
    # The short answer is highlighted inside the quoted sentence.
    expect(mark.locator("strong.answer-span")).to_have_text("60 days")
    expect(panel.locator("#source-title")).to_contain_text("state of emergency")
    context = panel.locator("#source-text").inner_text()
    assert len(context) > len(mark.inner_text()) + 100  # the span is shown in its surroundings
    page.screenshot(path=str(artifacts / "web-answer.png"), full_page=True)

    ask(page, "And how long will it last?")
    follow_up = page.locator(".turn .answer-text").nth(1)
    expect(follow_up.get_by_role("link", name="[1]")).to_be_visible(timeout=30_000)
    expect(follow_up).to_contain_text("60")
    expect(page.locator(".turn .a .meta").last).to_contain_text("Tacna")


def test_how_sure_an_answer_is_and_what_other_articles_say(page: Page) -> None:
    # The real answer first: its confidence is shown, and an answer the reader is sure of
    # has no warning.
    ask(page, TACNA)
    turn = page.locator(".turn .a").last
    expect(turn.locator(".confidence")).to_contain_text("%", timeout=30_000)
    expect(turn).not_to_have_class(re.compile(r"\bunsure\b"))
    # Two seed articles state the 60 days: the one not cited is counted under the answer.
    expect(turn.locator(".agreement")).to_have_text("1 other article states the same answer")

    # The same server's answer with a low confidence and a conflicting article: the page
    # marks it as unsure and names the other value.
    def lower(route: Any) -> None:
        body = route.fetch().text()
        blocks = []
        for block in body.split("\n\n"):
            if block.startswith("event: done"):
                head, _, data = block.partition("data: ")
                done = json.loads(data)
                done["confidence"] = 0.31
                done["conflicts"] = [{"doc_id": "other-doc", "value": "90 days",
                                      "quote": "It lasts 90 days."}]  # fmt: skip
                block = head + "data: " + json.dumps(done)
            blocks.append(block)
        route.fulfill(status=200, content_type="text/event-stream", body="\n\n".join(blocks))

    page.route("**/api/chat", lower)
    ask(page, TACNA)
    unsure = page.locator(".turn .a").last
    expect(unsure.locator(".confidence.low")).to_contain_text("Unsure (confidence 31%)",
                                                              timeout=30_000)  # fmt: skip
    expect(unsure).to_have_class(re.compile(r"\bunsure\b"))
    expect(unsure.locator(".conflict")).to_contain_text("90 days")
    expect(page.locator(".turn .a").first).not_to_have_class(re.compile(r"\bunsure\b"))


def test_example_questions_and_phone_width(page: Page, artifacts: Path) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("button", name=TACNA).click()
    expect(page.locator(".turn .answer-text .cite").first).to_be_visible(timeout=30_000)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # no sideways scrolling on a phone
    page.screenshot(path=str(artifacts / "web-phone.png"), full_page=True)


def test_empty_question_is_not_sent_and_errors_are_shown(page: Page) -> None:
    box = page.get_by_label("Your question")
    box.fill("   ")
    box.press("Enter")
    expect(page.locator(".turn")).to_have_count(0)
    ask(page, "word " * 300)  # over the token limit: the API's message is shown
    expect(page.locator(".turn .answer-text.error")).to_contain_text("RAG_MAX_QUESTION_TOKENS")


def test_markup_from_the_index_is_shown_as_text(page: Page, live_server: LiveServer) -> None:
    hostile = (
        'Cusco, Peru — The new Vilcanota bridge <img src=x onerror="window.__pwned=1"> will '
        "open to traffic in 14 weeks, the regional transport office said on Tuesday.\n\n"
        "<script>window.__pwned=2</script> More later."
    )
    auth = {"Authorization": f"Bearer {live_server.token}"}
    added = httpx.post(
        f"{live_server.url}/api/documents",
        json={"text": hostile, "title": "<b>Bridge</b><script>window.__pwned=3</script>",
              "doc_id": "xss-test"},
        headers=auth, timeout=60,
    )  # fmt: skip
    assert added.status_code == 201, added.text
    try:
        page.reload()
        doc = page.locator("#documents .doc", has_text="<b>Bridge</b>")
        expect(doc).to_be_visible()
        ask(page, "When will the Vilcanota bridge open?")
        answer = page.locator(".turn .answer-text").last
        expect(answer.get_by_role("link", name="[1]")).to_be_visible(timeout=30_000)
        expect(answer).to_contain_text("<img src=x onerror=")
        answer.get_by_role("link", name="[1]").click()
        expect(page.locator("#source-text")).to_contain_text("<script>window.__pwned=2</script>")
        doc.click()
        expect(page.locator("#source-title")).to_have_text(
            "<b>Bridge</b><script>window.__pwned=3</script>"
        )
        page.wait_for_timeout(300)  # give an injected onerror handler time to fire
        assert page.evaluate("window.__pwned") is None
        assert page.locator("main img, aside img, aside b, main script, aside script").count() == 0
    finally:
        httpx.delete(f"{live_server.url}/api/documents/xss-test", headers=auth, timeout=60)


# -- documents panel, adding articles, answers that survive a reload (issue 11) --------------

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
BRIDGE_A = (
    "Cusco, Peru — The new Vilcanota bridge will open to traffic in 14 weeks, the regional "
    "transport office said on Tuesday. The bridge replaces a crossing damaged by floods.\n\n"
    "Work on the approaches continues at night, the office added."
)
BRIDGE_B = (
    "Vilcanota bridge delayed again\n\n"
    "Cusco, Peru — The new Vilcanota bridge will open to traffic in 9 weeks, the regional "
    "transport office said on Friday, after inspectors approved the deck.\n\n"
    "Drivers will pay no toll during the first month."
)
BRIDGE_Q = "When will the Vilcanota bridge open to traffic?"
MARKET_PAGE = (
    "<!DOCTYPE html><html><head><title>Juliaca market | Altiplano Daily</title>"
    '<meta property="og:title" content="Juliaca market to reopen">'
    '<meta property="og:site_name" content="Altiplano Daily"></head><body><article>'
    "<h1>Juliaca market to reopen</h1><p>Juliaca, Peru. The Juliaca wholesale market will "
    "reopen in nine days, the mayor of Juliaca said on Wednesday, after repairs to its "
    "roof damaged by hail.</p><p>Traders moved their stalls to the nearby stadium.</p>"
    "</article></body></html>"
)
FERRY_PDF = [
    ["Lake Titicaca ferries", "Ferries to the Uros islands left Puno on time on Monday."],
    ["The Taquile ferry will resume trips in 11 days, the port authority said."],
]


@pytest.fixture(scope="module")
def writable_server(
    tmp_path_factory: pytest.TempPathFactory, seeded_dir: Path
) -> Iterator[LiveServer]:
    """A server of its own for tests that add or delete articles (`live_server` is shared)."""
    # The link test serves its page from 127.0.0.1, which the API only fetches from when
    # allowed (RAG_API_FETCH_PRIVATE; see tests/test_fetch.py for the default refusal).
    with rag_server(
        tmp_path_factory.mktemp("web-writes"), seeded_dir, RAG_API_FETCH_PRIVATE="true"
    ) as server:
        yield server


@pytest.fixture
def open_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """Opens the page in a fresh browser context; no page errors or console errors allowed."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def opener(url: str, viewport: dict[str, int] = DESKTOP, **options: Any) -> Page:
        context = browser.new_context(viewport=viewport, accept_downloads=True, **options)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )
        page.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
        page.goto(url)
        return page

    yield opener
    for context in contexts:
        context.close()
    assert errors == []


def last_answer(page: Page) -> Locator:
    answer = page.locator(".turn .a").last
    expect(answer.locator(".answer-text")).not_to_have_class(
        re.compile("streaming"), timeout=30_000
    )
    return answer


def test_add_articles_filter_by_outlet_and_date_then_delete(
    open_page: Callable[..., Page], writable_server: LiveServer, artifacts: Path
) -> None:
    page = open_page(writable_server.url)
    expect(page.locator("#documents .doc")).to_have_count(5)
    page.get_by_text("Add articles").click()
    page.get_by_label("Admin token").fill(writable_server.token)
    page.get_by_label("Article text").fill(BRIDGE_A)
    page.get_by_label("Title (optional, pasted text)").fill("Vilcanota bridge in 14 weeks")
    page.get_by_label("Outlet (optional)").fill("Andes Post")
    page.get_by_label("Published (optional)").fill("2024-03-05")
    page.get_by_role("button", name="Add to the index").click()
    results = page.locator("#add-results")
    expect(results.locator("li.ok")).to_contain_text("Pasted text: created", timeout=60_000)
    # A file from disk, uploaded as form data and read on the server.
    page.get_by_label("Outlet (optional)").fill("Valley Herald")
    page.get_by_label("Published (optional)").fill("2025-06-10")
    page.get_by_label("Or choose files").set_input_files(
        {"name": "bridge.md", "mimeType": "text/markdown", "buffer": BRIDGE_B.encode()}
    )
    page.get_by_role("button", name="Add to the index").click()
    expect(results.locator("li.ok")).to_contain_text("bridge.md: created", timeout=60_000)
    expect(page.locator("#documents .doc")).to_have_count(7)
    # The token is kept for this tab only.
    assert page.evaluate("sessionStorage.getItem('news-rag.admin-token')") == writable_server.token
    assert page.evaluate("localStorage.getItem('news-rag.admin-token')") is None

    # Search by title narrows the list; opening a document shows its text.
    page.get_by_label("Search titles").fill("delayed")
    expect(page.locator("#documents .doc")).to_have_count(1)
    page.locator("#documents .doc").click()
    expect(page.locator("#source-title")).to_have_text("Vilcanota bridge delayed again")
    expect(page.locator("#source-text")).to_contain_text("Drivers will pay no toll")
    page.get_by_label("Search titles").fill("")

    # The new articles answer at once; the outlet filter decides which one is cited.
    page.get_by_label("Outlet", exact=True).select_option("Valley Herald")
    expect(page.locator("#documents .doc")).to_have_count(1)
    expect(page.locator("#scope")).to_contain_text("1 of 7 documents")
    with page.expect_request(lambda r: r.url.endswith("/api/chat")) as sent:
        ask(page, BRIDGE_Q)
    # The outlet goes by name, not as the ids of its documents.
    assert json.loads(sent.value.post_data or "{}")["filters"] == {"outlets": ["Valley Herald"]}
    answer = last_answer(page)
    expect(answer.locator(".answer-text")).to_contain_text("9 weeks")
    expect(answer.locator(".sources")).to_contain_text("Vilcanota bridge delayed again")
    expect(answer.locator(".sources")).not_to_contain_text("in 14 weeks")

    # The filters and the scope line survive a reload; clearing them clears what is stored.
    page.get_by_label("Search titles").fill("bridge")
    page.get_by_label("Published from").fill("2025-01-01")
    page.reload()
    expect(page.get_by_label("Outlet", exact=True)).to_have_value("Valley Herald")
    expect(page.get_by_label("Search titles")).to_have_value("bridge")
    expect(page.get_by_label("Published from")).to_have_value("2025-01-01")
    expect(page.locator("#documents .doc")).to_have_count(1)
    expect(page.locator("#scope")).to_contain_text("1 of 7 documents (outlet Valley Herald, from")
    page.get_by_role("button", name="Clear filters").click()
    expect(page.locator("#scope")).to_be_hidden()
    assert page.evaluate("localStorage.getItem('news-rag.filters.v1')") is None
    page.reload()
    expect(page.locator("#documents .doc")).to_have_count(7)
    expect(page.get_by_label("Outlet", exact=True)).to_have_value("")
    expect(page.get_by_label("Search titles")).to_have_value("")
    expect(page.locator("#scope")).to_be_hidden()

    # A date range instead: only the 2024 article is in range.
    page.get_by_label("Outlet", exact=True).select_option("")
    page.get_by_label("Published to").fill("2024-12-31")
    ask(page, BRIDGE_Q)
    answer = last_answer(page)
    expect(answer.locator(".answer-text")).to_contain_text("14 weeks")
    expect(answer.locator(".sources")).to_contain_text("Vilcanota bridge in 14 weeks")
    expect(answer.locator(".sources")).not_to_contain_text("delayed again")
    page.screenshot(path=str(artifacts / "web-filters.png"), full_page=True)
    page.get_by_role("button", name="Clear filters").click()
    expect(page.locator("#scope")).to_be_hidden()

    # Ticking documents limits questions to them.
    page.get_by_label("Use in questions: Vilcanota bridge in 14 weeks").check()
    expect(page.locator("#scope")).to_contain_text("1 of 7 documents (1 selected)")
    ask(page, BRIDGE_Q)
    answer = last_answer(page)
    expect(answer.locator(".sources")).to_contain_text("Vilcanota bridge in 14 weeks")
    expect(answer.locator(".sources")).not_to_contain_text("delayed again")
    page.get_by_role("button", name="Clear filters").click()

    # Delete asks for a second press, then the article is gone from the list.
    page.get_by_role("button", name="Delete Vilcanota bridge delayed again").click()
    confirm = page.get_by_role("button", name="Confirm: delete Vilcanota bridge delayed again")
    expect(confirm).to_have_text("Confirm delete")
    confirm.click()
    expect(page.locator("#documents .doc")).to_have_count(6, timeout=30_000)
    expect(page.locator("#status")).to_contain_text("Deleted")

    # HTML, PDF and files of other types: each record's outcome is listed.
    page.get_by_text("Add articles").click()  # closed again by the reload above
    page.get_by_label("Outlet (optional)").fill("")
    page.get_by_label("Published (optional)").fill("")
    page.get_by_label("Or choose files").set_input_files([
        {"name": "market.html", "mimeType": "text/html", "buffer": MARKET_PAGE.encode()},
        {"name": "ferry.pdf", "mimeType": "application/pdf", "buffer": pages_pdf(FERRY_PDF)},
        {"name": "notes.docx", "mimeType": "application/octet-stream", "buffer": b"PK\x03\x04"},
    ])  # fmt: skip
    page.get_by_role("button", name="Add to the index").click()
    expect(results.locator("li.error")).to_contain_text(
        "notes.docx: skipped: notes.docx: unsupported file type", timeout=60_000
    )
    expect(results.locator("li.ok")).to_have_text([
        "market.html: created “Juliaca market to reopen” (1 chunk written)",
        re.compile(r"^ferry\.pdf: created “Lake Titicaca ferries” \(1 chunk written\)$"),
    ])  # fmt: skip
    expect(page.locator("#documents .doc")).to_have_count(8, timeout=30_000)
    page.get_by_label("Outlet", exact=True).select_option("Altiplano Daily")
    expect(page.locator("#documents .doc")).to_have_count(1)
    page.get_by_role("button", name="Clear filters").click()
    # A PDF's citation names the page its quote is on.
    ask(page, "When will the Taquile ferry resume trips?")
    answer = last_answer(page)
    expect(answer.locator(".answer-text")).to_contain_text("11 days")
    expect(answer.locator(".sources")).to_contain_text(
        "Lake Titicaca ferries — outlet and date not given · p. 2"
    )


LINKED_PAGE = (
    "<html><head><title>Puno festival draws 40,000 dancers</title>"
    '<meta name="date" content="2025-02-02"></head><body><article>'
    "<h1>Puno festival draws 40,000 dancers</h1><p>The Candelaria festival in Puno drew "
    "40,000 dancers this year, the organisers said on Sunday, more than ever before.</p>"
    "<p>Hotels in the city were full for the whole week of the parades.</p>"
    "</article></body></html>"
)


def test_add_an_article_by_link(
    open_page: Callable[..., Page], writable_server: LiveServer
) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class LinkedSite(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = LINKED_PAGE.encode()
            self.send_response(200 if self.path == "/festival" else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    site = ThreadingHTTPServer(("127.0.0.1", 0), LinkedSite)
    threading.Thread(target=site.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{site.server_address[1]}"
    try:
        before = len(httpx.get(f"{writable_server.url}/api/documents", timeout=30).json())
        page = open_page(writable_server.url)
        page.get_by_text("Add articles").click()
        page.get_by_label("Admin token").fill(writable_server.token)
        page.get_by_label("Or article links").fill(f"{base}/festival\n{base}/gone")
        page.get_by_role("button", name="Add to the index").click()
        results = page.locator("#add-results")
        expect(results.locator("li.ok")).to_have_text(
            f"{base}/festival: created “Puno festival draws 40,000 dancers” (1 chunk written)",
            timeout=60_000,
        )
        expect(results.locator("li.error")).to_contain_text(f"{base}/gone: skipped: ")
        expect(results.locator("li.error")).to_contain_text("HTTP 404")
        expect(page.locator("#documents .doc")).to_have_count(before + 1, timeout=30_000)
        expect(page.get_by_label("Or article links")).to_have_value("")
        ask(page, "How many dancers did the Candelaria festival draw?")
        answer = last_answer(page)
        expect(answer.locator(".answer-text")).to_contain_text("40,000")
        expect(answer.locator(".sources")).to_contain_text("Puno festival draws 40,000 dancers")
    finally:
        site.shutdown()


def test_delete_without_token_asks_for_it(
    open_page: Callable[..., Page], writable_server: LiveServer
) -> None:
    page = open_page(writable_server.url)
    page.locator("#documents .delete").first.click()
    expect(page.get_by_label("Admin token")).to_be_focused()
    expect(page.locator("#add-results")).to_contain_text("admin token")
    expect(page.locator("#documents .doc")).to_have_count(
        len(httpx.get(f"{writable_server.url}/api/documents", timeout=30).json())
    )


def test_refusal_passages_reload_export_and_new_conversation(
    open_page: Callable[..., Page], live_server: LiveServer, artifacts: Path
) -> None:
    page = open_page(live_server.url)
    ask(page, TACNA)
    answer = last_answer(page)
    expect(answer).not_to_have_class(re.compile("refusal"))
    # Keyboard: Tab reaches the Ask button with a visible focus ring; Enter opens a citation.
    page.get_by_label("Your question").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Ask", exact=True)).to_be_focused()
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    answer.locator(".cite").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#source-n")).to_have_text("[1]")

    toggle = answer.locator("button.toggle")
    expect(toggle).to_have_text(re.compile(r"^Show all retrieved passages \(\d+\)$"))
    all_passages = answer.locator(".all-passages .passage")
    expect(all_passages.first).to_be_hidden()
    toggle.click()
    expect(all_passages.first).to_be_visible()
    assert all_passages.count() >= 2
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(toggle).to_have_text(re.compile("^Hide all retrieved passages"))
    toggle.click()
    expect(all_passages.first).to_be_hidden()

    ask(page, "What is the population of Mars?")
    refusal = last_answer(page)
    expect(refusal).to_have_class(re.compile("refusal"))
    expect(refusal.locator(".verdict")).to_have_text("No answer in the indexed articles")
    expect(refusal.locator(".closest .passage").first).to_be_visible()
    page.screenshot(path=str(artifacts / "web-refusal.png"), full_page=True)

    page.reload()
    expect(page.locator(".turn")).to_have_count(2)
    expect(page.locator(".turn .a").first.locator(".cite").first).to_be_visible()
    expect(page.locator(".turn .a").last).to_have_class(re.compile("refusal"))
    page.locator(".turn .a").first.get_by_role("button", name=re.compile("Show all")).click()
    expect(page.locator(".turn .a").first.locator(".all-passages")).to_be_visible()

    with page.expect_download() as info:
        page.get_by_role("button", name="Export as Markdown").click()
    markdown = Path(info.value.path()).read_text(encoding="utf-8")
    assert TACNA in markdown and "60 days" in markdown
    # Each citation with its title, date and quote.
    assert "- [1] Peru declares a state of emergency on the border" in markdown
    assert "(date not given): “The state of emergency will remain in effect for 60 days" in markdown
    assert "No answer in the indexed articles" in markdown

    page.get_by_role("button", name="New conversation").click()
    expect(page.locator(".turn")).to_have_count(0)
    page.reload()
    expect(page.locator(".turn")).to_have_count(0)
    expect(page.locator("#empty")).to_be_visible()


def test_phone_tap_citation_scrolls_source_into_view_and_zoom(
    open_page: Callable[..., Page], live_server: LiveServer, artifacts: Path
) -> None:
    page = open_page(live_server.url, viewport=PHONE, has_touch=True, is_mobile=True)
    ask(page, TACNA)
    cite = last_answer(page).locator(".cite").first
    expect(page.locator("#source-panel")).not_to_be_in_viewport()
    cite.tap()
    panel = page.locator("#source-panel")
    expect(panel).to_be_in_viewport()
    # Once the smooth scroll is over, the source's heading is at the top of the screen.
    page.wait_for_function(
        "() => Math.abs(document.getElementById('source-panel').getBoundingClientRect().top) < 40"
    )
    expect(panel.locator("#source-n")).to_be_in_viewport()
    expect(panel.locator("#source-text mark")).to_be_in_viewport()
    expect(panel.locator("#source-text mark")).to_contain_text("60 days")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(artifacts / "web-phone-source.png"))

    # 200% zoom of a 1280-pixel window lays out like a 640-pixel one: nothing overflows.
    page.set_viewport_size({"width": 640, "height": 400})
    page.get_by_text("Add articles").click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 640
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(artifacts / "web-zoom-200.png"), full_page=True)
